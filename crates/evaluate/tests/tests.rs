//! Integration tests of the evaluate crate with tiny random-weight models: inference and
//! merging, the stage (determinism, label-order mapping, errors), probes, predict and the
//! binary.

mod util;

use std::collections::HashSet;
use std::io::Write as _;
use std::process::{Command, Stdio};

use evaluate::{EvaluateParams, EvaluateStage, InferOptions, Predictor, Probe};
use flowcore::TaskKind;
use flowcore::stage::run_standalone;
use metrics::Predictions;
use util::*;

fn run_evaluate(
    a: &Artifacts,
    params: serde_json::Value,
    name: &str,
) -> anyhow::Result<std::path::PathBuf> {
    let done = run_standalone(
        &EvaluateStage,
        &a.root,
        name,
        &params,
        &globals(),
        &[a.train.clone(), a.tokenize.clone(), a.ingest.clone()],
        false,
    )?;
    Ok(done.artifact.dir)
}

fn read_preds(dir: &std::path::Path, file: &str) -> Predictions {
    Predictions::read(&dir.join(file)).unwrap()
}

mod infer {
    use super::*;

    fn load(a: &Artifacts) -> evaluate::Scorer {
        evaluate::Scorer::load(
            &a.train.join("checkpoints/best"),
            &a.tokenize.join("labels.json"),
            InferOptions::default(),
        )
        .unwrap()
    }

    #[test]
    fn padding_and_batch_size_do_not_change_probabilities() {
        let a = ner_artifacts(&ner_labels());
        let windows = tokenize::read_split(&a.tokenize, "test").unwrap();
        assert!(
            windows.len() > 4,
            "the long example must need several windows: {}",
            windows.len()
        );
        let scorer = load(&a);
        let one = evaluate::infer(
            &scorer.model,
            &windows,
            &InferOptions {
                batch_size: 1,
                ..Default::default()
            },
        )
        .unwrap();
        let many = evaluate::infer(
            &scorer.model,
            &windows,
            &InferOptions {
                batch_size: 5,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(one.len(), windows.len());
        for (a, b) in one.iter().zip(&many) {
            assert_eq!(a.words, b.words);
            for (p, q) in a.probs.iter().zip(&b.probs) {
                let sum: f32 = p.iter().sum();
                assert!((sum - 1.0).abs() < 1e-5, "{p:?}");
                for (x, y) in p.iter().zip(q) {
                    assert!((x - y).abs() < 1e-5, "{p:?} vs {q:?}");
                }
            }
        }
    }

    #[test]
    fn merged_words_follow_the_ingest_words_exactly_once() {
        let a = ner_artifacts(&ner_labels());
        let windows = tokenize::read_split(&a.tokenize, "test").unwrap();
        let scorer = load(&a);
        let merged = scorer.score(&windows).unwrap();
        let ids: Vec<&str> = merged.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["te1", "te2", "te3"]);
        let splits = ner_splits();
        let test = &splits[2].1;
        for (ex, (_, words, tags)) in merged.iter().zip(test) {
            assert_eq!(ex.probs.len(), words.len());
            assert!(ex.unpredicted.is_empty());
            // Gold from the windows equals the ingest tags.
            let gold: Vec<String> = ex
                .gold
                .iter()
                .map(|g| ner_labels()[g.unwrap()].clone())
                .collect();
            assert_eq!(&gold, tags);
        }
        let labels = flowcore::LabelMap::new(TaskKind::Token, ner_labels());
        let preds =
            evaluate::predict_windows(&scorer.model, &windows, &labels, &InferOptions::default())
                .unwrap();
        assert_eq!(
            preds.rows.len(),
            test.iter().map(|r| r.1.len()).sum::<usize>()
        );
    }
}

mod stage {
    use super::*;

    #[test]
    fn writes_predictions_metrics_report_and_probes() {
        let a = ner_artifacts(&ner_labels());
        let dir = run_evaluate(&a, serde_json::json!({}), "evaluate").unwrap();
        for file in [
            "labels.json",
            "metrics.json",
            "report.txt",
            "predictions-dev.parquet",
            "predictions-test.parquet",
        ] {
            assert!(dir.join(file).is_file(), "{file}");
        }
        let metrics: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("metrics.json")).unwrap())
                .unwrap();
        assert_eq!(metrics["test"]["task"], "token");
        assert!(
            metrics["dev"]["entity"]["micro"]["f1"].is_number()
                || metrics["dev"]["entity"]["micro"]["f1"].is_null()
        );
        let report = std::fs::read_to_string(dir.join("report.txt")).unwrap();
        assert!(
            report.contains("=== dev ===") && report.contains("=== test ==="),
            "{report}"
        );

        let clean = read_preds(&dir, "predictions-test.parquet");
        let splits = ner_splits();
        let words: Vec<String> = splits[2].1.iter().flat_map(|r| r.1.clone()).collect();
        let tokens: Vec<String> = clean
            .rows
            .iter()
            .map(|r| r.token.clone().unwrap())
            .collect();
        assert_eq!(tokens, words);
        assert!(clean.has_probs());

