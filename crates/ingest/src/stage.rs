//! The ingest stage: read every source, clean, convert tags, de-duplicate, split, check for
//! leakage, write the split files, the label map, the rejects and the profile, and check
//! the row accounting before returning.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

use flowcore::progress::Progress;
use flowcore::schema::{self, SPLITS};
use flowcore::{
    Globals, InputSpec, LabelMap, Resolved, Stage, StageContext, StageOutcome, TaskKind,
};
use regex::Regex;
use serde_json::{Value, json};

use crate::clean::Cleaner;
use crate::conll::ConllOptions;
use crate::dedup;
use crate::encoding::read_text;
use crate::error::{IngestError, Result};
use crate::labelset::{self, LabelNames, LabelSpace};
use crate::model::{Body, Collected, Label, Reason};
use crate::params::{Format, IngestParams, SchemeChoice, Sources};
use crate::profile;
use crate::scheme;
use crate::separator::{self, SeparatorOptions};
use crate::split;
use crate::table::{self, ColumnMap, CsvDialect, ListColumn, MultiLabel};
use crate::tabular::{Codebook, Renderer};
use crate::write;

/// Output format version of the ingest stage; bump when the files change meaning.
pub const VERSION: u32 = 1;

/// The ingest stage, registered by the pipeline runner under kind `"ingest"`.
#[derive(Debug, Clone, Copy, Default)]
pub struct IngestStage;

impl Stage for IngestStage {
    fn kind(&self) -> &'static str {
        "ingest"
    }

    fn version(&self) -> u32 {
        VERSION
    }

    fn inputs(&self) -> &'static [InputSpec] {
        &[]
    }

    fn resolve(&self, raw: &Value, globals: &Globals) -> flowcore::Result<Resolved> {
        let mut params: IngestParams = flowcore::params::parse(raw)?;
        params.validate(globals.task)?;
        Ok(Resolved {
            raw_inputs: params.raw_inputs(),
            params: flowcore::params::to_value(&params)?,
        })
    }

    fn run(&self, ctx: &StageContext<'_>) -> anyhow::Result<StageOutcome> {
        let mut params: IngestParams = ctx.params()?;
        params.validate(ctx.globals.task)?;
        let summary = ingest(&params, ctx.out_dir)?;
        Ok(StageOutcome {
            metrics: summary.metrics,
            rows: summary.rows,
        })
    }
}

/// What [`ingest`] reports.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Metrics for the manifest (row accounting, rejects, duplicates, ...).
    pub metrics: Value,
    /// Row counts of the Parquet files written, by file name.
    pub rows: BTreeMap<String, u64>,
}

fn bar(len: u64, what: &str) -> Progress {
    let pb = Progress::new(
        "ingest",
        "example",
        len,
        "{msg} {bar:30} {pos}/{len} ({per_sec})",
        true,
    );
    pb.set_message(what.to_string());
    pb
}

