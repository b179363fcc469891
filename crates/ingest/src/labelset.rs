//! Multi-label lists: reading a label value into items (a text split on `label_separator`, a
//! JSON array, a Parquet list), the `label_names` file, and resolving raw items into a set of
//! label names in label-list order.
//!
//! Reading a value never fails the run: a value that is not a list is a [`RawLabels::Malformed`]
//! that the reader turns into a counted reject. Resolution runs after reading (in the cleaning
//! step) so that every format shares one set of rules: items are trimmed; an empty item
//! (`1,,2`) is malformed; `label_map` maps raw items to names; with `label_names` an item is an
//! integer id into the file (or one of its names); `labels` restricts the names; repeated items
//! are folded; the set is sorted in label-list order (`label_names` order, else `labels` order,
//! else by name, which is the order of the sorted label list).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::Value;

use crate::clean::Cleaner;
use crate::error::{IngestError, Result};
use crate::model::Reason;

/// What joins the labels of a set in the evaluate and baseline predictions files
/// (`metrics::predictions::SET_SEPARATOR`; ingest does not depend on `metrics`): a label name
/// may not contain it.
pub const SET_SEPARATOR: char = '|';

/// A label value as read, before resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawLabels {
    /// No value at all (a JSON key that is absent or `null`, a Parquet null).
    Missing,
    /// The items, trimmed (an empty text or list gives none).
    Items(Vec<String>),
    /// A value that is not a list of labels: what was found and what was expected.
    Malformed(String),
}

/// Split a text label value on `sep`, trimming items. An empty (or blank) value is the empty
/// set; empty items are kept so that resolution can reject them.
pub fn split_text(value: &str, sep: &str) -> Vec<String> {
    if value.trim().is_empty() {
        return Vec::new();
    }
    value.split(sep).map(|s| s.trim().to_string()).collect()
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a float",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON label value: an array of strings and/or integers, or a text split on `sep`.
pub fn from_json(value: Option<&Value>, sep: &str) -> RawLabels {
    match value {
        None | Some(Value::Null) => RawLabels::Missing,
        Some(Value::String(s)) => RawLabels::Items(split_text(s, sep)),
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (k, v) in items.iter().enumerate() {
                match v {
                    Value::String(s) => out.push(s.trim().to_string()),
                    Value::Number(n) if !n.is_f64() => out.push(n.to_string()),
                    other => {
                        return RawLabels::Malformed(format!(
                            "item {} of the array is {} `{other}`; expected a label name (string) or an integer id",
                            k + 1,
                            json_kind(other)
                        ));
                    }
                }
            }
            RawLabels::Items(out)
        }
        Some(other) => RawLabels::Malformed(format!(
            "found {} `{other}`; expected an array of labels (possibly empty) or a text of labels separated by {sep:?}",
            json_kind(other)
        )),
    }
}

/// Read a label file: one name per line (trimmed; trailing blank lines ignored). A blank line
/// inside the list or a repeated name is an error naming the line, since ids are line indices.
pub fn read_names(path: &Path) -> Result<Vec<String>> {
    let text = fs_err::read_to_string(path)?;
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(&text);
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let n = lines
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(0, |i| i + 1);
    if n == 0 {
        return Err(IngestError::Empty {
            path: path.to_path_buf(),
            what: "the label file is empty".into(),
            expected: "one label name per line".into(),
        });
    }
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(n);
    for (i, name) in lines[..n].iter().enumerate() {
        let message = if name.is_empty() {
            Some(
                "a blank line inside the label list; expected one label name per line (ids are \
                 0-based line indices, so a gap would shift them)"
                    .to_string(),
            )
        } else if name.contains(SET_SEPARATOR) {
            Some(format!(
                "label `{name}` contains `{SET_SEPARATOR}`, which joins the labels of a set in the predictions files; expected names without it"
            ))
        } else {
            seen.insert(name, i + 1).map(|first| {
                format!("label `{name}` repeats line {first}; expected distinct names")
            })
        };
        if let Some(message) = message {
            return Err(IngestError::Format {
                path: path.to_path_buf(),
                line: i as u64 + 1,
                message,
            });
        }
    }
    Ok(lines[..n].iter().map(|s| s.to_string()).collect())
}

