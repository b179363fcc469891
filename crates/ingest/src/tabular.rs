//! Tabular rows rendered to text: a template over columns (`{column}` placeholders) and an
//! optional codebook that maps codes (such as German Credit's `A11`) to phrases.
//!
//! A codebook is a TOML file:
//! ```toml
//! columns = ["checking_status", "duration", ...]   # names for a header-less file
//! template = "The applicant has {checking_status} ..."
//! [label_map]                                         # raw label -> class name
//! "1" = "good"
//! [codes]                                             # code -> phrase, any column
//! A11 = "a checking account below 0 DM"
//! [column_codes.purpose]                              # code -> phrase, one column
//! A40 = "a new car"
//! ```
//! Params given in the pipeline override the codebook's `columns`, `template` and `label_map`.

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::DataFrame;
use serde::Deserialize;

use crate::error::{IngestError, Result};

/// The parsed codebook file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Codebook {
    /// Column names for a header-less file.
    pub columns: Option<Vec<String>>,
    /// Template with `{column}` placeholders.
    pub template: Option<String>,
    /// Raw label -> class name.
    pub label_map: BTreeMap<String, String>,
    /// Code -> phrase for every column.
    pub codes: BTreeMap<String, String>,
    /// Column -> code -> phrase (wins over `codes`).
    pub column_codes: BTreeMap<String, BTreeMap<String, String>>,
}

impl Codebook {
    /// Read a codebook file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = fs_err::read_to_string(path)?;
        toml::from_str(&text).map_err(|e| IngestError::Codebook {
            path: path.to_path_buf(),
            message: format!(
                "expected a codebook table (columns, template, label_map, codes, column_codes): {e}"
            ),
        })
    }
}

/// A piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Column(String),
}

/// Parse `{column}` placeholders; `{{` and `}}` are literal braces.
fn parse_template(template: &str) -> std::result::Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                lit.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                lit.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => name.push(c),
                        None => return Err(format!("placeholder `{{{name}` is never closed")),
                    }
                }
                if name.trim().is_empty() {
                    return Err("empty placeholder `{}`".into());
                }
                if !lit.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut lit)));
                }
                parts.push(Part::Column(name.trim().to_string()));
            }
            '}' => return Err("a lone `}` (write `}}` for a literal brace)".into()),
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        parts.push(Part::Literal(lit));
    }
    Ok(parts)
}

/// Renders table rows to text.
#[derive(Debug, Clone)]
pub struct Renderer {
    parts: Vec<Part>,
    codebook: Codebook,
}

impl Renderer {
    /// A renderer from a template and a codebook.
    pub fn new(template: &str, codebook: Codebook) -> Result<Self> {
        let parts = parse_template(template).map_err(|message| IngestError::Param {
            key: "template".into(),
            message,
        })?;
        Ok(Self { parts, codebook })
    }

    /// The columns the template uses.
    pub fn columns(&self) -> Vec<&str> {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Column(c) => Some(c.as_str()),
                Part::Literal(_) => None,
            })
            .collect()
    }

    fn phrase<'a>(&'a self, column: &str, value: &'a str) -> &'a str {
        self.codebook
            .column_codes
            .get(column)
            .and_then(|m| m.get(value))
            .or_else(|| self.codebook.codes.get(value))
            .map_or(value, String::as_str)
    }

    /// Render every row; a row with a missing value yields `Err(reason)`.
    pub fn render_all(
        &self,
        df: &DataFrame,
        path: &Path,
    ) -> Result<Vec<std::result::Result<String, String>>> {
        let names: Vec<String> = df
            .get_column_names()
            .iter()
            .map(|n| n.to_string())
            .collect();
        let mut columns = BTreeMap::new();
        for name in self.columns() {
            if !names.iter().any(|n| n == name) {
                return Err(IngestError::Param {
                    key: "template".into(),
                    message: format!(
                        "placeholder `{{{name}}}` names no column of {}; columns: {}",
                        path.display(),
                        names.join(", ")
                    ),
                });
            }
            if !columns.contains_key(name) {
                columns.insert(name, crate::columns::strings(df, name, "template", path)?);
            }
        }
        let mut out = Vec::with_capacity(df.height());
        for row in 0..df.height() {
            let mut text = String::new();
            let mut missing = None;
            for part in &self.parts {
                match part {
                    Part::Literal(l) => text.push_str(l),
                    Part::Column(c) => {
                        match columns.get(c.as_str()).and_then(|v| v[row].as_deref()) {
                            Some(v) if !v.trim().is_empty() => {
                                text.push_str(self.phrase(c, v.trim()));
                            }
                            _ => {
                                missing.get_or_insert_with(|| format!("column `{c}` is empty"));
                            }
                        }
                    }
                }
            }
            out.push(match missing {
                Some(m) => Err(m),
                None => Ok(text),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    #[test]
    fn renders_codes_and_numbers() {
        let mut codebook = Codebook::default();
        codebook.codes.insert("A11".into(), "no money".into());
        codebook.column_codes.insert(
            "b".into(),
            BTreeMap::from([("A11".into(), "column-specific".into())]),
        );
        let r = Renderer::new("Has {a} for {n} months; {b} {{x}}.", codebook).unwrap();
        let df = df!("a" => ["A11", "Z9"], "n" => ["6", ""], "b" => ["A11", "A11"]).unwrap();
        let out = r.render_all(&df, Path::new("t")).unwrap();
        assert_eq!(
            out[0].as_deref(),
            Ok("Has no money for 6 months; column-specific {x}.")
        );
        assert_eq!(out[1], Err("column `n` is empty".to_string()));
    }

    #[test]
    fn unknown_placeholder_and_bad_templates_are_errors() {
        let r = Renderer::new("{nope}", Codebook::default()).unwrap();
        let df = df!("a" => ["x"]).unwrap();
        let err = r.render_all(&df, Path::new("t")).unwrap_err().to_string();
        assert!(err.contains("`{nope}` names no column"), "{err}");
        assert!(Renderer::new("{open", Codebook::default()).is_err());
        assert!(Renderer::new("a } b", Codebook::default()).is_err());
    }
}
