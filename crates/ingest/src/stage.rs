//! The ingest stage: read every source, clean, convert tags, de-duplicate, split, check for
//! leakage, write the split files, the label map, the rejects and the profile, and check
//! the row accounting before returning.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use flowcore::progress::Progress;
use flowcore::schema::{self, SPLITS};
use flowcore::{
    Globals, InputSpec, LabelMap, Resolved, Stage, StageContext, StageOutcome, TagScheme, TaskKind,
};
use regex::Regex;
use serde_json::{Value, json};

use crate::clean::Cleaner;
use crate::conll::ConllOptions;
use crate::dedup::{self, DedupReport};
use crate::encoding::read_text;
use crate::error::{IngestError, Result};
use crate::labelset::{self, LabelNames, LabelSpace};
use crate::model::{Body, Collected, Example, Label, Reason};
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
    let (pools, files) = inputs(&sources);
    let mut out = Collected {
        read: vec![0; pools.len()],
        pools,
        ..Collected::default()
    };
    let readers = Readers::new(p)?;
    readers.read_all(&files, &mut out)?;
    let cleaning = Cleaning::new(p, &readers.space, &out);
    let repairs = cleaning.run(&mut out, task == TaskKind::Multilabel);
    let report = remove_duplicates(p, &sources, &mut out)?;
    // Step 4: one given file is split here, by seed.
    if matches!(sources, Sources::Seeded(_)) {
        split::assign(&mut out.examples, &p.split);
    }
    let leakage = Leakage::check(p, &mut out);
    let label_map = write_label_map(p, &readers.space, &out, out_dir)?;
    let rows = write_files(p, &out, out_dir)?;
    let accounting = check_accounting(&out, &report, &rows)?;
    let mut metrics = metrics(
        p,
        &out,
        &rows,
        accounting,
        &report,
        &leakage,
        label_map.len(),
    );
    if let (Some(s), Value::Object(m)) = (cleaning.scheme, &mut metrics) {
        m.insert("tag_scheme".into(), json!(s));
        m.insert("tag_repairs".into(), json!(repairs));
    }
    write_profile(&out, task, &label_map, &metrics, out_dir)?;
    tracing::info!(
        train = rows[&schema::split_file("train")],
        dev = rows[&schema::split_file("dev")],
        test = rows[&schema::split_file("test")],
        rejects = out.rejects.len(),
        "ingest done"
    );
    Ok(Summary { metrics, rows })
}

/// A file to read: its pool, the id prefix of its examples, its path.
type InputFile = (usize, String, PathBuf);

/// The pools examples are read into and the files that fill them. The second and later files
/// of a split get their own id prefix (`test-f2-000001`), so ids stay unique and a single
/// file's ids are unchanged.
fn inputs(sources: &Sources) -> (Vec<String>, Vec<InputFile>) {
    match sources {
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
    }
}

/// Step 1, reading: how every input file is parsed into examples, set up once from the params
/// and the codebook.
struct Readers<'a> {
    p: &'a IngestParams,
    /// The template of a `tabular` input.
    renderer: Option<Renderer>,
    conll: ConllOptions,
    /// The label rules of a multi-label task (also used to clean and to fix the label list).
    space: LabelSpace,
    map: ColumnMap,
    list_column: Option<ListColumn<'a>>,
    dialect: CsvDialect,
    multilabel: bool,
}

impl<'a> Readers<'a> {
    /// The readers of `p`: the codebook's columns, label map and template unless the params
    /// give their own, the CoNLL options, the label space and the table column map.
    fn new(p: &'a IngestParams) -> Result<Self> {
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
        let renderer = renderer(p, &codebook)?;
        let conll = conll_options(p)?;
        let multilabel = p.task() == TaskKind::Multilabel;
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
        Ok(Self {
            p,
            renderer,
            conll,
            space,
            map: column_map(p, label_map, multilabel),
            list_column: multilabel.then(|| ListColumn {
                name: &p.label_column,
                separator: &p.label_separator,
            }),
            dialect: CsvDialect {
                delimiter: p.delimiter_byte(),
                quote: p.quote_byte(),
                has_header: p.has_header,
                columns,
                max_line_bytes: p.max_line_bytes,
            },
            multilabel,
        })
    }

    /// Reads every file into `out`; an error when nothing at all was read.
    fn read_all(&self, files: &[InputFile], out: &mut Collected) -> Result<()> {
        for (pool, prefix, path) in files {
            tracing::info!(file = %path.display(), pool = %prefix, "reading");
            self.read(*pool, prefix, path, out)?;
        }
        if out.examples.is_empty() && out.read.iter().all(|&r| r == 0) {
            return Err(IngestError::EmptySplit {
                split: "(all)".into(),
                detail: "no example was read".into(),
            });
        }
        Ok(())
    }

