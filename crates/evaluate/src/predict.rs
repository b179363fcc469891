//! `predict`: label new raw text with a fine-tuned checkpoint, one example per line, and
//! write one JSON object per input line (JSONL).
//!
//! - Token task: the line is split into words like BERT's pre-tokenizer does (whitespace,
//!   every punctuation character a word; see [`crate::text::split_words`]), encoded into as
//!   many windows as it needs, and the predicted tags are read as entities (seqeval's lenient
//!   reading): `{"line": 1, "text": "...", "entities": [{"type": "PER", "start": 0, "end": 5,
//!   "text": "Alice", "score": 0.93}]}` with character offsets (`end` exclusive) and the mean
//!   probability of the entity's predicted tags as `score`. Entities of one type that touch
//!   with no character between them ("$" + "5 million") are reported as one (see
//!   [`join_touching`]).
//! - Sequence task: `{"line": 1, "text": "...", "label": "positive", "probs": {...},
//!   "truncated": false}`; with [`Predictor::with_top_k`] also `"top_k": [{"label": …,
//!   "prob": …}, …]`, most probable first; with a rejection rule ([`Predictor::with_reject`],
//!   e.g. the one an evaluate artifact chose on dev) also `"confidence"` (the most probable
//!   label's probability), and below the threshold or when the most probable label is the
//!   out-of-scope label, `"label": "out_of_scope"` with that label as `"best"`.
//!
//! An empty (or all-whitespace) line gives an empty result (`entities: []`, or `label: null`)
//! rather than an error, so output line *n* always answers input line *n*.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::path::Path;

use bert::BertClassifier;
use flowcore::TaskKind;
use serde::Serialize;
use tokenize::{EncodeOptions, Encoder, Window};

use crate::error::{EvaluateError, Result};
use crate::text::{Word, split_words};
use infer::{InferOptions, argmax, infer, merge};
use metrics::open_set::RejectRule;

/// The first split's `<section>.<key>` in an evaluate artifact's `metrics.json` (`path` is the
/// artifact directory or the file), read as `T`; `missing` says what the evaluation lacks.
fn recorded<T: serde::de::DeserializeOwned>(
    path: &Path,
    section: &str,
    key: Option<&str>,
    missing: &str,
) -> Result<T> {
    let file = if path.is_dir() {
        path.join(flowcore::schema::predictions::METRICS_FILE)
    } else {
        path.to_path_buf()
    };
    let text = fs_err::read_to_string(&file)?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|source| EvaluateError::Json {
            path: file.clone(),
            source,
        })?;
    let value = doc
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .find_map(|split| {
            let v = split.get(section)?;
            match key {
                Some(k) => v.get(k),
                None => Some(v),
            }
        })
        .ok_or_else(|| EvaluateError::Invalid(format!("{}: {missing}", file.display())))?;
    serde_json::from_value(value.clone())
        .map_err(|source| EvaluateError::Json { path: file, source })
}

/// The rejection rule an evaluation recorded: the first split's `open_set.rule` in an
/// evaluate artifact's `metrics.json` (`path` is the artifact directory or the file).
pub fn recorded_reject_rule(path: &Path) -> Result<RejectRule> {
    recorded(
        path,
        "open_set",
        Some("rule"),
        "no split has a rejection rule (`open_set.rule`); was it evaluated with out_of_scope_label?",
    )
}

/// The multi-label decision thresholds an evaluation recorded (`decision.thresholds` of its
/// splits in metrics.json): `path` is an evaluate artifact directory or its metrics.json.
pub fn recorded_thresholds(path: &Path) -> Result<Vec<f64>> {
    let record: metrics::ThresholdRecord = recorded(
        path,
        "decision",
        None,
        "no split has multi-label decision thresholds (`decision`); is it the evaluation of a multi-label model?",
    )?;
    Ok(record.thresholds)
}

