//! Batched inference over encoded windows and the merge of windows into word-level (or
//! example-level) predictions.
//!
//! Independent of artifacts: it takes a model, windows and options, so train can call it on
//! its in-memory dev windows and predict on freshly encoded text.
//!
//! - [`infer`]: no grad, eval mode (no dropout), windows sorted by length so each batch pads
//!   to little more than its own longest window, an attention mask over the padding; returns
//!   softmax probabilities per window: at the first sub-word of every word the window holds
//!   (token task) or per window (sequence task); for the multi-label task, a sigmoid per
//!   label (HF's `multi_label_classification` reading).
//! - [`merge`]: regroups windows by example (in order of first appearance) and gives every
//!   word the prediction of the one window that owns it (`centre_start..centre_end`, where
//!   the word is most central), words restored in order.
//! - [`to_predictions`] / [`predict_windows`]: the merged outputs as the shared
//!   [`metrics::Predictions`] (what train's dev evaluation and the evaluate stage score).
//!
//! A library below the stages: `train` (dev metric) and `evaluate` (predictions, probes,
//! `predict`) both call it, so the two compute the same numbers by the same code and neither
//! stage depends on the other.

use std::collections::HashMap;

use bert::{BertClassifier, Inputs};
use flowcore::progress::Progress;
use flowcore::{LabelMap, TaskKind};
use metrics::{PredictionRow, Predictions};
use tch::{Device, Kind, Tensor};
use tokenize::{IGNORE, Window};

/// Result alias of this crate.
pub type Result<T, E = InferError> = std::result::Result<T, E>;

/// What can go wrong while running the model over windows or merging its outputs.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    /// The model failed to run.
    #[error(transparent)]
    Bert(#[from] bert::BertError),

    /// libtorch raised an error.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),

    /// The predictions could not be built.
    #[error(transparent)]
    Metrics(#[from] metrics::MetricsError),

    /// Inputs that do not fit together (windows vs. labels, ids, lengths).
    #[error("{0}")]
    Invalid(String),
}

/// Windows above which a progress bar is drawn (when enabled).
const PROGRESS_MIN_WINDOWS: usize = 2_000;

/// How [`infer`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InferOptions {
    /// Windows per forward pass.
    pub batch_size: usize,
    /// The device the model's weights live on; inputs are moved there.
    pub device: Device,
    /// Draw a progress bar on stderr for long runs.
    pub progress: bool,
}

impl Default for InferOptions {
    fn default() -> Self {
        Self {
            batch_size: 32,
            device: Device::Cpu,
            progress: false,
        }
    }
}

/// The model's output for one window.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WindowOutput {
    /// Token task: the absolute index of the word each row of `probs` belongs to, one row per
    /// word in the window (read at its first sub-word), in order. Sequence task: empty.
    pub words: Vec<u32>,
    /// Softmax probabilities in the model's label order: one row per entry of `words`
    /// (token task) or exactly one row (sequence task).
    pub probs: Vec<Vec<f32>>,
}

