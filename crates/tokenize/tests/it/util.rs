//! Shared helpers: paths to the model and the real data, a tiny CoNLL reader, round-trip
//! checks of windows, and a writer of ingest-shaped Parquet files.

use std::path::{Path, PathBuf};

use flowcore::{LabelMap, TaskKind};
use tokenize::{Encoder, IGNORE, LabelMode, Window};
use tokenizers::{NormalizedString, Normalizer};

/// The pretrained model directory made by `scripts/setup.sh`.
pub fn model_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/all-MiniLM-L6-v2");
    assert!(
        dir.join("tokenizer.json").is_file(),
        "{}: model missing; run scripts/setup.sh first",
        dir.display()
    );
    dir
}

/// The project's `data/` folder, which vendors the real data sets with their licenses.
pub fn data_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
    assert!(
        dir.join("README.md").is_file(),
        "{}: the vendored real data sets are missing (see data/README.md)",
        dir.display()
    );
    dir
}

/// A labelled sentence.
pub struct Sentence {
    pub words: Vec<String>,
    pub tags: Vec<String>,
}

/// `token<TAB>tag` lines, sentences separated by lines empty after trimming (WNUT-17 uses a
/// lone TAB). With `strip_position`, trailing ASCII digits are removed from each token
/// (Weibo NER marks a character's position in its word that way).
pub fn read_conll(path: &Path, strip_position: bool) -> Vec<Sentence> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    let mut current = Sentence {
        words: Vec::new(),
        tags: Vec::new(),
    };
    // Weibo positions count up inside a word and restart at 0; knowing the previous one
    // tells `5` + `0` apart from `50`.
    let mut position = 0usize;
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            position = 0;
            if !current.words.is_empty() {
                out.push(std::mem::replace(
                    &mut current,
                    Sentence {
                        words: Vec::new(),
                        tags: Vec::new(),
                    },
                ));
            }
            continue;
        }
        let (token, tag) = line
            .rsplit_once('\t')
            .unwrap_or_else(|| panic!("{}:{}: no TAB in {line:?}", path.display(), n + 1));
        let token = if strip_position {
            let next = (position + 1).to_string();
            match token
                .strip_suffix(next.as_str())
                .filter(|t| !t.is_empty() && !current.words.is_empty())
            {
                Some(rest) => {
                    position += 1;
                    rest
                }
                None => {
                    position = 0;
                    token
                        .strip_suffix('0')
                        .filter(|t| !t.is_empty())
                        .unwrap_or(token)
                }
            }
        } else {
            token
        };
        current.words.push(token.to_string());
        current.tags.push(tag.trim().to_string());
    }
    if !current.words.is_empty() {
        out.push(current);
    }
    out
}

/// A label map of the tags seen, `O` first, then sorted.
pub fn label_map(sentences: &[Sentence]) -> LabelMap {
    let mut tags: Vec<String> = sentences
        .iter()
        .flat_map(|s| s.tags.iter().cloned())
        .collect();
    tags.sort();
    tags.dedup();
    tags.retain(|t| t != "O");
    tags.insert(0, "O".into());
    LabelMap::new(TaskKind::Token, tags)
}

/// `word` as the tokenizer's normaliser leaves it, without whitespace.
pub fn normalised(encoder: &Encoder, word: &str) -> String {
    let mut n = NormalizedString::from(word);
    if let Some(norm) = encoder.tokenizer().get_normalizer() {
        norm.normalize(&mut n).expect("normaliser");
    }
    n.get().split_whitespace().collect()
}

/// What the round-trip check saw.
#[derive(Debug, Default)]
pub struct Checked {
    pub words: usize,
    pub decoded: usize,
}