/// The binary cost threshold an evaluation chose on dev (`cost_decision` of its splits in
/// metrics.json, evaluate's `tune_cost_threshold`), or `None` when it decided by the most
/// probable label: `path` is an evaluate artifact directory or its metrics.json.
pub fn recorded_cost_decision(path: &Path) -> Result<Option<metrics::CostThreshold>> {
    match recorded(path, "cost_decision", None, "") {
        Ok(rule) => Ok(Some(rule)),
        Err(EvaluateError::Invalid(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The temperature an evaluation fitted on dev and applied (`temperature` of its splits in
/// metrics.json, evaluate's `temperature = true`), or `None` when it applied none.
pub fn recorded_temperature(
    path: &Path,
) -> Result<Option<metrics::calibration::TemperatureRecord>> {
    match recorded(path, crate::stage::TEMPERATURE_KEY, None, "") {
        Ok(t) => Ok(Some(t)),
        Err(EvaluateError::Invalid(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Where a predictor's decision rule comes from: `evaluate predict`'s `--evaluation`,
/// `--out-of-scope-label` and `--reject-below`, and `serve`'s flags of the same names.
#[derive(Debug, Clone, Default)]
pub struct DecisionSource {
    /// An evaluate artifact (or its metrics.json) whose recorded rule is applied: a binary
    /// model's cost threshold, a multi-label model's per-label thresholds, or the out-of-scope
    /// rejection rule; one that recorded none (NER, plain classification) applies nothing.
    pub evaluation: Option<std::path::PathBuf>,
    /// Out-of-scope label of the checkpoint, without `evaluation`.
    pub out_of_scope_label: Option<String>,
    /// Rejection threshold, without `evaluation`.
    pub reject_below: Option<f64>,
}

/// The decision rule a predictor applies (see [`Predictor::with_decisions`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Decisions {
    /// Multi-label decision thresholds (the evaluation's, or 0.5 each).
    pub thresholds: Option<Vec<f64>>,
    /// The out-of-scope rejection rule.
    pub reject: Option<RejectRule>,
    /// The binary cost threshold chosen on dev.
    pub cost: Option<metrics::CostThreshold>,
    /// The temperature fitted on dev, applied to the probabilities before any rule.
    pub temperature: Option<metrics::calibration::TemperatureRecord>,
}

/// Lines encoded and run together.
const CHUNK_LINES: usize = 256;

/// Name of the encoding options file a checkpoint directory may carry (as the tokenize
/// artifact writes it).
pub const ENCODING_FILE: &str = flowcore::schema::tokenize::ENCODING_FILE;

/// A loaded checkpoint and its tokenizer, ready to label text.
pub struct Predictor {
    model: BertClassifier,
    _vs: tch::nn::VarStore,
    labels: Vec<String>,
    task: TaskKind,
    encoder: Encoder,
    opts: InferOptions,
    top_k: usize,
    reject: Option<RejectRule>,
    thresholds: Vec<f64>,
    cost_decision: Option<(usize, metrics::CostThreshold)>,
    /// Single-label: one temperature; multi-label: one per label.
    temperature: Option<Vec<f64>>,
    input: InputFormat,
    positive: Option<String>,
}

impl std::fmt::Debug for Predictor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Predictor")
            .field("task", &self.task)
            .field("labels", &self.labels)
            .field("options", self.encoder.options())
            .field("top_k", &self.top_k)
            .field("reject", &self.reject)
            .finish_non_exhaustive()
    }
}

/// One entity found in a line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntitySpan {
    /// Entity type (`PER`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Character offset of the first character.
    pub start: usize,
    /// Character offset one past the last character.
    pub end: usize,
    /// The entity's text (`text[start..end]` in characters).
    pub text: String,
    /// Mean probability of the predicted tags of its words.
    pub score: f32,
}

#[derive(Serialize)]
struct TokenLine<'a> {
    line: usize,
    text: &'a str,
    entities: Vec<EntitySpan>,
}

#[derive(Serialize)]
struct SequenceLine<'a> {
    line: usize,
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    text_b: Option<&'a str>,
    label: Option<&'a str>,
    probs: Option<BTreeMap<&'a str, f32>>,
    truncated: bool,
    /// Multi-label models: the labels above their thresholds (`label` is then the most
    /// probable one).
    #[serde(skip_serializing_if = "Option::is_none")]
    labels: Option<Vec<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<Vec<LabelProb<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    confidence: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    best: Option<&'a str>,
}

/// A text and its optional second text (a sentence pair).
type PairInput<'a> = (&'a str, Option<&'a str>);

/// How `predict` reads its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputFormat {
    /// One text per line.
    #[default]
    Text,
    /// One JSON object per line: `{"text": …}`, a pair `{"text": …, "text_b": …}`, or a query
    /// with candidates to rank `{"text": …, "candidates": [ … ]}` (sequence tasks).
    Jsonl,
}

/// One JSONL input line.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonLine {
    text: String,
    #[serde(default)]
    text_b: Option<String>,
    #[serde(default)]
    candidates: Option<Vec<String>>,
}

#[derive(Serialize)]
struct RankLine<'a> {
    line: usize,
    text: &'a str,
    /// The positive label whose probability ranks the candidates.
    by: &'a str,
    ranking: Vec<RankedCandidate<'a>>,
}

