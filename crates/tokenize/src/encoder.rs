//! The encoder: a HF tokenizer plus the options that turn words or text into [`Window`]s.
//!
//! The same [`Encoder`] is used by the tokenize stage on the training data and, rebuilt from
//! the tokenize artifact with [`Encoder::from_artifact`], by later stages to encode new text
//! at prediction time, so both see exactly the same encoding.
//!
//! Token task: words arrive pre-split (`is_split_into_words` semantics). The whole sentence is
//! encoded once without special tokens, then cut into windows of whole words (see
//! [`crate::window::plan_windows`]) and the model's special tokens are put around each.
//! A word that the normaliser deletes entirely (U+FFFD, control characters) would get no
//! sub-word and be lost; it is encoded as the unknown token instead, so every word keeps a
//! position. Sequence task: one text or a pair, encoded exactly as `transformers` does,
//! truncated `longest_first` or, for single texts, `head_tail`.

use std::path::{Path, PathBuf};

use flowcore::LabelMap;
use serde::{Deserialize, Serialize};
use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{
    AddedToken, EncodeInput, Encoding, ModelWrapper, Token, Tokenizer, TruncationParams,
    TruncationStrategy,
};

use crate::error::{Result, TokenizeError};
use crate::window::{IGNORE, Window, plan_windows};

/// Name of the HF tokenizer file in a model directory and in the tokenize artifact.
pub const TOKENIZER_JSON: &str = "tokenizer.json";
/// WordPiece vocabulary of a BERT model directory without `tokenizer.json`.
pub const VOCAB_TXT: &str = "vocab.txt";
/// Tokenizer settings of a model directory (`do_lower_case`, `strip_accents`, ...).
pub const TOKENIZER_CONFIG: &str = "tokenizer_config.json";
/// Model config, read for `max_position_embeddings`.
pub const MODEL_CONFIG: &str = "config.json";

/// Which sub-words of a word carry its label (token task).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelMode {
    /// The first sub-word carries the word's label; continuations are ignored (-100).
    #[default]
    First,
    /// Every sub-word carries the label, with `B-` turned into `I-` on continuations.
    All,
}

/// How a sequence-task input longer than `max_length` is shortened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Truncation {
    /// Drop sub-words from the end of the longer text first (the `transformers` default).
    #[default]
    LongestFirst,
    /// Single texts: keep the first `head_tokens` and the last sub-words; pairs fall back to
    /// `longest_first`.
    HeadTail,
}

/// Options that decide how inputs become windows; saved with the artifact as
/// `encoding.json` so prediction encodes like training did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncodeOptions {
    /// Most sub-words per window, special tokens included.
    pub max_length: usize,
    /// Most sub-words two neighbouring windows of a long token example share.
    pub stride: usize,
    /// Which sub-words carry a word's label.
    pub label_mode: LabelMode,
    /// How long sequence-task inputs are shortened.
    pub truncation: Truncation,
    /// With [`Truncation::HeadTail`]: sub-words kept from the start of the text.
    pub head_tokens: usize,
}

impl EncodeOptions {
    /// Options for `max_length` with the defaults derived from it: a stride and a head of a
    /// quarter of the room left after two special tokens.
    pub fn new(max_length: usize) -> Self {
        let quarter = max_length.saturating_sub(2) / 4;
        Self {
            max_length,
            stride: quarter,
            label_mode: LabelMode::First,
            truncation: Truncation::LongestFirst,
            head_tokens: quarter,
        }
    }
}

impl Default for EncodeOptions {
    fn default() -> Self {
        Self::new(128)
    }
}

/// Where a tokenizer comes from: the files it is built from (hashed for the fingerprint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenizerSource {
    /// A HF `tokenizer.json`.
    Json(PathBuf),
    /// A BERT `vocab.txt`, with the `tokenizer_config.json` next to it when there is one.
    Vocab {
        /// The vocabulary.
        vocab: PathBuf,
        /// Its settings.
        config: Option<PathBuf>,
    },
}

