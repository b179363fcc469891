//! The stage end to end through the artifact store, and its bad-input errors.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use flowcore::stage::run_standalone;
use flowcore::{Globals, LabelMap, StageContext, StageOutcome, TaskKind};
use testkit::{FakeStage, write_batch};
use tokenize::stage::encode_token_split;
use tokenize::table::TokenExample;
use tokenize::{EncodeOptions, Encoder, TokenizeStage, read_split};

use crate::util::{model_dir, write_token_table};

type Rows = Vec<(&'static str, Vec<&'static str>, Vec<&'static str>)>;

/// What the stand-in ingest stage writes: the given tables and label map.
struct FakeIngest {
    labels: LabelMap,
    token_rows: Rows,
    texts: Vec<(&'static str, &'static str, &'static str)>,
}

impl FakeIngest {
    /// Writes the ingest artifact's files (the run of the stand-in ingest stage).
    fn write_artifact(&self, ctx: &StageContext<'_>) -> anyhow::Result<StageOutcome> {
        self.labels.write(&ctx.out_dir.join("labels.json"))?;
        for split in ["train", "dev"] {
            let path = ctx.out_dir.join(format!("{split}.parquet"));
            match self.labels.task {
                TaskKind::Token => write_token_table(&path, &self.token_rows, split == "dev"),
                TaskKind::Multilabel => {
                    anyhow::bail!("the stand-in ingest writes token and sequence tables")
                }
                TaskKind::Sequence => {
                    let col = |k: usize| -> arrow::array::ArrayRef {
                        Arc::new(StringArray::from_iter_values(
                            self.texts.iter().map(|r| [r.0, r.1, r.2][k]),
                        ))
                    };
                    let schema = Arc::new(Schema::new(vec![
                        Field::new("id", DataType::Utf8, false),
                        Field::new("text", DataType::Utf8, false),
                        Field::new("label", DataType::Utf8, false),
                    ]));
                    let batch = RecordBatch::try_new(schema, vec![col(0), col(1), col(2)])?;
                    write_batch(&path, &batch)?;
                }
            }
        }
        Ok(StageOutcome::default())
    }
}

fn token_labels() -> LabelMap {
    LabelMap::new(
        TaskKind::Token,
        ["O", "B-LOC", "I-LOC"].map(String::from).to_vec(),
    )
}

fn rows() -> Rows {
    vec![
        (
            "s1",
            vec!["I", "live", "in", "New", "York"],
            vec!["O", "O", "O", "B-LOC", "I-LOC"],
        ),
        ("s2", vec!["Café", "in", "北京"], vec!["O", "O", "B-LOC"]),
        (
            "s3",
            "a b c d e f g h i j k l m n o p q r s t u v w x y z"
                .split(' ')
                .collect(),
            vec!["O"; 26],
        ),
    ]
}

fn ingest(root: &Path, fake: FakeIngest) -> PathBuf {
    let globals = Globals {
        pipeline: "t".into(),
        ..Globals::default()
    };
    run_standalone(
        &FakeStage::new("ingest", |ctx| fake.write_artifact(ctx)),
        root,
        "ingest",
        &serde_json::json!({}),
        &globals,
        &[],
        false,
    )
    .unwrap()
    .artifact
    .dir
}

fn tokenize(
    root: &Path,
    ingest_dir: &Path,
    params: serde_json::Value,
) -> flowcore::Result<flowcore::stage::Executed> {
    let globals = Globals {
        pipeline: "t".into(),
        task: None,
        model: Some(model_dir()),
    };
    run_standalone(
        &TokenizeStage,
        root,
        "tokenize",
        &params,
        &globals,
        &[ingest_dir.to_path_buf()],
        false,
    )
}

#[test]
fn token_task_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ingest(
        tmp.path(),
        FakeIngest {
            labels: token_labels(),
            token_rows: rows(),
            texts: vec![],
        },
    );
    let done = tokenize(
        tmp.path(),
        &dir,
        serde_json::json!({"max_length": 12, "stride": 3}),
    )
    .unwrap();
    assert!(done.ran);
    let art = &done.artifact;
    for f in [
        "train.parquet",
        "dev.parquet",
        "tokenizer.json",
        "encoding.json",
        "labels.json",
    ] {
        assert!(art.has(f), "{f} missing");
    }
    let train = read_split(&art.dir, "train").unwrap();
    let metrics = &art.manifest.metrics["splits"]["train"];
    assert_eq!(metrics["examples"], 3);
    assert_eq!(metrics["words_lost"], 0);
    assert_eq!(metrics["windows"], train.len() as u64);
    assert!(metrics["examples_split"].as_u64().unwrap() >= 1);
    assert_eq!(
        art.manifest.file("train.parquet").unwrap().rows,
        Some(train.len() as u64)
    );
    // dev was written with large_list columns and must encode identically
    assert_eq!(read_split(&art.dir, "dev").unwrap(), train);
    // "New York": B-LOC on "new", I-LOC on "york"
    assert_eq!(train[0].labels, vec![-100, 0, 0, 0, 1, 2, -100]);
    // the raw inputs hashed are the tokenizer file only, not the weights
    let raw: Vec<_> = art
        .manifest
        .raw_inputs
        .iter()
        .map(|r| r.path.file_name().unwrap().to_owned())
        .collect();
    assert_eq!(raw, vec![std::ffi::OsString::from("tokenizer.json")]);
    // prediction-time encoder rebuilt from the artifact encodes the same windows
    let enc = Encoder::from_artifact(&art.dir).unwrap();
    assert_eq!(enc.options().max_length, 12);
    let words: Vec<String> = rows()[2].1.iter().map(|s| s.to_string()).collect();
    let again = enc.encode_words("s3", &words).unwrap();
    let stored: Vec<_> = train.iter().filter(|w| w.id == "s3").collect();
    assert_eq!(again.len(), stored.len());
    for (a, b) in again.iter().zip(stored) {
        assert_eq!(
            (&a.input_ids, &a.word_ids, a.centre()),
            (&b.input_ids, &b.word_ids, b.centre())
        );
    }
    // same inputs, same params: skipped
    let again = tokenize(
        tmp.path(),
        &dir,
        serde_json::json!({"max_length": 12, "stride": 3}),
    )
    .unwrap();
    assert!(!again.ran);
}

#[test]
fn sequence_task_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let long = "this text is far too long for a window of sixteen sub words in total";
    let dir = ingest(
        tmp.path(),
        FakeIngest {
            labels: LabelMap::new(TaskKind::Sequence, vec!["bad".into(), "good".into()]),
            token_rows: vec![],
            texts: vec![("a", "fine", "good"), ("b", long, "bad")],
        },
    );
    let done = tokenize(tmp.path(), &dir, serde_json::json!({"max_length": 16})).unwrap();
    let train = read_split(&done.artifact.dir, "train").unwrap();
    assert_eq!(
        train.iter().map(|w| w.label).collect::<Vec<_>>(),
        vec![Some(1), Some(0)]
    );
    assert_eq!(train[1].length, 16);
    assert_eq!(
        done.artifact.manifest.metrics["splits"]["train"]["truncated"],
        1
    );
}

