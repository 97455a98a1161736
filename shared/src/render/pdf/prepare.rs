//! The document as the PDF draws it: every figure formatted once, control characters
//! removed, charts laid out. The font set is chosen from this text before anything is
//! measured.

use crate::render::chart::{self, Mark, Plot};
use crate::render::model::{Align, Block, ChartBlock, Document, TextPart, Trend};

use super::text::{multi_line, single_line};

pub(super) struct Prepared {
    pub title: String,
    pub subtitle: Option<String>,
    /// `2026-05-01 07:00 UTC`.
    pub generated: String,
    pub narrative: Option<Narrative>,
    pub blocks: Vec<Part>,
}

pub(super) struct Narrative {
    pub summary: String,
    pub takeaways: Vec<String>,
}

pub(super) enum Part {
    Kpis { title: Option<String>, tiles: Vec<Tile> },
    Table(Table),
    Chart(Chart),
    Text { title: Option<String>, parts: Vec<TextPart> },
}

pub(super) struct Tile {
    pub label: String,
    pub value: String,
    pub change: Option<(String, Trend)>,
}

pub(super) struct Table {
    pub title: Option<String>,
    pub columns: Vec<(String, Align)>,
    /// Display text, one entry per column.
    pub rows: Vec<Vec<String>>,
    pub totals: Option<Vec<String>>,
}

pub(super) struct Chart {
    pub title: Option<String>,
    block: ChartBlock,
    /// Laid out at the standard size.
    pub plot: Plot,
}

impl Chart {
    fn new(block: &ChartBlock, (width, height): (f32, f32)) -> Chart {
        let block = block.clone();
        let plot = plot(&block, width, height);
        Chart { title: title(block.title.as_deref()), block, plot }
    }

    /// The chart laid out `height` points tall instead (same width, same labels).
    pub(super) fn replot(&self, height: f32) -> Plot {
        plot(&self.block, self.plot.width, height)
    }
}

fn plot(block: &ChartBlock, width: f32, height: f32) -> Plot {
    let mut plot = chart::plot(block, width, height);
    for mark in &mut plot.marks {
        if let Mark::Label { text, .. } = mark {
            *text = line(text);
        }
    }
    plot
}

fn line(text: &str) -> String {
    single_line(text).into_owned()
}

fn title(title: Option<&str>) -> Option<String> {
    title.map(line).filter(|t| !t.trim().is_empty())
}

impl Prepared {
    /// `chart_size`: the box charts are laid out in, in points.
    pub(super) fn new(doc: &Document, chart_size: (f32, f32)) -> Prepared {
        let narrative = doc.narrative.as_ref().and_then(|n| {
            let summary = multi_line(n.summary.trim());
            let takeaways: Vec<String> = n.takeaways.iter().map(|t| line(t.trim())).filter(|t| !t.is_empty()).collect();
            (!summary.is_empty() || !takeaways.is_empty()).then_some(Narrative { summary, takeaways })
        });
        let blocks = doc
            .blocks
            .iter()
            .map(|block| match block {
                Block::Kpis(kpis) => Part::Kpis {
                    title: title(kpis.title.as_deref()),
                    tiles: kpis
                        .tiles
                        .iter()
                        .map(|tile| Tile {
                            label: line(&tile.label),
                            value: line(&tile.value),
                            change: tile.change.as_ref().map(|c| (line(&c.text), c.trend)),
                        })
                        .collect(),
                },
                Block::Table(table) => {
                    let columns = &table.columns;
                    let cells = |values: &[serde_json::Value]| -> Vec<String> {
                        columns
                            .iter()
                            .enumerate()
                            .map(|(i, column)| {
                                values
                                    .get(i)
                                    .map(|value| single_line(&column.display(value)).into_owned())
                                    .unwrap_or_default()
                            })
                            .collect()
                    };
                    Part::Table(Table {
                        title: title(table.title.as_deref()),
                        columns: columns.iter().map(|c| (line(&c.label), c.align)).collect(),
                        rows: table.rows.iter().map(|row| cells(row)).collect(),
                        totals: table.totals.as_deref().map(cells),
                    })
                }
                Block::Chart(block) => Part::Chart(Chart::new(block, chart_size)),
                Block::Text(text) => Part::Text {
                    title: title(text.title.as_deref()),
                    parts: text
                        .parts
                        .iter()
                        .map(|part| match part {
                            TextPart::Heading(h) => TextPart::Heading(line(h)),
                            TextPart::Paragraph(p) => TextPart::Paragraph(multi_line(p)),
                            TextPart::Bullets(items) => TextPart::Bullets(items.iter().map(|i| line(i)).collect()),
                        })
                        .collect(),
                },
            })
            .collect();
        Prepared {
            title: line(&doc.title),
            subtitle: title(doc.subtitle.as_deref()),
            generated: doc.generated_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            narrative,
            blocks,
        }
    }

    /// Every piece of text the document draws (fixed captions aside, which are ASCII).
    pub(super) fn texts(&self) -> impl Iterator<Item = &str> + '_ {
        let head = [Some(self.title.as_str()), self.subtitle.as_deref(), Some(self.generated.as_str())];
        let narrative = self
            .narrative
            .iter()
            .flat_map(|n| std::iter::once(n.summary.as_str()).chain(n.takeaways.iter().map(String::as_str)));
        let blocks = self.blocks.iter().flat_map(|block| -> Box<dyn Iterator<Item = &str> + '_> {
            match block {
                Part::Kpis { title, tiles } => {
                    Box::new(title.as_deref().into_iter().chain(tiles.iter().flat_map(|t| {
                        [t.label.as_str(), t.value.as_str()].into_iter().chain(t.change.as_ref().map(|c| c.0.as_str()))
                    })))
                }
                Part::Table(table) => Box::new(
                    table
                        .title
                        .as_deref()
                        .into_iter()
                        .chain(table.columns.iter().map(|c| c.0.as_str()))
                        .chain(table.rows.iter().chain(table.totals.iter()).flatten().map(String::as_str)),
                ),
                Part::Chart(Chart { title, plot, .. }) => {
                    Box::new(title.as_deref().into_iter().chain(plot.marks.iter().filter_map(|m| match m {
                        Mark::Label { text, .. } => Some(text.as_str()),
                        _ => None,
                    })))
                }
                Part::Text { title, parts } => Box::new(title.as_deref().into_iter().chain(parts.iter().flat_map(
                    |part| -> Box<dyn Iterator<Item = &str> + '_> {
                        match part {
                            TextPart::Heading(t) | TextPart::Paragraph(t) => Box::new(std::iter::once(t.as_str())),
                            TextPart::Bullets(items) => Box::new(items.iter().map(String::as_str)),
                        }
                    },
                ))),
            }
        });
        head.into_iter().flatten().chain(narrative).chain(blocks)
    }
}
