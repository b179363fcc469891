//! The `evaluate` pipeline stage: scores a train artifact's checkpoint on the tokenize
//! artifact's splits, writes the predictions, the metrics and the report, and runs the
//! robustness probes on the test split.
//!
//! The work itself is [`evaluate_dirs`], which takes plain directories so the binary can also
//! evaluate any HF model directory (`--checkpoint`) without a train artifact.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use flowcore::schema::{self, predictions as pcol};
use flowcore::{
    CoreError, Globals, InputSpec, LabelMap, Resolved, Stage, StageContext, StageOutcome,
    TagScheme, TaskKind,
};
use metrics::open_set::{DEFAULT_TOP_K, RejectRule, RejectTarget};
use metrics::{CostMatrix, Predictions, SummaryOptions};
use serde::{Deserialize, Serialize};
use tch::Device;

use crate::error::{EvaluateError, Result};
use crate::probes::{self, Probe};
pub use crate::scorer::Scorer;
pub use crate::split_text::{SplitText, read_ingest_split};
use infer::{ExampleOutput, InferOptions, to_predictions};

/// Output format version of the stage; bump when the files change meaning.
pub const STAGE_VERSION: u32 = 1;

/// Which checkpoint of the train artifact is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckpointChoice {
    /// The checkpoint chosen by the dev metric (`checkpoints/best`).
    #[default]
    Best,
    /// The last checkpoint (`checkpoints/last`).
    Last,
}

impl CheckpointChoice {
    /// The checkpoint's path inside a train artifact.
    pub fn rel_path(self) -> &'static str {
        match self {
            Self::Best => schema::train::BEST,
            Self::Last => schema::train::LAST,
        }
    }
}

/// Where inference runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// CUDA when available, else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// The first CUDA device (an error when there is none).
    Cuda,
}

impl DeviceChoice {
    /// The tch device.
    pub fn device(self) -> Result<Device> {
        match self {
            Self::Auto => Ok(Device::cuda_if_available()),
            Self::Cpu => Ok(Device::Cpu),
            Self::Cuda if tch::Cuda::is_available() => Ok(Device::Cuda(0)),
            Self::Cuda => Err(EvaluateError::Invalid(
                "device `cuda` asked for, but libtorch sees no CUDA device".into(),
            )),
        }
    }
}

/// Which entity reading is the headline metric of a token task (both are always reported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityMode {
    /// seqeval's default, conlleval-compatible reading.
    #[default]
    Default,
    /// seqeval's strict reading under `scheme`.
    Strict,
}

/// Params of the evaluate stage (`[stages.evaluate]` in a pipeline file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvaluateParams {
    /// `best` or `last` checkpoint of the train artifact.
    pub checkpoint: CheckpointChoice,
    /// Splits of the tokenize artifact to evaluate, in report order.
    pub splits: Vec<String>,
    /// Windows per forward pass.
    pub batch_size: usize,
    /// `auto`, `cpu` or `cuda`.
    pub device: DeviceChoice,
    /// Headline entity reading (token tasks): `default` or `strict`.
    pub mode: EntityMode,
    /// Tag scheme of the strict reading.
    pub scheme: TagScheme,
    /// Decimal places in `report.txt`.
    pub digits: usize,
    /// Positive class of ROC-AUC / PR-AUC (sequence tasks); default the second of two labels.
    pub positive_label: Option<String>,
    /// Misclassification costs, gold → predicted → cost (sequence tasks).
    pub cost_matrix: Option<CostMatrix>,
    /// Robustness probes run on the test split: `case`, `typo`, `entity_swap`, `punct`.
    pub probes: Vec<Probe>,
    /// Seed of the probes' random choices.
    pub probe_seed: u64,
    /// Fraction of eligible words the `typo` probe changes.
    pub typo_rate: f64,
    /// The `k` of the top-k accuracies (sequence tasks).
    #[serde(skip_serializing_if = "is_default_top_k")]
    pub top_k: Vec<usize>,
    /// The gold label of examples the model should hand over (CLINC150's `oos`): they count as
    /// out of scope, whether or not that label was in training, and CLINC150's metrics are
    /// reported (sequence tasks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_of_scope_label: Option<String>,
    /// Reject (decide out of scope) answers whose probability is below this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reject_below: Option<f64>,
    /// Choose the rejection threshold on dev to reach `{ out_of_scope_recall = 0.8 }` or
    /// `{ in_scope_precision = 0.95 }`; recorded in metrics.json and applied to every split.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reject_target: Option<RejectTarget>,
    /// Multi-label tasks: a label is predicted when its probability is above this (HF's 0.5).
    #[serde(skip_serializing_if = "is_default_threshold")]
    pub threshold: f64,
    /// Multi-label tasks: tune one threshold per label on dev (best F1; ties nearest
    /// `threshold`), recorded in metrics.json and applied to every split.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tune_thresholds: bool,
    /// Sequence tasks: the ingest column that groups examples (a query, user or session id);
    /// each group's examples are ranked by the probability of the positive label
    /// (`positive_label`, default the second of two labels) and MRR, NDCG@k, recall@k and
    /// grouped AUC are added. Needs the ingest artifact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_column: Option<String>,
    /// The `k` of NDCG@k and recall@k.
    #[serde(skip_serializing_if = "is_default_ranking_k")]
    pub ranking_k: Vec<usize>,
    /// Binary sequence tasks with a `cost_matrix`: decide the positive label (`positive_label`,
    /// default the second of two labels) when its probability reaches a threshold chosen on
    /// dev for least mean cost, instead of the most probable label; recorded in metrics.json
    /// (`cost_decision`) and applied to every split and by `predict --evaluation`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tune_cost_threshold: bool,
    /// Fit a temperature on dev (least NLL of the probabilities, Guo et al. 2017) and apply
    /// it to every split's probabilities before any decision that reads them (rejection, cost
    /// threshold, multi-label thresholds, which are then tuned on the scaled probabilities);
    /// recorded in metrics.json (`temperature`) and applied by `predict --evaluation` and
    /// `serve`. Single-label tasks: one `T` for the softmax, so the most probable label never
    /// changes; multi-label: one `T` per label's sigmoid (`per_label`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub temperature: bool,
}

