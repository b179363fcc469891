//! The `tokenize` pipeline stage: ingest Parquet in, window Parquet out.
//!
//! Reads every split of the ingest artifact, encodes its examples in parallel (rayon; output
//! order is the input order whatever the thread count), and writes per split
//! `<split>.parquet` (schema `flowcore::schema::tokenize`), plus `tokenizer.json`,
//! `encoding.json` and `labels.json`, so later stages need neither the model directory nor
//! the ingest artifact to encode new text the same way.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::Context;
use flowcore::progress::Progress;
use flowcore::schema;
use flowcore::{
    CoreError, Globals, InputSpec, LabelMap, Resolved, Stage, StageContext, StageOutcome, TaskKind,
};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::encoder::{
    EncodeOptions, Encoder, LabelAligner, LabelMode, TokenizerSource, Truncation, WordStats,
    max_position_embeddings,
};
use crate::error::TokenizeError;
use crate::table::{self, TextExample, TokenExample, label_index};
use crate::window::Window;

/// Output format version of the stage; bump when the files change meaning.
pub const STAGE_VERSION: u32 = 1;

/// Params of the tokenize stage (`[stages.tokenize]` in a pipeline file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenizeParams {
    /// Model directory, `tokenizer.json` or `vocab.txt`; defaults to the pipeline's model.
    pub tokenizer: Option<PathBuf>,
    /// Most sub-words per window, special tokens included (at most the model's
    /// `max_position_embeddings`).
    pub max_length: usize,
    /// Most sub-words shared by neighbouring windows of a long example; default a quarter of
    /// `max_length`.
    pub stride: Option<usize>,
    /// `first` (the first sub-word carries a word's label) or `all` (every sub-word does).
    pub label_mode: LabelMode,
    /// Sequence task: `longest_first` or `head_tail`.
    pub truncation: Truncation,
    /// With `head_tail`: sub-words kept from the start; default a quarter of `max_length`.
    pub head_tokens: Option<usize>,
}

impl Default for TokenizeParams {
    fn default() -> Self {
        Self {
            tokenizer: None,
            max_length: 128,
            stride: None,
            label_mode: LabelMode::First,
            truncation: Truncation::LongestFirst,
            head_tokens: None,
        }
    }
}

impl TokenizeParams {
    /// The encoding options these params stand for (defaults filled in).
    pub fn options(&self) -> EncodeOptions {
        let defaults = EncodeOptions::new(self.max_length);
        EncodeOptions {
            max_length: self.max_length,
            stride: self.stride.unwrap_or(defaults.stride),
            label_mode: self.label_mode,
            truncation: self.truncation,
            head_tokens: self.head_tokens.unwrap_or(defaults.head_tokens),
        }
    }
}

/// The tokenize stage (kind `"tokenize"`), registered with the pipeline runner.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenizeStage;

const INPUTS: &[InputSpec] = &[InputSpec {
    kind: "ingest",
    required: true,
}];

fn param_err(key: &str, err: impl std::fmt::Display) -> CoreError {
    CoreError::Param {
        key: key.to_string(),
        message: err.to_string(),
    }
}

