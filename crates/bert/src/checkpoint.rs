//! Loading and saving Hugging Face model directories.
//!
//! Weights are matched by name: a checkpoint key is compared without its `bert.` (`roberta.`,
//! `distilbert.`) prefix (so bare `BertModel` checkpoints such as all-MiniLM-L6-v2 and task
//! checkpoints both load), DistilBERT's layer names read as BERT's (and written back as its
//! own by [`save`]), and old TF-style `LayerNorm.gamma`/`beta` read as `weight`/`bias`. Only
//! the classifier head may be missing; it keeps its fresh HF-style initialisation.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use flowcore::TaskKind;
use safetensors::{Dtype, SafeTensors};
use tch::{Device, Kind, Tensor, nn};

use crate::config::BertConfig;
use crate::config::Family;
use crate::error::{BertError, Result};
use crate::heads::{BertClassifier, is_head};
use crate::model::BertModel;

/// Name of the config file in a model directory.
pub const CONFIG_FILE: &str = "config.json";
/// Name of the single-file weights.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// Name of the index of sharded weights.
pub const WEIGHTS_INDEX_FILE: &str = "model.safetensors.index.json";
/// Tokenizer files copied next to saved weights, when the source has them (WordPiece's
/// `vocab.txt`, byte-level BPE's `vocab.json` + `merges.txt`, SentencePiece's model).
pub const TOKENIZER_FILES: [&str; 7] = [
    "tokenizer.json",
    "vocab.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
    "sentencepiece.bpe.model",
];

/// What loading a checkpoint did; log it, and check `new_head` when a head was expected.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// The weight files read.
    pub files: Vec<PathBuf>,
    /// Number of model weights filled from the checkpoint.
    pub loaded: usize,
    /// Head weights that kept their fresh initialisation (absent or of another shape).
    pub new_head: Vec<String>,
    /// Head weights in the checkpoint whose shape differed (name, checkpoint shape, model
    /// shape), e.g. a head trained for another number of labels; included in `new_head`.
    pub mismatched_head: Vec<(String, Vec<i64>, Vec<i64>)>,
    /// Checkpoint tensors the model has no place for (a pooler under a token head,
    /// pre-training heads, `position_ids` buffers), as the checkpoint names them.
    pub unexpected: Vec<String>,
}

/// Changes to the checkpoint's config applied before the model is built (HF's
/// `from_pretrained(..., hidden_dropout_prob=...)`); they are saved with the model.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ConfigOverrides {
    /// Replaces `hidden_dropout_prob`.
    pub hidden_dropout_prob: Option<f64>,
    /// Replaces `attention_probs_dropout_prob`.
    pub attention_probs_dropout_prob: Option<f64>,
    /// Replaces `classifier_dropout`.
    pub classifier_dropout: Option<f64>,
}

impl ConfigOverrides {
    fn apply(&self, config: &mut BertConfig) {
        let modern = config.family() == Family::ModernBert;
        if let Some(p) = self.hidden_dropout_prob {
            config.hidden_dropout_prob = p;
            if modern {
                // ModernBERT's dropouts have their own keys.
                for key in ["embedding_dropout", "mlp_dropout"] {
                    config.extra.insert(key.into(), serde_json::json!(p));
                }
            }
        }
        if let Some(p) = self.attention_probs_dropout_prob {
            config.attention_probs_dropout_prob = p;
            if modern {
                config
                    .extra
                    .insert("attention_dropout".into(), serde_json::json!(p));
            }
        }
        if let Some(p) = self.classifier_dropout {
            config.classifier_dropout = Some(p);
            if config.family() == Family::DistilBert {
                // DistilBERT's sequence head reads its own key.
                config
                    .extra
                    .insert("seq_classif_dropout".into(), serde_json::json!(p));
            }
        }
    }
}

/// Loads a classifier for `task` from an HF model directory.
///
/// `labels` (in id order) become `id2label`/`label2id`; an empty slice takes them from
/// `config.json` (a fine-tuned model) and fails when it has none. A head absent from the
/// checkpoint, or one of another shape, is freshly initialised and listed in the report.
pub fn load(
    model_dir: &Path,
    task: TaskKind,
    labels: &[String],
    device: Device,
) -> Result<(BertClassifier, nn::VarStore, LoadReport)> {
    load_with(model_dir, task, labels, device, &ConfigOverrides::default())
}

