//! Remedies: what to change to test a finding's cause, as pipeline overrides.
//!
//! An actionable finding carries a few [`Remedy`]s in `findings.json`, each a named set of
//! `stage kind.param` overrides relative to the recipe that made the model (read from the
//! train, tokenize and evaluate artifacts' params). `pipeline improve` runs them as trials and
//! keeps one only when dev says it helps. The mapping from a finding to its remedies lives
//! here, in one place, so the next engineer adds a cause by adding one arm:
//!
//! | finding | remedies |
//! |---|---|
//! | `training.underfit` (baseline beats the model, dev still rising) | more epochs, higher learning rate, dropout 0 |
//! | multi-label `training.underfit`, `training.collapsed` (label sets collapsed to almost nothing) | also balanced positive-class weights (`pos_weight`) and thresholds tuned per label on dev |
//! | `training.curve` still rising | more epochs |
//! | `decisions.cost` (a constant policy, a baseline that decides cheaper, or no better than a constant rule), binary tasks | a decision threshold tuned on dev for least cost (no retraining) |
//! | `decisions.cost` (a constant least-cost policy: the probabilities do not separate) | also more epochs, higher learning rate |
//! | `model.truncation` | a longer `max_length` |
//! | `slice.label.*` (a weak class) and multi-label `recall.*`, when the training classes are imbalanced (largest ≥ 3× smallest) | balanced class weights |
//! | multi-label `threshold.*`, `recall.*`, `precision.*` | thresholds tuned per label on dev |
//! | `calibration.*` where a temperature fitted on dev measurably lowers ECE (single-label) | the temperature applied by evaluate (no retraining) |
//! | `model.lowercasing` (a case-blind tokenizer on capitalised entities) | each cased model installed beside the current one (`models/`), else the action says none is |
//!
//! A remedy is left out when the recipe already has it (dropout already 0, weights already
//! balanced, thresholds already tuned, the temperature already applied).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use flowcore::TaskKind;
use serde_json::{Value, json};

pub use crate::findings::Remedy;
use crate::findings::{Finding, Severity};

impl Remedy {
    fn new(name: &str, set: &[(&str, Value)]) -> Self {
        Self {
            name: name.into(),
            set: set
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }
}

/// The recipe that made the model: the params of the stages whose artifacts reflect read.
#[derive(Debug, Clone, Default)]
pub struct Recipe {
    /// Task kind.
    pub task: Option<TaskKind>,
    /// The train stage's resolved params.
    pub train: Option<Value>,
    /// The tokenize stage's resolved params.
    pub tokenize: Option<Value>,
    /// The evaluate stage's resolved params.
    pub evaluate: Option<Value>,
    /// Training examples per class (sequence tasks), when the ingest artifact was read.
    pub train_support: BTreeMap<String, usize>,
    /// Model directories installed beside the recipe's model whose tokenizers keep case
    /// ([`cased_models_beside`]).
    pub cased_models: Vec<PathBuf>,
}

/// The model directories next to `model` (siblings in its parent folder, e.g. `models/`) that
/// hold a checkpoint (`config.json` and `model.safetensors`) and a tokenizer that keeps case,
/// sorted by name.
pub fn cased_models_beside(model: &Path) -> Vec<PathBuf> {
    let Some(parent) = model.parent().filter(|p| p.is_dir()) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let same = |d: &Path| d.canonicalize().ok() == model.canonicalize().ok();
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|d| {
            d.join("config.json").is_file()
                && d.join("model.safetensors").is_file()
                && !same(d)
                && lowercases(d) == Some(false)
        })
        .collect();
    out.sort();
    out
}