/// Run the whole stage with validated params, writing into `out_dir`.
pub fn ingest(p: &IngestParams, out_dir: &Path) -> Result<Summary> {
    let task = p.task();
    let sources = p.sources()?;
    // (pool, id prefix, file): the second and later files of a split get their own id
    // prefix (`test-f2-000001`), so ids stay unique and a single file's ids are unchanged.
    let (pools, files): (Vec<String>, Vec<(usize, String, std::path::PathBuf)>) = match &sources {
        Sources::PerSplit(files) => (
            SPLITS.iter().map(|s| s.to_string()).collect(),
            files
                .iter()
                .enumerate()
                .flat_map(|(i, list)| {
                    list.iter().enumerate().map(move |(k, f)| {
                        let prefix = if k == 0 {
                            SPLITS[i].to_string()
                        } else {
                            format!("{}-f{}", SPLITS[i], k + 1)
                        };
                        (i, prefix, f.clone())
                    })
                })
                .collect(),
        ),
        Sources::Seeded(file) => (
            vec!["all".to_string()],
            vec![(0, "all".to_string(), file.clone())],
        ),
    };
    let mut out = Collected {
        read: vec![0; pools.len()],
        pools: pools.clone(),
        ..Collected::default()
    };

    let codebook = match &p.codebook {
        Some(path) => Codebook::read(path)?,
        None => Codebook::default(),
    };
    let columns = p.columns.clone().or_else(|| codebook.columns.clone());
    let label_map = if p.label_map.is_empty() {
        codebook.label_map.clone()
    } else {
        p.label_map.clone()
    };
    let renderer = match p.format {
        Format::Tabular => {
            let template = p
                .template
                .clone()
                .or_else(|| codebook.template.clone())
                .ok_or_else(|| IngestError::Param {
                    key: "template".into(),
                    message: "format `tabular` needs a template (in the params or the codebook)"
                        .into(),
                })?;
            Some(Renderer::new(&template, codebook.clone())?)
        }
        _ => None,
    };
    let conll = ConllOptions {
        token_column: p.token_column,
        tag_column: p.tag_column,
        separator: p.separator,
        comment_prefix: p.comment_prefix.clone(),
        docstart: p.docstart.clone(),
        max_line_bytes: p.max_line_bytes,
        rewrite: match &p.token_rewrite {
            Some(rw) => Some((
                Regex::new(&rw.pattern).map_err(|e| IngestError::Param {
                    key: "token_rewrite.pattern".into(),
                    message: e.to_string(),
                })?,
                rw.replacement.clone(),
            )),
            None => None,
        },
    };
    let multilabel = task == TaskKind::Multilabel;
    let label_names = match &p.label_names {
        Some(path) => Some(LabelNames {
            file: path.display().to_string(),
            names: labelset::read_names(path)?,
        }),
        None => None,
    };
    let space = LabelSpace::new(
        label_names,
        p.labels.clone(),
        label_map.clone(),
        &p.label_separator,
    );
    let map = ColumnMap {
        text: p.text_column.clone(),
        text_b: p.text_b_column.clone(),
        label: p.label_column.clone(),
        id: p.id_column.clone(),
        metadata: p.metadata.clone(),
        label_map: label_map.clone(),
        multilabel: multilabel.then(|| MultiLabel {
            separator: p.label_separator.clone(),
            // An empty CSV field reads as null: there it is the empty set.
            null_is_empty: matches!(p.format, Format::Csv | Format::Tsv | Format::Tabular),
        }),
    };
    let list_column = multilabel.then(|| ListColumn {
        name: &p.label_column,
        separator: &p.label_separator,
    });
    let dialect = CsvDialect {
        delimiter: p.delimiter_byte(),
        quote: p.quote_byte(),
        has_header: p.has_header,
        columns,
        max_line_bytes: p.max_line_bytes,
    };

    // 1. Read.
    for (pool, prefix, path) in &files {
        let prefix = prefix.clone();
        tracing::info!(file = %path.display(), pool = %prefix, "reading");
        if p.format == Format::Parquet {
            let t = table::read_parquet(path)?;
            table::to_examples(path, &t, &map, None, *pool, &prefix, &mut out)?;
            continue;
        }
        let decoded = read_text(path, p.encoding)?;
        if decoded.fell_back {
            out.count("files_decoded_as_windows_1252", 1);
        }
        out.count("replacement_characters", decoded.replacement_chars);
        let text = decoded.text;
        match p.format {
            Format::Conll => crate::conll::read(path, &text, &conll, *pool, &prefix, &mut out)?,
            Format::Separator => separator::read(
                path,
                &text,
                SeparatorOptions {
                    sep: &p.sep,
                    max_line_bytes: p.max_line_bytes,
                    label_separator: multilabel.then_some(p.label_separator.as_str()),
                },
                *pool,
                &prefix,
                &mut out,
            )?,
            Format::Csv | Format::Tsv | Format::Tabular => {
                let t = table::read_csv(path, &text, &dialect, *pool, &mut out)?;
                table::to_examples(path, &t, &map, renderer.as_ref(), *pool, &prefix, &mut out)?;
            }
            Format::Jsonl => {
                let t =
                    table::read_jsonl(path, &text, p.max_line_bytes, list_column, *pool, &mut out)?;
                table::to_examples(path, &t, &map, None, *pool, &prefix, &mut out)?;
            }
            Format::Parquet => {}
        }
    }
    if out.examples.is_empty() && out.read.iter().all(|&r| r == 0) {
        return Err(IngestError::EmptySplit {
            split: "(all)".into(),
            detail: "no example was read".into(),
        });
    }

    // 2. Clean (and convert tags).
    let cleaner = Cleaner {
        normalize: p.normalize,
        strip_control: p.strip_control,
        collapse_whitespace: p.collapse_whitespace,
    };
    let allowed: Option<HashSet<&str>> = p
        .labels
        .as_ref()
        .map(|l| l.iter().map(String::as_str).collect());
    let detected = match (task, p.scheme) {
        (TaskKind::Token, SchemeChoice::Fixed(s)) => Some(s),
        (TaskKind::Token, SchemeChoice::Auto) => Some(scheme::detect(
            out.examples.iter().filter_map(|e| match &e.body {
                Body::Tokens { tags, .. } => Some(tags.as_slice()),
                Body::Text { .. } => None,
            }),
        )),
        (TaskKind::Sequence | TaskKind::Multilabel, _) => None,
    };
    let mut repairs = 0u64;
    let mut emptied_tokens = 0u64;
    let mut empty_sets = 0u64;
    let mut folded_items = 0u64;
    let examples = std::mem::take(&mut out.examples);
    let pb = bar(examples.len() as u64, "cleaning");
    let mut kept = Vec::with_capacity(examples.len());
    let mut seen_ids = HashSet::with_capacity(examples.len());
    for mut ex in examples {
        pb.inc(1);
        let mut folded = 0;
        let problem: Option<(Reason, String)> = match &mut ex.body {
            Body::Tokens { tokens, tags } => {
                let mut t2 = Vec::with_capacity(tokens.len());
                let mut g2 = Vec::with_capacity(tags.len());
                let mut l2 = Vec::with_capacity(tags.len());
                for (i, (tok, tag)) in tokens.iter().zip(tags.iter()).enumerate() {
                    let clean = cleaner.clean(tok);
                    if clean.is_empty() {
                        emptied_tokens += 1;
                        continue;
                    }
                    t2.push(clean);
                    g2.push(tag.clone());
                    l2.push(ex.token_lines.get(i).copied().unwrap_or(ex.line));
                }
                let tag_scheme = detected.unwrap_or(flowcore::TagScheme::Iob2);
                match scheme::to_iob2(&g2, tag_scheme) {
                    _ if t2.is_empty() => {
                        Some((Reason::Empty, "no token left after cleaning".into()))
                    }
                    Err(bad) => Some((
                        Reason::UnknownLabel,
                        format!(
                            "line {}: tag `{}`: expected {}",
                            l2.get(bad.index).copied().unwrap_or(ex.line),
                            bad.tag,
                            bad.expected
                        ),
                    )),
                    Ok((iob2, r)) => {
                        let unknown = allowed.as_ref().and_then(|allowed| {
                            iob2.iter().zip(&l2).find_map(|(t, line)| {
                                let ty = t.get(2..)?;
                                (!allowed.contains(ty)).then(|| (*line, t.clone()))
                            })
                        });
                        match unknown {
                            Some((line, t)) => Some((
                                Reason::UnknownLabel,
                                format!("line {line}: entity type of `{t}` is not in `labels`"),
                            )),
                            None => {
                                repairs += r;
                                *tokens = t2;
                                *tags = iob2;
                                ex.token_lines = l2;
                                None
                            }
                        }
                    }
                }
            }
            Body::Text {
                text,
                text_b,
                label,
            } => {
                *text = cleaner.clean(text);
                if let Some(b) = text_b.as_mut() {
                    *b = cleaner.clean(b);
                }
                if text_b.as_ref().is_some_and(String::is_empty) {
                    *text_b = None;
                }
                match label {
                    Label::Class(label) => {
                        *label = cleaner.clean(label);
                        if text.is_empty() {
                            Some((Reason::Empty, "the text is empty after cleaning".into()))
                        } else if label.is_empty() {
                            Some((Reason::MissingLabel, "the label is empty".into()))
                        } else if allowed
                            .as_ref()
                            .is_some_and(|a| !a.contains(label.as_str()))
                        {
                            Some((
                                Reason::UnknownLabel,
                                format!("label `{label}` is not in `labels`"),
                            ))
                        } else {
                            None
                        }
                    }
                    Label::Set(_) if text.is_empty() => {
                        Some((Reason::Empty, "the text is empty after cleaning".into()))
                    }
                    Label::Set(items) => match space.resolve(items, &cleaner) {
                        Ok(r) => {
                            *items = r.labels;
                            folded = r.folded;
                            None
                        }
                        Err(problem) => Some(problem),
                    },
                }
            }
        };
        let problem = problem.or_else(|| {
            (!seen_ids.insert(ex.id.clone())).then(|| {
                (
                    Reason::DuplicateId,
                    format!("id `{}` was already used by an earlier example", ex.id),
                )
            })
        });
        match problem {
            Some((reason, detail)) => out.reject(&ex, reason, detail),
            None => {
                folded_items += folded;
                if matches!(&ex.body, Body::Text { label: Label::Set(s), .. } if s.is_empty()) {
                    empty_sets += 1;
                }
                kept.push(ex);
            }
        }
    }
    pb.finish_and_clear();
    out.examples = kept;
    if emptied_tokens > 0 {
        out.count("tokens_removed_by_cleaning", emptied_tokens);
    }
    if multilabel {
        // Kept (not rejected) examples with no label at all, before duplicates are removed.
        out.count("empty_label_sets", empty_sets);
        out.count("label_items_folded", folded_items);
    }

    // 3. Duplicates and conflicts within each pool: cleaned in train (or in the one file that
    // is split here), only counted in given dev and test files unless asked.
    let apply: Vec<bool> = (0..out.pools.len())
        .map(|pool| match &sources {
            Sources::Seeded(_) => p.dedup,
            Sources::PerSplit(_) => p.dedup && (pool == 0 || p.clean_eval_splits),
        })
        .collect();
    let report = dedup::dedup(&mut out, p.conflict_policy, &apply)?;

    // 4. Seeded split.
    if matches!(sources, Sources::Seeded(_)) {
        split::assign(&mut out.examples, &p.split);
    }

    // 5. Leakage.
    let (leaked, removed) = dedup::leakage(&mut out, 0, &[1, 2], p.remove_leakage);
    let in_train: Vec<(u64, Vec<String>)> = [1, 2]
        .iter()
        .map(|&s| dedup::overlap_with(&out, 0, s, dedup::MAX_REPORTED_IDS))
        .collect();

    // 6. Label map.
    let labels = match (task, space.fixed_labels()) {
        (TaskKind::Multilabel, Some(fixed)) => fixed,
        _ => label_list(task, &out, p.labels.as_deref()),
    };
    let label_map = LabelMap::new(task, labels);
    label_map.write(&out_dir.join(schema::LABELS_FILE))?;

    // 7. Splits and rejects.
    let mut rows = BTreeMap::new();
    let meta_kinds = write::meta_kinds(&out.examples, out.meta_names.len());
    for (s, name) in SPLITS.iter().enumerate() {
        let part: Vec<_> = out.examples.iter().filter(|e| e.split == s).collect();
        if part.is_empty() {
            if s == 0 {
                return Err(IngestError::EmptySplit {
                    split: (*name).into(),
                    detail: format!("{} rejected", out.rejects.len()),
                });
            }
            tracing::warn!(split = name, "no examples in this split");
        }
        let file = schema::split_file(name);
        let n = write::write_split(
            &out_dir.join(&file),
            &part,
            task,
            p.text_b_column.is_some(),
            &out.meta_names,
            &meta_kinds,
        )?;
        rows.insert(file, n);
    }
    let n = write::write_rejects(
        &out_dir.join(schema::ingest::REJECTS_FILE),
        &out.rejects,
        &out.pools,
    )?;
    rows.insert(schema::ingest::REJECTS_FILE.to_string(), n);

    // 8. Row accounting: read = kept + rejected + duplicates removed, per pool.
    let mut accounting = serde_json::Map::new();
    for (i, pool) in out.pools.iter().enumerate() {
        let kept = out.examples.iter().filter(|e| e.pool == i).count() as u64;
        let rejected = out.rejects.iter().filter(|r| r.pool == i).count() as u64;
        let duplicates = report.duplicates[i];
        let read = out.read[i];
        if read != kept + rejected + duplicates {
            return Err(IngestError::Accounting {
                pool: pool.clone(),
                read,
                kept,
                rejected,
                duplicates,
            });
        }
        accounting.insert(
            pool.clone(),
            json!({"read": read, "kept": kept, "rejected": rejected, "duplicates": duplicates}),
        );
    }
    let written: u64 = SPLITS.iter().map(|s| rows[&schema::split_file(s)]).sum();
    if written != out.examples.len() as u64 {
        return Err(IngestError::Accounting {
            pool: "(split files)".into(),
            read: out.read.iter().sum(),
            kept: written,
            rejected: out.rejects.len() as u64,
            duplicates: report.duplicates.iter().sum(),
        });
    }

    // 9. Metrics and profile.
    let mut by_reason: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &out.rejects {
        *by_reason.entry(r.reason.as_str()).or_default() += 1;
    }
    let per_pool = |v: &[u64]| -> Value {
        out.pools
            .iter()
            .zip(v)
            .map(|(p, n)| (p.clone(), json!(n)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let per_pool_ids = |v: &[Vec<String>]| -> Value {
        out.pools
            .iter()
            .zip(v)
            .filter(|(_, ids)| !ids.is_empty())
            .map(|(p, ids)| (p.clone(), json!(ids)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let mut metrics = json!({
        "task": task.to_string(),
        "accounting": accounting,
        "rows": SPLITS.iter().map(|s| (s.to_string(), json!(rows[&schema::split_file(s)]))).collect::<serde_json::Map<_, _>>(),
        "rejects": by_reason,
        "duplicates": per_pool(&report.duplicates),
        "duplicates_found": per_pool(&report.duplicates_found),
        "conflicts": {
            "groups": per_pool(&report.conflict_groups),
            "rejected": per_pool(&report.conflict_rejects),
            "losing_copies_found": per_pool(&report.conflicts_found),
            "policy": p.conflict_policy,
        },
        "leakage": {
            "train_texts_in_dev_or_test": leaked,
            "removed": removed,
            "dev_in_train": in_train[0].0,
            "test_in_train": in_train[1].0,
            "dev_in_train_ids": in_train[0].1,
            "test_in_train_ids": in_train[1].1,
        },
        "kept_duplicate_ids": per_pool_ids(&report.kept_ids),
        "labels": label_map.len(),
        "counters": out.counters,
    });
    if let (Some(s), Value::Object(m)) = (detected, &mut metrics) {
        m.insert("tag_scheme".into(), json!(s));
        m.insert("tag_repairs".into(), json!(repairs));
    }
    let prof = profile::profile(
        &out.examples,
        &task.to_string(),
        &label_map.labels,
        metrics.clone(),
    )?;
    let text = serde_json::to_string_pretty(&prof)
        .map_err(|e| IngestError::Io(std::io::Error::other(e)))?;
    fs_err::write(out_dir.join(schema::ingest::PROFILE_JSON), text + "\n")?;
    fs_err::write(
        out_dir.join(schema::ingest::PROFILE_MD),
        profile::markdown(&prof),
    )?;
    tracing::info!(
        train = rows[&schema::split_file("train")],
        dev = rows[&schema::split_file("dev")],
        test = rows[&schema::split_file("test")],
        rejects = out.rejects.len(),
        "ingest done"
    );
    Ok(Summary { metrics, rows })
}

/// The label list: token tasks `O` then `B-`/`I-` per type (types sorted); sequence tasks
/// the class names sorted; multi-label tasks (without `label_names` or `labels`, which fix
/// the list) the sorted union of the names in every set. `given` (the `labels` param) fixes
/// the set.
fn label_list(task: TaskKind, out: &Collected, given: Option<&[String]>) -> Vec<String> {
    match task {
        TaskKind::Token => {
            let types: BTreeSet<String> = match given {
                Some(g) => g.iter().cloned().collect(),
                None => out
                    .examples
                    .iter()
                    .flat_map(|e| match &e.body {
                        Body::Tokens { tags, .. } => tags
                            .iter()
                            .filter_map(|t| t.get(2..).map(str::to_string))
                            .collect::<Vec<_>>(),
                        Body::Text { .. } => Vec::new(),
                    })
                    .collect(),
            };
            std::iter::once("O".to_string())
                .chain(
                    types
                        .into_iter()
                        .flat_map(|t| [format!("B-{t}"), format!("I-{t}")]),
                )
                .collect()
        }
        TaskKind::Sequence => {
            let set: BTreeSet<String> = match given {
                Some(g) => g.iter().cloned().collect(),
                None => out.examples.iter().map(|e| e.label_key()).collect(),
            };
            set.into_iter().collect()
        }
        TaskKind::Multilabel => {
            let set: BTreeSet<&String> = out
                .examples
                .iter()
                .flat_map(|e| match &e.body {
                    Body::Text {
                        label: Label::Set(items),
                        ..
                    } => items.as_slice(),
                    _ => &[],
                })
                .collect();
            set.into_iter().cloned().collect()
        }
    }
}