impl TokenizerSource {
    /// Find the tokenizer of a model directory (preferring `tokenizer.json`), or take a
    /// `tokenizer.json` / `vocab.txt` path as is.
    pub fn locate(path: &Path) -> Result<Self> {
        if path.is_file() {
            if path.file_name().is_some_and(|n| n == VOCAB_TXT) {
                let config = path.with_file_name(TOKENIZER_CONFIG);
                return Ok(Self::Vocab {
                    vocab: path.to_path_buf(),
                    config: config.is_file().then_some(config),
                });
            }
            return Ok(Self::Json(path.to_path_buf()));
        }
        let json = path.join(TOKENIZER_JSON);
        if json.is_file() {
            return Ok(Self::Json(json));
        }
        let vocab = path.join(VOCAB_TXT);
        if vocab.is_file() {
            let config = path.join(TOKENIZER_CONFIG);
            return Ok(Self::Vocab {
                vocab,
                config: config.is_file().then_some(config),
            });
        }
        Err(TokenizeError::NoTokenizer {
            dir: path.to_path_buf(),
        })
    }

    /// The files the tokenizer is built from.
    pub fn files(&self) -> Vec<PathBuf> {
        match self {
            Self::Json(path) => vec![path.clone()],
            Self::Vocab { vocab, config } => {
                let mut files = vec![vocab.clone()];
                files.extend(config.iter().cloned());
                files
            }
        }
    }

    /// The directory holding the tokenizer (where `config.json` is looked for).
    pub fn dir(&self) -> Option<&Path> {
        match self {
            Self::Json(path) | Self::Vocab { vocab: path, .. } => path.parent(),
        }
    }

    /// Load the tokenizer, with its padding and truncation switched off.
    pub fn load(&self) -> Result<Tokenizer> {
        let mut tokenizer = match self {
            Self::Json(path) => {
                Tokenizer::from_file(path).map_err(|source| TokenizeError::LoadTokenizer {
                    path: path.clone(),
                    source,
                })?
            }
            Self::Vocab { vocab, config } => bert_wordpiece(vocab, config.as_deref())?,
        };
        // A saved tokenizer may pad every input to a fixed length and truncate silently
        // (all-MiniLM-L6-v2 pads to 128): windows and batching are our job.
        tokenizer.with_padding(None);
        let path = self.files().remove(0);
        tokenizer
            .with_truncation(None)
            .map_err(|source| TokenizeError::LoadTokenizer { path, source })?;
        Ok(tokenizer)
    }
}

/// Model types whose positions start after the padding id (RoBERTa's
/// `create_position_ids_from_input_ids`): `pad_token_id + 1` positions are never used.
const OFFSET_POSITIONS: [&str; 3] = ["roberta", "xlm-roberta", "camembert"];

/// The longest input (special tokens included) the model in `dir` takes, from its
/// `config.json`: `max_position_embeddings`, less the `pad_token_id + 1` positions the
/// RoBERTa family reserves (514 → 512); `None` without a config.
pub fn max_position_embeddings(dir: &Path) -> Result<Option<usize>> {
    let path = dir.join(MODEL_CONFIG);
    if !path.is_file() {
        return Ok(None);
    }
    let value = read_json(&path)?;
    let reserved = match value.get("model_type").and_then(serde_json::Value::as_str) {
        Some(t) if OFFSET_POSITIONS.contains(&t) => value
            .get("pad_token_id")
            .and_then(serde_json::Value::as_u64)
            .map_or(2, |p| p + 1),
        _ => 0,
    };
    Ok(value
        .get("max_position_embeddings")
        .and_then(serde_json::Value::as_u64)
        .map(|n| n.saturating_sub(reserved) as usize))
}

