//! Test helpers: small ingest artifacts written by a stand-in ingest stage, and running the
//! baseline stage on them.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, LargeListBuilder, LargeStringArray, LargeStringBuilder, RecordBatch, StringArray,
};
use flowcore::stage::{InputSpec, Resolved, StageContext, StageOutcome};
use flowcore::{Artifact, Globals, LabelMap, Stage, TaskKind};
use parquet::arrow::ArrowWriter;

/// The files of one split.
enum Split {
    Sequence(Vec<(String, String)>),
    Token(Vec<(Vec<String>, Vec<String>)>),
    /// A sequence split without its `label` column.
    NoLabel(Vec<String>),
}

/// A stand-in ingest stage that writes fixed splits (with polars-style large types).
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

fn write(path: &std::path::Path, columns: Vec<(&str, ArrayRef)>) {
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

fn large_lists(rows: impl Iterator<Item = Vec<String>>) -> ArrayRef {
    let mut b = LargeListBuilder::new(LargeStringBuilder::new());
    for row in rows {
        for v in row {
            b.values().append_value(v);
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

impl Stage for FakeIngest {
    fn kind(&self) -> &'static str {
        "ingest"
    }
    fn version(&self) -> u32 {
        1
    }
    fn inputs(&self) -> &'static [InputSpec] {
        &[]
    }
    fn resolve(&self, raw: &serde_json::Value, _: &Globals) -> flowcore::Result<Resolved> {
        Ok(Resolved {
            params: raw.clone(),
            raw_inputs: Vec::new(),
        })
    }
    fn run(&self, ctx: &StageContext<'_>) -> anyhow::Result<StageOutcome> {
        LabelMap::new(self.task, self.labels.clone()).write(&ctx.out_dir.join("labels.json"))?;
        for (name, split) in &self.splits {
            let path = ctx.out_dir.join(format!("{name}.parquet"));
            let ids = |n: usize| -> ArrayRef {
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| format!("{name}-{i}")),
                ))
            };
            match split {
                Split::Sequence(rows) => write(
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
                Split::Token(rows) => write(
                    &path,
                    vec![
                        ("id", ids(rows.len())),
                        ("doc_id", ids(rows.len())),
                        ("tokens", large_lists(rows.iter().map(|r| r.0.clone()))),
                        ("tags", large_lists(rows.iter().map(|r| r.1.clone()))),
                    ],
                ),
                Split::NoLabel(texts) => write(
                    &path,
                    vec![
                        ("id", ids(texts.len())),
                        ("text", Arc::new(StringArray::from_iter_values(texts))),
                    ],
                ),
            }
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
            &stage,
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
