//! Inline SVG plots drawn with `plotters`' SVG backend.
//!
//! The backend writes text as SVG `<text>` elements that the browser lays out, so no font
//! files are needed at build or run time (the workspace builds plotters without font
//! features); plotters only estimates text extents for its own layout.

use plotters::prelude::*;

use crate::analysis::{CalibrationReport, Confusion, Rejection, Slice};
use crate::error::{ReflectError, Result};
use crate::history::History;

const BLUE: RGBColor = RGBColor(52, 101, 164);
const ORANGE: RGBColor = RGBColor(230, 120, 30);
const GREY: RGBColor = RGBColor(140, 140, 140);
const RED: RGBColor = RGBColor(200, 40, 40);
const FONT: &str = "sans-serif";

fn err(plot: &'static str) -> impl Fn(String) -> ReflectError {
    move |message| ReflectError::Plot { plot, message }
}

/// Run a drawing closure on a fresh SVG canvas and return the SVG text.
fn svg(
    plot: &'static str,
    size: (u32, u32),
    draw: impl FnOnce(
        &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    ) -> std::result::Result<(), String>,
) -> Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(plot)(e.to_string()))?;
        draw(&root).map_err(err(plot))?;
        root.present().map_err(|e| err(plot)(e.to_string()))?;
    }
    Ok(out)
}

fn s<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Reliability diagram: accuracy per confidence bin before (bars) and after temperature
/// scaling (points), with the diagonal of perfect calibration.
pub fn reliability(c: &CalibrationReport, title: &str) -> Result<String> {
    svg("reliability", (460, 400), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(46)
            .build_cartesian_2d(0f64..1f64, 0f64..1f64)
            .map_err(s)?;
        chart
            .configure_mesh()
            .x_desc("confidence")
            .y_desc("accuracy")
            .label_style((FONT, 12))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(s)?;
        chart
            .draw_series(LineSeries::new(
                [(0.0, 0.0), (1.0, 1.0)],
                GREY.stroke_width(1),
            ))
            .map_err(s)?
            .label("perfect calibration")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], GREY));
        chart
            .draw_series(
                c.reliability.bins.iter().filter(|b| b.count > 0).map(|b| {
                    Rectangle::new([(b.lo, 0.0), (b.hi, b.accuracy)], BLUE.mix(0.6).filled())
                }),
            )
            .map_err(s)?
            .label(format!("before (ECE {:.3})", c.ece.estimate))
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], BLUE.mix(0.6).filled()));
        if let Some(after) = &c.after {
            let pts: Vec<(f64, f64)> = after
                .reliability
                .bins
                .iter()
                .filter(|b| b.count > 0)
                .map(|b| (b.confidence, b.accuracy))
                .collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), ORANGE.stroke_width(2)))
                .map_err(s)?
                .label(format!("after temperature (ECE {:.3})", after.ece.estimate))
                .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], ORANGE.stroke_width(2)));
            chart
                .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, ORANGE.filled())))
                .map_err(s)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font((FONT, 12))
            .background_style(WHITE.mix(0.85))
            .border_style(GREY)
            .draw()
            .map_err(s)?;
        Ok(())
    })
}