/// The tokenizer pre-split words go through: a byte-level BPE one (RoBERTa, GPT-2) with
/// `add_prefix_space` on, as `transformers` requires for `is_split_into_words` (each word is
/// encoded as if a space preceded it, `Ġword`, the way it appears inside running text);
/// others unchanged (WordPiece needs nothing; SentencePiece's Metaspace already marks each
/// word).
fn word_tokenizer(tokenizer: &Tokenizer, origin: &Path) -> Result<Tokenizer> {
    fn set_prefix_space(v: &mut serde_json::Value) -> bool {
        match v {
            serde_json::Value::Object(o) => {
                let mut changed = false;
                if matches!(
                    o.get("type").and_then(serde_json::Value::as_str),
                    Some("ByteLevel" | "RobertaProcessing")
                ) && o.get("add_prefix_space") == Some(&serde_json::Value::Bool(false))
                {
                    o.insert("add_prefix_space".into(), true.into());
                    changed = true;
                }
                for child in o.values_mut() {
                    changed |= set_prefix_space(child);
                }
                changed
            }
            serde_json::Value::Array(a) => a.iter_mut().fold(false, |c, x| set_prefix_space(x) | c),
            _ => false,
        }
    }
    let err = |source| TokenizeError::LoadTokenizer {
        path: origin.to_path_buf(),
        source,
    };
    let mut doc: serde_json::Value =
        serde_json::from_str(&tokenizer.to_string(false).map_err(err)?).map_err(|source| {
            TokenizeError::Json {
                path: origin.to_path_buf(),
                source,
            }
        })?;
    let mut changed = false;
    for part in ["pre_tokenizer", "post_processor"] {
        if let Some(v) = doc.get_mut(part) {
            changed |= set_prefix_space(v);
        }
    }
    if !changed {
        return Ok(tokenizer.clone());
    }
    doc.to_string().parse::<Tokenizer>().map_err(err)
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = fs_err::read_to_string(path)?;
    serde_json::from_str(&text).map_err(|source| TokenizeError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// A special token's text from `tokenizer_config.json`: a string or an `AddedToken` object.
fn config_token(config: &serde_json::Value, key: &str, default: &str) -> String {
    match config.get(key) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Object(o)) => o
            .get("content")
            .and_then(serde_json::Value::as_str)
            .unwrap_or(default)
            .to_string(),
        _ => default.to_string(),
    }
}

/// Build the BERT WordPiece pipeline `transformers` builds from `vocab.txt` (its
/// `BertConverter`): BERT normaliser and pre-tokeniser, `[CLS] A [SEP] (B [SEP])` template,
/// WordPiece decoder, special tokens never split.
fn bert_wordpiece(vocab: &Path, config_path: Option<&Path>) -> Result<Tokenizer> {
    let config = match config_path {
        Some(path) => read_json(path)?,
        None => {
            tracing::warn!(
                vocab = %vocab.display(),
                "no tokenizer_config.json next to vocab.txt; using BERT defaults (lower-casing)"
            );
            serde_json::Value::Null
        }
    };
    let flag = |key: &str| config.get(key).and_then(serde_json::Value::as_bool);
    let lowercase = flag("do_lower_case").unwrap_or(true);
    let chinese = flag("tokenize_chinese_chars").unwrap_or(true);
    // `null` (the usual value) means: strip accents exactly when lower-casing.
    let strip_accents = flag("strip_accents");
    let unk = config_token(&config, "unk_token", "[UNK]");
    let cls = config_token(&config, "cls_token", "[CLS]");
    let sep = config_token(&config, "sep_token", "[SEP]");
    let pad = config_token(&config, "pad_token", "[PAD]");
    let mask = config_token(&config, "mask_token", "[MASK]");

    let load_err = |source| TokenizeError::LoadTokenizer {
        path: vocab.to_path_buf(),
        source,
    };
    let vocab_str = vocab.to_str().ok_or_else(|| TokenizeError::NoTokenizer {
        dir: vocab.to_path_buf(),
    })?;
    let model = WordPiece::from_file(vocab_str)
        .unk_token(unk.clone())
        .continuing_subword_prefix("##".into())
        .max_input_chars_per_word(100)
        .build()
        .map_err(load_err)?;
    let mut tokenizer = Tokenizer::new(model);
    let id_of = |tok: &Tokenizer, token: &str| {
        tok.token_to_id(token)
            .ok_or_else(|| TokenizeError::LoadTokenizer {
                path: vocab.to_path_buf(),
                source: format!("special token `{token}` is not in the vocabulary").into(),
            })
    };
    let cls_id = id_of(&tokenizer, &cls)?;
    let sep_id = id_of(&tokenizer, &sep)?;
    let template = TemplateProcessing::builder()
        .try_single(format!("{cls}:0 $A:0 {sep}:0"))
        .and_then(|b| b.try_pair(format!("{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1")))
        .map_err(|e| load_err(e.into()))?
        .special_tokens(vec![(cls.clone(), cls_id), (sep.clone(), sep_id)])
        .build()
        .map_err(|e| load_err(e.to_string().into()))?;
    tokenizer
        .with_normalizer(Some(BertNormalizer::new(
            true,
            chinese,
            strip_accents,
            lowercase,
        )))
        .with_pre_tokenizer(Some(BertPreTokenizer))
        .with_post_processor(Some(template))
        .with_decoder(Some(WordPieceDecoder::new("##".into(), true)));
    let specials: Vec<AddedToken> = [pad, unk, cls, sep, mask]
        .into_iter()
        .filter(|t| tokenizer.token_to_id(t).is_some())
        .map(|t| AddedToken::from(t, true))
        .collect();
    tokenizer.add_special_tokens(&specials);
    Ok(tokenizer)
}

