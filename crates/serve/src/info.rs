//! `GET /info`: what is served and how it decides — the checkpoint and the artifacts it came
//! from (fingerprints from their manifests, when the directories are artifacts), the task,
//! labels, thresholds, rejection rule, encoding and the server's limits.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::config::{Limits, ModelSpec};
use crate::worker::Loaded;

/// Directories above a checkpoint searched for its train artifact's manifest
/// (`<artifact>/checkpoints/best`).
const MANIFEST_SEARCH_DEPTH: usize = 3;

/// An artifact a served file belongs to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArtifactRef {
    /// The artifact directory.
    pub dir: String,
    /// Its stage instance name.
    pub stage: String,
    /// Its stage kind.
    pub kind: String,
    /// Its fingerprint.
    pub fingerprint: String,
    /// The fingerprints of its inputs, by stage.
    pub inputs: Vec<(String, String)>,
}

/// The artifact holding `path`: `path` itself or one of its parents (up to `depth` levels)
/// with a readable manifest.
fn artifact_of(path: &Path, depth: usize) -> Option<ArtifactRef> {
    let path = fs_err::canonicalize(path).ok()?;
    path.ancestors().take(depth + 1).find_map(|dir| {
        if !dir.join(flowcore::store::MANIFEST_FILE).is_file() {
            return None;
        }
        let m = flowcore::Manifest::read(dir)
            .map_err(|e| tracing::warn!("{}: manifest unreadable: {e}", dir.display()))
            .ok()?;
        Some(ArtifactRef {
            dir: dir.display().to_string(),
            stage: m.stage,
            kind: m.kind,
            fingerprint: m.fingerprint,
            inputs: m
                .inputs
                .into_iter()
                .map(|i| (i.stage, i.fingerprint))
                .collect(),
        })
    })
}

/// The `/info` document.
pub fn info(spec: &ModelSpec, loaded: &Loaded, limits: &Limits) -> Value {
    let options = loaded.encoder.options();
    serde_json::json!({
        "checkpoint": spec.checkpoint.display().to_string(),
        "train_artifact": artifact_of(&spec.checkpoint, MANIFEST_SEARCH_DEPTH),
        "evaluation": spec.evaluation.as_ref().map(|p| p.display().to_string()),
        "evaluate_artifact": spec.evaluation.as_deref().and_then(|p| artifact_of(p, 1)),
        "task": loaded.task,
        "labels": loaded.labels,
        "thresholds": loaded.thresholds,
        "reject": loaded.reject,
        "cost_decision": loaded.cost,
        "temperature": loaded.temperature,
        "top_k": spec.top_k,
        "ranking": loaded.ranking,
        "positive_label": spec.positive_label,
        "encoding": options,
        "device": format!("{:?}", spec.device),
        "batch_size": spec.batch_size,
        "threading": torch_link::threading::Threading::current(tch::get_num_threads().max(1) as usize),
        "limits": limits,
        "version": env!("CARGO_PKG_VERSION"),
    })
}
