//! HTML: the PDF's content as one self-contained page, for a browser or an email body. No
//! scripts, no external fonts, images or style sheets; charts are inline SVG. The layout is
//! table-based with inline styles on every element that matters, so email clients that drop
//! `<style>` blocks (or SVG) still show a readable report: each chart is followed by a compact
//! table of its data. Every piece of text from the report or its data goes through [`escape`].

use super::markdown::chart_value;
use super::{Align, Block, ChartBlock, Document, KpiBlock, TableBlock, TextBlock, TextPart, Tile, Trend, svg};
use crate::domain::NarrativeOutput;

const FONT: &str = "-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,'Helvetica Neue',Arial,'Noto Sans',sans-serif";
const INK: &str = "#1f2933";
const MUTED: &str = "#5f6b7a";
const RULE: &str = "#e1e5ea";
const ACCENT: &str = "#1f4e79";
const ZEBRA: &str = "#f6f8fa";
const HEAD: &str = "#eef2f6";
const PAGE: &str = "#f3f5f7";

/// Width of the content column in CSS pixels; charts are drawn at this width and scale down.
const CONTENT_WIDTH: f32 = 728.0;
const CHART_HEIGHT: f32 = 280.0;
const TILES_PER_ROW: usize = 4;
/// Space between KPI tiles, in percent of the row.
const GAP_PERCENT: f32 = 2.0;

/// The whole document as an HTML5 page.
pub fn render_html(doc: &Document) -> String {
    let mut html = Html::default();
    html.head(doc);
    if let Some(subtitle) = doc.subtitle.as_deref().filter(|s| !s.trim().is_empty()) {
        html.raw(&format!("<p style=\"margin:0 0 4px;font-size:15px;color:{MUTED};\">"));
        html.text(subtitle.trim());
        html.raw("</p>\n");
    }
    if let Some(narrative) = &doc.narrative {
        html.narrative(narrative);
    }
    for (index, block) in doc.blocks.iter().enumerate() {
        let id = format!("block-{index}");
        let title = block.title().map(str::trim).filter(|t| !t.is_empty());
        if let Some(title) = title {
            html.h2(&id, title);
        }
        let label = title.map(|_| id.as_str());
        match block {
            Block::Kpis(kpis) => html.kpis(kpis),
            Block::Table(table) => html.table(table, label),
            Block::Chart(chart) => html.chart(chart, label),
            Block::Text(text) => html.text_block(text),
        }
    }
    html.foot(doc);
    html.out
}

/// `text` with `&`, `<`, `>`, `"` and `'` replaced by character references, safe in element
/// content and in quoted attribute values, in HTML and in XML (SVG). Control characters that
/// XML does not allow are dropped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

pub(crate) fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() && c < '\u{80}' => {}
            c => out.push(c),
        }
    }
}

#[derive(Default)]
struct Html {
    out: String,
}

impl Html {
    fn raw(&mut self, markup: &str) {
        self.out.push_str(markup);
    }

    fn text(&mut self, text: &str) {
        escape_into(&mut self.out, text);
    }

    /// Escaped text whose line breaks stay line breaks.
    fn lines(&mut self, text: &str) {
        for (i, line) in text.lines().enumerate() {
            if i > 0 {
                self.raw("<br>");
            }
            self.text(line);
        }
    }