/// Special tokens around a single sequence, found by running the post-processor on a
/// one-token dummy (works for any template, not only BERT's).
#[derive(Debug, Clone, Default)]
struct Template {
    prefix_ids: Vec<u32>,
    prefix_types: Vec<u8>,
    suffix_ids: Vec<u32>,
    suffix_types: Vec<u8>,
    content_type: u8,
}

impl Template {
    fn single(tokenizer: &Tokenizer, path: &Path) -> Result<Self> {
        let dummy = Encoding::from_tokens(vec![Token::new(0, "a".into(), (0, 1))], 0);
        let out = tokenizer
            .post_process(dummy, None, true)
            .map_err(|source| TokenizeError::LoadTokenizer {
                path: path.to_path_buf(),
                source,
            })?;
        let mask = out.get_special_tokens_mask();
        let Some(pos) = mask.iter().position(|&m| m == 0) else {
            return Err(TokenizeError::LoadTokenizer {
                path: path.to_path_buf(),
                source: "post-processor drops the input sequence".into(),
            });
        };
        let ids = out.get_ids();
        let types: Vec<u8> = out.get_type_ids().iter().map(|&t| t as u8).collect();
        Ok(Self {
            prefix_ids: ids[..pos].to_vec(),
            prefix_types: types[..pos].to_vec(),
            suffix_ids: ids[pos + 1..].to_vec(),
            suffix_types: types[pos + 1..].to_vec(),
            content_type: types[pos],
        })
    }

    fn added(&self) -> usize {
        self.prefix_ids.len() + self.suffix_ids.len()
    }
}

/// Maps a token-task label id to the id its continuation sub-words carry in
/// [`LabelMode::All`] (`B-X` → `I-X`; every other label to itself).
#[derive(Debug, Clone)]
pub struct LabelAligner {
    continuation: Vec<i16>,
}

impl LabelAligner {
    /// Build the continuation table of a label map. A `B-X` without `I-X` keeps `B-X`.
    pub fn new(labels: &LabelMap) -> Self {
        let continuation = labels
            .labels
            .iter()
            .enumerate()
            .map(|(i, name)| {
                name.strip_prefix("B-")
                    .and_then(|rest| labels.id(&format!("I-{rest}")))
                    .unwrap_or(i) as i16
            })
            .collect();
        Self { continuation }
    }

