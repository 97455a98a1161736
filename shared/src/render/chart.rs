//! Chart geometry shared by the PDF and SVG renderers: axis ticks, gridlines, grouped bars,
//! line points, category labels and a legend, laid out in a box whose origin is the top-left
//! corner with y growing downwards (the PDF renderer flips y). Both formats draw the same
//! marks, so a chart looks alike in the PDF and the email.

use serde_json::Value;

use super::format;
use super::model::ChartBlock;
use crate::domain::{ChartKind, ValueFormat};

/// Font size of tick, category and legend labels, in the plot's units.
pub const LABEL_SIZE: f32 = 8.0;

/// The largest magnitude a chart draws.
const MAX_PLOTTABLE: f64 = 1e300;

/// Series colours (RGB), in order; series beyond the palette reuse it.
pub const PALETTE: [(u8, u8, u8); 6] =
    [(37, 99, 235), (234, 88, 12), (22, 163, 74), (147, 51, 234), (219, 39, 119), (13, 148, 136)];

/// The colour of series `i`.
pub fn colour(i: usize) -> (u8, u8, u8) {
    PALETTE[i % PALETTE.len()]
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    pub width: f32,
    pub height: f32,
    pub marks: Vec<Mark>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// The value axis baseline (zero, or the bottom of the range).
    Axis,
    /// A light horizontal line at a tick.
    Grid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    Start,
    Middle,
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelRole {
    /// A value on the vertical axis.
    Tick,
    /// A category under the horizontal axis.
    Category,
    /// A series name in the legend.
    Legend,
    /// Shown instead of a plot when there is nothing to draw.
    Empty,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Mark {
    Rule {
        x1: f32,
        y1: f32,
        x2: f32,
        y2: f32,
        kind: RuleKind,
    },
    /// A bar: `(x, y)` is its top-left corner.
    Bar {
        x: f32,
        y: f32,
        width: f32,
        height: f32,
        series: usize,
    },
    /// A connected run of points of one series (a gap in the data starts a new line).
    Line {
        points: Vec<(f32, f32)>,
        series: usize,
    },
    Dot {
        x: f32,
        y: f32,
        series: usize,
    },
    /// Text whose baseline starts, centres or ends at `(x, y)`.
    Label {
        x: f32,
        y: f32,
        text: String,
        anchor: Anchor,
        role: LabelRole,
    },
    /// A legend colour square: `(x, y)` is its top-left corner.
    Swatch {
        x: f32,
        y: f32,
        size: f32,
        series: usize,
    },
}

/// Rough advance width of `text` at `size`: good enough to keep labels apart.
fn text_width(text: &str, size: f32) -> f32 {
    text.chars().count() as f32 * size * 0.55
}

/// Lays out `chart` in a `width` × `height` box.
pub fn plot(chart: &ChartBlock, width: f32, height: f32) -> Plot {
    let mut marks = Vec::new();
    let n = chart.categories.len();
    // Values beyond ±1e300 cannot be scaled (their range overflows); they are drawn as gaps.
    let plottable = |v: &f64| v.is_finite() && v.abs() <= MAX_PLOTTABLE;
    let values = || chart.series.iter().flat_map(|s| s.values.iter().copied()).filter(plottable);
    if n == 0 || values().next().is_none() {
        marks.push(Mark::Label {
            x: width / 2.0,
            y: height / 2.0,
            text: "No data".into(),
            anchor: Anchor::Middle,
            role: LabelRole::Empty,
        });
        return Plot { width, height, marks };
    }

    // Legend across the top when there is more than one series.
    let mut top = 6.0;
    if chart.series.len() > 1 {
        let mut x = 0.0;
        for (i, series) in chart.series.iter().enumerate() {
            let name = truncate(&series.name, 24);
            marks.push(Mark::Swatch { x, y: top, size: LABEL_SIZE, series: i });
            marks.push(Mark::Label {
                x: x + LABEL_SIZE + 3.0,
                y: top + LABEL_SIZE - 1.0,
                text: name.clone(),
                anchor: Anchor::Start,
                role: LabelRole::Legend,
            });
            x += LABEL_SIZE + 3.0 + text_width(&name, LABEL_SIZE) + 12.0;
        }
        top += LABEL_SIZE + 8.0;
    }

    let (lo, hi) = values().fold((0.0_f64, 0.0_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let ticks = nice_ticks(lo, hi, 5);
    let (min, max) = (ticks[0], ticks[ticks.len() - 1]);
    let tick_labels: Vec<String> = ticks.iter().map(|t| compact(*t, &chart.format)).collect();
    let left = tick_labels.iter().map(|t| text_width(t, LABEL_SIZE)).fold(0.0, f32::max) + 8.0;
    let bottom = height - (LABEL_SIZE + 8.0);
    let right = width - 4.0;
    let plot_w = (right - left).max(1.0);
    let plot_h = (bottom - top).max(1.0);
    let y_of = |v: f64| bottom - ((v - min) / (max - min)) as f32 * plot_h;

    for (t, label) in ticks.iter().zip(tick_labels) {
        let y = y_of(*t);
        let kind = if *t == 0.0 || *t == min { RuleKind::Axis } else { RuleKind::Grid };
        marks.push(Mark::Rule { x1: left, y1: y, x2: right, y2: y, kind });
        marks.push(Mark::Label {
            x: left - 4.0,
            y: y + LABEL_SIZE * 0.35,
            text: label,
            anchor: Anchor::End,
            role: LabelRole::Tick,
        });
    }

    let band = plot_w / n as f32;
    // Show every k-th category label so labels never overlap.
    let widest = chart.categories.iter().map(|c| text_width(&truncate(c, 18), LABEL_SIZE)).fold(0.0, f32::max);
    let every = ((widest + 4.0) / band).ceil().max(1.0) as usize;
    for (i, category) in chart.categories.iter().enumerate() {
        if i % every == 0 {
            marks.push(Mark::Label {
                x: left + band * (i as f32 + 0.5),
                y: height - 2.0,
                text: truncate(category, 18),
                anchor: Anchor::Middle,
                role: LabelRole::Category,
            });
        }
    }

    let zero = y_of(if min <= max { 0.0_f64.clamp(min, max) } else { min });
    match chart.kind {
        ChartKind::Bar => {
            let groups = chart.series.len().max(1) as f32;
            let bar_w = band * 0.7 / groups;
            for (s, series) in chart.series.iter().enumerate() {
                for (i, v) in series.values.iter().enumerate().take(n) {
                    if !plottable(v) {
                        continue;
                    }
                    let x = left + band * i as f32 + band * 0.15 + bar_w * s as f32;
                    let y = y_of(*v);
                    let (top, h) = if y < zero { (y, zero - y) } else { (zero, y - zero) };
                    marks.push(Mark::Bar { x, y: top, width: bar_w, height: h, series: s });
                }
            }
        }
        ChartKind::Line => {
            for (s, series) in chart.series.iter().enumerate() {
                let mut run: Vec<(f32, f32)> = Vec::new();
                for (i, v) in series.values.iter().enumerate().take(n) {
                    if plottable(v) {
                        let point = (left + band * (i as f32 + 0.5), y_of(*v));
                        run.push(point);
                        if n <= 31 {
                            marks.push(Mark::Dot { x: point.0, y: point.1, series: s });
                        }
                    } else if !run.is_empty() {
                        marks.push(Mark::Line { points: std::mem::take(&mut run), series: s });
                    }
                }
                if !run.is_empty() {
                    marks.push(Mark::Line { points: run, series: s });
                }
            }
        }
    }
    Plot { width, height, marks }
}

/// Evenly spaced round tick values (steps of 1, 2 or 5 × 10ⁿ) covering `lo..=hi`.
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    let (lo, hi) = if (hi - lo).abs() < f64::EPSILON { (lo.min(0.0), lo.max(0.0) + 1.0) } else { (lo, hi) };
    let raw = (hi - lo) / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(10.0 * magnitude);
    let start = (lo / step).floor() * step;
    // Round to the step's decimals to snap away floating-point noise (0.6000000000000001).
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    let snap = |v: f64| format!("{v:.decimals$}").parse::<f64>().unwrap_or(v);
    let mut ticks = Vec::new();
    let mut t = start;
    loop {
        let tick = snap(t);
        ticks.push(tick);
        if tick >= hi - step * 1e-9 || ticks.len() >= 50 {
            break;
        }
        t += step;
    }
    if ticks.len() < 2 {
        ticks.push(start + step);
    }
    ticks
}

/// Short axis text: `12k`, `$1.5M`, `15%`.
pub fn compact(value: f64, fmt: &ValueFormat) -> String {
    let short = |v: f64| {
        let a = v.abs();
        if a >= 1e9 {
            format!("{}B", trim(v / 1e9))
        } else if a >= 1e6 {
            format!("{}M", trim(v / 1e6))
        } else if a >= 1e4 {
            format!("{}k", trim(v / 1e3))
        } else {
            format::number(v, if v.fract() == 0.0 { 0 } else { 1 })
        }
    };
    match fmt {
        ValueFormat::Percent { .. } => format::percent(value, 0),
        ValueFormat::Currency { code } => {
            let symbol = format::currency(0.0, code).replace(['0', '.', ','], "").trim().to_owned();
            let sign = if value < 0.0 { "-" } else { "" };
            if symbol.chars().all(|c| c.is_ascii_uppercase() || c == ' ') {
                format!("{sign}{} {}", short(value.abs()), symbol)
            } else {
                format!("{sign}{symbol}{}", short(value.abs()))
            }
        }
        _ => short(value),
    }
}

fn trim(v: f64) -> String {
    let text = format!("{v:.1}");
    text.strip_suffix(".0").map(str::to_owned).unwrap_or(text)
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(max.saturating_sub(1)).collect();
        short.push('…');
        short
    }
}

/// A number from a cell, for plotting (numeric text counts; anything else is a gap).
pub fn value_of(cell: &Value) -> f64 {
    match cell {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => s.trim().parse().unwrap_or(f64::NAN),
        _ => f64::NAN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::model::Series;

    fn chart(kind: ChartKind, series: Vec<Series>) -> ChartBlock {
        ChartBlock {
            title: None,
            kind,
            categories: vec!["email".into(), "mobile".into(), "social".into(), "web".into()],
            series,
            format: ValueFormat::Number { decimals: 0 },
        }
    }

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(nice_ticks(0.0, 87.0, 5), vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(nice_ticks(-3.0, 7.0, 5), vec![-4.0, -2.0, 0.0, 2.0, 4.0, 6.0, 8.0]);
        assert_eq!(nice_ticks(0.0, 0.0, 5), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
    }

    #[test]
    fn bars_stand_on_the_zero_line_inside_the_box() {
        let plot = plot(
            &chart(ChartKind::Bar, vec![Series { name: "sent".into(), values: vec![10.0, 40.0, 0.0, 25.0] }]),
            400.0,
            200.0,
        );
        let bars: Vec<_> = plot
            .marks
            .iter()
            .filter_map(|m| match m {
                Mark::Bar { x, y, width, height, .. } => Some((*x, *y, *width, *height)),
                _ => None,
            })
            .collect();
        assert_eq!(bars.len(), 4);
        let bottoms: Vec<f32> = bars.iter().map(|b| b.1 + b.3).collect();
        assert!(bottoms.windows(2).all(|w| (w[0] - w[1]).abs() < 0.01), "{bottoms:?}");
        assert!(bars.iter().all(|b| b.0 >= 0.0 && b.0 + b.2 <= 400.0 && b.1 >= 0.0 && b.1 + b.3 <= 200.0));
        assert!(bars[1].3 > bars[0].3 * 3.9, "40 is four times 10");
    }

    #[test]
    fn gaps_split_a_line_and_several_series_get_a_legend() {
        let plot = plot(
            &chart(
                ChartKind::Line,
                vec![
                    Series { name: "this week".into(), values: vec![1.0, f64::NAN, 3.0, 4.0] },
                    Series { name: "last week".into(), values: vec![2.0, 2.0, 2.0, 2.0] },
                ],
            ),
            400.0,
            200.0,
        );
        let lines = plot.marks.iter().filter(|m| matches!(m, Mark::Line { series: 0, .. })).count();
        assert_eq!(lines, 2);
        let legend = plot.marks.iter().filter(|m| matches!(m, Mark::Label { role: LabelRole::Legend, .. })).count();
        assert_eq!(legend, 2);
    }

    #[test]
    fn a_chart_without_values_says_so() {
        let plot =
            plot(&chart(ChartKind::Bar, vec![Series { name: "x".into(), values: vec![f64::NAN; 4] }]), 300.0, 150.0);
        assert!(matches!(&plot.marks[..], [Mark::Label { role: LabelRole::Empty, .. }]));
    }

    #[test]
    fn huge_values_are_gaps_rather_than_a_broken_scale() {
        let series = vec![Series { name: "x".into(), values: vec![f64::MAX, -f64::MAX, 5.0, 1e301] }];
        for kind in [ChartKind::Bar, ChartKind::Line] {
            let plot = plot(&chart(kind, series.clone()), 300.0, 150.0);
            let ok = |v: f32| v.is_finite() && (-1.0..=301.0).contains(&v);
            for mark in &plot.marks {
                match mark {
                    Mark::Bar { x, y, width, height, .. } => assert!(ok(*x) && ok(*y) && ok(*width) && ok(*height)),
                    Mark::Line { points, .. } => assert!(points.iter().all(|(x, y)| ok(*x) && ok(*y))),
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn axis_labels_are_compact() {
        assert_eq!(compact(12_000.0, &ValueFormat::Number { decimals: 0 }), "12k");
        assert_eq!(compact(1_500_000.0, &ValueFormat::Currency { code: "USD".into() }), "$1.5M");
        assert_eq!(compact(0.15, &ValueFormat::Percent { decimals: 1 }), "15%");
        assert_eq!(compact(2_500.0, &ValueFormat::Currency { code: "CHF".into() }), "2,500 CHF");
    }
}