        // Probes keep the clean ids, word indices and gold labels.
        let clean_keys: HashSet<(String, u32)> = clean
            .rows
            .iter()
            .map(|r| (r.id.clone(), r.word.unwrap()))
            .collect();
        for probe in Probe::ALL {
            let p = read_preds(&dir, &evaluate::probes::file(probe, "test"));
            assert!(!p.rows.is_empty(), "{probe:?}");
            for r in &p.rows {
                let key = (r.id.clone(), r.word.unwrap());
                assert!(clean_keys.contains(&key), "{probe:?}: {key:?}");
                let c = clean
                    .rows
                    .iter()
                    .find(|c| (c.id.clone(), c.word.unwrap()) == key)
                    .unwrap();
                assert_eq!(r.gold, c.gold);
            }
            match probe {
                Probe::Case | Probe::Typo => assert_eq!(p.rows.len(), clean.rows.len()),
                Probe::Punct => {
                    let punct = clean
                        .rows
                        .iter()
                        .filter(|r| evaluate::text::is_punct_word(r.token.as_deref().unwrap()))
                        .count();
                    assert!(punct > 0);
                    assert_eq!(p.rows.len(), clean.rows.len() - punct);
                    assert!(
                        p.rows
                            .iter()
                            .all(|r| !evaluate::text::is_punct_word(r.token.as_deref().unwrap()))
                    );
                }
                Probe::EntitySwap => {
                    // Non-entity words keep their text; some entity words changed.
                    let changed = p
                        .rows
                        .iter()
                        .filter(|r| {
                            let c = clean
                                .rows
                                .iter()
                                .find(|c| c.id == r.id && c.word == r.word)
                                .unwrap();
                            c.token != r.token
                        })
                        .count();
                    assert!(changed > 0);
                    for r in p.rows.iter().filter(|r| r.gold == "O") {
                        let c = clean
                            .rows
                            .iter()
                            .find(|c| c.id == r.id && c.word == r.word)
                            .unwrap();
                        assert_eq!(c.token, r.token);
                    }
                }
            }
        }
        let case = read_preds(&dir, &evaluate::probes::file(Probe::Case, "test"));
        for (r, c) in case.rows.iter().zip(&clean.rows) {
            let (new, old) = (r.token.clone().unwrap(), c.token.clone().unwrap());
            assert!(
                new == old.to_uppercase() || new == old.to_lowercase(),
                "{old} -> {new}"
            );
        }
    }

    #[test]
    fn same_checkpoint_twice_gives_identical_metrics_and_probes() {
        let a = ner_artifacts(&ner_labels());
        let one = run_evaluate(&a, serde_json::json!({}), "evaluate-a").unwrap();
        let two = run_evaluate(&a, serde_json::json!({}), "evaluate-b").unwrap();
        for file in ["metrics.json", "report.txt"] {
            assert_eq!(
                std::fs::read(one.join(file)).unwrap(),
                std::fs::read(two.join(file)).unwrap(),
                "{file}"
            );
        }
        for file in [
            "predictions-test.parquet",
            "predictions-probe-typo-test.parquet",
            "predictions-probe-entity_swap-test.parquet",
        ] {
            assert_eq!(read_preds(&one, file), read_preds(&two, file), "{file}");
        }
    }

    #[test]
    fn checkpoint_labels_in_another_order_are_mapped_by_name() {
        let data = ner_labels();
        let mut shuffled = data.clone();
        shuffled.rotate_left(2);
        let a = ner_artifacts(&data);
        let b = ner_artifacts(&shuffled);
        // Same seed, so the same weights: only the names of the output columns differ.
        let params = serde_json::json!({"splits": ["test"], "probes": []});
        let pa = read_preds(
            &run_evaluate(&a, params.clone(), "evaluate").unwrap(),
            "predictions-test.parquet",
        );
        let pb = read_preds(
            &run_evaluate(&b, params, "evaluate").unwrap(),
            "predictions-test.parquet",
        );
        assert_eq!(pa.labels, data);
        assert_eq!(pb.labels, data);
        for (ra, rb) in pa.rows.iter().zip(&pb.rows) {
            let (qa, qb) = (ra.probs.as_ref().unwrap(), rb.probs.as_ref().unwrap());
            for (j, label) in data.iter().enumerate() {
                // Model column k is named shuffled[k] in b and data[k] in a.
                let k = shuffled.iter().position(|l| l == label).unwrap();
                assert_eq!(qb[j], qa[k], "{label}");
            }
        }
    }

    #[test]
    fn checkpoint_with_other_labels_is_an_error_listing_them() {
        let mut other = ner_labels();
        other[3] = "B-ORG".into();
        let a = ner_artifacts(&other);
        let err = format!(
            "{:#}",
            run_evaluate(&a, serde_json::json!({"probes": []}), "evaluate").unwrap_err()
        );
        assert!(err.contains("only in the checkpoint: [\"B-ORG\"]"), "{err}");
        assert!(err.contains("only in the data: [\"B-PER\"]"), "{err}");
    }

    #[test]
    fn a_missing_split_is_named() {
        let a = ner_artifacts(&ner_labels());
        let err = format!(
            "{:#}",
            run_evaluate(
                &a,
                serde_json::json!({"splits": ["dev", "validation"]}),
                "evaluate"
            )
            .unwrap_err()
        );
        assert!(err.contains("split `validation`"), "{err}");
        assert!(err.contains("[\"train\", \"dev\", \"test\"]"), "{err}");
    }

    #[test]
    fn unknown_params_are_rejected_by_key() {
        let a = ner_artifacts(&ner_labels());
        let err = format!(
            "{:#}",
            run_evaluate(&a, serde_json::json!({"batchsize": 3}), "evaluate").unwrap_err()
        );
        assert!(err.contains("batchsize"), "{err}");
        let err = format!(
            "{:#}",
            run_evaluate(
                &a,
                serde_json::json!({"probes": ["case", "nope"]}),
                "evaluate"
            )
            .unwrap_err()
        );
        assert!(err.contains("probes"), "{err}");
    }

    #[test]
    fn sequence_task_scores_examples_and_probes_texts() {
        let a = sentiment_artifacts();
        let dir = run_evaluate(
            &a,
            serde_json::json!({"cost_matrix": {"negative": {"positive": 5.0}}}),
            "evaluate",
        )
        .unwrap();
        let metrics: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("metrics.json")).unwrap())
                .unwrap();
        assert_eq!(metrics["test"]["task"], "sequence");
        assert!(metrics["test"]["accuracy"].is_number());
        assert!(metrics["test"]["cost"]["mean"].is_number());
        assert!(
            metrics["test"]["binary"]["roc_auc"].is_number()
                || metrics["test"]["binary"]["roc_auc"].is_null()
        );
        let clean = read_preds(&dir, "predictions-test.parquet");
        assert_eq!(clean.rows.len(), 2);
        assert_eq!(
            clean.rows[0].token.as_deref(),
            Some("Revenue at Fiskars jumped 20 percent.")
        );
        for probe in Probe::ALL {
            let p = read_preds(&dir, &evaluate::probes::file(probe, "test"));
            let ids: Vec<&str> = p.rows.iter().map(|r| r.id.as_str()).collect();
            assert_eq!(ids, ["e", "f"], "{probe:?}");
            assert_eq!(p.gold(), clean.gold());
        }
        let punct = read_preds(&dir, &evaluate::probes::file(Probe::Punct, "test"));
        assert_eq!(
            punct.rows[1].token.as_deref(),
            Some("The outlook sadly is weak")
        );
        let swap = read_preds(&dir, &evaluate::probes::file(Probe::EntitySwap, "test"));
        let swapped = swap.rows[0].token.as_deref().unwrap();
        assert!(
            swapped.contains("Nokia") || swapped.contains("Elisa"),
            "{swapped}"
        );
    }

    #[test]
    fn params_default_to_dev_and_test_with_all_probes() {
        let p = EvaluateParams::default();
        assert_eq!(p.splits, ["dev", "test"]);
        assert_eq!(p.probes, Probe::ALL);
    }
}

