//! `evaluate`: score a checkpoint on tokenized splits, compare two evaluations, or label new
//! text.

use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use evaluate::{
    CheckpointChoice, DeviceChoice, EntityMode, EvaluateParams, EvaluateStage, InferOptions,
    InputFormat, Predictor, Probe, Sources,
};
use flowcore::schema::predictions as pcol;
use flowcore::{Globals, TagScheme};
use metrics::open_set::RejectTarget;

/// Evaluate a fine-tuned BERT checkpoint: predictions, seqeval/scikit-learn metrics, robustness
/// probes; compare two evaluations; label new text.
#[derive(Debug, Parser)]
#[command(version, about, subcommand_negates_reqs = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    eval: EvalArgs,
    /// More logging (-v debug, -vv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long, global = true)]
    quiet: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Metric differences between two evaluations (artifact directories or metrics.json files).
    Compare(CompareArgs),
    /// Label new text, one example per line, as JSONL.
    Predict(PredictArgs),
}

/// Evaluate (the default command).
#[derive(Debug, Args)]
struct EvalArgs {
    /// A train artifact directory: evaluate its checkpoint through the artifact store.
    #[arg(long, conflicts_with = "checkpoint")]
    train: Option<PathBuf>,
    /// An HF model directory to evaluate directly (results go to --out).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// The tokenize artifact directory holding the splits.
    #[arg(long)]
    data: Option<PathBuf>,
    /// The ingest artifact directory (words in the predictions; needed by the probes).
    #[arg(long)]
    ingest: Option<PathBuf>,
    /// Splits to evaluate (repeat or comma-separate).
    #[arg(long = "split", value_delimiter = ',', default_values_t = [String::from("dev"), String::from("test")])]
    splits: Vec<String>,
    /// With --train: which checkpoint, best or last.
    #[arg(long, value_parser = parse_json_enum::<CheckpointChoice>, default_value = "best")]
    which: CheckpointChoice,
    /// Windows per forward pass.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// auto, cpu or cuda.
    #[arg(long, value_parser = parse_json_enum::<DeviceChoice>, default_value = "auto")]
    device: DeviceChoice,
    /// Headline entity reading: default or strict.
    #[arg(long, value_parser = parse_json_enum::<EntityMode>, default_value = "default")]
    mode: EntityMode,
    /// Tag scheme of the strict reading (iob1, iob2, ioe1, ioe2, iobes, bilou).
    #[arg(long, default_value = "iob2")]
    scheme: TagScheme,
    /// Decimal places in the report.
    #[arg(long, default_value_t = 4)]
    digits: usize,
    /// Positive class of ROC-AUC / PR-AUC.
    #[arg(long)]
    positive_label: Option<String>,
    /// Cost matrix as JSON, gold -> predicted -> cost, e.g. '{"bad": {"good": 5}, "good": {"bad": 1}}'.
    #[arg(long)]
    cost_matrix: Option<String>,
    /// Robustness probes on the test split (comma-separated: case,typo,entity_swap,punct).
    #[arg(long, value_delimiter = ',', default_values_t = Probe::ALL.iter().map(|p| p.name().to_string()).collect::<Vec<_>>())]
    probes: Vec<String>,
    /// Run no robustness probes.
    #[arg(long, conflicts_with = "probes")]
    no_probes: bool,
    /// Gold label of examples to hand over (CLINC150: oos): adds the out-of-scope metrics.
    #[arg(long)]
    out_of_scope_label: Option<String>,
    /// Reject answers whose probability is below this (needs --out-of-scope-label).
    #[arg(long, conflicts_with = "reject_target")]
    reject_below: Option<f64>,
    /// Choose the threshold on dev: out_of_scope_recall=0.8 or in_scope_precision=0.95.
    #[arg(long, value_parser = RejectTarget::parse)]
    reject_target: Option<RejectTarget>,
    /// Seed of the probes.
    #[arg(long, default_value_t = 13)]
    probe_seed: u64,
    /// With --checkpoint: output directory.
    #[arg(long, default_value = "evaluate-out")]
    out: PathBuf,
    /// With --train: artifact store root.
    #[arg(long, default_value = "artifacts")]
    artifacts: PathBuf,
    /// With --train: pipeline name (sub-directory of the store).
    #[arg(long, default_value = "adhoc")]
    pipeline: String,
    /// With --train: stage instance name.
    #[arg(long, default_value = "evaluate")]
    name: String,
    /// With --train: run even when an artifact with the same fingerprint exists.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
struct CompareArgs {
    /// First evaluation: an evaluate artifact directory or a metrics.json file.
    a: PathBuf,
    /// Second evaluation.
    b: PathBuf,
    /// Print JSON (`{metric: {old, new, diff}}`) instead of a table.
    #[arg(long)]
    json: bool,
    /// Also list metrics that did not change.
    #[arg(long)]
    all: bool,
    /// Decimal places in the table.
    #[arg(long, default_value_t = 4)]
    digits: usize,
}

#[derive(Debug, Args)]
struct PredictArgs {
    /// Fine-tuned HF model directory (config.json with id2label, model.safetensors, tokenizer.json).
    #[arg(long)]
    checkpoint: PathBuf,
    /// Input text file, one example per line; `-` for stdin.
    #[arg(long, default_value = "-")]
    input: PathBuf,
    /// Output JSONL file; `-` for stdout.
    #[arg(long, default_value = "-")]
    output: PathBuf,
    /// Most sub-words per window (default: the checkpoint's encoding.json, else 128).
    #[arg(long)]
    max_length: Option<usize>,
    /// Windows per forward pass.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// auto, cpu or cuda.
    #[arg(long, value_parser = parse_json_enum::<DeviceChoice>, default_value = "auto")]
    device: DeviceChoice,
    /// Add the K most probable labels with their probabilities (sequence tasks).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// Decide as the evaluation did: an evaluate artifact (or its metrics.json) whose
    /// recorded rule is applied: the out-of-scope rejection, the multi-label thresholds or the
    /// binary cost threshold chosen on dev.
    #[arg(long, conflicts_with_all = ["reject_below", "out_of_scope_label"])]
    evaluation: Option<PathBuf>,
    /// Out-of-scope label of the checkpoint (predicting it rejects the line).
    #[arg(long)]
    out_of_scope_label: Option<String>,
    /// Reject lines whose most probable label's probability is below this.
    #[arg(long)]
    reject_below: Option<f64>,
    /// `text` (one text per line) or `jsonl`: `{"text": …}`, a pair `{"text": …, "text_b":
    /// …}`, or a query whose candidates are ranked `{"text": …, "candidates": [ … ]}`.
    #[arg(long, value_parser = parse_json_enum::<InputFormat>, default_value = "text")]
    input_format: InputFormat,
    /// The label whose probability ranks candidates (default: the second of two labels).
    #[arg(long)]
    positive_label: Option<String>,
}

fn parse_json_enum<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(s.into())).map_err(|e| format!("`{s}`: {e}"))
}