/// One ranked candidate: its text, its input position and its score.
#[derive(Debug, Serialize)]
struct RankedCandidate<'a> {
    candidate: &'a str,
    index: usize,
    score: f32,
}

/// One of the top-k labels of a line.
#[derive(Debug, Serialize)]
struct LabelProb<'a> {
    label: &'a str,
    prob: f32,
}

/// The `label` of a rejected line.
pub const OUT_OF_SCOPE: &str = "out_of_scope";

impl Predictor {
    /// Loads an HF checkpoint directory (`config.json` with `architectures` and `id2label`,
    /// `model.safetensors`, `tokenizer.json` or `vocab.txt`). Encoding options: `max_length`
    /// when given, else the directory's `encoding.json`, else 128 sub-words (at most the
    /// model's `max_position_embeddings`).
    pub fn load(checkpoint: &Path, max_length: Option<usize>, opts: InferOptions) -> Result<Self> {
        let config_path = checkpoint.join(bert::checkpoint::CONFIG_FILE);
        let config = bert::BertConfig::from_file(&config_path)?;
        let task = bert::task_from_config(&config).ok_or_else(|| {
            EvaluateError::Invalid(format!(
                "{}: `architectures` names no token or sequence classification head ({} / {}); is this a fine-tuned checkpoint?",
                config_path.display(),
                bert::architecture_of(&config, TaskKind::Token),
                bert::architecture_of(&config, TaskKind::Sequence)
            ))
        })?;
        let options = match max_length {
            Some(n) => EncodeOptions::new(n),
            None => {
                let path = checkpoint.join(ENCODING_FILE);
                if path.is_file() {
                    let text = fs_err::read_to_string(&path)?;
                    serde_json::from_str(&text)
                        .map_err(|source| EvaluateError::Json { path, source })?
                } else {
                    let limit = usize::try_from(config.max_position_embeddings).unwrap_or(128);
                    EncodeOptions::new(limit.min(128))
                }
            }
        };
        let encoder = Encoder::from_model_dir(checkpoint, options)?;
        let (model, vs, _) = bert::load(checkpoint, task, &[], opts.device)?;
        let labels = model.config().labels().unwrap_or_default();
        Ok(Self {
            model,
            _vs: vs,
            task,
            encoder,
            opts,
            top_k: 0,
            reject: None,
            thresholds: vec![metrics::multilabel::DEFAULT_THRESHOLD; labels.len()],
            cost_decision: None,
            temperature: None,
            labels,
            input: InputFormat::Text,
            positive: None,
        })
    }

    /// Adds the `k` most probable labels to every sequence line (0: none).
    pub fn with_top_k(mut self, k: usize) -> Self {
        self.top_k = k;
        self
    }

    /// Rejects sequence lines under `rule`: `label` is `out_of_scope` when the most probable
    /// label is `rule.label` or its probability is below `rule.threshold`. An error when the
    /// checkpoint has no such label and the threshold rejects nothing.
    pub fn with_reject(mut self, rule: RejectRule) -> Result<Self> {
        if self.task != TaskKind::Sequence {
            return Err(EvaluateError::Invalid(
                "out-of-scope rejection applies to sequence classifiers only".into(),
            ));
        }
        if !(0.0..=1.0).contains(&rule.threshold) {
            return Err(EvaluateError::Invalid(format!(
                "rejection threshold {} is not a probability in [0, 1]",
                rule.threshold
            )));
        }
        if !self.labels.contains(&rule.label) && rule.threshold == 0.0 {
            return Err(EvaluateError::Invalid(format!(
                "the checkpoint has no label `{}` and the threshold is 0: nothing would be rejected",
                rule.label
            )));
        }
        self.reject = Some(rule);
        Ok(self)
    }