/// Risk–coverage curve: accuracy of the answered part against the share answered, with the
/// evaluation's threshold marked.
pub fn risk_coverage(r: &Rejection) -> Result<String> {
    svg("risk_coverage", (460, 400), |root| {
        let lo = r
            .curve
            .iter()
            .filter(|p| p.accuracy.is_finite())
            .map(|p| p.accuracy)
            .fold(1.0f64, f64::min);
        let y0 = (lo - 0.05).clamp(0.0, 0.95);
        let mut chart = ChartBuilder::on(root)
            .caption("risk–coverage", (FONT, 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(46)
            .build_cartesian_2d(0f64..1f64, y0..1f64)
            .map_err(s)?;
        chart
            .configure_mesh()
            .x_desc("coverage (share answered)")
            .y_desc("accuracy of the answers")
            .label_style((FONT, 12))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(s)?;
        let pts: Vec<(f64, f64)> = r
            .curve
            .iter()
            .filter(|p| p.accuracy.is_finite())
            .map(|p| (p.coverage, p.accuracy))
            .collect();
        chart
            .draw_series(LineSeries::new(pts, BLUE.stroke_width(2)))
            .map_err(s)?
            .label(format!("model (AURC {:.3})", r.aurc))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLUE.stroke_width(2)));
        if let Some(p) = r.at_rule.filter(|p| p.accuracy.is_finite()) {
            chart
                .draw_series([Circle::new((p.coverage, p.accuracy), 5, RED.filled())])
                .map_err(s)?
                .label(format!("threshold {:.3}", p.threshold))
                .legend(|(x, y)| Circle::new((x + 8, y), 4, RED.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .label_font((FONT, 12))
            .background_style(WHITE.mix(0.85))
            .border_style(GREY)
            .draw()
            .map_err(s)?;
        Ok(())
    })
}

/// Confusion-matrix heatmap, rows normalised (each gold row sums to 1), counts in the cells.
pub fn confusion(c: &Confusion) -> Result<String> {
    let n = c.labels.len().max(1);
    let cell = (440 / n).clamp(26, 60) as i32;
    let left = 130;
    let top = 40;
    let width = left + cell * n as i32 + 20;
    let height = top + cell * n as i32 + 120;
    svg("confusion", (width as u32, height as u32), |root| {
        root.draw(&Text::new(
            "gold (rows) × predicted (columns), row-normalised",
            (8, 14),
            (FONT, 13),
        ))
        .map_err(s)?;
        for (i, row) in c.counts.iter().enumerate() {
            let total: u64 = row.iter().sum();
            for (j, &count) in row.iter().enumerate() {
                let frac = if total == 0 {
                    0.0
                } else {
                    count as f64 / total as f64
                };
                let x = left + cell * j as i32;
                let y = top + cell * i as i32;
                let shade = (255.0 * (1.0 - frac)) as u8;
                let color = if i == j {
                    RGBColor(shade, shade.saturating_add(40).max(shade), 255)
                } else {
                    RGBColor(255, shade, shade)
                };
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell, y + cell)],
                    color.filled(),
                ))
                .map_err(s)?;
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell, y + cell)],
                    WHITE.stroke_width(1),
                ))
                .map_err(s)?;
                if count > 0 {
                    let txt_color = if frac > 0.6 { WHITE } else { BLACK };
                    let style = TextStyle::from((FONT, 11).into_font()).color(&txt_color);
                    root.draw(&Text::new(
                        count.to_string(),
                        (x + 3, y + cell / 2 - 5),
                        style,
                    ))
                    .map_err(s)?;
                }
            }
            root.draw(&Text::new(
                c.labels[i].clone(),
                (6, top + cell * i as i32 + cell / 2 - 6),
                (FONT, 12),
            ))
            .map_err(s)?;
        }
        for (j, label) in c.labels.iter().enumerate() {
            let style = TextStyle::from((FONT, 12).into_font()).transform(FontTransform::Rotate90);
            root.draw(&Text::new(
                label.clone(),
                (
                    left + cell * j as i32 + cell / 2 + 5,
                    top + cell * n as i32 + 6,
                ),
                style,
            ))
            .map_err(s)?;
        }
        Ok(())
    })
}

