//! Windows of long token examples, label alignment and words the normaliser deletes.

use flowcore::{LabelMap, TaskKind};
use tokenize::{EncodeOptions, Encoder, IGNORE, LabelAligner, LabelMode};

use crate::util::{check_example, model_dir};

fn encoder(max_length: usize, stride: usize, mode: LabelMode) -> Encoder {
    let options = EncodeOptions {
        stride,
        label_mode: mode,
        ..EncodeOptions::new(max_length)
    };
    Encoder::from_model_dir(&model_dir(), options).unwrap()
}

fn labels() -> LabelMap {
    LabelMap::new(
        TaskKind::Token,
        ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
            .map(String::from)
            .to_vec(),
    )
}

fn sentence(n: usize) -> (Vec<String>, Vec<i16>) {
    let vocab = [
        "the",
        "unaffable",
        "Paris",
        "x",
        "antidisestablishmentarianism",
        "北京",
        "!",
    ];
    let words = (0..n).map(|i| vocab[i % vocab.len()].to_string()).collect();
    let tags = (0..n).map(|i| [0, 0, 1, 0, 3, 1, 0][i % 7]).collect();
    (words, tags)
}

#[test]
fn long_sentence_is_split_with_every_word_owned_once() {
    let (words, gold) = sentence(60);
    for (max_length, stride) in [(16, 4), (16, 0), (32, 8), (12, 11)] {
        let enc = encoder(max_length, stride, LabelMode::First);
        let (windows, stats) = enc
            .encode_labelled_words("s", &words, &gold, &LabelAligner::new(&labels()))
            .unwrap();
        assert!(windows.len() > 2, "{max_length}");
        assert_eq!(stats.words_lost, 0);
        assert_eq!(stats.windows as usize, windows.len());
        let checked = check_example(&enc, &words, Some(&gold), &windows);
        assert_eq!(checked.words, 60);
        assert!(checked.decoded >= 50, "{checked:?}");
        // Neighbouring windows overlap by at most `stride` sub-words of text.
        for pair in windows.windows(2) {
            let shared = pair[0]
                .word_ids
                .iter()
                .filter(|&&w| w >= pair[1].first_word as i32)
                .count();
            assert!(shared <= stride, "{shared} > {stride}");
        }
    }
}

#[test]
fn all_mode_labels_continuations_with_inside_tags() {
    let enc = encoder(128, 32, LabelMode::All);
    let words: Vec<String> = ["antidisestablishmentarianism", "unaffable", "ok"]
        .map(String::from)
        .to_vec();
    let gold = [3, 1, 0];
    let (windows, _) = enc
        .encode_labelled_words("a", &words, &gold, &LabelAligner::new(&labels()))
        .unwrap();
    let w = &windows[0];
    let of = |word: i32| -> Vec<i16> {
        (0..w.labels.len())
            .filter(|&p| w.word_ids[p] == word)
            .map(|p| w.labels[p])
            .collect()
    };
    let per = of(0);
    assert!(per.len() > 2);
    assert_eq!(per[0], 3);
    assert!(per[1..].iter().all(|&l| l == 4), "{per:?}");
    let loc = of(1);
    assert_eq!(loc[0], 1);
    assert!(loc[1..].iter().all(|&l| l == 2), "{loc:?}");
    assert_eq!(w.labels[0], IGNORE);
    assert_eq!(*w.labels.last().unwrap(), IGNORE);
}

#[test]
fn words_the_normaliser_deletes_become_unknown_tokens() {
    let enc = encoder(128, 32, LabelMode::First);
    // U+FFFD and a lone control character are removed by BERT's clean-up.
    let words: Vec<String> = ["a", "\u{fffd}", "b", "\u{0007}"]
        .map(String::from)
        .to_vec();
    let (windows, stats) = enc
        .encode_labelled_words("u", &words, &[0, 1, 0, 0], &LabelAligner::new(&labels()))
        .unwrap();
    assert_eq!(stats.words_unk, 2);
    assert_eq!(stats.words_lost, 0);
    let unk = enc.tokenizer().token_to_id("[UNK]").unwrap();
    assert_eq!(windows[0].word_ids, vec![-1, 0, 1, 2, 3, -1]);
    assert_eq!(windows[0].input_ids[2], unk);
    assert_eq!(windows[0].labels[2], 1);
}

#[test]
fn a_word_longer_than_a_window_is_cut_but_kept() {
    let enc = encoder(8, 2, LabelMode::First);
    let words: Vec<String> = [
        "a",
        "antidisestablishmentarianism antidisestablishmentarianism",
        "b",
    ]
    .map(String::from)
    .to_vec();
    let (windows, stats) = enc
        .encode_labelled_words("c", &words, &[0, 3, 0], &LabelAligner::new(&labels()))
        .unwrap();
    assert_eq!(stats.words_truncated, 1);
    assert_eq!(stats.words_lost, 0);
    check_example(&enc, &words, Some(&[0, 3, 0]), &windows);
    assert!(windows.iter().all(|w| w.length <= 8));
}

#[test]
fn prediction_encoding_equals_training_encoding_without_labels() {
    let enc = encoder(16, 4, LabelMode::First);
    let (words, gold) = sentence(30);
    let (labelled, _) = enc
        .encode_labelled_words("p", &words, &gold, &LabelAligner::new(&labels()))
        .unwrap();
    let bare = enc.encode_words("p", &words).unwrap();
    assert_eq!(bare.len(), labelled.len());
    for (a, b) in bare.iter().zip(&labelled) {
        assert!(a.labels.is_empty());
        assert_eq!(
            (&a.input_ids, &a.word_ids, a.centre()),
            (&b.input_ids, &b.word_ids, b.centre())
        );
    }
}

#[test]
fn head_tail_keeps_both_ends() {
    let options = EncodeOptions {
        truncation: tokenize::Truncation::HeadTail,
        head_tokens: 3,
        ..EncodeOptions::new(10)
    };
    let enc = Encoder::from_model_dir(&model_dir(), options).unwrap();
    let text = "alpha beta gamma one two three four five six seven eight nine omega psi";
    let (w, truncated) = enc.encode_text("h", text, None).unwrap();
    assert!(truncated);
    assert_eq!(w.length, 10);
    let decoded = enc.tokenizer().decode(&w.input_ids, true).unwrap();
    // 10 - [CLS] - [SEP] = 8 tokens: the first 3 and the last 5 (one token per word here).
    assert_eq!(decoded, "alpha beta gamma seven eight nine omega psi");
    // pairs fall back to longest_first
    let (w, truncated) = enc
        .encode_text("h2", text, Some("and a second text"))
        .unwrap();
    assert!(truncated);
    assert_eq!(w.length, 10);
}