    fn head(&mut self, doc: &Document) {
        self.raw("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        self.raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        self.raw("<meta name=\"color-scheme\" content=\"light\">\n<title>");
        self.text(doc.title.trim());
        self.raw("</title>\n<style>\n");
        self.raw(&format!(
            "body{{margin:0;padding:0;background-color:{PAGE};color:{INK};font-family:{FONT};font-size:14px;\
             line-height:1.5;-webkit-text-size-adjust:100%;}}\n\
             h1,h2,h3{{font-family:{FONT};color:{INK};}}\n\
             @media (max-width:620px){{.page-cell{{padding:0 !important;}}\
             .sheet{{border:0 !important;border-radius:0 !important;}}\
             .sheet-cell{{padding:20px 16px !important;}}\
             .tiles .tile{{display:block !important;width:100% !important;box-sizing:border-box;\
             margin:0 0 12px !important;}}\
             .tiles .gap,.tiles .pad{{display:none !important;}}\
             table.data th,table.data td{{padding:6px !important;}}}}\n\
             @media print{{body,.page{{background-color:#ffffff !important;}}.sheet{{border:0 !important;}}}}\n"
        ));
        self.raw("</style>\n</head>\n");
        self.raw(&format!("<body style=\"margin:0;padding:0;background-color:{PAGE};\">\n"));
        self.raw(&format!(
            "<table role=\"presentation\" class=\"page\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" \
             border=\"0\" style=\"background-color:{PAGE};\">\n\
             <tr><td class=\"page-cell\" align=\"center\" style=\"padding:24px 12px;\">\n"
        ));
        self.raw(&format!(
            "<table role=\"presentation\" class=\"sheet\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" \
             border=\"0\" style=\"max-width:800px;table-layout:fixed;background-color:#ffffff;border:1px solid {RULE};\
             border-radius:8px;border-collapse:separate;\">\n"
        ));
        self.raw(&format!(
            "<tr><td class=\"sheet-cell\" style=\"padding:32px 36px;font-family:{FONT};font-size:14px;\
             line-height:1.5;color:{INK};text-align:left;\">\n<main>\n"
        ));
        self.raw(&format!(
            "<h1 style=\"margin:0 0 4px;font-family:{FONT};font-size:24px;line-height:1.25;font-weight:600;\
             color:{INK};\">"
        ));
        self.text(doc.title.trim());
        self.raw("</h1>\n");
    }

    fn foot(&mut self, doc: &Document) {
        self.raw("</main>\n");
        self.raw(&format!(
            "<footer style=\"margin-top:32px;padding-top:12px;border-top:1px solid {RULE};font-size:12px;\
             color:{MUTED};\">Generated <time datetime=\"{}\">{}</time></footer>\n",
            doc.generated_at.format("%Y-%m-%dT%H:%M:%SZ"),
            doc.generated_at.format("%Y-%m-%d %H:%M UTC"),
        ));
        self.raw("</td></tr>\n</table>\n</td></tr>\n</table>\n</body>\n</html>\n");
    }

    /// A section heading; `id` lets the block's table name itself after it.
    fn h2(&mut self, id: &str, title: &str) {
        self.raw(&format!(
            "<h2 id=\"{id}\" style=\"margin:32px 0 12px;padding-bottom:6px;border-bottom:1px solid {RULE};\
             font-family:{FONT};font-size:17px;line-height:1.3;font-weight:600;color:{INK};\">"
        ));
        self.text(title.trim());
        self.raw("</h2>\n");
    }

    fn h3(&mut self, title: &str) {
        self.raw(&format!(
            "<h3 style=\"margin:20px 0 8px;font-family:{FONT};font-size:14px;line-height:1.3;font-weight:600;\
             color:{INK};\">"
        ));
        self.text(title.trim());
        self.raw("</h3>\n");
    }

    fn paragraph(&mut self, text: &str) {
        self.raw("<p style=\"margin:0 0 12px;\">");
        self.lines(text.trim());
        self.raw("</p>\n");
    }