/// Learning curves: the training loss, and the dev metric the run selects its checkpoint by
/// with the same metric on the training sample when logged (the other metrics go in a table
/// beside the figure, [`History::evaluation_table`]).
pub fn learning_curves(h: &History) -> Result<String> {
    let x_key = h.x_key();
    let loss = h.series("loss");
    let mut metrics: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    if let Some(key) = h.selection_key() {
        let name = format!("{} (selection metric)", h.label(&key));
        metrics.push((name, h.series(&key)));
        metrics.push((
            "training sample (same metric)".into(),
            h.series("train_score"),
        ));
    }
    metrics.retain(|(_, v)| !v.is_empty());
    svg("learning curves", (900, 340), |root| {
        let (l, r) = root.split_horizontally(450);
        let panel = |area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
                     title: &str,
                     series: &[(String, Vec<(f64, f64)>)],
                     legend: SeriesLabelPosition|
         -> std::result::Result<(), String> {
            let pts: Vec<&(f64, f64)> = series.iter().flat_map(|(_, v)| v).collect();
            if pts.is_empty() {
                area.draw(&Text::new(
                    format!("{title}: nothing logged"),
                    (20, 30),
                    (FONT, 14),
                ))
                .map_err(s)?;
                return Ok(());
            }
            let (x0, x1) = pts
                .iter()
                .fold((f64::MAX, f64::MIN), |a, p| (a.0.min(p.0), a.1.max(p.0)));
            let (y0, y1) = pts
                .iter()
                .fold((f64::MAX, f64::MIN), |a, p| (a.0.min(p.1), a.1.max(p.1)));
            let pad = ((y1 - y0) * 0.05).max(1e-6);
            let x1 = if x1 > x0 { x1 } else { x0 + 1.0 };
            let mut chart = ChartBuilder::on(area)
                .caption(title, (FONT, 15))
                .margin(10)
                .x_label_area_size(34)
                .y_label_area_size(50)
                .build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))
                .map_err(s)?;
            chart
                .configure_mesh()
                .x_desc(x_key)
                .label_style((FONT, 11))
                .light_line_style(WHITE.mix(0.0))
                .draw()
                .map_err(s)?;
            let palette = [
                BLUE,
                ORANGE,
                RGBColor(60, 150, 60),
                RED,
                RGBColor(120, 80, 160),
                GREY,
            ];
            for (i, (name, v)) in series.iter().enumerate() {
                let color = palette[i % palette.len()];
                chart
                    .draw_series(LineSeries::new(v.iter().copied(), color.stroke_width(2)))
                    .map_err(s)?
                    .label(name.clone())
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2))
                    });
                if v.len() < 40 {
                    chart
                        .draw_series(v.iter().map(|&p| Circle::new(p, 2, color.filled())))
                        .map_err(s)?;
                }
            }
            chart
                .configure_series_labels()
                .position(legend)
                .label_font((FONT, 11))
                .background_style(WHITE.mix(0.85))
                .border_style(GREY)
                .draw()
                .map_err(s)?;
            Ok(())
        };
        // Loss falls and the metric rises: each legend where its curves end up away from it.
        panel(
            &l,
            "training loss",
            &[("loss".to_string(), loss.clone())],
            SeriesLabelPosition::UpperRight,
        )?;
        panel(
            &r,
            "selection metric",
            &metrics,
            SeriesLabelPosition::LowerRight,
        )?;
        Ok(())
    })
}

/// Horizontal bars of a metric per slice with 95 % intervals and the overall value as a
/// vertical line; flagged slices in red.
pub fn slices(slices: &[Slice], overall: f64) -> Result<String> {
    slices_titled(
        slices,
        overall,
        "metric per slice with 95 % interval (red: significantly below overall)",
    )
}

