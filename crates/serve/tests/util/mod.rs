//! Test helpers: tiny random checkpoints (inside a train artifact), hand-written evaluation
//! records, an in-process server on a random port, and a raw HTTP/1.1 client on std sockets
//! (so tests can also send what no well-behaved client would).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use flowcore::stage::run_standalone;
use flowcore::{Globals, StageContext, StageOutcome, TaskKind};
use serve::{Limits, ModelSpec, Server};
pub use testkit::FakeStage;

/// The pretrained model directory (`make setup` unpacks it); only its tokenizer is used.
pub fn model_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/all-MiniLM-L6-v2");
    assert!(
        dir.join("tokenizer.json").is_file(),
        "{} is missing: run `make setup` (scripts/setup.sh) first",
        dir.display()
    );
    dir
}

pub fn ner_labels() -> Vec<String> {
    ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
        .map(String::from)
        .to_vec()
}

pub fn intent_labels() -> Vec<String> {
    ["balance", "oos", "transfer", "weather"]
        .map(String::from)
        .to_vec()
}

pub fn emotion_labels() -> Vec<String> {
    ["anger", "joy", "sadness"].map(String::from).to_vec()
}

pub fn sentiment_labels() -> Vec<String> {
    ["negative", "positive"].map(String::from).to_vec()
}

/// Stand-in for the train stage: a tiny random `checkpoints/best` with the labels given.
const FAKE_TRAIN: FakeStage = FakeStage {
    kind: "train",
    run: fake_train,
};

fn fake_train(ctx: &StageContext<'_>) -> anyhow::Result<StageOutcome> {
    let task: TaskKind = serde_json::from_value(ctx.params["task"].clone())?;
    let labels: Vec<String> = serde_json::from_value(ctx.params["labels"].clone())?;
    let seed = ctx.params["seed"].as_i64().unwrap_or(0);
    let dir = ctx.out_dir.join("checkpoints/best");
    bert::write_tiny_random(&dir, &model_dir(), task, &labels, seed)?;
    // As the tokenize artifact writes it: windows of 16 sub-words, so long texts need several.
    std::fs::write(
        dir.join(evaluate::predict::ENCODING_FILE),
        serde_json::to_string(&tokenize::EncodeOptions::new(16))?,
    )?;
    Ok(StageOutcome::default())
}

/// A tiny random checkpoint inside a train artifact (with its manifest).
pub struct Checkpoint {
    pub _tmp: tempfile::TempDir,
    pub root: PathBuf,
    /// The train artifact directory.
    pub train: PathBuf,
    /// `<train>/checkpoints/best`.
    pub dir: PathBuf,
}

pub fn checkpoint(task: TaskKind, labels: &[String], seed: i64) -> Checkpoint {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("artifacts");
    let globals = Globals {
        pipeline: "test".into(),
        ..Globals::default()
    };
    let train = run_standalone(
        &FAKE_TRAIN,
        &root,
        "train",
        &serde_json::json!({"task": task, "labels": labels, "seed": seed}),
        &globals,
        &[],
        false,
    )
    .unwrap()
    .artifact
    .dir;
    Checkpoint {
        _tmp: tmp,
        dir: train.join("checkpoints/best"),
        root,
        train,
    }
}

/// An evaluation's `metrics.json` holding `split` (written where the checkpoint's temp dir is).
pub fn evaluation(ck: &Checkpoint, name: &str, split: serde_json::Value) -> PathBuf {
    let dir = ck.root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let doc = serde_json::json!({ "dev": split });
    std::fs::write(dir.join("metrics.json"), doc.to_string()).unwrap();
    dir
}

/// A server running on its own runtime and thread; stops (draining) when dropped.
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn start(spec: &ModelSpec, limits: Limits) -> Running {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let spec = spec.clone();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let server = Server::bind(&spec, limits, "127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
            addr_tx.send(server.local_addr().unwrap()).unwrap();
            server
                .run(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
    });
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the server did not start");
    Running {
        addr,
        stop: Some(stop),
        thread: Some(thread),
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request on a fresh connection (`Connection: close`) and reads the whole answer.
pub fn request(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    read_answer(&mut s).unwrap()
}

/// Reads an answer up to the end of the connection.
pub fn read_answer(s: &mut TcpStream) -> std::io::Result<Answer> {
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse_answer(&raw)
}

fn parse_answer(raw: &[u8]) -> std::io::Result<Answer> {
    let bad =
        |what: &str| std::io::Error::other(format!("{what}: {:?}", String::from_utf8_lossy(raw)));
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| bad("headers not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad("no status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body).ok_or_else(|| bad("bad chunked body"))?;
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = b.windows(2).position(|w| w == b"\r\n")?;
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..line_end]).ok()?.trim(), 16).ok()?;
        b = &b[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

/// `POST /predict` with a JSON body.
pub fn predict(addr: SocketAddr, body: &serde_json::Value) -> Answer {
    request(addr, "POST", "/predict", body.to_string().as_bytes())
}

/// The value of an unlabelled series (or the first with these labels) in `/metrics`.
pub fn metric(addr: SocketAddr, series: &str) -> f64 {
    let text = request(addr, "GET", "/metrics", b"").text();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no `{series}` in\n{text}"))
}

/// What `evaluate predict` writes for `lines` (one JSON value per line), through the same
/// predictor the CLI builds.
pub fn predict_lines(predictor: &evaluate::Predictor, input: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    predictor.run(input.as_bytes(), &mut out, "input").unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The `evaluate` binary next to this test's target directory, when a workspace build made it.
pub fn evaluate_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.parent()?;
    let bin = dir.join("evaluate");
    bin.is_file().then_some(bin)
}