fn is_default_ranking_k(k: &[usize]) -> bool {
    k == metrics::ranking::DEFAULT_K
}

fn is_default_threshold(t: &f64) -> bool {
    *t == metrics::multilabel::DEFAULT_THRESHOLD
}

fn is_default_top_k(k: &[usize]) -> bool {
    k == DEFAULT_TOP_K
}

/// The split a `reject_target` threshold is chosen on.
pub const THRESHOLD_SPLIT: &str = "dev";

impl Default for EvaluateParams {
    fn default() -> Self {
        Self {
            checkpoint: CheckpointChoice::Best,
            splits: vec!["dev".into(), "test".into()],
            batch_size: 32,
            device: DeviceChoice::Auto,
            mode: EntityMode::Default,
            scheme: TagScheme::Iob2,
            digits: 4,
            positive_label: None,
            cost_matrix: None,
            probes: Probe::ALL.to_vec(),
            probe_seed: 13,
            typo_rate: 0.3,
            top_k: DEFAULT_TOP_K.to_vec(),
            out_of_scope_label: None,
            reject_below: None,
            reject_target: None,
            threshold: metrics::multilabel::DEFAULT_THRESHOLD,
            tune_thresholds: false,
            group_column: None,
            ranking_k: metrics::ranking::DEFAULT_K.to_vec(),
            tune_cost_threshold: false,
            temperature: false,
        }
    }
}

impl EvaluateParams {
    /// The options of the metric summaries.
    pub fn summary_options(&self) -> SummaryOptions {
        SummaryOptions {
            digits: self.digits,
            scheme: self.scheme,
            positive: self.positive_label.clone(),
            cost_matrix: self.cost_matrix.clone(),
            top_k: self.top_k.clone(),
            ..SummaryOptions::default()
        }
    }

    /// The rejection rule with a fixed threshold (`reject_below`, else 0), or `None` without an
    /// out-of-scope label; a `reject_target` threshold is chosen later, on dev.
    pub fn fixed_reject_rule(&self) -> Option<RejectRule> {
        self.out_of_scope_label.as_ref().map(|label| RejectRule {
            label: label.clone(),
            threshold: self.reject_below.unwrap_or(0.0),
            chosen: None,
        })
    }

