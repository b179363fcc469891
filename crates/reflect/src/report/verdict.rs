//! The verdict a report opens with: one sentence on whether to trust the model (against the
//! baseline, its blind spots, its confidence), the findings that matter most with their
//! remedies, and what `pipeline improve` would try. Read from the ranked findings alone, so
//! every task kind's report says it the same way.

use crate::findings::{Finding, Severity};

/// Findings shown under the verdict.
const TOP: usize = 3;
/// Remedies listed as what improve would try.
const REMEDIES: usize = 6;

/// The baseline comparison: the generic `baseline` finding or the multi-label headline one.
fn baseline(found: &[Finding]) -> Option<&Finding> {
    found
        .iter()
        .find(|f| f.id == "baseline")
        .or_else(|| found.iter().find(|f| f.id == "baseline.micro_f1"))
        .or_else(|| found.iter().find(|f| f.id.starts_with("baseline.")))
}

/// What the baseline comparison says, as a clause, and whether the model is ahead.
fn against_baseline(found: &[Finding]) -> (String, Option<bool>) {
    let Some(b) = baseline(found) else {
        return ("no baseline to compare with".into(), None);
    };
    let ci = b.ci.map_or(String::new(), |[lo, hi]| {
        format!(" [{:+.1}, {:+.1}]", 100.0 * lo, 100.0 * hi)
    });
    let points = format!("{:+.1} points{ci}", 100.0 * b.value);
    match b.ci {
        Some([lo, _]) if lo > 0.0 => (format!("better than the baseline ({points})"), Some(true)),
        Some([_, hi]) if hi < 0.0 => (format!("worse than the baseline ({points})"), Some(false)),
        _ => (
            format!("not shown to beat the baseline ({points}: within the noise)"),
            Some(false),
        ),
    }
}

/// What the calibration findings say about the model's confidence.
fn confidence(found: &[Finding]) -> &'static str {
    let cal: Vec<&Finding> = found
        .iter()
        .filter(|f| f.id.starts_with("calibration."))
        .collect();
    if cal.is_empty() {
        "its confidence was not measured"
    } else if cal
        .iter()
        .any(|f| matches!(f.severity, Severity::High | Severity::Medium))
    {
        "its probabilities are off (see the calibration findings)"
    } else {
        "its probabilities are about right"
    }
}

/// The lines of the verdict block: the verdict, the top findings with their remedies, and
/// what `pipeline improve` would try.
pub fn verdict_lines(found: &[Finding]) -> Vec<String> {
    let (baseline_text, ahead) = against_baseline(found);
    let collapsed = found.iter().any(|f| f.id == "training.collapsed");
    let blind = found
        .iter()
        .filter(|f| f.severity == Severity::High && !f.id.starts_with("baseline"))
        .count();
    let word = match (collapsed, ahead) {
        (true, _) => "not usable: it predicts almost nothing",
        (false, Some(false)) => "not better than the baseline",
        (false, _) if blind > 0 => "usable, with blind spots",
        (false, _) => "usable",
    };
    let mut lines = vec![format!(
        "Verdict: {word} — {baseline_text}; {blind} high-severity finding{}; {}.",
        if blind == 1 { "" } else { "s" },
        confidence(found)
    )];
    let top: Vec<&Finding> = found
        .iter()
        .filter(|f| f.severity != Severity::Info)
        .take(TOP)
        .collect();
    for f in top {
        let remedies: Vec<&str> = f.remedies.iter().map(|r| r.name.as_str()).collect();
        lines.push(format!(
            "{} `{}`: {}{}",
            f.severity.name(),
            f.id,
            f.title,
            if remedies.is_empty() {
                String::new()
            } else {
                format!(" → remedies: {}", remedies.join(", "))
            }
        ));
    }
    let mut tries: Vec<&str> = Vec::new();
    for r in found.iter().flat_map(|f| &f.remedies) {
        if !tries.contains(&r.name.as_str()) {
            tries.push(&r.name);
        }
    }
    lines.push(if tries.is_empty() {
        "`pipeline improve` would try nothing: no finding proposes a remedy.".to_string()
    } else {
        let more = tries.len().saturating_sub(REMEDIES);
        tries.truncate(REMEDIES);
        format!(
            "`pipeline improve` would try: {}{}.",
            tries.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        )
    });
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::{Remedy, finding};

    fn with(id: &str, severity: Severity, value: f64, ci: Option<[f64; 2]>) -> Finding {
        let mut f = finding(id.into(), severity, "x", format!("title of {id}"));
        f.value = value;
        f.ci = ci;
        f
    }

    #[test]
    fn the_verdict_follows_the_baseline_the_blind_spots_and_the_collapse() {
        let ahead = with("baseline", Severity::Info, 0.086, Some([0.043, 0.127]));
        let mut spot = with("slice.label.x", Severity::High, 0.0, None);
        spot.remedies = vec![Remedy {
            name: "balanced class weights".into(),
            set: Default::default(),
        }];
        let cal = with("calibration.word", Severity::Low, 0.02, None);
        let v = verdict_lines(&[spot.clone(), ahead.clone(), cal.clone()]);
        assert_eq!(
            v[0],
            "Verdict: usable, with blind spots — better than the baseline (+8.6 points [+4.3, +12.7]); 1 high-severity finding; its probabilities are about right."
        );
        assert!(v[1].contains("→ remedies: balanced class weights"), "{v:?}");
        assert_eq!(
            v.last().unwrap(),
            "`pipeline improve` would try: balanced class weights."
        );

        let behind = with(
            "baseline.micro_f1",
            Severity::High,
            -0.3,
            Some([-0.35, -0.29]),
        );
        let collapsed = with("training.collapsed", Severity::High, 0.0, None);
        let v = verdict_lines(&[collapsed, behind.clone()]);
        assert!(
            v[0].starts_with(
                "Verdict: not usable: it predicts almost nothing — worse than the baseline"
            ),
            "{}",
            v[0]
        );

        let noise = with("baseline", Severity::High, 0.01, Some([-0.02, 0.04]));
        let v = verdict_lines(&[noise]);
        assert!(
            v[0].starts_with(
                "Verdict: not better than the baseline — not shown to beat the baseline"
            ),
            "{}",
            v[0]
        );
        assert!(v[0].contains("its confidence was not measured"));
    }
}
