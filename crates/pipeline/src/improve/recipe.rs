//! `<pipeline>.improved.toml`: the original file, its comments and order kept, with the
//! chosen overrides written into their stage tables, each commented with the finding that
//! motivated it. The written file is checked to describe exactly the runs improve chose
//! (same pipeline name, stages and params, hence the same fingerprints and artifacts).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::PipelineSpec;

/// One override to write: `stage.param=value` (TOML value) and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// `stage.param=value`, as `--set` takes it.
    pub set: String,
    /// The comment written after it.
    pub why: String,
}

/// Where the improved recipe of `file` goes: `pipelines/x.toml` → `pipelines/x.improved.toml`.
pub fn improved_path(file: &Path) -> PathBuf {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "pipeline".into());
    file.with_file_name(format!("{stem}.improved.toml"))
}

/// The `[...]` header a line opens, if it is one (`[stages.train]` → `stages.train`).
fn header(line: &str) -> Option<String> {
    let t = line.split('#').next().unwrap_or_default().trim();
    let inner = t.strip_prefix('[')?.strip_suffix(']')?;
    if inner.starts_with('[') {
        return None;
    }
    Some(
        inner
            .split('.')
            .map(|p| p.trim().trim_matches('"'))
            .collect::<Vec<_>>()
            .join("."),
    )
}

/// The key a `key = value` line sets, if it is one.
fn key_of(line: &str) -> Option<&str> {
    let t = line.trim_start();
    if t.starts_with('#') || t.starts_with('[') {
        return None;
    }
    let (k, _) = t.split_once('=')?;
    Some(k.trim().trim_matches('"'))
}

/// Sets `key = value` in table `table` of `lines` (adding the table at the end when absent).
fn set_in(lines: &mut Vec<String>, table: &str, key: &str, value: &str, why: &str) {
    let comment = |old: Option<&str>| match old {
        Some(old) => format!("{key} = {value}  # improve: {why} (was {old})"),
        None => format!("{key} = {value}  # improve: {why}"),
    };
    let Some(start) = lines
        .iter()
        .position(|l| header(l).as_deref() == Some(table))
    else {
        if lines.last().is_some_and(|l| !l.trim().is_empty()) {
            lines.push(String::new());
        }
        lines.push(format!("[{table}]"));
        lines.push(comment(None));
        return;
    };
    let end = lines[start + 1..]
        .iter()
        .position(|l| header(l).is_some() || l.trim_start().starts_with("[["))
        .map_or(lines.len(), |i| start + 1 + i);
    if let Some(i) = (start + 1..end).find(|&i| key_of(&lines[i]) == Some(key)) {
        let old = lines[i]
            .split_once('=')
            .map(|(_, v)| v.split('#').next().unwrap_or_default().trim().to_string());
        lines[i] = comment(old.as_deref());
    } else {
        // After the table's last key line, so the new key sits with its siblings.
        let at = (start + 1..end)
            .rev()
            .find(|&i| key_of(&lines[i]).is_some())
            .map_or(start + 1, |i| i + 1);
        lines.insert(at, comment(None));
    }
}

/// The improved text of `file` (whose text, as improve read it, is `text`): `changes` written
/// into their tables, and the pipeline's name made explicit so the file lands in the same
/// store directory as the original.
pub fn improved_text(file: &Path, text: &str, changes: &[Change]) -> Result<String> {
    let spec = PipelineSpec::parse(file, text, &[])?;
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let has_name = {
        let doc: toml::Table = toml::from_str(text)?;
        doc.get("pipeline").and_then(|p| p.get("name")).is_some()
    };
    if !has_name {
        set_in(
            &mut lines,
            "pipeline",
            "name",
            &format!("{:?}", spec.globals.pipeline),
            "the original's name, so both share one artifact store",
        );
    }
    for c in changes {
        let (key, value) = c
            .set
            .split_once('=')
            .with_context(|| format!("override `{}`: expected stage.param=value", c.set))?;
        let (stage, param) = key
            .trim()
            .split_once('.')
            .with_context(|| format!("override `{}`: expected stage.param=value", c.set))?;
        // `pipeline.model=…` goes to the `[pipeline]` table, `train.epochs=…` to the stage's.
        let table = if stage == "pipeline" {
            stage.to_string()
        } else {
            format!("stages.{stage}")
        };
        // As `--set` reads it (a bare word is a string), written as TOML.
        let value = crate::spec::override_value(value.trim()).to_string();
        set_in(&mut lines, &table, param, &value, &c.why);
    }
    Ok(lines.join("\n") + "\n")
}

