//! The words, texts and gold labels of one ingest split, by example id: what evaluate reads
//! from an ingest artifact to report on words the tokenizer lost and to build the probes.

use std::collections::HashMap;
use std::path::Path;

use flowcore::TaskKind;
use flowcore::schema;
use tokenize::table::{TextExample, TokenExample, read_text_examples, read_token_examples};

use crate::error::Result;

/// The examples of one ingest split, by id: the words (token task) or `[text]` (sequence
/// task), and the gold label names.
#[derive(Debug, Clone, Default)]
pub struct SplitText {
    /// Words (token) or the one text (sequence) of each example.
    pub words: HashMap<String, Vec<String>>,
    /// Gold tags (token) or the one label (sequence) of each example, where known.
    pub gold: HashMap<String, Vec<String>>,
    /// Token-task examples in file order.
    pub token: Vec<TokenExample>,
    /// Sequence-task examples in file order.
    pub text: Vec<TextExample>,
}

/// Reads one split of an ingest artifact.
pub fn read_ingest_split(dir: &Path, split: &str, task: TaskKind) -> Result<SplitText> {
    let path = dir.join(schema::split_file(split));
    let mut out = SplitText::default();
    match task {
        TaskKind::Token => {
            out.token = read_token_examples(&path)?;
            for ex in &out.token {
                out.words.insert(ex.id.clone(), ex.words.clone());
                if let Some(tags) = &ex.tags {
                    out.gold.insert(ex.id.clone(), tags.clone());
                }
            }
        }
        TaskKind::Sequence | TaskKind::Multilabel => {
            out.text = read_text_examples(&path)?;
            for ex in &out.text {
                let text = match &ex.text_b {
                    Some(b) => format!("{} [SEP] {b}", ex.text),
                    None => ex.text.clone(),
                };
                out.words.insert(ex.id.clone(), vec![text]);
                if let Some(label) = &ex.label {
                    out.gold.insert(ex.id.clone(), vec![label.clone()]);
                }
                if let Some(set) = &ex.labels {
                    out.gold.insert(ex.id.clone(), set.clone());
                }
            }
        }
    }
    Ok(out)
}