    /// The continuation label of `label`.
    pub fn continuation(&self, label: i16) -> i16 {
        usize::try_from(label)
            .ok()
            .and_then(|i| self.continuation.get(i).copied())
            .unwrap_or(label)
    }
}

/// What happened to the words of one token example.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WordStats {
    /// Words in the example.
    pub words: u64,
    /// Windows made (1 unless the example was split).
    pub windows: u64,
    /// Words owned by no window (must be 0).
    pub words_lost: u64,
    /// Words with more sub-words than fit in a window, cut to fit (first sub-word kept).
    pub words_truncated: u64,
    /// Words the normaliser deletes entirely, encoded as the unknown token.
    pub words_unk: u64,
    /// Words the model partly or wholly cannot see: at least one of their sub-words is the
    /// unknown token (`words_unk` included). A high share means the vocabulary does not
    /// cover the data's language or script.
    pub words_with_unk: u64,
}

impl WordStats {
    /// Add another example's counts.
    pub fn add(&mut self, other: &Self) {
        self.words += other.words;
        self.windows += other.windows;
        self.words_lost += other.words_lost;
        self.words_truncated += other.words_truncated;
        self.words_unk += other.words_unk;
        self.words_with_unk += other.words_with_unk;
    }
}

/// A tokenizer with its encoding options: turns words or text into [`Window`]s.
#[derive(Debug, Clone)]
pub struct Encoder {
    tokenizer: Tokenizer,
    options: EncodeOptions,
    template: Template,
    unk_id: Option<u32>,
    /// Clone of `tokenizer` truncating `longest_first` at `max_length`, for long sequences.
    truncating: Tokenizer,
    /// The tokenizer of pre-split words (token tasks): see [`word_tokenizer`].
    words: Tokenizer,
}

impl Encoder {
    /// The encoder of a model directory (or a `tokenizer.json` / `vocab.txt` path). Errors
    /// when `options.max_length` exceeds the model's `max_position_embeddings`.
    pub fn from_model_dir(path: &Path, options: EncodeOptions) -> Result<Self> {
        let source = TokenizerSource::locate(path)?;
        if let Some(dir) = source.dir()
            && let Some(limit) = max_position_embeddings(dir)?
            && options.max_length > limit
        {
            return Err(TokenizeError::Options(format!(
                "max_length {} exceeds the model's max_position_embeddings {limit} ({})",
                options.max_length,
                dir.join(MODEL_CONFIG).display()
            )));
        }
        Self::new(source.load()?, options, &source.files()[0])
    }

    /// The encoder a tokenize artifact was made with: its `tokenizer.json` and
    /// `encoding.json`. Use this at prediction time.
    pub fn from_artifact(dir: &Path) -> Result<Self> {
        let options_path = dir.join(flowcore::schema::tokenize::ENCODING_FILE);
        let options: EncodeOptions =
            serde_json::from_value(read_json(&options_path)?).map_err(|source| {
                TokenizeError::Json {
                    path: options_path,
                    source,
                }
            })?;
        let source = TokenizerSource::Json(dir.join(TOKENIZER_JSON));
        Self::new(source.load()?, options, &source.files()[0])
    }

    /// An encoder from a loaded tokenizer (padding and truncation are switched off here).
    /// `origin` names the tokenizer in errors.
    pub fn new(mut tokenizer: Tokenizer, options: EncodeOptions, origin: &Path) -> Result<Self> {
        let load_err = |source| TokenizeError::LoadTokenizer {
            path: origin.to_path_buf(),
            source,
        };
        tokenizer.with_padding(None);
        tokenizer.with_truncation(None).map_err(load_err)?;
        let template = Template::single(&tokenizer, origin)?;
        let added = template.added();
        if options.max_length <= added {
            return Err(TokenizeError::Options(format!(
                "max_length {} leaves no room for text besides {added} special tokens",
                options.max_length
            )));
        }
        if options.truncation == Truncation::HeadTail
            && options.head_tokens > options.max_length - added
        {
            return Err(TokenizeError::Options(format!(
                "head_tokens {} exceeds the {} sub-words a sequence can hold",
                options.head_tokens,
                options.max_length - added
            )));
        }
        let mut truncating = tokenizer.clone();
        truncating
            .with_truncation(Some(TruncationParams {
                max_length: options.max_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                ..TruncationParams::default()
            }))
            .map_err(load_err)?;
        let unk_id = unk_token(&tokenizer).and_then(|t| tokenizer.token_to_id(&t));
        let words = word_tokenizer(&tokenizer, origin)?;
        Ok(Self {
            tokenizer,
            options,
            template,
            unk_id,
            truncating,
            words,
        })
    }