mod predict {
    use super::*;

    #[test]
    fn token_lines_give_entities_with_character_offsets_even_for_empty_and_long_lines() {
        let a = ner_artifacts(&ner_labels());
        let predictor = Predictor::load(
            &a.train.join("checkpoints/best"),
            Some(16),
            InferOptions::default(),
        )
        .unwrap();
        let long = "Alice met Bob in Paris , ".repeat(60);
        let input = format!("Zoë lives in São Paulo!\n\n   \n{long}\r\nlast line");
        let mut out = Vec::new();
        let n = predictor.run(input.as_bytes(), &mut out, "input").unwrap();
        assert_eq!(n, 5);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 5);
        for (i, l) in lines.iter().enumerate() {
            assert_eq!(l["line"], i + 1);
            let chars: Vec<char> = l["text"].as_str().unwrap().chars().collect();
            for e in l["entities"].as_array().unwrap() {
                let (s, t) = (
                    e["start"].as_u64().unwrap() as usize,
                    e["end"].as_u64().unwrap() as usize,
                );
                let span: String = chars[s..t].iter().collect();
                assert_eq!(e["text"], span.as_str());
                assert!(["LOC", "PER"].contains(&e["type"].as_str().unwrap()));
                let score = e["score"].as_f64().unwrap();
                assert!((0.0..=1.0).contains(&score));
            }
        }
        assert_eq!(lines[1]["entities"], serde_json::json!([]));
        assert_eq!(lines[2]["entities"], serde_json::json!([]));
        assert_eq!(lines[3]["text"], long.as_str(), "the \\r is stripped");
    }

    #[test]
    fn sequence_lines_give_a_class_with_probabilities() {
        let a = sentiment_artifacts();
        let predictor = Predictor::load(
            &a.train.join("checkpoints/best"),
            None,
            InferOptions::default(),
        )
        .unwrap();
        let long = "profit fell sharply again ".repeat(200);
        let input = format!("Sales grew.\n\n{long}\n");
        let mut out = Vec::new();
        predictor.run(input.as_bytes(), &mut out, "input").unwrap();
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        let sum: f64 = lines[0]["probs"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_f64().unwrap())
            .sum();
        assert!((sum - 1.0).abs() < 1e-5);
        assert!(["negative", "positive"].contains(&lines[0]["label"].as_str().unwrap()));
        assert!(lines[1]["label"].is_null());
        assert_eq!(lines[2]["truncated"], true);
    }

    /// JSONL input: a text pair is scored as the pair (the same probabilities as the encoder's
    /// pair encoding scored directly), and a query's candidates are ranked by the probability
    /// of the positive label, each score equal to that candidate's pair line.
    #[test]
    fn jsonl_pairs_and_candidate_ranking() {
        let a = sentiment_artifacts();
        let predictor = Predictor::load(
            &a.train.join("checkpoints/best"),
            None,
            InferOptions::default(),
        )
        .unwrap()
        .with_input(evaluate::InputFormat::Jsonl)
        .unwrap();
        let input = concat!(
            "{\"text\": \"is my card blocked\", \"text_b\": \"How do I report a lost card?\"}\n",
            "{\"text\": \"is my card blocked\", \"text_b\": \"How do I open a savings account?\"}\n",
            "\n",
            "{\"text\": \"is my card blocked\", \"candidates\": [\"How do I report a lost card?\", \"How do I open a savings account?\"]}\n",
        );
        let mut out = Vec::new();
        predictor
            .run(input.as_bytes(), &mut out, "q.jsonl")
            .unwrap();
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0]["text_b"], "How do I report a lost card?");
        assert!(lines[2]["label"].is_null());
        let positive = |l: &serde_json::Value| l["probs"]["positive"].as_f64().unwrap();
        let ranking = lines[3]["ranking"].as_array().unwrap();
        assert_eq!(lines[3]["by"], "positive");
        assert_eq!(ranking.len(), 2);
        for r in ranking {
            let pair = &lines[r["index"].as_u64().unwrap() as usize];
            assert_eq!(r["candidate"], pair["text_b"]);
            assert!((r["score"].as_f64().unwrap() - positive(pair)).abs() < 1e-6);
        }
        assert!(ranking[0]["score"].as_f64() >= ranking[1]["score"].as_f64());
        // The pair is scored as a pair: another second text gives other probabilities.
        assert_ne!(positive(&lines[0]), positive(&lines[1]));
        // Bad lines are named with their line number.
        let mut sink = Vec::new();
        let err = predictor
            .run("{\"text\": 1}\n".as_bytes(), &mut sink, "q.jsonl")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("q.jsonl, line 1: expected a JSON object"),
            "{err}"
        );
        let both = "{\"text\": \"a\", \"text_b\": \"b\", \"candidates\": [\"c\"]}\n";
        let err = predictor
            .run(both.as_bytes(), &mut sink, "q.jsonl")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1: give \"text_b\""), "{err}");
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let a = sentiment_artifacts();
        let predictor = Predictor::load(
            &a.train.join("checkpoints/best"),
            None,
            InferOptions::default(),
        )
        .unwrap();
        let err = predictor
            .run(&b"fine\n\xff\xfe\n"[..], Vec::new(), "in.txt")
            .unwrap_err()
            .to_string();
        assert!(err.contains("in.txt, line 2"), "{err}");
    }
}