#[test]
fn unknown_label_names_example_and_label() {
    let tmp = tempfile::tempdir().unwrap();
    let mut bad = rows();
    bad[1].2 = vec!["O", "O", "B-PLACE"];
    let dir = ingest(
        tmp.path(),
        FakeIngest {
            labels: token_labels(),
            token_rows: bad,
            texts: vec![],
        },
    );
    let err = tokenize(tmp.path(), &dir, serde_json::json!({})).unwrap_err();
    let msg = format!("{:#}", anyhow::Error::from(err));
    assert!(
        msg.contains("example `s2`") && msg.contains("label `B-PLACE`"),
        "{msg}"
    );
}

#[test]
fn missing_or_broken_tokenizer_names_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ingest(
        tmp.path(),
        FakeIngest {
            labels: token_labels(),
            token_rows: rows(),
            texts: vec![],
        },
    );
    let empty = tmp.path().join("no-model");
    std::fs::create_dir(&empty).unwrap();
    let err = tokenize(tmp.path(), &dir, serde_json::json!({"tokenizer": empty})).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("tokenizer") && msg.contains("no-model") && msg.contains("vocab.txt"),
        "{msg}"
    );

    let broken = tmp.path().join("tokenizer.json");
    std::fs::write(&broken, "{ not json").unwrap();
    let err = Encoder::from_model_dir(&broken, EncodeOptions::default()).unwrap_err();
    let msg = format!("{:#}", anyhow::Error::from(err));
    assert!(
        msg.contains(&broken.display().to_string()) && msg.contains("cannot load tokenizer"),
        "{msg}"
    );
}

#[test]
fn empty_words_are_counted_rejects_and_output_is_thread_count_independent() {
    let enc = Encoder::from_model_dir(&model_dir(), EncodeOptions::new(10)).unwrap();
    let mut examples: Vec<TokenExample> = (0..300)
        .map(|i| TokenExample {
            id: format!("e{i}"),
            words: (0..(i % 17 + 1))
                .map(|j| format!("w{}", (i * 7 + j) % 23))
                .collect(),
            tags: Some(vec!["O".into(); i % 17 + 1]),
        })
        .collect();
    examples[5].words[0] = " ".into();
    examples[6].words.clear();
    examples[6].tags = Some(vec![]);
    let labels = token_labels();
    let run = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| encode_token_split(&enc, &labels, &examples).unwrap())
    };
    let (one, report) = run(1);
    let (four, _) = run(4);
    assert_eq!(one, four);
    assert_eq!(report.rejected_empty_words, 2);
    assert_eq!(report.words.words_lost, 0);
    assert!(!one.iter().any(|w| w.id == "e5" || w.id == "e6"));
}
