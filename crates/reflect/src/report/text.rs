//! Text every report shares, whatever the task kind: HTML and Markdown escaping, a finding's
//! value with its interval and its evidence rows, and the findings lines that end a headline.

use crate::findings::{Finding, Severity};

/// Escape text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Text made safe for a Markdown table cell.
/// The verdict block in Markdown: the verdict in bold, then its lines as a list.
pub(crate) fn verdict_md(lines: &[String]) -> String {
    let mut o = String::new();
    if let Some((first, rest)) = lines.split_first() {
        o.push_str(&format!("**{}**\n\n", md(first)));
        for l in rest {
            o.push_str(&format!("- {}\n", md(l)));
        }
        o.push('\n');
    }
    o
}

/// The verdict block in HTML.
pub(crate) fn verdict_html(lines: &[String]) -> String {
    let mut o = String::new();
    if let Some((first, rest)) = lines.split_first() {
        o.push_str(&format!(
            "<div class=\"verdict\" id=\"verdict\"><p><strong>{}</strong></p><ul>",
            esc(first)
        ));
        for l in rest {
            o.push_str(&format!("<li>{}</li>", esc(l)));
        }
        o.push_str("</ul></div>\n");
    }
    o
}

pub(crate) fn md(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// A finding's value with its interval, for tables.
pub(crate) fn ci_text(f: &Finding) -> String {
    match f.ci {
        Some([lo, hi]) => format!("{:.3} [{lo:.3}, {hi:.3}]", f.value),
        None if f.value.is_finite() => format!("{:.3}", f.value),
        None => String::new(),
    }
}

/// The first five evidence rows of a finding, `file#id` (`file#id:word` for a word).
pub(crate) fn evidence_text(f: &Finding) -> String {
    f.evidence
        .iter()
        .take(5)
        .map(|e| match e.word {
            Some(w) => format!("{}#{}:{w}", e.file, e.id),
            None => format!("{}#{}", e.file, e.id),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The last lines of every headline: the findings count by severity and the top finding.
pub(crate) fn finding_lines(findings: &[Finding]) -> Vec<String> {
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    let mut lines = vec![format!(
        "{} findings ({} high, {} medium)",
        findings.len(),
        count(Severity::High),
        count(Severity::Medium)
    )];
    if let Some(top) = findings.first() {
        lines.push(format!(
            "top finding [{}]: {}",
            top.severity.name(),
            top.title
        ));
    }
    lines
}
