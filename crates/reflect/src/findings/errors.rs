//! Where the errors are: weak slices (with where a weak class's errors go), the kind of
//! entity error that dominates, and predictions that robustness probes flip.

use super::builder::Builder;
use super::types::{Finding, Severity, ci, finding, pct};
use crate::analysis::Analysis;
use crate::ner::ErrorKind;
use crate::stats::bootstrap::{Bootstrap, Units, ratio};

/// Subgroups flagged as doing worse than overall, with what to do about each.
pub(super) fn slices(b: &mut Builder<'_>) {
    let a = b.a;
    let overall = a.headline.first().map_or(f64::NAN, |h| h.ci.estimate);
    let flagged: Vec<_> = a.slices.iter().filter(|s| s.flagged).cloned().collect();
    for s in flagged {
        let gap = overall - s.ci.estimate;
        let severity = if s.ci.hi < overall - 0.10 {
            Severity::High
        } else {
            Severity::Medium
        };
        let mut f = finding(
            format!("slice.{}.{}", s.family, s.name),
            severity,
            "slices",
            format!(
                "{} = {}: {} is {}, below the overall {:.3}",
                s.family,
                s.name,
                s.metric,
                s.ci.display(3),
                overall
            ),
        );
        f.metric = s.metric.clone();
        f.value = s.ci.estimate;
        f.ci = ci(&s.ci);
        f.score = gap;
        f.detail = format!("{} examples, support {}", s.examples, s.support);
        f.evidence = b.ids(&s.evidence);
        f.action = match s.family.as_str() {
            "entity type" | "label" => confusion_action(a, &s.name, &mut f),
            "OOV rate" => "The model fails on words it never saw in training: add in-domain training text, or use a model/tokenizer with better coverage of this vocabulary.".into(),
            "length (words)" => format!(
                "Examples of {} words do worse: check truncation/windowing for long inputs and add training examples of this length.",
                s.name
            ),
            _ => format!(
                "The subgroup `{}` does worse: check it for label noise and collect more training data from it.",
                s.name
            ),
        };
        b.push(f);
    }
}

