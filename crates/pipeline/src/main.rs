//! `pipeline`: run a pipeline file with make-like staleness, show its status, check the set-up.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use pipeline::{PipelineSpec, Registry, RunOptions, State, plan_pipeline, render_reports};

/// Run BERT fine-tuning pipelines (ingest → tokenize → train → evaluate → reflect) with
/// make-like staleness: a stage re-runs only when its params, inputs or raw files changed.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// More logging (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long, global = true)]
    quiet: bool,
}

#[derive(clap::Args)]
struct Target {
    /// The pipeline file, e.g. pipelines/demo.toml.
    file: PathBuf,
    /// Override a param without editing the file: `<stage>.<param>=<value>` (TOML value).
    #[arg(long = "set", value_name = "STAGE.PARAM=VALUE")]
    set: Vec<String>,
    /// Root of the artifact store.
    #[arg(long, env = "BERTFLOW_ARTIFACTS", default_value = "artifacts")]
    artifacts: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Run the stale stages of a pipeline in dependency order.
    Run {
        #[command(flatten)]
        target: Target,
        /// Print what would run and why; run nothing.
        #[arg(long)]
        dry_run: bool,
        /// Re-run this stage (and everything downstream) even if up to date.
        #[arg(long, value_name = "STAGE")]
        force: Vec<String>,
        /// Run only this stage; its inputs must be up to date.
        #[arg(long, value_name = "STAGE", conflicts_with = "until")]
        only: Option<String>,
        /// Run this stage and its upstream stages, nothing downstream.
        #[arg(long, value_name = "STAGE")]
        until: Option<String>,
    },
    /// Run the pipeline over a grid of params and seeds (its `[sweep]` table and/or --grid,
    /// --seeds) up to evaluate, choose on dev, report test once for the chosen variant.
    Sweep {
        #[command(flatten)]
        target: Target,
        /// A grid axis: `<stage>.<param>=v1,v2,...` (repeatable; adds to or replaces the
        /// file's `[sweep] grid`).
        #[arg(long, value_name = "STAGE.PARAM=V1,V2")]
        grid: Vec<String>,
        /// Train seeds, e.g. `42,43,44` (replaces the file's `[sweep] seeds`).
        #[arg(long)]
        seeds: Option<String>,
        /// Bootstrap resamples of the CIs and the paired comparison.
        #[arg(long, default_value_t = 1000)]
        resamples: usize,
    },
    /// From findings to a better recipe: run the remedies the latest reflection proposes as
    /// trials (successive halving stops those that trail), adopt one only when its dev gain's
    /// paired bootstrap CI excludes 0, repeat on the new recipe; test is read once at the end.
    /// Writes `<pipeline>.improved.toml` and an improve report.
    Improve {
        #[command(flatten)]
        target: Target,
        /// Wall-clock budget in minutes; trials stop (and no new one starts) past it.
        #[arg(long, value_name = "M")]
        budget_minutes: Option<f64>,
        /// Most trials over all rounds.
        #[arg(long, default_value_t = 6, value_name = "N")]
        max_runs: usize,
        /// Most rounds (a round that adopts a remedy is followed by one on the new recipe).
        #[arg(long, default_value_t = 1, value_name = "R")]
        rounds: usize,
        /// Share of the earlier trials' dev values at a step a trial must reach (1/eta).
        #[arg(long, default_value_t = 0.5)]
        halving_keep: f64,
        /// Slack below that bar before a trial is stopped (dev metric units).
        #[arg(long, default_value_t = 0.01)]
        halving_margin: f64,
        /// Share of a trial's steps before halving may stop it.
        #[arg(long, default_value_t = 0.2)]
        halving_after: f64,
        /// Bootstrap resamples of the CIs and the paired comparison.
        #[arg(long, default_value_t = 1000)]
        resamples: usize,
        /// Dev sets smaller than this confirm an adopted remedy that retrained on a second
        /// training seed (0: never).
        #[arg(long, default_value_t = pipeline::improve::CONFIRM_BELOW, value_name = "N")]
        confirm_below: usize,
    },
    /// Serve the pipeline's checkpoint over HTTP (POST /predict, /health, /info, /metrics, a
    /// page at /): the up-to-date train artifact's best checkpoint, deciding as its evaluate
    /// artifact recorded (cost threshold, multi-label thresholds or rejection rule).
    Serve {
        #[command(flatten)]
        target: Target,
        /// The evaluate stage whose artifacts are served, when the pipeline has several.
        #[arg(long, value_name = "STAGE")]
        stage: Option<String>,
        #[command(flatten)]
        serve: serve::cli::ServeArgs,
    },
    /// Show each stage as up to date or stale, and why.
    Status {
        #[command(flatten)]
        target: Target,
    },
    /// Check the toolchain: libtorch version, CUDA, threads, model directories.
    Doctor {
        /// Directory holding model directories.
        #[arg(long, default_value = "models")]
        models: PathBuf,
    },
}

