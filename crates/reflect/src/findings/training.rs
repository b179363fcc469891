//! Training: the dev curve (overfitting, still rising, levelled off) and the signals of an
//! underfit model gathered into one finding.

use super::builder::Builder;
use super::types::{Evidence, Severity, finding};

/// The dev curve of training: overfitting, still rising, or levelled off.
pub(super) fn training(b: &mut Builder<'_>) {
    let a = b.a;
    let Some(h) = &a.history else { return };
    let Some(key) = h.dev_metric() else { return };
    let series = h.series(&key);
    if series.len() < 2 {
        return;
    }
    let (best_i, &(best_x, best_y)) = series
        .iter()
        .enumerate()
        .max_by(|(i, a), (j, b)| a.1.total_cmp(&b.1).then(j.cmp(i)))
        .unwrap_or((0, &series[0]));
    let &(last_x, last_y) = &series[series.len() - 1];
    let prev_y = series[series.len() - 2].1;
    let x_key = h.x_key();
    let mut f = finding(
        "training.curve".into(),
        Severity::Low,
        "training",
        String::new(),
    );
    f.metric = key.clone();
    f.value = best_y;
    f.evidence = vec![Evidence {
        file: "history.jsonl".into(),
        id: format!("{x_key} {best_x}"),
        word: None,
    }];
    if best_i + 1 < series.len() && best_y - last_y > 0.005 {
        f.title = format!(
            "{key} peaked at {best_y:.3} ({x_key} {best_x}) and ended at {last_y:.3} ({x_key} {last_x})"
        );
        f.score = best_y - last_y;
        f.action = "Later training hurt the dev metric (overfitting): keep the best checkpoint, stop earlier, or add regularisation.".into();
    } else if last_y - prev_y > 0.005 {
        f.title =
            format!("{key} was still rising at the end of training ({prev_y:.3} -> {last_y:.3})");
        f.score = last_y - prev_y;
        f.action = "Train longer: the dev metric had not levelled off.".into();
    } else {
        f.severity = Severity::Info;
        f.title = format!("{key} levelled off at {best_y:.3} ({x_key} {best_x})");
        f.action = "Training converged; more epochs are unlikely to help.".into();
    }
    f.detail = format!("{} evaluations in history.jsonl", series.len());
    b.push(f);
}

/// An underfit model: the signals that the recipe stopped before the model learned the task
/// (the baseline significantly better, dev still rising at the end, a low score on a sample
/// of the training data, the training loss far from its floor). One finding gathers them, so its remedies (longer, faster, less
/// regularised training) are proposed once.
pub(super) fn underfit(b: &mut Builder<'_>) {
    let a = b.a;
    let mut signals = Vec::new();
    let mut numbers = Vec::new();
    let baseline_ahead = a.baseline.as_ref().filter(|c| {
        let d = &c.paired.diff;
        c.paired.p_value < 0.05 && d.hi < 0.0
    });
    if let Some(c) = baseline_ahead {
        signals.push(format!(
            "the baseline is ahead by {:.1} points of {} (p = {:.4})",
            -100.0 * c.paired.diff.estimate,
            c.metric,
            c.paired.p_value
        ));
        numbers.push(("baseline_gap", -c.paired.diff.estimate));
    }
    if let Some(h) = &a.history {
        if let Some(key) = h.dev_metric() {
            let dev = h.series(&key);
            if let [.., (_, prev), (x, last)] = dev[..]
                && last - prev > 0.005
            {
                signals.push(format!(
                    "{key} was still rising at the last evaluation ({prev:.3} -> {last:.3} at {} {x})",
                    h.x_key()
                ));
                numbers.push(("dev_rise", last - prev));
            }
        }
        if let Some(&(x, fit)) = h.series("train_score").last() {
            numbers.push(("train_score", fit));
            if fit < 0.9 {
                signals.push(format!(
                    "on a sample of its own training data it scores only {fit:.3} at {} {x}",
                    h.x_key()
                ));
            }
        }
        let loss = h.series("loss");
        if let (Some(&(_, first)), Some(&(_, last))) = (loss.first(), loss.last())
            && first > 0.0
            && loss.len() >= 3
        {
            let share = last / first;
            numbers.push(("train_loss_share", share));
            if share > 0.25 {
                signals.push(format!(
                    "the training loss ended at {last:.3}, {:.0} % of its first logged value {first:.3}",
                    100.0 * share
                ));
            }
        }
    }
    let strong = baseline_ahead.is_some();
    if !(strong || signals.len() >= 2) {
        return;
    }
    let mut f = finding(
        "training.underfit".into(),
        if strong {
            Severity::High
        } else {
            Severity::Medium
        },
        "training",
        format!("The model looks underfit: {}", signals.join("; ")),
    );
    f.metric = "signals of underfitting".into();
    f.value = signals.len() as f64;
    f.score = signals.len() as f64;
    for (k, v) in numbers {
        f.number(k, v);
    }
    f.detail = "Underfitting shows as a model that has not yet fitted its own training data: a classical baseline ahead of it, a dev metric still climbing when training stopped, a training loss far above zero. The HF default recipe (3 epochs, lr 5e-5, dropout 0.1) underfits many-class tasks.".into();
    f.action = "Train longer, with a higher learning rate, or without dropout, and compare on dev (`pipeline improve` runs these as trials).".into();
    b.push(f);
}
