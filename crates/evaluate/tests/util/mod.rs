//! Test helpers: the pretrained model directory (for its tokenizer), stand-in ingest and
//! train stages that write tiny artifacts, and the real tokenize stage on top of them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use flowcore::stage::run_standalone;
use flowcore::{Globals, LabelMap, StageContext, StageOutcome, TaskKind};
pub use testkit::FakeStage;
use testkit::{string_lists, write_parquet};

/// The pretrained model directory (`make setup` unpacks it); only its tokenizer is used.
pub fn model_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/all-MiniLM-L6-v2");
    assert!(
        dir.join("tokenizer.json").is_file(),
        "{} is missing: run `make setup` (scripts/setup.sh) first",
        dir.display()
    );
    dir
}

pub fn globals() -> Globals {
    Globals {
        pipeline: "test".into(),
        ..Globals::default()
    }
}

/// Token-task labels in data order.
pub fn ner_labels() -> Vec<String> {
    ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
        .map(String::from)
        .to_vec()
}

/// A token-task example: (id, words, tags).
pub type TokenRow = (String, Vec<String>, Vec<String>);

fn row(id: &str, text: &str, tags: &str) -> TokenRow {
    let words: Vec<String> = text.split(' ').map(String::from).collect();
    let tags: Vec<String> = tags.split(' ').map(String::from).collect();
    assert_eq!(words.len(), tags.len(), "{id}");
    (id.into(), words, tags)
}

/// Small NER splits; `test` holds one long example that needs several windows at
/// `max_length` 16, punctuation, and entities that exist in train.
pub fn ner_splits() -> Vec<(&'static str, Vec<TokenRow>)> {
    let long_words = "Alice met Bob in Paris , then flew to London with Carol and visited Berlin , Rome and Madrid before going home to New York .";
    let long_tags = "B-PER O B-PER O B-LOC O O O O B-LOC O B-PER O O B-LOC O B-LOC O B-LOC O O O O B-LOC I-LOC O";
    vec![
        (
            "train",
            vec![
                row("tr1", "Alice lives in Paris .", "B-PER O O B-LOC O"),
                row(
                    "tr2",
                    "Bob Smith visited New York .",
                    "B-PER I-PER O B-LOC I-LOC O",
                ),
                row("tr3", "Carol went to Berlin", "B-PER O O B-LOC"),
            ],
        ),
        (
            "dev",
            vec![
                row("dv1", "Bob went to Rome .", "B-PER O O B-LOC O"),
                row("dv2", "Nothing here", "O O"),
            ],
        ),
        (
            "test",
            vec![
                row("te1", "Carol lives in London !", "B-PER O O B-LOC O"),
                row("te2", long_words, long_tags),
                row("te3", "Dave Jones saw Madrid", "B-PER I-PER O B-LOC"),
            ],
        ),
    ]
}

/// Stand-in for the ingest stage: writes the splits given in its params.
pub const FAKE_INGEST: FakeStage = FakeStage {
    kind: "ingest",
    run: fake_ingest,
};

fn fake_ingest(ctx: &StageContext<'_>) -> anyhow::Result<StageOutcome> {
    let task: TaskKind = serde_json::from_value(ctx.params["task"].clone())?;
    let labels: Vec<String> = serde_json::from_value(ctx.params["labels"].clone())?;
    LabelMap::new(task, labels).write(&ctx.out_dir.join("labels.json"))?;
    let splits = ctx.params["splits"].as_object().unwrap();
    for (split, rows) in splits {
        let path = ctx.out_dir.join(format!("{split}.parquet"));
        let rows = rows.as_array().unwrap();
        let ids: ArrayRef = Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r[0].as_str().unwrap().to_string()),
        ));
        match task {
            TaskKind::Token => {
                let list = |k: usize| {
                    string_lists(
                        rows.iter().map(move |r| {
                            serde_json::from_value::<Vec<String>>(r[k].clone()).unwrap()
                        }),
                        false,
                    )
                };
                write_parquet(
                    &path,
                    vec![("id", ids), ("tokens", list(1)), ("tags", list(2))],
                )?;
            }
            TaskKind::Sequence => {
                let col = |k: usize| -> ArrayRef {
                    Arc::new(StringArray::from_iter_values(
                        rows.iter().map(|r| r[k].as_str().unwrap().to_string()),
                    ))
                };
                write_parquet(
                    &path,
                    vec![("id", ids), ("text", col(1)), ("label", col(2))],
                )?;
            }
            TaskKind::Multilabel => {
                let text: ArrayRef = Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|r| r[1].as_str().unwrap().to_string()),
                ));
                let sets = string_lists(
                    rows.iter()
                        .map(|r| serde_json::from_value::<Vec<String>>(r[2].clone()).unwrap()),
                    false,
                );
                write_parquet(&path, vec![("id", ids), ("text", text), ("labels", sets)])?;
            }
        }
    }
    Ok(StageOutcome::default())
}

