//! `report.html` of the generic analysis (token and sequence tasks): one file, inline CSS and
//! SVG figures, no scripts.

use std::fmt::Write as _;

use super::lines::{headline_lines, opt_num, rejection_intro, rejection_rows};
use super::plots;
use super::text::{ci_text, esc, evidence_text, verdict_html};
use super::verdict::verdict_lines;
use crate::analysis::slices::CLASS_FAMILIES;
use crate::analysis::{Analysis, CalibrationReport, Slice};
use crate::error::Result;
use crate::findings::Finding;
use crate::history::History;
use crate::ner::ErrorKind;

const CSS: &str = "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top;font-size:13px}\
th{background:#f0f0f0}.high{background:#f8d0d0}.medium{background:#fbe8c8}.low{background:#eef4fb}.info{background:#f4f4f4}\
.flag{color:#b00;font-weight:bold}code{font-size:12px}figure{margin:0.5em 0 1.5em}.plots{display:flex;flex-wrap:wrap;gap:1em}\
.note{color:#666;font-size:13px}.verdict{border-left:4px solid #446;background:#f3f4fa;padding:0.3em 1em;margin:1em 0}";

fn table_row(cells: &[String]) -> String {
    let mut r = String::from("<tr>");
    for c in cells {
        let _ = write!(r, "<td>{c}</td>");
    }
    r.push_str("</tr>\n");
    r
}

fn calibration_html(o: &mut String, c: &CalibrationReport, label: &str) {
    o.push_str(&table_row(&[
        esc(label),
        c.items.to_string(),
        esc(&c.ece.display(4)),
        format!("{:.4}", c.ece_mass),
        format!("{:.4}", c.mce),
        c.brier.map_or("–".into(), |b| format!("{b:.4}")),
        c.nll.map_or("–".into(), |b| format!("{b:.4}")),
    ]));
}

/// The HTML report: one file, inline CSS and SVG, no scripts or external resources.
pub fn html(a: &Analysis, findings: &[Finding]) -> Result<String> {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Validation report ({})</title><style>{CSS}</style></head><body>\n",
        esc(&a.split)
    );
    let _ = writeln!(o, "<h1>Validation report ({} split)</h1>", esc(&a.split));
    let _ = writeln!(
        o,
        "<p class=\"note\">{} task, {} examples, {} items; intervals are 95 % percentile bootstrap over {} {}s ({} resamples, seed {}).</p>",
        a.task, a.examples, a.items, a.units, a.unit, a.bootstrap.resamples, a.bootstrap.seed
    );
    o.push_str(&verdict_html(&verdict_lines(findings)));
    o.push_str("<ul>\n");
    for l in headline_lines(a, findings) {
        let _ = writeln!(o, "<li>{}</li>", esc(&l));
    }
    o.push_str("</ul>\n");
    class_chart(&mut o, a)?;
    findings_table(&mut o, findings)?;
    calibration_section(&mut o, a)?;
    significance_section(&mut o, a)?;
    rejection_section(&mut o, a)?;
    slices_section(&mut o, a)?;
    confusion_and_errors(&mut o, a)?;
    suspects_section(&mut o, a)?;
    probes_section(&mut o, a)?;
    training_and_notes(&mut o, a)?;
    o.push_str("</body></html>\n");
    Ok(o)
}

/// The ranked findings, one row each, coloured by severity.
fn findings_table(o: &mut String, findings: &[Finding]) -> Result<()> {
    o.push_str("<h2 id=\"findings\">Findings</h2>\n<table><tr><th>#</th><th>severity</th><th>finding</th><th>value [95 % CI]</th><th>action</th><th>evidence</th></tr>\n");
    for f in findings {
        let _ = writeln!(
            o,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}<br><span class=\"note\">{}</span></td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            f.severity.name(),
            f.rank,
            f.severity.name(),
            esc(&f.title),
            esc(&f.detail),
            esc(&ci_text(f)),
            esc(&f.action),
            esc(&evidence_text(f))
        );
    }
    o.push_str("</table>\n");
    Ok(())
}

/// Calibration: the temperature, ECE/MCE/Brier/NLL per level, reliability diagrams.
fn calibration_section(o: &mut String, a: &Analysis) -> Result<()> {
    if let Some(c) = &a.calibration {
        o.push_str("<h2 id=\"calibration\">Calibration</h2>\n");
        if let Some(t) = a.temperature {
            let _ = writeln!(
                o,
                "<p>Temperature T = {:.4} fitted on {} NLL ({:.4} → {:.4}); logits are the log-probabilities.</p>",
                t.t,
                esc(a.temperature_split.as_deref().unwrap_or("dev")),
                t.nll_before,
                t.nll_after
            );
        }
        o.push_str("<table><tr><th>level</th><th>items</th><th>ECE (equal width) [95 % CI]</th><th>ECE (equal mass)</th><th>MCE</th><th>Brier</th><th>NLL</th></tr>\n");
        for c in std::iter::once(c).chain(a.entity_calibration.as_ref()) {
            calibration_html(o, c, &c.level);
            if let Some(after) = &c.after {
                calibration_html(o, after, &format!("{} after T", c.level));
            }
        }
        o.push_str("</table><div class=\"plots\">");
        for c in std::iter::once(c).chain(a.entity_calibration.as_ref()) {
            let _ = write!(
                o,
                "<figure>{}</figure>",
                plots::reliability(c, &format!("reliability ({}-level)", c.level))?
            );
        }
        o.push_str("</div>\n");
    }
    Ok(())
}