    /// Multi-label checkpoints: the decision threshold of each label (default 0.5 each), e.g.
    /// from [`recorded_thresholds`].
    pub fn with_thresholds(mut self, thresholds: Vec<f64>) -> Result<Self> {
        self.check_per_label("decision thresholds", thresholds.len())?;
        self.thresholds = thresholds;
        Ok(self)
    }

    /// Binary classifiers: decide by the cost threshold an evaluation chose on dev
    /// ([`recorded_cost_decision`]) instead of the most probable label.
    pub fn with_cost_decision(mut self, rule: metrics::CostThreshold) -> Result<Self> {
        let positive = self.labels.iter().position(|l| *l == rule.positive);
        let negative = self.labels.iter().position(|l| *l == rule.negative);
        match (positive, negative) {
            (Some(p), Some(_)) if self.task == TaskKind::Sequence && self.labels.len() == 2 => {
                self.cost_decision = Some((p, rule));
                Ok(self)
            }
            _ => Err(EvaluateError::Invalid(format!(
                "the cost threshold decides `{}` against `{}`; the checkpoint is a {} classifier with labels {:?}",
                rule.positive, rule.negative, self.task, self.labels
            ))),
        }
    }

    /// Single-label models: divide the logits by `t` (an evaluation's recorded temperature,
    /// [`recorded_temperature`]) before the probabilities are reported or decided on.
    pub fn with_temperature(self, t: f64) -> Result<Self> {
        if self.task == TaskKind::Multilabel {
            return Err(EvaluateError::Invalid(format!(
                "one temperature applies to single-label classifiers; the checkpoint is multi-label, with one temperature per label ({} labels)",
                self.labels.len()
            )));
        }
        self.with_temperatures(vec![t])
    }

    /// Multi-label models: divide each label's logit by its own temperature (an evaluation's
    /// recorded `per_label`) before the probabilities are reported or thresholded.
    pub fn with_label_temperatures(self, per_label: Vec<f64>) -> Result<Self> {
        self.check_per_label("per-label temperatures", per_label.len())?;
        self.with_temperatures(per_label)
    }

    /// `n` values of `what`, one per label, fit this checkpoint: it is multi-label with `n`
    /// labels.
    fn check_per_label(&self, what: &str, n: usize) -> Result<()> {
        if self.task != TaskKind::Multilabel {
            return Err(EvaluateError::Invalid(format!(
                "{what} apply to multi-label classifiers only; this checkpoint is a {} classifier",
                self.task
            )));
        }
        if n != self.labels.len() {
            return Err(EvaluateError::Invalid(format!(
                "{n} {what} for the checkpoint's {} labels",
                self.labels.len()
            )));
        }
        Ok(())
    }

    fn with_temperatures(mut self, ts: Vec<f64>) -> Result<Self> {
        if let Some(t) = ts.iter().find(|t| !(t.is_finite() && **t > 0.0)) {
            return Err(EvaluateError::Invalid(format!(
                "temperature {t}: expected a positive number"
            )));
        }
        self.temperature = Some(ts);
        Ok(self)
    }

    /// The evaluation's recorded temperature (if any) applied: one for a single-label model,
    /// one per label for a multi-label one (a record of the other kind is an error).
    fn with_recorded_temperature(self, path: &Path, applied: &mut Decisions) -> Result<Self> {
        let Some(t) = recorded_temperature(path)? else {
            return Ok(self);
        };
        let this = if t.per_label.is_empty() {
            self.with_temperature(t.t)?
        } else {
            self.with_label_temperatures(t.per_label.clone())?
        };
        applied.temperature = Some(t);
        Ok(this)
    }

