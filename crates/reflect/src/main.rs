//! `reflect`: run the reflect stage alone on explicit artifact directories.
//!
//! Params come from `--params <file.toml>` (a table of reflect params) and from the flags
//! below, which override the file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use serde_json::{Map, Value, json};

/// Write a validation report (report.html, report.md, findings.json, analysis.json) for the
/// predictions in an evaluate artifact: calibration with temperature scaling, bootstrap
/// intervals, significance against a baseline, slices, entity errors, suspect labels,
/// robustness probes and learning curves, into `<artifacts>/<pipeline>/<name>/<fingerprint>/`.
#[derive(Debug, Parser)]
#[command(name = "reflect", version, max_term_width = 100)]
struct Cli {
    /// Evaluate artifact directory (predictions-<split>.parquet with probabilities).
    #[arg(long, help_heading = "Inputs")]
    evaluate: PathBuf,
    /// Baseline artifact directory (same predictions format), for significance tests.
    #[arg(long, help_heading = "Inputs")]
    baseline: Option<PathBuf>,
    /// Ingest artifact directory: train vocabulary, doc ids and metadata for slices.
    #[arg(long, help_heading = "Inputs")]
    ingest: Option<PathBuf>,
    /// Train artifact directory: history.jsonl for learning curves.
    #[arg(long, help_heading = "Inputs")]
    train: Option<PathBuf>,

    /// Root of the artifact store.
    #[arg(long, default_value = "artifacts", help_heading = "Run")]
    artifacts: PathBuf,
    /// Pipeline name (sub-directory of the store).
    #[arg(long, default_value = "adhoc", help_heading = "Run")]
    pipeline: String,
    /// Stage instance name.
    #[arg(long, default_value = "reflect", help_heading = "Run")]
    name: String,
    /// Re-run even if an artifact with the same fingerprint exists.
    #[arg(long, help_heading = "Run")]
    force: bool,
    /// TOML file with the params (flags override it).
    #[arg(long, help_heading = "Run")]
    params: Option<PathBuf>,
    /// More logging (-v debug, -vv trace).
    #[arg(short, long, action = clap::ArgAction::Count, help_heading = "Run")]
    verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long, help_heading = "Run")]
    quiet: bool,

    /// Split to report on [default: test].
    #[arg(long, help_heading = "Analysis")]
    split: Option<String>,
    /// Split to fit the temperature on; "" for none [default: dev].
    #[arg(long, help_heading = "Analysis")]
    fit_split: Option<String>,
    /// Calibration bins [default: 15].
    #[arg(long, help_heading = "Analysis")]
    bins: Option<usize>,
    /// Bootstrap resamples [default: 1000].
    #[arg(long, help_heading = "Analysis")]
    resamples: Option<usize>,
    /// Bootstrap seed [default: 17].
    #[arg(long, help_heading = "Analysis")]
    seed: Option<u64>,
    /// Suspect labels listed [default: 50].
    #[arg(long, help_heading = "Analysis")]
    suspects: Option<usize>,
    /// Entity confidence from word confidences [default: mean].
    #[arg(long, value_parser = ["mean", "min"], help_heading = "Analysis")]
    entity_confidence: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    flowcore::logging::init(cli.verbose, cli.quiet);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            flowcore::logging::report(&err);
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let mut params = match &cli.params {
        Some(path) => {
            let text = fs_err::read_to_string(path)?;
            let table: toml::Table = toml::from_str(&text)
                .with_context(|| format!("{}: invalid TOML", path.display()))?;
            serde_json::to_value(table)?
        }
        None => json!({}),
    };
    let map: &mut Map<String, Value> = params.as_object_mut().context("params must be a table")?;
    let mut set = |key: &str, v: Option<Value>| {
        if let Some(v) = v {
            map.insert(key.to_string(), v);
        }
    };
    set("split", cli.split.map(Value::from));
    set("fit_split", cli.fit_split.map(Value::from));
    set("bins", cli.bins.map(Value::from));
    set("resamples", cli.resamples.map(Value::from));
    set("seed", cli.seed.map(Value::from));
    set("suspects", cli.suspects.map(Value::from));
    set("entity_confidence", cli.entity_confidence.map(Value::from));

    let mut inputs = vec![cli.evaluate];
    inputs.extend(cli.baseline);
    inputs.extend(cli.ingest);
    inputs.extend(cli.train);
    let globals = flowcore::Globals {
        pipeline: cli.pipeline,
        ..Default::default()
    };
    let executed = flowcore::stage::run_standalone(
        &reflect::ReflectStage,
        &cli.artifacts,
        &cli.name,
        &params,
        &globals,
        &inputs,
        cli.force,
    )?;
    if !executed.ran {
        tracing::info!("up to date");
    }
    print!("{}", reflect::headline(&executed.artifact.dir)?);
    Ok(())
}