/// Runs `model` over `windows` without gradients and in eval mode; returns one
/// [`WindowOutput`] per window, in the order of `windows`.
///
/// Batches hold windows of similar length (sorted longest first, ties by input position, so
/// a run is deterministic) padded to the batch's longest window with an attention mask.
pub fn infer(
    model: &BertClassifier,
    windows: &[Window],
    opts: &InferOptions,
) -> Result<Vec<WindowOutput>> {
    if opts.batch_size == 0 {
        return Err(InferError::Invalid("batch_size must be at least 1".into()));
    }
    let task = model.task();
    let mut order: Vec<usize> = (0..windows.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(windows[i].input_ids.len()), i));
    let mut outputs: Vec<WindowOutput> = vec![WindowOutput::default(); windows.len()];
    let bar = progress_bar(windows.len(), opts.progress);
    tch::no_grad(|| -> Result<()> {
        for batch in order.chunks(opts.batch_size) {
            let rows: Vec<&Window> = batch.iter().map(|&i| &windows[i]).collect();
            let probs = forward_batch(model, &rows, opts.device, task)?;
            for (row, &i) in batch.iter().enumerate() {
                outputs[i] = probs.window_output(row, &windows[i], task)?;
            }
            bar.inc(batch.len() as u64);
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    Ok(outputs)
}

fn progress_bar(len: usize, enabled: bool) -> Progress {
    Progress::new(
        "inference",
        "window",
        len as u64,
        "inference {bar:40} {pos}/{len} windows ({per_sec}, {eta})",
        enabled && len >= PROGRESS_MIN_WINDOWS,
    )
}

/// Probabilities of one batch, on the CPU, flattened row-major.
struct BatchProbs {
    /// `(batch, seq_len, labels)` (token) or `(batch, labels)` (sequence), flattened.
    values: Vec<f32>,
    seq_len: usize,
    labels: usize,
}

impl BatchProbs {
    fn window_output(&self, row: usize, window: &Window, task: TaskKind) -> Result<WindowOutput> {
        let c = self.labels;
        match task {
            TaskKind::Sequence | TaskKind::Multilabel => Ok(WindowOutput {
                words: Vec::new(),
                probs: vec![self.values[row * c..(row + 1) * c].to_vec()],
            }),
            TaskKind::Token => {
                let mut words = Vec::new();
                let mut probs = Vec::new();
                for (pos, word) in window.first_subwords() {
                    let at = (row * self.seq_len + pos) * c;
                    let slice = self.values.get(at..at + c).ok_or_else(|| {
                        InferError::Invalid(format!(
                            "example `{}` window {}: position {pos} outside the batch",
                            window.id, window.window
                        ))
                    })?;
                    words.push(word);
                    probs.push(slice.to_vec());
                }
                Ok(WindowOutput { words, probs })
            }
        }
    }
}

/// One padded forward pass; softmax (sigmoid per label for the multi-label task) in fp32,
/// copied to the CPU.
fn forward_batch(
    model: &BertClassifier,
    rows: &[&Window],
    device: Device,
    task: TaskKind,
) -> Result<BatchProbs> {
    let seq_len = rows.iter().map(|w| w.input_ids.len()).max().unwrap_or(0);
    if let Some(empty) = rows.iter().find(|w| w.input_ids.is_empty()) {
        return Err(InferError::Invalid(format!(
            "example `{}` window {} has no sub-words (not even special tokens)",
            empty.id, empty.window
        )));
    }
    let b = rows.len();
    let mut ids = vec![0i64; b * seq_len];
    let mut mask = vec![0i64; b * seq_len];
    let mut types = vec![0i64; b * seq_len];
    for (r, w) in rows.iter().enumerate() {
        if w.type_ids.len() != w.input_ids.len() && !w.type_ids.is_empty() {
            return Err(InferError::Invalid(format!(
                "example `{}` window {}: {} type ids for {} input ids",
                w.id,
                w.window,
                w.type_ids.len(),
                w.input_ids.len()
            )));
        }
        let base = r * seq_len;
        for (j, &id) in w.input_ids.iter().enumerate() {
            ids[base + j] = i64::from(id);
            mask[base + j] = 1;
        }
        for (j, &t) in w.type_ids.iter().enumerate() {
            types[base + j] = i64::from(t);
        }
    }
    let shape = [b as i64, seq_len as i64];
    let inputs = Inputs {
        input_ids: Tensor::from_slice(&ids).view(shape).to_device(device),
        attention_mask: Tensor::from_slice(&mask).view(shape).to_device(device),
        token_type_ids: Tensor::from_slice(&types).view(shape).to_device(device),
    };
    let logits = model.forward_t(&inputs, false)?.logits;
    let labels = logits.size().last().copied().unwrap_or(0) as usize;
    let logits = logits.to_kind(Kind::Float);
    let probs = if task == TaskKind::Multilabel {
        logits.sigmoid()
    } else {
        logits.softmax(-1, Kind::Float)
    };
    let probs = probs.to_device(Device::Cpu).contiguous().view(-1);
    let values = Vec::<f32>::try_from(&probs)?;
    Ok(BatchProbs {
        values,
        seq_len,
        labels,
    })
}

/// The merged prediction of one example.
#[derive(Debug, Clone, PartialEq)]
pub struct ExampleOutput {
    /// Example id.
    pub id: String,
    /// Gold label id of each word (token task) or the one gold label (sequence task), as the
    /// windows carry them; `None` where no window labels it (prediction-time windows, or a
    /// word the tokenizer lost).
    pub gold: Vec<Option<usize>>,
    /// Probabilities of each word in order (token task) or of the example (one row).
    pub probs: Vec<Vec<f32>>,
    /// Multi-label task: the gold label ids of the example as the window carries them
    /// (`None` without labels); `gold` is then `[None]`.
    pub gold_set: Option<Vec<usize>>,
    /// Words no window predicted (a word the tokenizer deleted); their row is uniform.
    pub unpredicted: Vec<u32>,
}

impl ExampleOutput {
    /// The predicted label id of every row (the most probable; ties go to the lower id).
    pub fn pred(&self) -> Vec<usize> {
        self.probs.iter().map(|p| argmax(p)).collect()
    }
}

/// Index of the largest value; ties and NaN go to the lowest index.
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] || (values[best].is_nan() && !v.is_nan()) {
            best = i;
        }
    }
    best
}

