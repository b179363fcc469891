//! Parsing and validating a pipeline file (`pipelines/<name>.toml`).
//!
//! ```toml
//! [pipeline]
//! name = "demo"                       # optional, defaults to the file stem
//! task = "token"                      # token | sequence
//! model = "models/all-MiniLM-L6-v2"   # pretrained model directory
//!
//! [stages.ingest]                     # the key is the stage instance name
//! format = "conll"                    # everything except `kind` and `inputs` is a param
//!
//! [stages.evaluate_dev]
//! kind = "evaluate"                   # optional: defaults to the key
//! inputs = ["train", "tokenize"]      # optional: defaults to the kind's usual inputs
//! ```

use std::path::{Path, PathBuf};

use flowcore::{Globals, TaskKind};

/// A problem in a pipeline file, always naming the file and the key.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {key}: {message}")]
pub struct SpecError {
    /// The pipeline file.
    pub file: PathBuf,
    /// Where in it (`[stages.train] lr`).
    pub key: String,
    /// What was expected.
    pub message: String,
}

/// One `[stages.<name>]` table.
#[derive(Debug, Clone)]
pub struct StageSpec {
    /// Instance name (the table key).
    pub name: String,
    /// Stage kind.
    pub kind: String,
    /// Explicit upstream instances, when given.
    pub inputs: Option<Vec<String>>,
    /// The raw params (everything else in the table).
    pub params: serde_json::Value,
}

/// A parsed pipeline file.
#[derive(Debug, Clone)]
pub struct PipelineSpec {
    /// The file it came from.
    pub file: PathBuf,
    /// Pipeline-level settings.
    pub globals: Globals,
    /// Stages in file order.
    pub stages: Vec<StageSpec>,
}

impl PipelineSpec {
    /// Read and parse a pipeline file, applying `--set` overrides (`stage.key=value`).
    pub fn load(file: &Path, overrides: &[String]) -> Result<Self, SpecError> {
        let text = Self::read_text(file)?;
        Self::parse(file, &text, overrides)
    }

    /// The text of a pipeline file, as [`Self::load`] reads it: to [`Self::parse`] it with
    /// several sets of overrides from one reading.
    pub fn read_text(file: &Path) -> Result<String, SpecError> {
        std::fs::read_to_string(file).map_err(|e| SpecError {
            file: file.to_path_buf(),
            key: "(file)".into(),
            message: format!("cannot read: {e}"),
        })
    }

    /// Parse pipeline text (`file` is only used in messages and for the default name).
    pub fn parse(file: &Path, text: &str, overrides: &[String]) -> Result<Self, SpecError> {
        let err = |key: &str, message: String| SpecError {
            file: file.to_path_buf(),
            key: key.to_string(),
            message,
        };
        let mut doc: toml::Table =
            toml::from_str(text).map_err(|e| err("(syntax)", e.to_string().trim().to_string()))?;
        for entry in overrides {
            apply_override(&mut doc, entry).map_err(|m| err(&format!("--set {entry}"), m))?;
        }

        for key in doc.keys() {
            if key != "pipeline" && key != "stages" && key != "sweep" {
                return Err(err(
                    key,
                    "unknown top-level table; expected `[pipeline]`, `[stages.<name>]` and optionally `[sweep]`".into(),
                ));
            }
        }
        let mut globals = Globals {
            pipeline: file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "pipeline".into()),
            ..Globals::default()
        };
        if let Some(p) = doc.get("pipeline") {
            let table = p
                .as_table()
                .ok_or_else(|| err("pipeline", "expected a table `[pipeline]`".into()))?;
            for (k, v) in table {
                let key = format!("[pipeline] {k}");
                match k.as_str() {
                    "name" => {
                        let name = v
                            .as_str()
                            .ok_or_else(|| err(&key, format!("expected a string, found {v}")))?;
                        if name.is_empty()
                            || !name
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                        {
                            return Err(err(
                                &key,
                                format!("expected letters, digits, `-` or `_`, found {name:?}"),
                            ));
                        }
                        globals.pipeline = name.to_string();
                    }
                    "task" => {
                        let s = v
                            .as_str()
                            .ok_or_else(|| err(&key, format!("expected a string, found {v}")))?;
                        globals.task = Some(s.parse::<TaskKind>().map_err(|_| {
                            err(
                                &key,
                                format!(
                                    "expected `token`, `sequence` or `multilabel`, found {s:?}"
                                ),
                            )
                        })?);
                    }
                    "model" => {
                        let s = v.as_str().ok_or_else(|| {
                            err(&key, format!("expected a path string, found {v}"))
                        })?;
                        globals.model = Some(PathBuf::from(s));
                    }
                    "description" => {}
                    _ => {
                        return Err(err(
                            &key,
                            "unknown key; expected name, task, model or description".into(),
                        ));
                    }
                }
            }
        }

