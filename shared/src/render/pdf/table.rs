//! Tables: column widths from the content, a header band repeated on every page the table
//! spans, zebra rows, wrapped text cells, right-aligned figures and a bold totals row.

use crate::render::model::Align;

use super::fonts::Weight;
use super::layout::{ACCENT, Flow, INK, MUTED, RULE, WHITE, ZEBRA, baseline};
use super::prepare::Table;
use super::text::Style;

const CELL_SIZE: f32 = 8.5;
const HEADER_SIZE: f32 = 8.0;
/// Horizontal padding inside a cell.
const PAD_X: f32 = 6.0;
/// Vertical padding inside a row, above and below its lines.
const PAD_Y: f32 = 2.75;
const HEADER_PAD_Y: f32 = 4.5;
const LEADING: f32 = 10.5;
/// Lines a text cell may wrap to before it is cut.
const MAX_CELL_LINES: usize = 3;
const MAX_HEADER_LINES: usize = 2;
/// Rows measured to size the columns.
const SAMPLE_ROWS: usize = 300;

/// Column widths that fill `available`: each column's natural width (its widest sampled
/// cell or label) when they all fit, spread out in proportion; otherwise narrow columns keep
/// their natural width and the wide ones share what is left.
pub(super) fn column_widths(naturals: &[f32], available: f32) -> Vec<f32> {
    let n = naturals.len();
    if n == 0 {
        return Vec::new();
    }
    let naturals: Vec<f32> = naturals.iter().map(|w| if w.is_finite() { w.max(1.0) } else { 1.0 }).collect();
    let total: f32 = naturals.iter().sum();
    if total <= available {
        let scale = available / total;
        return naturals.iter().map(|w| w * scale).collect();
    }
    let mut widths = vec![0.0; n];
    let mut open: Vec<usize> = (0..n).collect();
    let mut remaining = available.max(0.0);
    while !open.is_empty() {
        let share = remaining / open.len() as f32;
        let (fixed, wide): (Vec<usize>, Vec<usize>) = open.iter().partition(|&&i| naturals[i] <= share);
        if fixed.is_empty() {
            for &i in &wide {
                widths[i] = share;
            }
            break;
        }
        for &i in &fixed {
            widths[i] = naturals[i];
            remaining -= naturals[i];
        }
        open = wide;
    }
    widths
}

struct Layout {
    x: Vec<f32>,
    widths: Vec<f32>,
    width: f32,
    cell: Style,
    bold: Style,
    header: Style,
    header_lines: Vec<Vec<String>>,
    header_height: f32,
}

impl Layout {
    fn new(flow: &Flow, table: &Table) -> Layout {
        let cell = flow.style(Weight::Regular, CELL_SIZE);
        let bold = flow.style(Weight::Bold, CELL_SIZE);
        let header = flow.style(Weight::Bold, HEADER_SIZE);
        let available = flow.content_width();
        let n = table.columns.len();
        let mut naturals: Vec<f32> = table.columns.iter().map(|(label, _)| header.width(label)).collect();
        let step = table.rows.len().div_ceil(SAMPLE_ROWS).max(1);
        let sample = table.rows.iter().step_by(step).chain(table.rows.last());
        for row in sample {
            for (natural, text) in naturals.iter_mut().zip(row) {
                *natural = natural.max(cell.width(text));
            }
        }
        if let Some(totals) = &table.totals {
            for (natural, text) in naturals.iter_mut().zip(totals) {
                *natural = natural.max(bold.width(text));
            }
        }
        // No column may claim more than half the table before the others are placed.
        let cap = (available * 0.5).max(available / n.max(1) as f32);
        let naturals: Vec<f32> = naturals.iter().map(|w| (w + 2.0 * PAD_X).min(cap)).collect();
        let widths = column_widths(&naturals, available);
        let mut x = Vec::with_capacity(n);
        let mut at = flow.left;
        for w in &widths {
            x.push(at);
            at += w;
        }
        let header_lines: Vec<Vec<String>> = table
            .columns
            .iter()
            .zip(&widths)
            .map(|((label, _), w)| header.wrap(label, w - 2.0 * PAD_X, MAX_HEADER_LINES))
            .collect();
        let lines = header_lines.iter().map(Vec::len).max().unwrap_or(1).max(1);
        Layout {
            x,
            widths,
            width: available,
            cell,
            bold,
            header,
            header_lines,
            header_height: 2.0 * HEADER_PAD_Y + LEADING * lines as f32,
        }
    }