/// Merges per-window outputs (from [`infer`] over `windows`) into one [`ExampleOutput`] per
/// example, in order of first appearance of each id. Token task: each word takes the
/// probabilities of the window that owns it; sequence task: one window per example.
pub fn merge(
    task: TaskKind,
    windows: &[Window],
    outputs: &[WindowOutput],
) -> Result<Vec<ExampleOutput>> {
    if windows.len() != outputs.len() {
        return Err(InferError::Invalid(format!(
            "{} windows but {} outputs",
            windows.len(),
            outputs.len()
        )));
    }
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, w) in windows.iter().enumerate() {
        let g = *index.entry(w.id.as_str()).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(i);
    }
    groups
        .iter()
        .map(|members| match task {
            TaskKind::Token => merge_token(windows, outputs, members),
            TaskKind::Sequence | TaskKind::Multilabel => merge_sequence(windows, outputs, members),
        })
        .collect()
}

fn merge_sequence(
    windows: &[Window],
    outputs: &[WindowOutput],
    members: &[usize],
) -> Result<ExampleOutput> {
    let first = members[0];
    if members.len() > 1 {
        return Err(InferError::Invalid(format!(
            "sequence example `{}` has {} windows; expected one",
            windows[first].id,
            members.len()
        )));
    }
    let probs = outputs[first].probs.first().cloned().ok_or_else(|| {
        InferError::Invalid(format!("example `{}`: no output row", windows[first].id))
    })?;
    Ok(ExampleOutput {
        id: windows[first].id.clone(),
        gold: vec![windows[first].label.and_then(|l| usize::try_from(l).ok())],
        probs: vec![probs],
        gold_set: windows[first]
            .label_set
            .as_ref()
            .map(|s| s.iter().filter_map(|&l| usize::try_from(l).ok()).collect()),
        unpredicted: Vec::new(),
    })
}