/// Whether the tokenizer of model directory `dir` lowercases its input: from `tokenizer.json`'s
/// normalizer (a `BertNormalizer` with `lowercase`, or a `Lowercase` step), else
/// `tokenizer_config.json`'s `do_lower_case` (a `vocab.txt` WordPiece lowercases unless it
/// says not to); `None` without a tokenizer.
pub fn lowercases(dir: &Path) -> Option<bool> {
    fn any_lowercase(v: &Value) -> bool {
        match v {
            Value::Object(m) => {
                let ty = m.get("type").and_then(Value::as_str);
                ty == Some("Lowercase")
                    || (ty == Some("BertNormalizer")
                        && m.get("lowercase").and_then(Value::as_bool).unwrap_or(true))
                    || m.values().any(any_lowercase)
            }
            Value::Array(items) => items.iter().any(any_lowercase),
            _ => false,
        }
    }
    let read = |name: &str| -> Option<Value> {
        serde_json::from_str(&std::fs::read_to_string(dir.join(name)).ok()?).ok()
    };
    if let Some(t) = read("tokenizer.json") {
        return Some(t.get("normalizer").is_some_and(any_lowercase));
    }
    if dir.join("vocab.txt").is_file() {
        let config = read("tokenizer_config.json");
        return Some(
            config
                .as_ref()
                .and_then(|c| c.get("do_lower_case"))
                .and_then(Value::as_bool)
                .unwrap_or(true),
        );
    }
    None
}

/// Largest over smallest class in training below which class weights change little.
const IMBALANCE: f64 = 3.0;

/// HF's defaults, which the train stage also uses when a param is unset.
const DEFAULT_EPOCHS: f64 = 3.0;
const DEFAULT_LR: f64 = 5e-5;
/// Longest input BERT reads.
const MAX_POSITIONS: u64 = 512;

impl Recipe {
    fn train_f64(&self, key: &str) -> Option<f64> {
        self.train.as_ref()?.get(key)?.as_f64()
    }

    /// Fills `cased_models` from the folder of the recipe's model.
    fn with_installed_models(mut self) -> Self {
        self.cased_models = self
            .model()
            .map(|m| cased_models_beside(&m))
            .unwrap_or_default();
        self
    }

    /// The model directory the recipe fine-tuned.
    pub fn model(&self) -> Option<PathBuf> {
        Some(PathBuf::from(self.train.as_ref()?.get("model")?.as_str()?))
    }

    fn epochs(&self) -> f64 {
        self.train_f64("epochs").unwrap_or(DEFAULT_EPOCHS)
    }

    /// Remedies of an underfit model: train longer, faster, with less regularisation.
    fn underfit(&self, with_dropout: bool) -> Vec<Remedy> {
        let mut out = Vec::new();
        // A run capped by max_steps would not see more epochs.
        if self.train_f64("max_steps").is_none() {
            let epochs = (self.epochs() * 2.0).min(20.0).round();
            out.push(Remedy::new(
                "longer training",
                &[("train.epochs", json!(epochs as u64))],
            ));
        }
        let lr = self.train_f64("learning_rate").unwrap_or(DEFAULT_LR);
        out.push(Remedy::new(
            "higher learning rate",
            &[("train.learning_rate", json!(lr * 2.0))],
        ));
        let dropout = self.train_f64("dropout");
        if with_dropout && dropout.is_none_or(|d| d > 0.05) {
            out.push(Remedy::new("no dropout", &[("train.dropout", json!(0.0))]));
        }
        out
    }

    /// Largest over smallest class count in training (`None` when unknown).
    fn imbalance(&self) -> Option<f64> {
        let max = *self.train_support.values().max()?;
        let min = *self.train_support.values().min()?;
        Some(max as f64 / min.max(1) as f64)
    }

    /// Balanced class weights, when the recipe has none and the classes are imbalanced
    /// (always, per label, for multi-label: `pos_weight` = negatives / positives).
    fn balanced(&self) -> Vec<Remedy> {
        let current = self.train.as_ref().and_then(|t| t.get("class_weights"));
        let per_label = self.task == Some(TaskKind::Multilabel);
        if current.is_some_and(|c| c == "balanced")
            || (!per_label && self.imbalance().is_none_or(|r| r < IMBALANCE))
        {
            return Vec::new();
        }
        vec![Remedy::new(
            "balanced class weights",
            &[("train.class_weights", json!("balanced"))],
        )]
    }