impl Stage for TokenizeStage {
    fn kind(&self) -> &'static str {
        "tokenize"
    }

    fn version(&self) -> u32 {
        STAGE_VERSION
    }

    fn inputs(&self) -> &'static [InputSpec] {
        INPUTS
    }

    fn resolve(&self, raw: &serde_json::Value, globals: &Globals) -> flowcore::Result<Resolved> {
        let mut params: TokenizeParams = flowcore::params::parse(raw)?;
        let path = params
            .tokenizer
            .clone()
            .or_else(|| globals.model.clone())
            .ok_or_else(|| {
                param_err(
                    "tokenizer",
                    "no tokenizer: set `tokenizer` (a model directory, tokenizer.json or vocab.txt) or the pipeline's `model`",
                )
            })?;
        let source = TokenizerSource::locate(&path).map_err(|e| param_err("tokenizer", e))?;
        if let Some(dir) = source.dir()
            && let Some(limit) =
                max_position_embeddings(dir).map_err(|e| param_err("tokenizer", e))?
            && params.max_length > limit
        {
            return Err(param_err(
                "max_length",
                format!(
                    "{} exceeds the model's max_position_embeddings {limit} ({})",
                    params.max_length,
                    dir.display()
                ),
            ));
        }
        if params.max_length < 3 {
            return Err(param_err(
                "max_length",
                "must leave room for special tokens and text (>= 3)",
            ));
        }
        let options = params.options();
        if options.stride >= options.max_length {
            return Err(param_err(
                "stride",
                format!(
                    "{} must be below max_length {}",
                    options.stride, options.max_length
                ),
            ));
        }
        params.tokenizer = Some(path);
        params.stride = Some(options.stride);
        params.head_tokens = Some(options.head_tokens);
        Ok(Resolved {
            params: flowcore::params::to_value(&params)?,
            raw_inputs: source.files(),
        })
    }

    fn run(&self, ctx: &StageContext<'_>) -> anyhow::Result<StageOutcome> {
        let params: TokenizeParams = ctx.params()?;
        let path = params
            .tokenizer
            .clone()
            .context("resolved params name no tokenizer")?;
        let ingest = ctx.input("ingest")?;
        let labels = LabelMap::read(&ingest.file(schema::LABELS_FILE)?)?;
        if let Some(task) = ctx.globals.task
            && task != labels.task
        {
            anyhow::bail!(
                "the pipeline's task is `{task}` but the ingest labels are for `{}` ({})",
                labels.task,
                ingest.dir.display()
            );
        }
        let encoder = Encoder::from_model_dir(&path, params.options())?;
        encoder.save(ctx.out_dir)?;
        labels.write(&ctx.out_dir.join(schema::LABELS_FILE))?;

        let mut rows = BTreeMap::new();
        let mut split_metrics = serde_json::Map::new();
        for split in schema::SPLITS {
            let file = schema::split_file(split);
            if !ingest.has(&file) {
                tracing::warn!(split, dir = %ingest.dir.display(), "ingest artifact has no such split; skipped");
                continue;
            }
            let input = ingest.file(&file)?;
            let out = ctx.out_dir.join(&file);
            let report = tokenize_split(&encoder, &labels, &input, &out)?;
            tracing::info!(
                split,
                examples = report.examples,
                windows = report.windows,
                "tokenized"
            );
            rows.insert(file, report.windows);
            split_metrics.insert(split.to_string(), serde_json::to_value(&report)?);
        }
        anyhow::ensure!(
            !rows.is_empty(),
            "{}: ingest artifact holds no split",
            ingest.dir.display()
        );
        let metrics = serde_json::json!({
            "task": labels.task,
            "max_length": encoder.options().max_length,
            "stride": encoder.options().stride,
            "ignores_case": encoder.ignores_case(),
            "splits": split_metrics,
        });
        Ok(StageOutcome { metrics, rows })
    }
}

/// What tokenizing one split did: the numbers recorded in the manifest's metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SplitReport {
    /// Examples read.
    pub examples: u64,
    /// Examples rejected because a word is empty (or the example has no words).
    pub rejected_empty_words: u64,
    /// Windows (rows) written.
    pub windows: u64,
    /// Token task: examples cut into more than one window.
    pub examples_split: u64,
    /// Token task: word counts (words lost must be 0).
    #[serde(flatten)]
    pub words: WordStats,
    /// Sequence task: examples truncated to `max_length`.
    pub truncated: u64,
}

/// Tokenize one ingest split file into a window table; the task comes from `labels`.
pub fn tokenize_split(
    encoder: &Encoder,
    labels: &LabelMap,
    input: &Path,
    output: &Path,
) -> crate::error::Result<SplitReport> {
    let (windows, report) = match labels.task {
        TaskKind::Token => {
            let examples = table::read_token_examples(input)?;
            encode_token_split(encoder, labels, &examples)?
        }
        TaskKind::Sequence | TaskKind::Multilabel => {
            let examples = table::read_text_examples(input)?;
            encode_text_split(encoder, labels, &examples)?
        }
    };
    table::write_windows(output, &windows, labels.task)?;
    Ok(report)
}

fn progress(len: usize) -> Progress {
    Progress::new(
        "tokenize",
        "example",
        len as u64,
        "{spinner} tokenizing {pos}/{len} examples [{elapsed}]",
        true,
    )
}

fn unknown_label(id: &str, label: &str, labels: &LabelMap) -> TokenizeError {
    let mut known: Vec<&str> = labels.labels.iter().take(12).map(String::as_str).collect();
    if labels.len() > known.len() {
        known.push("...");
    }
    TokenizeError::UnknownLabel {
        id: id.to_string(),
        label: label.to_string(),
        known: known.join(", "),
    }
}