    fn check(&self) -> flowcore::Result<()> {
        let err = |key: &str, message: String| CoreError::Param {
            key: key.into(),
            message,
        };
        if self.splits.is_empty() {
            return Err(err("splits", "name at least one split".into()));
        }
        if self.batch_size == 0 {
            return Err(err("batch_size", "must be at least 1".into()));
        }
        if let Some(t) = self.reject_below
            && !(0.0..=1.0).contains(&t)
        {
            return Err(err(
                "reject_below",
                format!("{t} is not a probability in [0, 1]"),
            ));
        }
        if let Some(target) = self.reject_target {
            target.check().map_err(|m| err("reject_target", m))?;
            if self.reject_below.is_some() {
                return Err(err(
                    "reject_target",
                    "give reject_below (a fixed threshold) or reject_target (a threshold chosen on dev), not both".into(),
                ));
            }
            if !self.splits.iter().any(|s| s == THRESHOLD_SPLIT) {
                return Err(err(
                    "reject_target",
                    format!(
                        "the threshold is chosen on `{THRESHOLD_SPLIT}`, which is not in `splits` ({:?})",
                        self.splits
                    ),
                ));
            }
        }
        if self.out_of_scope_label.is_none() {
            for (key, set) in [
                ("reject_below", self.reject_below.is_some()),
                ("reject_target", self.reject_target.is_some()),
            ] {
                if set {
                    return Err(err(
                        key,
                        "needs out_of_scope_label, the gold label of the examples to hand over (CLINC150: \"oos\")".into(),
                    ));
                }
            }
        }
        if !(0.0..1.0).contains(&self.threshold) {
            return Err(err(
                "threshold",
                format!(
                    "{} is not a decision threshold in [0, 1) (a label is predicted when p > threshold)",
                    self.threshold
                ),
            ));
        }
        if self.tune_thresholds && !self.splits.iter().any(|s| s == THRESHOLD_SPLIT) {
            return Err(err(
                "tune_thresholds",
                format!(
                    "thresholds are tuned on `{THRESHOLD_SPLIT}`, which is not in `splits` ({:?})",
                    self.splits
                ),
            ));
        }
        if self.tune_cost_threshold {
            if self.cost_matrix.is_none() {
                return Err(err(
                    "tune_cost_threshold",
                    "needs cost_matrix: the threshold is chosen for least mean cost under it"
                        .into(),
                ));
            }
            if self.out_of_scope_label.is_some() {
                return Err(err(
                    "tune_cost_threshold",
                    "a binary cost threshold and an out-of-scope rejection cannot both decide; use one".into(),
                ));
            }
            if !self.splits.iter().any(|s| s == THRESHOLD_SPLIT) {
                return Err(err(
                    "tune_cost_threshold",
                    format!(
                        "the threshold is chosen on `{THRESHOLD_SPLIT}`, which is not in `splits` ({:?})",
                        self.splits
                    ),
                ));
            }
        }
        if self.temperature && !self.splits.iter().any(|s| s == THRESHOLD_SPLIT) {
            return Err(err(
                "temperature",
                format!(
                    "the temperature is fitted on `{THRESHOLD_SPLIT}`, which is not in `splits` ({:?})",
                    self.splits
                ),
            ));
        }
        if let Some(k) = self.ranking_k.iter().find(|&&k| k == 0) {
            return Err(err("ranking_k", format!("{k}: every k must be at least 1")));
        }
        if self
            .group_column
            .as_deref()
            .is_some_and(|c| c.trim().is_empty())
        {
            return Err(err("group_column", "expected a column name".into()));
        }
        if let Some(k) = self.top_k.iter().find(|&&k| k == 0) {
            return Err(err("top_k", format!("{k}: every k must be at least 1")));
        }
        if !(0.0..=1.0).contains(&self.typo_rate) {
            return Err(err(
                "typo_rate",
                format!("{} is not a fraction in [0, 1]", self.typo_rate),
            ));
        }
        Ok(())
    }
}

/// The evaluate stage (kind `"evaluate"`), registered with the pipeline runner.
#[derive(Debug, Clone, Copy, Default)]
pub struct EvaluateStage;

const INPUTS: &[InputSpec] = &[
    InputSpec {
        kind: "train",
        required: true,
    },
    InputSpec {
        kind: "tokenize",
        required: true,
    },
    // Words for the `token` column and the data the probes perturb.
    InputSpec {
        kind: "ingest",
        required: false,
    },
];

impl Stage for EvaluateStage {
    fn kind(&self) -> &'static str {
        "evaluate"
    }

    fn version(&self) -> u32 {
        STAGE_VERSION
    }

    fn inputs(&self) -> &'static [InputSpec] {
        INPUTS
    }

    fn resolve(&self, raw: &serde_json::Value, _globals: &Globals) -> flowcore::Result<Resolved> {
        let params: EvaluateParams = flowcore::params::parse(raw)?;
        params.check()?;
        Ok(Resolved {
            params: flowcore::params::to_value(&params)?,
            raw_inputs: Vec::new(),
        })
    }

    fn run(&self, ctx: &StageContext<'_>) -> anyhow::Result<StageOutcome> {
        let params: EvaluateParams = ctx.params()?;
        let train = ctx.input("train")?;
        let tokenize = ctx.input("tokenize")?;
        let model_dir = train.subdir(params.checkpoint.rel_path())?;
        let sources = Sources {
            model_dir,
            tokenize_dir: tokenize.dir.clone(),
            ingest_dir: ctx.optional_input("ingest").map(|a| a.dir.clone()),
        };
        let done = evaluate_dirs(&sources, &params, ctx.out_dir)?;
        Ok(StageOutcome {
            metrics: done.headline,
            rows: done.rows,
        })
    }
}

/// The directories an evaluation reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources {
    /// HF model directory of the checkpoint (`config.json` with `id2label`).
    pub model_dir: PathBuf,
    /// Tokenize artifact: `<split>.parquet`, `labels.json`, `tokenizer.json`, `encoding.json`.
    pub tokenize_dir: PathBuf,
    /// Ingest artifact (optional): words / texts and the train split for the probes.
    pub ingest_dir: Option<PathBuf>,
}

/// What [`evaluate_dirs`] wrote.
#[derive(Debug, Clone, Default)]
pub struct Evaluated {
    /// Headline numbers per split (the manifest's stage metrics).
    pub headline: serde_json::Value,
    /// Row counts of the Parquet files written.
    pub rows: std::collections::BTreeMap<String, u64>,
    /// The text report (also written to `report.txt`).
    pub report: String,
}

