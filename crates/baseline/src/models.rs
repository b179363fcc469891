//! Training every chosen model on the train split and predicting the evaluation splits.
//!
//! The output of each model is one [`Predictions`] per evaluation split, in the format the
//! evaluate stage writes, so reflect can compare them with BERT's row by row.

use std::collections::BTreeMap;
use std::time::Instant;

use metrics::{PredictionRow, Predictions};

use flowcore::TaskKind;

use crate::data::{SeqExample, TokenExample};
use crate::error::{BaselineError, Result};
use crate::forest::{Forest, ForestConfig};
use crate::logreg::{LogReg, LogRegConfig};
use crate::memorise::Memoriser;
use crate::params::{BaselineParams, ModelKind};
use crate::perceptron::{Perceptron, PerceptronConfig};
use crate::sparse::Csr;
use crate::tfidf::Tfidf;
use crate::{argmax, progress};

/// A fitted sequence model: probabilities of every label per feature row.
type SeqPredictor = Box<dyn Fn(&Csr) -> Vec<Vec<f32>>>;
/// A fitted token model: a tag id per word.
type TokenPredictor = Box<dyn Fn(&[String]) -> Vec<usize>>;

/// What one model produced.
#[derive(Debug, Clone)]
pub struct ModelRun {
    /// Which model.
    pub model: ModelKind,
    /// Seconds spent training (including feature extraction of the train split).
    pub train_seconds: f64,
    /// Seconds spent predicting all evaluation splits.
    pub predict_seconds: f64,
    /// Predictions by split name.
    pub predictions: BTreeMap<String, Predictions>,
    /// Model-specific facts for the manifest (optimiser iterations, feature counts).
    pub details: serde_json::Value,
}

/// The label list and a lookup from name to id.
#[derive(Debug, Clone)]
pub struct Labels {
    /// Names in `labels.json` order, plus any label only the data knows, appended.
    pub names: Vec<String>,
    index: BTreeMap<String, usize>,
}

impl Labels {
    /// A label list from names (duplicates are ignored).
    pub fn new(names: impl IntoIterator<Item = String>) -> Self {
        let mut this = Self {
            names: Vec::new(),
            index: BTreeMap::new(),
        };
        for n in names {
            this.add(&n);
        }
        this
    }

