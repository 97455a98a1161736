//! SVG charts for the HTML page: the marks [`chart::plot`] lays out (the same ones the PDF
//! draws), written as SVG elements. The result has no scripts, no links and no external
//! resources, names itself with `<title>` and `<desc>` for screen readers, and scales down
//! with its container.

use std::fmt::Write as _;

use super::ChartBlock;
use super::chart::{self, Anchor, LabelRole, Mark, RuleKind};
use super::html::escape_into;
use crate::domain::ChartKind;

/// Size labels are shown at, in CSS pixels: the plot is laid out in a box scaled down by
/// `LABEL_PX / chart::LABEL_SIZE`, and the `viewBox` scales it back up.
const LABEL_PX: f32 = 11.0;
const FONT: &str = "-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif";
const TEXT: &str = "#52606d";
const LEGEND_TEXT: &str = "#1f2933";
const AXIS: &str = "#9aa5b1";
const GRID: &str = "#e4e7eb";

/// `chart` as an inline `<svg>` element, `width` × `height` CSS pixels (it shrinks to fit a
/// narrower container). Gaps in a series are left out: no bar, a break in the line.
pub fn chart_svg(chart: &ChartBlock, width: f32, height: f32) -> String {
    let scale = LABEL_PX / chart::LABEL_SIZE;
    let plot = chart::plot(chart, (width / scale).max(1.0), (height / scale).max(1.0));
    let mut out = String::with_capacity(4096);
    // Writing into a String cannot fail; `write!` results are ignored throughout.
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" \
         font-family=\"{FONT}\" style=\"display:block;max-width:100%;height:auto;\">",
        num(plot.width),
        num(plot.height),
        num(width),
        num(height),
    );
    out.push_str("<title>");
    escape_into(&mut out, &accessible_title(chart));
    out.push_str("</title><desc>");
    escape_into(&mut out, &description(chart));
    out.push_str("</desc>");
    for mark in &plot.marks {
        out.push('\n');
        write_mark(&mut out, mark);
    }
    out.push_str("\n</svg>");
    out
}

fn write_mark(out: &mut String, mark: &Mark) {
    match mark {
        Mark::Rule { x1, y1, x2, y2, kind } => {
            let (stroke, stroke_width) = match kind {
                RuleKind::Axis => (AXIS, 1.0),
                RuleKind::Grid => (GRID, 0.75),
            };
            let _ = write!(
                out,
                "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{stroke}\" stroke-width=\"{stroke_width}\"/>",
                num(*x1),
                num(*y1),
                num(*x2),
                num(*y2),
            );
        }
        Mark::Bar { x, y, width, height, series } => {
            let _ = write!(
                out,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>",
                num(*x),
                num(*y),
                num(*width),
                num(*height),
                colour(*series),
            );
        }
        Mark::Line { points, series } => match points.as_slice() {
            [] => {}
            // A run of one point has no length to stroke: show the point itself.
            [(x, y)] => dot(out, *x, *y, *series),
            points => {
                out.push_str("<polyline points=\"");
                for (i, (x, y)) in points.iter().enumerate() {
                    let separator = if i == 0 { "" } else { " " };
                    let _ = write!(out, "{separator}{},{}", num(*x), num(*y));
                }
                let _ = write!(
                    out,
                    "\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.75\" stroke-linejoin=\"round\" \
                     stroke-linecap=\"round\"/>",
                    colour(*series),
                );
            }
        },
        Mark::Dot { x, y, series } => dot(out, *x, *y, *series),
        Mark::Label { x, y, text, anchor, role } => {
            let anchor = match anchor {
                Anchor::Start => "start",
                Anchor::Middle => "middle",
                Anchor::End => "end",
            };
            let (fill, size, extra) = match role {
                LabelRole::Tick | LabelRole::Category => (TEXT, chart::LABEL_SIZE, ""),
                LabelRole::Legend => (LEGEND_TEXT, chart::LABEL_SIZE, ""),
                LabelRole::Empty => (TEXT, chart::LABEL_SIZE * 1.25, " font-style=\"italic\""),
            };
            let _ = write!(
                out,
                "<text x=\"{}\" y=\"{}\" font-size=\"{}\" fill=\"{fill}\" text-anchor=\"{anchor}\"{extra}>",
                num(*x),
                num(*y),
                num(size),
            );
            escape_into(out, text);
            out.push_str("</text>");
        }
        Mark::Swatch { x, y, size, series } => {
            let _ = write!(
                out,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"1.5\" fill=\"{}\"/>",
                num(*x),
                num(*y),
                num(*size),
                num(*size),
                colour(*series),
            );
        }
    }
}

fn dot(out: &mut String, x: f32, y: f32, series: usize) {
    let _ = write!(
        out,
        "<circle cx=\"{}\" cy=\"{}\" r=\"2.25\" fill=\"{}\" stroke=\"#ffffff\" stroke-width=\"0.75\"/>",
        num(x),
        num(y),
        colour(series),
    );
}

/// The chart's title, or what it shows when it has none.
fn accessible_title(chart: &ChartBlock) -> String {
    match chart.title.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(title) => title.to_owned(),
        None => format!("{} chart", kind_name(chart.kind)),
    }
}