/// Replaces the windows' gold labels by the ingest artifact's (the windows lack them for
/// words the tokenizer lost), checking that both agree on the number of words.
fn apply_ingest_gold(
    examples: &mut [ExampleOutput],
    text: &SplitText,
    labels: &LabelMap,
    place: &Path,
) -> Result<()> {
    let name_to_id = |ex: &ExampleOutput, g: &str| {
        labels.id(g).ok_or_else(|| {
            EvaluateError::Invalid(format!(
                "{}: example `{}`: label `{g}` is not one of {:?}",
                place.display(),
                ex.id,
                labels.labels
            ))
        })
    };
    for ex in examples {
        let Some(gold) = text.gold.get(&ex.id) else {
            continue;
        };
        if labels.task == TaskKind::Multilabel {
            let set = gold
                .iter()
                .map(|g| name_to_id(ex, g))
                .collect::<Result<Vec<_>>>()?;
            ex.gold_set = Some(set);
            continue;
        }
        if gold.len() != ex.probs.len() {
            return Err(EvaluateError::Invalid(format!(
                "{}: example `{}` has {} words in ingest but {} in the tokenize artifact",
                place.display(),
                ex.id,
                gold.len(),
                ex.probs.len()
            )));
        }
        ex.gold = gold
            .iter()
            .map(|g| name_to_id(ex, g).map(Some))
            .collect::<Result<_>>()?;
    }
    Ok(())
}

/// Splits present in a tokenize artifact directory.
fn present_splits(dir: &Path) -> Vec<String> {
    schema::SPLITS
        .iter()
        .filter(|s| dir.join(schema::split_file(s)).is_file())
        .map(|s| s.to_string())
        .collect()
}