fn main() -> ExitCode {
    let threading = torch_link::threading::configure();
    // A worker started by a `train.processes = N` stage of this pipeline.
    if let Some(code) = train::distributed::worker_main() {
        return code;
    }
    let cli = Cli::parse();
    flowcore::logging::init(cli.verbose, cli.quiet);
    if let torch_link::threading::Configured::Failed(why) = threading {
        tracing::warn!("threading left at libgomp's defaults: {why}");
    }
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            flowcore::logging::report(&err);
            ExitCode::FAILURE
        }
    }
}

fn registry() -> Registry {
    pipeline::default_registry()
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Run {
            target,
            dry_run,
            force,
            only,
            until,
        } => {
            check_torch()?;
            let spec = PipelineSpec::load(&target.file, &target.set)?;
            let registry = registry();
            let plan = plan_pipeline(spec, &registry, &target.artifacts)?;
            let reports = plan.run(&RunOptions {
                dry_run,
                force,
                only,
                until,
                monitor: None,
            })?;
            print!("{}", render_reports(&reports));
            if !dry_run {
                print_headline(&plan, &reports);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Sweep {
            target,
            grid,
            seeds,
            resamples,
        } => {
            check_torch()?;
            let spec = pipeline::sweep::SweepSpec::from_file(&target.file)?
                .unwrap_or_default()
                .with_cli(&grid, seeds.as_deref())?;
            if spec.grid.is_empty() && spec.seeds.is_empty() {
                anyhow::bail!(
                    "{}: nothing to sweep: add a `[sweep]` table or --grid / --seeds",
                    target.file.display()
                );
            }
            let registry = registry();
            let report = pipeline::sweep::run_sweep(
                &target.file,
                &spec,
                &registry,
                &target.artifacts,
                &pipeline::sweep::SweepOptions {
                    base: target.set.clone(),
                    bootstrap: reflect::stats::bootstrap::Bootstrap {
                        resamples,
                        seed: 0,
                        level: 0.95,
                    },
                },
            )?;
            let dir = pipeline::sweep::write_report(&report, &target.artifacts)?;
            print!("{}", report.markdown());
            println!("\nsweep report: {}", dir.join("sweep.md").display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Improve {
            target,
            budget_minutes,
            max_runs,
            rounds,
            halving_keep,
            halving_margin,
            halving_after,
            resamples,
            confirm_below,
        } => {
            let budget = match budget_minutes {
                None => None,
                Some(m) if m.is_finite() && m > 0.0 => {
                    Some(std::time::Duration::from_secs_f64(m * 60.0))
                }
                Some(m) => {
                    anyhow::bail!("--budget-minutes {m}: expected a positive number of minutes")
                }
            };
            let opts = pipeline::improve::ImproveOptions {
                base: target.set.clone(),
                budget,
                max_runs,
                rounds,
                bootstrap: reflect::stats::bootstrap::Bootstrap {
                    resamples,
                    seed: 0,
                    level: 0.95,
                },
                halving: pipeline::improve::halving::Halving {
                    keep: halving_keep,
                    margin: halving_margin,
                    min_progress: halving_after,
                },
                confirm_below,
            };
            opts.check()?;
            check_torch()?;
            let registry = registry();
            let report =
                pipeline::improve::run_improve(&target.file, &registry, &target.artifacts, &opts)?;
            let dir = pipeline::improve::write_report(&report, &target.artifacts)?;
            print!("{}", report.markdown());
            println!("\nimprove report: {}", dir.join("improve.md").display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve {
            target,
            stage,
            serve,
        } => {
            check_torch()?;
            let spec = PipelineSpec::load(&target.file, &target.set)?;
            let registry = registry();
            let plan = plan_pipeline(spec, &registry, &target.artifacts)?;
            let served = pipeline::serving::locate(&plan, stage.as_deref())?;
            tracing::info!(
                checkpoint = %served.checkpoint.display(),
                evaluation = ?served.evaluation,
                "serving stages {}",
                served.stages.join(" + ")
            );
            let decisions = evaluate::predict::DecisionSource {
                evaluation: served.evaluation,
                ..Default::default()
            };
            serve.serve(&serve.spec(served.checkpoint, decisions)?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { target } => {
            let spec = PipelineSpec::load(&target.file, &target.set)?;
            let registry = registry();
            let plan = plan_pipeline(spec, &registry, &target.artifacts)?;
            let mut stale = false;
            for s in &plan.stages {
                match &s.state {
                    State::UpToDate => println!(
                        "{:<14} up to date  {}",
                        s.plan.instance,
                        plan.store
                            .artifact_dir(&s.plan.instance, &s.plan.fingerprint)
                            .display()
                    ),
                    State::Stale(reasons) => {
                        stale = true;
                        println!(
                            "{:<14} stale       {}  ({})",
                            s.plan.instance,
                            s.plan.fingerprint,
                            reasons.join("; ")
                        );
                    }
                }
            }
            for line in
                pipeline::sweep::status_lines(&target.artifacts, &plan.spec.globals.pipeline)
            {
                println!("{line}");
            }
            Ok(if stale {
                ExitCode::from(3)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Doctor { models } => doctor(&models),
    }
}

/// End of a run: where the report is and the headline numbers.
fn print_headline(plan: &pipeline::PipelinePlan<'_>, reports: &[pipeline::StageReport]) {
    for r in reports {
        let Some(dir) = &r.dir else { continue };
        let kind = plan.stage(&r.stage).map(|s| s.plan.kind.as_str());
        if kind == Some("reflect") {
            println!();
            match reflect::headline(dir) {
                Ok(text) => print!("{text}"),
                Err(e) => println!("report: {} ({e})", dir.join("report.html").display()),
            }
        }
    }
}

fn check_torch() -> Result<()> {
    torch_link::check_libtorch().map_err(anyhow::Error::msg)?;
    Ok(())
}

fn doctor(models: &Path) -> Result<ExitCode> {
    let mut ok = true;
    // Touch libtorch so it is certainly mapped before we look for it.
    let threads = tch::get_num_threads();
    match torch_link::check_libtorch() {
        Ok(found) => println!(
            "libtorch     {} ({})",
            found.version.as_deref().unwrap_or("?"),
            found.lib_dir.display()
        ),
        Err(msg) => {
            ok = false;
            println!("libtorch     ERROR: {msg}");
        }
    }
    let cuda = tch::Cuda::is_available();
    println!(
        "cuda         {} ({} device(s)){}",
        if cuda { "available" } else { "not available" },
        tch::Cuda::device_count(),
        if cuda && tch::Cuda::cudnn_is_available() {
            ", cuDNN"
        } else {
            ""
        }
    );
    println!("threads      {threads} (torch intra-op)");
    println!(
        "cpus         {}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let mut found_models = Vec::new();
    if let Ok(entries) = std::fs::read_dir(models) {
        for entry in entries.flatten() {
            let dir = entry.path();
            if dir.join("config.json").is_file() {
                let weights = ["model.safetensors", "model.safetensors.index.json"]
                    .iter()
                    .any(|f| dir.join(f).is_file());
                let tokenizer = ["tokenizer.json", "vocab.txt"]
                    .iter()
                    .any(|f| dir.join(f).is_file());
                found_models.push(format!(
                    "{}{}{}",
                    dir.display(),
                    if weights {
                        ""
                    } else {
                        "  (no model.safetensors)"
                    },
                    if tokenizer { "" } else { "  (no tokenizer)" }
                ));
            }
        }
    }
    found_models.sort();
    if found_models.is_empty() {
        ok = false;
        println!(
            "models       none under {} (run `make setup`)",
            models.display()
        );
    } else {
        for (i, m) in found_models.iter().enumerate() {
            println!(
                "{} {m}",
                if i == 0 {
                    "models      "
                } else {
                    "            "
                }
            );
        }
    }
    let _ = std::env::current_dir().context("current directory")?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