/// The paired comparison with the baseline.
fn significance_section(o: &mut String, a: &Analysis) -> Result<()> {
    if let Some(b) = &a.baseline {
        o.push_str("<h2 id=\"significance\">Significance against the baseline</h2>\n");
        let _ = writeln!(
            o,
            "<p>{}: model {}, baseline {}, difference {} (paired bootstrap p = {:.4}, {} shared examples{}).</p>",
            esc(&b.metric),
            b.paired.a.display(4),
            b.paired.b.display(4),
            b.paired.diff.display(4),
            b.paired.p_value,
            b.shared,
            b.mcnemar.map_or(String::new(), |m| format!(
                "; exact McNemar b = {}, c = {}, p = {:.4}",
                m.b, m.c, m.p_value
            ))
        );
    }
    Ok(())
}

/// Risk–coverage: the curve and its marked points.
fn rejection_section(o: &mut String, a: &Analysis) -> Result<()> {
    if let Some(r) = &a.rejection {
        o.push_str("<h2 id=\"risk-coverage\">Risk–coverage</h2>\n");
        let _ = writeln!(o, "<p>{}</p>", esc(&rejection_intro(r)));
        let _ = writeln!(o, "<figure>{}</figure>", plots::risk_coverage(r)?);
        o.push_str("<table><tr><th>point</th><th>threshold</th><th>coverage</th><th>accuracy of the answers</th><th>out-of-scope recall</th></tr>\n");
        for (name, pt) in rejection_rows(r) {
            o.push_str(&table_row(&[
                esc(&name),
                format!("{:.4}", pt.threshold),
                format!("{:.4}", pt.coverage),
                format!("{:.4}", pt.accuracy),
                opt_num(pt.out_of_scope_recall),
            ]));
        }
        o.push_str("</table>\n");
    }
    Ok(())
}

/// Slices: the chart and the table.
fn slices_section(o: &mut String, a: &Analysis) -> Result<()> {
    if !a.slices.is_empty() {
        let overall = a.headline.first().map_or(f64::NAN, |h| h.ci.estimate);
        o.push_str("<h2 id=\"slices\">Slices</h2>\n");
        let _ = writeln!(o, "<figure>{}</figure>", plots::slices(&a.slices, overall)?);
        o.push_str("<table><tr><th>family</th><th>slice</th><th>examples</th><th>support</th><th>metric</th><th>value [95 % CI]</th><th>evidence (ids with errors)</th></tr>\n");
        for s in &a.slices {
            o.push_str(&slice_row(s));
        }
        o.push_str("</table>\n");
    }
    Ok(())
}

/// The confusion matrix and, for token tasks, the entity-error taxonomy with examples.
fn confusion_and_errors(o: &mut String, a: &Analysis) -> Result<()> {
    o.push_str("<h2 id=\"confusion\">Confusion matrix</h2>\n");
    let _ = writeln!(o, "<figure>{}</figure>", plots::confusion(&a.confusion)?);

    if let Some(t) = &a.taxonomy {
        o.push_str("<h2 id=\"errors\">Entity errors</h2>\n<table><tr><th>category</th><th>count</th></tr>\n");
        for k in ErrorKind::ALL {
            o.push_str(&table_row(&[k.name().to_string(), t.count(k).to_string()]));
        }
        o.push_str("</table>\n<p class=\"note\">Gold entity in [...], prediction in {...}.</p>\n");
        for k in ErrorKind::ALL.iter().skip(1) {
            if let Some(ex) = t.examples.get(k).filter(|v| !v.is_empty()) {
                let _ = writeln!(
                    o,
                    "<h3>{}</h3><table><tr><th>id</th><th>sentence</th><th>gold</th><th>predicted</th></tr>",
                    k.name()
                );
                for e in ex {
                    o.push_str(&table_row(&[
                        esc(&e.id),
                        esc(&e.text),
                        esc(&e.gold),
                        esc(&e.pred),
                    ]));
                }
                o.push_str("</table>\n");
            }
        }
    }
    Ok(())
}

/// Suspect labels for review.
fn suspects_section(o: &mut String, a: &Analysis) -> Result<()> {
    if !a.suspects.is_empty() {
        let _ = writeln!(
            o,
            "<h2 id=\"suspects\">Suspect labels</h2>\n<p>{} of {} items flagged by confident learning; the {} with the lowest probability of their given label, for review:</p>",
            a.suspects_total,
            a.suspects_scanned,
            a.suspects.len()
        );
        o.push_str("<table><tr><th>split</th><th>id</th><th>word</th><th>given</th><th>suggested</th><th>p(given)</th><th>p(suggested)</th><th>context</th></tr>\n");
        for s in &a.suspects {
            o.push_str(&table_row(&[
                esc(&s.split),
                esc(&s.id),
                s.word.map_or(String::new(), |w| w.to_string()),
                esc(&s.given),
                esc(&s.suggested),
                format!("{:.3}", s.self_confidence),
                format!("{:.3}", s.suggested_prob),
                esc(&s.context),
            ]));
        }
        o.push_str("</table>\n");
    }
    Ok(())
}

