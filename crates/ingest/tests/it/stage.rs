//! The stage interface (fingerprint, manifest, skip) and the binary.

use serde_json::json;

use crate::util::file;
use ingest::IngestStage;

#[test]
fn runs_through_the_store_and_skips_when_up_to_date() {
    let tmp = tempfile::tempdir().unwrap();
    let params = json!({
        "format": "csv",
        "file": file(tmp.path(), "d.csv", "text,label\na,x\nb,y\nc,x\nd,y\ne,x\nf,y\ng,x\nh,y\ni,x\nj,y\n"),
        "split": {"train": 0.6, "dev": 0.2, "test": 0.2},
    });
    let globals = flowcore::Globals {
        pipeline: "t".into(),
        task: Some(flowcore::TaskKind::Sequence),
        model: None,
    };
    let root = tmp.path().join("artifacts");
    let first = flowcore::stage::run_standalone(
        &IngestStage,
        &root,
        "ingest",
        &params,
        &globals,
        &[],
        false,
    )
    .unwrap();
    assert!(first.ran);
    let m = &first.artifact.manifest;
    assert_eq!(m.kind, "ingest");
    assert_eq!(m.raw_inputs.len(), 1);
    assert_eq!(m.file("train.parquet").unwrap().rows, Some(6));
    assert_eq!(m.file("dev.parquet").unwrap().rows, Some(2));
    assert_eq!(m.file("rejects.parquet").unwrap().rows, Some(0));
    assert!(m.file("profile.md").is_some() && m.file("labels.json").is_some());
    assert_eq!(m.metrics["accounting"]["all"]["read"], 10);
    assert_eq!(m.params["task"], "sequence");
    let again = flowcore::stage::run_standalone(
        &IngestStage,
        &root,
        "ingest",
        &params,
        &globals,
        &[],
        false,
    )
    .unwrap();
    assert!(!again.ran);
    assert_eq!(again.artifact.dir, first.artifact.dir);
    // Changing the raw file changes the fingerprint.
    file(
        tmp.path(),
        "d.csv",
        "text,label\na,x\nb,y\nc,x\nd,y\ne,x\nf,y\ng,x\nh,y\ni,x\nk,y\n",
    );
    let changed = flowcore::stage::run_standalone(
        &IngestStage,
        &root,
        "ingest",
        &params,
        &globals,
        &[],
        false,
    )
    .unwrap();
    assert!(changed.ran);
    assert_ne!(changed.artifact.dir, first.artifact.dir);
}

#[test]
fn bad_params_name_the_key() {
    let err = flowcore::Stage::resolve(
        &IngestStage,
        &json!({"file": "x", "tag_colum": 1}),
        &flowcore::Globals::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("tag_colum"), "{err}");
    let err = flowcore::Stage::resolve(
        &IngestStage,
        &json!({"file": "x"}),
        &flowcore::Globals::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("no task"), "{err}");
}

#[test]
fn help_documents_every_param_and_the_binary_runs_alone() {
    let exe = env!("CARGO_BIN_EXE_ingest");
    let help = std::process::Command::new(exe)
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let params = flowcore::params::to_value(&ingest::IngestParams::default()).unwrap();
    for key in params.as_object().unwrap().keys() {
        let flag = match key.as_str() {
            "has_header" => "--no-header".to_string(),
            "strip_control" | "collapse_whitespace" | "dedup" => {
                format!("--no-{}", key.replace('_', "-"))
            }
            "split" => "--split-train".to_string(),
            "token_rewrite" => "--token-rewrite-pattern".to_string(),
            k => format!("--{}", k.replace('_', "-")),
        };
        assert!(
            help.contains(&flag),
            "--help does not document `{key}` ({flag})"
        );
    }
    // Params left out of the serialised defaults, so that existing fingerprints stay put.
    for flag in ["--label-separator", "--label-names", "multilabel"] {
        assert!(help.contains(flag), "--help does not document {flag}");
    }

    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(exe)
        .args([
            "--artifacts",
            tmp.path().join("a").to_str().unwrap(),
            "-q",
            "--task",
            "token",
        ])
        .args(["--train", &file(tmp.path(), "tr", "a O\n\nb B-X\n")])
        .args(["--dev", &file(tmp.path(), "dv", "c O\n")])
        .args(["--test", &file(tmp.path(), "te", "d I-X\n")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = std::path::PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    assert!(dir.join("manifest.json").is_file());
    assert!(dir.starts_with(tmp.path().join("a").join("adhoc").join("ingest")));

    let out = std::process::Command::new(exe)
        .args([
            "--artifacts",
            tmp.path().join("a").to_str().unwrap(),
            "--task",
            "token",
        ])
        .args(["--train", &file(tmp.path(), "bad", b"\xFF\n")])
        .args(["--dev", &file(tmp.path(), "dv", "c O\n")])
        .args(["--test", &file(tmp.path(), "te", "d O\n")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad:1: invalid UTF-8"), "{err}");
}
