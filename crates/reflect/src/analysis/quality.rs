//! The evaluated split's duplicates, label conflicts and overlap with train, as ingest
//! counted them (evaluation splits are scored as given, so the report says how much of the
//! score they carry).

use serde::{Deserialize, Serialize};

/// What ingest found (and, by default, left in place) in the evaluated split: exact
/// duplicates, copies with another label, and texts that also occur in train.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SplitQuality {
    /// Whether ingest removed them (`clean_eval_splits`); by default it only reports them.
    pub cleaned: bool,
    /// Exact duplicates of an earlier example of the split.
    pub duplicates: u64,
    /// Copies whose label differs from the majority label of their text.
    pub conflicting: u64,
    /// Ids of some duplicates and conflicting copies.
    pub duplicate_ids: Vec<String>,
    /// Examples whose text also occurs in train.
    pub in_train: u64,
    /// Ids of some of them.
    pub in_train_ids: Vec<String>,
}

impl SplitQuality {
    /// Reads the counts for `split` from an ingest manifest (its metrics, and its params for
    /// whether dev/test were cleaned); `None` when that ingest predates these counts.
    pub fn from_ingest_manifest(manifest: &flowcore::Manifest, split: &str) -> Option<Self> {
        let metrics = &manifest.metrics;
        let flag = |key: &str, default: bool| {
            manifest
                .params
                .get(key)
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(default)
        };
        let leakage = metrics.get("leakage")?;
        let in_train = leakage.get(format!("{split}_in_train"))?.as_u64()?;
        let ids = |v: Option<&serde_json::Value>| -> Vec<String> {
            v.and_then(serde_json::Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let count = |v: Option<&serde_json::Value>| v.and_then(serde_json::Value::as_u64);
        Some(Self {
            // Ingest's defaults: `dedup` on, `clean_eval_splits` off.
            cleaned: flag("dedup", true) && flag("clean_eval_splits", false),
            duplicates: count(metrics.pointer(&format!("/duplicates_found/{split}"))).unwrap_or(0),
            conflicting: count(metrics.pointer(&format!("/conflicts/losing_copies_found/{split}")))
                .unwrap_or(0),
            duplicate_ids: ids(metrics.pointer(&format!("/kept_duplicate_ids/{split}"))),
            in_train,
            in_train_ids: ids(leakage.get(format!("{split}_in_train_ids"))),
        })
    }
}