    /// Applies the decision rule `source` names, as `evaluate predict` and `serve` do: with an
    /// evaluation, a multi-label model takes its recorded thresholds, a binary model decided by
    /// a tuned cost threshold takes that threshold, and any other single-label model its
    /// recorded rejection rule (an error when it has none); without one, the rejection flags.
    /// Returns the rule applied.
    pub fn with_decisions(mut self, source: &DecisionSource) -> Result<(Self, Decisions)> {
        let flags = source.out_of_scope_label.is_some() || source.reject_below.is_some();
        if flags && source.evaluation.is_some() {
            return Err(EvaluateError::Invalid(
                "an evaluation's recorded rule cannot be combined with --out-of-scope-label / --reject-below".into(),
            ));
        }
        let mut applied = Decisions::default();
        if self.task == TaskKind::Multilabel {
            if flags {
                return Err(EvaluateError::Invalid(
                    "--out-of-scope-label / --reject-below apply to single-label classifiers; the checkpoint is multi-label".into(),
                ));
            }
            if let Some(path) = &source.evaluation {
                self = self.with_recorded_temperature(path, &mut applied)?;
            }
            let thresholds = match &source.evaluation {
                Some(path) => recorded_thresholds(path)?,
                None => vec![metrics::multilabel::DEFAULT_THRESHOLD; self.labels.len()],
            };
            self = self.with_thresholds(thresholds.clone())?;
            applied.thresholds = Some(thresholds);
            return Ok((self, applied));
        }
        if let Some(path) = &source.evaluation {
            self = self.with_recorded_temperature(path, &mut applied)?;
        }
        let reject = match (
            &source.evaluation,
            &source.out_of_scope_label,
            source.reject_below,
        ) {
            (Some(path), _, _) => match recorded_cost_decision(path)? {
                // A binary evaluation decided by a cost threshold records no rejection rule.
                Some(rule) => {
                    self = self.with_cost_decision(rule.clone())?;
                    applied.cost = Some(rule);
                    None
                }
                None => match recorded_reject_rule(path) {
                    Ok(rule) => Some(rule),
                    // An evaluation that decided by the most probable label (every NER
                    // evaluation, a classifier without out-of-scope rejection): nothing to apply.
                    Err(EvaluateError::Invalid(_)) => {
                        tracing::info!(evaluation = %path.display(), "the evaluation records no decision rule: the most probable label decides");
                        None
                    }
                    Err(e) => return Err(e),
                },
            },
            (None, None, None) => None,
            (None, label, threshold) => Some(RejectRule {
                label: label.clone().unwrap_or_else(|| OUT_OF_SCOPE.into()),
                threshold: threshold.unwrap_or(0.0),
                chosen: None,
            }),
        };
        if let Some(rule) = reject {
            self = self.with_reject(rule.clone())?;
            applied.reject = Some(rule);
        }
        Ok((self, applied))
    }

    /// Reads JSONL input (pairs, candidates to rank) instead of plain lines.
    pub fn with_input(mut self, input: InputFormat) -> Result<Self> {
        if input == InputFormat::Jsonl && self.task == TaskKind::Token {
            return Err(EvaluateError::Invalid(
                "JSONL input (text pairs, candidates to rank) is for sequence classifiers; a token classifier reads plain lines".into(),
            ));
        }
        self.input = input;
        Ok(self)
    }

    /// The label whose probability ranks candidates (default: the second of two labels).
    pub fn with_positive(mut self, label: Option<String>) -> Result<Self> {
        if let Some(l) = &label
            && !self.labels.contains(l)
        {
            return Err(EvaluateError::Invalid(format!(
                "positive label `{l}` is not one of the checkpoint's labels {:?}",
                self.labels
            )));
        }
        self.positive = label;
        Ok(self)
    }

    /// The index of the label that ranks candidates.
    fn positive_index(&self) -> Result<usize> {
        match &self.positive {
            Some(l) => Ok(self.labels.iter().position(|x| x == l).unwrap_or(0)),
            None if self.labels.len() == 2 => Ok(1),
            None => Err(EvaluateError::Invalid(format!(
                "ranking candidates needs the label whose probability ranks them: give --positive-label (the checkpoint has {} labels {:?})",
                self.labels.len(),
                self.labels
            ))),
        }
    }

