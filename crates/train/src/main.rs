//! `train`: run the train stage alone on a tokenize artifact directory.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use flowcore::Globals;
use train::TrainStage;

/// Fine-tune a BERT classifier on a tokenize artifact (HF Trainer recipe, resumable).
///
/// Params not covered by a flag are set with `--set key=value` (value as JSON, else a
/// string), e.g. `--set scheduler=cosine --set early_stopping='{"patience":2}'`.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Tokenize artifact directory (the one holding manifest.json).
    #[arg(long)]
    tokenize: PathBuf,
    /// Pretrained model directory (config.json + model.safetensors).
    #[arg(long, env = "TRAIN_MODEL")]
    model: Option<PathBuf>,
    /// Passes over the training data.
    #[arg(long)]
    epochs: Option<u32>,
    /// Optimizer steps (wins over --epochs).
    #[arg(long)]
    max_steps: Option<u64>,
    /// Windows per micro-batch.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Micro-batches per optimizer step.
    #[arg(long)]
    grad_accum: Option<usize>,
    /// Peak learning rate.
    #[arg(long)]
    learning_rate: Option<f64>,
    /// Decoupled weight decay (not on biases and LayerNorm).
    #[arg(long)]
    weight_decay: Option<f64>,
    /// Warmup as a fraction of all steps.
    #[arg(long)]
    warmup_ratio: Option<f64>,
    /// Seed of head initialisation, data order and dropout.
    #[arg(long)]
    seed: Option<u64>,
    /// auto, cpu or cuda.
    #[arg(long)]
    device: Option<String>,
    /// fp32, or bf16 (autocast of the forward pass; meant for CUDA).
    #[arg(long)]
    precision: Option<String>,
    /// CPU threads of libtorch.
    #[arg(long)]
    threads: Option<usize>,
    /// Evaluate on dev every N steps, "epoch" or "no".
    #[arg(long)]
    eval_every: Option<String>,
    /// Pad every batch to the encoded max_length (to measure dynamic padding).
    #[arg(long)]
    pad_to_max_length: bool,
    /// Continue a killed run from its checkpoint (a `checkpoints/last` directory).
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Any param as key=value (value parsed as JSON, else taken as a string).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Artifact store root.
    #[arg(long, default_value = "artifacts")]
    artifacts: PathBuf,
    /// Pipeline name (sub-directory of the store).
    #[arg(long, default_value = "adhoc")]
    pipeline: String,
    /// Stage instance name.
    #[arg(long, default_value = "train")]
    name: String,
    /// Run even when an artifact with the same fingerprint exists.
    #[arg(long)]
    force: bool,
    /// More logging (-v debug, -vv trace).
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let threading = torch_link::threading::configure();
    // A worker started by a `processes = N` run of the stage.
    if let Some(code) = train::distributed::worker_main() {
        return code;
    }
    let cli = Cli::parse();
    flowcore::logging::init(cli.verbose, cli.quiet);
    if let torch_link::threading::Configured::Failed(why) = threading {
        tracing::warn!("threading left at libgomp's defaults: {why}");
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            flowcore::logging::report(&err);
            ExitCode::FAILURE
        }
    }
}

/// A `--set` value: JSON when it parses, else a string.
fn parse_value(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_string()))
}

/// A checkpoint inside a killed run's `.tmp-*` directory is deleted when the next run of the
/// stage starts, so it is copied (with its sibling `best`) to a hidden directory that stays.
fn secure_resume_dir(dir: &Path, stage_dir: &Path) -> anyhow::Result<PathBuf> {
    let in_tmp = dir
        .components()
        .any(|c| c.as_os_str().to_string_lossy().starts_with(".tmp-"));
    if !in_tmp {
        return Ok(dir.to_path_buf());
    }
    let checkpoints = dir.parent().context("the resume directory has no parent")?;
    let last = dir
        .file_name()
        .context("the resume directory has no name")?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let safe = stage_dir.join(format!(".resume-{nanos}"));
    train::checkpoint::copy_dir(checkpoints, &safe)?;
    tracing::info!(
        "copied {} to {} (the original is removed when the run starts)",
        checkpoints.display(),
        safe.display()
    );
    Ok(safe.join(last))
}

fn run(cli: Cli) -> anyhow::Result<()> {
    // Load libtorch, then check it is the version tch was built for.
    let _ = tch::get_num_threads();
    torch_link::check_libtorch().map_err(anyhow::Error::msg)?;
    let mut params = serde_json::Map::new();
    let mut put = |key: &str, value: serde_json::Value| {
        params.insert(key.to_string(), value);
    };
    if let Some(v) = &cli.model {
        put("model", v.to_string_lossy().into());
    }
    if let Some(v) = cli.epochs {
        put("epochs", v.into());
    }
    if let Some(v) = cli.max_steps {
        put("max_steps", v.into());
    }
    if let Some(v) = cli.batch_size {
        put("batch_size", v.into());
    }
    if let Some(v) = cli.grad_accum {
        put("grad_accum", v.into());
    }
    if let Some(v) = cli.learning_rate {
        put("learning_rate", v.into());
    }
    if let Some(v) = cli.weight_decay {
        put("weight_decay", v.into());
    }
    if let Some(v) = cli.warmup_ratio {
        put("warmup_ratio", v.into());
    }
    if let Some(v) = cli.seed {
        put("seed", v.into());
    }
    if let Some(v) = &cli.device {
        put("device", v.as_str().into());
    }
    if let Some(v) = &cli.precision {
        put("precision", v.as_str().into());
    }
    if let Some(v) = cli.threads {
        put("threads", v.into());
    }
    if let Some(v) = &cli.eval_every {
        put("eval_every", parse_value(v));
    }
    if cli.pad_to_max_length {
        put("pad_to_max_length", true.into());
    }
    for item in &cli.set {
        let (key, value) = item
            .split_once('=')
            .with_context(|| format!("--set {item}: expected KEY=VALUE"))?;
        put(key.trim(), parse_value(value.trim()));
    }
    let globals = Globals {
        pipeline: cli.pipeline.clone(),
        task: None,
        model: cli.model.clone(),
    };
    // Under a launcher (torchrun, Slurm), ranks other than 0 train their shard and write
    // nothing: rank 0 owns the store (and brings a resumed checkpoint to everyone).
    if let Some(launch) = train::distributed::Launch::from_env()?
        && launch.rank != 0
    {
        use flowcore::Stage;
        let resolved = TrainStage.resolve(&serde_json::Value::Object(params), &globals)?;
        let params: train::TrainParams = flowcore::params::parse(&resolved.params)?;
        train::distributed::run_rank(&cli.tokenize, &params)?;
        return Ok(());
    }
    let stage_dir = cli.artifacts.join(&cli.pipeline).join(&cli.name);
    if let Some(dir) = &cli.resume {
        if !dir.is_dir() {
            anyhow::bail!("--resume {}: no such directory", dir.display());
        }
        let dir = secure_resume_dir(dir, &stage_dir)?;
        put("resume_from", dir.to_string_lossy().into());
    }
    let executed = flowcore::stage::run_standalone(
        &TrainStage,
        &cli.artifacts,
        &cli.name,
        &serde_json::Value::Object(params),
        &globals,
        std::slice::from_ref(&cli.tokenize),
        cli.force,
    )?;
    if !executed.ran {
        tracing::info!("up to date: {}", executed.artifact.dir.display());
    }
    println!("{}", executed.artifact.dir.display());
    Ok(())
}
