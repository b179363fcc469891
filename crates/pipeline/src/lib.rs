//! The pipeline runner: reads `pipelines/<name>.toml`, plans every stage (fingerprints from
//! params, input fingerprints and raw file hashes), and runs what is stale in dependency order.
//!
//! The runner knows stages only through [`flowcore::Stage`]; the binary registers the real
//! stage crates, tests register their own.

pub mod improve;
pub mod runner;
pub mod serving;
pub mod spec;
pub mod sweep;

pub use runner::{Action, PipelinePlan, Registry, RunOptions, StageReport, State, plan_pipeline};
pub use spec::{PipelineSpec, SpecError};

/// Every stage kind this tool ships.
pub fn default_registry() -> Registry {
    let mut registry = Registry::new();
    registry
        .add(Box::new(ingest::stage::IngestStage))
        .add(Box::new(baseline::stage::BaselineStage))
        .add(Box::new(tokenize::TokenizeStage))
        .add(Box::new(train::TrainStage))
        .add(Box::new(evaluate::EvaluateStage))
        .add(Box::new(reflect::ReflectStage));
    registry
}

/// Render run reports as an aligned text table (for stdout).
pub fn render_reports(reports: &[StageReport]) -> String {
    let mut out = String::new();
    for r in reports {
        let action = match r.action {
            Action::Ran => "ran",
            Action::Skipped => "up to date",
            Action::Excluded => "excluded",
            Action::WouldRun => "would run",
        };
        let secs = r.seconds.map(|s| format!(" {s:.1}s")).unwrap_or_default();
        let why = if r.reasons.is_empty() {
            String::new()
        } else {
            format!("  ({})", r.reasons.join("; "))
        };
        out.push_str(&format!(
            "{:<14} {:<11} {}{}{}\n",
            r.stage, action, r.fingerprint, secs, why
        ));
    }
    out
}
