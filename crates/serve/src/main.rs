//! `serve`: answer predictions of a fine-tuned checkpoint over HTTP.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use evaluate::predict::DecisionSource;
use serve::cli::ServeArgs;

/// Serve a fine-tuned BERT checkpoint over HTTP: POST /predict (the results of `evaluate
/// predict`), GET /health, /info, /metrics (Prometheus) and a page to try it at /.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Fine-tuned HF model directory: a train artifact's checkpoints/best.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Decide as the evaluation did: an evaluate artifact (or its metrics.json) whose recorded
    /// rule is applied: a binary model's tuned cost threshold, multi-label thresholds, or the
    /// out-of-scope rejection rule.
    #[arg(long, conflicts_with_all = ["reject_below", "out_of_scope_label"])]
    evaluation: Option<PathBuf>,
    /// Out-of-scope label of the checkpoint (predicting it rejects the text).
    #[arg(long)]
    out_of_scope_label: Option<String>,
    /// Reject texts whose most probable label's probability is below this.
    #[arg(long)]
    reject_below: Option<f64>,
    #[command(flatten)]
    serve: ServeArgs,
    /// More logging (-v: one line per request; -vv trace).
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long)]
    quiet: bool,
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
    let decisions = DecisionSource {
        evaluation: cli.evaluation.clone(),
        out_of_scope_label: cli.out_of_scope_label.clone(),
        reject_below: cli.reject_below,
    };
    let spec = cli.serve.spec(cli.checkpoint.clone(), decisions)?;
    cli.serve.serve(&spec)
}
