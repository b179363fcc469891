//! The runner against small stages defined here: staleness, reasons, atomicity, integrity,
//! concurrency and pipeline-file errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use flowcore::{Globals, InputSpec, Resolved, Stage, StageContext, StageOutcome};
use pipeline::{Action, PipelineSpec, Registry, RunOptions, State, plan_pipeline};
use serde::{Deserialize, Serialize};

/// Which stages ran, in order, across all runs of one test (tests use distinct dirs).
static RUNS: Mutex<Vec<(PathBuf, String)>> = Mutex::new(Vec::new());

fn runs_in(root: &Path) -> Vec<String> {
    RUNS.lock()
        .unwrap()
        .iter()
        .filter(|(r, _)| r.starts_with(root))
        .map(|(_, s)| s.clone())
        .collect()
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct GenParams {
    file: PathBuf,
    repeat: u32,
}
impl Default for GenParams {
    fn default() -> Self {
        Self {
            file: PathBuf::new(),
            repeat: 1,
        }
    }
}

/// Reads a raw file, writes it `repeat` times.
struct Gen;
impl Stage for Gen {
    fn kind(&self) -> &'static str {
        "gen"
    }
    fn version(&self) -> u32 {
        1
    }
    fn inputs(&self) -> &'static [InputSpec] {
        &[]
    }
    fn resolve(&self, raw: &serde_json::Value, _: &Globals) -> flowcore::Result<Resolved> {
        let p: GenParams = flowcore::params::parse(raw)?;
        Ok(Resolved {
            params: flowcore::params::to_value(&p)?,
            raw_inputs: vec![p.file],
        })
    }
    fn run(&self, ctx: &StageContext<'_>) -> anyhow::Result<StageOutcome> {
        let p: GenParams = ctx.params()?;
        let text = std::fs::read_to_string(&p.file)?;
        std::fs::write(ctx.out_dir.join("part1.txt"), &text)?;
        // Test hook: a child process pauses here, half written, until it is killed.
        if let Ok(marker) = std::env::var("PIPELINE_TEST_PAUSE") {
            std::fs::write(&marker, "half written")?;
            loop {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        std::fs::write(ctx.out_dir.join("out.txt"), text.repeat(p.repeat as usize))?;
        record(ctx, "gen");
        Ok(StageOutcome {
            metrics: serde_json::json!({"bytes": text.len()}),
            rows: BTreeMap::from([("out.txt".to_string(), u64::from(p.repeat))]),
        })
    }
}

fn record(ctx: &StageContext<'_>, name: &str) {
    RUNS.lock()
        .unwrap()
        .push((ctx.out_dir.to_path_buf(), name.to_string()));
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct SuffixParams {
    suffix: String,
    slow_ms: u64,
}

/// Reads its input's `out.txt`, appends a suffix.
struct Suffix(&'static str, &'static [InputSpec]);
impl Stage for Suffix {
    fn kind(&self) -> &'static str {
        self.0
    }
    fn version(&self) -> u32 {
        1
    }
    fn inputs(&self) -> &'static [InputSpec] {
        self.1
    }
    fn resolve(&self, raw: &serde_json::Value, _: &Globals) -> flowcore::Result<Resolved> {
        let p: SuffixParams = flowcore::params::parse(raw)?;
        Ok(Resolved {
            params: flowcore::params::to_value(&p)?,
            raw_inputs: vec![],
        })
    }
    fn run(&self, ctx: &StageContext<'_>) -> anyhow::Result<StageOutcome> {
        let p: SuffixParams = ctx.params()?;
        std::thread::sleep(Duration::from_millis(p.slow_ms));
        let mut text = String::new();
        for a in ctx.inputs.values() {
            text.push_str(&std::fs::read_to_string(a.file("out.txt")?)?);
        }
        text.push_str(&p.suffix);
        std::fs::write(ctx.out_dir.join("out.txt"), text)?;
        record(ctx, self.0);
        Ok(StageOutcome::default())
    }
}

