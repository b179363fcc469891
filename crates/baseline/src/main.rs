//! `baseline`: run the classical baselines on an ingest artifact, outside a pipeline.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;

use baseline::BaselineStage;
use flowcore::{Globals, LabelMap, TaskKind};

/// Train classical baselines (TF-IDF + logistic regression, random forest, majority class for
/// sequence tasks; averaged perceptron and memorisation for token tasks) on an ingest
/// artifact's train split and write dev/test predictions, metrics and a report.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// The ingest artifact directory (holding manifest.json, train/dev/test.parquet, labels.json).
    #[arg(long)]
    ingest: PathBuf,
    /// Root of the artifact store to write into.
    #[arg(long, default_value = "artifacts")]
    artifacts: PathBuf,
    /// Pipeline name (the store's sub-directory).
    #[arg(long, default_value = "adhoc")]
    pipeline: String,
    /// Task kind; read from the ingest artifact's labels.json when absent.
    #[arg(long)]
    task: Option<TaskKind>,
    /// Params as a JSON object, e.g. '{"models": ["logreg"], "logreg": {"c": 4.0}}'.
    #[arg(long, default_value = "{}")]
    params: String,
    /// A JSON file of params (overrides --params).
    #[arg(long)]
    params_file: Option<PathBuf>,
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

fn run(cli: Cli) -> anyhow::Result<()> {
    let raw = match &cli.params_file {
        Some(path) => fs_err::read_to_string(path)?,
        None => cli.params.clone(),
    };
    let params: serde_json::Value =
        serde_json::from_str(&raw).context("params are not a JSON object")?;
    let task = match cli.task {
        Some(task) => task,
        None => LabelMap::read(&cli.ingest.join(flowcore::schema::LABELS_FILE))?.task,
    };
    let globals = Globals {
        pipeline: cli.pipeline.clone(),
        task: Some(task),
        model: None,
    };
    let done = flowcore::stage::run_standalone(
        &BaselineStage,
        &cli.artifacts,
        "baseline",
        &params,
        &globals,
        std::slice::from_ref(&cli.ingest),
        cli.force,
    )?;
    if !done.ran {
        tracing::info!("up to date; nothing to do (use --force to re-run)");
    }
    let report = done
        .artifact
        .dir
        .join(flowcore::schema::predictions::REPORT_FILE);
    print!("{}", fs_err::read_to_string(&report)?);
    println!("{}", done.artifact.dir.display());
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    flowcore::logging::init(cli.verbose, cli.quiet);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            flowcore::logging::report(&err);
            ExitCode::FAILURE
        }
    }
}