/// The acceptance checks of one example's windows:
/// - `word_ids` monotonic per window, specials only at the ends, `length` consistent;
/// - every word owned by exactly one window that contains it;
/// - with labels in `first` mode, each word has exactly one labelled sub-word across all
///   windows, at its first sub-word in its owning window, carrying its gold label;
/// - decoding a word's sub-words gives the word back (modulo the normaliser), unless the
///   word holds an unknown token or was cut to fit.
pub fn check_example(
    encoder: &Encoder,
    words: &[String],
    gold: Option<&[i16]>,
    windows: &[Window],
) -> Checked {
    let max_length = encoder.options().max_length;
    let unk = encoder.tokenizer().token_to_id("[UNK]");
    assert!(!windows.is_empty());
    for (k, w) in windows.iter().enumerate() {
        assert_eq!(w.window as usize, k);
        assert_eq!(w.length as usize, w.input_ids.len());
        assert!(
            w.input_ids.len() <= max_length,
            "{} > {max_length}",
            w.input_ids.len()
        );
        assert_eq!(w.type_ids.len(), w.input_ids.len());
        assert_eq!(w.word_ids.len(), w.input_ids.len());
        let inner: Vec<i32> = w.word_ids.iter().copied().filter(|&i| i >= 0).collect();
        assert!(
            inner.windows(2).all(|p| p[0] <= p[1]),
            "word_ids not monotonic: {:?}",
            w.word_ids
        );
        assert_eq!(inner.first().copied(), Some(w.first_word as i32));
        assert!(w.word_ids[0] == -1 && *w.word_ids.last().unwrap() == -1);
        assert!(w.centre_start >= w.first_word && w.centre_end as i32 <= inner.last().unwrap() + 1);
    }
    let mut checked = Checked::default();
    for (i, word) in words.iter().enumerate() {
        let i32w = i as i32;
        let owners: Vec<&Window> = windows.iter().filter(|w| w.is_central(i as u32)).collect();
        assert_eq!(
            owners.len(),
            1,
            "word {i} {word:?} owned by {} windows",
            owners.len()
        );
        let owner = owners[0];
        let positions: Vec<usize> = (0..owner.word_ids.len())
            .filter(|&p| owner.word_ids[p] == i32w)
            .collect();
        assert!(!positions.is_empty(), "word {i} {word:?} lost");
        if let Some(gold) = gold {
            if encoder.options().label_mode == LabelMode::First {
                let labelled: usize = windows
                    .iter()
                    .map(|w| {
                        (0..w.labels.len())
                            .filter(|&p| w.word_ids[p] == i32w && w.labels[p] != IGNORE)
                            .count()
                    })
                    .sum();
                assert_eq!(labelled, 1, "word {i} {word:?} labelled {labelled} times");
            }
            assert_eq!(owner.labels[positions[0]], gold[i], "word {i} {word:?}");
        }
        let ids: Vec<u32> = positions.iter().map(|&p| owner.input_ids[p]).collect();
        checked.words += 1;
        if ids.len() >= encoder.budget() || unk.is_some_and(|u| ids.contains(&u)) {
            continue;
        }
        let decoded: String = encoder
            .tokenizer()
            .decode(&ids, false)
            .expect("decode")
            .split_whitespace()
            .collect();
        assert_eq!(
            decoded,
            normalised(encoder, word),
            "word {i} {word:?} ids {ids:?}"
        );
        checked.decoded += 1;
    }
    checked
}

/// Write an ingest-shaped token table; `large` uses `large_list<large_utf8>` like polars.
pub fn write_token_table(path: &Path, rows: &[(&str, Vec<&str>, Vec<&str>)], large: bool) {
    let ids = testkit::strings(rows.iter().map(|r| r.0));
    testkit::write_parquet(
        path,
        vec![
            ("id", ids.clone()),
            ("doc_id", ids),
            (
                "tokens",
                testkit::string_lists(rows.iter().map(|r| r.1.iter()), large),
            ),
            (
                "tags",
                testkit::string_lists(rows.iter().map(|r| r.2.iter()), large),
            ),
        ],
    )
    .unwrap();
}