fn registry() -> Registry {
    let mut r = Registry::new();
    r.add(Box::new(Gen));
    r.add(Box::new(Suffix(
        "upper",
        &[InputSpec {
            kind: "gen",
            required: true,
        }],
    )));
    r.add(Box::new(Suffix(
        "report",
        &[InputSpec {
            kind: "upper",
            required: true,
        }],
    )));
    r
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("input.txt"), "hello ").unwrap();
        Self { dir }
    }
    fn root(&self) -> &Path {
        self.dir.path()
    }
    fn artifacts(&self) -> PathBuf {
        self.root().join("artifacts")
    }
    fn pipeline(&self, extra: &str) -> PathBuf {
        let text = format!(
            r#"
[pipeline]
name = "t"

[stages.gen]
file = "{}"
repeat = 2

[stages.upper]
suffix = "!"

[stages.report]
suffix = "?"
{extra}
"#,
            self.root().join("input.txt").display()
        );
        let path = self.root().join("p.toml");
        std::fs::write(&path, text).unwrap();
        path
    }
    fn run(&self, file: &Path, set: &[&str], opts: RunOptions) -> Vec<(String, Action)> {
        let set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
        let spec = PipelineSpec::load(file, &set).unwrap();
        let reg = registry();
        let plan = plan_pipeline(spec, &reg, &self.artifacts()).unwrap();
        plan.run(&opts)
            .unwrap()
            .into_iter()
            .map(|r| (r.stage, r.action))
            .collect()
    }
    fn status(&self, file: &Path, set: &[&str]) -> Vec<(String, State)> {
        let set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
        let spec = PipelineSpec::load(file, &set).unwrap();
        let reg = registry();
        let plan = plan_pipeline(spec, &reg, &self.artifacts()).unwrap();
        plan.stages
            .into_iter()
            .map(|s| (s.plan.instance, s.state))
            .collect()
    }
    fn error(&self, text: &str) -> String {
        let path = self.root().join("bad.toml");
        std::fs::write(&path, text).unwrap();
        let reg = registry();
        match PipelineSpec::load(&path, &[]) {
            Err(e) => e.to_string(),
            Ok(spec) => match plan_pipeline(spec, &reg, &self.artifacts()) {
                Err(e) => format!("{e:#}"),
                Ok(_) => panic!("expected an error for:\n{text}"),
            },
        }
    }
}

fn ran(actions: &[(String, Action)]) -> Vec<&str> {
    actions
        .iter()
        .filter(|(_, a)| *a == Action::Ran)
        .map(|(s, _)| s.as_str())
        .collect()
}

#[test]
fn second_run_executes_nothing_and_a_param_change_reruns_downstream_only() {
    let fx = Fixture::new();
    let file = fx.pipeline("");
    let first = fx.run(&file, &[], RunOptions::default());
    assert_eq!(ran(&first), ["gen", "upper", "report"]);
    let second = fx.run(&file, &[], RunOptions::default());
    assert!(ran(&second).is_empty(), "{second:?}");
    assert!(second.iter().all(|(_, a)| *a == Action::Skipped));

    // Change the middle stage's param: status names it, and only it and downstream run.
    let status = fx.status(&file, &["upper.suffix=\"!!\""]);
    assert_eq!(status[0].1, State::UpToDate);
    match &status[1].1 {
        State::Stale(reasons) => {
            assert_eq!(reasons, &["param suffix: \"!\" -> \"!!\"".to_string()])
        }
        other => panic!("{other:?}"),
    }
    match &status[2].1 {
        State::Stale(reasons) => assert_eq!(reasons, &["input `upper` is stale".to_string()]),
        other => panic!("{other:?}"),
    }
    let third = fx.run(&file, &["upper.suffix=\"!!\""], RunOptions::default());
    assert_eq!(ran(&third), ["upper", "report"]);
    assert_eq!(
        runs_in(fx.root()),
        ["gen", "upper", "report", "upper", "report"]
    );

    // The final output reflects the change.
    let spec = PipelineSpec::load(&file, &["upper.suffix=\"!!\"".to_string()]).unwrap();
    let reg = registry();
    let plan = plan_pipeline(spec, &reg, &fx.artifacts()).unwrap();
    let report = plan.stage("report").unwrap();
    let dir = plan.store.artifact_dir("report", &report.plan.fingerprint);
    assert_eq!(
        std::fs::read_to_string(dir.join("out.txt")).unwrap(),
        "hello hello !!?"
    );
    // Going back to the old value needs no run: that artifact still exists.
    let fourth = fx.run(&file, &[], RunOptions::default());
    assert!(ran(&fourth).is_empty());
}

