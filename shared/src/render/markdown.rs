//! Markdown: a human-readable summary to paste into Slack, an email or a wiki page. Headings,
//! the executive summary and takeaways, KPI tiles as a bullet list, GitHub-flavoured tables
//! with display-formatted figures and a bold totals row, and charts as a small table of their
//! data. Text from the data is escaped so it reads literally: a `*` or `|` in a cell is shown,
//! never taken as markup.

use serde_json::Value;

use crate::domain::{NarrativeOutput, ValueFormat};

use super::{Align, Block, ChartBlock, Document, KpiBlock, TableBlock, TextBlock, TextPart, format};

/// The whole document as GitHub-flavoured Markdown, ending with one newline.
pub fn render_markdown(doc: &Document) -> String {
    let mut out = String::new();
    heading(&mut out, 1, &doc.title);
    if let Some(subtitle) = doc.subtitle.as_deref().filter(|s| !s.trim().is_empty()) {
        paragraph(&mut out, subtitle);
    }
    out.push_str(&format!("_Generated {}_\n\n", doc.generated_at.format("%Y-%m-%d %H:%M UTC")));

    if let Some(narrative) = &doc.narrative {
        write_narrative(&mut out, narrative);
    }
    for block in &doc.blocks {
        if let Some(title) = block.title().filter(|t| !t.trim().is_empty()) {
            heading(&mut out, 2, title);
        }
        match block {
            Block::Kpis(kpis) => write_kpis(&mut out, kpis),
            Block::Table(table) => write_table(&mut out, table),
            Block::Chart(chart) => write_chart(&mut out, chart),
            Block::Text(text) => write_text(&mut out, text),
        }
    }
    let end = out.trim_end().len();
    out.truncate(end);
    out.push('\n');
    out
}

/// Display text of one chart value; gaps (non-finite values) show as `–`.
pub(crate) fn chart_value(value: f64, format: &ValueFormat) -> String {
    if value.is_finite() { format::display(&Value::from(value), format) } else { "–".into() }
}

fn write_narrative(out: &mut String, narrative: &NarrativeOutput) {
    let summary = narrative.summary.trim();
    let takeaways: Vec<&str> = narrative.takeaways.iter().map(|t| t.trim()).filter(|t| !t.is_empty()).collect();
    if summary.is_empty() && takeaways.is_empty() {
        return;
    }
    heading(out, 2, "Executive summary");
    for part in summary.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        paragraph(out, part);
    }
    if !takeaways.is_empty() {
        heading(out, 3, "Key takeaways");
        bullets(out, takeaways);
    }
}

fn write_kpis(out: &mut String, kpis: &KpiBlock) {
    for tile in &kpis.tiles {
        out.push_str("- **");
        escape(tile.label.trim(), " ", out);
        out.push_str(":** ");
        escape(tile.value.trim(), " ", out);
        if let Some(change) = tile.change.as_ref().filter(|c| !c.text.trim().is_empty()) {
            out.push_str(" (");
            escape(change.text.trim(), " ", out);
            out.push(')');
        }
        out.push('\n');
    }
    out.push('\n');
}

fn write_table(out: &mut String, table: &TableBlock) {
    if table.columns.is_empty() {
        out.push_str("_No columns._\n\n");
        return;
    }
    let labels = table.columns.iter().map(|c| c.label.as_str());
    table_head(out, labels, table.columns.iter().map(|c| c.align));
    for row in &table.rows {
        table_row(out, table.columns.iter().enumerate().map(|(i, column)| column.display(cell(row, i))), false);
    }
    if let Some(totals) = &table.totals {
        let cells = table.columns.iter().enumerate().map(|(i, column)| {
            let text = column.display(cell(totals, i));
            if i == 0 && text.trim().is_empty() { "Total".to_owned() } else { text }
        });
        table_row(out, cells, true);
    }
    out.push('\n');
    if table.rows.is_empty() {
        out.push_str("_No rows._\n\n");
    }
}

fn cell(row: &[Value], index: usize) -> &Value {
    row.get(index).unwrap_or(&Value::Null)
}