/// Writes the improved recipe next to `file` (whose text is `text`) and checks that it
/// describes the same runs as `file` with `sets` applied; returns its path.
pub fn write_improved(
    file: &Path,
    text: &str,
    changes: &[Change],
    sets: &[String],
) -> Result<PathBuf> {
    let improved = improved_text(file, text, changes)?;
    let path = improved_path(file);
    let written = PipelineSpec::parse(&path, &improved, &[])?;
    let expected = PipelineSpec::parse(file, text, sets)?;
    let describe = |s: &PipelineSpec| {
        (
            s.globals.clone(),
            s.stages
                .iter()
                .map(|st| {
                    (
                        st.name.clone(),
                        st.kind.clone(),
                        st.inputs.clone(),
                        st.params.clone(),
                    )
                })
                .collect::<Vec<_>>(),
        )
    };
    if describe(&written) != describe(&expected) {
        bail!(
            "{}: the improved file would not describe the chosen runs ({}); apply them by hand with --set",
            path.display(),
            sets.join(" ")
        );
    }
    std::fs::write(&path, improved).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# a recipe\n[pipeline]\ntask = \"sequence\"\n\n[stages.ingest]\nformat = \"jsonl\"\n\n[stages.train]\nlearning_rate = 5e-5 # HF default\nepochs = 3\n\n[stages.evaluate]\n";

    #[test]
    fn overrides_land_in_their_tables_with_their_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("intents.toml");
        std::fs::write(&file, FILE).unwrap();
        let changes = vec![
            Change {
                set: "train.epochs=6".into(),
                why: "training.underfit: dev still rising".into(),
            },
            Change {
                set: "train.dropout=0.0".into(),
                why: "training.underfit".into(),
            },
            Change {
                set: "evaluate.temperature=true".into(),
                why: "calibration".into(),
            },
        ];
        let sets: Vec<String> = changes.iter().map(|c| c.set.clone()).collect();
        let path = write_improved(&file, FILE, &changes, &sets).unwrap();
        assert_eq!(path, dir.path().join("intents.improved.toml"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# a recipe\n[pipeline]\n"), "{text}");
        assert!(
            text.contains("name = \"intents\"  # improve:"),
            "the name is pinned: {text}"
        );
        assert!(
            text.contains("epochs = 6  # improve: training.underfit: dev still rising (was 3)"),
            "{text}"
        );
        assert!(text.contains("learning_rate = 5e-5 # HF default"), "{text}");
        let train = text.find("[stages.train]").unwrap();
        let dropout = text.find("dropout = 0.0").unwrap();
        let evaluate = text.find("[stages.evaluate]").unwrap();
        assert!(train < dropout && dropout < evaluate, "{text}");
        assert!(text[evaluate..].contains("temperature = true"), "{text}");
        let spec = PipelineSpec::load(&path, &[]).unwrap();
        assert_eq!(spec.globals.pipeline, "intents");
        assert_eq!(spec.stage("train").unwrap().params["epochs"], 6);
    }

    #[test]
    fn a_new_table_is_added_and_a_mismatch_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.toml");
        std::fs::write(&file, FILE).unwrap();
        let add = [Change {
            set: "baseline.model=\"logreg\"".into(),
            why: "x".into(),
        }];
        let text = improved_text(&file, FILE, &add).unwrap();
        assert!(
            text.ends_with("[stages.baseline]\nmodel = \"logreg\"  # improve: x\n"),
            "{text}"
        );
        // The check compares with what --set would make: a different set is refused.
        let six = [Change {
            set: "train.epochs=6".into(),
            why: "x".into(),
        }];
        let e = write_improved(&file, FILE, &six, &["train.epochs=7".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("would not describe the chosen runs"), "{e}");
        assert!(!improved_path(&file).exists());
    }
}
