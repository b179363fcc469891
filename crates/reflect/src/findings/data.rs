//! What the data itself says: repeats and train overlap in the evaluated split, entities never
//! seen in train, and labels that look wrong.

use super::builder::Builder;
use super::types::{Evidence, Severity, ci, finding, pct, wilson};

/// Duplicates and train overlap in the evaluated split: scored as given (comparable with
/// published numbers), so the reader should know how much of the score they carry.
pub(super) fn split_quality(b: &mut Builder<'_>) {
    let a = b.a;
    let Some(q) = &a.split_quality else { return };
    let n = a.examples.max(1) as f64;
    let repeated = q.duplicates + q.conflicting;
    if repeated + q.in_train == 0 {
        return;
    }
    let share = (repeated + q.in_train) as f64 / n;
    let severity = if share >= 0.05 {
        Severity::Medium
    } else {
        Severity::Low
    };
    let state = if q.cleaned {
        "were removed by ingest (`clean_eval_splits`)"
    } else {
        "are kept and scored: the split is evaluated exactly as given"
    };
    let mut f = finding(
        format!("data.{}.repeats", a.split),
        severity,
        "data",
        format!(
            "{} of {} {} examples repeat another one ({} exact duplicates, {} with another label) and {} also occur in train",
            repeated, a.examples, a.split, q.duplicates, q.conflicting, q.in_train
        ),
    );
    f.metric = "share of repeated or train-seen examples".into();
    f.value = share;
    f.detail = format!(
        "{} {state}; repeated texts weigh more in the score, and texts seen in train measure memory as much as generalisation. Ingest lists them in its profile ({} of the duplicates, {} of the train overlap shown here).",
        pct(share),
        q.duplicate_ids.len(),
        q.in_train_ids.len()
    );
    let mut ids = q.duplicate_ids.clone();
    ids.extend(q.in_train_ids.iter().cloned());
    f.evidence = b.ids(&ids);
    f.action = if q.cleaned {
        "Scores no longer compare with published numbers on this split; say so wherever they are quoted.".into()
    } else {
        "Quote scores on the split as given (comparable with published numbers); to see the score without repeats, re-run ingest with `clean_eval_splits = true` and compare.".into()
    };
    f.score = share;
    b.push(f);
}

/// Entities never seen in train: how many there are, and how much worse the model does on
/// them than on memorised ones.
pub(super) fn unseen_entities(b: &mut Builder<'_>) {
    let a = b.a;
    let Some(u) = &a.unseen else { return };
    if u.gold == 0 {
        return;
    }
    let share = u.unseen_share.estimate;
    let gap = &u.f1_gap;
    let severity = if gap.lo > 0.10 && share >= 0.3 {
        Severity::High
    } else if gap.lo > 0.0 {
        Severity::Medium
    } else {
        Severity::Low
    };
    let mut f = finding(
        "unseen_entities".into(),
        severity,
        "generalisation",
        format!(
            "{} of {} entities ({} of {}) never occur in train; entity F1 on them is {:.3}, against {:.3} on seen ones",
            pct(share),
            a.split,
            u.gold_unseen,
            u.gold,
            u.f1_unseen.estimate,
            u.f1_seen.estimate
        ),
    );
    f.metric = "entity F1, seen minus unseen entities".into();
    f.value = gap.estimate;
    f.number("gold", u.gold as f64);
    f.number("gold_unseen", u.gold_unseen as f64);
    f.number("unseen_share", share);
    f.number("f1_seen", u.f1_seen.estimate);
    f.number("f1_unseen", u.f1_unseen.estimate);
    f.number("recall_unseen", u.recall_unseen.estimate);
    if let Some(dev) = u.fit_unseen_share {
        f.number("fit_unseen_share", dev);
    }
    f.ci = ci(gap);
    f.score = gap.estimate.max(0.0) * share;
    let mut detail = format!(
        "unseen share {}; F1 seen {}, unseen {}; recall on unseen {}; seen = the lower-cased surface form is a gold entity of train (any type; {} distinct forms)",
        u.unseen_share.display(3),
        u.f1_seen.display(3),
        u.f1_unseen.display(3),
        u.recall_unseen.display(3),
        u.train_surface_forms
    );
    if let (Some(dev), Some(name)) = (u.fit_unseen_share, &u.fit_split) {
        detail.push_str(&format!("; {name}: {} unseen", pct(dev)));
    }
    f.detail = detail;
    f.evidence = b.ids(&u.evidence);
    f.action = if gap.lo > 0.0 {
        format!(
            "The model finds names it saw in training far better than new ones, and {} of this split is new: the score will follow that share. Track F1 on unseen entities, add training text with more varied names (or entity-swap augmentation), and keep the cues new names carry (a cased tokenizer keeps capitalisation).",
            pct(share)
        )
    } else {
        "Seen and unseen entities are found about equally well: the model generalises beyond memorised names.".into()
    };
    b.push(f);
}

/// Items that confident learning flags as mislabelled.
pub(super) fn suspects(b: &mut Builder<'_>) {
    let a = b.a;
    if a.suspects_total == 0 || a.suspects_scanned == 0 {
        return;
    }
    let rate = a.suspects_total as f64 / a.suspects_scanned as f64;
    let items = if a.task == flowcore::TaskKind::Token {
        "words"
    } else {
        "examples"
    };
    let mut f = finding(
        "suspect_labels".into(),
        if rate >= 0.01 {
            Severity::Medium
        } else {
            Severity::Low
        },
        "labels",
        format!(
            "{} of {} {} ({}) look mislabelled: the model is confidently sure of another label",
            a.suspects_total,
            a.suspects_scanned,
            items,
            pct(rate)
        ),
    );
    f.metric = format!("share of {items} flagged by confident learning");
    f.value = rate;
    f.ci = Some(wilson(a.suspects_total, a.suspects_scanned));
    f.score = rate;
    f.detail = "Per-class thresholds = mean self-confidence of the class (confident learning); ranked by the probability of the given label. Interval: Wilson score.".into();
    f.evidence = a
        .suspects
        .iter()
        .take(10)
        .map(|s| Evidence {
            file: format!("predictions-{}.parquet", s.split),
            id: s.id.clone(),
            word: s.word,
        })
        .collect();
    f.action = format!(
        "Review the top {} candidates in the report; fix real label errors in the data and re-run — test-set label errors bias every metric above.",
        a.suspects.len()
    );
    b.push(f);
}
