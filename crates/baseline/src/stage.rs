//! The `baseline` pipeline stage: read the ingest splits, run every chosen model, write the
//! predictions, metrics and a text report.
//!
//! Files written:
//! - `predictions-<split>.parquet` (dev, test): the primary model, in the evaluate stage's
//!   schema, so reflect compares BERT against it;
//! - `predictions-<model>-<split>.parquet`: every other model;
//! - `labels.json`: the label order of the probability vectors;
//! - `metrics.json`: per model, per split scores and training / prediction times, plus an
//!   audit of labels the training data never showed;
//! - `report.txt`: the same, for people.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::Context as _;
use flowcore::schema::{self, predictions as pred_schema};
use flowcore::stage::{InputSpec, Resolved, StageContext, StageOutcome};
use flowcore::{Globals, LabelMap, Stage, TaskKind};

use crate::data::{read_multilabel, read_sequence, read_token};
use crate::models::{Labels, ModelRun, run_multilabel, run_sequence, run_token};
use crate::params::BaselineParams;
use crate::scores;

/// Splits the models are evaluated on.
pub const EVAL_SPLITS: [&str; 2] = ["dev", "test"];

/// The classical-baselines stage (kind `"baseline"`).
#[derive(Debug, Clone, Copy, Default)]
pub struct BaselineStage;

/// Gold labels of an evaluation split that the models cannot know about.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct LabelAudit {
    /// Examples (sequence task) or words (token task) in the split.
    pub units: usize,
    /// Per label: how many units carry a gold label that never occurs in train.
    pub unseen_in_train: BTreeMap<String, usize>,
    /// Per label: how many units carry a gold label missing from the ingest `labels.json`
    /// (appended to the label list so the predictions file can still hold it).
    pub not_in_labels_json: BTreeMap<String, usize>,
}

impl LabelAudit {
    fn count(&mut self, label: &str, in_train: bool, in_json: bool) {
        self.units += 1;
        if !in_train {
            *self.unseen_in_train.entry(label.to_string()).or_default() += 1;
        }
        if !in_json {
            *self
                .not_in_labels_json
                .entry(label.to_string())
                .or_default() += 1;
        }
    }
}

/// The file name of a model's predictions: the primary model's are the stage's
/// `predictions-<split>.parquet`.
pub fn predictions_file(model: &str, primary: bool, split: &str) -> String {
    if primary {
        pred_schema::file(split)
    } else {
        pred_schema::file(&format!("{model}-{split}"))
    }
}

