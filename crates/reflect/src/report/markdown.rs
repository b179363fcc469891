//! `report.md` of the generic analysis (token and sequence tasks).

use std::fmt::Write as _;

use super::lines::{headline_lines, opt_num, rejection_intro, rejection_rows};
use super::text::{ci_text, evidence_text, md, verdict_md};
use super::verdict::verdict_lines;
use crate::analysis::{Analysis, CalibrationReport};
use crate::findings::Finding;
use crate::ner::ErrorKind;

fn calibration_rows_md(out: &mut String, c: &CalibrationReport, label: &str) {
    let _ = writeln!(
        out,
        "| {label} | {} | {} | {:.4} | {:.4} | {} | {} |",
        c.items,
        c.ece.display(4),
        c.ece_mass,
        c.mce,
        c.brier.map_or("–".into(), |b| format!("{b:.4}")),
        c.nll.map_or("–".into(), |b| format!("{b:.4}")),
    );
}

/// The Markdown report.
pub fn markdown(a: &Analysis, findings: &[Finding]) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Validation report ({} split)\n", a.split);
    let _ = writeln!(
        o,
        "{} task, {} examples, {} items; intervals are 95 % percentile bootstrap over {} {}s ({} resamples, seed {}).\n",
        a.task, a.examples, a.items, a.units, a.unit, a.bootstrap.resamples, a.bootstrap.seed
    );
    o.push_str(&verdict_md(&verdict_lines(findings)));
    for l in headline_lines(a, findings) {
        let _ = writeln!(o, "- {l}");
    }
    let _ = writeln!(o, "\n## Findings\n");
    let _ = writeln!(
        o,
        "| # | severity | finding | value [95 % CI] | action | evidence |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|");
    for f in findings {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} |",
            f.rank,
            f.severity.name(),
            md(&f.title),
            ci_text(f),
            md(&f.action),
            md(&evidence_text(f))
        );
    }
    if let Some(c) = &a.calibration {
        let _ = writeln!(o, "\n## Calibration\n");
        if let Some(t) = a.temperature {
            let _ = writeln!(
                o,
                "Temperature T = {:.4} fitted on {} NLL ({:.4} -> {:.4}).\n",
                t.t,
                a.temperature_split.as_deref().unwrap_or("dev"),
                t.nll_before,
                t.nll_after
            );
        }
        let _ = writeln!(
            o,
            "| level | items | ECE (equal width) | ECE (equal mass) | MCE | Brier | NLL |"
        );
        let _ = writeln!(o, "|---|---|---|---|---|---|---|");
        for c in std::iter::once(c).chain(a.entity_calibration.as_ref()) {
            calibration_rows_md(&mut o, c, &c.level);
            if let Some(after) = &c.after {
                calibration_rows_md(&mut o, after, &format!("{} after T", c.level));
            }
        }
    }
    if let Some(b) = &a.baseline {
        let _ = writeln!(o, "\n## Significance against the baseline\n");
        let _ = writeln!(
            o,
            "{}: model {}, baseline {}, difference {}, paired bootstrap p = {:.4} ({} shared examples).",
            b.metric,
            b.paired.a.display(4),
            b.paired.b.display(4),
            b.paired.diff.display(4),
            b.paired.p_value,
            b.shared
        );
        if let Some(m) = b.mcnemar {
            let _ = writeln!(
                o,
                "\nExact McNemar: b = {}, c = {}, p = {:.4}.",
                m.b, m.c, m.p_value
            );
        }
    }
    if let Some(r) = &a.rejection {
        let _ = writeln!(o, "\n## Risk–coverage\n");
        let _ = writeln!(o, "{}\n", rejection_intro(r));
        let _ = writeln!(
            o,
            "| point | threshold | coverage | accuracy of the answers | out-of-scope recall |\n|---|---|---|---|---|"
        );
        for (name, pt) in rejection_rows(r) {
            let _ = writeln!(
                o,
                "| {name} | {:.4} | {:.4} | {:.4} | {} |",
                pt.threshold,
                pt.coverage,
                pt.accuracy,
                opt_num(pt.out_of_scope_recall)
            );
        }
    }
    if !a.slices.is_empty() {
        let _ = writeln!(o, "\n## Slices\n");
        let _ = writeln!(
            o,
            "| family | slice | examples | support | metric | value [95 % CI] | flagged |"
        );
        let _ = writeln!(o, "|---|---|---|---|---|---|---|");
        for s in &a.slices {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} |",
                md(&s.family),
                md(&s.name),
                s.examples,
                s.support,
                s.metric,
                s.ci.display(3),
                if s.flagged { "**yes**" } else { "" }
            );
        }
    }
    if let Some(t) = &a.taxonomy {
        let _ = writeln!(o, "\n## Entity errors\n");
        let _ = writeln!(o, "| category | count |\n|---|---|");
        for k in ErrorKind::ALL {
            let _ = writeln!(o, "| {} | {} |", k.name(), t.count(k));
        }
        for k in ErrorKind::ALL.iter().skip(1) {
            if let Some(ex) = t.examples.get(k).filter(|v| !v.is_empty()) {
                let _ = writeln!(
                    o,
                    "\n**{}** (gold in `[...]`, prediction in `{{...}}`):\n",
                    k.name()
                );
                for e in ex {
                    let _ = writeln!(
                        o,
                        "- `{}`: {} — gold: {}; predicted: {}",
                        e.id,
                        md(&e.text),
                        md(&e.gold),
                        md(&e.pred)
                    );
                }
            }
        }
    }
    if !a.suspects.is_empty() {
        let _ = writeln!(
            o,
            "\n## Suspect labels ({} of {} items flagged; top {})\n",
            a.suspects_total,
            a.suspects_scanned,
            a.suspects.len()
        );
        let _ = writeln!(
            o,
            "| split | id | word | given | suggested | p(given) | p(suggested) | context |"
        );
        let _ = writeln!(o, "|---|---|---|---|---|---|---|---|");
        for s in &a.suspects {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {:.3} | {:.3} | {} |",
                s.split,
                md(&s.id),
                s.word.map_or(String::new(), |w| w.to_string()),
                s.given,
                s.suggested,
                s.self_confidence,
                s.suggested_prob,
                md(&s.context)
            );
        }
    }
    if !a.probes.is_empty() {
        let _ = writeln!(o, "\n## Robustness probes\n");
        let _ = writeln!(
            o,
            "| probe | items | flip rate [95 % CI] | metric drop [95 % CI] |\n|---|---|---|---|"
        );
        for p in &a.probes {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                p.name,
                p.items,
                p.flip_rate.display(3),
                p.metric.map_or(String::new(), |m| m.diff.display(3))
            );
        }
    }
    if !a.notes.is_empty() {
        let _ = writeln!(o, "\n## Notes\n");
        for n in &a.notes {
            let _ = writeln!(o, "- {n}");
        }
    }
    o
}