    /// The lines of each cell of `row`.
    fn row_lines(&self, table: &Table, row: &[String]) -> Vec<Vec<String>> {
        table
            .columns
            .iter()
            .zip(&self.widths)
            .enumerate()
            .map(|(i, ((_, align), w))| {
                let text = row.get(i).map(String::as_str).unwrap_or("");
                let inner = w - 2.0 * PAD_X;
                match align {
                    Align::Right => vec![self.cell.fit(text, inner).into_owned()],
                    Align::Left => self.cell.wrap(text, inner, MAX_CELL_LINES),
                }
            })
            .collect()
    }

    /// The totals row's cells: one bold line each.
    fn totals(&self, table: &Table, totals: &[String]) -> Vec<Vec<String>> {
        (0..table.columns.len())
            .zip(&self.widths)
            .map(|(i, w)| {
                let text = totals.get(i).map(String::as_str).unwrap_or("");
                vec![self.bold.fit(text, w - 2.0 * PAD_X).into_owned()]
            })
            .collect()
    }

    fn draw_header(&self, flow: &mut Flow, table: &Table) {
        let top = flow.y;
        flow.canvas.fill_rect(flow.left, top - self.header_height, self.width, self.header_height, ACCENT);
        for (i, ((_, align), lines)) in table.columns.iter().zip(&self.header_lines).enumerate() {
            for (k, line) in lines.iter().enumerate() {
                let y = baseline(top - HEADER_PAD_Y - LEADING * k as f32, LEADING, HEADER_SIZE);
                let x = self.text_x(i, *align, self.header.width(line));
                flow.canvas.text(x, y, Weight::Bold, HEADER_SIZE, WHITE, line);
            }
        }
        flow.y -= self.header_height;
    }

    fn text_x(&self, column: usize, align: Align, text_width: f32) -> f32 {
        let x = self.x.get(column).copied().unwrap_or(0.0);
        let w = self.widths.get(column).copied().unwrap_or(0.0);
        match align {
            Align::Left => x + PAD_X,
            Align::Right => x + w - PAD_X - text_width,
        }
    }

    fn draw_cells(&self, flow: &mut Flow, table: &Table, cells: &[Vec<String>], style: Style) {
        let top = flow.y;
        for (i, ((_, align), lines)) in table.columns.iter().zip(cells).enumerate() {
            for (k, line) in lines.iter().enumerate() {
                let y = baseline(top - PAD_Y - LEADING * k as f32, LEADING, CELL_SIZE);
                let x = self.text_x(i, *align, style.width(line));
                flow.canvas.text(x, y, style.weight, CELL_SIZE, INK, line);
            }
        }
    }

    fn bottom_rule(&self, flow: &mut Flow) {
        flow.canvas.line(&[(flow.left, flow.y), (flow.left + self.width, flow.y)], 0.6, RULE);
    }

    /// Ends the table on this page and continues it on the next, header first.
    fn break_page(&self, flow: &mut Flow, table: &Table) {
        self.bottom_rule(flow);
        flow.new_page();
        if let Some(title) = &table.title {
            let style = flow.style(Weight::Regular, 8.5);
            let caption = style.fit(title, flow.content_width() * 0.8).into_owned();
            let caption = format!("{caption} (continued)");
            flow.canvas.text(flow.left, baseline(flow.y, 14.0, 8.5), Weight::Regular, 8.5, MUTED, &caption);
            flow.y -= 16.0;
        }
        self.draw_header(flow, table);
    }
}