/// Out-of-scope rejection: gold `oos` counts as out of scope whether the checkpoint has the
/// label or not, a threshold chosen on dev is recorded and applied to test, and predict applies
/// the recorded rule.
mod out_of_scope {
    use super::*;

    fn open_set(dir: &std::path::Path, split: &str) -> serde_json::Value {
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("metrics.json")).unwrap())
                .unwrap();
        m[split]["open_set"].clone()
    }

    #[test]
    fn a_checkpoint_without_the_label_still_scores_out_of_scope_examples() {
        let in_scope: Vec<String> = intent_labels().into_iter().filter(|l| l != "oos").collect();
        let a = intent_artifacts(&in_scope);
        // Without the exception the label sets differ.
        let err = format!(
            "{:#}",
            run_evaluate(&a, serde_json::json!({"probes": []}), "plain").unwrap_err()
        );
        assert!(err.contains("only in the data: [\"oos\"]"), "{err}");
        let dir = run_evaluate(
            &a,
            serde_json::json!({"probes": [], "out_of_scope_label": "oos",
                "reject_target": {"out_of_scope_recall": 0.5}}),
            "oos",
        )
        .unwrap();
        let preds = read_preds(&dir, "predictions-test.parquet");
        let oos = preds.labels.iter().position(|l| l == "oos").unwrap();
        for r in &preds.rows {
            let p = r.probs.as_ref().unwrap();
            assert_eq!(
                p[oos], 0.0,
                "the checkpoint cannot give `oos` any probability"
            );
            assert!(((p.iter().sum::<f32>()) - 1.0).abs() < 1e-5);
            assert_ne!(r.pred, "oos");
        }
        let dev = open_set(&dir, "dev");
        let test = open_set(&dir, "test");
        assert_eq!(
            (dev["in_scope"].as_u64(), dev["out_of_scope"].as_u64()),
            (Some(4), Some(2))
        );
        assert_eq!(
            (test["in_scope"].as_u64(), test["out_of_scope"].as_u64()),
            (Some(3), Some(2))
        );
        // Only the threshold can reject here, and it was chosen on dev to catch half of dev's
        // out-of-scope questions.
        assert_eq!(dev["predicted_out_of_scope"], 0);
        assert!(dev["rule"]["threshold"].as_f64().unwrap() > 0.0, "{dev}");
        assert!(dev["out_of_scope_recall"].as_f64().unwrap() >= 0.5, "{dev}");
        assert_eq!(test["rule"], dev["rule"]);
        assert_eq!(dev["rule"]["chosen"]["split"], "dev");
    }

    #[test]
    fn an_untrained_label_and_a_fixed_threshold() {
        // The data's labels (with `oos`, absent from train) are the checkpoint's.
        let a = intent_artifacts(&intent_labels());
        let dir = run_evaluate(
            &a,
            serde_json::json!({"probes": [], "out_of_scope_label": "oos", "reject_below": 1.0}),
            "all",
        )
        .unwrap();
        // Threshold 1: every answer is rejected.
        let test = open_set(&dir, "test");
        assert_eq!(test["coverage"], 0.0);
        assert_eq!(test["out_of_scope_recall"], 1.0);
        assert_eq!(test["out_of_scope_precision"], 0.4);
        assert_eq!(test["in_scope_accuracy"], 0.0);
        assert!(test["rule"].get("chosen").is_none());
    }

    #[test]
    fn bad_settings_are_named() {
        let a = intent_artifacts(&intent_labels());
        for (params, expected) in [
            (
                serde_json::json!({"reject_below": 0.5}),
                "needs out_of_scope_label",
            ),
            (
                serde_json::json!({"out_of_scope_label": "oos", "reject_below": 1.5}),
                "not a probability",
            ),
            (
                serde_json::json!({"out_of_scope_label": "oos", "reject_below": 0.5,
                    "reject_target": {"out_of_scope_recall": 0.5}}),
                "not both",
            ),
            (
                serde_json::json!({"out_of_scope_label": "oos", "splits": ["test"],
                    "reject_target": {"in_scope_precision": 0.9}}),
                "chosen on `dev`",
            ),
            (
                serde_json::json!({"out_of_scope_label": "oos",
                    "reject_target": {"out_of_scope_recall": 0}}),
                "not a fraction",
            ),
            (
                serde_json::json!({"out_of_scope_label": "none"}),
                "`none` is not one of the labels",
            ),
        ] {
            let mut p = params.clone();
            p["probes"] = serde_json::json!([]);
            let err = format!("{:#}", run_evaluate(&a, p, "bad").unwrap_err());
            assert!(err.contains(expected), "{params}: {err}");
        }
    }

    #[test]
    fn predict_applies_the_recorded_rule_and_lists_the_top_k() {
        let a = intent_artifacts(&intent_labels());
        let dir = run_evaluate(
            &a,
            serde_json::json!({"probes": [], "out_of_scope_label": "oos",
                "reject_target": {"out_of_scope_recall": 1.0}}),
            "eval",
        )
        .unwrap();
        let rule = evaluate::predict::recorded_reject_rule(&dir).unwrap();
        assert_eq!(rule.label, "oos");
        let predictor = Predictor::load(
            &a.train.join("checkpoints/best"),
            None,
            InferOptions::default(),
        )
        .unwrap()
        .with_top_k(2)
        .with_reject(rule.clone())
        .unwrap();
        let input = "check my balance please\nsing me a song\n";
        let mut out = Vec::new();
        predictor.run(input.as_bytes(), &mut out, "input").unwrap();
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        for line in &lines {
            let top = line["top_k"].as_array().unwrap();
            assert_eq!(top.len(), 2);
            let p0 = top[0]["prob"].as_f64().unwrap();
            assert!(p0 >= top[1]["prob"].as_f64().unwrap());
            let conf = line["confidence"].as_f64().unwrap();
            assert_eq!(conf, p0);
            let best = top[0]["label"].as_str().unwrap();
            let rejected = best == "oos" || conf < rule.threshold;
            if rejected {
                assert_eq!(line["label"], "out_of_scope", "{line}");
                assert_eq!(line["best"], best);
            } else {
                assert_eq!(line["label"], best, "{line}");
                assert!(line.get("best").is_none());
            }
        }
        // The same lines through the binary with --evaluation.
        let mut child = Command::new(env!("CARGO_BIN_EXE_evaluate"))
            .args(["-q", "predict", "--top-k", "2", "--checkpoint"])
            .arg(a.train.join("checkpoints/best"))
            .arg("--evaluation")
            .arg(&dir)
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
        let done = child.wait_with_output().unwrap();
        assert!(done.status.success());
        let bin: Vec<serde_json::Value> = String::from_utf8(done.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(bin, lines);
        // An evaluation without a rule is named.
        let plain = run_evaluate(&a, serde_json::json!({"probes": []}), "plain").unwrap();
        let err = evaluate::predict::recorded_reject_rule(&plain)
            .unwrap_err()
            .to_string();
        assert!(err.contains("out_of_scope_label"), "{err}");
        // Predicting with it (what `serve` and `pipeline serve` always do) applies nothing: the
        // most probable label decides, as without an evaluation.
        let source = evaluate::predict::DecisionSource {
            evaluation: Some(plain.clone()),
            ..Default::default()
        };
        let (plain_predictor, applied) = Predictor::load(
            &a.train.join("checkpoints/best"),
            None,
            InferOptions::default(),
        )
        .unwrap()
        .with_decisions(&source)
        .unwrap();
        assert!(
            applied.reject.is_none() && applied.cost.is_none(),
            "{applied:?}"
        );
        let mut out = Vec::new();
        plain_predictor
            .run(input.as_bytes(), &mut out, "input")
            .unwrap();
        for line in String::from_utf8(out).unwrap().lines() {
            let line: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(line.get("best").is_none(), "{line}");
        }
    }
}

