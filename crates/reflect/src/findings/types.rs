//! What every finding shares: [`Finding`], its [`Severity`], the [`Evidence`] rows behind it
//! and the [`Remedy`] overrides that test its cause, with [`finding`] to start one and the
//! number formatting the rules use.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::stats::bootstrap::Interval;
pub use crate::stats::proportion::wilson;

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Act before trusting the model.
    High,
    /// Worth acting on.
    Medium,
    /// Worth knowing.
    Low,
    /// Context (headline numbers, things that are fine).
    Info,
}

impl Severity {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::High => "high",
            Self::Medium => "medium",
            Self::Low => "low",
            Self::Info => "info",
        }
    }
}

/// A row of the input that supports a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The predictions file (name inside its artifact) or report section.
    pub file: String,
    /// Example id.
    pub id: String,
    /// Word index, for token tasks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub word: Option<usize>,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// 1-based rank.
    pub rank: usize,
    /// Stable key (`calibration.word`, `slice.entity type.corporation`).
    pub id: String,
    /// Stable family of the finding (`calibration`, `slice`, `unseen_entities`): the id up to
    /// its first `.`, for comparing runs.
    #[serde(default)]
    pub kind: String,
    /// Severity.
    pub severity: Severity,
    /// Report section it belongs to.
    pub area: String,
    /// One-line statement with the number.
    pub title: String,
    /// What was measured.
    pub metric: String,
    /// The measured value.
    pub value: f64,
    /// Its 95 % interval, when there is one.
    pub ci: Option<[f64; 2]>,
    /// More detail (the comparison, the counts).
    pub detail: String,
    /// Rows behind the number.
    pub evidence: Vec<Evidence>,
    /// What to do about it.
    pub action: String,
    /// The numbers behind the finding, by name, for comparing runs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub numbers: BTreeMap<String, f64>,
    /// Overrides that test the finding's cause (`pipeline improve` runs them as trials).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remedies: Vec<Remedy>,
    /// Ranking key within a severity (larger first).
    #[serde(skip)]
    pub score: f64,
}

/// A named set of overrides that tests a finding's cause (see [`crate::remedies`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Remedy {
    /// Short name (`longer training`).
    pub name: String,
    /// `stage kind.param` → value (TOML-compatible JSON).
    pub set: BTreeMap<String, serde_json::Value>,
}

/// An interval as a finding's `ci`.
pub(super) fn ci(i: &Interval) -> Option<[f64; 2]> {
    Some([i.lo, i.hi])
}

/// `12.3 %` for 0.123.
pub(crate) fn pct(x: f64) -> String {
    format!("{:.1} %", 100.0 * x)
}

/// A finding with its identity and title; the caller fills the numbers and evidence.
pub(crate) fn finding(id: String, severity: Severity, area: &str, title: String) -> Finding {
    Finding {
        rank: 0,
        kind: id.split('.').next().unwrap_or_default().to_string(),
        id,
        severity,
        area: area.to_string(),
        title,
        metric: String::new(),
        value: f64::NAN,
        ci: None,
        detail: String::new(),
        evidence: Vec::new(),
        action: String::new(),
        numbers: BTreeMap::new(),
        remedies: Vec::new(),
        score: 0.0,
    }
}

impl Finding {
    /// Sets a named number of the finding (the numbers behind it, for comparing runs).
    pub(crate) fn number(&mut self, name: &str, value: f64) {
        self.numbers.insert(name.to_string(), value);
    }

    /// A finding whose value is a share `k / n` of counted items: the metric, the value and
    /// score (the share), both counts under their names, and the Wilson interval.
    pub(super) fn share(
        &mut self,
        metric: &str,
        (k_name, k): (&str, u64),
        (n_name, n): (&str, u64),
    ) {
        let share = if n == 0 { 0.0 } else { k as f64 / n as f64 };
        self.metric = metric.into();
        self.value = share;
        self.score = share;
        self.number(n_name, n as f64);
        self.number(k_name, k as f64);
        self.ci = Some(wilson(k as usize, n as usize));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_orders_high_first() {
        let mut v = [
            Severity::Info,
            Severity::High,
            Severity::Low,
            Severity::Medium,
        ];
        v.sort();
        assert_eq!(
            v,
            [
                Severity::High,
                Severity::Medium,
                Severity::Low,
                Severity::Info
            ]
        );
    }
}