/// [`load`] with config overrides (dropout rates).
pub fn load_with(
    model_dir: &Path,
    task: TaskKind,
    labels: &[String],
    device: Device,
    overrides: &ConfigOverrides,
) -> Result<(BertClassifier, nn::VarStore, LoadReport)> {
    let config_path = model_dir.join(CONFIG_FILE);
    let mut config = BertConfig::from_file(&config_path)?;
    if labels.is_empty() {
        if config.id2label.is_none() {
            return Err(BertError::MissingLabels { path: config_path });
        }
    } else {
        if let Some(old) = config.labels().filter(|old| old.as_slice() != labels) {
            // HF keeps a head of the right shape whatever its label names; so do we, loudly.
            tracing::warn!(?old, new = ?labels, "labels differ from the checkpoint's id2label; a head of the same size is kept");
        }
        config.set_labels(labels);
    }
    overrides.apply(&mut config);
    let files = weight_files(model_dir)?;
    // Building the model draws initial weights from libtorch's generator (kept only for a new
    // head): under its lock, so a seeded section in another thread is not disturbed.
    let (model, vs) = {
        let _rng = crate::torch_rng_lock();
        let vs = nn::VarStore::new(device);
        (BertClassifier::new(&vs.root(), &config, task), vs)
    };
    let report = load_weights(&vs, model_dir, &files, true)?;
    log_report(model_dir, &report);
    Ok((model, vs, report))
}

/// Loads a bare encoder (HF `BertModel`, with pooler) from an HF model directory; any head in
/// the checkpoint is reported as unexpected.
pub fn load_encoder(
    model_dir: &Path,
    device: Device,
) -> Result<(BertModel, BertConfig, nn::VarStore, LoadReport)> {
    let config = BertConfig::from_file(&model_dir.join(CONFIG_FILE))?;
    let files = weight_files(model_dir)?;
    let (model, vs) = {
        let _rng = crate::torch_rng_lock();
        let vs = nn::VarStore::new(device);
        (
            BertModel::new(&vs.root(), &config, config.family().has_pooler()),
            vs,
        )
    };
    let report = load_weights(&vs, model_dir, &files, false)?;
    log_report(model_dir, &report);
    Ok((model, config, vs, report))
}

fn log_report(dir: &Path, report: &LoadReport) {
    tracing::info!(
        dir = %dir.display(),
        loaded = report.loaded,
        new_head = ?report.new_head,
        unexpected = report.unexpected.len(),
        "loaded checkpoint"
    );
    if !report.unexpected.is_empty() {
        tracing::debug!(names = ?report.unexpected, "unused checkpoint tensors");
    }
    for (name, found, expected) in &report.mismatched_head {
        tracing::warn!(
            name,
            ?found,
            ?expected,
            "checkpoint head has another shape; re-initialised"
        );
    }
}

/// The safetensors files of a model directory: the single file, or the shards its index lists.
pub fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let single = dir.join(WEIGHTS_FILE);
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index = dir.join(WEIGHTS_INDEX_FILE);
    if index.is_file() {
        #[derive(serde::Deserialize)]
        struct Index {
            weight_map: BTreeMap<String, String>,
        }
        let text = fs_err::read_to_string(&index)?;
        let parsed: Index = serde_json::from_str(&text).map_err(|source| BertError::Json {
            path: index.clone(),
            source,
        })?;
        let mut shards: Vec<PathBuf> = parsed.weight_map.values().map(|f| dir.join(f)).collect();
        shards.sort();
        shards.dedup();
        return Ok(shards);
    }
    if dir.join("pytorch_model.bin").is_file() {
        return Err(BertError::PytorchBinOnly {
            dir: dir.to_path_buf(),
        });
    }
    Err(BertError::NoWeights {
        dir: dir.to_path_buf(),
    })
}

/// DistilBERT's names inside `transformer.layer.{i}.` and BERT's inside `encoder.layer.{i}.`,
/// which this crate builds for every family. Order matters when mapping back: the attention
/// output before the layer output.
const DISTILBERT_LAYER_NAMES: [(&str, &str); 8] = [
    ("attention.q_lin.", "attention.self.query."),
    ("attention.k_lin.", "attention.self.key."),
    ("attention.v_lin.", "attention.self.value."),
    ("attention.out_lin.", "attention.output.dense."),
    ("sa_layer_norm.", "attention.output.LayerNorm."),
    ("ffn.lin1.", "intermediate.dense."),
    ("ffn.lin2.", "output.dense."),
    ("output_layer_norm.", "output.LayerNorm."),
];

/// Splits `…layer.{i}.rest` into (`…layer.{i}.`, `rest`) for the layer stack `stack`.
fn split_layer<'a>(name: &'a str, stack: &str) -> Option<(&'a str, &'a str)> {
    let start = name.find(stack)?;
    let after = start + stack.len();
    let dot = after + name[after..].find('.')? + 1;
    Some((&name[..dot], &name[dot..]))
}