/// `Bar chart of This week and Last week across 3 categories: Email, Push, SMS.`
fn description(chart: &ChartBlock) -> String {
    let series: Vec<&str> = chart.series.iter().map(|s| s.name.trim()).collect();
    let series = match series.as_slice() {
        [] => "no series".to_owned(),
        [only] => (*only).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    };
    let count = chart.categories.len();
    let shown: Vec<&str> = chart.categories.iter().take(12).map(|c| c.trim()).collect();
    let more = if count > shown.len() { ", …" } else { "" };
    let noun = if count == 1 { "category" } else { "categories" };
    format!("{} chart of {series} across {count} {noun}: {}{more}.", kind_name(chart.kind), shown.join(", "))
}

fn kind_name(kind: ChartKind) -> &'static str {
    match kind {
        ChartKind::Bar => "Bar",
        ChartKind::Line => "Line",
    }
}

fn colour(series: usize) -> String {
    let (r, g, b) = chart::colour(series);
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// A coordinate with at most two decimals and no trailing zeros (`12.5`, `40`).
fn num(value: f32) -> String {
    if !value.is_finite() {
        return "0".into();
    }
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" { "0".into() } else { text.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ValueFormat;
    use crate::render::html::sample;
    use crate::render::{Block, Series};

    fn sample_chart() -> ChartBlock {
        sample::document()
            .blocks
            .into_iter()
            .find_map(|block| match block {
                Block::Chart(chart) => Some(chart),
                _ => None,
            })
            .unwrap_or_else(|| panic!("the sample document has a chart"))
    }

    /// Every element that is opened is closed, in order.
    fn balanced(svg: &str) -> bool {
        let mut stack: Vec<&str> = Vec::new();
        let mut rest = svg;
        while let Some(start) = rest.find('<') {
            rest = &rest[start + 1..];
            let Some(end) = rest.find('>') else { return false };
            let tag = &rest[..end];
            rest = &rest[end + 1..];
            let name = tag.trim_start_matches('/').split([' ', '/']).next().unwrap_or_default();
            if tag.ends_with('/') {
                continue;
            }
            if tag.starts_with('/') {
                if stack.pop() != Some(name) {
                    return false;
                }
            } else {
                stack.push(name);
            }
        }
        stack.is_empty()
    }

    #[test]
    fn a_bar_chart_is_balanced_svg_with_one_bar_per_value() {
        let svg = chart_svg(&sample_chart(), 728.0, 280.0);
        assert!(balanced(&svg), "{svg}");
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\""));
        assert!(svg.contains("width=\"728\" height=\"280\""));
        assert!(svg.contains("<title>Revenue by channel</title>"));
        assert!(svg.contains(
            "<desc>Bar chart of This week and Last week across 3 categories: Email, Push, SMS &lt;b&gt;.</desc>"
        ));
        // Two series over three categories, one gap; plus the two legend swatches.
        assert_eq!(svg.matches("<rect").count(), 5 + 2);
        assert!(svg.contains(">This week</text>") && svg.contains(">Last week</text>"));
        assert!(svg.contains(">SMS &lt;b&gt;</text>"));
        assert!(svg.contains(">$120</text>") || svg.contains(">$100</text>"), "{svg}");
        assert!(!svg.contains("<script") && !svg.contains("href"));
    }

    #[test]
    fn a_line_chart_draws_polylines_and_breaks_at_gaps() {
        let mut chart = sample_chart();
        chart.kind = ChartKind::Line;
        chart.title = None;
        chart.series[0].values = vec![1.0, f64::NAN, 3.0];
        let svg = chart_svg(&chart, 600.0, 240.0);
        assert!(balanced(&svg), "{svg}");
        assert!(svg.contains("<title>Line chart</title>"));
        // "This week" breaks into two one-point runs; "Last week" is one line.
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert!(svg.matches("<circle").count() >= 5);
    }

    #[test]
    fn hostile_and_non_latin_names_are_escaped_text() {
        let chart = ChartBlock {
            title: Some("<script>alert('t')</script>".into()),
            kind: ChartKind::Bar,
            categories: vec![sample::NON_LATIN.into(), "a & b".into()],
            series: vec![
                Series { name: "\"quoted\"".into(), values: vec![1.0, 2.0] },
                Series { name: "Кириллица".into(), values: vec![-1.0, 0.5] },
            ],
            format: ValueFormat::Percent { decimals: 1 },
        };
        let svg = chart_svg(&chart, 400.0, 200.0);
        assert!(balanced(&svg), "{svg}");
        assert!(!svg.contains("<script"));
        assert!(svg.contains("&lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt;"));
        assert!(svg.contains("&quot;quoted&quot;") && svg.contains("Кириллица") && svg.contains("a &amp; b"));
    }

    #[test]
    fn a_chart_without_values_says_so() {
        let mut chart = sample_chart();
        chart.categories.clear();
        let svg = chart_svg(&chart, 300.0, 150.0);
        assert!(balanced(&svg));
        assert!(svg.contains(">No data</text>"));
        assert!(!svg.contains("<rect"));
    }

    #[test]
    fn coordinates_are_short() {
        assert_eq!(num(12.5), "12.5");
        assert_eq!(num(40.0), "40");
        assert_eq!(num(1.23456), "1.23");
        assert_eq!(num(-0.001), "0");
        assert_eq!(num(f32::NAN), "0");
    }
}