    /// The id of a label, adding it at the end when it is new.
    pub fn add(&mut self, name: &str) -> usize {
        if let Some(&id) = self.index.get(name) {
            return id;
        }
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), self.names.len() - 1);
        self.names.len() - 1
    }

    /// The id of a known label.
    pub fn id(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

fn id_of(labels: &Labels, name: &str) -> usize {
    // The stage adds every label of every split before any model runs.
    labels
        .id(name)
        .unwrap_or_else(|| unreachable!("label `{name}` was added to the label list"))
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let clock = Instant::now();
    let out = f();
    (out, clock.elapsed().as_secs_f64())
}

/// Sequence rows from per-example probabilities (`None`: use `preds` without probabilities).
fn sequence_predictions(
    task_labels: &Labels,
    examples: &[SeqExample],
    probs: Vec<Vec<f32>>,
) -> Predictions {
    let mut out = Predictions::new(TaskKind::Sequence, task_labels.names.clone());
    out.rows = examples
        .iter()
        .zip(probs)
        .map(|(e, p)| PredictionRow {
            id: e.id.clone(),
            word: None,
            token: None,
            gold: e.label.clone(),
            pred: task_labels.names[argmax(&p)].clone(),
            probs: Some(p),
        })
        .collect();
    out
}

/// TF-IDF fitted on train (text and second text of each example): the vectoriser and the
/// feature rows of train and of every evaluation split.
fn tfidf_features(
    params: &BaselineParams,
    train: &[SeqExample],
    evals: &[(&str, &[SeqExample])],
) -> (Tfidf, Csr, Vec<Csr>) {
    fn docs(xs: &[SeqExample]) -> impl Iterator<Item = (&str, Option<&str>)> {
        xs.iter().map(|e| (e.text.as_str(), e.text_b.as_deref()))
    }
    let vec = Tfidf::fit(params.tfidf.clone(), docs(train));
    let x_train = vec.transform(docs(train));
    let x_evals = evals
        .iter()
        .map(|(_, xs)| vec.transform(docs(xs)))
        .collect();
    (vec, x_train, x_evals)
}

/// Multi-label task: TF-IDF features and one binary logistic regression per label (what
/// scikit-learn's `OneVsRestClassifier(LogisticRegression())` fits); a label is predicted
/// when its probability is above 0.5. `labels` is the label list in `labels.json` order.
pub fn run_multilabel(
    params: &BaselineParams,
    labels: &[String],
    train: &[SeqExample],
    evals: &[(&str, &[SeqExample])],
) -> Result<Vec<ModelRun>> {
    if train.is_empty() {
        return Err(BaselineError::Data(
            "the train split is empty; a baseline needs training examples".into(),
        ));
    }
    let index: BTreeMap<&str, usize> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i))
        .collect();
    let indicators = |e: &SeqExample| -> Result<Vec<bool>> {
        let mut on = vec![false; labels.len()];
        for item in metrics::predictions::split_set(&e.label) {
            let j = index.get(item).ok_or_else(|| {
                BaselineError::Data(format!(
                    "example `{}`: label `{item}` is not in labels.json {labels:?}",
                    e.id
                ))
            })?;
            on[*j] = true;
        }
        Ok(on)
    };
    let y: Vec<Vec<bool>> = train.iter().map(indicators).collect::<Result<_>>()?;
    for (_, xs) in evals {
        for e in *xs {
            indicators(e)?;
        }
    }
    let ((vec, x_train, x_evals), feature_secs) = timed(|| tfidf_features(params, train, evals));
    let config = LogRegConfig {
        c: params.logreg.c,
        max_iter: params.logreg.max_iter,
        tol: params.logreg.tol,
    };
    let mut runs = Vec::new();
    for &model in params.models.iter().flatten() {
        if model != ModelKind::OvrLogreg {
            continue;
        }
        let bar = progress(labels.len() as u64, "one-vs-rest logistic regressions");
        let (fitted, secs) = timed(|| {
            (0..labels.len())
                .map(|j| {
                    let yj: Vec<usize> = y.iter().map(|r| usize::from(r[j])).collect();
                    let m = LogReg::fit(&x_train, &yj, 2, config);
                    bar.inc(1);
                    m
                })
                .collect::<Vec<_>>()
        });
        bar.finish_and_clear();
        let unconverged = fitted.iter().filter(|m| !m.report.converged).count();
        if unconverged > 0 {
            tracing::warn!(
                labels = unconverged,
                "logistic regressions stopped before converging; raise `logreg.max_iter`"
            );
        }
        let details = serde_json::json!({
            "features": vec.n_features(),
            "iterations": fitted.iter().map(|m| m.report.iterations).collect::<Vec<_>>(),
            "converged": unconverged == 0,
        });
        let thresholds = vec![metrics::multilabel::DEFAULT_THRESHOLD; labels.len()];
        let (predictions, predict_seconds) = timed(|| {
            let mut out = BTreeMap::new();
            for ((split, xs), x) in evals.iter().zip(&x_evals) {
                let per_label: Vec<Vec<Vec<f32>>> =
                    fitted.iter().map(|m| m.predict_proba(x)).collect();
                let mut preds = Predictions::new(TaskKind::Multilabel, labels.to_vec());
                for (i, e) in xs.iter().enumerate() {
                    let p: Vec<f32> = per_label.iter().map(|pl| pl[i][1]).collect();
                    let on = metrics::multilabel::decide(std::slice::from_ref(&p), &thresholds)
                        .pop()
                        .unwrap_or_default();
                    preds.rows.push(PredictionRow {
                        id: e.id.clone(),
                        word: None,
                        token: None,
                        gold: e.label.clone(),
                        pred: metrics::predictions::join_set(labels, &on),
                        probs: Some(p),
                    });
                }
                out.insert((*split).to_string(), preds);
            }
            out
        });
        runs.push(ModelRun {
            model,
            train_seconds: secs + feature_secs,
            predict_seconds,
            predictions,
            details,
        });
    }
    Ok(runs)
}