#[test]
fn raw_file_change_is_detected_and_named() {
    let fx = Fixture::new();
    let file = fx.pipeline("");
    fx.run(&file, &[], RunOptions::default());
    std::fs::write(fx.root().join("input.txt"), "changed ").unwrap();
    let status = fx.status(&file, &[]);
    match &status[0].1 {
        State::Stale(r) => assert!(
            r[0].starts_with("file ") && r[0].ends_with("input.txt changed"),
            "{r:?}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        ran(&fx.run(&file, &[], RunOptions::default())),
        ["gen", "upper", "report"]
    );
}

#[test]
fn only_until_force_and_dry_run() {
    let fx = Fixture::new();
    let file = fx.pipeline("");
    let dry = fx.run(
        &file,
        &[],
        RunOptions {
            dry_run: true,
            ..Default::default()
        },
    );
    assert!(dry.iter().all(|(_, a)| *a == Action::WouldRun));
    assert!(runs_in(fx.root()).is_empty());
    assert!(!fx.artifacts().exists() || std::fs::read_dir(fx.artifacts()).unwrap().count() == 0);

    let until = fx.run(
        &file,
        &[],
        RunOptions {
            until: Some("upper".into()),
            ..Default::default()
        },
    );
    assert_eq!(ran(&until), ["gen", "upper"]);
    assert_eq!(until[2].1, Action::Excluded);

    let only = fx.run(
        &file,
        &["report.suffix=\"#\""],
        RunOptions {
            only: Some("report".into()),
            ..Default::default()
        },
    );
    assert_eq!(ran(&only), ["report"]);

    let forced = fx.run(
        &file,
        &["report.suffix=\"#\""],
        RunOptions {
            force: vec!["upper".into()],
            ..Default::default()
        },
    );
    assert_eq!(ran(&forced), ["upper", "report"]);
}

#[test]
fn only_refuses_when_an_input_is_stale() {
    let fx = Fixture::new();
    let file = fx.pipeline("");
    let spec = PipelineSpec::load(&file, &[]).unwrap();
    let reg = registry();
    let plan = plan_pipeline(spec, &reg, &fx.artifacts()).unwrap();
    let err = plan
        .run(&RunOptions {
            only: Some("upper".into()),
            ..Default::default()
        })
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("needs `gen`, which is not up to date"),
        "{err:#}"
    );
}

#[test]
fn a_changed_byte_is_detected_on_read_naming_the_file() {
    let fx = Fixture::new();
    let file = fx.pipeline("");
    fx.run(&file, &[], RunOptions::default());
    let spec = PipelineSpec::load(&file, &[]).unwrap();
    let reg = registry();
    let plan = plan_pipeline(spec, &reg, &fx.artifacts()).unwrap();
    let gen_dir = plan
        .store
        .artifact_dir("gen", &plan.stage("gen").unwrap().plan.fingerprint);
    let out = gen_dir.join("out.txt");
    let mut bytes = std::fs::read(&out).unwrap();
    bytes[0] ^= 0x20;
    std::fs::write(&out, bytes).unwrap();
    let err = flowcore::Artifact::open(&gen_dir).unwrap_err().to_string();
    assert!(err.contains(&out.display().to_string()), "{err}");
    assert!(err.contains("SHA-256"), "{err}");
    // A downstream stage that must read it refuses too.
    let err = plan
        .run(&RunOptions {
            force: vec!["upper".into()],
            ..Default::default()
        })
        .unwrap_err();
    assert!(format!("{err:#}").contains("out.txt"), "{err:#}");
}

/// Child half of `a_killed_run_leaves_no_artifact`: runs the pipeline and hangs mid-write.
#[test]
fn child_process_hangs_mid_write() {
    let Ok(pipeline_file) = std::env::var("PIPELINE_TEST_FILE") else {
        return; // only meaningful when spawned by the parent test
    };
    let artifacts = PathBuf::from(std::env::var("PIPELINE_TEST_ARTIFACTS").unwrap());
    let spec = PipelineSpec::load(Path::new(&pipeline_file), &[]).unwrap();
    let reg = registry();
    let plan = plan_pipeline(spec, &reg, &artifacts).unwrap();
    plan.run(&RunOptions::default()).unwrap();
}