/// The names of a `label_names` file and where they came from.
#[derive(Debug, Clone)]
pub struct LabelNames {
    /// The file, as given (for messages).
    pub file: String,
    /// Names; an id is an index.
    pub names: Vec<String>,
}

/// The rules that turn raw items into a label set.
#[derive(Debug, Clone, Default)]
pub struct LabelSpace {
    names: Option<LabelNames>,
    allowed: Option<Vec<String>>,
    label_map: BTreeMap<String, String>,
    separator: String,
    /// Position of each name in the label list (empty: order by name).
    order: HashMap<String, usize>,
}

/// A resolved label set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Distinct names in label-list order.
    pub labels: Vec<String>,
    /// Repeated items folded into one.
    pub folded: u64,
}

/// Whether an item looks like a number (so it was meant as an id, not a name).
fn numeric(item: &str) -> bool {
    item.bytes().any(|b| b.is_ascii_digit())
        && item
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
}

impl LabelSpace {
    /// Rules from the label file (if any), the `labels` param, `label_map` and the separator
    /// (used in messages).
    pub fn new(
        names: Option<LabelNames>,
        allowed: Option<Vec<String>>,
        label_map: BTreeMap<String, String>,
        separator: &str,
    ) -> Self {
        let order = names
            .as_ref()
            .map(|n| n.names.as_slice())
            .or(allowed.as_deref())
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, name)| (name.clone(), i))
            .collect();
        Self {
            names,
            allowed,
            label_map,
            separator: separator.to_string(),
            order,
        }
    }

    /// The label list fixed by the params (`label_names`, else `labels`), in order.
    pub fn fixed_labels(&self) -> Option<Vec<String>> {
        match (&self.names, &self.allowed) {
            (Some(n), _) => Some(n.names.clone()),
            (None, Some(a)) => {
                let mut out: Vec<String> = Vec::with_capacity(a.len());
                for name in a {
                    if !out.contains(name) {
                        out.push(name.clone());
                    }
                }
                Some(out)
            }
            (None, None) => None,
        }
    }

    /// One item to a label name, or why not.
    fn name(
        &self,
        k: usize,
        raw: &[String],
        cleaner: &Cleaner,
    ) -> Result<String, (Reason, String)> {
        let item = raw[k].trim();
        if item.is_empty() {
            return Err((
                Reason::MalformedLabels,
                format!(
                    "item {} of `{}` is empty; expected a label between the separators {:?}",
                    k + 1,
                    raw.join(&self.separator),
                    self.separator
                ),
            ));
        }
        let item = if self.label_map.is_empty() {
            item
        } else {
            self.label_map
                .get(item)
                .map(String::as_str)
                .ok_or_else(|| {
                    (
                        Reason::UnknownLabel,
                        format!(
                            "label `{item}` is not in label_map (expected one of {})",
                            self.label_map
                                .keys()
                                .cloned()
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })?
        };
        let Some(LabelNames { file, names }) = &self.names else {
            let name = cleaner.clean(item);
            return if name.is_empty() || name.contains('\u{1F}') {
                Err((
                    Reason::MalformedLabels,
                    format!(
                        "item {} ({item:?}) is empty after cleaning; expected a label name",
                        k + 1
                    ),
                ))
            } else if name.contains(SET_SEPARATOR) {
                Err((
                    Reason::MalformedLabels,
                    format!(
                        "item {} ({item:?}) contains `{SET_SEPARATOR}`, which joins the labels of a set in the predictions files; expected a label name without it",
                        k + 1
                    ),
                ))
            } else {
                Ok(name)
            };
        };
        let last = names.len().saturating_sub(1);
        if let Ok(id) = item.parse::<i64>() {
            return usize::try_from(id)
                .ok()
                .and_then(|id| names.get(id))
                .cloned()
                .ok_or_else(|| {
                    (
                        Reason::MalformedLabels,
                        format!(
                            "item `{item}`: id out of range; expected an integer id in 0..={last} (a line of {file})"
                        ),
                    )
                });
        }
        if names.iter().any(|n| n == item) {
            return Ok(item.to_string());
        }
        if numeric(item) {
            Err((
                Reason::MalformedLabels,
                format!(
                    "item `{item}` is not an integer; expected an integer id in 0..={last} (a line of {file}) or one of its names"
                ),
            ))
        } else {
            Err((
                Reason::UnknownLabel,
                format!(
                    "label `{item}` is not in label_names ({file}); expected an integer id in 0..={last} or one of {}",
                    names.join(", ")
                ),
            ))
        }
    }

    /// Resolve raw items into distinct names in label-list order; the first bad item decides
    /// the reject reason and detail.
    pub fn resolve(&self, raw: &[String], cleaner: &Cleaner) -> Result<Resolved, (Reason, String)> {
        let mut labels: Vec<String> = Vec::with_capacity(raw.len());
        let mut folded = 0;
        for k in 0..raw.len() {
            let name = self.name(k, raw, cleaner)?;
            if let Some(allowed) = &self.allowed
                && !allowed.contains(&name)
            {
                return Err((
                    Reason::UnknownLabel,
                    format!("label `{name}` is not in `labels`"),
                ));
            }
            if labels.contains(&name) {
                folded += 1;
            } else {
                labels.push(name);
            }
        }
        if self.order.is_empty() {
            labels.sort();
        } else {
            labels.sort_by_key(|l| (self.order.get(l).copied().unwrap_or(usize::MAX), l.clone()));
        }
        Ok(Resolved { labels, folded })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn items(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn ekman() -> LabelSpace {
        let names = items(&[
            "anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise",
        ]);
        LabelSpace::new(
            Some(LabelNames {
                file: "labels.txt".into(),
                names,
            }),
            None,
            BTreeMap::new(),
            ",",
        )
    }

    fn resolve(space: &LabelSpace, raw: &[&str]) -> Result<Vec<String>, (Reason, String)> {
        space
            .resolve(&items(raw), &Cleaner::default())
            .map(|r| r.labels)
    }

    #[test]
    fn text_values_split_on_the_separator_and_trim() {
        assert_eq!(split_text(" 3, 4 ,0", ","), items(&["3", "4", "0"]));
        assert_eq!(split_text("a|b", "|"), items(&["a", "b"]));
        assert_eq!(split_text("a,b", "|"), items(&["a,b"]));
        assert!(split_text("", ",").is_empty() && split_text("  ", ",").is_empty());
        // Empty items survive the split, so resolution can reject them.
        assert_eq!(split_text("1,,2", ","), items(&["1", "", "2"]));
    }

    #[test]
    fn json_arrays_of_strings_and_ints_and_texts() {
        let sep = ",";
        assert_eq!(
            from_json(Some(&json!(["joy", " fear "])), sep),
            RawLabels::Items(items(&["joy", "fear"]))
        );
        assert_eq!(
            from_json(Some(&json!([3, 0])), sep),
            RawLabels::Items(items(&["3", "0"]))
        );
        assert_eq!(from_json(Some(&json!([])), sep), RawLabels::Items(vec![]));
        assert_eq!(from_json(Some(&json!("")), sep), RawLabels::Items(vec![]));
        assert_eq!(
            from_json(Some(&json!("a,b")), sep),
            RawLabels::Items(items(&["a", "b"]))
        );
        assert_eq!(from_json(None, sep), RawLabels::Missing);
        assert_eq!(from_json(Some(&json!(null)), sep), RawLabels::Missing);
        let RawLabels::Malformed(d) = from_json(Some(&json!(5)), sep) else {
            panic!("a number is not a list")
        };
        assert!(
            d.contains("an integer `5`") && d.contains("expected an array"),
            "{d}"
        );
        let RawLabels::Malformed(d) = from_json(Some(&json!(["a", 1.5])), sep) else {
            panic!("a float item is not a label")
        };
        assert!(d.contains("item 2") && d.contains("a float `1.5`"), "{d}");
        assert!(matches!(
            from_json(Some(&json!({"a": 1})), sep),
            RawLabels::Malformed(_)
        ));
        assert!(matches!(
            from_json(Some(&json!([["a"]])), sep),
            RawLabels::Malformed(_)
        ));
    }

    #[test]
    fn ids_resolve_through_the_label_file_in_file_order() {
        let s = ekman();
        assert_eq!(resolve(&s, &["4"]).unwrap(), ["neutral"]);
        assert_eq!(resolve(&s, &["5", "0"]).unwrap(), ["anger", "sadness"]);
        // A name of the file is accepted too, and folds with its id.
        let r = s
            .resolve(&items(&["joy", "3", "3", "6"]), &Cleaner::default())
            .unwrap();
        assert_eq!(r.labels, ["joy", "surprise"]);
        assert_eq!(r.folded, 2);
        assert_eq!(resolve(&s, &[]).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn malformed_items_are_named() {
        let s = ekman();
        let (reason, d) = resolve(&s, &["1", "", "2"]).unwrap_err();
        assert_eq!(reason, Reason::MalformedLabels);
        assert!(d.contains("item 2 of `1,,2` is empty"), "{d}");
        let (reason, d) = resolve(&s, &["7"]).unwrap_err();
        assert_eq!(reason, Reason::MalformedLabels);
        assert!(
            d.contains("`7`") && d.contains("0..=6") && d.contains("labels.txt"),
            "{d}"
        );
        let (reason, d) = resolve(&s, &["-1"]).unwrap_err();
        assert_eq!(reason, Reason::MalformedLabels, "{d}");
        let (reason, d) = resolve(&s, &["1.5"]).unwrap_err();
        assert_eq!(reason, Reason::MalformedLabels);
        assert!(d.contains("`1.5` is not an integer"), "{d}");
        let (reason, d) = resolve(&s, &["joyful"]).unwrap_err();
        assert_eq!(reason, Reason::UnknownLabel);
        assert!(d.contains("label `joyful` is not in label_names"), "{d}");
    }

    #[test]
    fn names_without_a_file_are_cleaned_checked_folded_and_sorted() {
        let free = LabelSpace::new(None, None, BTreeMap::new(), ",");
        let r = free
            .resolve(&items(&["sports", "art", "sports"]), &Cleaner::default())
            .unwrap();
        assert_eq!((r.labels, r.folded), (items(&["art", "sports"]), 1));
        let (reason, _) = resolve(&free, &["\u{200B}"]).unwrap_err();
        assert_eq!(reason, Reason::MalformedLabels);
        // `|` joins a set's labels in the predictions files: not allowed inside a name.
        let (reason, d) = resolve(&free, &["art|craft"]).unwrap_err();
        assert_eq!(reason, Reason::MalformedLabels);
        assert!(d.contains("contains `|`"), "{d}");

        let allowed = LabelSpace::new(None, Some(items(&["z", "a"])), BTreeMap::new(), ",");
        assert_eq!(resolve(&allowed, &["a", "z"]).unwrap(), ["z", "a"]);
        let (reason, d) = resolve(&allowed, &["a", "b"]).unwrap_err();
        assert_eq!(reason, Reason::UnknownLabel);
        assert!(d.contains("label `b` is not in `labels`"), "{d}");

        let map = BTreeMap::from([("p".to_string(), "pos".to_string())]);
        let mapped = LabelSpace::new(None, None, map, ",");
        assert_eq!(resolve(&mapped, &["p"]).unwrap(), ["pos"]);
        let (reason, d) = resolve(&mapped, &["q"]).unwrap_err();
        assert_eq!(reason, Reason::UnknownLabel);
        assert!(d.contains("label `q` is not in label_map"), "{d}");
    }

    #[test]
    fn label_files_reject_gaps_and_repeats() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.txt");
        std::fs::write(&path, "\u{FEFF}a\r\nb\n\n").unwrap();
        assert_eq!(read_names(&path).unwrap(), ["a", "b"]);
        std::fs::write(&path, "a\n\nb\n").unwrap();
        let err = read_names(&path).unwrap_err().to_string();
        assert!(err.contains("l.txt:2: a blank line"), "{err}");
        std::fs::write(&path, "a\nb\na").unwrap();
        let err = read_names(&path).unwrap_err().to_string();
        assert!(err.contains(":3: label `a` repeats line 1"), "{err}");
        std::fs::write(&path, "a\nb|c\n").unwrap();
        let err = read_names(&path).unwrap_err().to_string();
        assert!(err.contains(":2: label `b|c` contains `|`"), "{err}");
        std::fs::write(&path, "\n").unwrap();
        assert!(read_names(&path).is_err());
    }
}