    /// Labels JSONL lines: texts, pairs, or queries whose candidates are ranked by the
    /// probability of the positive label (highest first, input order on ties). `first_line`
    /// is the 1-based number of `lines[0]`; `source` names the input in errors.
    pub fn predict_json_lines(
        &self,
        lines: &[&str],
        first_line: usize,
        source: &str,
    ) -> Result<Vec<String>> {
        let parsed: Vec<Option<JsonLine>> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                if l.trim().is_empty() {
                    return Ok(None);
                }
                serde_json::from_str(l).map(Some).map_err(|e| {
                    EvaluateError::Invalid(format!(
                        "{source}, line {}: expected a JSON object {{\"text\": …}} with an optional \"text_b\" or \"candidates\" list: {e}",
                        first_line + i
                    ))
                })
            })
            .collect::<Result<_>>()?;
        if let Some((i, _)) = parsed.iter().enumerate().find(|(_, p)| {
            p.as_ref()
                .is_some_and(|p| p.text_b.is_some() && p.candidates.is_some())
        }) {
            return Err(EvaluateError::Invalid(format!(
                "{source}, line {}: give \"text_b\" (one pair) or \"candidates\" (a list to rank), not both",
                first_line + i
            )));
        }
        // Pairs and single texts, as sequence lines.
        let pairs: Vec<PairInput<'_>> = parsed
            .iter()
            .map(|p| match p {
                Some(p) if p.candidates.is_none() => (p.text.as_str(), p.text_b.as_deref()),
                _ => ("", None),
            })
            .collect();
        let mut out = self.predict_pairs(&pairs, first_line)?;
        // Queries with candidates: one window per (query, candidate).
        let ranked: Vec<usize> = (0..parsed.len())
            .filter(|&i| parsed[i].as_ref().is_some_and(|p| p.candidates.is_some()))
            .collect();
        if ranked.is_empty() {
            return Ok(out);
        }
        let positive = self.positive_index()?;
        let mut windows = Vec::new();
        for &i in &ranked {
            let p = parsed[i].as_ref().expect("ranked lines are parsed");
            for (k, c) in p.candidates.iter().flatten().enumerate() {
                let (w, _) = self
                    .encoder
                    .encode_text(&format!("{i}:{k}"), &p.text, Some(c))?;
                windows.push(w);
            }
        }
        let scores: HashMap<String, f32> = self
            .score(&windows)?
            .into_iter()
            .filter_map(|ex| Some((ex.id, *ex.probs.first()?.get(positive)?)))
            .collect();
        for &i in &ranked {
            let p = parsed[i].as_ref().expect("ranked lines are parsed");
            let mut ranking: Vec<RankedCandidate<'_>> = p
                .candidates
                .iter()
                .flatten()
                .enumerate()
                .map(|(k, c)| RankedCandidate {
                    candidate: c,
                    index: k,
                    score: scores.get(&format!("{i}:{k}")).copied().unwrap_or(f32::NAN),
                })
                .collect();
            ranking.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index)));
            out[i] = to_json(&RankLine {
                line: first_line + i,
                text: &p.text,
                by: &self.labels[positive],
                ranking,
            })?;
        }
        Ok(out)
    }

    /// The task of the checkpoint.
    pub fn task(&self) -> TaskKind {
        self.task
    }

    /// The checkpoint's labels, in its order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The encoder the checkpoint's text is read with (its tokenizer and encoding options).
    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    /// Labels lines of text; `first_line` is the 1-based number of `lines[0]`. Returns one
    /// JSON document (without newline) per line.
    pub fn predict_lines(&self, lines: &[&str], first_line: usize) -> Result<Vec<String>> {
        match self.task {
            TaskKind::Token => self.predict_tokens(lines, first_line),
            TaskKind::Sequence | TaskKind::Multilabel => self.predict_sequences(lines, first_line),
        }
    }

    fn predict_tokens(&self, lines: &[&str], first_line: usize) -> Result<Vec<String>> {
        let words: Vec<Vec<Word>> = lines.iter().map(|l| split_words(l)).collect();
        let mut windows = Vec::new();
        for (i, w) in words.iter().enumerate().filter(|(_, w)| !w.is_empty()) {
            let texts: Vec<&str> = w.iter().map(|w| w.text.as_str()).collect();
            windows.extend(self.encoder.encode_words(&i.to_string(), &texts)?);
        }
        let merged = self.score(&windows)?;
        let mut by_line: BTreeMap<usize, &infer::ExampleOutput> = BTreeMap::new();
        for ex in &merged {
            if let Ok(i) = ex.id.parse::<usize>() {
                by_line.insert(i, ex);
            }
        }
        let mut out = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            let entities = match by_line.get(&i) {
                Some(ex) => self.entities(line, &words[i], ex)?,
                None => Vec::new(),
            };
            out.push(to_json(&TokenLine {
                line: first_line + i,
                text: line,
                entities,
            })?);
        }
        Ok(out)
    }

    fn entities(
        &self,
        line: &str,
        words: &[Word],
        ex: &infer::ExampleOutput,
    ) -> Result<Vec<EntitySpan>> {
        let pred = ex.pred();
        let tags: Vec<&str> = pred
            .iter()
            .map(|&p| self.labels.get(p).map_or("O", String::as_str))
            .collect();
        let chars: Vec<char> = line.chars().collect();
        let spans = metrics::entity::get_entities(&tags)?;
        let scored = spans.into_iter().filter_map(|(kind, first, last)| {
            let (start, end) = (words.get(first)?.start, words.get(last)?.end);
            let score_sum = (first..=last)
                .filter_map(|w| ex.probs.get(w)?.get(*pred.get(w)?).copied())
                .sum::<f32>();
            Some((kind, start, end, score_sum, last + 1 - first))
        });
        Ok(join_touching(scored)
            .into_iter()
            .map(|(kind, start, end, score_sum, n)| EntitySpan {
                kind,
                start,
                end,
                text: chars[start..end].iter().collect(),
                score: score_sum / n as f32,
            })
            .collect())
    }

    fn predict_sequences(&self, lines: &[&str], first_line: usize) -> Result<Vec<String>> {
        let inputs: Vec<PairInput<'_>> = lines.iter().map(|&text| (text, None)).collect();
        self.predict_pairs(&inputs, first_line)
    }

    /// Sequence lines of one text or a text pair each.
    fn predict_pairs(&self, lines: &[PairInput<'_>], first_line: usize) -> Result<Vec<String>> {
        let mut windows = Vec::new();
        let mut truncated = vec![false; lines.len()];
        for (i, (line, text_b)) in lines
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.0.trim().is_empty())
        {
            let (w, cut) = self.encoder.encode_text(&i.to_string(), line, *text_b)?;
            truncated[i] = cut;
            windows.push(w);
        }
        let merged = self.score(&windows)?;
        let by_line: BTreeMap<usize, &Vec<f32>> = merged
            .iter()
            .filter_map(|ex| Some((ex.id.parse::<usize>().ok()?, ex.probs.first()?)))
            .collect();
        let mut out = Vec::with_capacity(lines.len());
        for (i, (line, text_b)) in lines.iter().enumerate() {
            let probs = by_line.get(&i);
            let best = match (probs, &self.cost_decision) {
                (Some(p), Some((pos, rule))) => {
                    let decided = rule.decide(f64::from(p[*pos]));
                    self.labels.iter().position(|l| l == decided)
                }
                (p, _) => p.map(|p| argmax(p)),
            };
            let best_label = best.and_then(|b| self.labels.get(b)).map(String::as_str);
            let confidence = probs.zip(best).map(|(p, b)| p[b]);
            let rejected = match (&self.reject, best_label, confidence) {
                (Some(rule), Some(label), Some(c)) => {
                    label == rule.label || f64::from(c) < rule.threshold
                }
                _ => false,
            };
            out.push(to_json(&SequenceLine {
                line: first_line + i,
                text: line,
                text_b: *text_b,
                label: if rejected {
                    Some(OUT_OF_SCOPE)
                } else {
                    best_label
                },
                probs: probs.map(|p| {
                    self.labels
                        .iter()
                        .map(String::as_str)
                        .zip(p.iter().copied())
                        .collect()
                }),
                truncated: truncated[i],
                labels: probs
                    .filter(|_| self.task == TaskKind::Multilabel)
                    .map(|p| {
                        self.labels
                            .iter()
                            .zip(p.iter().zip(&self.thresholds))
                            .filter(|(_, (p, t))| f64::from(**p) > **t)
                            .map(|(l, _)| l.as_str())
                            .collect()
                    }),
                top_k: probs.filter(|_| self.top_k > 0).map(|p| self.top_labels(p)),
                confidence: confidence.filter(|_| self.reject.is_some()),
                best: best_label.filter(|_| rejected),
            })?);
        }
        Ok(out)
    }

    /// The `top_k` most probable labels, most probable first (the lower index on ties).
    fn top_labels<'a>(&'a self, p: &[f32]) -> Vec<LabelProb<'a>> {
        let mut order: Vec<usize> = (0..p.len().min(self.labels.len())).collect();
        order.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
        order
            .into_iter()
            .take(self.top_k)
            .map(|i| LabelProb {
                label: &self.labels[i],
                prob: p[i],
            })
            .collect()
    }

    fn score(&self, windows: &[Window]) -> Result<Vec<infer::ExampleOutput>> {
        if windows.is_empty() {
            return Ok(Vec::new());
        }
        let outputs = infer(&self.model, windows, &self.opts)?;
        let mut merged = merge(self.task, windows, &outputs)?;
        if let Some(ts) = &self.temperature {
            for ex in &mut merged {
                for p in &mut ex.probs {
                    *p = match (self.task, ts.as_slice()) {
                        (TaskKind::Multilabel, _) => {
                            metrics::calibration::scale_sigmoids_f32(p, ts)
                        }
                        (_, [t]) => metrics::calibration::scale_f32(p, *t),
                        _ => unreachable!("a single-label predictor holds one temperature"),
                    };
                }
            }
        }
        Ok(merged)
    }

    /// Reads lines from `input` (named `source` in errors) and writes one JSON line per input
    /// line to `output`. Returns the number of lines.
    pub fn run(&self, input: impl BufRead, mut output: impl Write, source: &str) -> Result<usize> {
        let mut lines = input.split(b'\n');
        let mut done = 0;
        loop {
            let mut chunk = Vec::with_capacity(CHUNK_LINES);
            for raw in lines.by_ref().take(CHUNK_LINES) {
                let mut raw = raw?;
                if raw.last() == Some(&b'\r') {
                    raw.pop();
                }
                let text = String::from_utf8(raw).map_err(|e| {
                    EvaluateError::Invalid(format!(
                        "{source}, line {}: not valid UTF-8 ({e})",
                        done + chunk.len() + 1
                    ))
                })?;
                chunk.push(text);
            }
            if chunk.is_empty() {
                break;
            }
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            let json_lines = match self.input {
                InputFormat::Text => self.predict_lines(&refs, done + 1)?,
                InputFormat::Jsonl => self.predict_json_lines(&refs, done + 1, source)?,
            };
            for json in json_lines {
                writeln!(output, "{json}")?;
            }
            done += chunk.len();
        }
        output.flush()?;
        Ok(done)
    }
}