mod bin {
    use super::*;

    fn evaluate_bin() -> Command {
        Command::new(env!("CARGO_BIN_EXE_evaluate"))
    }

    #[test]
    fn checkpoint_mode_then_compare_two_evaluations() {
        let a = ner_artifacts(&ner_labels());
        let out = a.root.join("direct");
        let status = evaluate_bin()
            .args(["-q", "--checkpoint"])
            .arg(a.train.join("checkpoints/best"))
            .arg("--data")
            .arg(&a.tokenize)
            .args(["--split", "test", "--no-probes", "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
        assert!(String::from_utf8_lossy(&status.stdout).contains("=== test ==="));
        let other = run_evaluate(
            &a,
            serde_json::json!({"checkpoint": "last", "probes": []}),
            "evaluate",
        )
        .unwrap();
        let cmp = evaluate_bin()
            .arg("compare")
            .arg(&out)
            .arg(&other)
            .args(["--json", "--all"])
            .output()
            .unwrap();
        assert!(
            cmp.status.success(),
            "{}",
            String::from_utf8_lossy(&cmp.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&cmp.stdout).unwrap();
        assert!(json["test.words"]["diff"] == 0.0, "{json}");
        assert!(
            json.get("dev.words").is_some(),
            "dev only in the second: {json}"
        );
    }

    #[test]
    fn predict_reads_stdin_and_writes_jsonl() {
        let a = ner_artifacts(&ner_labels());
        let mut child = evaluate_bin()
            .args(["-q", "predict", "--checkpoint"])
            .arg(a.train.join("checkpoints/best"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"Alice lives in Paris\n\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
    }

    #[test]
    fn missing_data_is_a_clear_error() {
        let out = evaluate_bin().args(["--checkpoint", "x"]).output().unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("--data"));
    }
}

/// Multi-label tasks: a sigmoid per label, label sets decided at `p > threshold`, thresholds
/// tuned on dev recorded and applied to every split, and predict applying them.
mod multilabel {
    use super::*;

    fn metrics_json(dir: &std::path::Path) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join("metrics.json")).unwrap()).unwrap()
    }

    #[test]
    fn tokenize_carries_label_sets_and_the_checkpoint_is_multi_label() {
        let a = emotion_artifacts();
        let windows = tokenize::read_split(&a.tokenize, "train").unwrap();
        let sets: Vec<Option<Vec<i16>>> = windows.iter().map(|w| w.label_set.clone()).collect();
        assert_eq!(
            sets,
            [Some(vec![0]), Some(vec![1]), Some(vec![0, 2]), Some(vec![])]
        );
        assert!(windows.iter().all(|w| w.label.is_none()));
        let config: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(a.train.join("checkpoints/best/config.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(config["problem_type"], "multi_label_classification");
    }

    #[test]
    fn global_threshold_decides_every_label_and_probabilities_are_sigmoids() {
        let a = emotion_artifacts();
        let dir = run_evaluate(
            &a,
            serde_json::json!({"probes": [], "threshold": 0.5}),
            "half",
        )
        .unwrap();
        let preds = read_preds(&dir, "predictions-test.parquet");
        assert_eq!(preds.task, TaskKind::Multilabel);
        assert_eq!(preds.rows.len(), 4);
        let gold: Vec<&str> = preds.rows.iter().map(|r| r.gold.as_str()).collect();
        assert_eq!(gold, ["anger", "joy", "anger|sadness", ""]);
        // Independent sigmoids: nothing makes them sum to one (a softmax would).
        assert!(preds.rows.iter().any(|r| {
            let s: f32 = r.probs.as_ref().unwrap().iter().sum();
            (s - 1.0).abs() > 1e-3
        }));
        for r in &preds.rows {
            let p = r.probs.as_ref().unwrap();
            let want: Vec<&str> = preds
                .labels
                .iter()
                .zip(p)
                .filter(|(_, p)| f64::from(**p) > 0.5)
                .map(|(l, _)| l.as_str())
                .collect();
            assert_eq!(r.pred, want.join("|"));
        }
        let m = metrics_json(&dir);
        assert_eq!(m["test"]["task"], "multilabel");
        assert_eq!(m["test"]["examples"], 4);
        assert_eq!(m["test"]["empty_gold"], 1);
        assert_eq!(
            m["test"]["decision"],
            serde_json::json!({"thresholds": [0.5, 0.5, 0.5], "tuned_on": null})
        );
        // The summary equals the metrics crate's on the written predictions.
        let again = metrics::summarize(&preds, &metrics::SummaryOptions::default()).unwrap();
        let metrics::SplitMetrics::Multilabel(again) = again.metrics else {
            panic!("not multi-label")
        };
        assert_eq!(
            m["test"]["micro"]["f1"].as_f64(),
            Some(again.report.micro.f1)
        );
    }

    #[test]
    fn thresholds_tuned_on_dev_are_recorded_applied_to_test_and_reused_by_predict() {
        let a = emotion_artifacts();
        let dir = run_evaluate(
            &a,
            serde_json::json!({"probes": [], "tune_thresholds": true}),
            "tuned",
        )
        .unwrap();
        let m = metrics_json(&dir);
        let decision = &m["dev"]["decision"];
        assert_eq!(decision["tuned_on"], "dev");
        assert_eq!(m["test"]["decision"], *decision);
        let thresholds: Vec<f64> = serde_json::from_value(decision["thresholds"].clone()).unwrap();
        // Tuned thresholds are the best F1 per label on dev: at least as good as 0.5 there.
        let dev = read_preds(&dir, "predictions-dev.parquet");
        let gold = dev.indicators(true).unwrap();
        let probs: Vec<Vec<f32>> = dev.rows.iter().map(|r| r.probs.clone().unwrap()).collect();
        assert_eq!(
            thresholds,
            metrics::multilabel::tune_thresholds(&gold, &probs, 0.5)
        );
        let f1_at = |t: &[f64]| {
            let pred = metrics::multilabel::decide(&probs, t);
            metrics::multilabel::multilabel_report(
                &gold,
                &pred,
                &dev.labels,
                metrics::ZeroDivision::Zero,
            )
            .unwrap()
            .macro_avg
            .f1
        };
        assert!(f1_at(&thresholds) >= f1_at(&[0.5; 3]));
        assert_eq!(
            m["dev"]["macro"]["f1"].as_f64(),
            Some(f1_at(&thresholds)),
            "dev's metrics are those of the tuned thresholds"
        );
        // predict --evaluation: the same thresholds decide each line's labels.
        assert_eq!(
            evaluate::predict::recorded_thresholds(&dir).unwrap(),
            thresholds
        );
        let predictor = Predictor::load(
            &a.train.join("checkpoints/best"),
            None,
            InferOptions::default(),
        )
        .unwrap()
        .with_thresholds(thresholds.clone())
        .unwrap();
        assert_eq!(predictor.task(), TaskKind::Multilabel);
        let mut out = Vec::new();
        predictor
            .run("furious about the delay\n".as_bytes(), &mut out, "input")
            .unwrap();
        let line: serde_json::Value =
            serde_json::from_str(String::from_utf8(out).unwrap().trim()).unwrap();
        let probs = line["probs"].as_object().unwrap();
        let want: Vec<&str> = ["anger", "joy", "sadness"]
            .into_iter()
            .zip(&thresholds)
            .filter(|(l, t)| probs[*l].as_f64().unwrap() > **t)
            .map(|(l, _)| l)
            .collect();
        assert_eq!(line["labels"], serde_json::json!(want), "{line}");
        // A threshold-less evaluation has no record to reuse; single-label knobs are refused.
        let err = format!(
            "{:#}",
            run_evaluate(
                &a,
                serde_json::json!({"probes": [], "out_of_scope_label": "joy"}),
                "bad"
            )
            .unwrap_err()
        );
        assert!(err.contains("sequence tasks only"), "{err}");
    }

    #[test]
    fn bad_threshold_settings_are_named() {
        let a = emotion_artifacts();
        for (params, expected) in [
            (
                serde_json::json!({"threshold": 1.0}),
                "not a decision threshold",
            ),
            (
                serde_json::json!({"threshold": -0.1}),
                "not a decision threshold",
            ),
            (
                serde_json::json!({"tune_thresholds": true, "splits": ["test"]}),
                "tuned on `dev`",
            ),
        ] {
            let mut p = params.clone();
            p["probes"] = serde_json::json!([]);
            let err = format!("{:#}", run_evaluate(&a, p, "bad").unwrap_err());
            assert!(err.contains(expected), "{params}: {err}");
        }
        // On a single-label task the multi-label knobs are refused.
        let b = intent_artifacts(&intent_labels());
        let err = format!(
            "{:#}",
            run_evaluate(
                &b,
                serde_json::json!({"probes": [], "tune_thresholds": true}),
                "bad"
            )
            .unwrap_err()
        );
        assert!(err.contains("multi-label tasks only"), "{err}");
    }
}

mod temperature {
    use super::*;
    use metrics::calibration::scale_f32;

    fn metrics_json(dir: &std::path::Path) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join("metrics.json")).unwrap()).unwrap()
    }

