//! Composition: a report's sections resolved against the rows its sources returned, giving
//! the [`Document`] the renderers draw and the [`Figures`] the narrator may speak about.
//! Column references are checked here, so a section naming a column its source lacks fails
//! the entry with a message that says which.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::chart::value_of;
use super::format;
use super::model::*;
use crate::domain::{Aggregate, Column, KpiTile, Report, Section, SectionKind, SortSpec, ValueFormat};
use crate::narrate::{Fact, Figures, Movement};
use crate::source::label::{Naming, entity_of};
use crate::source::{ColumnType, RowSet};
use crate::template;

/// Charts draw at most this many categories (the first ones, in the source's order).
pub const MAX_CHART_CATEGORIES: usize = 200;

/// Suffix of the facts that hold a previous period's value.
const PREVIOUS: &str = " (previous period)";

/// Movers handed to the narrator (the largest changes first).
const MAX_MOVEMENTS: usize = 25;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ComposeError {
    #[error("section {section} reads source `{name}`, which the report does not have")]
    UnknownSource { section: usize, name: String },
    #[error("section {section} names column `{column}`, which source `{name}` does not return")]
    UnknownColumn { section: usize, name: String, column: String },
}

/// A composed report.
#[derive(Debug, Clone, PartialEq)]
pub struct Composed {
    pub document: Document,
    pub figures: Figures,
    /// Per section: what it shows and how many rows (the editor's preview pane).
    pub sections: Vec<SectionSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SectionSummary {
    pub title: Option<String>,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub source: Option<String>,
    pub rows: usize,
}

/// Resolves `report`'s sections against `rows` (keyed by source name). `scope` fills `{…}`
/// placeholders in text sections (parameters, the entry's row, the run's data). A report
/// without sections shows one table per source.
pub fn compose(
    report: &Report,
    rows: &BTreeMap<String, RowSet>,
    scope: &Value,
    generated_at: DateTime<Utc>,
) -> Result<Composed, ComposeError> {
    let defaults;
    let sections: &[Section] = if report.sections.is_empty() {
        defaults = report
            .sources
            .iter()
            .map(|s| Section {
                title: Some(humanize(s.name.as_str())),
                kind: SectionKind::Table { source: s.name.clone(), columns: vec![], sort: None, totals: false },
            })
            .collect::<Vec<_>>();
        &defaults
    } else {
        &report.sections
    };

    let note = report.sources.iter().find_map(|s| rows.get(s.name.as_str()).and_then(|r| r.note.clone()));
    let mut figures = Figures { report: report.name.to_string(), period: note.clone(), ..Figures::default() };
    let mut blocks = Vec::with_capacity(sections.len());
    let mut summaries = Vec::with_capacity(sections.len());
    let mut table_names = HashSet::new();

    for (i, section) in sections.iter().enumerate() {
        let title = section.title.as_deref().map(|t| template::expand(t, scope));
        let source = |name: &str| {
            rows.get(name).ok_or_else(|| ComposeError::UnknownSource { section: i, name: name.to_owned() })
        };
        let (block, kind, source_name, count) = match &section.kind {
            SectionKind::Kpi { source: name, tiles } => {
                let set = source(name.as_str())?;
                let block = kpis(i, name.as_str(), set, tiles, title, &mut figures)?;
                (Block::Kpis(block), "kpi", Some(name.to_string()), set.len())
            }
            SectionKind::Table { source: name, columns, sort, totals } => {
                let set = source(name.as_str())?;
                let base = slug(title.as_deref().unwrap_or(name.as_str()));
                let mut table_name = base.clone();
                let mut n = 2;
                while !table_names.insert(table_name.clone()) {
                    table_name = format!("{base}-{n}");
                    n += 1;
                }
                let block =
                    table(i, name.as_str(), set, columns, sort.as_ref(), *totals, title, table_name, &mut figures)?;
                (Block::Table(block), "table", Some(name.to_string()), set.len())
            }
            SectionKind::Chart { source: name, chart, x, y } => {
                let set = source(name.as_str())?;
                let column = |c: &str| {
                    set.column(c).ok_or_else(|| ComposeError::UnknownColumn {
                        section: i,
                        name: name.to_string(),
                        column: c.to_owned(),
                    })
                };
                let xj = column(x)?;
                let yj = y.iter().map(|c| column(c)).collect::<Result<Vec<_>, _>>()?;
                let shown = &set.rows[..set.len().min(MAX_CHART_CATEGORIES)];
                let naming = set.naming();
                let categories =
                    shown.iter().map(|r| format::plain(naming.map_or(&r[xj], |n| n.cell(r, xj)))).collect();
                let series: Vec<Series> = y
                    .iter()
                    .zip(&yj)
                    .map(|(name, j)| Series {
                        name: humanize(name),
                        values: shown.iter().map(|r| value_of(&r[*j])).collect(),
                    })
                    .collect();
                figures
                    .other_numbers
                    .extend(series.iter().flat_map(|s| s.values.iter().copied()).filter(|v| v.is_finite()));
                let format = yj.first().map_or(ValueFormat::Text, |j| default_format(set, *j));
                let block = ChartBlock { title, kind: *chart, categories, series, format };
                (Block::Chart(block), "chart", Some(name.to_string()), set.len())
            }
            SectionKind::Text { markdown } => {
                let text = template::expand(markdown, scope);
                (Block::Text(TextBlock::from_markdown(title, &text)), "text", None, 0)
            }
        };
        summaries.push(SectionSummary {
            title: block.title().map(str::to_owned),
            kind,
            source: source_name,
            rows: count,
        });
        blocks.push(block);
    }

    // In the report's order of sources: the first compared total leads the narrative.
    for set in report.sources.iter().filter_map(|s| rows.get(s.name.as_str())) {
        movements(set, &mut figures);
    }
    figures.movements.sort_by(|a, b| {
        let size = |m: &Movement| m.change.map_or(0.0, f64::abs);
        size(b).total_cmp(&size(a))
    });
    figures.movements.truncate(MAX_MOVEMENTS);
    // Headline figures first; their previous-period values after them all.
    figures.facts.sort_by_key(|f| f.label.ends_with(PREVIOUS));

    let document = Document {
        title: report.name.to_string(),
        subtitle: note,
        generated_at,
        page: report.page,
        narrative: None,
        blocks,
    };
    Ok(Composed { document, figures, sections: summaries })
}

fn kpis(
    section: usize,
    source: &str,
    set: &RowSet,
    tiles: &[KpiTile],
    title: Option<String>,
    figures: &mut Figures,
) -> Result<KpiBlock, ComposeError> {
    let mut out = Vec::with_capacity(tiles.len());
    for tile in tiles {
        let j = set.column(&tile.column).ok_or_else(|| ComposeError::UnknownColumn {
            section,
            name: source.to_owned(),
            column: tile.column.clone(),
        })?;
        // An average, extreme or first value of no number at all is no value, shown as a dash.
        let Some(value) = aggregate(set, j, tile.aggregate) else {
            out.push(Tile { label: tile.label.clone(), value: "—".into(), change: None });
            continue;
        };
        let display = format::display(&number_value(value), &tile.format);
        figures.facts.push(Fact {
            label: tile.label.clone(),
            value,
            display: display.clone(),
            format: tile.format.clone(),
        });
        // A tile over a compared column shows the change against the previous period.
        let previous = set
            .comparisons
            .iter()
            .find(|c| c.current_column == tile.column)
            .and_then(|c| set.column(&c.previous_column))
            .and_then(|pj| aggregate(set, pj, tile.aggregate));
        let change = previous.and_then(|previous| {
            figures.facts.push(Fact {
                label: format!("{}{PREVIOUS}", tile.label),
                value: previous,
                display: format::display(&number_value(previous), &tile.format),
                format: tile.format.clone(),
            });
            let ratio = format::change_ratio(value, previous)?;
            let trend = if ratio > 0.0005 {
                Trend::Up
            } else if ratio < -0.0005 {
                Trend::Down
            } else {
                Trend::Flat
            };
            Some(Change { text: format!("{} vs previous period", format::signed_percent(ratio, 1)), trend })
        });
        out.push(Tile { label: tile.label.clone(), value: display, change });
    }
    Ok(KpiBlock { title, tiles: out })
}

/// A column's figure for a tile: `None` when an average, minimum, maximum or first value has
/// no number to be taken from (a sum or count of nothing is 0).
fn aggregate(set: &RowSet, j: usize, how: Aggregate) -> Option<f64> {
    let mut numbers = set.numbers(j);
    match how {
        // Folded from 0.0: `Sum` of no floats is -0.0, which would show as "-0".
        Aggregate::Sum => Some(numbers.fold(0.0, |sum, v| sum + v)),
        Aggregate::Count => Some(set.rows.iter().filter(|r| !r[j].is_null()).count() as f64),
        Aggregate::Avg => {
            let (sum, n) = numbers.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
            (n > 0).then(|| sum / n as f64)
        }
        Aggregate::Min => numbers.reduce(f64::min),
        Aggregate::Max => numbers.reduce(f64::max),
        Aggregate::First => set.rows.first().filter(|row| !row[j].is_null()).and_then(|_| numbers.next()),
    }
}

#[allow(clippy::too_many_arguments)]
fn table(
    section: usize,
    source: &str,
    set: &RowSet,
    columns: &[Column],
    sort: Option<&SortSpec>,
    totals: bool,
    title: Option<String>,
    name: String,
    figures: &mut Figures,
) -> Result<TableBlock, ComposeError> {
    let unknown =
        |column: &str| ComposeError::UnknownColumn { section, name: source.to_owned(), column: column.to_owned() };
    let naming = set.naming();
    // A named source's id column shows the names, headed by the name column unless the
    // report gave it a label; the name column itself is then not shown twice.
    let header = |j: usize, key: &str, label: Option<&str>| match (naming, label) {
        (Some(Naming { id: Some(id), name }), None) if id == j => humanize(&set.columns[name].name),
        _ => label.map_or_else(|| humanize(key), str::to_owned),
    };
    let mut picked: Vec<(usize, TableColumn)> = if columns.is_empty() {
        set.columns
            .iter()
            .enumerate()
            .map(|(j, c)| (j, table_column(&c.name, header(j, &c.name, None), default_format(set, j))))
            .collect()
    } else {
        columns
            .iter()
            .map(|c| {
                let j = set.column(&c.key).ok_or_else(|| unknown(&c.key))?;
                let format = if c.format == ValueFormat::Text { default_format(set, j) } else { c.format.clone() };
                Ok((j, table_column(&c.key, header(j, &c.key, c.label.as_deref()), format)))
            })
            .collect::<Result<_, ComposeError>>()?
    };
    if let Some(Naming { id: Some(id), name }) = naming
        && picked.iter().any(|(j, _)| *j == id)
    {
        picked.retain(|(j, _)| *j != name);
    }
    let cell = |i: usize, j: usize| naming.map_or(&set.rows[i][j], |n| n.cell(&set.rows[i], j));

    let mut order: Vec<usize> = (0..set.len()).collect();
    if let Some(sort) = sort {
        let j = set.column(&sort.column).ok_or_else(|| unknown(&sort.column))?;
        order.sort_by(|a, b| {
            let ordering = compare(cell(*a, j), cell(*b, j));
            // Nulls stay last either way.
            match (cell(*a, j).is_null(), cell(*b, j).is_null(), sort.descending) {
                (false, false, true) => ordering.reverse(),
                _ => ordering,
            }
        });
    }
    let rows: Vec<Vec<Value>> =
        order.iter().map(|i| picked.iter().map(|(j, _)| cell(*i, *j).clone()).collect()).collect();
    for (j, _) in &picked {
        figures.other_numbers.extend(set.numbers(*j));
    }
    figures.other_numbers.push(set.len() as f64);

    let totals = totals.then(|| {
        let mut labelled = false;
        picked
            .iter()
            .map(|(j, column)| match column.format {
                ValueFormat::Number { .. } | ValueFormat::Currency { .. }
                    if matches!(set.columns[*j].kind, ColumnType::Number | ColumnType::Decimal) =>
                {
                    let sum = set.numbers(*j).fold(0.0, |sum, v| sum + v);
                    figures.facts.push(Fact {
                        label: format!("Total {}", column.label.to_lowercase()),
                        value: sum,
                        display: format::display(&number_value(sum), &column.format),
                        format: column.format.clone(),
                    });
                    number_value(sum)
                }
                _ if !labelled && column.align == Align::Left => {
                    labelled = true;
                    Value::String("Total".into())
                }
                _ => Value::Null,
            })
            .collect()
    });
    Ok(TableBlock { title, name, columns: picked.into_iter().map(|(_, c)| c).collect(), rows, totals })
}

fn table_column(key: &str, label: String, format: ValueFormat) -> TableColumn {
    let align = match format {
        ValueFormat::Number { .. } | ValueFormat::Currency { .. } | ValueFormat::Percent { .. } => Align::Right,
        ValueFormat::Text | ValueFormat::Date => Align::Left,
    };
    TableColumn { key: key.to_owned(), label, format, align }
}

/// The format a column gets when the report does not choose one: rates and changes as
/// percentages, money-like names with two decimals, other numbers grouped.
fn default_format(set: &RowSet, j: usize) -> ValueFormat {
    let name = set.columns[j].name.to_ascii_lowercase();
    match set.columns[j].kind {
        ColumnType::Number if ["_rate", "_change", "_ratio", "_share"].iter().any(|s| name.ends_with(s)) => {
            ValueFormat::Percent { decimals: 1 }
        }
        ColumnType::Number | ColumnType::Decimal => {
            let fractional = set.numbers(j).any(|v| v.fract() != 0.0);
            ValueFormat::Number { decimals: if fractional { 2 } else { 0 } }
        }
        ColumnType::Date | ColumnType::Timestamp => ValueFormat::Date,
        ColumnType::Text | ColumnType::Boolean => ValueFormat::Text,
    }
}

/// Movers from a source's current-versus-previous column pairs.
fn movements(set: &RowSet, figures: &mut Figures) {
    for comparison in &set.comparisons {
        let (Some(label), Some(current), Some(previous)) = (
            set.column(&comparison.label_column),
            set.column(&comparison.current_column),
            set.column(&comparison.previous_column),
        ) else {
            continue;
        };
        let format = default_format(set, current);
        // Named rows are spoken of by name (`offer BOGO $10 · 7 days`), others by their id.
        let names = set.naming().filter(|n| n.id == Some(label));
        let entity = entity_of(&comparison.label_column);
        let (mut total_now, mut total_before) = (0.0, 0.0);
        for row in &set.rows {
            let (Some(now), Some(before)) = (row[current].as_f64(), row[previous].as_f64()) else { continue };
            total_now += now;
            total_before += before;
            let subject = match names.and_then(|n| n.name_of(row)) {
                Some(name) => format!("{entity} {}", format::plain(name)),
                None => format!("{} {}", humanize(&comparison.label_column).to_lowercase(), format::plain(&row[label])),
            };
            figures.movements.push(Movement {
                subject,
                metric: comparison.metric.clone(),
                current: now,
                previous: before,
                change: format::change_ratio(now, before),
                format: format.clone(),
            });
        }
        for (label, value) in [
            (format!("Total {}", comparison.metric), total_now),
            (format!("Total {}{PREVIOUS}", comparison.metric), total_before),
        ] {
            let display = format::display(&number_value(value), &format);
            figures.facts.push(Fact { label, value, display, format: format.clone() });
        }
        if !set.rows.is_empty() {
            figures.overall.push(Movement {
                subject: entity.clone(),
                metric: comparison.metric.clone(),
                current: total_now,
                previous: total_before,
                change: format::change_ratio(total_now, total_before),
                format,
            });
        }
    }
}

fn compare(a: &Value, b: &Value) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Greater,
        (_, Value::Null) => Ordering::Less,
        (Value::Number(x), Value::Number(y)) => {
            x.as_f64().unwrap_or(f64::NAN).total_cmp(&y.as_f64().unwrap_or(f64::NAN))
        }
        (Value::String(x), Value::String(y)) => x.to_lowercase().cmp(&y.to_lowercase()),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => format::plain(a).cmp(&format::plain(b)),
    }
}

fn number_value(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// `completion_rate` → `Completion rate`.
pub fn humanize(key: &str) -> String {
    let spaced = key.replace(['_', '-'], " ");
    let mut chars = spaced.trim().chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// A file-name-safe name: lowercase ASCII letters, digits and dashes.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-');
    if out.is_empty() { "table".into() } else { out.chars().take(60).collect() }
}

#[cfg(test)]
mod tests;