fn merge_token(
    windows: &[Window],
    outputs: &[WindowOutput],
    members: &[usize],
) -> Result<ExampleOutput> {
    let id = windows[members[0]].id.clone();
    let n = members
        .iter()
        .map(|&i| windows[i].centre_end)
        .max()
        .unwrap_or(0) as usize;
    let labels = outputs
        .iter()
        .find_map(|o| o.probs.first().map(Vec::len))
        .unwrap_or(0);
    let mut probs: Vec<Option<Vec<f32>>> = vec![None; n];
    let mut gold: Vec<Option<usize>> = vec![None; n];
    for &i in members {
        let w = &windows[i];
        let out = &outputs[i];
        if out.words.len() != out.probs.len() {
            return Err(InferError::Invalid(format!(
                "example `{id}` window {}: {} words but {} probability rows",
                w.window,
                out.words.len(),
                out.probs.len()
            )));
        }
        for (&word, p) in out.words.iter().zip(&out.probs) {
            if w.is_central(word) && (word as usize) < n {
                probs[word as usize] = Some(p.clone());
            }
        }
        if !w.labels.is_empty() {
            for (pos, word) in w.first_subwords() {
                let label = w.labels.get(pos).copied().unwrap_or(IGNORE);
                if w.is_central(word) && label != IGNORE && (word as usize) < n {
                    gold[word as usize] = usize::try_from(label).ok();
                }
            }
        }
    }
    let mut unpredicted = Vec::new();
    let probs = probs
        .into_iter()
        .enumerate()
        .map(|(word, p)| {
            p.unwrap_or_else(|| {
                unpredicted.push(word as u32);
                vec![1.0 / labels.max(1) as f32; labels]
            })
        })
        .collect();
    if !unpredicted.is_empty() {
        tracing::warn!(id = %id, words = ?unpredicted, "words without a sub-word get a uniform prediction");
    }
    Ok(ExampleOutput {
        id,
        gold,
        probs,
        gold_set: None,
        unpredicted,
    })
}

/// The merged outputs as [`Predictions`] under `labels` (the probabilities must already be in
/// `labels` order). `words` gives the text of each word (token task) or of each example
/// (sequence task, first entry), by id; `None` leaves the `token` column empty. Every row
/// needs a gold label: an error names the first example and word without one.
pub fn to_predictions(
    examples: &[ExampleOutput],
    labels: &LabelMap,
    words: Option<&HashMap<String, Vec<String>>>,
) -> Result<Predictions> {
    let mut out = Predictions::for_labels(labels);
    let name = |i: usize| -> Result<String> {
        labels.name(i).map(str::to_owned).ok_or_else(|| {
            InferError::Invalid(format!(
                "label id {i} outside the {} labels {:?}",
                labels.len(),
                labels.labels
            ))
        })
    };
    if labels.task == TaskKind::Multilabel {
        return multilabel_predictions(examples, labels, words, out);
    }
    for ex in examples {
        let text = words.and_then(|w| w.get(&ex.id));
        for (k, (probs, gold)) in ex.probs.iter().zip(&ex.gold).enumerate() {
            if probs.len() != labels.len() {
                return Err(InferError::Invalid(format!(
                    "example `{}`: the model gives {} probabilities, the data has {} labels",
                    ex.id,
                    probs.len(),
                    labels.len()
                )));
            }
            let gold = gold.ok_or_else(|| {
                InferError::Invalid(format!(
                    "example `{}`{}: no gold label in the windows",
                    ex.id,
                    match labels.task {
                        TaskKind::Token => format!(", word {k}"),
                        TaskKind::Sequence | TaskKind::Multilabel => String::new(),
                    }
                ))
            })?;
            out.rows.push(PredictionRow {
                id: ex.id.clone(),
                word: (labels.task == TaskKind::Token).then_some(k as u32),
                token: text.and_then(|t| t.get(k)).cloned(),
                gold: name(gold)?,
                pred: name(argmax(probs))?,
                probs: Some(probs.clone()),
            });
        }
    }
    Ok(out)
}