fn row_height(lines: &[Vec<String>]) -> f32 {
    2.0 * PAD_Y + LEADING * lines.iter().map(Vec::len).max().unwrap_or(1).max(1) as f32
}

pub(super) fn draw(flow: &mut Flow, table: &Table) {
    if table.columns.is_empty() {
        if let Some(title) = &table.title {
            flow.heading(title, 20.0);
        }
        let style = flow.style(Weight::Regular, CELL_SIZE);
        flow.ensure(20.0);
        let y = baseline(flow.y, 20.0, CELL_SIZE);
        flow.canvas.text(flow.left, y, style.weight, CELL_SIZE, MUTED, "No columns");
        flow.y -= 20.0;
        return;
    }
    let layout = Layout::new(flow, table);
    let first = table.rows.first().map(|row| row_height(&layout.row_lines(table, row))).unwrap_or(22.0);
    if let Some(title) = &table.title {
        flow.heading(title, layout.header_height + first);
    }
    flow.ensure(layout.header_height + first);
    layout.draw_header(flow, table);

    if table.rows.is_empty() {
        let y = baseline(flow.y, 22.0, CELL_SIZE);
        flow.canvas.text(flow.left + PAD_X, y, Weight::Regular, CELL_SIZE, MUTED, "No rows");
        flow.y -= 22.0;
    }
    let totals = table.totals.as_ref().map(|totals| layout.totals(table, totals));
    let totals_height = totals.as_ref().map(|cells| row_height(cells) + 2.0).unwrap_or(0.0);
    for (r, row) in table.rows.iter().enumerate() {
        let lines = layout.row_lines(table, row);
        let height = row_height(&lines);
        // The last row goes with the totals, so they never stand alone on a page.
        let needed = if r + 1 == table.rows.len() { height + totals_height } else { height };
        if !flow.fits(needed) {
            layout.break_page(flow, table);
        }
        if r % 2 == 1 {
            flow.canvas.fill_rect(flow.left, flow.y - height, layout.width, height, ZEBRA);
        }
        layout.draw_cells(flow, table, &lines, layout.cell);
        flow.y -= height;
    }
    if let Some(cells) = totals {
        let height = totals_height;
        if !flow.fits(height) {
            layout.break_page(flow, table);
        }
        flow.canvas.line(&[(flow.left, flow.y), (flow.left + layout.width, flow.y)], 0.9, INK);
        flow.y -= 2.0;
        layout.draw_cells(flow, table, &cells, layout.bold);
        flow.y -= height - 2.0;
    }
    layout.bottom_rule(flow);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_that_fit_are_spread_over_the_whole_width() {
        let widths = column_widths(&[50.0, 100.0, 50.0], 400.0);
        assert_eq!(widths, [100.0, 200.0, 100.0]);
    }

    #[test]
    fn narrow_columns_keep_their_width_when_wide_ones_must_share() {
        let widths = column_widths(&[40.0, 300.0, 60.0, 500.0], 400.0);
        assert_eq!(widths[0], 40.0);
        assert_eq!(widths[2], 60.0);
        assert!((widths[1] - 150.0).abs() < 0.01 && (widths[3] - 150.0).abs() < 0.01, "{widths:?}");
        assert!((widths.iter().sum::<f32>() - 400.0).abs() < 0.01);
    }

    #[test]
    fn degenerate_column_inputs_give_finite_widths() {
        assert!(column_widths(&[], 100.0).is_empty());
        let widths = column_widths(&[f32::NAN, f32::INFINITY, 10.0], 5.0);
        assert!(widths.iter().all(|w| w.is_finite() && *w >= 0.0), "{widths:?}");
    }
}
