//! Typed parsing of a stage's parameter table with the offending key named in errors.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{CoreError, Result};

/// Deserialise `raw` into `T`, naming the dotted key path on failure (`optimizer.lr`).
///
/// Stages declare their params as a struct with `#[serde(deny_unknown_fields, default)]`, so an
/// unknown key and a value of the wrong type are both errors with the key in the message.
pub fn parse<T: DeserializeOwned>(raw: &serde_json::Value) -> Result<T> {
    serde_path_to_error::deserialize(raw).map_err(|err| {
        let key = err.path().to_string();
        CoreError::Param {
            key: if key == "." {
                "(table)".to_string()
            } else {
                key
            },
            message: err.into_inner().to_string(),
        }
    })
}

/// Serialise resolved params back to JSON (for the manifest and the fingerprint).
pub fn to_value<T: Serialize>(params: &T) -> Result<serde_json::Value> {
    serde_json::to_value(params).map_err(|e| CoreError::Invalid(format!("params: {e}")))
}

/// Flatten a JSON object into `(dotted key, value)` pairs, for diffs that name a param.
pub fn flatten(value: &serde_json::Value) -> Vec<(String, serde_json::Value)> {
    fn go(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, serde_json::Value)>) {
        match v {
            serde_json::Value::Object(map) if !map.is_empty() => {
                for (k, v) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    go(&key, v, out);
                }
            }
            other => out.push((prefix.to_string(), other.clone())),
        }
    }
    let mut out = Vec::new();
    go("", value, &mut out);
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The keys whose values differ between two param objects, each as `key: old -> new`.
pub fn diff(old: &serde_json::Value, new: &serde_json::Value) -> Vec<String> {
    let old = flatten(old);
    let new = flatten(new);
    let mut changes = Vec::new();
    for (k, v) in &new {
        match old.iter().find(|(ok, _)| ok == k) {
            Some((_, ov)) if ov == v => {}
            Some((_, ov)) => changes.push(format!("{k}: {ov} -> {v}")),
            None => changes.push(format!("{k}: (absent) -> {v}")),
        }
    }
    for (k, v) in &old {
        if !new.iter().any(|(nk, _)| nk == k) {
            changes.push(format!("{k}: {v} -> (absent)"));
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        lr: f64,
    }
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct P {
        epochs: u32,
        optimizer: Inner,
    }

    #[test]
    fn wrong_type_names_the_nested_key() {
        let raw = serde_json::json!({"epochs": 3, "optimizer": {"lr": "fast"}});
        let err = parse::<P>(&raw).unwrap_err().to_string();
        assert!(err.contains("optimizer.lr"), "{err}");
        assert!(err.contains("expected f64"), "{err}");
    }

    #[test]
    fn unknown_key_is_an_error() {
        let raw = serde_json::json!({"epochs": 3, "optimizer": {"lr": 1.0}, "epochz": 1});
        let err = parse::<P>(&raw).unwrap_err().to_string();
        assert!(err.contains("unknown field `epochz`"), "{err}");
    }

    #[test]
    fn diff_names_changed_added_and_removed_keys() {
        let a = serde_json::json!({"a": 1, "b": {"c": 2}, "gone": true});
        let b = serde_json::json!({"a": 1, "b": {"c": 3}, "new": "x"});
        let d = diff(&a, &b);
        assert_eq!(
            d,
            vec![
                "b.c: 2 -> 3".to_string(),
                "new: (absent) -> \"x\"".to_string(),
                "gone: true -> (absent)".to_string()
            ]
        );
    }
}