fn main() -> ExitCode {
    let threading = torch_link::threading::configure();
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

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Compare(args)) => compare(&args),
        Some(Command::Predict(args)) => predict(&args),
        None => evaluate(cli.eval),
    }
}

fn evaluate(args: EvalArgs) -> anyhow::Result<()> {
    let Some(data) = args.data.clone() else {
        bail!("--data <tokenize artifact> is required (or use a subcommand; see --help)");
    };
    let probes = if args.no_probes {
        Vec::new()
    } else {
        args.probes
            .iter()
            .map(|p| p.parse::<Probe>().map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<_>>()?
    };
    let cost_matrix = args
        .cost_matrix
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .context("--cost-matrix: expected JSON like {\"bad\": {\"good\": 5}}")?;
    let params = EvaluateParams {
        checkpoint: args.which,
        splits: args.splits.clone(),
        batch_size: args.batch_size,
        device: args.device,
        mode: args.mode,
        scheme: args.scheme,
        digits: args.digits,
        positive_label: args.positive_label.clone(),
        cost_matrix,
        probes,
        probe_seed: args.probe_seed,
        out_of_scope_label: args.out_of_scope_label.clone(),
        reject_below: args.reject_below,
        reject_target: args.reject_target,
        ..EvaluateParams::default()
    };
    match (&args.train, &args.checkpoint) {
        (Some(train), _) => {
            let mut inputs = vec![train.clone(), data];
            inputs.extend(args.ingest.clone());
            let globals = Globals {
                pipeline: args.pipeline.clone(),
                ..Globals::default()
            };
            let done = flowcore::stage::run_standalone(
                &EvaluateStage,
                &args.artifacts,
                &args.name,
                &serde_json::to_value(&params)?,
                &globals,
                &inputs,
                args.force,
            )?;
            let report = done.artifact.dir.join(pcol::REPORT_FILE);
            print!("{}", fs_err::read_to_string(&report)?);
            let state = if done.ran { "written" } else { "up to date" };
            println!("{} ({state})", done.artifact.dir.display());
        }
        (None, Some(checkpoint)) => {
            let sources = Sources {
                model_dir: checkpoint.clone(),
                tokenize_dir: data,
                ingest_dir: args.ingest.clone(),
            };
            let done = evaluate::evaluate_dirs(&sources, &params, &args.out)?;
            print!("{}", done.report);
            println!("{}", args.out.display());
        }
        (None, None) => bail!("give --train <train artifact> or --checkpoint <model dir>"),
    }
    Ok(())
}

/// `metrics.json` of an evaluate artifact directory, or the file itself.
fn metrics_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(pcol::METRICS_FILE)
    } else {
        path.to_path_buf()
    }
}