/// Train and predict every chosen sequence model.
pub fn run_sequence(
    params: &BaselineParams,
    labels: &Labels,
    train: &[SeqExample],
    evals: &[(&str, &[SeqExample])],
) -> Result<Vec<ModelRun>> {
    if train.is_empty() {
        return Err(BaselineError::Data(
            "the train split is empty; a baseline needs training examples".into(),
        ));
    }
    let y: Vec<usize> = train.iter().map(|e| id_of(labels, &e.label)).collect();
    let needs_features = params
        .models
        .iter()
        .flatten()
        .any(|m| matches!(m, ModelKind::Logreg | ModelKind::RandomForest));
    let mut features: Option<(Tfidf, Csr, Vec<Csr>, f64)> = None;
    if needs_features {
        let ((vec, x_train, x_evals), secs) = timed(|| tfidf_features(params, train, evals));
        tracing::info!(
            features = vec.n_features(),
            nnz = x_train.nnz(),
            seconds = format!("{secs:.2}"),
            "TF-IDF features"
        );
        features = Some((vec, x_train, x_evals, secs));
    }
    let mut runs = Vec::new();
    for &model in params.models.iter().flatten() {
        tracing::info!(model = %model, "training");
        let (fitted, train_seconds, details): (SeqPredictor, f64, _) = match (model, &features) {
            (ModelKind::Logreg, Some((vec, x_train, _, feature_secs))) => {
                let config = LogRegConfig {
                    c: params.logreg.c,
                    max_iter: params.logreg.max_iter,
                    tol: params.logreg.tol,
                };
                let (m, secs) = timed(|| LogReg::fit(x_train, &y, labels.len(), config));
                if !m.report.converged {
                    tracing::warn!(
                        iterations = m.report.iterations,
                        gmax = m.report.gmax,
                        "logistic regression stopped before converging; raise `logreg.max_iter`"
                    );
                }
                let details = serde_json::json!({
                    "features": vec.n_features(),
                    "iterations": m.report.iterations,
                    "converged": m.report.converged,
                    "objective": m.report.value,
                });
                (
                    Box::new(move |x: &Csr| m.predict_proba(x)),
                    secs + feature_secs,
                    details,
                )
            }
            (ModelKind::RandomForest, Some((vec, x_train, _, feature_secs))) => {
                let config = ForestConfig {
                    n_trees: params.random_forest.n_trees,
                    max_depth: params.random_forest.max_depth,
                    min_samples_split: params.random_forest.min_samples_split,
                    mtry: params.random_forest.max_features,
                    seed: params.seed,
                };
                let (m, secs) = timed(|| Forest::fit(x_train, &y, labels.len(), config));
                let details = serde_json::json!({
                    "features": vec.n_features(),
                    "trees": config.n_trees,
                });
                (
                    Box::new(move |x: &Csr| m.predict_proba(x)),
                    secs + feature_secs,
                    details,
                )
            }
            (ModelKind::Majority, _) => {
                let (prior, secs) = timed(|| {
                    let mut counts = vec![0.0f32; labels.len()];
                    for &l in &y {
                        counts[l] += 1.0;
                    }
                    let n = y.len() as f32;
                    counts.iter_mut().for_each(|c| *c /= n);
                    counts
                });
                let details = serde_json::json!({ "label": labels.names[argmax(&prior)] });
                (
                    Box::new(move |x: &Csr| vec![prior.clone(); x.rows()]),
                    secs,
                    details,
                )
            }
            (other, _) => {
                return Err(BaselineError::Data(format!(
                    "model `{other}` does not apply to a sequence task"
                )));
            }
        };
        let (predictions, predict_seconds) = timed(|| {
            evals
                .iter()
                .enumerate()
                .map(|(i, (split, xs))| {
                    let probs = match &features {
                        Some((_, _, x_evals, _)) => fitted(&x_evals[i]),
                        // The majority model ignores features; only the row count matters.
                        None => fitted(&Csr {
                            cols: 0,
                            indptr: vec![0; xs.len() + 1],
                            indices: Vec::new(),
                            values: Vec::new(),
                        }),
                    };
                    (split.to_string(), sequence_predictions(labels, xs, probs))
                })
                .collect()
        });
        runs.push(ModelRun {
            model,
            train_seconds,
            predict_seconds,
            predictions,
            details,
        });
    }
    Ok(runs)
}

fn token_predictions(
    labels: &Labels,
    examples: &[TokenExample],
    predict: impl Fn(&[String]) -> Vec<usize>,
) -> Predictions {
    let mut out = Predictions::new(TaskKind::Token, labels.names.clone());
    for e in examples {
        let pred = predict(&e.tokens);
        for (w, ((token, gold), p)) in e.tokens.iter().zip(&e.tags).zip(pred).enumerate() {
            out.rows.push(PredictionRow {
                id: e.id.clone(),
                word: Some(w as u32),
                token: Some(token.clone()),
                gold: gold.clone(),
                pred: labels.names[p].clone(),
                probs: None,
            });
        }
    }
    out
}