/// Renames a name inside the layer stack `from` to the stack `to`, its layer-relative part by
/// the first of `pairs` (`(from, to)`) it starts with; names outside the stack unchanged.
fn rename_layer<'a>(
    name: &str,
    from: &str,
    to: &str,
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
) -> String {
    let Some((head, rest)) = split_layer(name, from) else {
        return name.to_string();
    };
    let head = head.replacen(from, to, 1);
    for (theirs, ours) in pairs {
        if let Some(tail) = rest.strip_prefix(theirs) {
            return format!("{head}{ours}{tail}");
        }
    }
    format!("{head}{rest}")
}

/// A DistilBERT checkpoint name as BERT's (`transformer.layer.0.attention.q_lin.weight` →
/// `encoder.layer.0.attention.self.query.weight`); other names unchanged.
fn from_distilbert(name: &str) -> String {
    rename_layer(
        name,
        "transformer.layer.",
        "encoder.layer.",
        DISTILBERT_LAYER_NAMES.into_iter(),
    )
}

/// The name transformers gives a var-store variable of a `family` model (this crate builds
/// BERT's layout for every family).
pub fn hf_name(family: Family, name: &str) -> String {
    if family != Family::DistilBert {
        return name.to_string();
    }
    rename_layer(
        name,
        "encoder.layer.",
        "transformer.layer.",
        DISTILBERT_LAYER_NAMES.into_iter().map(|(d, b)| (b, d)),
    )
}

/// The name both sides are compared by: no `bert.` (`roberta.`, `distilbert.`, `electra.`)
/// prefix, BERT's layer names for DistilBERT's, `weight`/`bias` for LayerNorm.
fn canonical(name: &str) -> String {
    let name = [
        "bert.",
        "roberta.",
        "distilbert.",
        "electra.",
        "deberta.",
        "model.",
    ]
    .iter()
    .find_map(|p| name.strip_prefix(p))
    .unwrap_or(name);
    let name = from_distilbert(name);
    let name = name.as_str();
    if let Some(base) = name.strip_suffix("LayerNorm.gamma") {
        format!("{base}LayerNorm.weight")
    } else if let Some(base) = name.strip_suffix("LayerNorm.beta") {
        format!("{base}LayerNorm.bias")
    } else {
        name.to_string()
    }
}

/// Fills the variables of `vs` from `files`. With `allow_new_head`, head variables may be
/// missing or of another shape; anything else missing is an error.
fn load_weights(
    vs: &nn::VarStore,
    dir: &Path,
    files: &[PathBuf],
    allow_new_head: bool,
) -> Result<LoadReport> {
    let mut vars: HashMap<String, (String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(name, t)| (canonical(&name), (name, t)))
        .collect();
    let mut report = LoadReport {
        files: files.to_vec(),
        ..Default::default()
    };
    let mut filled = std::collections::HashSet::new();
    for file in files {
        let bytes = fs_err::read(file)?;
        let st = SafeTensors::deserialize(&bytes).map_err(|source| BertError::Safetensors {
            path: file.clone(),
            source,
        })?;
        for (name, view) in st.iter() {
            let key = canonical(name);
            let Some((var_name, var)) = vars.get_mut(&key) else {
                report.unexpected.push(name.to_string());
                continue;
            };
            let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
            if shape != var.size() {
                if allow_new_head && is_head(var_name) {
                    report
                        .mismatched_head
                        .push((name.to_string(), shape, var.size()));
                    continue;
                }
                return Err(BertError::ShapeMismatch {
                    path: file.clone(),
                    name: name.to_string(),
                    expected: var.size(),
                    found: shape,
                });
            }
            let kind = match view.dtype() {
                Dtype::F32 => Kind::Float,
                Dtype::F16 => Kind::Half,
                Dtype::BF16 => Kind::BFloat16,
                Dtype::F64 => Kind::Double,
                dtype => {
                    return Err(BertError::UnsupportedDtype {
                        path: file.clone(),
                        name: name.to_string(),
                        dtype,
                    });
                }
            };
            let src = Tensor::f_from_data_size(view.data(), &shape, kind).map_err(
                BertError::torch(format!("{}: reading `{name}`", file.display())),
            )?;
            tch::no_grad(|| var.f_copy_(&src)).map_err(BertError::torch(format!(
                "{}: copying `{name}`",
                file.display()
            )))?;
            filled.insert(key);
        }
    }
    let mut missing: Vec<String> = vars
        .iter()
        .filter(|(key, _)| !filled.contains(*key))
        .map(|(_, (name, _))| name.clone())
        .collect();
    missing.sort();
    let (head, encoder): (Vec<String>, Vec<String>) = missing
        .into_iter()
        .partition(|n| allow_new_head && is_head(n));
    if !encoder.is_empty() {
        return Err(BertError::MissingWeights {
            dir: dir.to_path_buf(),
            names: encoder,
        });
    }
    report.loaded = filled.len();
    report.new_head = head;
    report.unexpected.sort();
    Ok(report)
}