    fn bullets<'a>(&mut self, items: impl IntoIterator<Item = &'a str>) {
        self.raw("<ul style=\"margin:0 0 12px;padding-left:20px;\">\n");
        for item in items {
            self.raw("<li style=\"margin:0 0 4px;\">");
            self.lines(item.trim());
            self.raw("</li>\n");
        }
        self.raw("</ul>\n");
    }

    fn narrative(&mut self, narrative: &NarrativeOutput) {
        let summary = narrative.summary.trim();
        let takeaways: Vec<&str> = narrative.takeaways.iter().map(|t| t.trim()).filter(|t| !t.is_empty()).collect();
        if summary.is_empty() && takeaways.is_empty() {
            return;
        }
        self.raw(&format!(
            "<section aria-labelledby=\"summary\" style=\"margin:24px 0 8px;padding:16px 20px 4px;\
             background-color:{ZEBRA};border-left:3px solid {ACCENT};border-radius:4px;\">\n"
        ));
        self.raw(&format!(
            "<h2 id=\"summary\" style=\"margin:0 0 8px;font-family:{FONT};font-size:17px;line-height:1.3;\
             font-weight:600;color:{INK};\">Executive summary</h2>\n"
        ));
        for part in summary.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
            self.paragraph(part);
        }
        if !takeaways.is_empty() {
            self.h3("Key takeaways");
            self.bullets(takeaways);
        }
        self.raw("</section>\n");
    }

    /// Tiles are table cells, so the tiles of a row share one height; spacer cells keep them
    /// apart (margins on cells are not honoured by every email client).
    fn kpis(&mut self, kpis: &KpiBlock) {
        if kpis.tiles.is_empty() {
            return;
        }
        // Balanced rows: 5 tiles become 3 + 2, 6 become 3 + 3.
        let rows = kpis.tiles.len().div_ceil(TILES_PER_ROW);
        let per_row = kpis.tiles.len().div_ceil(rows);
        // Percentages throughout: fixed-width gaps lose to percentage tiles in table layout.
        let width = format!("{:.1}", (100.0 - GAP_PERCENT * (per_row - 1) as f32) / per_row as f32);
        let columns = per_row * 2 - 1;
        self.raw(
            "<table role=\"presentation\" class=\"tiles\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" \
             border=\"0\" style=\"width:100%;border-collapse:separate;margin:0 0 16px;\">\n",
        );
        for (r, row) in kpis.tiles.chunks(per_row).enumerate() {
            if r > 0 {
                self.raw(&format!(
                    "<tr class=\"gap\"><td colspan=\"{columns}\" height=\"12\" \
                     style=\"height:12px;font-size:0;line-height:0;\">&nbsp;</td></tr>\n"
                ));
            }
            self.raw("<tr>\n");
            for slot in 0..per_row {
                if slot > 0 {
                    self.raw(&format!(
                        "<td class=\"gap\" width=\"{GAP_PERCENT}%\" style=\"width:{GAP_PERCENT}%;font-size:0;\
                         line-height:0;\">&nbsp;</td>\n"
                    ));
                }
                match row.get(slot) {
                    Some(tile) => self.tile(tile, &width),
                    None => {
                        self.raw(&format!("<td class=\"pad\" width=\"{width}%\" style=\"width:{width}%;\"></td>\n"))
                    }
                }
            }
            self.raw("</tr>\n");
        }
        self.raw("</table>\n");
    }

    fn tile(&mut self, tile: &Tile, width: &str) {
        self.raw(&format!(
            "<td class=\"tile\" width=\"{width}%\" valign=\"top\" style=\"width:{width}%;padding:14px 16px;\
             border:1px solid {RULE};border-radius:6px;background-color:#fafbfc;\">\n"
        ));
        self.raw(&format!("<div style=\"font-size:12px;line-height:1.4;color:{MUTED};letter-spacing:0.02em;\">"));
        self.text(tile.label.trim());
        self.raw("</div>\n");
        self.raw(&format!(
            "<div style=\"margin-top:4px;font-size:22px;line-height:1.25;font-weight:600;color:{INK};\
             font-variant-numeric:tabular-nums;\">"
        ));
        self.text(tile.value.trim());
        self.raw("</div>\n");
        if let Some(change) = tile.change.as_ref().filter(|c| !c.text.trim().is_empty()) {
            let (arrow, color) = match change.trend {
                Trend::Up => ("▲", "#1a7f37"),
                Trend::Down => ("▼", "#b42318"),
                Trend::Flat => ("▬", MUTED),
            };
            self.raw(&format!(
                "<div style=\"margin-top:4px;font-size:12px;line-height:1.4;color:{color};\">\
                 <span aria-hidden=\"true\">{arrow}</span> "
            ));
            self.text(change.text.trim());
            self.raw("</div>\n");
        }
        self.raw("</td>\n");
    }

    fn table(&mut self, table: &TableBlock, label: Option<&str>) {
        if table.columns.is_empty() {
            self.empty_note("No columns.");
            return;
        }
        self.table_open(label, "13px");
        self.raw("<thead>\n<tr>");
        for column in &table.columns {
            self.th_col(&column.label, column.align);
        }
        self.raw("</tr>\n</thead>\n<tbody>\n");
        for (i, row) in table.rows.iter().enumerate() {
            self.raw("<tr>");
            for (c, column) in table.columns.iter().enumerate() {
                let value = row.get(c).unwrap_or(&serde_json::Value::Null);
                self.td(&column.display(value), column.align, i % 2 == 1);
            }
            self.raw("</tr>\n");
        }
        if table.rows.is_empty() {
            self.raw(&format!(
                "<tr><td colspan=\"{}\" style=\"padding:12px 10px;color:{MUTED};font-style:italic;\
                 border-bottom:1px solid {RULE};\">No rows.</td></tr>\n",
                table.columns.len()
            ));
        }
        self.raw("</tbody>\n");
        if let Some(totals) = &table.totals {
            self.raw("<tfoot>\n<tr>");
            for (c, column) in table.columns.iter().enumerate() {
                let value = totals.get(c).unwrap_or(&serde_json::Value::Null);
                let text = column.display(value);
                let style = cell_style(column.align, false);
                let weight = format!("font-weight:600;border-top:2px solid {RULE};");
                if c == 0 {
                    let text = if text.trim().is_empty() { "Total" } else { text.as_str() };
                    self.raw(&format!("<th scope=\"row\" style=\"{style}{weight}\">"));
                    self.lines(text);
                    self.raw("</th>");
                } else {
                    self.raw(&format!("<td style=\"{style}{weight}\">"));
                    self.lines(&text);
                    self.raw("</td>");
                }
            }
            self.raw("</tr>\n</tfoot>\n");
        }
        self.table_close();
    }

    fn chart(&mut self, chart: &ChartBlock, label: Option<&str>) {
        if chart.categories.is_empty() || chart.series.is_empty() {
            self.empty_note("No data.");
            return;
        }
        self.raw("<figure style=\"margin:0 0 8px;\">\n");
        self.raw(&svg::chart_svg(chart, CONTENT_WIDTH, CHART_HEIGHT));
        self.raw("\n</figure>\n");
        // The figures behind the chart: read by screen readers, and what email clients that
        // drop SVG still show.
        self.table_open(label, "12px");
        self.raw("<thead>\n<tr>");
        self.th_col("", Align::Left);
        for series in &chart.series {
            self.th_col(&series.name, Align::Right);
        }
        self.raw("</tr>\n</thead>\n<tbody>\n");
        for (i, category) in chart.categories.iter().enumerate() {
            self.raw("<tr>");
            self.raw(&format!("<th scope=\"row\" style=\"{}font-weight:400;\">", cell_style(Align::Left, i % 2 == 1)));
            self.lines(category);
            self.raw("</th>");
            for series in &chart.series {
                let value = series.values.get(i).copied().unwrap_or(f64::NAN);
                self.td(&chart_value(value, &chart.format), Align::Right, i % 2 == 1);
            }
            self.raw("</tr>\n");
        }
        self.raw("</tbody>\n");
        self.table_close();
    }

    fn text_block(&mut self, text: &TextBlock) {
        for part in &text.parts {
            match part {
                TextPart::Heading(title) => self.h3(title),
                TextPart::Paragraph(body) => self.paragraph(body),
                TextPart::Bullets(items) => self.bullets(items.iter().map(String::as_str)),
            }
        }
    }

    fn empty_note(&mut self, note: &str) {
        self.raw(&format!("<p style=\"margin:0 0 12px;color:{MUTED};font-style:italic;\">"));
        self.text(note);
        self.raw("</p>\n");
    }

    /// Opens a data table inside a wrapper that scrolls sideways when the table is wider than a
    /// phone screen, instead of widening the whole page.
    fn table_open(&mut self, label: Option<&str>, font_size: &str) {
        let labelled = label.map(|id| format!(" aria-labelledby=\"{id}\"")).unwrap_or_default();
        self.raw("<div style=\"overflow-x:auto;margin:0 0 12px;\">\n");
        self.raw(&format!(
            "<table class=\"data\"{labelled} width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" \
             style=\"width:100%;border-collapse:collapse;font-size:{font_size};line-height:1.4;\">\n"
        ));
    }

    fn table_close(&mut self) {
        self.raw("</table>\n</div>\n");
    }

    fn th_col(&mut self, label: &str, align: Align) {
        let text_align = text_align(align);
        self.raw(&format!(
            "<th scope=\"col\" style=\"padding:7px 10px;text-align:{text_align};vertical-align:bottom;\
             font-weight:600;color:{INK};background-color:{HEAD};border-bottom:1px solid #cfd6de;\">"
        ));
        self.lines(label.trim());
        self.raw("</th>");
    }

    fn td(&mut self, text: &str, align: Align, shaded: bool) {
        self.raw(&format!("<td style=\"{}\">", cell_style(align, shaded)));
        self.lines(text);
        self.raw("</td>");
    }
}