    /// Reads one file into `pool`, its example ids starting with `prefix`; text files are
    /// decoded first (counting a fallback to Windows-1252 and replacement characters).
    fn read(&self, pool: usize, prefix: &str, path: &Path, out: &mut Collected) -> Result<()> {
        let p = self.p;
        if p.format == Format::Parquet {
            let t = table::read_parquet(path)?;
            table::to_examples(path, &t, &self.map, None, pool, prefix, out)?;
            return Ok(());
        }
        let decoded = read_text(path, p.encoding)?;
        if decoded.fell_back {
            out.count("files_decoded_as_windows_1252", 1);
        }
        out.count("replacement_characters", decoded.replacement_chars);
        let text = decoded.text;
        match p.format {
            Format::Conll => crate::conll::read(path, &text, &self.conll, pool, prefix, out)?,
            Format::Separator => separator::read(
                path,
                &text,
                SeparatorOptions {
                    sep: &p.sep,
                    max_line_bytes: p.max_line_bytes,
                    label_separator: self.multilabel.then_some(p.label_separator.as_str()),
                },
                pool,
                prefix,
                out,
            )?,
            Format::Csv | Format::Tsv | Format::Tabular => {
                let t = table::read_csv(path, &text, &self.dialect, pool, out)?;
                let renderer = self.renderer.as_ref();
                table::to_examples(path, &t, &self.map, renderer, pool, prefix, out)?;
            }
            Format::Jsonl => {
                let t =
                    table::read_jsonl(path, &text, p.max_line_bytes, self.list_column, pool, out)?;
                table::to_examples(path, &t, &self.map, None, pool, prefix, out)?;
            }
            Format::Parquet => {}
        }
        Ok(())
    }
}

/// The renderer of a `tabular` input: its template from the params, else the codebook.
fn renderer(p: &IngestParams, codebook: &Codebook) -> Result<Option<Renderer>> {
    if p.format != Format::Tabular {
        return Ok(None);
    }
    let template = p
        .template
        .clone()
        .or_else(|| codebook.template.clone())
        .ok_or_else(|| IngestError::Param {
            key: "template".into(),
            message: "format `tabular` needs a template (in the params or the codebook)".into(),
        })?;
    Ok(Some(Renderer::new(&template, codebook.clone())?))
}

/// How a CoNLL column file is read, its token rewrite compiled.
fn conll_options(p: &IngestParams) -> Result<ConllOptions> {
    Ok(ConllOptions {
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
    })
}

/// Which table columns hold the text, label, id and metadata.
fn column_map(
    p: &IngestParams,
    label_map: BTreeMap<String, String>,
    multilabel: bool,
) -> ColumnMap {
    ColumnMap {
        text: p.text_column.clone(),
        text_b: p.text_b_column.clone(),
        label: p.label_column.clone(),
        id: p.id_column.clone(),
        metadata: p.metadata.clone(),
        label_map,
        multilabel: multilabel.then(|| MultiLabel {
            separator: p.label_separator.clone(),
            // An empty CSV field reads as null: there it is the empty set.
            null_is_empty: matches!(p.format, Format::Csv | Format::Tsv | Format::Tabular),
        }),
    }
}

/// Why an example is rejected, and the detail written with it.
type Problem = (Reason, String);

/// What cleaning counted over the examples.
#[derive(Debug, Default)]
struct CleanCounts {
    /// Tags repaired in the conversion to IOB2 (kept examples only).
    repairs: u64,
    /// Tokens that cleaning left empty (and were dropped).
    emptied_tokens: u64,
    /// Kept multi-label examples with no label at all.
    empty_sets: u64,
    /// Repeated label items folded into one (kept examples only).
    folded_items: u64,
}

/// Step 2, cleaning: normalises text and labels, converts tags to IOB2, and rejects what is
/// left empty, has an unknown label or repeats an earlier id.
struct Cleaning<'a> {
    cleaner: Cleaner,
    /// The `labels` param: the allowed labels (entity types for a token task).
    allowed: Option<HashSet<&'a str>>,
    /// The input's tag scheme (token tasks only), as given or detected.
    scheme: Option<TagScheme>,
    space: &'a LabelSpace,
}