fn write_chart(out: &mut String, chart: &ChartBlock) {
    if chart.categories.is_empty() || chart.series.is_empty() {
        out.push_str("_No data._\n\n");
        return;
    }
    let labels = std::iter::once("Category").chain(chart.series.iter().map(|s| s.name.as_str()));
    let aligns = std::iter::once(Align::Left).chain(chart.series.iter().map(|_| Align::Right));
    table_head(out, labels, aligns);
    for (i, category) in chart.categories.iter().enumerate() {
        let values =
            chart.series.iter().map(|s| chart_value(s.values.get(i).copied().unwrap_or(f64::NAN), &chart.format));
        table_row(out, std::iter::once(category.clone()).chain(values), false);
    }
    out.push('\n');
}

fn write_text(out: &mut String, text: &TextBlock) {
    for part in &text.parts {
        match part {
            TextPart::Heading(title) => heading(out, 3, title),
            TextPart::Paragraph(body) => paragraph(out, body),
            TextPart::Bullets(items) => bullets(out, items.iter().map(String::as_str)),
        }
    }
}

fn heading(out: &mut String, level: usize, text: &str) {
    out.push_str(&"#".repeat(level));
    out.push(' ');
    let start = out.len();
    escape(text.trim(), " ", out);
    // A closing run of `#` would be read as part of the heading markup.
    if out.ends_with('#') {
        let run = out[start..].bytes().rev().take_while(|&b| b == b'#').count();
        out.insert(out.len() - run, '\\');
    }
    out.push_str("\n\n");
}

fn paragraph(out: &mut String, text: &str) {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            // Two trailing spaces: a hard line break that chat clients also show as one.
            out.push_str("  \n");
        }
        line_start(line, out);
    }
    out.push_str("\n\n");
}

fn bullets<'a>(out: &mut String, items: impl IntoIterator<Item = &'a str>) {
    for item in items {
        out.push_str("- ");
        line_start(&item.split_whitespace().collect::<Vec<_>>().join(" "), out);
        out.push('\n');
    }
    out.push('\n');
}

fn table_head<'a>(out: &mut String, labels: impl Iterator<Item = &'a str>, aligns: impl Iterator<Item = Align>) {
    table_row(out, labels.map(str::to_owned), false);
    out.push('|');
    for align in aligns {
        out.push_str(match align {
            Align::Left => " --- |",
            Align::Right => " ---: |",
        });
    }
    out.push('\n');
}

fn table_row(out: &mut String, cells: impl Iterator<Item = String>, bold: bool) {
    out.push('|');
    for text in cells {
        let text = text.trim();
        out.push(' ');
        if bold && !text.is_empty() {
            out.push_str("**");
            escape(text, "<br>", out);
            out.push_str("**");
        } else {
            escape(text, "<br>", out);
        }
        out.push_str(" |");
    }
    out.push('\n');
}

/// Text that starts a line: also escapes what would open a block there (a heading, a list
/// item, an ordered list item).
fn line_start(text: &str, out: &mut String) {
    let start = out.len();
    escape(text, " ", out);
    let line = &out[start..];
    let bytes = line.as_bytes();
    let marker_ends = |at: usize| matches!(bytes.get(at), None | Some(b' ' | b'\t'));
    let hashes = bytes.iter().take_while(|&&b| b == b'#').count();
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    let heading = (1..=6).contains(&hashes) && marker_ends(hashes);
    let list_item = matches!(bytes.first(), Some(b'-' | b'+')) && marker_ends(1);
    let escape_at = if heading || list_item {
        Some(0)
    } else if (1..=9).contains(&digits) && matches!(bytes.get(digits), Some(b'.' | b')')) && marker_ends(digits + 1) {
        Some(digits)
    } else {
        None
    };
    if let Some(at) = escape_at {
        out.insert(start + at, '\\');
    }
}

/// Appends `text` with inline markup characters backslash-escaped, `|` included (so it is safe
/// in a table cell) and line breaks replaced by `newline`.
fn escape(text: &str, newline: &str, out: &mut String) {
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '&' if looks_like_entity(&text[i + 1..]) => out.push_str("\\&"),
            '\r' => {
                if chars.peek().is_some_and(|&(_, next)| next == '\n') {
                    chars.next();
                }
                out.push_str(newline);
            }
            '\n' => out.push_str(newline),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
}