/// Robustness probes.
fn probes_section(o: &mut String, a: &Analysis) -> Result<()> {
    if !a.probes.is_empty() {
        o.push_str("<h2 id=\"robustness\">Robustness probes</h2>\n<table><tr><th>probe</th><th>items</th><th>flip rate [95 % CI]</th><th>examples with a flip</th><th>metric clean − perturbed [95 % CI]</th></tr>\n");
        for p in &a.probes {
            o.push_str(&table_row(&[
                esc(&p.name),
                p.items.to_string(),
                p.flip_rate.display(3),
                p.example_flip_rate.map_or(String::new(), |e| e.display(3)),
                p.metric.map_or(String::new(), |m| m.diff.display(3)),
            ]));
        }
        o.push_str("</table>\n");
    }
    Ok(())
}

/// Learning curves with the evaluation table, then the notes.
fn training_and_notes(o: &mut String, a: &Analysis) -> Result<()> {
    if let Some(h) = &a.history {
        o.push_str("<h2 id=\"training\">Learning curves</h2>\n");
        let _ = writeln!(o, "<figure>{}</figure>", plots::learning_curves(h)?);
        evaluation_table(o, h);
    }

    if !a.notes.is_empty() {
        o.push_str("<h2 id=\"notes\">Notes</h2><ul>\n");
        for n in &a.notes {
            let _ = writeln!(o, "<li>{}</li>", esc(n));
        }
        o.push_str("</ul>\n");
    }
    Ok(())
}

/// The dev metrics of the training history, one column per evaluation (at most 8).
fn evaluation_table(o: &mut String, h: &History) {
    let t = h.evaluation_table(8);
    if t.xs.is_empty() {
        return;
    }
    let _ = write!(
        o,
        "<p class=\"note\">Dev metrics at {} of the {} evaluations (<code>history.jsonl</code> has them all; <code>dev_score</code> is the selection metric, <code>train_score</code> the same on a training sample).</p>\n<table><tr><th>metric</th>",
        t.xs.len(),
        t.evaluations
    );
    for x in &t.xs {
        let _ = write!(o, "<th>{} {}</th>", h.x_key(), fmt_x(*x));
    }
    o.push_str("</tr>\n");
    for (key, values) in &t.rows {
        let mut cells = vec![format!("<code>{}</code>", esc(key))];
        cells.extend(
            values
                .iter()
                .map(|v| v.map_or("–".into(), |x| format!("{x:.4}"))),
        );
        o.push_str(&table_row(&cells));
    }
    o.push_str("</table>\n");
}

/// A step as an integer, an epoch with its decimals.
fn fmt_x(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x}")
    }
}

/// The per-class (per-type) slices as a bar chart: every class up to [`MAX_CLASS_BARS`], else
/// the lowest ones (all stay in the slices table).
fn class_chart(o: &mut String, a: &Analysis) -> Result<()> {
    let mut classes: Vec<Slice> = a
        .slices
        .iter()
        .filter(|s| CLASS_FAMILIES.contains(&s.family.as_str()))
        .cloned()
        .collect();
    let Some(first) = classes.first() else {
        return Ok(());
    };
    let family = first.family.clone();
    let total = classes.len();
    if total > MAX_CLASS_BARS {
        classes.sort_by(|x, y| x.ci.estimate.total_cmp(&y.ci.estimate));
        classes.truncate(MAX_CLASS_BARS);
    }
    let overall = a.headline.first().map_or(f64::NAN, |h| h.ci.estimate);
    let _ = writeln!(
        o,
        "<h2 id=\"per-class\">Per {family}</h2>\n<p class=\"note\">F1 of each {family} with its 95 % interval{}; red: significantly below the overall {}; the orange line is the overall value.</p>",
        if total > MAX_CLASS_BARS {
            format!(", the {MAX_CLASS_BARS} lowest of {total} (all in the slices table)")
        } else {
            String::new()
        },
        a.headline.first().map_or(String::new(), |h| esc(&h.name))
    );
    let _ = writeln!(
        o,
        "<figure>{}</figure>",
        plots::slices_titled(
            &classes,
            overall,
            &format!("F1 per {family} with 95 % interval")
        )?
    );
    Ok(())
}

/// Bars in the per-class chart before only the lowest are shown.
const MAX_CLASS_BARS: usize = 30;

fn slice_row(s: &Slice) -> String {
    let value = if s.flagged {
        format!("<span class=\"flag\">{}</span>", esc(&s.ci.display(3)))
    } else {
        esc(&s.ci.display(3))
    };
    table_row(&[
        esc(&s.family),
        esc(&s.name),
        s.examples.to_string(),
        s.support.to_string(),
        esc(&s.metric),
        value,
        esc(&s.evidence.join(", ")),
    ])
}
