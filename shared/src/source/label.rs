//! Names for rows. A source may declare which column names its rows for people — one of its
//! own, or one looked up in a dataset by each row's id — so the narrative, the tables and the
//! charts say "BOGO $10 · 7 days · web, email" where the data holds
//! `ae264e3637204a6fb9bb56bc8210ddfd`. A row without a name keeps its id.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ColumnMeta, ColumnType, RowSet, SourceContext, SourceError};
use crate::domain::SourceLabel;
use crate::render::format;

/// Which column of a row set names its rows, and the id column the names stand for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowLabel {
    /// The column holding each row's name (null or empty where a row has none).
    pub name: String,
    /// The column holding the ids the names replace, if the rows have one.
    pub id: Option<String>,
}

/// Where a row set's ids and names are, by position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Naming {
    pub id: Option<usize>,
    pub name: usize,
}

impl Naming {
    /// What people see in column `j` of `row`: the row's name where `j` is the id column and
    /// the row has a name, else the cell itself.
    pub fn cell<'a>(&self, row: &'a [Value], j: usize) -> &'a Value {
        match self.id {
            Some(id) if id == j => self.name_of(row).unwrap_or(&row[j]),
            _ => &row[j],
        }
    }

    /// The row's name, when it has one.
    pub fn name_of<'a>(&self, row: &'a [Value]) -> Option<&'a Value> {
        row.get(self.name).filter(|v| !format::plain(v).trim().is_empty())
    }
}

impl RowSet {
    /// Where the rows' names and the ids they stand for are, when the source names its rows.
    pub fn naming(&self) -> Option<Naming> {
        let label = self.label.as_ref()?;
        Some(Naming { id: label.id.as_deref().and_then(|id| self.column(id)), name: self.column(&label.name)? })
    }
}

/// `rows` named as `wanted` says: the label's column checked, or looked up in its dataset and
/// added to the rows as a column called after the id (`offer_id` → `offer_name`).
pub async fn apply(ctx: &SourceContext<'_>, wanted: &SourceLabel, mut rows: RowSet) -> Result<RowSet, SourceError> {
    let id = wanted.id.clone().or_else(|| rows.comparisons.first().map(|c| c.label_column.clone()));
    let id_column = match &id {
        Some(id) => Some(rows.column(id).ok_or_else(|| missing(&rows, id, "the rows"))?),
        None => None,
    };
    let name = match &wanted.dataset {
        None => {
            rows.column(&wanted.column).ok_or_else(|| missing(&rows, &wanted.column, "the rows"))?;
            wanted.column.clone()
        }
        Some(code) => {
            let (Some(id), Some(id_column)) = (id.as_deref(), id_column) else {
                return Err(SourceError::Label("name the column holding the ids (`id`) to look names up by".into()));
            };
            let names = super::dataset_rows(ctx, code).await?;
            let in_dataset = |column: &str| {
                names.column(column).ok_or_else(|| missing(&names, column, &format!("dataset `{code}`")))
            };
            let (key, value) = (in_dataset(&wanted.key)?, in_dataset(&wanted.column)?);
            let lookup: HashMap<String, &Value> = names
                .rows
                .iter()
                .filter(|row| !row[value].is_null())
                .map(|row| (format::plain(&row[key]), &row[value]))
                .collect();
            let column = named_after(id);
            let found = |row: &[Value]| {
                lookup.get(&format::plain(&row[id_column])).map_or(Value::Null, |v| Value::String(format::plain(v)))
            };
            match rows.column(&column) {
                Some(j) => {
                    for row in &mut rows.rows {
                        row[j] = found(row);
                    }
                    rows.columns[j].kind = ColumnType::Text;
                }
                None => {
                    for row in &mut rows.rows {
                        let name = found(row);
                        row.push(name);
                    }
                    rows.columns.push(ColumnMeta { name: column.clone(), kind: ColumnType::Text });
                }
            }
            column
        }
    };
    rows.label = Some(RowLabel { name, id });
    Ok(rows)
}

/// The column a looked-up name is added as: `offer_id` → `offer_name`, `channel` →
/// `channel_name`.
pub fn named_after(id: &str) -> String {
    let stem = id.strip_suffix("_id").or_else(|| id.strip_suffix("id")).filter(|s| !s.is_empty()).unwrap_or(id);
    format!("{}_name", stem.trim_end_matches('_'))
}

/// What the rows' ids are of, in words: `offer_id` → `offer`, `channel` → `channel`.
pub fn entity_of(id: &str) -> String {
    let stem = id.strip_suffix("_id").filter(|s| !s.is_empty()).unwrap_or(id);
    stem.replace(['_', '-'], " ")
}

fn missing(rows: &RowSet, column: &str, whose: &str) -> SourceError {
    let columns = rows.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
    SourceError::Label(format!("{whose} have no column `{column}` (the columns: {columns})"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_looked_up_name_is_called_after_its_id() {
        assert_eq!(named_after("offer_id"), "offer_name");
        assert_eq!(named_after("customerid"), "customer_name");
        assert_eq!(named_after("channel"), "channel_name");
        assert_eq!(named_after("id"), "id_name");
        assert_eq!(entity_of("offer_id"), "offer");
        assert_eq!(entity_of("sales_region"), "sales region");
    }

    #[test]
    fn a_row_shows_its_name_in_the_id_column_and_keeps_its_id_without_one() {
        let naming = Naming { id: Some(0), name: 2 };
        let named = [json!("ae26"), json!(4), json!("BOGO $10")];
        let unnamed = [json!("fafd"), json!(4), json!(" ")];
        assert_eq!(naming.cell(&named, 0), "BOGO $10");
        assert_eq!(naming.cell(&named, 1), 4);
        assert_eq!(naming.cell(&unnamed, 0), "fafd");
        assert_eq!(naming.name_of(&unnamed), None);
    }
}
