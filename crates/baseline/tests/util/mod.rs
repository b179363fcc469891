//! Test helpers: small ingest artifacts written by a stand-in ingest stage, and running the
//! baseline stage on them.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{ArrayRef, LargeStringArray, StringArray};
use flowcore::stage::{StageContext, StageOutcome};
use flowcore::{Artifact, Globals, LabelMap, TaskKind};
use testkit::{FakeStage, string_lists, write_parquet};

/// The files of one split.
enum Split {
    Sequence(Vec<(String, String)>),
    Token(Vec<(Vec<String>, Vec<String>)>),
    /// A sequence split without its `label` column.
    NoLabel(Vec<String>),
}

/// The splits a stand-in ingest stage writes (with polars-style large types).
struct FakeIngest {
    task: TaskKind,
    labels: Vec<String>,
    splits: Vec<(&'static str, Split)>,
}

/// An ingest artifact in a temp dir.
pub struct IngestFixture {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
    /// The artifact directory.
    pub artifact: PathBuf,
    /// The task.
    pub task: TaskKind,
}

impl FakeIngest {
    /// Writes the ingest artifact's files (the run of the stand-in ingest stage).
    fn write_artifact(&self, ctx: &StageContext<'_>) -> anyhow::Result<StageOutcome> {
        LabelMap::new(self.task, self.labels.clone()).write(&ctx.out_dir.join("labels.json"))?;
        for (name, split) in &self.splits {
            let path = ctx.out_dir.join(format!("{name}.parquet"));
            let ids = |n: usize| -> ArrayRef {
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| format!("{name}-{i}")),
                ))
            };
            match split {
                Split::Sequence(rows) => write_parquet(
                    &path,
                    vec![
                        ("id", ids(rows.len())),
                        (
                            "text",
                            Arc::new(LargeStringArray::from_iter_values(
                                rows.iter().map(|r| &r.0),
                            )),
                        ),
                        (
                            "label",
                            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.1))),
                        ),
                    ],
                ),
                Split::Token(rows) => write_parquet(
                    &path,
                    vec![
                        ("id", ids(rows.len())),
                        ("doc_id", ids(rows.len())),
                        ("tokens", string_lists(rows.iter().map(|r| &r.0), true)),
                        ("tags", string_lists(rows.iter().map(|r| &r.1), true)),
                    ],
                ),
                Split::NoLabel(texts) => write_parquet(
                    &path,
                    vec![
                        ("id", ids(texts.len())),
                        ("text", Arc::new(StringArray::from_iter_values(texts))),
                    ],
                ),
            }?;
        }
        Ok(StageOutcome::default())
    }
}

impl IngestFixture {
    fn build(stage: FakeIngest) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let globals = Globals {
            pipeline: "test".into(),
            task: Some(stage.task),
            model: None,
        };
        // A distinct param per fixture keeps fingerprints apart.
        let params = serde_json::json!({"fixture": dir.path().display().to_string()});
        let done = flowcore::stage::run_standalone(
            &FakeStage::new("ingest", |ctx| stage.write_artifact(ctx)),
            &dir.path().join("artifacts"),
            "ingest",
            &params,
            &globals,
            &[],
            false,
        )
        .unwrap();
        Self {
            artifact: done.artifact.dir,
            dir,
            task: stage.task,
        }
    }

    /// A sequence-task artifact.
    pub fn sequence(
        labels: &[&str],
        train: Vec<(String, String)>,
        dev: Vec<(String, String)>,
        test: Vec<(String, String)>,
    ) -> Self {
        Self::build(FakeIngest {
            task: TaskKind::Sequence,
            labels: labels.iter().map(|s| s.to_string()).collect(),
            splits: vec![
                ("train", Split::Sequence(train)),
                ("dev", Split::Sequence(dev)),
                ("test", Split::Sequence(test)),
            ],
        })
    }

    /// A token-task artifact.
    pub fn token(
        labels: &[&str],
        train: Vec<(Vec<String>, Vec<String>)>,
        dev: Vec<(Vec<String>, Vec<String>)>,
        test: Vec<(Vec<String>, Vec<String>)>,
    ) -> Self {
        Self::build(FakeIngest {
            task: TaskKind::Token,
            labels: labels.iter().map(|s| s.to_string()).collect(),
            splits: vec![
                ("train", Split::Token(train)),
                ("dev", Split::Token(dev)),
                ("test", Split::Token(test)),
            ],
        })
    }

    /// A sequence-task artifact whose splits lack the `label` column.
    pub fn raw_sequence_without_label() -> Self {
        let texts = vec!["a b".to_string(), "c d".to_string()];
        Self::build(FakeIngest {
            task: TaskKind::Sequence,
            labels: vec!["x".into()],
            splits: vec![
                ("train", Split::NoLabel(texts.clone())),
                ("dev", Split::NoLabel(texts.clone())),
                ("test", Split::NoLabel(texts)),
            ],
        })
    }
}

/// Run the baseline stage on a fixture.
pub fn try_run_baseline(
    fx: &IngestFixture,
    params: serde_json::Value,
) -> flowcore::Result<flowcore::stage::Executed> {
    let globals = Globals {
        pipeline: "test".into(),
        task: Some(fx.task),
        model: None,
    };
    flowcore::stage::run_standalone(
        &baseline::BaselineStage,
        &fx.dir.path().join("artifacts"),
        "baseline",
        &params,
        &globals,
        std::slice::from_ref(&fx.artifact),
        false,
    )
}

/// Run the baseline stage on a fixture, panicking on failure.
pub fn run_baseline(fx: &IngestFixture, params: serde_json::Value) -> Artifact {
    match try_run_baseline(fx, params) {
        Ok(done) => done.artifact,
        Err(err) => panic!("{:#}", anyhow::Error::from(err)),
    }
}

/// Run again even though the artifact exists.
pub fn run_baseline_forced(fx: &IngestFixture, params: serde_json::Value) -> Artifact {
    let globals = Globals {
        pipeline: "test".into(),
        task: Some(fx.task),
        model: None,
    };
    let done = flowcore::stage::run_standalone(
        &baseline::BaselineStage,
        &fx.dir.path().join("artifacts"),
        "baseline",
        &params,
        &globals,
        std::slice::from_ref(&fx.artifact),
        true,
    )
    .unwrap();
    assert!(done.ran);
    done.artifact
}

/// The entity-level micro F1 of a model on a split, from `metrics.json`.
pub fn entity_f1(art: &Artifact, model: &str, split: &str) -> f64 {
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(art.dir.join("metrics.json")).unwrap())
            .unwrap();
    let summary = &metrics["models"][model]["splits"][split];
    summary["entity"]["micro"]["f1"]
        .as_f64()
        .unwrap_or_else(|| panic!("no entity.micro.f1 in {summary}"))
}