    /// Mean NLL of the gold labels the model knows.
    fn nll(p: &Predictions, t: f64) -> f64 {
        let mut total = 0.0;
        let mut n = 0;
        for r in &p.rows {
            let Some(g) = p.labels.iter().position(|l| *l == r.gold) else {
                continue;
            };
            let q = scale_f32(r.probs.as_ref().unwrap(), t);
            total -= f64::from(q[g]).max(1e-12).ln();
            n += 1;
        }
        total / f64::from(n)
    }

    /// The temperature is fitted on dev (the NLL there is least at it), applied to every
    /// split's and probe's probabilities without changing a decision, recorded in metrics.json
    /// and applied by `predict --evaluation` to the same probabilities.
    #[test]
    fn fitted_on_dev_applied_everywhere_and_by_predict() {
        let a = ner_artifacts(&ner_labels());
        let plain = run_evaluate(&a, serde_json::json!({}), "plain").unwrap();
        let scaled = run_evaluate(&a, serde_json::json!({"temperature": true}), "scaled").unwrap();
        let m = metrics_json(&scaled);
        let t = m["dev"]["temperature"]["t"].as_f64().unwrap();
        assert_eq!(m["test"]["temperature"], m["dev"]["temperature"]);
        assert_eq!(m["dev"]["temperature"]["fitted_on"], "dev");
        assert!(metrics_json(&plain)["dev"].get("temperature").is_none());
        assert!(
            (t - 1.0).abs() > 1e-3,
            "a random model is not calibrated: T = {t}"
        );
        let dev = read_preds(&plain, "predictions-dev.parquet");
        let at = nll(&dev, t);
        assert!(at <= nll(&dev, 1.0), "T = {t} does not lower the dev NLL");
        // (A tiny random model may be worse than uniform: T then stops at its bound, 1000.)
        assert!(
            at <= nll(&dev, t * 1.1) + 1e-6 && at <= nll(&dev, t / 1.1) + 1e-6,
            "T = {t} is not the least dev NLL"
        );
        let recorded = m["dev"]["temperature"]["nll_after"].as_f64().unwrap();
        assert!((recorded - at).abs() < 1e-5, "{recorded} vs {at}");
        let mut files = vec![
            "predictions-dev.parquet".to_string(),
            "predictions-test.parquet".into(),
        ];
        files.extend(
            Probe::ALL
                .iter()
                .map(|&p| evaluate::probes::file(p, "test")),
        );
        for file in &files {
            let (before, after) = (read_preds(&plain, file), read_preds(&scaled, file));
            assert_eq!(before.pred(), after.pred(), "{file}: a decision changed");
            for (b, c) in before.rows.iter().zip(&after.rows) {
                let want = scale_f32(b.probs.as_ref().unwrap(), t);
                let got = c.probs.as_ref().unwrap();
                for (x, y) in want.iter().zip(got) {
                    assert!((x - y).abs() < 1e-6, "{file} {}: {want:?} vs {got:?}", b.id);
                }
            }
        }
        // The entity-level report is the same: only confidences moved.
        assert_eq!(
            m["test"]["overall"],
            metrics_json(&plain)["test"]["overall"]
        );

        // predict with the evaluation: entity scores are the scaled word probabilities.
        let load = || {
            Predictor::load(
                &a.train.join("checkpoints/best"),
                None,
                InferOptions::default(),
            )
            .unwrap()
        };
        let source = evaluate::predict::DecisionSource {
            evaluation: Some(scaled.clone()),
            ..Default::default()
        };
        let (with_t, applied) = load().with_decisions(&source).unwrap();
        assert_eq!(applied.temperature.as_ref().map(|r| r.t), Some(t));
        let (without, _) = load()
            .with_decisions(&evaluate::predict::DecisionSource {
                evaluation: Some(plain.clone()),
                ..Default::default()
            })
            .unwrap();
        let line = "Alice met Bob in Paris and Berlin";
        let run = |p: &Predictor| {
            let mut out = Vec::new();
            p.run(line.as_bytes(), &mut out, "input").unwrap();
            serde_json::from_slice::<serde_json::Value>(&out).unwrap()
        };
        let (a_line, b_line) = (run(&with_t), run(&without));
        let (ea, eb) = (
            a_line["entities"].as_array().unwrap(),
            b_line["entities"].as_array().unwrap(),
        );
        assert_eq!(ea.len(), eb.len());
        for (x, y) in ea.iter().zip(eb) {
            assert_eq!(x["text"], y["text"]);
            if t > 1.0 {
                assert!(x["score"].as_f64() <= y["score"].as_f64(), "{x} vs {y}");
            }
        }
    }