/// Train and predict every chosen token model.
pub fn run_token(
    params: &BaselineParams,
    labels: &Labels,
    train: &[TokenExample],
    evals: &[(&str, &[TokenExample])],
) -> Result<Vec<ModelRun>> {
    if train.is_empty() {
        return Err(BaselineError::Data(
            "the train split is empty; a baseline needs training sentences".into(),
        ));
    }
    let outside = labels.id("O").ok_or_else(|| {
        BaselineError::Data(format!(
            "the token labels have no `O` tag (labels: {:?}); expected IOB2 tags",
            labels.names
        ))
    })?;
    let sentences: Vec<(Vec<String>, Vec<usize>)> = train
        .iter()
        .map(|e| {
            (
                e.tokens.clone(),
                e.tags.iter().map(|t| id_of(labels, t)).collect(),
            )
        })
        .collect();
    let mut runs = Vec::new();
    for &model in params.models.iter().flatten() {
        tracing::info!(model = %model, "training");
        let (predict, train_seconds, details): (TokenPredictor, f64, _) = match model {
            ModelKind::Perceptron => {
                let config = PerceptronConfig {
                    epochs: params.perceptron.epochs,
                    seed: params.seed,
                };
                let bar = progress(config.epochs as u64, "perceptron epochs");
                let mut mistakes = Vec::new();
                let (m, secs) = timed(|| {
                    Perceptron::fit(&sentences, labels.len(), config, |epoch, wrong| {
                        tracing::debug!(epoch, wrong_sentences = wrong, "perceptron epoch");
                        mistakes.push(wrong);
                        bar.inc(1);
                    })
                });
                bar.finish_and_clear();
                let details = serde_json::json!({
                    "epochs": config.epochs,
                    "wrong_sentences_per_epoch": mistakes,
                });
                (Box::new(move |w: &[String]| m.predict(w)), secs, details)
            }
            ModelKind::Memorisation => {
                let (m, secs) = timed(|| {
                    Memoriser::fit(
                        sentences.iter().map(|(w, t)| (w.as_slice(), t.as_slice())),
                        labels.len(),
                        outside,
                    )
                });
                (
                    Box::new(move |w: &[String]| m.predict(w)),
                    secs,
                    serde_json::json!({}),
                )
            }
            other => {
                return Err(BaselineError::Data(format!(
                    "model `{other}` does not apply to a token task"
                )));
            }
        };
        let (predictions, predict_seconds) = timed(|| {
            evals
                .iter()
                .map(|(split, xs)| (split.to_string(), token_predictions(labels, xs, &predict)))
                .collect()
        });
        runs.push(ModelRun {
            model,
            train_seconds,
            predict_seconds,
            predictions,
            details,
        });
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(id: usize, text: &str, labels: &str) -> SeqExample {
        SeqExample {
            id: format!("e{id}"),
            text: text.into(),
            text_b: None,
            label: labels.into(),
        }
    }

    /// Each label has its own word: one-vs-rest learns each, decides sets at p > 0.5 (the
    /// empty set included) and refuses a label outside the list with the example named.
    #[test]
    fn one_vs_rest_learns_each_label_and_decides_sets() {
        let texts = [
            ("goal scored tonight", "sports"),
            ("new gallery opening", "art"),
            ("goal at the gallery", "art|sports"),
            ("weather is mild", ""),
        ];
        let train: Vec<SeqExample> = (0..40)
            .map(|i| {
                let (t, l) = texts[i % 4];
                ex(i, t, l)
            })
            .collect();
        let test = vec![
            ex(100, "late goal", "sports"),
            ex(101, "gallery visit", "art"),
            ex(102, "mild morning", ""),
        ];
        let labels = vec!["art".to_string(), "sports".to_string()];
        let params = BaselineParams::default()
            .resolve(Some(TaskKind::Multilabel))
            .unwrap();
        let runs = run_multilabel(&params, &labels, &train, &[("test", &test)]).unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].model, ModelKind::OvrLogreg);
        let preds = &runs[0].predictions["test"];
        assert_eq!(preds.task, TaskKind::Multilabel);
        let pred: Vec<&str> = preds.rows.iter().map(|r| r.pred.as_str()).collect();
        assert_eq!(pred, ["sports", "art", ""]);
        for r in &preds.rows {
            assert_eq!(r.probs.as_ref().unwrap().len(), 2);
        }
        let bad = vec![ex(200, "goal", "music")];
        let err = run_multilabel(&params, &labels, &train, &[("test", &bad)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("example `e200`: label `music`"), "{err}");
    }
}