/// One example's windows and word statistics (`None` = rejected as empty).
type EncodedExample = (Vec<Window>, WordStats);

/// Encode token-task examples (in parallel, in order): windows and the split's report.
pub fn encode_token_split(
    encoder: &Encoder,
    labels: &LabelMap,
    examples: &[TokenExample],
) -> crate::error::Result<(Vec<Window>, SplitReport)> {
    let index = label_index(labels);
    let aligner = LabelAligner::new(labels);
    let bar = progress(examples.len());
    let encoded: Vec<crate::error::Result<Option<EncodedExample>>> = examples
        .par_iter()
        .with_min_len(16)
        .map(|ex| {
            bar.inc(1);
            if ex.words.is_empty() || ex.words.iter().any(|w| w.trim().is_empty()) {
                return Ok(None);
            }
            match &ex.tags {
                Some(tags) => {
                    let ids = tag_ids(&ex.id, tags, &index, labels)?;
                    encoder
                        .encode_labelled_words(&ex.id, &ex.words, &ids, &aligner)
                        .map(Some)
                }
                None => {
                    let windows = encoder.encode_words(&ex.id, &ex.words)?;
                    let stats = WordStats {
                        words: ex.words.len() as u64,
                        windows: windows.len() as u64,
                        ..WordStats::default()
                    };
                    Ok(Some((windows, stats)))
                }
            }
        })
        .collect();
    bar.finish_and_clear();
    let mut report = SplitReport {
        examples: examples.len() as u64,
        ..SplitReport::default()
    };
    let mut windows = Vec::with_capacity(examples.len());
    let mut rejected_ids = Vec::new();
    for (ex, result) in examples.iter().zip(encoded) {
        match result? {
            None => {
                report.rejected_empty_words += 1;
                rejected_ids.push(ex.id.as_str());
            }
            Some((mut w, stats)) => {
                report.words.add(&stats);
                if w.len() > 1 {
                    report.examples_split += 1;
                }
                windows.append(&mut w);
            }
        }
    }
    if !rejected_ids.is_empty() {
        tracing::warn!(
            count = rejected_ids.len(),
            first = %rejected_ids.iter().take(5).copied().collect::<Vec<_>>().join(", "),
            "examples with an empty word rejected"
        );
    }
    report.windows = windows.len() as u64;
    Ok((windows, report))
}

fn tag_ids(
    id: &str,
    tags: &[String],
    index: &HashMap<&str, i16>,
    labels: &LabelMap,
) -> crate::error::Result<Vec<i16>> {
    tags.iter()
        .map(|t| {
            index
                .get(t.as_str())
                .copied()
                .ok_or_else(|| unknown_label(id, t, labels))
        })
        .collect()
}

/// Encode sequence-task examples (in parallel, in order): windows and the split's report.
pub fn encode_text_split(
    encoder: &Encoder,
    labels: &LabelMap,
    examples: &[TextExample],
) -> crate::error::Result<(Vec<Window>, SplitReport)> {
    let index = label_index(labels);
    let bar = progress(examples.len());
    let encoded: Vec<crate::error::Result<(Window, bool)>> = examples
        .par_iter()
        .with_min_len(16)
        .map(|ex| {
            bar.inc(1);
            let (mut window, truncated) =
                encoder.encode_text(&ex.id, &ex.text, ex.text_b.as_deref())?;
            let id_of = |l: &str| {
                index
                    .get(l)
                    .copied()
                    .ok_or_else(|| unknown_label(&ex.id, l, labels))
            };
            if labels.task == TaskKind::Multilabel {
                window.label_set = match &ex.labels {
                    Some(set) => {
                        let mut ids = set
                            .iter()
                            .map(|l| id_of(l))
                            .collect::<crate::error::Result<Vec<i16>>>()?;
                        ids.sort_unstable();
                        ids.dedup();
                        Some(ids)
                    }
                    None => None,
                };
            } else {
                window.label = ex.label.as_deref().map(id_of).transpose()?;
            }
            Ok((window, truncated))
        })
        .collect();
    bar.finish_and_clear();
    let mut report = SplitReport {
        examples: examples.len() as u64,
        ..SplitReport::default()
    };
    let mut windows = Vec::with_capacity(examples.len());
    for result in encoded {
        let (window, truncated) = result?;
        report.truncated += u64::from(truncated);
        windows.push(window);
    }
    report.windows = windows.len() as u64;
    Ok((windows, report))
}