/// Evaluates `sources.model_dir` on every split of `params.splits` and writes into `out_dir`:
/// `predictions-<split>.parquet`, `labels.json`, `metrics.json` (every split), `report.txt`,
/// and with the probes, `predictions-probe-<name>-test.parquet`.
pub fn evaluate_dirs(
    sources: &Sources,
    params: &EvaluateParams,
    out_dir: &Path,
) -> Result<Evaluated> {
    params.check()?;
    let tok = &sources.tokenize_dir;
    for split in &params.splits {
        let file = schema::split_file(split);
        if !tok.join(&file).is_file() {
            return Err(EvaluateError::MissingSplit {
                split: split.clone(),
                dir: tok.clone(),
                file,
                present: present_splits(tok),
            });
        }
    }
    let opts = InferOptions {
        batch_size: params.batch_size,
        device: params.device.device()?,
        progress: true,
    };
    let scorer = Scorer::load_with(
        &sources.model_dir,
        &tok.join(schema::LABELS_FILE),
        opts,
        params.out_of_scope_label.as_deref(),
    )?;
    let labels = scorer.labels.clone();
    let summary_opts = params.summary_options();
    fs_err::create_dir_all(out_dir)?;
    labels.write(&out_dir.join(schema::LABELS_FILE))?;

    let mut all_metrics = serde_json::Map::new();
    let mut headline = serde_json::Map::new();
    let mut report = String::new();
    let mut rows = std::collections::BTreeMap::new();
    let mut test_predictions: Option<(Predictions, SplitText)> = None;
    let mut scored = Vec::with_capacity(params.splits.len());
    for split in &params.splits {
        tracing::info!(split = %split, model = %sources.model_dir.display(), "evaluating");
        let windows = tokenize::read_split(tok, split)?;
        let mut examples = scorer.score(&windows)?;
        let text = match &sources.ingest_dir {
            Some(dir) => {
                let text = read_ingest_split(dir, split, labels.task)?;
                apply_ingest_gold(
                    &mut examples,
                    &text,
                    &labels,
                    &dir.join(schema::split_file(split)),
                )?;
                text
            }
            None => SplitText::default(),
        };
        let preds = to_predictions(
            &examples,
            &labels,
            sources.ingest_dir.as_ref().map(|_| &text.words),
        )?;
        scored.push((split, preds, text));
    }
    // Calibrated probabilities first: the rules below read them.
    let temperature = temperature_of(params, &labels, &mut scored)?;
    let summary_opts = SummaryOptions {
        reject: reject_rule(params, labels.task, &scored)?,
        ..summary_opts
    };
    let decision = multilabel_decision(params, &labels, &mut scored)?;
    let cost_rule = cost_decision(params, &labels, &mut scored)?;
    let ranking = ranking_of(params, sources, &labels, &scored)?;
    for (split, preds, text) in scored {
        let file = pcol::file(split);
        preds.write(&out_dir.join(&file))?;
        rows.insert(file, preds.rows.len() as u64);
        let mut summary = metrics::summarize(&preds, &summary_opts)?;
        if let (metrics::SplitMetrics::Sequence(m), Some(r)) =
            (&mut summary.metrics, ranking.get(split.as_str()))
        {
            summary.report.push('\n');
            summary.report.push_str(&r.to_text(params.digits));
            m.ranking = Some(Box::new(r.clone()));
        }
        if let (metrics::SplitMetrics::Sequence(m), Some(rule)) = (&mut summary.metrics, &cost_rule)
        {
            m.cost_decision = Some(rule.clone());
            summary.report.push('\n');
            summary.report.push_str(&rule.to_text(params.digits));
        }
        if let (metrics::SplitMetrics::Multilabel(m), Some(d)) = (&mut summary.metrics, &decision) {
            m.decision = Some(d.clone());
            summary.report.push('\n');
            summary
                .report
                .push_str(&d.to_text(&labels.labels, params.digits));
        }
        if let Some(t) = &temperature {
            summary.report.push('\n');
            summary.report.push_str(&t.to_text(params.digits));
        }
        let _ = writeln!(report, "=== {split} ===\n{}", summary.report);
        headline.insert(split.clone(), headline_of(&summary.metrics, params.mode));
        let mut value = serde_json::to_value(&summary.metrics)
            .map_err(|e| EvaluateError::Invalid(format!("metrics of `{split}`: {e}")))?;
        if let (Some(t), Some(m)) = (&temperature, value.as_object_mut()) {
            m.insert(
                TEMPERATURE_KEY.into(),
                serde_json::to_value(t).map_err(|e| EvaluateError::Invalid(e.to_string()))?,
            );
        }
        all_metrics.insert(split.clone(), value);
        if split == "test" {
            test_predictions = Some((preds, text));
        }
    }
    if !params.probes.is_empty() {
        match (&test_predictions, &sources.ingest_dir) {
            (Some((clean, text)), Some(ingest)) => {
                let train = read_ingest_split(ingest, "train", labels.task).ok();
                if train.is_none() {
                    tracing::warn!("no train split in the ingest artifact: entity_swap is skipped");
                }
                let encoder = tokenize::Encoder::from_artifact(tok)?;
                let ctx = probes::ProbeContext {
                    scorer: &scorer,
                    encoder: &encoder,
                    clean,
                    test: text,
                    train: train.as_ref(),
                    seed: params.probe_seed,
                    typo_rate: params.typo_rate,
                };
                let mut probe_rows = serde_json::Map::new();
                for &probe in &params.probes {
                    let Some(mut preds) = probes::run_probe(&ctx, probe)? else {
                        continue;
                    };
                    if let Some(t) = &temperature {
                        apply_temperature(&mut preds, t);
                    }
                    let file = probes::file(probe, "test");
                    preds.write(&out_dir.join(&file))?;
                    probe_rows.insert(probe.name().into(), preds.rows.len().into());
                    rows.insert(file, preds.rows.len() as u64);
                }
                headline.insert("probe_rows".into(), probe_rows.into());
            }
            (None, _) => tracing::warn!(
                "robustness probes run on the `test` split, which is not evaluated: skipped"
            ),
            (_, None) => tracing::warn!(
                "robustness probes need the ingest artifact (input `ingest`): skipped"
            ),
        }
    }
    let metrics_text = serde_json::to_string_pretty(&serde_json::Value::Object(all_metrics))
        .map_err(|e| EvaluateError::Invalid(format!("metrics.json: {e}")))?;
    fs_err::write(out_dir.join(pcol::METRICS_FILE), metrics_text + "\n")?;
    fs_err::write(out_dir.join(pcol::REPORT_FILE), &report)?;
    Ok(Evaluated {
        headline: serde_json::Value::Object(headline),
        rows,
        report,
    })
}

/// With `group_column`: each split's ranking metrics, the examples of a group ranked by the
/// probability of the positive label, relevance = gold is the positive label.
fn ranking_of(
    params: &EvaluateParams,
    sources: &Sources,
    labels: &LabelMap,
    scored: &[(&String, Predictions, SplitText)],
) -> Result<HashMap<String, metrics::ranking::RankingMetrics>> {
    let mut out = HashMap::new();
    let Some(column) = &params.group_column else {
        return Ok(out);
    };
    if labels.task != TaskKind::Sequence {
        return Err(EvaluateError::Invalid(format!(
            "group_column ranks the examples of single-label sequence tasks; this is a {} task",
            labels.task
        )));
    }
    let ingest = sources.ingest_dir.as_ref().ok_or_else(|| {
        EvaluateError::Invalid(format!(
            "group_column `{column}` is read from the ingest artifact, which is not an input"
        ))
    })?;
    let positive = match &params.positive_label {
        Some(l) => labels.id(l).ok_or_else(|| {
            EvaluateError::Invalid(format!(
                "positive_label `{l}` is not one of the labels {:?}",
                labels.labels
            ))
        })?,
        None if labels.len() == 2 => 1,
        None => {
            return Err(EvaluateError::Invalid(format!(
                "group_column needs positive_label, the label that makes an example relevant ({} labels: {:?})",
                labels.len(),
                labels.labels
            )));
        }
    };
    for (split, preds, _) in scored {
        let path = ingest.join(schema::split_file(split));
        let groups = tokenize::table::read_id_column(&path, column)?;
        let mut g = Vec::with_capacity(preds.rows.len());
        let mut scores = Vec::with_capacity(preds.rows.len());
        let mut relevance = Vec::with_capacity(preds.rows.len());
        for row in &preds.rows {
            let group = groups.get(&row.id).cloned().flatten().ok_or_else(|| {
                EvaluateError::Invalid(format!(
                    "{}: example `{}` has no `{column}` value to group it by",
                    path.display(),
                    row.id
                ))
            })?;
            let p = row
                .probs
                .as_ref()
                .and_then(|p| p.get(positive))
                .ok_or_else(|| {
                    EvaluateError::Invalid(format!("example `{}`: no probabilities", row.id))
                })?;
            g.push(group);
            scores.push(f64::from(*p));
            relevance.push(f64::from(u8::from(row.gold == labels.labels[positive])));
        }
        let r = metrics::ranking::ranking_metrics(&g, &scores, &relevance, &params.ranking_k)?;
        tracing::info!(split = %split, groups = r.groups, mrr = r.mrr, "ranking metrics");
        out.insert(split.to_string(), r);
    }
    Ok(out)
}