    /// The underlying HF tokenizer (padding and truncation off).
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Whether the tokenizer ignores case: `Paris` and `paris` (and `PARIS`) encode to the
    /// same ids, as with uncased BERT models. Then capitalisation never reaches the model.
    pub fn ignores_case(&self) -> bool {
        let ids = |w: &str| {
            self.words
                .encode(EncodeInput::Single(vec![w].as_slice().into()), false)
                .map(|e| e.get_ids().to_vec())
                .ok()
        };
        let lower = ids("paris");
        lower.is_some() && lower == ids("Paris") && lower == ids("PARIS")
    }

    /// The encoding options.
    pub fn options(&self) -> &EncodeOptions {
        &self.options
    }

    /// Sub-words of text a window can hold (`max_length` minus special tokens).
    pub fn budget(&self) -> usize {
        self.options.max_length - self.template.added()
    }

    /// Save `tokenizer.json` and `encoding.json` into `dir`, so
    /// [`Encoder::from_artifact`] rebuilds this encoder.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join(TOKENIZER_JSON);
        self.tokenizer
            .save(&path, true)
            .map_err(|source| TokenizeError::LoadTokenizer { path, source })?;
        let path = dir.join(flowcore::schema::tokenize::ENCODING_FILE);
        let text =
            serde_json::to_string_pretty(&self.options).map_err(|source| TokenizeError::Json {
                path: path.clone(),
                source,
            })?;
        fs_err::write(&path, text + "\n")?;
        Ok(())
    }

    /// Encode a token-task example without labels (prediction time): one window, or several
    /// overlapping ones when the words do not fit into `max_length`.
    pub fn encode_words<S: AsRef<str>>(&self, id: &str, words: &[S]) -> Result<Vec<Window>> {
        Ok(self.encode_token_example(id, words, None)?.0)
    }

    /// Encode a token-task example with one label id per word; sub-word labels follow
    /// `options.label_mode`, and only the words a window owns are labelled.
    pub fn encode_labelled_words<S: AsRef<str>>(
        &self,
        id: &str,
        words: &[S],
        labels: &[i16],
        aligner: &LabelAligner,
    ) -> Result<(Vec<Window>, WordStats)> {
        if labels.len() != words.len() {
            return Err(TokenizeError::Options(format!(
                "example `{id}`: {} words but {} labels",
                words.len(),
                labels.len()
            )));
        }
        self.encode_token_example(id, words, Some((labels, aligner)))
    }

    fn encode_token_example<S: AsRef<str>>(
        &self,
        id: &str,
        words: &[S],
        labels: Option<(&[i16], &LabelAligner)>,
    ) -> Result<(Vec<Window>, WordStats)> {
        let refs: Vec<&str> = words.iter().map(AsRef::as_ref).collect();
        let encoding = self
            .words
            .encode(EncodeInput::Single(refs.as_slice().into()), false)
            .map_err(|source| TokenizeError::Encode {
                id: id.to_string(),
                source,
            })?;
        let ids = encoding.get_ids();
        // Sub-word range of every word in `ids`; pre-split words come out in order.
        let n = words.len();
        let mut spans = vec![(0usize, 0usize); n];
        for (pos, word) in encoding.get_word_ids().iter().enumerate() {
            if let Some(w) = word.map(|w| w as usize).filter(|&w| w < n) {
                let span = &mut spans[w];
                if span.1 == 0 {
                    span.0 = pos;
                }
                span.1 = pos + 1;
            }
        }
        let mut stats = WordStats {
            words: n as u64,
            ..WordStats::default()
        };
        let empty = |span: &(usize, usize)| span.1 == 0;
        let substitute = self.unk_id;
        let counts: Vec<usize> = spans
            .iter()
            .map(|s| {
                if !empty(s) {
                    s.1 - s.0
                } else if substitute.is_some() {
                    1
                } else {
                    0
                }
            })
            .collect();
        for s in &spans {
            if empty(s) {
                if substitute.is_some() {
                    stats.words_unk += 1;
                    stats.words_with_unk += 1;
                } else {
                    stats.words_lost += 1;
                }
            } else if substitute.is_some_and(|unk| ids[s.0..s.1].contains(&unk)) {
                stats.words_with_unk += 1;
            }
        }
        let budget = self.budget();
        let plans = plan_windows(&counts, budget, self.options.stride);
        stats.windows = plans.len() as u64;
        let t = &self.template;
        let mut windows = Vec::with_capacity(plans.len());
        for (k, plan) in plans.iter().enumerate() {
            let inner: usize = counts[plan.words.clone()].iter().sum::<usize>().min(budget);
            let len = inner + t.added();
            let mut input_ids = Vec::with_capacity(len);
            let mut type_ids = Vec::with_capacity(len);
            let mut word_ids = Vec::with_capacity(len);
            let mut sub_labels = Vec::with_capacity(if labels.is_some() { len } else { 0 });
            input_ids.extend_from_slice(&t.prefix_ids);
            type_ids.extend_from_slice(&t.prefix_types);
            word_ids.extend(std::iter::repeat_n(-1, t.prefix_ids.len()));
            if labels.is_some() {
                sub_labels.extend(std::iter::repeat_n(IGNORE, t.prefix_ids.len()));
            }
            for w in plan.words.clone() {
                let span = spans[w];
                let pieces: &[u32] = if !empty(&span) {
                    &ids[span.0..span.1]
                } else if let Some(unk) = &self.unk_id {
                    std::slice::from_ref(unk)
                } else {
                    &[]
                };
                let pieces = &pieces[..pieces.len().min(budget)];
                input_ids.extend_from_slice(pieces);
                type_ids.extend(std::iter::repeat_n(t.content_type, pieces.len()));
                word_ids.extend(std::iter::repeat_n(w as i32, pieces.len()));
                if let Some((gold, aligner)) = labels {
                    let owned = plan.centre.contains(&w);
                    for i in 0..pieces.len() {
                        sub_labels.push(match (owned, i, self.options.label_mode) {
                            (false, _, _) => IGNORE,
                            (true, 0, _) => gold[w],
                            (true, _, LabelMode::First) => IGNORE,
                            (true, _, LabelMode::All) => aligner.continuation(gold[w]),
                        });
                    }
                }
            }
            input_ids.extend_from_slice(&t.suffix_ids);
            type_ids.extend_from_slice(&t.suffix_types);
            word_ids.extend(std::iter::repeat_n(-1, t.suffix_ids.len()));
            if labels.is_some() {
                sub_labels.extend(std::iter::repeat_n(IGNORE, t.suffix_ids.len()));
            }
            let length = input_ids.len() as u32;
            windows.push(Window {
                id: id.to_string(),
                window: k as u32,
                first_word: plan.words.start as u32,
                centre_start: plan.centre.start as u32,
                centre_end: plan.centre.end as u32,
                input_ids,
                type_ids,
                word_ids,
                labels: sub_labels,
                label: None,
                label_set: None,
                length,
            });
        }
        stats.words_truncated = spans
            .iter()
            .filter(|s| !empty(s) && s.1 - s.0 > budget)
            .count() as u64;
        Ok((windows, stats))
    }

    /// Encode a sequence-task example (a text or a text pair) into one window without a
    /// label; the flag says whether it was truncated to `max_length`.
    pub fn encode_text(
        &self,
        id: &str,
        text: &str,
        text_b: Option<&str>,
    ) -> Result<(Window, bool)> {
        let err = |source| TokenizeError::Encode {
            id: id.to_string(),
            source,
        };
        let full = self
            .tokenizer
            .encode(text_input(text, text_b), true)
            .map_err(err)?;
        if full.len() <= self.options.max_length {
            return Ok((self.window_of(id, &full), false));
        }
        if self.options.truncation == Truncation::HeadTail && text_b.is_none() {
            return Ok((self.head_tail(id, text)?, true));
        }
        let cut = self
            .truncating
            .encode(text_input(text, text_b), true)
            .map_err(err)?;
        Ok((self.window_of(id, &cut), true))
    }

    /// Keep the first `head_tokens` and the last sub-words of a single long text.
    fn head_tail(&self, id: &str, text: &str) -> Result<Window> {
        let bare = self
            .tokenizer
            .encode(text, false)
            .map_err(|source| TokenizeError::Encode {
                id: id.to_string(),
                source,
            })?;
        let budget = self.budget();
        let head = self.options.head_tokens.min(budget);
        let tail = budget - head;
        let n = bare.len();
        let keep = (0..head).chain(n - tail..n);
        let t = &self.template;
        let mut input_ids = t.prefix_ids.clone();
        let mut type_ids = t.prefix_types.clone();
        let mut word_ids = vec![-1; t.prefix_ids.len()];
        for i in keep {
            input_ids.push(bare.get_ids()[i]);
            type_ids.push(t.content_type);
            word_ids.push(bare.get_word_ids()[i].map_or(-1, |w| w as i32));
        }
        input_ids.extend_from_slice(&t.suffix_ids);
        type_ids.extend_from_slice(&t.suffix_types);
        word_ids.extend(std::iter::repeat_n(-1, t.suffix_ids.len()));
        Ok(sequence_window(id, input_ids, type_ids, word_ids))
    }

    fn window_of(&self, id: &str, encoding: &Encoding) -> Window {
        sequence_window(
            id,
            encoding.get_ids().to_vec(),
            encoding.get_type_ids().iter().map(|&t| t as u8).collect(),
            encoding
                .get_word_ids()
                .iter()
                .map(|w| w.map_or(-1, |w| w as i32))
                .collect(),
        )
    }
}

