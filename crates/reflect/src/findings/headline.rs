//! The headline number and how far to trust it: its interval, dev against the evaluated
//! split, and the comparison with the baseline.

use super::builder::Builder;
use super::types::{Severity, ci, finding, pct};

/// The headline metric with its interval, and how wide that interval is.
pub(super) fn headline(b: &mut Builder<'_>) {
    let a = b.a;
    let Some(h) = a.headline.first() else { return };
    let width = h.ci.hi - h.ci.lo;
    let wide = width > 0.10;
    let mut f = finding(
        "headline".into(),
        if wide {
            Severity::Medium
        } else {
            Severity::Info
        },
        "headline",
        format!(
            "{} on {} is {} ({} {}s)",
            h.name,
            a.split,
            h.ci.display(3),
            a.units,
            a.unit
        ),
    );
    f.metric = h.name.clone();
    f.value = h.ci.estimate;
    f.ci = ci(&h.ci);
    f.score = width;
    f.detail = a
        .headline
        .iter()
        .skip(1)
        .map(|m| format!("{} {}", m.name, m.ci.display(3)))
        .collect::<Vec<_>>()
        .join("; ");
    f.action = if wide {
        format!(
            "The 95 % interval is {:.1} points wide: differences smaller than that are noise on this test set; collect more test data before comparing models.",
            100.0 * width
        )
    } else {
        format!(
            "Quote the interval with the number: changes smaller than ±{:.1} points are not distinguishable on this test set.",
            50.0 * width
        )
    };
    b.push(f);
}

/// The headline metric on dev against the evaluated split, and whether new names explain the gap.
pub(super) fn dev_gap(b: &mut Builder<'_>) {
    let a = b.a;
    let (Some(dev), Some(test)) = (&a.fit_metric, a.headline.first()) else {
        return;
    };
    let gap = dev.ci.estimate - test.ci.estimate;
    // Independent samples: the gap is significant when the intervals do not overlap.
    let significant = test.ci.hi < dev.ci.lo || dev.ci.hi < test.ci.lo;
    let mut f = finding(
        "dev_test_gap".into(),
        if significant && gap > 0.0 {
            Severity::Medium
        } else {
            Severity::Info
        },
        "headline",
        format!(
            "{} is {} on {} and {} on dev ({} {:+.1} points)",
            test.name,
            test.ci.display(3),
            a.split,
            dev.ci.display(3),
            a.split,
            -100.0 * gap
        ),
    );
    f.metric = format!("{} (dev minus {})", test.name, a.split);
    f.value = gap;
    f.score = gap.abs();
    f.detail = "Intervals from separate bootstraps of each split.".into();
    let unseen = a.unseen.as_ref().and_then(|u| {
        let dev = u.fit_unseen_share?;
        let test = u.unseen_share.estimate;
        (test - dev >= 0.05 && u.f1_gap.lo > 0.0).then_some((dev, test, u))
    });
    f.action = if let (true, Some((dev, test, u))) = (significant && gap > 0.0, unseen) {
        f.detail.push_str(&format!(
            " Entities unseen in train: {} of dev, {} of {}; F1 on unseen entities is {:.1} points below seen ones.",
            pct(dev),
            pct(test),
            a.split,
            100.0 * u.f1_gap.estimate
        ));
        format!(
            "Much of the gap is new names: {} holds more entities never seen in train ({} against {} on dev) and the model does far worse on those (finding `unseen_entities`). Select models on a dev set with as many new names as test, and work on the unseen slice.",
            a.split,
            pct(test),
            pct(dev)
        )
    } else if significant && gap > 0.0 {
        "The test set is harder than dev (distribution shift, or dev was over-used for model selection): report the test number, and add test-like data to dev and train.".into()
    } else {
        "Dev and test agree within their intervals: dev is a fair proxy for model selection.".into()
    };
    b.push(f);
}

/// The paired comparison with the baseline.
pub(super) fn baseline(b: &mut Builder<'_>) {
    let a = b.a;
    let Some(c) = &a.baseline else { return };
    let d = &c.paired.diff;
    let p = c.paired.p_value;
    let significant = p < 0.05 && (d.lo > 0.0 || d.hi < 0.0);
    let (severity, title, action) = if significant && d.estimate > 0.0 {
        (
            Severity::Info,
            format!(
                "The model beats the baseline: {} {:+.1} points",
                c.metric,
                100.0 * d.estimate
            ),
            "The fine-tuned model's advantage is significant: keep it.".to_string(),
        )
    } else if significant {
        (
            Severity::High,
            format!("The baseline beats the model: {} {:+.1} points", c.metric, 100.0 * d.estimate),
            "The simpler baseline is significantly better: ship the baseline or find what the model gets wrong (see slices and errors).".to_string(),
        )
    } else {
        (
            Severity::High,
            format!(
                "The baseline is not significantly worse: {} difference {:+.1} points (p = {:.3})",
                c.metric,
                100.0 * d.estimate,
                p
            ),
            "The model's advantage over the baseline is within noise: prefer the cheaper baseline, or collect more test data to separate them.".to_string(),
        )
    };
    let mut f = finding("baseline".into(), severity, "significance", title);
    f.metric = format!("{} difference (model minus baseline)", c.metric);
    f.value = d.estimate;
    f.ci = ci(d);
    f.score = (1.0 - p).max(0.0);
    f.detail = format!(
        "model {}, baseline {}, difference {} (paired bootstrap, {} resamples, p = {:.4}, {} shared examples)",
        c.paired.a.display(3),
        c.paired.b.display(3),
        d.display(3),
        a.bootstrap.resamples,
        p,
        c.shared
    );
    if let Some(m) = &c.mcnemar {
        f.detail.push_str(&format!(
            "; exact McNemar on accuracy: {} model-only right, {} baseline-only right, p = {:.4}",
            m.b, m.c, m.p_value
        ));
    }
    f.action = action;
    b.push(f);
}