#[test]
fn a_killed_run_leaves_no_artifact_and_the_next_run_completes() {
    let fx = Fixture::new();
    let file = fx.pipeline("");
    let marker = fx.root().join("half-written");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_process_hangs_mid_write", "--nocapture"])
        .env("PIPELINE_TEST_FILE", &file)
        .env("PIPELINE_TEST_ARTIFACTS", fx.artifacts())
        .env("PIPELINE_TEST_PAUSE", &marker)
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !marker.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "child never started writing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let stage_dir = fx.artifacts().join("t").join("gen");
    let entries: Vec<String> = std::fs::read_dir(&stage_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        entries.iter().all(|e| e.starts_with('.')),
        "only hidden scratch may remain after a kill: {entries:?}"
    );
    assert!(
        entries.iter().any(|e| e.starts_with(".tmp-")),
        "{entries:?}"
    );

    let actions = fx.run(&file, &[], RunOptions::default());
    assert_eq!(ran(&actions), ["gen", "upper", "report"]);
    let entries: Vec<String> = std::fs::read_dir(&stage_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !entries.iter().any(|e| e.starts_with(".tmp-")),
        "{entries:?}"
    );
}

#[test]
fn concurrent_runs_do_not_corrupt_the_store() {
    let fx = Fixture::new();
    let file = fx.pipeline("");
    let file = std::sync::Arc::new(file);
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let file = file.clone();
            let artifacts = fx.artifacts();
            std::thread::spawn(move || {
                let spec = PipelineSpec::load(&file, &["upper.slow_ms=200".to_string()]).unwrap();
                let reg = registry();
                let plan = plan_pipeline(spec, &reg, &artifacts).unwrap();
                plan.run(&RunOptions::default()).unwrap()
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    // Each stage ran exactly once over all three runs; the others found it done.
    let mut runs = runs_in(fx.root());
    runs.sort();
    assert_eq!(runs, ["gen", "report", "upper"]);
    for reports in &results {
        for r in reports {
            let dir = r.dir.as_ref().unwrap();
            flowcore::Artifact::open(dir).unwrap();
        }
    }
}

#[test]
fn bad_pipeline_files_name_file_key_and_expectation() {
    let fx = Fixture::new();
    let input = fx.root().join("input.txt");
    let input = input.display();

    let unknown = fx.error(&format!(
        "[stages.gen]\nfile = \"{input}\"\n[stages.frobnicate]\n"
    ));
    assert!(unknown.contains("bad.toml: [stages.frobnicate]: unknown stage kind `frobnicate`; expected one of: gen, report, upper"), "{unknown}");

    let cycle = fx.error(&format!(
        "[stages.gen]\nfile = \"{input}\"\n[stages.a]\nkind = \"upper\"\ninputs = [\"b\"]\n[stages.b]\nkind = \"upper\"\ninputs = [\"a\"]\n"
    ));
    assert!(
        cycle.contains("bad.toml: [stages] inputs: the inputs of stages a, b form a cycle"),
        "{cycle}"
    );

    let missing = fx.error("[stages.gen]\nfile = \"/nonexistent/data.conll\"\n");
    assert!(missing.contains("bad.toml: [stages.gen]"), "{missing}");
    assert!(
        missing.contains("/nonexistent/data.conll: no such file"),
        "{missing}"
    );

    let bad_type = fx.error(&format!(
        "[stages.gen]\nfile = \"{input}\"\nrepeat = \"twice\"\n"
    ));
    assert!(
        bad_type.contains(
            "bad.toml: [stages.gen] repeat: invalid type: string \"twice\", expected u32"
        ),
        "{bad_type}"
    );

    let unknown_key = fx.error(&format!("[stages.gen]\nfile = \"{input}\"\nrepeet = 2\n"));
    assert!(
        unknown_key.contains("bad.toml: [stages.gen]")
            && unknown_key.contains("unknown field `repeet`"),
        "{unknown_key}"
    );

    let no_input = fx.error("[stages.upper]\n");
    assert!(
        no_input.contains("[stages.upper]: needs a `gen` stage as input"),
        "{no_input}"
    );

    let syntax = fx.error("[stages.gen\n");
    assert!(syntax.contains("bad.toml: (syntax)"), "{syntax}");
}