/// Multi-label tasks: decides every split's label sets at `p > threshold`, the thresholds
/// global or tuned per label on dev; returns the record (`None` for other tasks).
fn multilabel_decision(
    params: &EvaluateParams,
    labels: &LabelMap,
    scored: &mut [(&String, Predictions, SplitText)],
) -> Result<Option<metrics::ThresholdRecord>> {
    if labels.task != TaskKind::Multilabel {
        if params.tune_thresholds || !is_default_threshold(&params.threshold) {
            return Err(EvaluateError::Invalid(
                "threshold / tune_thresholds apply to multi-label tasks only".into(),
            ));
        }
        return Ok(None);
    }
    let mut record = metrics::ThresholdRecord {
        thresholds: vec![params.threshold; labels.len()],
        tuned_on: None,
    };
    if params.tune_thresholds {
        let (_, dev, _) = scored
            .iter()
            .find(|(s, _, _)| s.as_str() == THRESHOLD_SPLIT)
            .ok_or_else(|| {
                EvaluateError::Invalid(format!(
                    "tune_thresholds: thresholds are tuned on `{THRESHOLD_SPLIT}`, which was not evaluated"
                ))
            })?;
        let gold = dev.indicators(true)?;
        let probs: Vec<Vec<f32>> = dev
            .rows
            .iter()
            .map(|r| r.probs.clone().unwrap_or_default())
            .collect();
        record.thresholds = metrics::multilabel::tune_thresholds(&gold, &probs, params.threshold);
        record.tuned_on = Some(THRESHOLD_SPLIT.to_string());
        tracing::info!(thresholds = ?record.thresholds, "decision thresholds tuned on dev");
    }
    for (_, preds, _) in scored.iter_mut() {
        for row in &mut preds.rows {
            let probs = row.probs.as_deref().unwrap_or_default();
            let on: Vec<bool> = probs
                .iter()
                .zip(&record.thresholds)
                .map(|(&p, &t)| f64::from(p) > t)
                .collect();
            row.pred = metrics::predictions::join_set(&labels.labels, &on);
        }
    }
    Ok(Some(record))
}

/// The key of the temperature record in each split of `metrics.json`.
pub const TEMPERATURE_KEY: &str = "temperature";

/// Every row's probabilities rescaled by a fitted temperature: softmax(logits / T) (argmax
/// unchanged), or each label's sigmoid(logit / T) of a multi-label record.
fn apply_temperature(preds: &mut Predictions, t: &metrics::calibration::TemperatureRecord) {
    for row in &mut preds.rows {
        if let Some(p) = &mut row.probs {
            *p = if t.per_label.is_empty() {
                metrics::calibration::scale_f32(p, t.t)
            } else {
                metrics::calibration::scale_sigmoids_f32(p, &t.per_label)
            };
        }
    }
}