    fn tuned_thresholds(&self) -> Vec<Remedy> {
        let tuned = self
            .evaluate
            .as_ref()
            .and_then(|e| e.get("tune_thresholds"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if tuned {
            return Vec::new();
        }
        vec![Remedy::new(
            "thresholds tuned on dev",
            &[("evaluate.tune_thresholds", json!(true))],
        )]
    }

    /// A cost threshold on P(positive) tuned on dev, for a binary task evaluated under a cost
    /// matrix that does not decide by one yet (nor rejects out-of-scope answers).
    fn cost_threshold(&self) -> Vec<Remedy> {
        let Some(e) = &self.evaluate else {
            return Vec::new();
        };
        let set = |k: &str| e.get(k).is_some_and(|v| !v.is_null() && *v != json!(false));
        let binary = self.train_support.is_empty() || self.train_support.len() == 2;
        if !set("cost_matrix") || set("tune_cost_threshold") || set("out_of_scope_label") || !binary
        {
            return Vec::new();
        }
        vec![Remedy::new(
            "cost threshold tuned on dev",
            &[("evaluate.tune_cost_threshold", json!(true))],
        )]
    }

    /// The temperature fitted on dev, applied by evaluate, when the finding shows it lowers
    /// ECE measurably (a `T` away from 1 whose ECE falls below the current ECE's interval) and
    /// the recipe does not apply one yet. A multi-label `calibration.<label>` finding proposes
    /// the same switch: evaluate then fits one temperature per label.
    fn temperature(&self, f: &Finding) -> Vec<Remedy> {
        let applied = self
            .evaluate
            .as_ref()
            .and_then(|e| e.get("temperature"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let (Some(t), Some(after), Some([lo, _])) = (
            f.numbers.get("temperature"),
            f.numbers.get("ece_after_temperature"),
            f.ci,
        ) else {
            return Vec::new();
        };
        if applied || f.severity == Severity::Info || (t - 1.0).abs() < 0.05 || *after >= lo {
            return Vec::new();
        }
        vec![Remedy::new(
            "temperature fitted on dev",
            &[("evaluate.temperature", json!(true))],
        )]
    }

    /// Each cased model installed beside the current one, for the tokenizer and the weights.
    fn cased(&self) -> Vec<Remedy> {
        self.cased_models
            .iter()
            .take(3)
            .map(|m| {
                let path = json!(m.display().to_string());
                let name = m.file_name().map_or_else(
                    || m.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                );
                Remedy::new(
                    &format!("cased model {name}"),
                    &[("train.model", path.clone()), ("tokenize.tokenizer", path)],
                )
            })
            .collect()
    }

    fn longer_inputs(&self, max_length: Option<u64>) -> Vec<Remedy> {
        let current = max_length.or_else(|| {
            self.tokenize
                .as_ref()
                .and_then(|t| t.get("max_length"))
                .and_then(Value::as_u64)
        });
        match current {
            Some(l) if l < MAX_POSITIONS => vec![Remedy::new(
                "longer inputs",
                &[("tokenize.max_length", json!((l * 2).min(MAX_POSITIONS)))],
            )],
            _ => Vec::new(),
        }
    }
}

/// Sets the remedies of every finding and names them at the end of its action, so the report
/// says what `pipeline improve` would try.
pub fn attach(found: &mut [Finding], recipe: &Recipe) {
    for f in found {
        f.remedies = remedies_for(f, recipe);
        if f.remedies.is_empty() {
            if f.id == "model.lowercasing"
                && let Some(model) = recipe.model()
            {
                let folder = model
                    .parent()
                    .map_or_else(|| ".".into(), |p| p.display().to_string());
                f.action = format!(
                    "{} No cased model is installed beside `{}` (none in `{folder}` keeps case): put one there (an HF directory, e.g. bert-base-cased) and `pipeline improve` tries it.",
                    f.action.trim_end(),
                    model.display()
                );
            }
            continue;
        }
        let tries: Vec<String> = f
            .remedies
            .iter()
            .map(|r| {
                let sets: Vec<String> = r.set.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("{} (`{}`)", r.name, sets.join(" "))
            })
            .collect();
        f.action = format!(
            "{} Remedies `pipeline improve` tries: {}.",
            f.action.trim_end(),
            tries.join("; ")
        );
    }
}

impl Recipe {
    /// The recipe behind an evaluate artifact: the params of the train, tokenize and evaluate
    /// artifacts (the task kind and training support are filled in by the caller).
    pub fn of(
        evaluate: &flowcore::Artifact,
        train: Option<&flowcore::Artifact>,
        tokenize: Option<&flowcore::Artifact>,
    ) -> Self {
        Self {
            task: None,
            train: train.map(|a| a.manifest.params.clone()),
            tokenize: tokenize.map(|a| a.manifest.params.clone()),
            evaluate: Some(evaluate.manifest.params.clone()),
            train_support: BTreeMap::new(),
            cased_models: Vec::new(),
        }
        .with_installed_models()
    }
}

/// The remedies of `f` under `recipe` (empty when nothing in the pipeline tests its cause).
pub fn remedies_for(f: &Finding, recipe: &Recipe) -> Vec<Remedy> {
    let multilabel = recipe.task == Some(TaskKind::Multilabel);
    let id = f.id.as_str();
    match id {
        "training.underfit" | "training.collapsed" if multilabel => {
            // The positive class vanishing under BCE: weight it, and decide by thresholds
            // that fit each label's probabilities.
            let mut out = recipe.underfit(true);
            out.extend(recipe.balanced());
            out.extend(recipe.tuned_thresholds());
            out
        }
        "training.underfit" => recipe.underfit(true),
        "training.curve" if f.title.contains("still rising") => {
            recipe.underfit(false).into_iter().take(1).collect()
        }
        "decisions.cost" if f.title.contains("constant policy") => {
            let mut out = recipe.cost_threshold();
            out.extend(recipe.underfit(false));
            out
        }
        "decisions.cost" if f.severity != Severity::Info => recipe.cost_threshold(),
        _ if id.starts_with("calibration.") => recipe.temperature(f),
        "model.lowercasing" => recipe.cased(),
        "model.truncation" => recipe.longer_inputs(f.numbers.get("max_length").map(|l| *l as u64)),
        _ if id.starts_with("slice.label.") && recipe.task == Some(TaskKind::Sequence) => {
            recipe.balanced()
        }
        _ if multilabel && id.starts_with("recall.") => {
            let mut out = recipe.tuned_thresholds();
            out.extend(recipe.balanced());
            out
        }
        _ if multilabel && (id.starts_with("threshold.") || id.starts_with("precision.")) => {
            recipe.tuned_thresholds()
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::finding;

    fn f(id: &str, title: &str) -> Finding {
        finding(id.into(), Severity::High, "area", title.into())
    }

    fn names(r: &[Remedy]) -> Vec<&str> {
        r.iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn underfit_proposes_longer_faster_and_without_dropout_relative_to_the_recipe() {
        let recipe = Recipe {
            task: Some(TaskKind::Sequence),
            train: Some(json!({"epochs": 3, "learning_rate": 5e-5})),
            ..Recipe::default()
        };
        let r = remedies_for(&f("training.underfit", "x"), &recipe);
        assert_eq!(
            names(&r),
            ["longer training", "higher learning rate", "no dropout"]
        );
        assert_eq!(r[0].set["train.epochs"], json!(6));
        assert_eq!(r[1].set["train.learning_rate"], json!(1e-4));
        assert_eq!(r[2].set["train.dropout"], json!(0.0));
        // Dropout already off, steps capped: neither is proposed again.
        let capped = Recipe {
            train: Some(json!({"epochs": 3, "max_steps": 100, "dropout": 0.0})),
            ..recipe.clone()
        };
        assert_eq!(
            names(&remedies_for(&f("training.underfit", "x"), &capped)),
            ["higher learning rate"]
        );
        // Dev still rising: more epochs only; levelled off: nothing.
        let rising = remedies_for(
            &f("training.curve", "dev was still rising at the end"),
            &recipe,
        );
        assert_eq!(names(&rising), ["longer training"]);
        assert!(remedies_for(&f("training.curve", "levelled off"), &recipe).is_empty());
    }

    #[test]
    fn a_multilabel_underfit_or_collapse_also_weights_positives_and_tunes_thresholds() {
        let ml = Recipe {
            task: Some(TaskKind::Multilabel),
            train: Some(json!({"epochs": 3, "learning_rate": 5e-5})),
            evaluate: Some(json!({"tune_thresholds": false})),
            ..Recipe::default()
        };
        let all = [
            "longer training",
            "higher learning rate",
            "no dropout",
            "balanced class weights",
            "thresholds tuned on dev",
        ];
        for id in ["training.underfit", "training.collapsed"] {
            let r = remedies_for(&f(id, "x"), &ml);
            assert_eq!(names(&r), all, "{id}");
            assert_eq!(r[3].set["train.class_weights"], json!("balanced"));
            assert_eq!(r[4].set["evaluate.tune_thresholds"], json!(true));
        }
        // What the recipe already does is not proposed again.
        let done = Recipe {
            train: Some(json!({"epochs": 3, "dropout": 0.0, "class_weights": "balanced"})),
            evaluate: Some(json!({"tune_thresholds": true})),
            ..ml.clone()
        };
        assert_eq!(
            names(&remedies_for(&f("training.collapsed", "x"), &done)),
            ["longer training", "higher learning rate"]
        );
        // Single-label underfitting keeps the training-fit remedies only.
        let seq = Recipe {
            task: Some(TaskKind::Sequence),
            ..ml
        };
        assert_eq!(
            names(&remedies_for(&f("training.underfit", "x"), &seq)),
            ["longer training", "higher learning rate", "no dropout"]
        );
    }

    #[test]
    fn each_cause_gets_its_own_remedy_and_none_that_is_already_the_recipe() {
        let seq = Recipe {
            task: Some(TaskKind::Sequence),
            train: Some(json!({"class_weights": "balanced"})),
            tokenize: Some(json!({"max_length": 128})),
            train_support: BTreeMap::from([("refund".to_string(), 30), ("other".to_string(), 300)]),
            ..Recipe::default()
        };
        let mut trunc = f("model.truncation", "cut");
        trunc.numbers.insert("max_length".into(), 32.0);
        assert_eq!(
            remedies_for(&trunc, &seq)[0].set["tokenize.max_length"],
            json!(64)
        );
        assert_eq!(
            remedies_for(&f("model.truncation", "cut"), &seq)[0].set["tokenize.max_length"],
            json!(256)
        );
        assert!(remedies_for(&f("slice.label.refund", "weak"), &seq).is_empty());
        let unweighted = Recipe {
            train: Some(json!({})),
            ..seq.clone()
        };
        assert_eq!(
            names(&remedies_for(&f("slice.label.refund", "weak"), &unweighted)),
            ["balanced class weights"]
        );
        // Balanced classes (CLINC150: 100 each): weights would change nothing.
        let even = Recipe {
            train_support: BTreeMap::from([("a".to_string(), 100), ("b".to_string(), 100)]),
            ..unweighted.clone()
        };
        assert!(remedies_for(&f("slice.label.a", "weak"), &even).is_empty());
        let ml = Recipe {
            task: Some(TaskKind::Multilabel),
            train: Some(json!({})),
            evaluate: Some(json!({"tune_thresholds": false})),
            ..Recipe::default()
        };
        assert_eq!(
            names(&remedies_for(&f("recall.fear", "missed"), &ml)),
            ["thresholds tuned on dev", "balanced class weights"]
        );
        let tuned = Recipe {
            evaluate: Some(json!({"tune_thresholds": true})),
            ..ml
        };
        assert!(remedies_for(&f("threshold.fear", "x"), &tuned).is_empty());
        assert!(remedies_for(&f("model.lowercasing", "case"), &seq).is_empty());
        let constant = f(
            "decisions.cost",
            "Under the cost matrix the model decides `good` for all 150 test examples: its least-expected-cost decision is a constant policy",
        );
        assert_eq!(
            names(&remedies_for(&constant, &unweighted)),
            ["longer training", "higher learning rate"]
        );
        // Under a cost matrix the decision rule comes first: no retraining.
        let costed = Recipe {
            evaluate: Some(json!({"cost_matrix": {"bad": {"good": 5.0}}, "positive_label": "bad"})),
            train_support: BTreeMap::from([("good".to_string(), 490), ("bad".to_string(), 210)]),
            ..unweighted.clone()
        };
        let tries = remedies_for(&constant, &costed);
        assert_eq!(
            names(&tries),
            [
                "cost threshold tuned on dev",
                "longer training",
                "higher learning rate"
            ]
        );
        assert_eq!(tries[0].set["evaluate.tune_cost_threshold"], json!(true));
        let mut cheaper = f(
            "decisions.cost",
            "The baseline's decisions cost significantly less",
        );
        cheaper.severity = Severity::High;
        assert_eq!(
            names(&remedies_for(&cheaper, &costed)),
            ["cost threshold tuned on dev"]
        );
        let mut fine = f("decisions.cost", "Least-expected-cost decisions cost 0.4");
        fine.severity = Severity::Info;
        assert!(remedies_for(&fine, &costed).is_empty());
        // Already decided by a tuned threshold, or not binary: nothing to add.
        let tuned = Recipe {
            evaluate: Some(
                json!({"cost_matrix": {"bad": {"good": 5.0}}, "tune_cost_threshold": true}),
            ),
            ..costed.clone()
        };
        assert!(remedies_for(&cheaper, &tuned).is_empty());
        let three = Recipe {
            train_support: BTreeMap::from([("a".into(), 1), ("b".into(), 1), ("c".into(), 1)]),
            ..costed
        };
        assert!(remedies_for(&cheaper, &three).is_empty());
    }

    #[test]
    fn a_measurable_temperature_gain_proposes_the_temperature_once() {
        let seq = Recipe {
            task: Some(TaskKind::Sequence),
            evaluate: Some(json!({})),
            ..Recipe::default()
        };
        let cal = |t: f64, after: f64| {
            let mut c = f("calibration.word", "example-level ECE is 0.080");
            c.ci = Some([0.06, 0.10]);
            c.numbers.insert("temperature".into(), t);
            c.numbers.insert("ece_after_temperature".into(), after);
            c
        };
        let r = remedies_for(&cal(1.6, 0.02), &seq);
        assert_eq!(names(&r), ["temperature fitted on dev"]);
        assert_eq!(r[0].set["evaluate.temperature"], json!(true));
        // Inside the interval, T about 1, already applied, no fit: nothing.
        assert!(remedies_for(&cal(1.6, 0.07), &seq).is_empty());
        assert!(remedies_for(&cal(1.02, 0.01), &seq).is_empty());
        let applied = Recipe {
            evaluate: Some(json!({"temperature": true})),
            ..seq.clone()
        };
        assert!(remedies_for(&cal(1.6, 0.02), &applied).is_empty());
        // A multi-label label's finding proposes it too (evaluate fits one T per label).
        let ml = Recipe {
            task: Some(TaskKind::Multilabel),
            ..seq.clone()
        };
        let mut joy = cal(1.6, 0.02);
        joy.id = "calibration.joy".into();
        assert_eq!(
            names(&remedies_for(&joy, &ml)),
            ["temperature fitted on dev"]
        );
        assert!(remedies_for(&f("calibration.word", "x"), &seq).is_empty());
    }

    fn model_dir(
        root: &Path,
        name: &str,
        tokenizer: Option<Value>,
        config: Option<Value>,
    ) -> PathBuf {
        let d = root.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("config.json"), "{}").unwrap();
        std::fs::write(d.join("model.safetensors"), "").unwrap();
        match tokenizer {
            Some(t) => std::fs::write(d.join("tokenizer.json"), t.to_string()).unwrap(),
            None => std::fs::write(d.join("vocab.txt"), "[PAD]\n").unwrap(),
        }
        if let Some(c) = config {
            std::fs::write(d.join("tokenizer_config.json"), c.to_string()).unwrap();
        }
        d
    }

    #[test]
    fn a_case_blind_tokenizer_proposes_the_cased_models_installed_beside_it() {
        let root = tempfile::tempdir().unwrap();
        let bert =
            |lower: bool| json!({"normalizer": {"type": "BertNormalizer", "lowercase": lower}});
        let current = model_dir(root.path(), "minilm", Some(bert(true)), None);
        let recipe = |cased: Vec<PathBuf>| Recipe {
            task: Some(TaskKind::Token),
            train: Some(json!({"model": current.display().to_string()})),
            cased_models: cased,
            ..Recipe::default()
        };
        // Nothing cased installed: no remedy, and the action says so.
        let empty = recipe(Vec::new()).with_installed_models();
        assert!(empty.cased_models.is_empty());
        let mut found = vec![f("model.lowercasing", "case")];
        attach(&mut found, &empty);
        assert!(found[0].remedies.is_empty());
        assert!(
            found[0].action.contains("No cased model is installed"),
            "{}",
            found[0].action
        );
        // A sequence normalizer with a Lowercase step is case-blind too; byte-level BPE (no
        // normalizer) and a vocab.txt with do_lower_case = false keep case; a folder without
        // weights is no model.
        model_dir(
            root.path(),
            "lower-seq",
            Some(
                json!({"normalizer": {"type": "Sequence", "normalizers": [{"type": "NFD"}, {"type": "Lowercase"}]}}),
            ),
            None,
        );
        let cased = model_dir(root.path(), "bert-cased", Some(bert(false)), None);
        let roberta = model_dir(
            root.path(),
            "roberta",
            Some(json!({"normalizer": null})),
            None,
        );
        let wordpiece = model_dir(
            root.path(),
            "wp-cased",
            None,
            Some(json!({"do_lower_case": false})),
        );
        model_dir(root.path(), "wp-uncased", None, None);
        let no_weights = model_dir(root.path(), "no-weights", Some(bert(false)), None);
        std::fs::remove_file(no_weights.join("model.safetensors")).unwrap();
        assert_eq!(lowercases(&current), Some(true));
        assert_eq!(lowercases(&root.path().join("lower-seq")), Some(true));
        assert_eq!(lowercases(&root.path().join("wp-uncased")), Some(true));
        assert_eq!(lowercases(&root.path().join("nothing")), None);
        let installed = recipe(Vec::new()).with_installed_models();
        assert_eq!(installed.cased_models, [cased.clone(), roberta, wordpiece]);
        let r = remedies_for(&f("model.lowercasing", "case"), &installed);
        assert_eq!(
            names(&r),
            [
                "cased model bert-cased",
                "cased model roberta",
                "cased model wp-cased"
            ]
        );
        let path = json!(cased.display().to_string());
        assert_eq!(r[0].set["train.model"], path);
        assert_eq!(r[0].set["tokenize.tokenizer"], path);
    }
}