/// The action for a weak type or class: where its errors go (the confusion matrix's row), with
/// the counts, rather than a generic "collect more data".
fn confusion_action(a: &Analysis, name: &str, f: &mut Finding) -> String {
    let train = a.train_support.get(name).copied();
    let in_train = train.map_or(String::new(), |n| format!(" ({n} in train)"));
    if let Some(n) = train {
        f.number("train_support", n as f64);
    }
    let token = a.task == flowcore::TaskKind::Token;
    let items = if token { "words" } else { "examples" };
    let Some((errors, top)) = a
        .confusion
        .top_confusions(name, 3)
        .filter(|(errors, top)| *errors > 0 && !top.is_empty())
    else {
        return format!(
            "Collect more training data for `{name}`{in_train} or check its annotation consistency."
        );
    };
    f.number("errors", errors as f64);
    for (other, n) in &top {
        f.number(&format!("confused_with.{other}"), *n as f64);
    }
    let list = top
        .iter()
        .map(|(other, n)| format!("`{other}` {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let (first, n_first) = (&top[0].0, top[0].1);
    let share = n_first as f64 / errors as f64;
    if token && first == "O" {
        format!(
            "`{name}` is mostly missed: {n_first} of its {errors} wrongly tagged {items} are predicted `O` ({list}). Add training sentences with varied `{name}` names{in_train}, and check the guideline for what counts as `{name}`."
        )
    } else {
        format!(
            "`{name}` is mostly confused with `{first}`: {n_first} of its {errors} wrong {items} ({}; all: {list}). Review where the guideline separates `{name}` from `{first}`, and add training {items} that contrast them{in_train}.",
            pct(share)
        )
    }
}

/// The most common kind of entity error (NER taxonomy) and its share of all errors.
pub(super) fn taxonomy(b: &mut Builder<'_>, boot: Bootstrap) {
    let a = b.a;
    let Some(t) = &a.taxonomy else { return };
    let errors = t.errors();
    if errors == 0 {
        return;
    }
    let mut units = Units::new(6);
    for row in &t.per_example {
        units.push(row);
    }
    let error_kinds = [
        ErrorKind::Missed,
        ErrorKind::Spurious,
        ErrorKind::WrongBoundary,
        ErrorKind::WrongType,
        ErrorKind::WrongBoundaryAndType,
    ];
    let errors_of = |s: &[f64]| -> f64 { error_kinds.iter().map(|k| s[k.index()]).sum() };
    let (kind, count) = error_kinds
        .iter()
        .map(|&k| (k, t.count(k)))
        .max_by_key(|&(k, n)| (n, std::cmp::Reverse(k)))
        .unwrap_or((ErrorKind::Missed, 0));
    let share = boot.ci(&units, |s| ratio(s[kind.index()], errors_of(s)));
    let mut f = finding(
        format!("errors.{}", kind.name().replace(' ', "_")),
        if share.estimate >= 0.4 {
            Severity::Medium
        } else {
            Severity::Low
        },
        "errors",
        format!(
            "Most entity errors are `{}`: {} of {} errors ({})",
            kind.name(),
            count,
            errors,
            share.display(3)
        ),
    );
    f.metric = format!("share of errors that are {}", kind.name());
    f.value = share.estimate;
    f.ci = ci(&share);
    f.score = share.estimate;
    f.detail = ErrorKind::ALL
        .iter()
        .map(|k| format!("{} {}", k.name(), t.count(*k)))
        .collect::<Vec<_>>()
        .join(", ");
    let ids: Vec<String> = t
        .examples
        .get(&kind)
        .map(|v| v.iter().map(|e| e.id.clone()).collect())
        .unwrap_or_default();
    f.evidence = b.ids(&ids);
    f.action = match kind {
        ErrorKind::Missed => "A recall problem: the model misses entities outright. Add training examples of the missed types (see the per-type counts), and check whether they are rare or novel surface forms.",
        ErrorKind::Spurious => "A precision problem: the model invents entities. Add hard negatives (similar text without entities) and check the gold data for unannotated entities.",
        ErrorKind::WrongBoundary => "Spans are found but cut wrongly: check the annotation guideline for span boundaries and how words are split (hashtags, handles, punctuation).",
        ErrorKind::WrongType => "Entities are found but typed wrongly: see the confusion matrix; clarify or merge the confused types.",
        ErrorKind::WrongBoundaryAndType => "Spans and types are both off: these are often annotation disagreements; review the examples.",
        ErrorKind::Correct => "",
    }
    .to_string();
    b.push(f);
}

/// How often each robustness probe flips predictions.
pub(super) fn probes(b: &mut Builder<'_>) {
    let a = b.a;
    for p in &a.probes {
        let r = &p.flip_rate;
        let severity = if r.lo >= 0.10 {
            Severity::High
        } else if r.lo >= 0.02 {
            Severity::Medium
        } else {
            Severity::Low
        };
        let mut f = finding(
            format!("robustness.{}", p.name),
            severity,
            "robustness",
            format!(
                "`{}` perturbation flips {} of predictions",
                p.name,
                r.display(3)
            ),
        );
        f.metric = "prediction flip rate".into();
        f.value = r.estimate;
        f.ci = ci(r);
        f.score = r.estimate;
        let mut detail = format!("{} items compared", p.items);
        if let Some(e) = &p.example_flip_rate {
            detail.push_str(&format!("; examples with any flip {}", e.display(3)));
        }
        if let Some(m) = &p.metric {
            detail.push_str(&format!(
                "; {} clean {} vs perturbed {} (drop {}, p = {:.4})",
                a.headline.first().map_or("metric", |h| h.name.as_str()),
                m.a.display(3),
                m.b.display(3),
                m.diff.display(3),
                m.p_value
            ));
        }
        f.detail = detail;
        f.evidence = b.ids(&p.evidence);
        let what = match p.name.as_str() {
            "case" => "case changes (lower/upper/title case)",
            "typo" => "typos",
            "entity_swap" => "swapping an entity for another of the same type",
            "punct" => "punctuation removal",
            other => other,
        };
        let case_blind =
            p.name == "case" && a.model_fit.as_ref().and_then(|m| m.ignores_case) == Some(true);
        f.action = if case_blind {
            "The tokenizer ignores case, so case changes cannot flip anything: this probe says nothing about robustness (see `model.lowercasing`).".into()
        } else if severity == Severity::Low {
            format!("The model is stable under {what}.")
        } else {
            format!(
                "The model is not invariant to {what}: augment training data with this perturbation and re-check."
            )
        };
        b.push(f);
    }
}