/// An entity before its text is cut out: type, character start and end, the sum of its words'
/// tag probabilities, and its word count.
type RawSpan = (String, usize, usize, f32, usize);

/// Joins entities of the same type that touch with no character between them.
///
/// `predict` splits raw text the way BERT's pre-tokenizer does, so every punctuation character
/// is its own word, while CoNLL-style training data keeps "$5" or "U.S." as one word. A model
/// trained on such data then tags "$" and "5 million" as two MONEY entities; as written in
/// the text they are one. Entities separated by anything (a space, a word tagged `O`) stay
/// apart, and the joined score is the mean over all of their words.
fn join_touching(spans: impl IntoIterator<Item = RawSpan>) -> Vec<RawSpan> {
    let mut out: Vec<RawSpan> = Vec::new();
    for span in spans {
        match out.last_mut() {
            Some(prev) if prev.0 == span.0 && prev.2 == span.1 => {
                prev.2 = span.2;
                prev.3 += span.3;
                prev.4 += span.4;
            }
            _ => out.push(span),
        }
    }
    out
}

fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|e| EvaluateError::Invalid(format!("cannot write JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(kind: &str, start: usize, end: usize, score: f32) -> RawSpan {
        (kind.to_string(), start, end, score, 1)
    }

    #[test]
    fn touching_spans_of_one_type_are_joined() {
        // "$5 million" read as "$" (0..1) and "5 million" (1..10, two words).
        let joined = join_touching([
            span("MONEY", 0, 1, 0.9),
            ("MONEY".to_string(), 1, 10, 1.5, 2),
        ]);
        assert_eq!(joined, [("MONEY".to_string(), 0, 10, 2.4, 3)]);
    }

    #[test]
    fn separated_or_different_spans_stay_apart() {
        let spans = [
            span("ORG", 0, 5, 0.9),
            span("ORG", 6, 11, 0.8),  // a space between
            span("LOC", 11, 15, 0.7), // touches, other type
            span("LOC", 16, 20, 0.6),
        ];
        assert_eq!(join_touching(spans.clone()), spans);
    }

    #[test]
    fn chains_of_touching_spans_join_into_one() {
        let joined = join_touching([
            span("ORG", 0, 1, 1.0),
            span("ORG", 1, 2, 1.0),
            span("ORG", 2, 3, 1.0),
            span("ORG", 4, 5, 1.0),
        ]);
        assert_eq!(
            joined,
            [
                ("ORG".to_string(), 0, 3, 3.0, 3),
                ("ORG".to_string(), 4, 5, 1.0, 1)
            ]
        );
    }
}
