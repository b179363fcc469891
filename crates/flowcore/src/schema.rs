//! File and column names that form the contract between stages (see `DESIGN.md`).
//!
//! A stage that writes one of these files and a stage that reads it both use these constants,
//! so a rename is a compile error rather than a runtime surprise.

/// Split names, in the order they are processed and reported.
pub const SPLITS: [&str; 3] = ["train", "dev", "test"];

/// Parquet file of a split inside an ingest or tokenize artifact: `<split>.parquet`.
pub fn split_file(split: &str) -> String {
    format!("{split}.parquet")
}

/// Label map of the data set (see [`crate::LabelMap`]).
pub const LABELS_FILE: &str = "labels.json";

/// Ingest outputs.
pub mod ingest {
    /// Rejected input rows: `source`, `line`, `reason`, `raw`.
    pub const REJECTS_FILE: &str = "rejects.parquet";
    /// Machine-readable data profile.
    pub const PROFILE_JSON: &str = "profile.json";
    /// Human-readable data profile.
    pub const PROFILE_MD: &str = "profile.md";

    /// Example id (utf8, unique within the artifact).
    pub const ID: &str = "id";
    /// Document id (utf8); token tasks.
    pub const DOC_ID: &str = "doc_id";
    /// Words (list<utf8>); token tasks.
    pub const TOKENS: &str = "tokens";
    /// IOB2 tags (list<utf8>); token tasks.
    pub const TAGS: &str = "tags";
    /// Text (utf8); sequence tasks.
    pub const TEXT: &str = "text";
    /// Second text of a pair (utf8, nullable); sequence tasks.
    pub const TEXT_B: &str = "text_b";
    /// Class label (utf8); sequence tasks.
    pub const LABEL: &str = "label";
    /// Label set (list<utf8>, possibly empty, in label-list order); multi-label tasks.
    pub const LABELS: &str = "labels";
}

/// Tokenize outputs.
pub mod tokenize {
    /// The tokenizer used, copied so later stages need not find the model directory.
    pub const TOKENIZER_FILE: &str = "tokenizer.json";
    /// Example id (utf8).
    pub const ID: &str = "id";
    /// Window index within the example (u32).
    pub const WINDOW: &str = "window";
    /// Index of the first word covered by this window (u32).
    pub const FIRST_WORD: &str = "first_word";
    /// Sub-word ids (list<u32>).
    pub const INPUT_IDS: &str = "input_ids";
    /// Token type ids (list<u8>).
    pub const TYPE_IDS: &str = "type_ids";
    /// Word index per sub-word, -1 for special tokens (list<i32>).
    pub const WORD_IDS: &str = "word_ids";
    /// Label id per sub-word, -100 where ignored (list<i16>); token tasks.
    pub const LABELS: &str = "labels";
    /// Label id (i16); sequence tasks.
    pub const LABEL: &str = "label";
    /// Ids of the example's labels (list<i16>, ascending, possibly empty): the sparse form of
    /// its multi-hot label vector; multi-label tasks.
    pub const LABEL_SET: &str = "label_set";
    /// Number of sub-words including special tokens (u32).
    pub const LENGTH: &str = "length";
    /// First word (absolute index) whose prediction this window owns (u32): a word takes its
    /// prediction from the one window with `centre_start <= word < centre_end`.
    pub const CENTRE_START: &str = "centre_start";
    /// One past the last word whose prediction this window owns (u32).
    pub const CENTRE_END: &str = "centre_end";
    /// Encoding options (`max_length`, `stride`, label mode, truncation) as JSON, so a later
    /// stage encodes new text exactly as the training data was encoded.
    pub const ENCODING_FILE: &str = "encoding.json";
}

/// Train outputs.
pub mod train {
    /// Directory of checkpoints (`best/`, `last/`), each an HF model directory.
    pub const CHECKPOINTS_DIR: &str = "checkpoints";
    /// The checkpoint chosen by the dev metric.
    pub const BEST: &str = "checkpoints/best";
    /// The last checkpoint.
    pub const LAST: &str = "checkpoints/last";
    /// One JSON object per logged step / evaluation.
    pub const HISTORY_FILE: &str = "history.jsonl";
}

/// Evaluate and baseline outputs (both write predictions in this schema).
pub mod predictions {
    /// Predictions of one split: `predictions-<split>.parquet`.
    pub fn file(split: &str) -> String {
        format!("predictions-{split}.parquet")
    }
    /// Metrics of every evaluated split.
    pub const METRICS_FILE: &str = "metrics.json";
    /// The text report.
    pub const REPORT_FILE: &str = "report.txt";

    /// Example id (utf8).
    pub const ID: &str = "id";
    /// Word index within the example (u32); token tasks (one row per word).
    pub const WORD: &str = "word";
    /// The word (utf8); token tasks.
    pub const TOKEN: &str = "token";
    /// Gold label (utf8).
    pub const GOLD: &str = "gold";
    /// Predicted label (utf8).
    pub const PRED: &str = "pred";
    /// Probability of each label, in `labels.json` order (list<f32>).
    pub const PROBS: &str = "probs";
}