/// Saves `model` as an HF directory `dir`: `config.json` (with `architectures`, `id2label`,
/// `label2id`), `model.safetensors` (HF names, contiguous fp32) and, from `tokenizer_from`,
/// the tokenizer files it has. `transformers` loads the result with the same logits.
pub fn save(
    model: &BertClassifier,
    vs: &nn::VarStore,
    dir: &Path,
    tokenizer_from: Option<&Path>,
) -> Result<()> {
    fs_err::create_dir_all(dir)?;
    let mut config = model.config().clone();
    config.architectures = Some(vec![model.architecture()]);
    if model.task() == crate::TaskKind::Multilabel {
        config.extra.insert(
            "problem_type".into(),
            crate::heads::MULTI_LABEL_PROBLEM.into(),
        );
    }
    if config.id2label.is_none() {
        let labels: Vec<String> = (0..config.num_labels())
            .map(|i| format!("LABEL_{i}"))
            .collect();
        config.set_labels(&labels);
    }
    // Weights are written as fp32 whatever the source checkpoint held.
    config.extra.remove("torch_dtype");
    config.extra.remove("dtype");
    config.to_file(&dir.join(CONFIG_FILE))?;
    let family = config.family();
    write_safetensors_named(vs, &dir.join(WEIGHTS_FILE), |n| hf_name(family, n))?;
    if let Some(src) = tokenizer_from {
        copy_tokenizer(src, dir)?;
    }
    Ok(())
}

/// Writes every variable of `vs` under its own name as contiguous fp32 (atomically: a
/// temporary file renamed into place).
pub fn write_safetensors(vs: &nn::VarStore, path: &Path) -> Result<()> {
    write_safetensors_named(vs, path, str::to_string)
}

/// [`write_safetensors`] with each variable written under `name(its var-store name)`.
pub fn write_safetensors_named(
    vs: &nn::VarStore,
    path: &Path,
    name: impl Fn(&str) -> String,
) -> Result<()> {
    let mut named: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(n, t)| (name(&n), t))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let mut buffers = Vec::with_capacity(named.len());
    for (name, t) in &named {
        let t = t
            .f_to_device(Device::Cpu)
            .and_then(|t| t.f_to_kind(Kind::Float))
            .map_err(BertError::torch(format!("copying `{name}` to the CPU")))?
            .contiguous();
        let numel = t.numel();
        let mut bytes = vec![0u8; numel * 4];
        t.f_copy_data_u8(&mut bytes, numel)
            .map_err(BertError::torch(format!("reading `{name}`")))?;
        let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
        buffers.push((name.clone(), shape, bytes));
    }
    let mut views = Vec::with_capacity(buffers.len());
    for (name, shape, bytes) in &buffers {
        let view = safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), bytes).map_err(
            |source| BertError::Safetensors {
                path: path.to_path_buf(),
                source,
            },
        )?;
        views.push((name.as_str(), view));
    }
    // transformers refuses safetensors files whose metadata lacks format=pt.
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    let tmp = path.with_extension("safetensors.tmp");
    safetensors::tensor::serialize_to_file(views, Some(metadata), &tmp).map_err(|source| {
        BertError::Safetensors {
            path: tmp.clone(),
            source,
        }
    })?;
    fs_err::rename(&tmp, path)?;
    Ok(())
}

/// Copies the tokenizer files `src` has into `dst`; fails when it has neither
/// `tokenizer.json` nor `vocab.txt`.
pub fn copy_tokenizer(src: &Path, dst: &Path) -> Result<()> {
    if !src.join("tokenizer.json").is_file() && !src.join("vocab.txt").is_file() {
        return Err(BertError::Config {
            path: src.to_path_buf(),
            message: "no tokenizer.json or vocab.txt to copy".into(),
        });
    }
    if src.canonicalize().ok() == dst.canonicalize().ok() {
        return Ok(());
    }
    for name in TOKENIZER_FILES {
        let from = src.join(name);
        if from.is_file() {
            fs_err::copy(&from, dst.join(name))?;
        }
    }
    Ok(())
}