/// With `temperature`: the temperature of least NLL on dev (items whose gold label the model
/// does not have, such as an unseen out-of-scope label, left out), applied to every split's
/// probabilities; `None` otherwise.
fn temperature_of(
    params: &EvaluateParams,
    labels: &LabelMap,
    scored: &mut [(&String, Predictions, SplitText)],
) -> Result<Option<metrics::calibration::TemperatureRecord>> {
    if !params.temperature {
        return Ok(None);
    }
    let invalid = |m: String| EvaluateError::Invalid(format!("temperature: {m}"));
    let (_, dev, _) = scored
        .iter()
        .find(|(s, _, _)| s.as_str() == THRESHOLD_SPLIT)
        .ok_or_else(|| {
            invalid(format!(
                "the temperature is fitted on `{THRESHOLD_SPLIT}`, which was not evaluated"
            ))
        })?;
    if labels.task == TaskKind::Multilabel {
        let record = label_temperatures(labels, dev)?;
        for (_, preds, _) in scored.iter_mut() {
            apply_temperature(preds, &record);
        }
        return Ok(Some(record));
    }
    let mut logits = Vec::with_capacity(dev.rows.len());
    let mut gold = Vec::with_capacity(dev.rows.len());
    for row in &dev.rows {
        let (Some(p), Some(g)) = (&row.probs, labels.id(&row.gold)) else {
            continue;
        };
        logits.push(
            p.iter()
                .map(|&x| f64::from(x).max(metrics::calibration::PROB_FLOOR).ln())
                .collect::<Vec<_>>(),
        );
        gold.push(g);
    }
    if gold.is_empty() {
        return Err(invalid(format!(
            "no `{THRESHOLD_SPLIT}` item has probabilities and a gold label the model knows"
        )));
    }
    let fit = metrics::calibration::fit_temperature(&logits, &gold);
    tracing::info!(
        t = fit.t,
        nll_before = fit.nll_before,
        nll_after = fit.nll_after,
        items = gold.len(),
        "temperature fitted on dev"
    );
    let record = metrics::calibration::TemperatureRecord {
        t: fit.t,
        fitted_on: THRESHOLD_SPLIT.to_string(),
        items: gold.len(),
        nll_before: fit.nll_before,
        nll_after: fit.nll_after,
        per_label: Vec::new(),
    };
    for (_, preds, _) in scored.iter_mut() {
        apply_temperature(preds, &record);
    }
    Ok(Some(record))
}

/// Multi-label: one temperature per label, each fitted on dev's sigmoid probabilities of that
/// label against whether it is in the gold set (least binary NLL); the caller applies them to
/// every split before the thresholds are tuned or applied. A label never (or always) present on dev still
/// gets a fit, which only sharpens its probabilities towards 0 (or 1).
fn label_temperatures(
    labels: &LabelMap,
    dev: &Predictions,
) -> Result<metrics::calibration::TemperatureRecord> {
    let k = labels.len();
    let mut probs: Vec<Vec<f64>> = vec![Vec::new(); k];
    let mut gold: Vec<Vec<bool>> = vec![Vec::new(); k];
    for (row, present) in dev.rows.iter().zip(dev.indicators(true)?) {
        let Some(p) = &row.probs else { continue };
        if p.len() != k || present.len() != k {
            return Err(EvaluateError::Invalid(format!(
                "temperature: `{}` of `{THRESHOLD_SPLIT}` has {} probabilities for {k} labels",
                row.id,
                p.len()
            )));
        }
        for j in 0..k {
            probs[j].push(f64::from(p[j]));
            gold[j].push(present[j]);
        }
    }
    let examples = probs.first().map_or(0, Vec::len);
    if examples == 0 {
        return Err(EvaluateError::Invalid(format!(
            "temperature: no `{THRESHOLD_SPLIT}` example has probabilities"
        )));
    }
    let fits: Vec<_> = probs
        .iter()
        .zip(&gold)
        .map(|(p, g)| metrics::calibration::fit_binary_temperature(p, g))
        .collect();
    let per_label: Vec<f64> = fits.iter().map(|f| f.t).collect();
    let mean = |v: &mut dyn Iterator<Item = f64>| v.sum::<f64>() / k as f64;
    let nll_before = mean(&mut fits.iter().map(|f| f.nll_before));
    let nll_after = mean(&mut fits.iter().map(|f| f.nll_after));
    let t = mean(&mut per_label.iter().map(|t| t.ln())).exp();
    tracing::info!(
        t_geometric_mean = t,
        nll_before,
        nll_after,
        examples,
        "per-label temperatures fitted on dev"
    );
    Ok(metrics::calibration::TemperatureRecord {
        t,
        fitted_on: THRESHOLD_SPLIT.to_string(),
        items: examples * k,
        nll_before,
        nll_after,
        per_label,
    })
}