    /// `predict --evaluation <scaled>` on the test texts: the decisions it applied and one
    /// output line per test row, whose probabilities must equal the evaluation's (scaled) ones.
    fn predict_matches_the_evaluation(
        a: &Artifacts,
        scaled: &std::path::Path,
    ) -> (
        evaluate::predict::Decisions,
        Vec<(serde_json::Value, metrics::PredictionRow)>,
    ) {
        let test = read_preds(scaled, "predictions-test.parquet");
        let source = evaluate::predict::DecisionSource {
            evaluation: Some(scaled.to_path_buf()),
            ..Default::default()
        };
        let (p, applied) = Predictor::load(
            &a.train.join("checkpoints/best"),
            None,
            InferOptions::default(),
        )
        .unwrap()
        .with_decisions(&source)
        .unwrap();
        let input: Vec<&str> = test
            .rows
            .iter()
            .map(|r| r.token.as_deref().unwrap())
            .collect();
        let mut out = Vec::new();
        p.run(input.join("\n").as_bytes(), &mut out, "input")
            .unwrap();
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), test.rows.len());
        for (line, row) in lines.iter().zip(&test.rows) {
            for (label, prob) in test.labels.iter().zip(row.probs.as_ref().unwrap()) {
                let got = line["probs"][label].as_f64().unwrap();
                assert!((got - f64::from(*prob)).abs() < 1e-5, "{line} vs {row:?}");
            }
        }
        (applied, lines.into_iter().zip(test.rows).collect())
    }

    #[test]
    fn sequence_probabilities_from_predict_equal_the_evaluation() {
        let a = sentiment_artifacts();
        let scaled = run_evaluate(&a, serde_json::json!({"temperature": true}), "scaled").unwrap();
        predict_matches_the_evaluation(&a, &scaled);
    }

    /// Multi-label: one temperature per label, each the least binary NLL of its sigmoid on
    /// dev, applied to every split before the thresholds are tuned (so they are tuned on the
    /// scaled probabilities), and applied by `predict --evaluation` to the same numbers.
    #[test]
    fn multi_label_fits_one_temperature_per_label_before_the_thresholds() {
        use metrics::calibration::{scale_sigmoid, scale_sigmoids_f32};
        let a = emotion_artifacts();
        let params =
            |t: bool| serde_json::json!({"temperature": t, "tune_thresholds": true, "probes": []});
        let plain = run_evaluate(&a, params(false), "plain").unwrap();
        let scaled = run_evaluate(&a, params(true), "scaled").unwrap();
        let m = metrics_json(&scaled);
        let rec = &m["dev"]["temperature"];
        assert_eq!(m["test"]["temperature"], *rec);
        let per_label: Vec<f64> = rec["per_label"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_f64().unwrap())
            .collect();
        let dev = read_preds(&plain, "predictions-dev.parquet");
        assert_eq!(per_label.len(), dev.labels.len());
        assert_eq!(rec["items"], dev.rows.len() * dev.labels.len());
        let gold = dev.indicators(true).unwrap();
        // Each label's T is the least binary NLL of that label on dev.
        let nll = |j: usize, t: f64| -> f64 {
            dev.rows
                .iter()
                .zip(&gold)
                .map(|(r, g)| {
                    let p = scale_sigmoid(f64::from(r.probs.as_ref().unwrap()[j]), t);
                    -(if g[j] { p } else { 1.0 - p }).max(1e-12).ln()
                })
                .sum::<f64>()
                / dev.rows.len() as f64
        };
        let mut after = 0.0;
        for (j, &t) in per_label.iter().enumerate() {
            let at = nll(j, t);
            assert!(at <= nll(j, 1.0) + 1e-9, "label {j}: T = {t}");
            assert!(
                at <= nll(j, t * 1.1) + 1e-6 && at <= nll(j, t / 1.1) + 1e-6,
                "label {j}: T = {t} is not the least dev NLL"
            );
            after += at / per_label.len() as f64;
        }
        assert!((rec["nll_after"].as_f64().unwrap() - after).abs() < 1e-5);
        assert!(
            per_label.iter().any(|t| (t - 1.0).abs() > 1e-3),
            "a random model is not calibrated: {per_label:?}"
        );
        // Every split's probabilities are the scaled ones; thresholds tuned on them.
        for file in ["predictions-dev.parquet", "predictions-test.parquet"] {
            let (before, after) = (read_preds(&plain, file), read_preds(&scaled, file));
            for (b, c) in before.rows.iter().zip(&after.rows) {
                let want = scale_sigmoids_f32(b.probs.as_ref().unwrap(), &per_label);
                let got = c.probs.as_ref().unwrap();
                for (x, y) in want.iter().zip(got) {
                    assert!((x - y).abs() < 1e-6, "{file} {}: {want:?} vs {got:?}", b.id);
                }
            }
        }
        let thresholds: Vec<f64> = m["test"]["decision"]["thresholds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_f64().unwrap())
            .collect();
        let dev_scaled = read_preds(&scaled, "predictions-dev.parquet");
        let probs: Vec<Vec<f32>> = dev_scaled
            .rows
            .iter()
            .map(|r| r.probs.clone().unwrap())
            .collect();
        assert_eq!(
            thresholds,
            metrics::multilabel::tune_thresholds(&gold, &probs, 0.5)
        );
        // predict with the evaluation: the scaled probabilities and the tuned thresholds.
        let (applied, lines) = predict_matches_the_evaluation(&a, &scaled);
        assert_eq!(
            applied.temperature.map(|t| t.per_label),
            Some(per_label.clone())
        );
        for (line, row) in &lines {
            let want: Vec<&str> = metrics::predictions::split_set(&row.pred).collect();
            assert_eq!(line["labels"], serde_json::json!(want), "{line}");
        }
    }

    #[test]
    fn no_dev_is_refused_by_name() {
        let e = run_evaluate(
            &sentiment_artifacts(),
            serde_json::json!({"temperature": true, "splits": ["test"]}),
            "e",
        )
        .unwrap_err();
        let e = format!("{e:#}");
        assert!(e.contains("temperature") && e.contains("dev"), "{e}");
    }
}