/// Stand-in for the train stage: tiny random `checkpoints/best` and `checkpoints/last` with
/// the labels given (in the order given).
pub const FAKE_TRAIN: FakeStage = FakeStage {
    kind: "train",
    run: fake_train,
};

fn fake_train(ctx: &StageContext<'_>) -> anyhow::Result<StageOutcome> {
    let task: TaskKind = serde_json::from_value(ctx.params["task"].clone())?;
    let labels: Vec<String> = serde_json::from_value(ctx.params["labels"].clone())?;
    let seed = ctx.params["seed"].as_i64().unwrap_or(0);
    let dir = ctx.out_dir.join("checkpoints");
    bert::write_tiny_random(&dir.join("best"), &model_dir(), task, &labels, seed)?;
    bert::write_tiny_random(&dir.join("last"), &model_dir(), task, &labels, seed + 1)?;
    Ok(StageOutcome::default())
}

/// The artifacts an evaluation reads.
pub struct Artifacts {
    pub _root: tempfile::TempDir,
    pub root: PathBuf,
    pub ingest: PathBuf,
    pub tokenize: PathBuf,
    pub train: PathBuf,
}

/// Ingest → tokenize (real stage, `max_length` 16) → train (tiny random model with
/// `model_labels`) for a task.
pub fn artifacts(
    task: TaskKind,
    data_labels: &[String],
    model_labels: &[String],
    splits: serde_json::Value,
) -> Artifacts {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("artifacts");
    let g = globals();
    let ingest = run_standalone(
        &FAKE_INGEST,
        &root,
        "ingest",
        &serde_json::json!({"task": task, "labels": data_labels, "splits": splits}),
        &g,
        &[],
        false,
    )
    .unwrap()
    .artifact
    .dir;
    let tokenize = run_standalone(
        &tokenize::TokenizeStage,
        &root,
        "tokenize",
        &serde_json::json!({"tokenizer": model_dir(), "max_length": 16}),
        &g,
        std::slice::from_ref(&ingest),
        false,
    )
    .unwrap()
    .artifact
    .dir;
    let train = run_standalone(
        &FAKE_TRAIN,
        &root,
        "train",
        &serde_json::json!({"task": task, "labels": model_labels, "seed": 7}),
        &g,
        &[],
        false,
    )
    .unwrap()
    .artifact
    .dir;
    Artifacts {
        _root: tmp,
        root,
        ingest,
        tokenize,
        train,
    }
}

/// NER artifacts whose checkpoint has `model_labels`.
pub fn ner_artifacts(model_labels: &[String]) -> Artifacts {
    let splits: serde_json::Map<String, serde_json::Value> = ner_splits()
        .into_iter()
        .map(|(s, rows)| (s.to_string(), serde_json::to_value(rows).unwrap()))
        .collect();
    artifacts(TaskKind::Token, &ner_labels(), model_labels, splits.into())
}