/// [`slices`] under another title.
pub fn slices_titled(slices: &[Slice], overall: f64, title: &str) -> Result<String> {
    let row = 22;
    let left = 280;
    let width = 760;
    let plot_w = width - left - 30;
    let top = 30;
    let mut rows: Vec<(String, Option<&Slice>)> = Vec::new();
    let mut family = "";
    for sl in slices {
        if sl.family != family {
            family = &sl.family;
            rows.push((sl.family.clone(), None));
        }
        rows.push((sl.name.clone(), Some(sl)));
    }
    let height = top + row * rows.len() as i32 + 40;
    svg("slices", (width as u32, height as u32), |root| {
        let x = |v: f64| left + (v.clamp(0.0, 1.0) * plot_w as f64) as i32;
        root.draw(&Text::new(title.to_string(), (8, 14), (FONT, 13)))
            .map_err(s)?;
        for (i, (name, sl)) in rows.iter().enumerate() {
            let y = top + row * i as i32;
            match sl {
                None => {
                    let style = TextStyle::from((FONT, 13).into_font().style(FontStyle::Bold));
                    root.draw(&Text::new(name.clone(), (6, y + 4), style))
                        .map_err(s)?;
                }
                Some(sl) => {
                    let label: String = format!("{} (n={})", name, sl.examples)
                        .chars()
                        .take(40)
                        .collect();
                    root.draw(&Text::new(label, (18, y + 4), (FONT, 12)))
                        .map_err(s)?;
                    let color = if sl.flagged { RED } else { BLUE };
                    root.draw(&Rectangle::new(
                        [(x(0.0), y + 3), (x(sl.ci.estimate), y + row - 5)],
                        color.mix(0.55).filled(),
                    ))
                    .map_err(s)?;
                    let mid = y + row / 2 - 1;
                    root.draw(&PathElement::new(
                        [(x(sl.ci.lo), mid), (x(sl.ci.hi), mid)],
                        BLACK.stroke_width(1),
                    ))
                    .map_err(s)?;
                    for v in [sl.ci.lo, sl.ci.hi] {
                        root.draw(&PathElement::new(
                            [(x(v), mid - 4), (x(v), mid + 4)],
                            BLACK.stroke_width(1),
                        ))
                        .map_err(s)?;
                    }
                }
            }
        }
        let bottom = top + row * rows.len() as i32;
        if overall.is_finite() {
            root.draw(&PathElement::new(
                [(x(overall), top - 4), (x(overall), bottom)],
                ORANGE.stroke_width(2),
            ))
            .map_err(s)?;
            root.draw(&Text::new(
                format!("overall {overall:.3}"),
                (x(overall) + 4, bottom + 4),
                (FONT, 11),
            ))
            .map_err(s)?;
        }
        for t in 0..=5 {
            let v = f64::from(t) / 5.0;
            root.draw(&PathElement::new(
                [(x(v), bottom), (x(v), bottom + 4)],
                GREY,
            ))
            .map_err(s)?;
            root.draw(&Text::new(
                format!("{v:.1}"),
                (x(v) - 8, bottom + 20),
                (FONT, 11),
            ))
            .map_err(s)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real history's shape (WNUT-17: the selection metric, the training-sample score and
    /// dozens of nested dev metrics): the curves draw the loss and the two selection-metric
    /// series only.
    #[test]
    fn learning_curves_draw_the_loss_and_the_selection_metric_only() {
        let mut text = String::new();
        for i in 1..=3 {
            text.push_str(&format!(
                "{{\"step\": {s}, \"loss\": 1.{i}, \"lr\": 0.001}}\n{{\"step\": {s}, \"dev_metric\": \"primary\", \"dev_score\": 0.{i}, \"train_score\": 0.{i}5, \"dev\": {{\"token_accuracy\": 0.9, \"entity\": {{\"micro\": {{\"f1\": 0.{i}, \"precision\": 0.5}}, \"per_type\": {{\"person\": {{\"f1\": 0.3}}}}}}}}}}\n",
                s = i * 100
            ));
        }
        let h = History::parse(&text, std::path::Path::new("history.jsonl")).unwrap();
        let svg = learning_curves(&h).unwrap();
        for label in [
            "dev primary (selection metric)",
            "training sample (same metric)",
            "loss",
        ] {
            assert!(svg.contains(label), "no {label} in the figure");
        }
        for hidden in ["per_type", "token_accuracy", "precision"] {
            assert!(!svg.contains(hidden), "{hidden} is drawn");
        }
    }
}