/// With `tune_cost_threshold`: the threshold on P(positive) of least mean cost on dev, applied
/// to every split's predictions (`pred`); `None` otherwise.
fn cost_decision(
    params: &EvaluateParams,
    labels: &LabelMap,
    scored: &mut [(&String, Predictions, SplitText)],
) -> Result<Option<metrics::CostThreshold>> {
    if !params.tune_cost_threshold {
        return Ok(None);
    }
    let invalid = |m: String| EvaluateError::Invalid(format!("tune_cost_threshold: {m}"));
    if labels.task != TaskKind::Sequence || labels.len() != 2 {
        return Err(invalid(format!(
            "applies to binary sequence tasks; this one is a {} task with {} labels",
            labels.task,
            labels.len()
        )));
    }
    let costs = params
        .cost_matrix
        .as_ref()
        .ok_or_else(|| invalid("needs cost_matrix".into()))?;
    costs.validate(&labels.labels)?;
    let positive = match &params.positive_label {
        Some(p) => labels.labels.iter().position(|l| l == p).ok_or_else(|| {
            invalid(format!(
                "positive_label `{p}` is not one of {:?}",
                labels.labels
            ))
        })?,
        None => 1,
    };
    let (pos, neg) = (&labels.labels[positive], &labels.labels[1 - positive]);
    let p_positive = |preds: &Predictions| -> Result<Vec<f64>> {
        preds
            .rows
            .iter()
            .map(|r| match r.probs.as_deref() {
                Some(p) if p.len() == 2 => Ok(f64::from(p[positive])),
                _ => Err(invalid(format!("example `{}` has no probabilities", r.id))),
            })
            .collect()
    };
    let (_, dev, _) = scored
        .iter()
        .find(|(s, _, _)| s.as_str() == THRESHOLD_SPLIT)
        .ok_or_else(|| {
            invalid(format!(
                "the threshold is chosen on `{THRESHOLD_SPLIT}`, which was not evaluated"
            ))
        })?;
    let rule = metrics::tune_cost_threshold(
        &dev.gold(),
        &p_positive(dev)?,
        pos,
        neg,
        costs,
        THRESHOLD_SPLIT,
    )?;
    tracing::info!(
        threshold = rule.threshold,
        dev_cost = rule.tuned_cost,
        bayes = rule.bayes_threshold,
        "cost threshold chosen on dev"
    );
    for (_, preds, _) in scored.iter_mut() {
        let p = p_positive(preds)?;
        for (row, q) in preds.rows.iter_mut().zip(p) {
            row.pred = rule.decide(q).to_string();
        }
    }
    Ok(Some(rule))
}

/// The rejection rule of every split: none without an out-of-scope label, else a fixed
/// threshold or one chosen on dev for `reject_target` (logged).
fn reject_rule(
    params: &EvaluateParams,
    task: TaskKind,
    scored: &[(&String, Predictions, SplitText)],
) -> Result<Option<RejectRule>> {
    let Some(rule) = params.fixed_reject_rule() else {
        return Ok(None);
    };
    if task != TaskKind::Sequence {
        return Err(EvaluateError::Invalid(
            "out_of_scope_label applies to sequence tasks only".into(),
        ));
    }
    let Some(target) = params.reject_target else {
        return Ok(Some(rule));
    };
    let (_, dev, _) = scored
        .iter()
        .find(|(s, _, _)| s.as_str() == THRESHOLD_SPLIT)
        .ok_or_else(|| {
            EvaluateError::Invalid(format!(
                "reject_target: the threshold is chosen on `{THRESHOLD_SPLIT}`, which was not evaluated"
            ))
        })?;
    let rule = metrics::open_set::choose_threshold(dev, &rule.label, target, THRESHOLD_SPLIT)?;
    if let Some(c) = &rule.chosen {
        if c.reached {
            tracing::info!(
                threshold = rule.threshold,
                target = %c.target,
                achieved = c.achieved,
                "rejection threshold chosen on dev"
            );
        } else {
            tracing::warn!(
                threshold = rule.threshold,
                target = %c.target,
                wanted = c.wanted,
                best = c.achieved,
                "no threshold reaches the rejection target on dev; the best one is used"
            );
        }
    }
    Ok(Some(rule))
}

/// The headline numbers of a split for the manifest.
fn headline_of(m: &metrics::SplitMetrics, mode: EntityMode) -> serde_json::Value {
    match m {
        metrics::SplitMetrics::Token(t) => {
            let e = match mode {
                EntityMode::Default => &t.entity,
                EntityMode::Strict => &t.strict,
            };
            serde_json::json!({
                "entity_f1": finite(e.micro.f1),
                "entity_precision": finite(e.micro.precision),
                "entity_recall": finite(e.micro.recall),
                "token_accuracy": finite(t.token_accuracy),
            })
        }
        metrics::SplitMetrics::Sequence(s) => {
            let mut h = serde_json::json!({
                "accuracy": finite(s.accuracy),
                "macro_f1": finite(s.macro_f1),
            });
            if let Some(r) = &s.ranking {
                h["mrr"] = finite(r.mrr);
                h["grouped_auc"] = finite(r.grouped_auc);
            }
            if let Some(o) = &s.open_set {
                h["in_scope_accuracy"] = finite(o.in_scope_accuracy);
                h["out_of_scope_recall"] = finite(o.out_of_scope_recall);
                h["coverage"] = finite(o.coverage);
            }
            h
        }
        metrics::SplitMetrics::Multilabel(m) => serde_json::json!({
            "micro_f1": finite(m.report.micro.f1),
            "macro_f1": finite(m.report.macro_avg.f1),
            "samples_f1": finite(m.report.samples.f1),
            "hamming_loss": finite(m.report.hamming_loss),
            "subset_accuracy": finite(m.report.subset_accuracy),
        }),
    }
}

fn finite(x: f64) -> serde_json::Value {
    serde_json::Number::from_f64(x).map_or(serde_json::Value::Null, serde_json::Value::Number)
}