/// Multi-label rows: gold = the window's label set, pred = the labels with probability above
/// [`metrics::multilabel::DEFAULT_THRESHOLD`] (evaluate re-decides with tuned thresholds).
fn multilabel_predictions(
    examples: &[ExampleOutput],
    labels: &LabelMap,
    words: Option<&HashMap<String, Vec<String>>>,
    mut out: Predictions,
) -> Result<Predictions> {
    let thresholds = vec![metrics::multilabel::DEFAULT_THRESHOLD; labels.len()];
    for ex in examples {
        let probs = ex
            .probs
            .first()
            .ok_or_else(|| InferError::Invalid(format!("example `{}`: no output row", ex.id)))?;
        if probs.len() != labels.len() {
            return Err(InferError::Invalid(format!(
                "example `{}`: the model gives {} probabilities, the data has {} labels",
                ex.id,
                probs.len(),
                labels.len()
            )));
        }
        let set = ex.gold_set.as_ref().ok_or_else(|| {
            InferError::Invalid(format!(
                "example `{}`: no gold label set in the windows",
                ex.id
            ))
        })?;
        let mut gold = vec![false; labels.len()];
        for &l in set {
            *gold.get_mut(l).ok_or_else(|| {
                InferError::Invalid(format!(
                    "example `{}`: label id {l} outside the {} labels",
                    ex.id,
                    labels.len()
                ))
            })? = true;
        }
        let pred = metrics::multilabel::decide(std::slice::from_ref(probs), &thresholds)
            .pop()
            .unwrap_or_default();
        out.rows.push(PredictionRow {
            id: ex.id.clone(),
            word: None,
            token: words
                .and_then(|w| w.get(&ex.id))
                .and_then(|t| t.first())
                .cloned(),
            gold: metrics::predictions::join_set(&labels.labels, &gold),
            pred: metrics::predictions::join_set(&labels.labels, &pred),
            probs: Some(probs.clone()),
        });
    }
    Ok(out)
}

