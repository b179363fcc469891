//! Scores of a model's predictions, through the shared metrics crate, so the baselines'
//! numbers are computed exactly as the evaluate stage computes BERT's.

use metrics::{Predictions, Summary, SummaryOptions};

use crate::error::Result;

/// The metric set and text report of one split's predictions.
pub fn summarise(predictions: &Predictions, options: &SummaryOptions) -> Result<Summary> {
    Ok(metrics::summarize(predictions, options)?)
}

/// The few numbers worth putting in the manifest: the ranking metric and accuracy.
pub fn headline(summary: &Summary) -> serde_json::Value {
    let (name, value) = summary.metrics.primary();
    let mut out = serde_json::Map::new();
    out.insert(name.into(), finite(value));
    match &summary.metrics {
        metrics::SplitMetrics::Token(t) => {
            out.insert("token_accuracy".into(), finite(t.token_accuracy));
        }
        metrics::SplitMetrics::Sequence(s) => {
            out.insert("accuracy".into(), finite(s.accuracy));
            if let Some(cost) = &s.cost {
                out.insert("cost_mean".into(), finite(cost.mean));
            }
            if let Some(b) = &s.binary {
                out.insert("roc_auc".into(), finite(b.roc_auc));
            }
        }
        metrics::SplitMetrics::Multilabel(m) => {
            out.insert("micro_f1".into(), finite(m.report.micro.f1));
            out.insert("hamming_loss".into(), finite(m.report.hamming_loss));
        }
    }
    out.into()
}

/// A JSON number, or null for NaN (a split holding one class only).
fn finite(x: f64) -> serde_json::Value {
    serde_json::Number::from_f64(x).map_or(serde_json::Value::Null, serde_json::Value::Number)
}
