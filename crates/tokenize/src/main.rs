//! `tokenize`: run the tokenize stage alone on an ingest artifact directory.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use flowcore::Globals;
use tokenize::{LabelMode, TokenizeStage, Truncation};

/// Encode an ingest artifact into sub-word windows (Parquet) with aligned labels.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Ingest artifact directory (the one holding manifest.json).
    #[arg(long)]
    ingest: PathBuf,
    /// Model directory (tokenizer.json, or vocab.txt + tokenizer_config.json; config.json
    /// caps --max-length).
    #[arg(long, env = "TOKENIZE_MODEL")]
    model: Option<PathBuf>,
    /// Tokenizer file or directory, overriding --model's tokenizer.
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Most sub-words per window, special tokens included.
    #[arg(long, default_value_t = 128)]
    max_length: usize,
    /// Most sub-words shared by neighbouring windows (default: a quarter of --max-length).
    #[arg(long)]
    stride: Option<usize>,
    /// Which sub-words carry a word's label: first or all.
    #[arg(long, value_parser = parse_label_mode, default_value = "first")]
    label_mode: LabelMode,
    /// Sequence task: longest_first or head_tail.
    #[arg(long, value_parser = parse_truncation, default_value = "longest_first")]
    truncation: Truncation,
    /// With head_tail: sub-words kept from the start (default: a quarter of --max-length).
    #[arg(long)]
    head_tokens: Option<usize>,
    /// Artifact store root.
    #[arg(long, default_value = "artifacts")]
    artifacts: PathBuf,
    /// Pipeline name (sub-directory of the store).
    #[arg(long, default_value = "adhoc")]
    pipeline: String,
    /// Stage instance name.
    #[arg(long, default_value = "tokenize")]
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

fn parse_label_mode(s: &str) -> Result<LabelMode, String> {
    serde_json::from_value(serde_json::Value::String(s.into()))
        .map_err(|_| format!("expected `first` or `all`, found `{s}`"))
}

fn parse_truncation(s: &str) -> Result<Truncation, String> {
    serde_json::from_value(serde_json::Value::String(s.into()))
        .map_err(|_| format!("expected `longest_first` or `head_tail`, found `{s}`"))
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

fn run(cli: Cli) -> anyhow::Result<()> {
    let params = tokenize::TokenizeParams {
        tokenizer: cli.tokenizer,
        max_length: cli.max_length,
        stride: cli.stride,
        label_mode: cli.label_mode,
        truncation: cli.truncation,
        head_tokens: cli.head_tokens,
    };
    let globals = Globals {
        pipeline: cli.pipeline,
        task: None,
        model: cli.model,
    };
    let raw = serde_json::to_value(&params)?;
    let done = flowcore::stage::run_standalone(
        &TokenizeStage,
        &cli.artifacts,
        &cli.name,
        &raw,
        &globals,
        &[cli.ingest],
        cli.force,
    )?;
    let state = if done.ran { "written" } else { "up to date" };
    println!("{} ({state})", done.artifact.dir.display());
    Ok(())
}