fn text_align(align: Align) -> &'static str {
    match align {
        Align::Left => "left",
        Align::Right => "right",
    }
}

fn cell_style(align: Align, shaded: bool) -> String {
    let background = if shaded { format!("background-color:{ZEBRA};") } else { String::new() };
    let numeric = match align {
        Align::Right => "font-variant-numeric:tabular-nums;white-space:nowrap;",
        Align::Left => "",
    };
    format!(
        "padding:7px 10px;text-align:{};vertical-align:top;border-bottom:1px solid {RULE};{numeric}{background}",
        text_align(align)
    )
}

/// The document every renderer's tests draw: hostile and non-Latin text, a negative figure, a
/// gap in a chart series, totals and an empty table.
#[cfg(test)]
pub(crate) mod sample {
    use chrono::{TimeZone, Utc};
    use serde_json::{Value, json};

    use crate::domain::{ChartKind, NarrativeOutput, PageSetup, ValueFormat};
    use crate::render::{
        Align, Block, Change, ChartBlock, Document, KpiBlock, Series, TableBlock, TableColumn, TextBlock, Tile, Trend,
    };

    pub const HOSTILE: &str = "<script>alert(\"x\")</script> & | pipes |";
    pub const NON_LATIN: &str = "Zoë Ørsted — Ελληνικά, Кириллица";