fn compare(args: &CompareArgs) -> anyhow::Result<()> {
    let (a, b) = (metrics_file(&args.a), metrics_file(&args.b));
    let text_a = fs_err::read_to_string(&a)?;
    let text_b = fs_err::read_to_string(&b)?;
    let diff = metrics::compare_str(
        &a.display().to_string(),
        &text_a,
        &b.display().to_string(),
        &text_b,
    )?;
    let diff = if args.all { diff } else { diff.changed() };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&diff.to_json())?);
    } else if diff.rows.is_empty() {
        println!("no metric changed");
    } else {
        print!("{}", diff.to_text(args.digits));
    }
    Ok(())
}

fn predict(args: &PredictArgs) -> anyhow::Result<()> {
    let opts = InferOptions {
        batch_size: args.batch_size,
        device: args.device.device()?,
        progress: false,
    };
    let predictor = Predictor::load(&args.checkpoint, args.max_length, opts)
        .with_context(|| format!("loading {}", args.checkpoint.display()))?
        .with_top_k(args.top_k)
        .with_input(args.input_format)?
        .with_positive(args.positive_label.clone())?;
    let source = evaluate::predict::DecisionSource {
        evaluation: args.evaluation.clone(),
        out_of_scope_label: args.out_of_scope_label.clone(),
        reject_below: args.reject_below,
    };
    let (predictor, applied) = predictor
        .with_decisions(&source)
        .with_context(|| format!("deciding as {}", args.checkpoint.display()))?;
    if let Some(t) = &applied.thresholds {
        tracing::info!(thresholds = ?t, "multi-label decision thresholds");
    }
    if let Some(t) = &applied.temperature {
        tracing::info!(t = t.t, fitted_on = %t.fitted_on, "probabilities scaled by the evaluation's temperature");
    }
    if let Some(c) = &applied.cost {
        tracing::info!(positive = %c.positive, threshold = c.threshold, "deciding by the evaluation's cost threshold");
    }
    if let Some(rule) = &applied.reject {
        tracing::info!(label = %rule.label, threshold = rule.threshold, "rejecting out-of-scope lines");
    }
    let dash = Path::new("-");
    let input: Box<dyn std::io::BufRead> = if args.input == dash {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(BufReader::new(fs_err::File::open(&args.input)?))
    };
    let output: Box<dyn std::io::Write> = if args.output == dash {
        Box::new(BufWriter::new(std::io::stdout().lock()))
    } else {
        Box::new(BufWriter::new(fs_err::File::create(&args.output)?))
    };
    let source = if args.input == dash {
        "stdin".to_string()
    } else {
        args.input.display().to_string()
    };
    let n = predictor.run(input, output, &source)?;
    tracing::info!(lines = n, "predicted");
    Ok(())
}
