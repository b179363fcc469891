//! The multi-label report: headline lines, the headline and per-label tables, missed and
//! added labels, co-occurrence errors, per-label calibration with reliability diagrams and the
//! baseline comparison, as one list of blocks rendered to Markdown or HTML.

use std::fmt::Write as _;

use metrics::multilabel::DEFAULT_THRESHOLD;

use super::plots;
use super::text::{ci_text, esc, evidence_text, finding_lines, md, verdict_html, verdict_md};
use super::verdict::verdict_lines;
use crate::analysis::multilabel::{ErrorExample, LabelErrors, MultilabelAnalysis};
use crate::error::Result;
use crate::findings::multilabel::level_text;
use crate::findings::{Finding, pct};

/// Section headings of the reports, in order.
pub const SECTIONS: [&str; 8] = [
    "Headline metrics",
    "Findings",
    "Per-label metrics",
    "Missed and added labels",
    "Co-occurrence errors",
    "Calibration per label",
    "Baseline comparison",
    "Notes",
];

/// A few lines for the end of a pipeline run: the headline metrics with intervals, the worst
/// calibrated label, the baseline comparison and the findings count.
pub fn headline_lines(a: &MultilabelAnalysis, found: &[Finding]) -> Vec<String> {
    let mut lines = Vec::new();
    for m in a.headline.iter().take(5) {
        lines.push(format!(
            "{} ({}): {} ({} CI, {} examples, {} resamples)",
            m.name,
            a.split,
            m.ci.display(3),
            level_text(a.bootstrap.level),
            a.examples,
            a.bootstrap.resamples
        ));
    }
    if let Some(worst) = a
        .calibration
        .iter()
        .max_by(|x, y| x.report.ece.estimate.total_cmp(&y.report.ece.estimate))
    {
        let mean = a
            .calibration
            .iter()
            .map(|c| c.report.ece.estimate)
            .sum::<f64>()
            / a.calibration.len() as f64;
        lines.push(format!(
            "per-label ECE: mean {mean:.3}, worst `{}` {}",
            worst.label,
            worst.report.ece.display(3)
        ));
    }
    if let Some(b) = &a.baseline {
        lines.push(format!(
            "vs baseline: micro F1 difference {} (p = {:.4}), macro F1 difference {} (p = {:.4})",
            b.micro_f1.diff.display(3),
            b.micro_f1.p_value,
            b.macro_f1.diff.display(3),
            b.macro_f1.p_value
        ));
    }
    lines.extend(finding_lines(found));
    lines
}

/// `x` with `digits` decimals, `–` when there is none.
fn opt(x: Option<f64>, digits: usize) -> String {
    x.map_or("–".into(), |v| format!("{v:.digits$}"))
}