impl<'a> Cleaning<'a> {
    /// The cleaning `p` asks for; `auto` detects the tag scheme from the examples read.
    fn new(p: &'a IngestParams, space: &'a LabelSpace, out: &Collected) -> Self {
        let scheme = match (p.task(), p.scheme) {
            (TaskKind::Token, SchemeChoice::Fixed(s)) => Some(s),
            (TaskKind::Token, SchemeChoice::Auto) => Some(scheme::detect(
                out.examples.iter().filter_map(|e| match &e.body {
                    Body::Tokens { tags, .. } => Some(tags.as_slice()),
                    Body::Text { .. } => None,
                }),
            )),
            (TaskKind::Sequence | TaskKind::Multilabel, _) => None,
        };
        Self {
            cleaner: Cleaner {
                normalize: p.normalize,
                strip_control: p.strip_control,
                collapse_whitespace: p.collapse_whitespace,
            },
            allowed: p
                .labels
                .as_ref()
                .map(|l| l.iter().map(String::as_str).collect()),
            scheme,
            space,
        }
    }

    /// Cleans every example of `out`, keeping the good ones and rejecting the rest; records
    /// the counters and returns the number of tags repaired.
    fn run(&self, out: &mut Collected, multilabel: bool) -> u64 {
        let mut counts = CleanCounts::default();
        let examples = std::mem::take(&mut out.examples);
        let pb = bar(examples.len() as u64, "cleaning");
        let mut kept = Vec::with_capacity(examples.len());
        let mut seen_ids = HashSet::with_capacity(examples.len());
        for mut ex in examples {
            pb.inc(1);
            let (problem, folded) = self.example(&mut ex, &mut counts);
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
                    counts.folded_items += folded;
                    if matches!(&ex.body, Body::Text { label: Label::Set(s), .. } if s.is_empty()) {
                        counts.empty_sets += 1;
                    }
                    kept.push(ex);
                }
            }
        }
        pb.finish_and_clear();
        out.examples = kept;
        if counts.emptied_tokens > 0 {
            out.count("tokens_removed_by_cleaning", counts.emptied_tokens);
        }
        if multilabel {
            // Kept (not rejected) examples with no label at all, before duplicates are removed.
            out.count("empty_label_sets", counts.empty_sets);
            out.count("label_items_folded", counts.folded_items);
        }
        counts.repairs
    }

    /// Cleans one example in place: its problem, if any, and the label items it folded.
    fn example(&self, ex: &mut Example, counts: &mut CleanCounts) -> (Option<Problem>, u64) {
        let mut folded = 0;
        let problem = match &mut ex.body {
            Body::Tokens { tokens, tags } => {
                self.tokens(tokens, tags, &mut ex.token_lines, ex.line, counts)
            }
            Body::Text {
                text,
                text_b,
                label,
            } => self.text(text, text_b, label, &mut folded),
        };
        (problem, folded)
    }

    /// A sentence: cleans its tokens (dropping those left empty) and converts its tags to
    /// IOB2; rejects it when no token is left, a tag does not fit the scheme, or an entity
    /// type is not allowed. Only a kept sentence is changed.
    fn tokens(
        &self,
        tokens: &mut Vec<String>,
        tags: &mut Vec<String>,
        token_lines: &mut Vec<u64>,
        line: u64,
        counts: &mut CleanCounts,
    ) -> Option<Problem> {
        let mut t2 = Vec::with_capacity(tokens.len());
        let mut g2 = Vec::with_capacity(tags.len());
        let mut l2 = Vec::with_capacity(tags.len());
        for (i, (tok, tag)) in tokens.iter().zip(tags.iter()).enumerate() {
            let clean = self.cleaner.clean(tok);
            if clean.is_empty() {
                counts.emptied_tokens += 1;
                continue;
            }
            t2.push(clean);
            g2.push(tag.clone());
            l2.push(token_lines.get(i).copied().unwrap_or(line));
        }
        let tag_scheme = self.scheme.unwrap_or(TagScheme::Iob2);
        match scheme::to_iob2(&g2, tag_scheme) {
            _ if t2.is_empty() => Some((Reason::Empty, "no token left after cleaning".into())),
            Err(bad) => Some((
                Reason::UnknownLabel,
                format!(
                    "line {}: tag `{}`: expected {}",
                    l2.get(bad.index).copied().unwrap_or(line),
                    bad.tag,
                    bad.expected
                ),
            )),
            Ok((iob2, r)) => {
                let unknown = self.allowed.as_ref().and_then(|allowed| {
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
                        counts.repairs += r;
                        *tokens = t2;
                        *tags = iob2;
                        *token_lines = l2;
                        None
                    }
                }
            }
        }
    }

    /// A text example: cleans the text (and second text, dropped when empty) and the label;
    /// rejects it when the text or the label is empty or the label is not allowed. A label
    /// set is resolved through the label space, `folded` counting its repeated items.
    fn text(
        &self,
        text: &mut String,
        text_b: &mut Option<String>,
        label: &mut Label,
        folded: &mut u64,
    ) -> Option<Problem> {
        *text = self.cleaner.clean(text);
        if let Some(b) = text_b.as_mut() {
            *b = self.cleaner.clean(b);
        }
        if text_b.as_ref().is_some_and(String::is_empty) {
            *text_b = None;
        }
        match label {
            Label::Class(label) => {
                *label = self.cleaner.clean(label);
                if text.is_empty() {
                    Some((Reason::Empty, "the text is empty after cleaning".into()))
                } else if label.is_empty() {
                    Some((Reason::MissingLabel, "the label is empty".into()))
                } else if self
                    .allowed
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
            Label::Set(items) => match self.space.resolve(items, &self.cleaner) {
                Ok(r) => {
                    *items = r.labels;
                    *folded = r.folded;
                    None
                }
                Err(problem) => Some(problem),
            },
        }
    }
}

