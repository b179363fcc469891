//! Parity with seqeval 1.2.2 and scikit-learn: every case in `tests/fixtures/*.json`
//! (written by `scripts/fixtures/metrics/make_fixtures.py`) must give the same numbers to
//! 1e-9 and the same report text byte for byte.

use std::path::PathBuf;

use flowcore::TagScheme;
use metrics::classification::{
    accuracy, average_precision, classification_report, confusion_matrix, macro_f1, roc_auc,
};
use metrics::entity::{Mode, entity_report, token_accuracy};
use metrics::{Prfs, ZeroDivision};
use serde_json::Value;

const TOL: f64 = 1e-9;

fn load(name: &str) -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run scripts/fixtures/metrics/make_fixtures.py",
            path.display()
        )
    });
    let doc: Value = serde_json::from_str(&text).unwrap();
    doc["cases"].as_array().unwrap().clone()
}

/// A fixture number: JSON number, or the strings `nan` / `inf` / `-inf`.
fn f(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap(),
        Value::String(s) => s.parse().unwrap(),
        other => panic!("not a number: {other}"),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || (a - b).abs() <= TOL
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

fn nested(v: &Value) -> Vec<Vec<String>> {
    v.as_array().unwrap().iter().map(strings).collect()
}

fn zd(case: &Value) -> ZeroDivision {
    if case["zero_division"] == 1 {
        ZeroDivision::One
    } else {
        ZeroDivision::Zero
    }
}

fn check_prfs(errors: &mut Vec<String>, what: &str, ours: &Prfs, theirs: &Value) {
    let t = theirs.as_array().unwrap();
    let ok = close(ours.precision, f(&t[0]))
        && close(ours.recall, f(&t[1]))
        && close(ours.f1, f(&t[2]))
        && ours.support as u64 == t[3].as_u64().unwrap();
    if !ok {
        errors.push(format!("{what}: ours {ours:?}, seqeval {theirs}"));
    }
}

#[test]
fn entity_metrics_equal_seqeval() {
    let cases = load("entity_cases.json");
    assert!(cases.len() > 200, "too few cases: {}", cases.len());
    let mut errors = Vec::new();
    let mut reports = 0;
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let mode = match case["mode"].as_str().unwrap() {
            "default" => Mode::Default,
            _ => Mode::Strict(
                case["scheme"]
                    .as_str()
                    .unwrap()
                    .parse::<TagScheme>()
                    .unwrap(),
            ),
        };
        let (t, p) = (nested(&case["y_true"]), nested(&case["y_pred"]));
        let ours = entity_report(&t, &p, mode, zd(case));
        if case.get("error").is_some() {
            if ours.is_ok() {
                errors.push(format!(
                    "{name}: seqeval fails ({}), we do not",
                    case["error"]
                ));
            }
            continue;
        }
        let r = match ours {
            Ok(r) => r,
            Err(e) => {
                errors.push(format!("{name}: we fail: {e}"));
                continue;
            }
        };
        let theirs = case["per_type"].as_object().unwrap();
        let our_names: Vec<&String> = r.per_type.keys().collect();
        let their_names: Vec<&String> = theirs.keys().collect();
        if our_names != their_names {
            errors.push(format!("{name}: types {our_names:?} vs {their_names:?}"));
            continue;
        }
        for (k, v) in theirs {
            check_prfs(&mut errors, &format!("{name} [{k}]"), &r.per_type[k], v);
        }
        let avgs = &case["averages"];
        check_prfs(
            &mut errors,
            &format!("{name} micro"),
            &r.micro,
            &avgs["micro"],
        );
        check_prfs(
            &mut errors,
            &format!("{name} macro"),
            &r.macro_avg,
            &avgs["macro"],
        );
        check_prfs(
            &mut errors,
            &format!("{name} weighted"),
            &r.weighted,
            &avgs["weighted"],
        );
        let acc = token_accuracy(&t, &p).unwrap();
        if !close(acc, f(&case["accuracy"])) {
            errors.push(format!("{name}: accuracy {acc} vs {}", case["accuracy"]));
        }
        for digits in [2usize, 4] {
            if let Some(text) = case["report"][digits.to_string()].as_str() {
                reports += 1;
                let ours = r.to_text(digits);
                if ours != text {
                    errors.push(format!(
                        "{name}: report (digits {digits}) differs:\n--- ours\n{ours}--- seqeval\n{text}"
                    ));
                }
            }
        }
    }
    assert!(reports > 150, "too few reports compared: {reports}");
    assert!(
        errors.is_empty(),
        "{} mismatches:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

#[test]
fn classification_metrics_equal_sklearn() {
    let cases = load("classification_cases.json");
    assert!(cases.len() >= 15);
    let mut errors = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let (t, p) = (strings(&case["y_true"]), strings(&case["y_pred"]));
        let labels = case["labels"].as_array().map(|_| strings(&case["labels"]));
        let r = classification_report(&t, &p, labels.as_deref(), zd(case)).unwrap();
        for digits in [2usize, 3, 4] {
            let theirs = case["report"][digits.to_string()].as_str().unwrap();
            let ours = r.to_text(digits);
            if ours != theirs {
                errors.push(format!(
                    "{name}: report (digits {digits}) differs:\n--- ours\n{ours}--- sklearn\n{theirs}"
                ));
            }
        }
        let ours = r.to_dict();
        let theirs = case["dict"].as_object().unwrap();
        let ours_map = ours.as_object().unwrap();
        let mut ok = ours_map.len() == theirs.len();
        for (k, v) in theirs {
            let Some(o) = ours_map.get(k) else {
                ok = false;
                continue;
            };
            match v {
                Value::Object(fields) => {
                    for (fk, fv) in fields {
                        ok &= o.get(fk).is_some_and(|x| close(f(x), f(fv)));
                    }
                }
                _ => ok &= close(f(o), f(v)),
            }
        }
        if !ok {
            errors.push(format!(
                "{name}: dict\n ours {ours}\n sklearn {}",
                case["dict"]
            ));
        }
        let all_labels = labels.clone().unwrap_or_else(|| r.labels.clone());
        let cm = confusion_matrix(&t, &p, &all_labels).unwrap();
        let their_cm: Vec<Vec<usize>> = serde_json::from_value(case["confusion"].clone()).unwrap();
        if cm != their_cm {
            errors.push(format!("{name}: confusion {cm:?} vs {their_cm:?}"));
        }
        let acc = accuracy(&t, &p).unwrap();
        if !close(acc, f(&case["accuracy"])) {
            errors.push(format!("{name}: accuracy {acc} vs {}", case["accuracy"]));
        }
        let mf1 = macro_f1(&t, &p, labels.as_deref(), zd(case)).unwrap();
        if !close(mf1, f(&case["macro_f1"])) {
            errors.push(format!("{name}: macro F1 {mf1} vs {}", case["macro_f1"]));
        }
    }
    assert!(
        errors.is_empty(),
        "{} mismatches:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

#[test]
fn ranking_metrics_equal_sklearn() {
    let cases = load("ranking_cases.json");
    assert!(cases.len() >= 20);
    let mut errors = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let y: Vec<bool> = case["y_true"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64() == Some(1))
            .collect();
        let s: Vec<f64> = case["scores"].as_array().unwrap().iter().map(f).collect();
        let auc = roc_auc(&y, &s).unwrap();
        if !close(auc, f(&case["roc_auc"])) {
            errors.push(format!("{name}: ROC-AUC {auc} vs {}", case["roc_auc"]));
        }
        let ap = average_precision(&y, &s).unwrap();
        if !close(ap, f(&case["average_precision"])) {
            errors.push(format!("{name}: AP {ap} vs {}", case["average_precision"]));
        }
    }
    assert!(
        errors.is_empty(),
        "{} mismatches:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

/// Predictions of an `open_set_cases.json` case; `pred` is the first most probable label.
fn open_set_predictions(case: &Value) -> metrics::Predictions {
    let labels = strings(&case["labels"]);
    let mut p = metrics::Predictions::new(flowcore::TaskKind::Sequence, labels.clone());
    let gold = strings(&case["gold"]);
    for (i, (g, row)) in gold
        .iter()
        .zip(case["probs"].as_array().unwrap())
        .enumerate()
    {
        let probs: Vec<f32> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|v| f(v) as f32)
            .collect();
        p.rows.push(metrics::PredictionRow {
            id: i.to_string(),
            word: None,
            token: None,
            gold: g.clone(),
            pred: labels[metrics::open_set::argmax(&probs)].clone(),
            probs: Some(probs),
        });
    }
    p
}

/// A fixture value that may be `null` (undefined) as f64.
fn f_or_nan(v: &Value) -> f64 {
    if v.is_null() { f64::NAN } else { f(v) }
}

fn check_open_set(
    errors: &mut Vec<String>,
    what: &str,
    ours: &metrics::open_set::OpenSetMetrics,
    theirs: &Value,
) {
    let pairs = [
        ("in_scope_accuracy", ours.in_scope_accuracy),
        ("out_of_scope_precision", ours.out_of_scope_precision),
        ("out_of_scope_recall", ours.out_of_scope_recall),
        ("out_of_scope_f1", ours.out_of_scope_f1),
        ("coverage", ours.coverage),
        ("in_scope_precision", ours.in_scope_precision),
    ];
    for (key, value) in pairs {
        if !close(value, f_or_nan(&theirs[key])) {
            errors.push(format!("{what}: {key} {value} vs {}", theirs[key]));
        }
    }
    for (key, value) in [
        ("examples", ours.examples),
        ("in_scope", ours.in_scope),
        ("out_of_scope", ours.out_of_scope),
    ] {
        if theirs[key].as_u64() != Some(value as u64) {
            errors.push(format!("{what}: {key} {value} vs {}", theirs[key]));
        }
    }
}

#[test]
fn open_set_metrics_equal_the_scikit_learn_reference() {
    use metrics::open_set::{RejectRule, RejectTarget, choose_threshold, open_set_metrics};
    let cases = load("open_set_cases.json");
    assert!(cases.len() >= 12);
    let mut errors = Vec::new();
    let mut thresholds_above_zero = 0;
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let p = open_set_predictions(case);
        let ours = metrics::open_set::top_k_accuracy(&p, &[1, 3, 5]).unwrap();
        let theirs = case["top_k"].as_object().unwrap();
        if ours.keys().collect::<Vec<_>>() != theirs.keys().collect::<Vec<_>>() {
            errors.push(format!("{name}: top-k keys {ours:?} vs {theirs:?}"));
        }
        for (k, v) in &ours {
            if !close(*v, f(&theirs[k])) {
                errors.push(format!("{name}: top-{k} {v} vs {}", theirs[k]));
            }
        }
        let fixed = RejectRule {
            label: "oos".into(),
            threshold: f(&case["fixed"]["threshold"]),
            chosen: None,
        };
        check_open_set(
            &mut errors,
            &format!("{name} fixed"),
            &open_set_metrics(&p, &fixed).unwrap(),
            &case["fixed"],
        );
        for c in case["chosen"].as_array().unwrap() {
            let wanted = f(&c["wanted"]);
            let target = match c["target"].as_str().unwrap() {
                "out_of_scope_recall" => RejectTarget::OutOfScopeRecall(wanted),
                _ => RejectTarget::InScopePrecision(wanted),
            };
            let what = format!("{name} {}", target.metric());
            let rule = choose_threshold(&p, "oos", target, "dev").unwrap();
            let chosen = rule.chosen.as_ref().unwrap();
            if rule.threshold != f(&c["threshold"])
                || chosen.reached != c["reached"].as_bool().unwrap()
                || !close(chosen.achieved, f(&c["achieved"]))
            {
                errors.push(format!("{what}: chose {rule:?}, reference {c}"));
            }
            thresholds_above_zero += usize::from(rule.threshold > 0.0);
            check_open_set(
                &mut errors,
                &what,
                &open_set_metrics(&p, &rule).unwrap(),
                &c["scores"],
            );
        }
    }
    assert!(
        thresholds_above_zero >= 10,
        "the cases must exercise the threshold"
    );
    assert!(
        errors.is_empty(),
        "{} mismatches:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

#[test]
fn multilabel_metrics_equal_sklearn() {
    use metrics::multilabel::{decide, label_ranking, multilabel_report};
    let cases = load("multilabel_cases.json");
    assert!(cases.len() >= 12);
    let ind = |v: &Value| -> Vec<Vec<bool>> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_array().unwrap().iter().map(|x| x == 1).collect())
            .collect()
    };
    let mut errors = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let labels = strings(&case["labels"]);
        let y_true = ind(&case["y_true"]);
        let probs: Vec<Vec<f32>> = case["probs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_array().unwrap().iter().map(|x| f(x) as f32).collect())
            .collect();
        let y_pred = decide(&probs, &vec![0.5; labels.len()]);
        if y_pred != ind(&case["y_pred"]) {
            errors.push(format!("{name}: decisions at 0.5 differ"));
        }
        let r = multilabel_report(&y_true, &y_pred, &labels, ZeroDivision::Zero).unwrap();
        for (j, s) in r.per_label.iter().enumerate() {
            check_prfs(
                &mut errors,
                &format!("{name} label {j}"),
                s,
                &case["per_label"][j],
            );
        }
        for (avg, s) in [
            ("micro", &r.micro),
            ("macro", &r.macro_avg),
            ("weighted", &r.weighted),
            ("samples", &r.samples),
        ] {
            let t = &case[avg];
            if !(close(s.precision, f(&t[0])) && close(s.recall, f(&t[1])) && close(s.f1, f(&t[2])))
            {
                errors.push(format!("{name} {avg}: {s:?} vs {t}"));
            }
        }
        for digits in [2, 4] {
            let want = case[format!("report_{digits}").as_str()].as_str().unwrap();
            let got = r.to_text(digits);
            if got != want {
                errors.push(format!(
                    "{name} report (digits {digits}):\n{got}\nvs\n{want}"
                ));
            }
        }
        if !close(r.hamming_loss, f(&case["hamming_loss"])) {
            errors.push(format!("{name}: hamming {}", r.hamming_loss));
        }
        if !close(r.subset_accuracy, f(&case["subset_accuracy"])) {
            errors.push(format!("{name}: subset accuracy {}", r.subset_accuracy));
        }
        for (j, lr) in label_ranking(&y_true, &probs, &labels)
            .unwrap()
            .iter()
            .enumerate()
        {
            if !close(lr.roc_auc, f(&case["roc_auc"][j]))
                || !close(lr.average_precision, f(&case["average_precision"][j]))
            {
                errors.push(format!(
                    "{name} label {j}: {lr:?} vs {} / {}",
                    case["roc_auc"][j], case["average_precision"][j]
                ));
            }
        }
    }
    assert!(
        errors.is_empty(),
        "{} mismatches:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

#[test]
fn grouped_ranking_metrics_equal_sklearn_and_the_python_reference() {
    use metrics::ranking::ranking_metrics;
    let cases = load("grouped_ranking_cases.json");
    assert!(cases.len() >= 10);
    let floats = |v: &Value| -> Vec<f64> { v.as_array().unwrap().iter().map(f_or_nan).collect() };
    let mut errors = Vec::new();
    let (mut ties, mut no_relevant, mut all_relevant) = (0, 0, 0);
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let groups = strings(&case["groups"]);
        let scores = floats(&case["scores"]);
        let ks: Vec<usize> = case["ks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_u64().unwrap() as usize)
            .collect();
        let m = ranking_metrics(&groups, &scores, &floats(&case["relevance"]), &ks).unwrap();
        let counts = [
            ("n_groups", m.groups),
            ("groups_scored", m.groups_scored),
            ("auc_groups", m.auc_groups),
            ("no_relevant", m.skipped.no_relevant),
            ("all_relevant", m.skipped.all_relevant),
        ];
        for (key, value) in counts {
            if case[key].as_u64() != Some(value as u64) {
                errors.push(format!("{name}: {key} {value} vs {}", case[key]));
            }
        }
        for (key, value) in [
            ("mrr", m.mrr),
            ("ndcg", m.ndcg),
            ("grouped_auc", m.grouped_auc),
        ] {
            if !close(value, f(&case[key])) {
                errors.push(format!("{name}: {key} {value} vs {}", case[key]));
            }
        }
        for (key, ours) in [("ndcg_at", &m.ndcg_at), ("recall_at", &m.recall_at)] {
            if ours.len() != case[key].as_object().unwrap().len() {
                errors.push(format!("{name}: {key} {ours:?} vs {}", case[key]));
            }
            for (k, value) in ours {
                let theirs = &case[key][k.to_string().as_str()];
                if !close(*value, f(theirs)) {
                    errors.push(format!("{name}: {key} @{k} {value} vs {theirs}"));
                }
            }
        }
        let mut sorted = scores.clone();
        sorted.sort_by(f64::total_cmp);
        ties += usize::from(sorted.windows(2).any(|w| w[0] == w[1]));
        no_relevant += m.skipped.no_relevant;
        all_relevant += m.skipped.all_relevant;
    }
    assert!(
        ties >= 5 && no_relevant >= 5 && all_relevant >= 5,
        "the cases must exercise ties ({ties}), groups without a relevant row \
         ({no_relevant}) and groups all relevant ({all_relevant})"
    );
    assert!(
        errors.is_empty(),
        "{} mismatches:\n{}",
        errors.len(),
        errors.join("\n")
    );
}