/// Sentiment artifacts.
pub fn sentiment_artifacts() -> Artifacts {
    let labels: Vec<String> = vec!["negative".into(), "positive".into()];
    let rows = |v: &[(&str, &str, &str)]| -> serde_json::Value {
        v.iter()
            .map(|(i, t, l)| serde_json::json!([i, t, l]))
            .collect()
    };
    let splits = serde_json::json!({
        "train": rows(&[("a", "Shares of Nokia rose sharply.", "positive"), ("b", "Profit at Elisa fell, the company said.", "negative")]),
        "dev": rows(&[("c", "Sales grew.", "positive"), ("d", "Losses widened!", "negative")]),
        "test": rows(&[("e", "Revenue at Fiskars jumped 20 percent.", "positive"), ("f", "The outlook, sadly, is weak.", "negative")]),
    });
    artifacts(TaskKind::Sequence, &labels, &labels, splits)
}

/// Intent labels with an out-of-scope label, `oos`.
pub fn intent_labels() -> Vec<String> {
    ["balance", "oos", "transfer", "weather"]
        .map(String::from)
        .to_vec()
}

/// Intent artifacts whose train split has no `oos` example (dev and test have some), scored
/// by a tiny random checkpoint with `model_labels` (with or without `oos`).
pub fn intent_artifacts(model_labels: &[String]) -> Artifacts {
    let rows = |v: &[(&str, &str, &str)]| -> serde_json::Value {
        v.iter()
            .map(|(i, t, l)| serde_json::json!([i, t, l]))
            .collect()
    };
    let splits = serde_json::json!({
        "train": rows(&[
            ("a", "what is my balance", "balance"),
            ("b", "send money to my savings", "transfer"),
            ("c", "will it rain today", "weather"),
        ]),
        "dev": rows(&[
            ("d1", "how much money do i have", "balance"),
            ("d2", "move 20 dollars to alex", "transfer"),
            ("d3", "is it sunny in paris", "weather"),
            ("d4", "tell me a joke", "oos"),
            ("d5", "who won the football game", "oos"),
            ("d6", "what is the balance of my account", "balance"),
        ]),
        "test": rows(&[
            ("t1", "check my balance please", "balance"),
            ("t2", "transfer money now", "transfer"),
            ("t3", "how cold is it outside", "weather"),
            ("t4", "sing me a song", "oos"),
            ("t5", "what is the capital of peru", "oos"),
        ]),
    });
    artifacts(TaskKind::Sequence, &intent_labels(), model_labels, splits)
}

/// Emotion labels of the multi-label tests.
pub fn emotion_labels() -> Vec<String> {
    ["anger", "joy", "sadness"].map(String::from).to_vec()
}

/// Multi-label artifacts: texts with zero, one or two emotions, scored by a tiny random
/// multi-label checkpoint.
pub fn emotion_artifacts() -> Artifacts {
    let rows = |v: &[(&str, &str, &[&str])]| -> serde_json::Value {
        v.iter()
            .map(|(i, t, l)| serde_json::json!([i, t, l]))
            .collect()
    };
    let splits = serde_json::json!({
        "train": rows(&[
            ("a", "i am so angry", &["anger"]),
            ("b", "what a lovely day", &["joy"]),
            ("c", "sad and furious", &["anger", "sadness"]),
            ("d", "the bus leaves at nine", &[]),
        ]),
        "dev": rows(&[
            ("d1", "this makes me mad", &["anger"]),
            ("d2", "so happy for you", &["joy"]),
            ("d3", "i miss her, it hurts and i am angry", &["anger", "sadness"]),
            ("d4", "the meeting is at noon", &[]),
            ("d5", "crying all day", &["sadness"]),
            ("d6", "great news, thrilled", &["joy"]),
        ]),
        "test": rows(&[
            ("t1", "furious about the delay", &["anger"]),
            ("t2", "best birthday ever", &["joy"]),
            ("t3", "heartbroken and bitter", &["anger", "sadness"]),
            ("t4", "it is tuesday", &[]),
        ]),
    });
    let labels = emotion_labels();
    artifacts(TaskKind::Multilabel, &labels, &labels, splits)
}
