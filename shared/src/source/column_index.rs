//! Where each value of one column sits in a shared dataset upload, so a run that filters the
//! same upload once per entry (a statement per customer, each reading its own transactions)
//! looks its rows up instead of comparing every row each time. The index answers exactly what
//! [`super::dataset::loosely_equal`] would: `"5"` finds the number 5 and the text `" 5 "`,
//! `"true"` the boolean, null only null.
//!
//! Indexes are built on first use and kept beside the parsed upload they belong to, for as
//! long as that upload is alive and among the last few indexed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use serde_json::Value;

use super::RowSet;

/// Indexes kept at once.
const KEPT: usize = 8;

/// A value as the index files it: text that reads as a number or a boolean is filed under
/// that too, so a lookup of the number or boolean finds it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Slot {
    Null,
    Number(u64),
    Bool(bool),
    Text(String),
    TextNumber(u64),
    TextBool(bool),
}

/// An `f64`'s bits with negative zero folded into zero (they compare equal).
fn bits(n: f64) -> u64 {
    if n == 0.0 { 0 } else { n.to_bits() }
}

fn text_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// The rows of one column by value.
#[derive(Debug, Default)]
pub struct ColumnIndex {
    rows: HashMap<Slot, Vec<u32>>,
}

impl ColumnIndex {
    /// Indexes column `j`; `None` when a cell is an array or an object (compared whole, so
    /// left to a scan).
    fn build(rows: &RowSet, j: usize) -> Option<Self> {
        let mut index = Self::default();
        for (i, row) in rows.rows.iter().enumerate() {
            let i = u32::try_from(i).ok()?;
            let mut file = |slot| index.rows.entry(slot).or_default().push(i);
            match row.get(j).unwrap_or(&Value::Null) {
                Value::Null => file(Slot::Null),
                Value::Number(n) => file(Slot::Number(bits(n.as_f64()?))),
                Value::Bool(b) => file(Slot::Bool(*b)),
                Value::String(s) => {
                    if let Ok(n) = s.trim().parse::<f64>() {
                        file(Slot::TextNumber(bits(n)));
                    }
                    if let Some(b) = text_bool(s) {
                        file(Slot::TextBool(b));
                    }
                    file(Slot::Text(s.clone()));
                }
                Value::Array(_) | Value::Object(_) => return None,
            }
        }
        Some(index)
    }

    /// The positions of the rows whose cell loosely equals `wanted`, in row order; `None`
    /// for a value the index cannot answer (an array or an object).
    pub fn lookup(&self, wanted: &Value) -> Option<Vec<u32>> {
        let slots = match wanted {
            Value::Null => vec![Slot::Null],
            Value::Number(n) => {
                let n = bits(n.as_f64()?);
                vec![Slot::Number(n), Slot::TextNumber(n)]
            }
            Value::Bool(b) => vec![Slot::Bool(*b), Slot::TextBool(*b)],
            Value::String(s) => {
                let mut slots = vec![Slot::Text(s.clone())];
                if let Ok(n) = s.trim().parse::<f64>() {
                    slots.push(Slot::Number(bits(n)));
                }
                if let Some(b) = text_bool(s) {
                    slots.push(Slot::Bool(b));
                }
                slots
            }
            Value::Array(_) | Value::Object(_) => return None,
        };
        let mut found: Vec<u32> = slots.iter().filter_map(|s| self.rows.get(s)).flatten().copied().collect();
        found.sort_unstable();
        found.dedup();
        Some(found)
    }
}

type Kept = Vec<(Weak<RowSet>, usize, Arc<Option<ColumnIndex>>)>;

static INDEXES: Mutex<Kept> = Mutex::new(Vec::new());

/// The index of column `j` of the shared upload `rows` (`None` when it cannot be indexed),
/// built on first use.
pub fn of(rows: &Arc<RowSet>, j: usize) -> Arc<Option<ColumnIndex>> {
    let found = INDEXES.lock().ok().and_then(|mut kept| {
        kept.retain(|(upload, ..)| upload.strong_count() > 0);
        let at = kept.iter().position(|(upload, column, _)| *column == j && upload.as_ptr() == Arc::as_ptr(rows))?;
        let hit = kept.remove(at);
        let index = hit.2.clone();
        kept.insert(0, hit);
        Some(index)
    });
    if let Some(index) = found {
        return index;
    }
    let index = Arc::new(ColumnIndex::build(rows, j));
    if let Ok(mut kept) = INDEXES.lock() {
        kept.insert(0, (Arc::downgrade(rows), j, index.clone()));
        kept.truncate(KEPT);
    }
    index
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::dataset::loosely_equal;
    use super::*;

    #[test]
    fn a_lookup_finds_exactly_the_rows_a_loose_comparison_keeps() {
        let cells = [
            json!(5),
            json!(5.0),
            json!("5"),
            json!(" 5 "),
            json!("5.0"),
            json!(-0.0),
            json!(0),
            json!("0"),
            json!(true),
            json!("TRUE"),
            json!("true "),
            json!(false),
            json!(null),
            json!(""),
            json!("c-7"),
            json!(12345678901234567u64),
        ];
        let rows = RowSet {
            columns: vec![],
            rows: cells.iter().map(|c| vec![c.clone()]).collect(),
            comparisons: vec![],
            note: None,
            label: None,
        };
        let index = ColumnIndex::build(&rows, 0).unwrap();
        let wanted = [
            json!(5),
            json!("5"),
            json!("5.0"),
            json!(" 5"),
            json!(0),
            json!("-0"),
            json!(true),
            json!("true"),
            json!(false),
            json!(null),
            json!(""),
            json!("c-7"),
            json!("nothing"),
            json!(12345678901234567u64),
        ];
        for want in &wanted {
            let scanned: Vec<u32> =
                (0..cells.len() as u32).filter(|i| loosely_equal(&cells[*i as usize], want)).collect();
            assert_eq!(index.lookup(want).unwrap(), scanned, "{want}");
        }
        assert_eq!(index.lookup(&json!([5])), None);
        let with_array = RowSet { rows: vec![vec![json!([1])]], ..rows };
        assert!(ColumnIndex::build(&with_array, 0).is_none());
    }
}