    fn column(key: &str, label: &str, format: ValueFormat, align: Align) -> TableColumn {
        TableColumn { key: key.into(), label: label.into(), format, align }
    }

    fn usd() -> ValueFormat {
        ValueFormat::Currency { code: "USD".into() }
    }

    pub fn document() -> Document {
        let tile = |label: &str, value: &str, change: Option<(&str, Trend)>| Tile {
            label: label.into(),
            value: value.into(),
            change: change.map(|(text, trend)| Change { text: text.into(), trend }),
        };
        Document {
            title: "Weekly digest & review".into(),
            subtitle: Some("Week 18 — Zoë Ørsted".into()),
            generated_at: Utc.with_ymd_and_hms(2026, 5, 4, 8, 0, 0).single().unwrap_or_default(),
            page: PageSetup::default(),
            narrative: Some(NarrativeOutput {
                summary: "Revenue rose 12.3% to $1,234.50 <b>not bold</b>.\n\nSMS stayed flat.".into(),
                takeaways: vec!["Offer *A* led".into(), "Watch <script>alert(1)</script>".into()],
                narrator: "builtin".into(),
                dropped: vec![],
                error: None,
                provider: None,
                fallback_reason: None,
            }),
            blocks: vec![
                Block::Kpis(KpiBlock {
                    title: Some("Headline figures".into()),
                    tiles: vec![
                        tile("Revenue", "$1,234.50", Some(("+12.3% vs previous period", Trend::Up))),
                        tile("Conversion", "15.3%", Some(("-1.2% vs previous period", Trend::Down))),
                        tile("Sent", "1,200", None),
                        tile("Tiles | pipes", "7", Some(("no change", Trend::Flat))),
                        tile(NON_LATIN, "₩5,000", None),
                    ],
                }),
                Block::Table(TableBlock {
                    title: Some("Offer performance".into()),
                    name: "offers".into(),
                    columns: vec![
                        column("offer", "Offer", ValueFormat::Text, Align::Left),
                        column("revenue", "Revenue", usd(), Align::Right),
                        column("conversion", "Conversion", ValueFormat::Percent { decimals: 1 }, Align::Right),
                        column("sent", "Sent", ValueFormat::Number { decimals: 0 }, Align::Right),
                    ],
                    rows: vec![
                        vec![json!(NON_LATIN), json!(1234.5), json!(0.1534), json!(1200)],
                        vec![json!(HOSTILE), json!(99.99), json!(0.05), json!(35)],
                        vec![json!("Line one\nline two"), json!(-250), Value::Null, json!(0)],
                    ],
                    totals: Some(vec![Value::Null, json!(1084.49), Value::Null, json!(1235)]),
                }),
                Block::Chart(ChartBlock {
                    title: Some("Revenue by channel".into()),
                    kind: ChartKind::Bar,
                    categories: vec!["Email".into(), "Push".into(), "SMS <b>".into()],
                    series: vec![
                        Series { name: "This week".into(), values: vec![120.0, 80.5, f64::NAN] },
                        Series { name: "Last week".into(), values: vec![100.0, 90.0, 30.0] },
                    ],
                    format: usd(),
                }),
                Block::Text(TextBlock::from_markdown(
                    Some("Notes".into()),
                    "# Method\nFigures are *raw* & unaudited.\n\n- One | two\n- <i>three</i>",
                )),
                Block::Table(TableBlock {
                    title: Some("Nothing here".into()),
                    name: "empty".into(),
                    columns: vec![column("name", "Name", ValueFormat::Text, Align::Left)],
                    rows: vec![],
                    totals: None,
                }),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ChartKind;

    /// Open minus close tags of every element that has a closing tag in the page.
    fn unbalanced_tags(html: &str) -> Vec<String> {
        let void = ["meta", "br", "rect", "line", "path", "circle", "polyline", "text!", "!doctype"];
        let mut stack: Vec<String> = Vec::new();
        let mut problems = Vec::new();
        let mut rest = html;
        while let Some(start) = rest.find('<') {
            rest = &rest[start + 1..];
            let Some(end) = rest.find('>') else { break };
            let tag = &rest[..end];
            rest = &rest[end + 1..];
            let self_closing = tag.ends_with('/');
            let name: String =
                tag.trim_start_matches('/').chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '!').collect();
            let name = name.to_ascii_lowercase();
            if self_closing || void.contains(&name.as_str()) {
                continue;
            }
            if tag.starts_with('/') {
                match stack.pop() {
                    Some(open) if open == name => {}
                    other => problems.push(format!("</{name}> closes {other:?}")),
                }
            } else {
                stack.push(name);
            }
        }
        problems.extend(stack.into_iter().map(|open| format!("<{open}> never closed")));
        problems
    }

    #[test]
    fn escape_replaces_every_markup_character() {
        assert_eq!(
            escape("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
        assert_eq!(escape("bell\u{7}tab\tzoë"), "belltab\tzoë");
    }

    #[test]
    fn the_page_shows_every_figure_and_narrative_first() {
        let html = render_html(&sample::document());
        for figure in ["$1,234.50", "15.3%", "1,200", "-$250.00", "$1,084.49", "1,235", "$120.00", "$80.50", "–"] {
            assert!(html.contains(figure), "missing {figure}");
        }
        for text in [sample::NON_LATIN, "Week 18 — Zoë Ørsted", "Key takeaways", "₩5,000"] {
            assert!(html.contains(text), "missing {text}");
        }
        let summary = html.find("Executive summary").unwrap_or(usize::MAX);
        let first_block = html.find("Headline figures").unwrap_or(0);
        assert!(summary < first_block, "the narrative comes before the blocks");
        assert!(html.contains("Generated <time datetime=\"2026-05-04T08:00:00Z\">2026-05-04 08:00 UTC</time>"));
        assert!(html.contains("No rows."));
    }

    #[test]
    fn hostile_text_is_escaped_and_nothing_executes_or_loads() {
        let html = render_html(&sample::document());
        assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; | pipes |"));
        assert!(html.contains("Weekly digest &amp; review"));
        assert!(html.contains("SMS &lt;b&gt;"));
        assert!(html.contains("&lt;b&gt;not bold&lt;/b&gt;"));
        let lower = html.to_ascii_lowercase();
        assert!(!lower.contains("<script"));
        assert!(!lower.contains("<b>") && !lower.contains("<i>"));
        // The SVG namespace is a name, not something fetched.
        let without_namespace = lower.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        for reference in ["http://", "https://", "src=", "href=", "url(", "@import", "<link", "<img", "<iframe"] {
            assert!(!without_namespace.contains(reference), "found {reference}");
        }
    }

    #[test]
    fn tables_are_accessible_and_numbers_align_right() {
        let html = render_html(&sample::document());
        assert!(html.contains("<table class=\"data\" aria-labelledby=\"block-1\""));
        assert!(html.contains("<h2 id=\"block-1\""));
        assert!(html.contains("<th scope=\"col\" style=\"padding:7px 10px;text-align:right;"));
        assert!(html.contains("<th scope=\"row\""));
        assert!(html.contains("<tfoot>"));
        let shaded_number = "text-align:right;vertical-align:top;border-bottom:1px solid #e1e5ea;\
            font-variant-numeric:tabular-nums;white-space:nowrap;background-color:#f6f8fa;\">5.0%</td>";
        assert!(html.contains(shaded_number));
        assert!(html.contains("Line one<br>line two"));
    }

    #[test]
    fn the_page_is_balanced_markup_with_an_inline_chart() {
        let html = render_html(&sample::document());
        assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
        assert_eq!(unbalanced_tags(&html), Vec::<String>::new());
        assert_eq!(html.matches("<svg").count(), 1);
        assert!(html.contains("<title>Revenue by channel</title>"));
    }

    #[test]
    fn kpi_tiles_fill_balanced_rows() {
        let html = render_html(&sample::document());
        // Five tiles: two rows of three, the last slot left empty.
        assert_eq!(html.matches("<td class=\"tile\" width=\"32.0%\"").count(), 5);
        assert_eq!(html.matches("<td class=\"pad\" width=\"32.0%\" style=\"width:32.0%;\"></td>").count(), 1);
        assert!(html.contains("<span aria-hidden=\"true\">▲</span> +12.3% vs previous period"));
    }

    #[test]
    fn a_line_chart_and_an_empty_document_still_render() {
        let mut doc = sample::document();
        for block in &mut doc.blocks {
            if let Block::Chart(chart) = block {
                chart.kind = ChartKind::Line;
            }
        }
        assert_eq!(unbalanced_tags(&render_html(&doc)), Vec::<String>::new());

        doc.blocks.clear();
        doc.narrative = None;
        doc.subtitle = None;
        let html = render_html(&doc);
        assert_eq!(unbalanced_tags(&html), Vec::<String>::new());
        assert!(!html.contains("Executive summary"));
    }
}
