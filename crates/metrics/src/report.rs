//! Pieces shared by the seqeval and scikit-learn reports: the score record, the
//! zero-division policy and the fixed-width text layout both libraries print.

use serde::{Deserialize, Serialize};

use crate::numpy::format_fixed;

/// What a precision or recall is when its denominator is zero (`zero_division`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ZeroDivision {
    /// 0.0 (seqeval's and scikit-learn's default `"warn"`, without the warning).
    #[default]
    Zero,
    /// 1.0.
    One,
}

impl ZeroDivision {
    /// The value substituted for an undefined ratio.
    pub fn value(self) -> f64 {
        match self {
            Self::Zero => 0.0,
            Self::One => 1.0,
        }
    }
}

/// Precision, recall, F1 and support of one class, type or average.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prfs {
    /// Precision; NaN (JSON `null`) where the reference library gives NaN.
    #[serde(with = "nan_as_null")]
    pub precision: f64,
    /// Recall.
    #[serde(with = "nan_as_null")]
    pub recall: f64,
    /// F1 score.
    #[serde(with = "nan_as_null")]
    pub f1: f64,
    /// Number of gold items.
    pub support: usize,
}

/// Serde for an `f64` that may be NaN: JSON has no NaN, so it travels as `null`.
pub mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes a finite value as a number, anything else as `null`.
    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        if x.is_finite() {
            s.serialize_f64(*x)
        } else {
            s.serialize_none()
        }
    }

    /// Reads a number, or `null` as NaN.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

/// The head of scikit-learn's text report: the column header, one row per label and the blank
/// line before the averages; returns the text and the name column's width.
pub(crate) fn label_rows(labels: &[String], scores: &[Prfs], digits: usize) -> (String, usize) {
    let name_width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let width = name_width.max("weighted avg".len()).max(digits);
    let mut out = header(width);
    for (name, s) in labels.iter().zip(scores) {
        out.push_str(&row(name, s, width, digits));
        out.push('\n');
    }
    out.push('\n');
    (out, width)
}

/// `'{:>{width}s} ' + ' {:>9}' * 4` followed by a blank line.
pub(crate) fn header(width: usize) -> String {
    let mut s = format!("{:>width$} ", "");
    for h in ["precision", "recall", "f1-score", "support"] {
        s.push_str(&format!(" {h:>9}"));
    }
    s.push_str("\n\n");
    s
}

/// `'{:>{width}s} ' + ' {:>9.{digits}f}' * 3 + ' {:>9}'` (no newline).
pub(crate) fn row(name: &str, s: &Prfs, width: usize, digits: usize) -> String {
    let mut out = format!("{name:>width$} ");
    for x in [s.precision, s.recall, s.f1] {
        out.push_str(&format!(" {:>9}", format_fixed(x, digits)));
    }
    out.push_str(&format!(" {:>9}", s.support));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_round_trips_as_null() {
        let p = Prfs {
            precision: f64::NAN,
            recall: 0.5,
            f1: 0.25,
            support: 3,
        };
        let text = serde_json::to_string(&p).unwrap();
        assert_eq!(
            text,
            r#"{"precision":null,"recall":0.5,"f1":0.25,"support":3}"#
        );
        let back: Prfs = serde_json::from_str(&text).unwrap();
        assert!(back.precision.is_nan());
        assert_eq!(back.support, 3);
    }
}