impl Stage for BaselineStage {
    fn kind(&self) -> &'static str {
        "baseline"
    }

    fn version(&self) -> u32 {
        1
    }

    fn inputs(&self) -> &'static [InputSpec] {
        &[InputSpec {
            kind: "ingest",
            required: true,
        }]
    }

    fn resolve(&self, raw: &serde_json::Value, globals: &Globals) -> flowcore::Result<Resolved> {
        let params: BaselineParams = flowcore::params::parse(raw)?;
        let params = params.resolve(globals.task)?;
        Ok(Resolved {
            params: flowcore::params::to_value(&params)?,
            raw_inputs: Vec::new(),
        })
    }

    fn run(&self, ctx: &StageContext<'_>) -> anyhow::Result<StageOutcome> {
        let params: BaselineParams = ctx.params()?;
        let params = params.resolve(ctx.globals.task)?;
        let task = params.task.context("resolved params carry the task kind")?;
        let primary = params
            .primary
            .context("resolved params carry the primary model")?;
        let ingest = ctx.input("ingest")?;
        let labels_path = ingest.dir.join(schema::LABELS_FILE);
        let label_map = LabelMap::read(&labels_path)?;
        anyhow::ensure!(
            label_map.task == task,
            "{}: labels are for a {} task, but the baseline runs a {task} task",
            labels_path.display(),
            label_map.task
        );
        let split_path = |split: &str| ingest.dir.join(schema::split_file(split));
        let mut labels = Labels::new(label_map.labels.iter().cloned());
        let mut audits: BTreeMap<String, LabelAudit> = BTreeMap::new();
        let runs: Vec<ModelRun> = match task {
            TaskKind::Sequence => {
                let train = read_sequence(&split_path("train"))?;
                let evals: Vec<_> = EVAL_SPLITS
                    .iter()
                    .map(|s| read_sequence(&split_path(s)).map(|xs| (*s, xs)))
                    .collect::<Result<_, _>>()?;
                let seen: std::collections::HashSet<&str> =
                    train.iter().map(|e| e.label.as_str()).collect();
                for e in &train {
                    labels.add(&e.label);
                }
                for (split, xs) in &evals {
                    let audit = audits.entry((*split).to_string()).or_default();
                    for e in xs {
                        audit.count(
                            &e.label,
                            seen.contains(e.label.as_str()),
                            label_map.id(&e.label).is_some(),
                        );
                        labels.add(&e.label);
                    }
                }
                let evals: Vec<_> = evals.iter().map(|(s, xs)| (*s, xs.as_slice())).collect();
                run_sequence(&params, &labels, &train, &evals)?
            }
            TaskKind::Multilabel => {
                let train = read_multilabel(&split_path("train"))?;
                let evals: Vec<_> = EVAL_SPLITS
                    .iter()
                    .map(|s| read_multilabel(&split_path(s)).map(|xs| (*s, xs)))
                    .collect::<Result<_, _>>()?;
                let evals: Vec<_> = evals.iter().map(|(s, xs)| (*s, xs.as_slice())).collect();
                run_multilabel(&params, &label_map.labels, &train, &evals)?
            }
            TaskKind::Token => {
                let train = read_token(&split_path("train"))?;
                let evals: Vec<_> = EVAL_SPLITS
                    .iter()
                    .map(|s| read_token(&split_path(s)).map(|xs| (*s, xs)))
                    .collect::<Result<_, _>>()?;
                let seen: std::collections::HashSet<&str> = train
                    .iter()
                    .flat_map(|e| e.tags.iter().map(String::as_str))
                    .collect();
                for t in train.iter().flat_map(|e| &e.tags) {
                    labels.add(t);
                }
                for (split, xs) in &evals {
                    let audit = audits.entry((*split).to_string()).or_default();
                    for t in xs.iter().flat_map(|e| &e.tags) {
                        audit.count(t, seen.contains(t.as_str()), label_map.id(t).is_some());
                        labels.add(t);
                    }
                }
                let evals: Vec<_> = evals.iter().map(|(s, xs)| (*s, xs.as_slice())).collect();
                run_token(&params, &labels, &train, &evals)?
            }
        };
        for (split, audit) in &audits {
            let unseen: usize = audit.unseen_in_train.values().sum();
            if unseen > 0 {
                tracing::warn!(
                    split,
                    units = unseen,
                    labels = ?audit.unseen_in_train.keys().collect::<Vec<_>>(),
                    "gold labels never seen in train: no model can predict them"
                );
            }
        }

        let out_map = LabelMap::new(task, labels.names.clone());
        out_map.write(&ctx.out_dir.join(schema::LABELS_FILE))?;
        let mut rows = BTreeMap::new();
        let mut models_json = serde_json::Map::new();
        let mut manifest_models = serde_json::Map::new();
        let mut report = String::new();
        let _ = writeln!(
            report,
            "Baselines ({task} task), trained on train and evaluated on {}; primary: {primary}\n",
            EVAL_SPLITS.join(", ")
        );
        for run in &runs {
            let name = run.model.name();
            let mut per_split = serde_json::Map::new();
            let mut headline = serde_json::Map::new();
            for (split, predictions) in &run.predictions {
                let file = predictions_file(name, run.model == primary, split);
                let path = ctx.out_dir.join(&file);
                predictions
                    .write(&path)
                    .with_context(|| format!("writing {}", path.display()))?;
                rows.insert(file, predictions.rows.len() as u64);
                let summary = scores::summarise(predictions, &params.metrics)
                    .with_context(|| format!("scoring {name} on {split}"))?;
                headline.insert(split.clone(), scores::headline(&summary));
                let _ = writeln!(
                    report,
                    "== {name}{} / {split} ==\n{}",
                    if run.model == primary {
                        " (primary)"
                    } else {
                        ""
                    },
                    summary.report
                );
                per_split.insert(split.clone(), serde_json::to_value(&summary.metrics)?);
            }
            let _ = writeln!(
                report,
                "{name}: trained in {:.2} s, predicted in {:.2} s\n",
                run.train_seconds, run.predict_seconds
            );
            let mut entry = serde_json::Map::new();
            entry.insert("train_seconds".into(), run.train_seconds.into());
            entry.insert("predict_seconds".into(), run.predict_seconds.into());
            entry.insert("details".into(), run.details.clone());
            let mut manifest_entry = entry.clone();
            manifest_entry.insert("scores".into(), headline.into());
            entry.insert("splits".into(), per_split.into());
            models_json.insert(name.into(), entry.into());
            manifest_models.insert(name.into(), manifest_entry.into());
        }
        let audit_json = serde_json::to_value(&audits)?;
        if audits.values().any(|a| !a.unseen_in_train.is_empty()) {
            let _ = writeln!(report, "Gold labels never seen in train (units per label):");
            for (split, audit) in &audits {
                for (label, n) in &audit.unseen_in_train {
                    let _ = writeln!(report, "  {split}: {label}: {n}");
                }
            }
        }
        let metrics_json = serde_json::json!({
            "task": task,
            "primary": primary,
            "labels": labels.names,
            "models": models_json,
            "label_audit": audit_json,
        });
        let metrics_path = ctx.out_dir.join(pred_schema::METRICS_FILE);
        fs_err::write(
            &metrics_path,
            serde_json::to_string_pretty(&metrics_json)? + "\n",
        )?;
        fs_err::write(ctx.out_dir.join(pred_schema::REPORT_FILE), &report)?;
        Ok(StageOutcome {
            metrics: serde_json::json!({
                "primary": primary,
                "models": manifest_models,
                "label_audit": audit_json,
            }),
            rows,
        })
    }
}