/// [`infer`], [`merge`] and [`to_predictions`] in one call, for labelled windows whose label
/// ids follow `labels` and a model whose outputs are in the same order (train's dev set).
pub fn predict_windows(
    model: &BertClassifier,
    windows: &[Window],
    labels: &LabelMap,
    opts: &InferOptions,
) -> Result<Predictions> {
    let outputs = infer(model, windows, opts)?;
    let merged = merge(labels.task, windows, &outputs)?;
    to_predictions(&merged, labels, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(id: &str, k: u32, words: &[i32], centre: (u32, u32), labels: Vec<i16>) -> Window {
        let mut word_ids = vec![-1];
        word_ids.extend_from_slice(words);
        word_ids.push(-1);
        Window {
            id: id.into(),
            window: k,
            first_word: words.first().map_or(0, |&w| w as u32),
            centre_start: centre.0,
            centre_end: centre.1,
            input_ids: vec![1; word_ids.len()],
            type_ids: vec![0; word_ids.len()],
            length: word_ids.len() as u32,
            word_ids,
            labels,
            label: None,
            label_set: None,
        }
    }

    fn output(words: &[u32], tag: f32) -> WindowOutput {
        WindowOutput {
            words: words.to_vec(),
            probs: words.iter().map(|&w| vec![tag, w as f32]).collect(),
        }
    }

    #[test]
    fn each_word_takes_the_window_that_owns_it() {
        // Words 0..5; window 0 holds 0..4 and owns 0..3, window 1 holds 2..5 and owns 3..5.
        let windows = vec![
            window("a", 0, &[0, 1, 1, 2, 3], (0, 3), vec![]),
            window("b", 0, &[0], (0, 1), vec![]),
            window("a", 1, &[2, 3, 4], (3, 5), vec![]),
        ];
        let outputs = vec![
            output(&[0, 1, 2, 3], 10.0),
            output(&[0], 30.0),
            output(&[2, 3, 4], 20.0),
        ];
        let merged = merge(TaskKind::Token, &windows, &outputs).unwrap();
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].id, "a");
        assert_eq!(merged[1].id, "b");
        let tags: Vec<f32> = merged[0].probs.iter().map(|p| p[0]).collect();
        assert_eq!(tags, [10.0, 10.0, 10.0, 20.0, 20.0]);
        let words: Vec<f32> = merged[0].probs.iter().map(|p| p[1]).collect();
        assert_eq!(words, [0.0, 1.0, 2.0, 3.0, 4.0]);
        assert!(merged[0].unpredicted.is_empty());
    }

    #[test]
    fn gold_comes_from_the_owning_windows_first_subword() {
        // Word 1 has two sub-words; the second one is ignored; word 2 is labelled only by
        // window 0, which does not own it (window 1 does, unlabelled), so it stays unknown.
        let w0 = window(
            "a",
            0,
            &[0, 1, 1, 2],
            (0, 2),
            vec![IGNORE, 3, 1, IGNORE, 2, IGNORE],
        );
        let w1 = window("a", 1, &[1, 2], (2, 3), vec![IGNORE, 1, IGNORE, IGNORE]);
        let outputs = [output(&[0, 1, 2], 0.0), output(&[1, 2], 0.0)];
        let merged = merge(TaskKind::Token, &[w0, w1], &outputs).unwrap();
        assert_eq!(merged[0].gold, [Some(3), Some(1), None]);
        assert!(merged[0].unpredicted.is_empty());
    }

    #[test]
    fn a_missing_word_gets_a_uniform_row_and_is_reported() {
        let w = window("a", 0, &[0, 2], (0, 3), vec![]);
        let merged = merge(TaskKind::Token, &[w], &[output(&[0, 2], 1.0)]).unwrap();
        assert_eq!(merged[0].unpredicted, [1]);
        assert_eq!(merged[0].probs[1], [0.5, 0.5]);
    }

    #[test]
    fn argmax_prefers_the_lowest_index_on_ties_and_skips_nan() {
        assert_eq!(argmax(&[0.2, 0.4, 0.4]), 1);
        assert_eq!(argmax(&[f32::NAN, 0.1, 0.3]), 2);
        assert_eq!(argmax(&[]), 0);
    }

    #[test]
    fn multilabel_predictions_decide_each_label_above_one_half() {
        let labels = LabelMap::new(
            TaskKind::Multilabel,
            vec!["anger".into(), "joy".into(), "sadness".into()],
        );
        let ex = ExampleOutput {
            id: "e1".into(),
            gold: vec![None],
            probs: vec![vec![0.7, 0.5, 0.51]],
            gold_set: Some(vec![0, 1]),
            unpredicted: vec![],
        };
        let p = to_predictions(std::slice::from_ref(&ex), &labels, None).unwrap();
        assert_eq!(p.rows[0].gold, "anger|joy");
        // p > 0.5: exactly 0.5 is not predicted.
        assert_eq!(p.rows[0].pred, "anger|sadness");
        assert_eq!(p.rows[0].word, None);
        let mut none = ex;
        none.gold_set = None;
        let err = to_predictions(&[none], &labels, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`e1`: no gold label set"), "{err}");
    }

    #[test]
    fn predictions_need_gold_and_name_the_word() {
        let labels = LabelMap::new(TaskKind::Token, vec!["O".into(), "B-X".into()]);
        let ex = ExampleOutput {
            id: "s1".into(),
            gold: vec![Some(0), None],
            probs: vec![vec![0.9, 0.1], vec![0.3, 0.7]],
            gold_set: None,
            unpredicted: vec![],
        };
        let err = to_predictions(std::slice::from_ref(&ex), &labels, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`s1`, word 1"), "{err}");
        let mut ok = ex;
        ok.gold[1] = Some(1);
        let words = HashMap::from([("s1".to_string(), vec!["Hi".to_string(), "Bob".into()])]);
        let p = to_predictions(&[ok], &labels, Some(&words)).unwrap();
        assert_eq!(p.pred(), ["O", "B-X"]);
        assert_eq!(p.rows[1].token.as_deref(), Some("Bob"));
        assert_eq!(p.rows[1].word, Some(1));
    }
}