/// A rendered table: header and rows of cell text (not yet escaped).
struct TableText {
    head: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl TableText {
    fn markdown(&self, o: &mut String) {
        let _ = writeln!(o, "| {} |", self.head.join(" | "));
        let _ = writeln!(o, "|{}", "---|".repeat(self.head.len()));
        for r in &self.rows {
            let cells: Vec<String> = r.iter().map(|c| md(c)).collect();
            let _ = writeln!(o, "| {} |", cells.join(" | "));
        }
        o.push('\n');
    }

    fn html(&self, o: &mut String) {
        o.push_str("<table><tr>");
        for h in &self.head {
            let _ = write!(o, "<th>{}</th>", esc(h));
        }
        o.push_str("</tr>\n");
        for r in &self.rows {
            o.push_str("<tr>");
            for c in r {
                let _ = write!(o, "<td>{}</td>", esc(c));
            }
            o.push_str("</tr>\n");
        }
        o.push_str("</table>\n");
    }
}

/// One error example: its id, gold and predicted sets, probabilities and the start of its
/// text.
fn example_text(e: &ErrorExample) -> String {
    let set = |v: &str| {
        if v.is_empty() {
            "∅".to_string()
        } else {
            format!("`{v}`")
        }
    };
    let mut s = format!(
        "{}: gold {}, predicted {}",
        e.id,
        set(&e.gold),
        set(&e.pred)
    );
    if let Some(p) = e.prob {
        let _ = write!(s, ", p {p:.3}");
    }
    if let Some(p) = e.prob_added {
        let _ = write!(s, " / {p:.3}");
    }
    if let Some(t) = &e.text {
        let short: String = t.chars().take(120).collect();
        let _ = write!(
            s,
            " — “{short}{}”",
            if short.len() < t.len() { "…" } else { "" }
        );
    }
    s
}

/// The report's content as paragraphs and tables, rendered to Markdown or HTML.
enum Block {
    Heading(&'static str),
    Para(String),
    Table(TableText),
    /// Reliability diagrams (HTML only).
    Plots,
}

/// The report's blocks, section by section in the order of [`SECTIONS`].
fn blocks(a: &MultilabelAnalysis, found: &[Finding]) -> Vec<Block> {
    let mut b = headline_section(a);
    b.extend(findings_section(found));
    b.extend(per_label_section(a));
    b.extend(missed_added_section(a));
    b.extend(cooccurrence_section(a));
    b.extend(calibration_section(a));
    b.extend(baseline_section(a));
    b.extend(notes_section(a));
    b
}

/// "Headline metrics": what was evaluated and how the intervals and the decision were made,
/// the headline metrics with their intervals, and the label counts per example.
fn headline_section(a: &MultilabelAnalysis) -> Vec<Block> {
    let level = level_text(a.bootstrap.level);
    vec![
        Block::Heading(SECTIONS[0]),
        Block::Para(format!(
            "Multi-label task, {} examples of {}, {} labels; intervals are {level} percentile bootstrap over examples ({} resamples, seed {}). Decision: p > threshold per label{}.",
            a.examples,
            a.file,
            a.labels.len(),
            a.bootstrap.resamples,
            a.bootstrap.seed,
            decision_text(a)
        )),
        Block::Table(TableText {
            head: vec!["metric", "value", "CI"],
            rows: a
                .headline
                .iter()
                .map(|m| {
                    vec![
                        m.name.clone(),
                        format!("{:.4}", m.ci.estimate),
                        format!("[{:.4}, {:.4}]", m.ci.lo, m.ci.hi),
                    ]
                })
                .collect(),
        }),
        Block::Para(format!(
            "{:.2} gold and {:.2} predicted labels per example; {} examples without a gold label, {} with an empty prediction ({} of them with gold labels).",
            a.counts.mean_gold_labels,
            a.counts.mean_pred_labels,
            a.counts.empty_gold,
            a.counts.empty_pred,
            a.counts.empty_pred_with_gold
        )),
    ]
}

/// Where the thresholds came from, as the end of the headline's decision sentence.
fn decision_text(a: &MultilabelAnalysis) -> String {
    match (&a.decision.tuned_on, a.decision.recorded) {
        (Some(s), _) => format!(", thresholds tuned on {s}"),
        (None, true) => format!(
            ", threshold {:.3}",
            a.decision
                .thresholds
                .first()
                .copied()
                .unwrap_or(DEFAULT_THRESHOLD)
        ),
        (None, false) => format!(", assumed {DEFAULT_THRESHOLD} (none recorded)"),
    }
}

/// "Findings": the ranked findings, one row each (the HTML report colours the rows by
/// severity: it knows this table by its `#` column).
fn findings_section(found: &[Finding]) -> Vec<Block> {
    vec![
        Block::Heading(SECTIONS[1]),
        Block::Table(TableText {
            head: vec![
                "#",
                "severity",
                "finding",
                "value [95 % CI]",
                "detail",
                "action",
                "evidence",
            ],
            rows: found
                .iter()
                .map(|f| {
                    vec![
                        f.rank.to_string(),
                        f.severity.name().to_string(),
                        f.title.clone(),
                        ci_text(f),
                        f.detail.clone(),
                        f.action.clone(),
                        evidence_text(f),
                    ]
                })
                .collect(),
        }),
    ]
}

/// "Per-label metrics": one row per label with its counts, rates, ranking, threshold and
/// calibration.
fn per_label_section(a: &MultilabelAnalysis) -> Vec<Block> {
    vec![
        Block::Heading(SECTIONS[2]),
        Block::Table(TableText {
            head: vec![
                "label",
                "support",
                "predicted",
                "precision",
                "recall [95 % CI]",
                "F1",
                "missed (rate)",
                "added (share of predictions)",
                "ROC-AUC",
                "AP",
                "threshold",
                "ECE",
                "Brier",
            ],
            rows: a
                .per_label
                .iter()
                .map(|r| {
                    vec![
                        r.label.clone(),
                        r.support.to_string(),
                        r.predicted.to_string(),
                        format!("{:.3}", r.precision),
                        format!(
                            "{:.3} [{:.3}, {:.3}]",
                            r.recall, r.recall_ci[0], r.recall_ci[1]
                        ),
                        format!("{:.3}", r.f1),
                        format!("{} ({})", r.missed, r.miss_rate.map_or("–".into(), pct)),
                        format!("{} ({})", r.added, r.added_share.map_or("–".into(), pct)),
                        opt(r.roc_auc, 3),
                        opt(r.average_precision, 3),
                        format!("{:.3}", r.threshold),
                        opt(r.ece, 3),
                        opt(r.brier, 4),
                    ]
                })
                .collect(),
        }),
    ]
}

/// "Missed and added labels": the labels most often missed, then those most often added,
/// each with its worst examples (or a sentence when there are none).
fn missed_added_section(a: &MultilabelAnalysis) -> Vec<Block> {
    let mut b = vec![Block::Heading(SECTIONS[3])];
    for (what, list, order) in [
        (
            "missed (gold, not predicted)",
            &a.missed,
            "lowest probability first",
        ),
        (
            "added (predicted, not gold)",
            &a.added,
            "highest probability first",
        ),
    ] {
        if list.is_empty() {
            b.push(Block::Para(format!("No label is {what}.")));
            continue;
        }
        b.push(Block::Para(format!(
            "Labels most often {what}; examples {order}:"
        )));
        b.push(Block::Table(label_errors_table(list)));
    }
    b
}

/// One row per label of a missed or added list: its count, rate and examples.
fn label_errors_table(list: &[LabelErrors]) -> TableText {
    TableText {
        head: vec!["label", "count", "of", "rate", "examples"],
        rows: list
            .iter()
            .map(|e| {
                vec![
                    e.label.clone(),
                    e.count.to_string(),
                    e.of.to_string(),
                    pct(e.rate),
                    examples_text(&e.examples),
                ]
            })
            .collect(),
    }
}

/// Error examples of one table cell, `; `-separated.
fn examples_text(examples: &[ErrorExample]) -> String {
    examples
        .iter()
        .map(example_text)
        .collect::<Vec<_>>()
        .join("; ")
}

/// "Co-occurrence errors": gold labels missed while another is added (or a sentence when
/// none is), then the gold pairs by joint recall when there are any.
fn cooccurrence_section(a: &MultilabelAnalysis) -> Vec<Block> {
    let mut b = vec![Block::Heading(SECTIONS[4])];
    if a.cooccurrence_errors.is_empty() {
        b.push(Block::Para(
            "No example misses one label while adding another.".into(),
        ));
    } else {
        b.push(Block::Para(
            "Gold label missed while another is added in the same example (\"A read as B\"); probabilities are p(A) / p(B):".into(),
        ));
        b.push(Block::Table(cooccurrence_table(a)));
    }
    if !a.gold_pairs.is_empty() {
        b.push(Block::Para(
            "Gold pairs, lowest joint recall first (both labels predicted when both are gold):"
                .into(),
        ));
        b.push(Block::Table(gold_pairs_table(a)));
    }
    b
}

/// The 20 most frequent co-occurrence errors with their examples.
fn cooccurrence_table(a: &MultilabelAnalysis) -> TableText {
    TableText {
        head: vec![
            "missed (A)",
            "added (B)",
            "count",
            "share of A's misses",
            "examples",
        ],
        rows: a
            .cooccurrence_errors
            .iter()
            .take(20)
            .map(|c| {
                vec![
                    c.missed.clone(),
                    c.added.clone(),
                    c.count.to_string(),
                    pct(c.share_of_missed),
                    examples_text(&c.examples),
                ]
            })
            .collect(),
    }
}

/// The 20 gold pairs with the lowest joint recall, against their recall if the two labels'
/// misses were independent.
fn gold_pairs_table(a: &MultilabelAnalysis) -> TableText {
    TableText {
        head: vec![
            "A",
            "B",
            "together",
            "both predicted",
            "joint recall",
            "if independent",
            "ids",
        ],
        rows: a
            .gold_pairs
            .iter()
            .take(20)
            .map(|p| {
                vec![
                    p.a.clone(),
                    p.b.clone(),
                    p.together.to_string(),
                    p.both_predicted.to_string(),
                    format!("{:.3}", p.joint_recall),
                    format!("{:.3}", p.independent),
                    p.examples.join(", "),
                ]
            })
            .collect(),
    }
}

/// "Calibration per label": how calibration is measured, one row per label and the
/// reliability diagrams (or a sentence without probabilities).
fn calibration_section(a: &MultilabelAnalysis) -> Vec<Block> {
    let mut b = vec![Block::Heading(SECTIONS[5])];
    if a.calibration.is_empty() {
        b.push(Block::Para("No probabilities: calibration skipped.".into()));
        return b;
    }
    b.push(Block::Para(format!(
        "Reliability of each label's probability against its gold indicator: ECE over {} equal-width bins of p ({} CI), positive rate = share of examples with the label{}.",
        a.bins,
        level_text(a.bootstrap.level),
        a.temperature_split
            .as_ref()
            .map_or(String::new(), |s| format!("; T = temperature of the label's logit fitted on {s}"))
    )));
    b.push(Block::Table(calibration_table(a)));
    b.push(Block::Plots);
    b
}

/// One row per label: its calibration errors, the fitted temperature and the ECE after it.
fn calibration_table(a: &MultilabelAnalysis) -> TableText {
    TableText {
        head: vec![
            "label",
            "mean p",
            "positive rate",
            "ECE [CI]",
            "ECE (equal mass)",
            "MCE",
            "Brier",
            "NLL",
            "T",
            "ECE after T",
        ],
        rows: a
            .calibration
            .iter()
            .map(|c| {
                vec![
                    c.label.clone(),
                    format!("{:.3}", c.mean_prob),
                    format!("{:.3}", c.positive_rate),
                    c.report.ece.display(3),
                    format!("{:.3}", c.report.ece_mass),
                    format!("{:.3}", c.report.mce),
                    opt(c.report.brier, 4),
                    opt(c.report.nll, 4),
                    opt(c.temperature.map(|t| t.t), 3),
                    c.report
                        .after
                        .as_ref()
                        .map_or("–".into(), |x| x.ece.display(3)),
                ]
            })
            .collect(),
    }
}

/// "Baseline comparison": the paired bootstrap of micro and macro F1 and the per-label F1
/// of both (or a sentence without baseline predictions).
fn baseline_section(a: &MultilabelAnalysis) -> Vec<Block> {
    let Some(c) = &a.baseline else {
        return vec![
            Block::Heading(SECTIONS[6]),
            Block::Para("No baseline predictions for this split.".into()),
        ];
    };
    vec![
        Block::Heading(SECTIONS[6]),
        Block::Para(format!(
            "Paired bootstrap over the {} examples of both (matched by id), model minus baseline ({}); p is twice the smaller share of resamples on either side of 0.",
            c.shared, c.file
        )),
        Block::Table(TableText {
            head: vec!["metric", "model", "baseline", "difference", "p"],
            rows: [("micro F1", &c.micro_f1), ("macro F1", &c.macro_f1)]
                .iter()
                .map(|(name, p)| {
                    vec![
                        (*name).to_string(),
                        p.a.display(4),
                        p.b.display(4),
                        p.diff.display(4),
                        format!("{:.4}", p.p_value),
                    ]
                })
                .collect(),
        }),
        Block::Table(TableText {
            head: vec!["label", "model F1", "baseline F1", "difference"],
            rows: c
                .per_label
                .iter()
                .map(|d| {
                    vec![
                        d.label.clone(),
                        format!("{:.3}", d.model_f1),
                        format!("{:.3}", d.baseline_f1),
                        format!("{:+.3}", d.model_f1 - d.baseline_f1),
                    ]
                })
                .collect(),
        }),
    ]
}

/// "Notes": the analysis's notes, one paragraph each; no section without notes.
fn notes_section(a: &MultilabelAnalysis) -> Vec<Block> {
    if a.notes.is_empty() {
        return Vec::new();
    }
    std::iter::once(Block::Heading(SECTIONS[7]))
        .chain(a.notes.iter().map(|n| Block::Para(n.clone())))
        .collect()
}

/// The Markdown report.
pub fn markdown(a: &MultilabelAnalysis, found: &[Finding]) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Validation report ({} split, multi-label)\n", a.split);
    o.push_str(&verdict_md(&verdict_lines(found)));
    for l in headline_lines(a, found) {
        let _ = writeln!(o, "- {}", md(&l));
    }
    o.push('\n');
    for block in blocks(a, found) {
        match block {
            Block::Heading(h) => {
                let _ = writeln!(o, "## {h}\n");
            }
            Block::Para(p) => {
                let _ = writeln!(o, "{}\n", p.replace('\n', " "));
            }
            Block::Table(t) => t.markdown(&mut o),
            Block::Plots => {}
        }
    }
    o
}

const CSS: &str = "body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top;font-size:13px}\
th{background:#f0f0f0}.high{background:#f8d0d0}.medium{background:#fbe8c8}.low{background:#eef4fb}.info{background:#f4f4f4}\
figure{margin:0.5em 0 1.5em}.plots{display:flex;flex-wrap:wrap;gap:1em}.note{color:#666;font-size:13px}.verdict{border-left:4px solid #446;background:#f3f4fa;padding:0.3em 1em;margin:1em 0}";

/// The HTML report: one file, inline CSS and SVG reliability diagrams, no scripts.
pub fn html(a: &MultilabelAnalysis, found: &[Finding]) -> Result<String> {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Validation report ({}, multi-label)</title><style>{CSS}</style></head><body>\n",
        esc(&a.split)
    );
    let _ = writeln!(
        o,
        "<h1>Validation report ({} split, multi-label)</h1>",
        esc(&a.split)
    );
    o.push_str(&verdict_html(&verdict_lines(found)));
    o.push_str("<ul>\n");
    for l in headline_lines(a, found) {
        let _ = writeln!(o, "<li>{}</li>", esc(&l));
    }
    o.push_str("</ul>\n");
    for block in blocks(a, found) {
        match block {
            Block::Heading(h) => {
                let _ = writeln!(o, "<h2>{}</h2>", esc(h));
            }
            Block::Para(p) => {
                let _ = writeln!(o, "<p>{}</p>", esc(&p));
            }
            Block::Table(t) if t.head.first() == Some(&"#") => {
                // The findings table: rows coloured by severity.
                o.push_str("<table><tr>");
                for h in &t.head {
                    let _ = write!(o, "<th>{}</th>", esc(h));
                }
                o.push_str("</tr>\n");
                for (r, f) in t.rows.iter().zip(found) {
                    let _ = write!(o, "<tr class=\"{}\">", f.severity.name());
                    for c in r {
                        let _ = write!(o, "<td>{}</td>", esc(c));
                    }
                    o.push_str("</tr>\n");
                }
                o.push_str("</table>\n");
            }
            Block::Table(t) => t.html(&mut o),
            Block::Plots => {
                o.push_str("<p class=\"note\">Reliability diagrams: x = the label's probability, y = share of examples that have the label.</p><div class=\"plots\">");
                for c in &a.calibration {
                    let _ = write!(
                        o,
                        "<figure>{}</figure>",
                        plots::reliability(&c.report, &format!("reliability of {}", c.label))?
                    );
                }
                o.push_str("</div>\n");
            }
        }
    }
    o.push_str("</body></html>\n");
    Ok(o)
}
