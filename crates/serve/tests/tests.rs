//! Integration tests of the serve crate with tiny random-weight checkpoints on 127.0.0.1 and
//! random ports: results equal to `evaluate predict`'s for every task kind, error codes,
//! dynamic batching seen through `/metrics`, `/info`, robustness against misbehaving
//! clients, graceful shutdown of the binary on SIGTERM, and the page in headless Chromium.

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use evaluate::{InferOptions, InputFormat, Predictor};
use flowcore::TaskKind;
use serde_json::{Value, json};
use serve::{Limits, ModelSpec};
use util::*;

/// Texts of every kind a user sends: plain, Unicode, punctuation, empty, long enough to need
/// several 16-sub-word windows.
fn texts() -> Vec<String> {
    vec![
        "Alice lives in Paris .".into(),
        "Zoë moved to São Paulo!".into(),
        String::new(),
        "what is my balance".into(),
        "Alice met Bob in Paris , then flew to London with Carol and visited Berlin , Rome and Madrid before going home to New York .".into(),
        "tell me a joke".into(),
    ]
}

/// The results of `evaluate predict` for `input` by `predictor`, and the same through the
/// `evaluate` binary when a workspace build has made it.
fn reference(predictor: &Predictor, input: &str, cli_args: &[&str]) -> Vec<Value> {
    let lines = predict_lines(predictor, input);
    match evaluate_binary() {
        Some(bin) => {
            let mut child = Command::new(&bin)
                .arg("predict")
                .args(cli_args)
                .args(["--device", "cpu", "-q"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{} predict failed", bin.display());
            let cli: Vec<Value> = String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            assert_eq!(cli, lines, "the library and the CLI disagree");
        }
        None => eprintln!("no evaluate binary built; compared with the library's predict only"),
    }
    lines
}

/// `/predict` on a list equals the reference line by line, and the first input alone equals
/// the reference of a one-line input (`alone`: a batch of one pads differently, which moves
/// the last bits of the probabilities, in predict as here).
///
/// Batches may run on one thread by default (`batch_threads = adaptive`), which moves the
/// last bits too: the exact comparison keeps the thread count of `predict`.
fn assert_served_equal(spec: &ModelSpec, inputs: Vec<Value>, want: &[Value], alone: &Value) {
    let exact = Limits {
        batch_threads: serve::BatchThreads::All,
        ..Limits::default()
    };
    let server = start(spec, exact);
    let answer = predict(server.addr, &json!({ "inputs": inputs }));
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json(), Value::Array(want.to_vec()));
    let one = predict(server.addr, &json!({ "inputs": inputs[0] }));
    assert_eq!(&one.json(), alone);
    drop(server);
    // As shipped, the second request of a size runs on one thread (the first measured all):
    // the same labels, probabilities within float32 rounding.
    let server = start(spec, Limits::default());
    for _ in 0..2 {
        let one = predict(server.addr, &json!({ "inputs": inputs[0] }));
        assert_close(&one.json(), alone, "");
    }
}

/// `a` equals `b` except numbers, which may differ by 1e-5 (float32 rounding).
fn assert_close(a: &Value, b: &Value, at: &str) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!((x - y).abs() <= 1e-5, "{at}: {x} vs {y}");
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{at}: lengths");
            for (i, (x, y)) in x.iter().zip(y).enumerate() {
                assert_close(x, y, &format!("{at}[{i}]"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(
                x.keys().collect::<Vec<_>>(),
                y.keys().collect::<Vec<_>>(),
                "{at}: keys"
            );
            for (k, v) in x {
                assert_close(v, &y[k], &format!("{at}.{k}"));
            }
        }
        _ => assert_eq!(a, b, "{at}"),
    }
}

mod equal_to_predict {
    use super::*;

    #[test]
    fn token_task_entities_with_character_offsets() {
        let ck = checkpoint(TaskKind::Token, &ner_labels(), 7);
        let predictor = Predictor::load(&ck.dir, None, InferOptions::default()).unwrap();
        let texts = texts();
        let dir = ck.dir.to_str().unwrap();
        let want = reference(&predictor, &texts.join("\n"), &["--checkpoint", dir]);
        assert!(
            want.iter()
                .any(|l| !l["entities"].as_array().unwrap().is_empty()),
            "the tiny model must find some entity for the test to mean something: {want:?}"
        );
        let alone = &reference(&predictor, &texts[0], &["--checkpoint", dir])[0];
        let inputs = texts.iter().map(|t| json!(t)).collect();
        assert_served_equal(&ModelSpec::new(&ck.dir), inputs, &want, alone);
    }

    #[test]
    fn sequence_task_with_top_k_and_the_evaluations_rejection_rule() {
        let ck = checkpoint(TaskKind::Sequence, &intent_labels(), 2);
        let texts = texts();
        // A threshold between the tiny model's confidences, so the rule rejects some texts
        // (below it, or `oos` predicted) and keeps others.
        let plain = Predictor::load(&ck.dir, None, InferOptions::default()).unwrap();
        let mut confidences: Vec<f64> = predict_lines(&plain, &texts.join("\n"))
            .iter()
            .filter(|l| l["label"].is_string() && l["label"] != "oos")
            .map(|l| {
                l["probs"]
                    .as_object()
                    .unwrap()
                    .values()
                    .map(|p| p.as_f64().unwrap())
                    .fold(0.0, f64::max)
            })
            .collect();
        confidences.sort_by(f64::total_cmp);
        assert!(confidences.len() >= 2, "{confidences:?}");
        let threshold = (confidences[0] + confidences[confidences.len() - 1]) / 2.0;
        let eval = evaluation(
            &ck,
            "evaluate",
            json!({"open_set": {"rule": {"label": "oos", "threshold": threshold}}}),
        );
        let rule = evaluate::predict::recorded_reject_rule(&eval).unwrap();
        let predictor = Predictor::load(&ck.dir, None, InferOptions::default())
            .unwrap()
            .with_top_k(2)
            .with_reject(rule)
            .unwrap();
        let (dir, e) = (ck.dir.to_str().unwrap(), eval.to_str().unwrap());
        let want = reference(
            &predictor,
            &texts.join("\n"),
            &["--checkpoint", dir, "--evaluation", e, "--top-k", "2"],
        );
        let labels: Vec<&str> = want.iter().filter_map(|l| l["label"].as_str()).collect();
        assert!(
            labels.contains(&"out_of_scope") && labels.iter().any(|l| *l != "out_of_scope"),
            "the rule must reject some texts and keep others: {labels:?}"
        );
        let alone = &reference(
            &predictor,
            &texts[0],
            &["--checkpoint", dir, "--evaluation", e, "--top-k", "2"],
        )[0];
        let spec = ModelSpec {
            evaluation: Some(eval),
            top_k: 2,
            ..ModelSpec::new(&ck.dir)
        };
        assert_served_equal(
            &spec,
            texts.iter().map(|t| json!(t)).collect(),
            &want,
            alone,
        );
    }

    #[test]
    fn multilabel_task_with_the_evaluations_thresholds() {
        let ck = checkpoint(TaskKind::Multilabel, &emotion_labels(), 5);
        // Thresholds that split the tiny model's probabilities (all near 0.5).
        let eval = evaluation(
            &ck,
            "evaluate",
            json!({"decision": {"thresholds": [0.0, 1.0, 0.5], "tuned_on": "dev"}}),
        );
        let thresholds = evaluate::predict::recorded_thresholds(&eval).unwrap();
        let predictor = Predictor::load(&ck.dir, None, InferOptions::default())
            .unwrap()
            .with_thresholds(thresholds)
            .unwrap();
        let texts = texts();
        let (dir, e) = (ck.dir.to_str().unwrap(), eval.to_str().unwrap());
        let want = reference(
            &predictor,
            &texts.join("\n"),
            &["--checkpoint", dir, "--evaluation", e],
        );
        assert!(
            want[0]["labels"]
                .as_array()
                .unwrap()
                .contains(&json!("anger"))
        );
        let alone = &reference(
            &predictor,
            &texts[0],
            &["--checkpoint", dir, "--evaluation", e],
        )[0];
        let spec = ModelSpec {
            evaluation: Some(eval),
            ..ModelSpec::new(&ck.dir)
        };
        assert_served_equal(
            &spec,
            texts.iter().map(|t| json!(t)).collect(),
            &want,
            alone,
        );
    }

    #[test]
    fn binary_task_decided_by_the_evaluations_cost_threshold() {
        let ck = checkpoint(TaskKind::Sequence, &sentiment_labels(), 3);
        let texts = texts();
        // A threshold on P(positive) between the tiny model's probabilities, so the rule
        // decides some texts against their most probable label.
        let plain = Predictor::load(&ck.dir, None, InferOptions::default()).unwrap();
        let mut p: Vec<f64> = predict_lines(&plain, &texts.join("\n"))
            .iter()
            .filter_map(|l| l["probs"]["positive"].as_f64())
            .collect();
        p.sort_by(f64::total_cmp);
        let threshold = (p[0] + p[p.len() - 1]) / 2.0;
        let eval = evaluation(
            &ck,
            "evaluate",
            json!({"cost_decision": {"positive": "positive", "negative": "negative",
                "threshold": threshold, "tuned_on": "dev", "tuned_cost": 0.25,
                "bayes_threshold": 0.2}}),
        );
        let rule = evaluate::predict::recorded_cost_decision(&eval)
            .unwrap()
            .unwrap();
        let predictor = Predictor::load(&ck.dir, None, InferOptions::default())
            .unwrap()
            .with_cost_decision(rule)
            .unwrap();
        let (dir, e) = (ck.dir.to_str().unwrap(), eval.to_str().unwrap());
        let args = ["--checkpoint", dir, "--evaluation", e];
        let want = reference(&predictor, &texts.join("\n"), &args);
        let decided: Vec<(&str, f64)> = want
            .iter()
            .filter_map(|l| Some((l["label"].as_str()?, l["probs"]["positive"].as_f64()?)))
            .collect();
        assert!(
            decided
                .iter()
                .all(|(l, p)| (*l == "positive") == (*p >= threshold)),
            "decisions follow the threshold {threshold}: {decided:?}"
        );
        assert!(
            decided.iter().any(|(l, _)| *l == "positive")
                && decided.iter().any(|(l, _)| *l == "negative"),
            "the threshold must split the texts: {decided:?}"
        );
        let alone = &reference(&predictor, &texts[0], &args)[0];
        let spec = ModelSpec {
            evaluation: Some(eval),
            ..ModelSpec::new(&ck.dir)
        };
        let server = start(&spec, Limits::default());
        let info = request(server.addr, "GET", "/info", b"").json();
        assert_eq!(info["cost_decision"]["threshold"], json!(threshold));
        assert_eq!(info["reject"], Value::Null);
        drop(server);
        assert_served_equal(
            &spec,
            texts.iter().map(|t| json!(t)).collect(),
            &want,
            alone,
        );
    }

    #[test]
    fn sentence_pairs_and_candidate_ranking_as_jsonl_predict() {
        let ck = checkpoint(TaskKind::Sequence, &sentiment_labels(), 11);
        let predictor = Predictor::load(&ck.dir, None, InferOptions::default())
            .unwrap()
            .with_input(InputFormat::Jsonl)
            .unwrap();
        let objects = [
            json!({"text": "is my card blocked", "text_b": "How do I report a lost card?"}),
            json!({"text": "is my card blocked"}),
            json!({"text": "is my card blocked", "candidates": ["How do I report a lost card?", "How do I open a savings account?"]}),
            json!({"text": "is my card blocked", "text_b": "How do I open a savings account?"}),
        ];
        let input: Vec<String> = objects.iter().map(Value::to_string).collect();
        let dir = ck.dir.to_str().unwrap();
        let want = reference(
            &predictor,
            &input.join("\n"),
            &["--checkpoint", dir, "--input-format", "jsonl"],
        );
        assert_eq!(want[2]["ranking"].as_array().unwrap().len(), 2);
        // In a list of inputs a pair may also be a two-element list (alone, `"inputs": [a,
        // b]` is two texts).
        let mut inputs = objects.to_vec();
        inputs[3] = json!(["is my card blocked", "How do I open a savings account?"]);
        let args = ["--checkpoint", dir, "--input-format", "jsonl"];
        let alone = &reference(&predictor, &input[0], &args)[0];
        assert_served_equal(&ModelSpec::new(&ck.dir), inputs, &want, alone);
    }
}

#[test]
fn error_codes_name_what_was_expected() {
    let ck = checkpoint(TaskKind::Sequence, &intent_labels(), 3);
    let limits = Limits {
        max_body_bytes: 4096,
        ..Limits::default()
    };
    let server = start(&ModelSpec::new(&ck.dir), limits);
    let post = |body: &[u8]| request(server.addr, "POST", "/predict", body);

    let a = post(b"{\"inputs\": \"caf\xe9\"}");
    assert_eq!(a.status, 400, "{}", a.text());
    assert!(
        a.json()["error"]
            .as_str()
            .unwrap()
            .contains("not valid UTF-8")
    );

    let a = post(format!("{{\"inputs\": \"{}\"}}", "x".repeat(5000)).as_bytes());
    assert_eq!(a.status, 413, "{}", a.text());
    assert!(a.json()["error"].as_str().unwrap().contains("4096 bytes"));

    for (body, says) in [
        (&b"{\"inputs\": "[..], "not JSON"),
        (b"\"hello\"", "not an object"),
        (b"{\"text\": \"hello\"}", "unknown field `text`"),
        (b"{}", "missing field `inputs`"),
        (b"{\"inputs\": [\"a\", 1]}", "inputs[1]: expected a string"),
        (
            b"{\"inputs\": {\"text\": \"q\", \"candidates\": [\"a\"]}}",
            "--positive-label",
        ),
    ] {
        let a = post(body);
        assert_eq!(
            a.status,
            422,
            "{}: {}",
            String::from_utf8_lossy(body),
            a.text()
        );
        let error = a.json()["error"].as_str().unwrap().to_string();
        assert!(error.contains(says), "{error}");
        assert!(
            a.header("content-type") == Some("application/json"),
            "{:?}",
            a.headers
        );
    }
    assert_eq!(request(server.addr, "GET", "/nowhere", b"").status, 404);
    assert_eq!(request(server.addr, "GET", "/predict", b"").status, 405);
    // Still answering.
    assert_eq!(predict(server.addr, &json!({"inputs": "hi"})).status, 200);
    let text = request(server.addr, "GET", "/metrics", b"").text();
    for series in [
        "serve_requests_total{route=\"/predict\",status=\"400\"} 1",
        "serve_requests_total{route=\"/predict\",status=\"413\"} 1",
        "serve_requests_total{route=\"/predict\",status=\"422\"} 6",
        "serve_requests_total{route=\"other\",status=\"404\"} 1",
        "serve_requests_total{route=\"/predict\",status=\"200\"} 1",
    ] {
        assert!(text.contains(series), "no `{series}` in\n{text}");
    }
}

/// A request held longer than the timeout answers 504; the worker then drops it unrun.
#[test]
fn a_request_over_the_timeout_answers_504_and_is_dropped() {
    let ck = checkpoint(TaskKind::Sequence, &intent_labels(), 3);
    let limits = Limits {
        max_wait_ms: 1500,
        timeout_ms: 200,
        ..Limits::default()
    };
    let server = start(&ModelSpec::new(&ck.dir), limits);
    let t0 = Instant::now();
    let a = predict(server.addr, &json!({"inputs": "hello"}));
    assert_eq!(a.status, 504, "{}", a.text());
    assert!(
        t0.elapsed() < Duration::from_millis(1400),
        "{:?}",
        t0.elapsed()
    );
    assert!(a.json()["error"].as_str().unwrap().contains("200 ms"));
    // Once the batch closes the cancelled request is counted, not run.
    std::thread::sleep(Duration::from_millis(1800));
    assert_eq!(metric(server.addr, "serve_cancelled_total"), 1.0);
    assert_eq!(metric(server.addr, "serve_batch_requests_count"), 0.0);
}

/// A full queue answers 503 with Retry-After at once; every other request gets its answer.
#[test]
fn a_full_queue_answers_503_with_retry_after() {
    let ck = checkpoint(TaskKind::Sequence, &intent_labels(), 3);
    let limits = Limits {
        queue: 1,
        max_batch_tokens: 1,
        max_wait_ms: 0,
        ..Limits::default()
    };
    let server = start(&ModelSpec::new(&ck.dir), limits);
    let addr = server.addr;
    let heavy: Vec<String> = (0..60)
        .map(|i| format!("{i} please move twenty dollars from my savings to my checking account now and then tell me the weather"))
        .collect();
    let body = Arc::new(json!({ "inputs": heavy }));
    let n = 32;
    let barrier = Arc::new(Barrier::new(n));
    let answers: Vec<Answer> = (0..n)
        .map(|_| {
            let (barrier, body) = (Arc::clone(&barrier), Arc::clone(&body));
            std::thread::spawn(move || {
                barrier.wait();
                predict(addr, &body)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let busy: Vec<&Answer> = answers.iter().filter(|a| a.status == 503).collect();
    let ok = answers.iter().filter(|a| a.status == 200).count();
    assert_eq!(
        busy.len() + ok,
        n,
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    assert!(
        !busy.is_empty() && ok > 0,
        "{} busy, {ok} answered",
        busy.len()
    );
    for a in busy {
        assert_eq!(a.header("retry-after"), Some("1"));
        assert!(a.json()["error"].as_str().unwrap().contains("busy"));
    }
    assert_eq!(metric(addr, "serve_queue_depth"), 0.0);
}

/// Concurrent requests within the wait share a batch (the batch-size histogram shows it),
/// each still gets its own results; with a one-sub-word budget every request runs alone.
#[test]
fn concurrent_requests_are_batched_up_to_the_token_budget() {
    let ck = checkpoint(TaskKind::Sequence, &intent_labels(), 3);
    let predictor = Predictor::load(&ck.dir, None, InferOptions::default()).unwrap();
    let texts: Vec<String> = (0..8)
        .map(|i| format!("request number {i} about my balance"))
        .collect();
    let want = predict_lines(&predictor, &texts.join("\n"));
    let run = |limits: Limits| -> f64 {
        let server = start(&ModelSpec::new(&ck.dir), limits);
        let addr = server.addr;
        let barrier = Arc::new(Barrier::new(texts.len()));
        let answers: Vec<Value> = texts
            .iter()
            .map(|t| {
                let (barrier, t) = (Arc::clone(&barrier), t.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    predict(addr, &json!({ "inputs": [t] })).json()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        for (got, want) in answers.iter().zip(&want) {
            let got = &got[0];
            assert_eq!(got["text"], want["text"]);
            assert_eq!(got["label"], want["label"]);
            for (label, p) in want["probs"].as_object().unwrap() {
                let q = got["probs"][label].as_f64().unwrap();
                assert!((q - p.as_f64().unwrap()).abs() < 1e-5, "{got} vs {want}");
            }
        }
        assert_eq!(metric(addr, "serve_batch_requests_sum"), texts.len() as f64);
        metric(addr, "serve_batch_requests_count")
    };
    let batched = run(Limits {
        max_wait_ms: 1000,
        ..Limits::default()
    });
    assert!(
        batched < texts.len() as f64,
        "8 concurrent requests ran as {batched} batches"
    );
    let alone = run(Limits {
        max_wait_ms: 1000,
        max_batch_tokens: 1,
        ..Limits::default()
    });
    assert_eq!(alone, texts.len() as f64);
}

#[test]
fn info_names_the_artifacts_labels_rule_and_limits() {
    let ck = checkpoint(TaskKind::Sequence, &intent_labels(), 3);
    let eval = evaluation(
        &ck,
        "evaluate",
        json!({"open_set": {"rule": {"label": "oos", "threshold": 0.3}}}),
    );
    let spec = ModelSpec {
        evaluation: Some(eval),
        ..ModelSpec::new(&ck.dir)
    };
    let server = start(&spec, Limits::default());
    let health = request(server.addr, "GET", "/health", b"");
    assert_eq!(health.json()["status"], "ok");
    assert_eq!(health.json()["batch_seconds"], 0.0);
    let info = request(server.addr, "GET", "/info", b"").json();
    let manifest = flowcore::Manifest::read(&ck.train).unwrap();
    assert_eq!(info["train_artifact"]["fingerprint"], manifest.fingerprint);
    assert_eq!(info["train_artifact"]["stage"], "train");
    assert!(info["evaluate_artifact"].is_null(), "no manifest there");
    assert_eq!(info["task"], "sequence");
    assert_eq!(info["labels"], json!(intent_labels()));
    assert_eq!(info["reject"], json!({"label": "oos", "threshold": 0.3}));
    assert_eq!(info["encoding"]["max_length"], 16);
    assert_eq!(
        info["limits"]["max_batch_tokens"],
        Limits::default().max_batch_tokens
    );
    let page = request(server.addr, "GET", "/", b"");
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.text().contains("<textarea"));
}

/// Clients that vanish mid-request, random bytes, a huge body, then a few thousand requests:
/// the server stays up and answers each of them correctly.
#[test]
fn survives_misbehaving_clients_and_ten_thousand_requests() {
    let ck = checkpoint(TaskKind::Sequence, &intent_labels(), 3);
    let predictor = Predictor::load(&ck.dir, None, InferOptions::default()).unwrap();
    let limits = Limits {
        max_body_bytes: 64 * 1024,
        timeout_ms: 20_000,
        ..Limits::default()
    };
    let server = start(&ModelSpec::new(&ck.dir), limits);
    let addr = server.addr;
    let t0 = Instant::now();

    // Headers cut off, a body cut off, a request whose client leaves before the answer.
    for i in 0..30 {
        let mut s = TcpStream::connect(addr).unwrap();
        let cut: &[u8] = match i % 3 {
            0 => b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Len",
            1 => b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"inputs\": [\"a",
            _ => b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 19\r\n\r\n{\"inputs\": \"hello\"}",
        };
        s.write_all(cut).unwrap();
        drop(s);
    }
    // Random bytes (a fixed xorshift stream).
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..100 {
        let len = (x % 2048) as usize + 1;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(&bytes);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
        if let Ok(head) = std::str::from_utf8(sink.get(..12).unwrap_or_default()) {
            assert!(
                !head.starts_with("HTTP/1.1 2"),
                "random bytes were answered with {head}"
            );
        }
    }
    // A 16 MiB body against a 64 KiB limit: 413 without reading it all.
    {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let size = 16usize << 20;
        let head = format!(
            "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n{{\"inputs\": \""
        );
        s.write_all(head.as_bytes()).unwrap();
        let mut writer = s.try_clone().unwrap();
        let sender = std::thread::spawn(move || {
            let chunk = vec![b'a'; 64 * 1024];
            let mut sent = 0;
            while sent < size {
                if writer.write_all(&chunk).is_err() {
                    break;
                }
                sent += chunk.len();
            }
            sent
        });
        let answer = read_answer(&mut s).expect("an answer to the huge body");
        assert_eq!(answer.status, 413, "{}", answer.text());
        let sent = sender.join().unwrap();
        assert!(sent < size, "the server read all {sent} bytes");
    }

    // 10,000 requests from 8 clients in a bounded loop; each answer is the right one.
    let texts: Vec<String> = (0..50)
        .map(|i| format!("text number {i}, what is my balance"))
        .collect();
    let want: Arc<Vec<Value>> = Arc::new(predict_lines(&predictor, &texts.join("\n")));
    let texts = Arc::new(texts);
    let per_client = 1250;
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let (texts, want) = (Arc::clone(&texts), Arc::clone(&want));
            std::thread::spawn(move || {
                for k in 0..per_client {
                    let i = (c * 31 + k * 7) % texts.len();
                    let a = predict(addr, &json!({ "inputs": texts[i] }));
                    assert_eq!(a.status, 200, "{}", a.text());
                    let got = a.json();
                    assert_eq!(got["text"], want[i]["text"]);
                    assert_eq!(got["label"], want[i]["label"], "{got} vs {}", want[i]);
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    assert_eq!(request(addr, "GET", "/health", b"").status, 200);
    let text = request(addr, "GET", "/metrics", b"").text();
    let ok: f64 = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("serve_requests_total{route=\"/predict\",status=\"200\"} ")?
                .parse()
                .ok()
        })
        .unwrap();
    assert!(ok >= 10_000.0, "{ok} answered\n{text}");
    eprintln!("robustness run: {:?}", t0.elapsed());
}

/// The binary drains on SIGTERM: a request held in the batcher still gets its answer, new
/// connections are refused, and the process exits 0.
#[test]
fn the_binary_drains_in_flight_requests_on_sigterm_and_exits_0() {
    let ck = checkpoint(TaskKind::Sequence, &intent_labels(), 3);
    let mut child = Command::new(env!("CARGO_BIN_EXE_serve"))
        .args(["--checkpoint", ck.dir.to_str().unwrap()])
        .args([
            "--addr",
            "127.0.0.1:0",
            "--device",
            "cpu",
            "--max-wait-ms",
            "1500",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    // The address is in the start-up log line.
    let mut log = String::new();
    let addr = loop {
        let mut buf = [0u8; 256];
        let n = stderr.read(&mut buf).unwrap();
        assert!(n > 0, "serve exited before listening: {log}");
        log.push_str(&String::from_utf8_lossy(&buf[..n]));
        if let Some(at) = log.find("http://") {
            let rest = &log[at + "http://".len()..];
            if let Some(end) = rest.find([' ', '\n']) {
                break rest[..end].parse::<std::net::SocketAddr>().unwrap();
            }
        }
    };
    let in_flight = std::thread::spawn(move || predict(addr, &json!({"inputs": "hello"})));
    std::thread::sleep(Duration::from_millis(400));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let answer = in_flight.join().unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["text"], "hello");
    let status = child.wait().unwrap();
    let mut rest = String::new();
    let _ = stderr.read_to_string(&mut rest);
    assert!(status.success(), "exit {status}: {log}{rest}");
    assert!(rest.contains("SIGTERM"), "{rest}");
    assert!(
        TcpStream::connect(addr).is_err(),
        "still accepting after exit"
    );
}

/// The page in headless Chromium: `?text=` fills the box and submits it; the prediction must
/// appear in the DOM, every entity of the API's answer highlighted.
#[test]
fn page_shows_the_prediction_in_headless_chromium() {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    let Some(chromium) = chromium else {
        if std::env::var("REFLECT_SKIP_BROWSER").as_deref() == Ok("1") {
            eprintln!("chromium not installed; skipped because REFLECT_SKIP_BROWSER=1");
            return;
        }
        panic!(
            "chromium is not installed (apt-get install -y chromium); set REFLECT_SKIP_BROWSER=1 to skip this test"
        );
    };
    let ck = checkpoint(TaskKind::Token, &ner_labels(), 7);
    let server = start(&ModelSpec::new(&ck.dir), Limits::default());
    let text = "Alice met Bob in Paris , then flew to London";
    let api = predict(server.addr, &json!({ "inputs": text })).json();
    let entities = api["entities"].as_array().unwrap().clone();
    assert!(!entities.is_empty(), "{api}");
    let tmp = tempfile::tempdir().unwrap();
    let url = format!(
        "http://{}/?text={}",
        server.addr,
        text.replace(' ', "%20").replace(',', "%2C")
    );
    let out = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=10000",
        ])
        .arg(format!(
            "--user-data-dir={}",
            tmp.path().join("profile").display()
        ))
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed: {log}");
    assert!(
        dom.contains("data-done=\"1\""),
        "no result in the DOM:\n{dom}\n{log}"
    );
    assert!(dom.contains("token classifier"), "no /info line:\n{dom}");
    let marks = dom.matches("<mark ").count();
    assert_eq!(marks, entities.len(), "{dom}");
    for e in &entities {
        let shown = format!(
            "{}<span class=\"type\">{}</span></mark>",
            e["text"].as_str().unwrap(),
            e["type"].as_str().unwrap()
        );
        assert!(dom.contains(&shown), "entity {e} not highlighted:\n{dom}");
    }
    let console_errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
        .collect();
    assert!(
        console_errors.is_empty(),
        "console errors: {console_errors:#?}"
    );
}