/// Step 3, duplicates and conflicts within each pool: cleaned in train (or in the one file
/// that is split here), only counted in given dev and test files unless asked.
fn remove_duplicates(
    p: &IngestParams,
    sources: &Sources,
    out: &mut Collected,
) -> Result<DedupReport> {
    let apply: Vec<bool> = (0..out.pools.len())
        .map(|pool| match sources {
            Sources::Seeded(_) => p.dedup,
            Sources::PerSplit(_) => p.dedup && (pool == 0 || p.clean_eval_splits),
        })
        .collect();
    dedup::dedup(out, p.conflict_policy, &apply)
}

/// Step 5, leakage: train texts that also occur in dev or test (removed from train when
/// asked), and the dev and test examples whose text is in train.
struct Leakage {
    /// Train texts found in dev or test.
    leaked: u64,
    /// Of those, removed from train.
    removed: u64,
    /// Dev, then test: how many of its examples are in train, and the first ids.
    in_train: Vec<(u64, Vec<String>)>,
}

impl Leakage {
    fn check(p: &IngestParams, out: &mut Collected) -> Self {
        let (leaked, removed) = dedup::leakage(out, 0, &[1, 2], p.remove_leakage);
        let in_train = [1, 2]
            .iter()
            .map(|&s| dedup::overlap_with(out, 0, s, dedup::MAX_REPORTED_IDS))
            .collect();
        Self {
            leaked,
            removed,
            in_train,
        }
    }
}

/// Step 6, the label map: the list fixed by the params (multi-label) or found in the kept
/// examples, written to `labels.json`.
fn write_label_map(
    p: &IngestParams,
    space: &LabelSpace,
    out: &Collected,
    out_dir: &Path,
) -> Result<LabelMap> {
    let task = p.task();
    let labels = match (task, space.fixed_labels()) {
        (TaskKind::Multilabel, Some(fixed)) => fixed,
        _ => label_list(task, out, p.labels.as_deref()),
    };
    let label_map = LabelMap::new(task, labels);
    label_map.write(&out_dir.join(schema::LABELS_FILE))?;
    Ok(label_map)
}

/// Step 7, the split files and the rejects: their row counts by file name. An empty train
/// split is an error; an empty dev or test split a warning.
fn write_files(p: &IngestParams, out: &Collected, out_dir: &Path) -> Result<BTreeMap<String, u64>> {
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
            p.task(),
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
    Ok(rows)
}

/// Step 8, row accounting: read = kept + rejected + duplicates removed in every pool, and the
/// split files hold every kept example. The accounting per pool, or the error naming where it
/// does not add up.
fn check_accounting(
    out: &Collected,
    report: &DedupReport,
    rows: &BTreeMap<String, u64>,
) -> Result<serde_json::Map<String, Value>> {
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
    Ok(accounting)
}

/// Step 9, the manifest's metrics: row accounting, rows per split, rejects by reason,
/// duplicates, conflicts and leakage per pool, the label count and the readers' counters.
fn metrics(
    p: &IngestParams,
    out: &Collected,
    rows: &BTreeMap<String, u64>,
    accounting: serde_json::Map<String, Value>,
    report: &DedupReport,
    leakage: &Leakage,
    labels: usize,
) -> Value {
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
    let in_train = &leakage.in_train;
    json!({
        "task": p.task().to_string(),
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
            "train_texts_in_dev_or_test": leakage.leaked,
            "removed": leakage.removed,
            "dev_in_train": in_train[0].0,
            "test_in_train": in_train[1].0,
            "dev_in_train_ids": in_train[0].1,
            "test_in_train_ids": in_train[1].1,
        },
        "kept_duplicate_ids": per_pool_ids(&report.kept_ids),
        "labels": labels,
        "counters": out.counters,
    })
}

/// The profile of the kept examples (with `metrics`), as `profile.json` and `profile.md`.
fn write_profile(
    out: &Collected,
    task: TaskKind,
    label_map: &LabelMap,
    metrics: &Value,
    out_dir: &Path,
) -> Result<()> {
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
    Ok(())
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
