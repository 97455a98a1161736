//! The format-independent document every renderer draws: a report's sections resolved against
//! its rows. PDF, HTML, Markdown and CSV all read this one model, so they show the same
//! figures.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::domain::{ChartKind, NarrativeOutput, Orientation, PageSetup, PaperSize, ValueFormat};

use super::format;

#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The report's name: the heading, the PDF title and the page header.
    pub title: String,
    /// A second heading line (the period, the customer).
    pub subtitle: Option<String>,
    /// When the run rendered it (shown in the footer).
    pub generated_at: DateTime<Utc>,
    pub page: PageSetup,
    /// Executive summary and key takeaways, placed first.
    pub narrative: Option<NarrativeOutput>,
    pub blocks: Vec<Block>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Kpis(KpiBlock),
    Table(TableBlock),
    Chart(ChartBlock),
    Text(TextBlock),
}

impl Block {
    pub fn title(&self) -> Option<&str> {
        match self {
            Block::Kpis(b) => b.title.as_deref(),
            Block::Table(b) => b.title.as_deref(),
            Block::Chart(b) => b.title.as_deref(),
            Block::Text(b) => b.title.as_deref(),
        }
    }
}

/// A row of headline figures.
#[derive(Debug, Clone, PartialEq)]
pub struct KpiBlock {
    pub title: Option<String>,
    pub tiles: Vec<Tile>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tile {
    pub label: String,
    /// Display text of the value (`$1,234.50`).
    pub value: String,
    /// Change against the previous period, when the source has one.
    pub change: Option<Change>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Display text (`+12.3% vs previous period`).
    pub text: String,
    pub trend: Trend,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trend {
    Up,
    Down,
    Flat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TableColumn {
    /// The source column it shows.
    pub key: String,
    pub label: String,
    pub format: ValueFormat,
    pub align: Align,
}

impl TableColumn {
    /// Display text of `value` in this column.
    pub fn display(&self, value: &Value) -> String {
        format::display(value, &self.format)
    }
}

/// A table: raw cell values (CSV writes them as they are; the other formats display them
/// through each column's format).
#[derive(Debug, Clone, PartialEq)]
pub struct TableBlock {
    pub title: Option<String>,
    /// File-name-safe name, unique within the document (CSV writes one file per table).
    pub name: String,
    pub columns: Vec<TableColumn>,
    /// Positional, aligned with `columns`.
    pub rows: Vec<Vec<Value>>,
    /// Column totals (null where a column is not summed), when the section asks for them.
    pub totals: Option<Vec<Value>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChartBlock {
    pub title: Option<String>,
    pub kind: ChartKind,
    /// Labels along the x axis.
    pub categories: Vec<String>,
    pub series: Vec<Series>,
    /// How values are printed on the axis and labels.
    pub format: ValueFormat,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    /// One per category; non-finite values are drawn as gaps.
    pub values: Vec<f64>,
}

/// Prose: headings, paragraphs and bullet lists (the subset of Markdown a section may use).
#[derive(Debug, Clone, PartialEq)]
pub struct TextBlock {
    pub title: Option<String>,
    pub parts: Vec<TextPart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextPart {
    Heading(String),
    Paragraph(String),
    Bullets(Vec<String>),
}

impl TextBlock {
    /// Parses the Markdown subset: `#` headings, `-`/`*` bullets, blank-line separated
    /// paragraphs (lines of one paragraph are joined with a space). Other markup is kept as
    /// plain text.
    pub fn from_markdown(title: Option<String>, markdown: &str) -> TextBlock {
        let mut parts = Vec::new();
        let mut paragraph: Vec<&str> = Vec::new();
        let mut bullets: Vec<String> = Vec::new();
        let flush = |parts: &mut Vec<TextPart>, paragraph: &mut Vec<&str>, bullets: &mut Vec<String>| {
            if !paragraph.is_empty() {
                parts.push(TextPart::Paragraph(paragraph.join(" ")));
                paragraph.clear();
            }
            if !bullets.is_empty() {
                parts.push(TextPart::Bullets(std::mem::take(bullets)));
            }
        };
        for line in markdown.lines().map(str::trim) {
            if line.is_empty() {
                flush(&mut parts, &mut paragraph, &mut bullets);
            } else if let Some(heading) = line.strip_prefix('#') {
                flush(&mut parts, &mut paragraph, &mut bullets);
                parts.push(TextPart::Heading(heading.trim_start_matches('#').trim().to_owned()));
            } else if let Some(item) = line.strip_prefix("- ").or_else(|| line.strip_prefix("* ")) {
                if !paragraph.is_empty() {
                    parts.push(TextPart::Paragraph(paragraph.join(" ")));
                    paragraph.clear();
                }
                bullets.push(item.trim().to_owned());
            } else {
                if !bullets.is_empty() {
                    parts.push(TextPart::Bullets(std::mem::take(&mut bullets)));
                }
                paragraph.push(line);
            }
        }
        flush(&mut parts, &mut paragraph, &mut bullets);
        TextBlock { title, parts }
    }
}

impl PageSetup {
    /// Width and height in millimetres, orientation applied.
    pub fn size_mm(&self) -> (f32, f32) {
        let (w, h) = match self.size {
            PaperSize::A4 => (210.0, 297.0),
            PaperSize::Letter => (215.9, 279.4),
        };
        match self.orientation {
            Orientation::Portrait => (w, h),
            Orientation::Landscape => (h, w),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_subset_becomes_headings_paragraphs_and_bullets() {
        let block = TextBlock::from_markdown(
            None,
            "# Notes\nFirst line\ncontinues.\n\n- one\n* two\nAfter the list.\n\n## Next",
        );
        assert_eq!(
            block.parts,
            vec![
                TextPart::Heading("Notes".into()),
                TextPart::Paragraph("First line continues.".into()),
                TextPart::Bullets(vec!["one".into(), "two".into()]),
                TextPart::Paragraph("After the list.".into()),
                TextPart::Heading("Next".into()),
            ]
        );
    }

    #[test]
    fn landscape_swaps_the_paper_sides() {
        let page = PageSetup { size: PaperSize::Letter, orientation: Orientation::Landscape };
        assert_eq!(page.size_mm(), (279.4, 215.9));
    }
}
