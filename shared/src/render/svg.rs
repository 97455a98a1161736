//! Placeholder until the chart geometry lands.

use super::ChartBlock;

pub fn chart_svg(chart: &ChartBlock, width: f32, height: f32) -> String {
    let title = chart.title.as_deref().map(super::html::escape).unwrap_or_default();
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\"><title>{title}</title></svg>"
    )
}