fn text_input<'a>(text: &'a str, text_b: Option<&'a str>) -> EncodeInput<'a> {
    match text_b {
        Some(b) => (text, b).into(),
        None => text.into(),
    }
}

fn sequence_window(id: &str, input_ids: Vec<u32>, type_ids: Vec<u8>, word_ids: Vec<i32>) -> Window {
    let words = word_ids.iter().copied().max().map_or(0, |m| (m + 1).max(0)) as u32;
    Window {
        id: id.to_string(),
        window: 0,
        first_word: 0,
        centre_start: 0,
        centre_end: words,
        length: input_ids.len() as u32,
        input_ids,
        type_ids,
        word_ids,
        labels: Vec::new(),
        label: None,
        label_set: None,
    }
}

/// The unknown token of the tokenizer's model, if it has one.
fn unk_token(tokenizer: &Tokenizer) -> Option<String> {
    match tokenizer.get_model() {
        ModelWrapper::WordPiece(m) => Some(m.unk_token.clone()),
        ModelWrapper::WordLevel(m) => Some(m.unk_token.clone()),
        ModelWrapper::BPE(m) => m.unk_token.clone(),
        ModelWrapper::Unigram(_) => ["<unk>", "[UNK]"]
            .into_iter()
            .find(|t| tokenizer.token_to_id(t).is_some())
            .map(str::to_string),
    }
}