/// `amp;`, `#39;`: what follows a `&` that Markdown would decode as a character reference.
fn looks_like_entity(rest: &str) -> bool {
    let body = rest.strip_prefix('#').unwrap_or(rest);
    let name = body.bytes().take_while(u8::is_ascii_alphanumeric).count();
    name > 0 && body.as_bytes().get(name) == Some(&b';')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::html::sample;

    fn escaped(text: &str) -> String {
        let mut out = String::new();
        escape(text, "<br>", &mut out);
        out
    }

    #[test]
    fn the_sample_report_reads_as_headed_sections_with_tables() {
        let markdown = render_markdown(&sample::document());
        let expected_lines = [
            "# Weekly digest & review",
            "Week 18 — Zoë Ørsted",
            "_Generated 2026-05-04 08:00 UTC_",
            "## Executive summary",
            "Revenue rose 12.3% to $1,234.50 \\<b\\>not bold\\</b\\>.",
            "### Key takeaways",
            "- Offer \\*A\\* led",
            "- Watch \\<script\\>alert(1)\\</script\\>",
            "## Headline figures",
            "- **Revenue:** $1,234.50 (+12.3% vs previous period)",
            "- **Sent:** 1,200",
            "- **Tiles \\| pipes:** 7 (no change)",
            "## Offer performance",
            "| Offer | Revenue | Conversion | Sent |",
            "| --- | ---: | ---: | ---: |",
            "| Zoë Ørsted — Ελληνικά, Кириллица | $1,234.50 | 15.3% | 1,200 |",
            "| \\<script\\>alert(\"x\")\\</script\\> & \\| pipes \\| | $99.99 | 5.0% | 35 |",
            "| Line one<br>line two | -$250.00 |  | 0 |",
            "| **Total** | **$1,084.49** |  | **1,235** |",
            "## Revenue by channel",
            "| Category | This week | Last week |",
            "| --- | ---: | ---: |",
            "| Email | $120.00 | $100.00 |",
            "| SMS \\<b\\> | – | $30.00 |",
            "### Method",
            "Figures are \\*raw\\* & unaudited.",
            "- One \\| two",
            "- \\<i\\>three\\</i\\>",
            "## Nothing here",
            "| Name |",
            "_No rows._",
        ];
        let lines: Vec<&str> = markdown.lines().collect();
        for line in expected_lines {
            assert!(lines.contains(&line), "missing line {line:?} in\n{markdown}");
        }
        assert!(markdown.ends_with("_No rows._\n"));
        assert!(!markdown.contains("\n\n\n"));
    }

    #[test]
    fn every_table_line_has_one_cell_per_column() {
        let markdown = render_markdown(&sample::document());
        for line in markdown.lines().filter(|l| l.starts_with("| Zoë") || l.starts_with("| \\<script")) {
            let unescaped_pipes = line.match_indices('|').filter(|(i, _)| !line[..*i].ends_with('\\')).count();
            assert_eq!(unescaped_pipes, 5, "{line}");
        }
    }

    #[test]
    fn markup_in_data_is_escaped() {
        assert_eq!(escaped("a|b"), "a\\|b");
        assert_eq!(escaped("two\r\nlines\nhere"), "two<br>lines<br>here");
        assert_eq!(
            escaped("*bold* _it_ `code` [link](x) ~s~ \\"),
            "\\*bold\\* \\_it\\_ \\`code\\` \\[link\\](x) \\~s\\~ \\\\"
        );
        assert_eq!(escaped("R&D &amp; &#39; &x"), "R&D \\&amp; \\&#39; &x");
    }

    #[test]
    fn text_that_would_open_a_block_is_escaped_at_the_start_of_a_line() {
        let mut doc = sample::document();
        doc.narrative = None;
        doc.blocks = vec![Block::Text(TextBlock {
            title: Some("Top #".into()),
            parts: vec![
                TextPart::Paragraph("# not a heading".into()),
                TextPart::Paragraph("- not a list".into()),
                TextPart::Paragraph("2026. A year".into()),
                TextPart::Paragraph("-5% is fine, #1 too".into()),
            ],
        })];
        let markdown = render_markdown(&doc);
        for line in ["## Top \\#", "\\# not a heading", "\\- not a list", "2026\\. A year", "-5% is fine, #1 too"] {
            assert!(markdown.lines().any(|l| l == line), "missing {line:?} in\n{markdown}");
        }
    }

    #[test]
    fn an_empty_narrative_leaves_out_the_summary_section() {
        let mut doc = sample::document();
        if let Some(narrative) = doc.narrative.as_mut() {
            narrative.summary.clear();
            narrative.takeaways.clear();
        }
        assert!(!render_markdown(&doc).contains("Executive summary"));
    }
}
