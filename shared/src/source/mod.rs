//! Data sources → typed rows. Every source kind of a report (the interaction analytics,
//! uploaded datasets, JSON endpoints, inline rows) yields a [`RowSet`]: named, typed columns and
//! positional rows, which sections, narration and per-row delivery read.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The type of a column, inferred from its values or declared by the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    Text,
    Number,
    Boolean,
    /// `YYYY-MM-DD` text.
    Date,
    /// RFC 3339 text.
    Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnMeta {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ColumnType,
}

/// A current-versus-previous pair of columns: the narrator describes the rows with the largest
/// change as movers, and flags drops (seeds `000`/`001` week-over-week change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comparison {
    /// The column naming the row's subject (`offer_id`).
    pub label_column: String,
    /// What is compared, in words (`completions`).
    pub metric: String,
    pub current_column: String,
    pub previous_column: String,
}

/// The rows one source returned.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RowSet {
    pub columns: Vec<ColumnMeta>,
    /// Positional: `rows[i][j]` is column `j` of row `i`.
    pub rows: Vec<Vec<Value>>,
    #[serde(default)]
    pub comparisons: Vec<Comparison>,
    /// What the rows cover, in words (`7 days to 21 Nov 2026, against the 7 days before`).
    #[serde(default)]
    pub note: Option<String>,
}

impl RowSet {
    /// Rows from JSON objects: columns in first-seen order, each typed from its values (a
    /// column mixing types is text); a row lacking a column has null there.
    pub fn from_objects(objects: Vec<Map<String, Value>>) -> RowSet {
        let mut names: Vec<String> = Vec::new();
        let mut index = std::collections::HashMap::new();
        for object in &objects {
            for key in object.keys() {
                if !index.contains_key(key) {
                    index.insert(key.clone(), names.len());
                    names.push(key.clone());
                }
            }
        }
        let rows: Vec<Vec<Value>> = objects
            .into_iter()
            .map(|mut object| names.iter().map(|n| object.remove(n).unwrap_or(Value::Null)).collect())
            .collect();
        let columns = names
            .into_iter()
            .enumerate()
            .map(|(j, name)| ColumnMeta { kind: infer_type(rows.iter().map(|r| &r[j])), name })
            .collect();
        RowSet { columns, rows, comparisons: vec![], note: None }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Position of the column called `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Row `i` as a JSON object (for templates, conditions and per-row parameters).
    pub fn row_object(&self, i: usize) -> Option<Map<String, Value>> {
        let row = self.rows.get(i)?;
        Some(self.columns.iter().zip(row).map(|(c, v)| (c.name.clone(), v.clone())).collect())
    }

    /// The numbers of column `j` (non-numeric cells skipped).
    pub fn numbers(&self, j: usize) -> impl Iterator<Item = f64> + '_ {
        self.rows.iter().filter_map(move |r| r.get(j).and_then(Value::as_f64))
    }
}

fn infer_type<'a>(values: impl Iterator<Item = &'a Value>) -> ColumnType {
    let mut kind = None;
    for value in values {
        let this = match value {
            Value::Null => continue,
            Value::Bool(_) => ColumnType::Boolean,
            Value::Number(_) => ColumnType::Number,
            Value::String(s) if is_date(s) => ColumnType::Date,
            Value::String(s) if chrono::DateTime::parse_from_rfc3339(s).is_ok() => ColumnType::Timestamp,
            _ => ColumnType::Text,
        };
        match kind {
            None => kind = Some(this),
            Some(k) if k == this => {}
            Some(_) => return ColumnType::Text,
        }
    }
    kind.unwrap_or(ColumnType::Text)
}

fn is_date(s: &str) -> bool {
    s.len() == 10 && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn objects(v: Value) -> Vec<Map<String, Value>> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn columns_come_in_first_seen_order_with_inferred_types() {
        let rows = RowSet::from_objects(objects(json!([
            {"id": "c1", "balance": 12.5, "since": "2024-01-31"},
            {"id": "c2", "vip": true, "balance": 3},
        ])));
        let names: Vec<_> = rows.columns.iter().map(|c| (c.name.as_str(), c.kind)).collect();
        assert_eq!(
            names,
            [
                ("id", ColumnType::Text),
                ("balance", ColumnType::Number),
                ("since", ColumnType::Date),
                ("vip", ColumnType::Boolean)
            ]
        );
        assert_eq!(rows.rows[1], vec![json!("c2"), json!(3), Value::Null, json!(true)]);
        assert_eq!(rows.row_object(0).unwrap()["balance"], json!(12.5));
    }

    #[test]
    fn a_column_mixing_types_is_text() {
        let rows = RowSet::from_objects(objects(json!([{"v": 1}, {"v": "one"}, {"v": null}])));
        assert_eq!(rows.columns[0].kind, ColumnType::Text);
    }
}