        let stages_table = match doc.get("stages") {
            None => {
                return Err(err(
                    "stages",
                    "no `[stages.<name>]` tables: nothing to run".into(),
                ));
            }
            Some(v) => v
                .as_table()
                .ok_or_else(|| err("stages", "expected tables `[stages.<name>]`".into()))?,
        };
        let mut stages = Vec::new();
        for (name, value) in stages_table {
            let key = format!("[stages.{name}]");
            let mut table = value
                .as_table()
                .ok_or_else(|| err(&key, format!("expected a table, found {value}")))?
                .clone();
            let kind = match table.remove("kind") {
                None => name.clone(),
                Some(toml::Value::String(s)) => s,
                Some(other) => {
                    return Err(err(
                        &format!("{key} kind"),
                        format!("expected a string, found {other}"),
                    ));
                }
            };
            let inputs = match table.remove("inputs") {
                None => None,
                Some(toml::Value::Array(items)) => Some(
                    items
                        .iter()
                        .map(|i| {
                            i.as_str().map(str::to_string).ok_or_else(|| {
                                err(
                                    &format!("{key} inputs"),
                                    format!("expected stage names, found {i}"),
                                )
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                ),
                Some(other) => {
                    return Err(err(
                        &format!("{key} inputs"),
                        format!("expected a list of stage names, found {other}"),
                    ));
                }
            };
            let params = serde_json::to_value(&table)
                .map_err(|e| err(&key, format!("params not representable as JSON: {e}")))?;
            stages.push(StageSpec {
                name: name.clone(),
                kind,
                inputs,
                params,
            });
        }
        Ok(Self {
            file: file.to_path_buf(),
            globals,
            stages,
        })
    }

    /// The stage instance with this name.
    pub fn stage(&self, name: &str) -> Option<&StageSpec> {
        self.stages.iter().find(|s| s.name == name)
    }
}

/// The value of a `--set` override: read as TOML, else taken as a string.
pub fn override_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

/// Apply one `stage.key.sub=value` override; the value is read as TOML, else as a string.
fn apply_override(doc: &mut toml::Table, entry: &str) -> Result<(), String> {
    let (path, raw) = entry
        .split_once('=')
        .ok_or_else(|| "expected `<stage>.<param>=<value>`".to_string())?;
    let value = override_value(raw);
    let parts: Vec<&str> = path.trim().split('.').collect();
    if parts.len() < 2 || parts.iter().any(|p| p.is_empty()) {
        return Err("expected `<stage>.<param>=<value>` (or `pipeline.<key>=<value>`)".into());
    }
    let mut table = if parts[0] == "pipeline" {
        doc.entry("pipeline")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or("`pipeline` is not a table")?
    } else {
        doc.get_mut("stages")
            .and_then(toml::Value::as_table_mut)
            .and_then(|s| s.get_mut(parts[0]))
            .and_then(toml::Value::as_table_mut)
            .ok_or_else(|| format!("no stage `{}` in this pipeline", parts[0]))?
    };
    for part in &parts[1..parts.len() - 1] {
        table = table
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| format!("`{part}` is not a table"))?;
    }
    table.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"
[pipeline]
task = "token"
model = "models/x"

[stages.ingest]
format = "conll"
lr = 1

[stages.train]
inputs = ["ingest"]
lr = 5e-5
"#;

    #[test]
    fn parses_globals_stages_and_overrides() {
        let spec = PipelineSpec::parse(
            Path::new("pipelines/demo.toml"),
            TEXT,
            &["train.lr=0.1".into(), "train.sched.kind=cosine".into()],
        )
        .unwrap();
        assert_eq!(spec.globals.pipeline, "demo");
        assert_eq!(spec.globals.task, Some(TaskKind::Token));
        assert_eq!(spec.stages.len(), 2);
        let train = spec.stage("train").unwrap();
        assert_eq!(train.inputs.as_deref(), Some(&["ingest".to_string()][..]));
        assert_eq!(train.params["lr"], serde_json::json!(0.1));
        assert_eq!(train.params["sched"]["kind"], serde_json::json!("cosine"));
        assert!(train.params.get("inputs").is_none());
    }

    #[test]
    fn override_of_unknown_stage_is_named() {
        let e = PipelineSpec::parse(Path::new("p.toml"), TEXT, &["nope.x=1".into()]).unwrap_err();
        assert!(e.to_string().contains("no stage `nope`"), "{e}");
    }

    #[test]
    fn bad_task_names_file_and_key() {
        let text = TEXT.replace("\"token\"", "\"tokens\"");
        let e = PipelineSpec::parse(Path::new("p.toml"), &text, &[]).unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("p.toml: [pipeline] task:"), "{s}");
        assert!(
            s.contains("expected `token`, `sequence` or `multilabel`"),
            "{s}"
        );
    }
}
