//! Uploaded datasets: reading a CSV or JSON upload into typed rows, keeping each upload's rows
//! as one JSON document in the blob store behind the metadata in the table, and the `dataset`
//! source's equality filter.
//!
//! Replacing a dataset never leaves readers without rows: the new document is written under a
//! fresh key first, then the metadata is switched to it (conditioned on the version read),
//! and only then is the old document deleted.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::template::Bindings;
use super::{ColumnMeta, ColumnType, RowSet, SourceError};
use crate::blob::{BlobError, Blobs};
use crate::domain::{Code, Dataset, DatasetFormat, FieldError, ValidationErrors, WorkspaceId};
use crate::store::{Store, StoreError};

/// Most rows a dataset may hold.
pub const MAX_ROWS: usize = 100_000;
/// Most columns a dataset may have.
pub const MAX_COLUMNS: usize = 200;
/// Largest stored row document.
pub const MAX_DOCUMENT_BYTES: usize = 32 * 1024 * 1024;
/// Longest column name.
const MAX_COLUMN_NAME: usize = 128;
/// Problems reported at most per upload (the rest are summarised).
const MAX_REPORTED: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    #[error("the dataset is larger than {} MiB once stored", MAX_DOCUMENT_BYTES / 1024 / 1024)]
    TooLarge,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("dataset storage failed: {0}")]
    Blob(#[from] BlobError),
    #[error("the stored rows of dataset `{code}` are unreadable: {message}")]
    Corrupt { code: String, message: String },
}

/// Collects upload problems, keeping the first few.
#[derive(Default)]
struct Problems {
    errors: Vec<FieldError>,
    more: usize,
}

impl Problems {
    fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        if self.errors.len() < MAX_REPORTED {
            self.errors.push(FieldError::new(field, message));
        } else {
            self.more += 1;
        }
    }

    fn is_full(&self) -> bool {
        self.errors.len() >= MAX_REPORTED
    }

    fn finish(mut self) -> Result<(), ValidationErrors> {
        if self.more > 0 {
            self.errors.push(FieldError::new("body", format!("and {} more problems", self.more)));
        }
        ValidationErrors::into_result(self.errors)
    }
}

fn check_column_names<'a>(names: impl Iterator<Item = &'a str>, field: &str, problems: &mut Problems) {
    let mut seen = HashSet::new();
    for (i, name) in names.enumerate() {
        if name.trim().is_empty() {
            problems.push(format!("{field}[{i}]"), "a column has no name");
        } else if name.chars().count() > MAX_COLUMN_NAME {
            problems.push(format!("{field}[{i}]"), "column names are at most 128 characters");
        } else if !seen.insert(name) {
            problems.push(format!("{field}[{i}]"), format!("column `{name}` appears twice"));
        }
    }
    if seen.len() > MAX_COLUMNS {
        problems.push(field, format!("at most {MAX_COLUMNS} columns"));
    }
}

/// Reads a CSV upload: a header row naming the columns, then one record per row. Each
/// column is typed from its cells: numbers, booleans (`true`/`false`), dates, timestamps,
/// else text; an empty cell is null. Numbers with leading zeros (`007`) keep a column text.
pub fn parse_csv(body: &[u8]) -> Result<RowSet, ValidationErrors> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let mut problems = Problems::default();
    if std::str::from_utf8(body).is_err() {
        problems.push("body", "must be UTF-8 text");
        return problems.finish().map(|()| RowSet::default());
    }
    let mut reader = csv::ReaderBuilder::new().flexible(true).has_headers(true).from_reader(body);
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|name| name.trim().to_string()).collect(),
        Err(e) => {
            problems.push("line 1", format!("cannot read the header row: {e}"));
            return problems.finish().map(|()| RowSet::default());
        }
    };
    if header.iter().all(String::is_empty) {
        problems.push("line 1", "the header row must name the columns");
        return problems.finish().map(|()| RowSet::default());
    }
    check_column_names(header.iter().map(String::as_str), "header", &mut problems);

    let mut cells: Vec<Vec<String>> = Vec::new();
    for record in reader.records() {
        match record {
            Ok(record) => {
                let line = record.position().map_or(0, |p| p.line());
                if record.len() == 1 && record.get(0).is_some_and(str::is_empty) {
                    continue; // a blank line
                }
                if record.len() != header.len() {
                    problems.push(
                        format!("line {line}"),
                        format!("has {} values, the header has {}", record.len(), header.len()),
                    );
                } else if cells.len() == MAX_ROWS {
                    problems.push(format!("line {line}"), format!("a dataset holds at most {MAX_ROWS} rows"));
                    break;
                } else {
                    cells.push(record.iter().map(str::to_string).collect());
                }
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                problems.push(format!("line {line}"), format!("is not valid CSV: {e}"));
            }
        }
        if problems.is_full() {
            break;
        }
    }
    problems.finish()?;

    let kinds: Vec<ColumnType> =
        (0..header.len()).map(|j| csv_column_type(cells.iter().map(|r| r[j].as_str()))).collect();
    let rows = cells
        .into_iter()
        .map(|record| record.into_iter().zip(&kinds).map(|(cell, kind)| csv_value(cell, *kind)).collect())
        .collect();
    let columns = header.into_iter().zip(kinds).map(|(name, kind)| ColumnMeta { name, kind }).collect();
    Ok(RowSet { columns, rows, comparisons: vec![], note: None, label: None })
}

/// A number as people write them in CSV: optional sign, digits without a leading zero, an
/// optional fraction and exponent.
fn is_csv_number(cell: &str) -> bool {
    let digits = cell.strip_prefix(['-', '+']).unwrap_or(cell);
    let mantissa = digits.split(['e', 'E']).next().unwrap_or_default();
    let whole = mantissa.split('.').next().unwrap_or_default();
    let leading_zero = whole.len() > 1 && whole.starts_with('0');
    !digits.is_empty()
        && digits.starts_with(|c: char| c.is_ascii_digit())
        && digits.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        && !leading_zero
        && cell.parse::<f64>().is_ok_and(f64::is_finite)
}

fn is_csv_bool(cell: &str) -> bool {
    cell.eq_ignore_ascii_case("true") || cell.eq_ignore_ascii_case("false")
}

fn csv_column_type<'a>(cells: impl Iterator<Item = &'a str>) -> ColumnType {
    let mut kind: Option<ColumnType> = None;
    for cell in cells.map(str::trim).filter(|c| !c.is_empty()) {
        let this = if is_csv_number(cell) {
            ColumnType::Number
        } else if is_csv_bool(cell) {
            ColumnType::Boolean
        } else if cell.len() == 10 && chrono::NaiveDate::parse_from_str(cell, "%Y-%m-%d").is_ok() {
            ColumnType::Date
        } else if DateTime::parse_from_rfc3339(cell).is_ok() {
            ColumnType::Timestamp
        } else {
            return ColumnType::Text;
        };
        match kind {
            None => kind = Some(this),
            Some(k) if k == this => {}
            Some(_) => return ColumnType::Text,
        }
    }
    kind.unwrap_or(ColumnType::Text)
}

fn csv_value(cell: String, kind: ColumnType) -> Value {
    let trimmed = cell.trim();
    if trimmed.is_empty() {
        return Value::Null;
    }
    match kind {
        ColumnType::Number => match trimmed.parse::<i64>() {
            Ok(n) => json!(n),
            Err(_) => trimmed.parse::<f64>().map_or(Value::Null, |f| json!(f)),
        },
        ColumnType::Boolean => Value::Bool(trimmed.eq_ignore_ascii_case("true")),
        ColumnType::Date | ColumnType::Timestamp | ColumnType::Decimal => Value::String(trimmed.to_string()),
        ColumnType::Text => Value::String(cell),
    }
}

/// Reads a JSON upload: an array of objects, one per row (columns in first-seen order, typed
/// from their values).
pub fn parse_json(body: &[u8]) -> Result<RowSet, ValidationErrors> {
    let mut problems = Problems::default();
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            problems.push("body", format!("is not valid JSON: {e}"));
            return problems.finish().map(|()| RowSet::default());
        }
    };
    let Value::Array(items) = value else {
        problems.push("body", "must be a JSON array of objects, one per row");
        return problems.finish().map(|()| RowSet::default());
    };
    if items.len() > MAX_ROWS {
        problems.push("body", format!("a dataset holds at most {MAX_ROWS} rows"));
        return problems.finish().map(|()| RowSet::default());
    }
    let mut objects = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        match item {
            Value::Object(object) => objects.push(object),
            _ => problems.push(format!("[{i}]"), "must be an object"),
        }
        if problems.is_full() {
            break;
        }
    }
    problems.finish()?;
    let rows = RowSet::from_objects(objects);
    let mut problems = Problems::default();
    check_column_names(rows.columns.iter().map(|c| c.name.as_str()), "columns", &mut problems);
    problems.finish()?;
    Ok(rows)
}

/// The blob key of one upload of a dataset.
fn blob_key(ws: WorkspaceId, code: &Code, now: DateTime<Utc>) -> String {
    format!(
        "datasets/{ws}/{code}/{}.json",
        ulid::Ulid::from_parts(now.timestamp_millis().max(0) as u64, rand::random())
    )
}

/// An upload, parsed.
pub struct Upload {
    pub rows: RowSet,
    pub format: DatasetFormat,
    /// The uploaded body, for its size and hash.
    pub body: Bytes,
}

/// Creates or replaces dataset `code` with `upload`; returns the stored metadata and whether
/// it was created.
pub async fn save(
    store: &Store,
    blobs: &dyn Blobs,
    ws: WorkspaceId,
    code: &Code,
    upload: Upload,
    now: DateTime<Utc>,
) -> Result<(Dataset, bool), DatasetError> {
    let document = serde_json::to_vec(&upload.rows)
        .map_err(|e| DatasetError::Corrupt { code: code.to_string(), message: e.to_string() })?;
    if document.len() > MAX_DOCUMENT_BYTES {
        return Err(DatasetError::TooLarge);
    }
    let key = blob_key(ws, code, now);
    blobs.put(&key, Bytes::from(document), "application/json").await?;

    let mut outcome = Err(DatasetError::Store(StoreError::Conflict(format!(
        "dataset `{code}` is being replaced by other uploads at the same time; retry"
    ))));
    for _ in 0..5 {
        let current = match store.find_dataset(ws, code).await {
            Ok(current) => current,
            Err(e) => {
                outcome = Err(e.into());
                break;
            }
        };
        let dataset = Dataset {
            workspace_id: ws,
            code: code.clone(),
            columns: upload.rows.columns.clone(),
            row_count: upload.rows.len() as u64,
            format: upload.format,
            size_bytes: upload.body.len() as u64,
            sha256: hex::encode(Sha256::digest(&upload.body)),
            blob_key: key.clone(),
            created_at: current.as_ref().map_or(now, |c| c.created_at),
            updated_at: now,
            version: current.as_ref().map_or(0, |c| c.version),
        };
        match store.put_dataset(&dataset, current.as_ref().map(|c| c.version)).await {
            Ok(saved) => {
                if let Some(old) = &current {
                    forget_blob(blobs, &old.blob_key).await;
                }
                return Ok((saved, current.is_none()));
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => {
                outcome = Err(e.into());
                break;
            }
        }
    }
    forget_blob(blobs, &key).await;
    outcome
}

/// Deletes a blob nothing points at any more; a failure only leaves an orphan behind.
async fn forget_blob(blobs: &dyn Blobs, key: &str) {
    if let Err(e) = blobs.delete(key).await {
        tracing::warn!(error = %e, key, "could not delete a replaced dataset document");
    }
}

/// Deletes dataset `code` and its rows.
pub async fn delete(store: &Store, blobs: &dyn Blobs, ws: WorkspaceId, code: &Code) -> Result<(), DatasetError> {
    let dataset = store.get_dataset(ws, code).await?;
    store.delete_dataset(ws, code, dataset.version).await?;
    forget_blob(blobs, &dataset.blob_key).await;
    Ok(())
}

/// The rows of a dataset's current upload.
pub async fn load(blobs: &dyn Blobs, dataset: &Dataset) -> Result<RowSet, DatasetError> {
    let corrupt = |message: String| DatasetError::Corrupt { code: dataset.code.to_string(), message };
    let bytes = blobs.get(&dataset.blob_key).await.map_err(|e| match e {
        BlobError::NotFound(_) => corrupt("the rows document is missing".into()),
        other => DatasetError::Blob(other),
    })?;
    serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))
}

/// Parsed uploads most recently read, newest first: a run reads the same upload once per
/// entry, and parsing it each time would cost more than the entry's own work. Uploads never
/// change under their blob key and hash, so a hit is always current; at most
/// [`PARSED_UPLOADS`] are held.
static PARSED: std::sync::Mutex<Vec<(String, Arc<RowSet>)>> = std::sync::Mutex::new(Vec::new());

/// Parsed uploads held for reuse.
const PARSED_UPLOADS: usize = 4;

/// The rows of a dataset's current upload, parsed once and shared while it is read often.
pub async fn load_shared(blobs: &dyn Blobs, dataset: &Dataset) -> Result<Arc<RowSet>, DatasetError> {
    let key = format!("{}#{}", dataset.blob_key, dataset.sha256);
    let cached = |parsed: &mut Vec<(String, Arc<RowSet>)>| {
        let at = parsed.iter().position(|(k, _)| *k == key)?;
        let hit = parsed.remove(at);
        let rows = hit.1.clone();
        parsed.insert(0, hit);
        Some(rows)
    };
    if let Some(rows) = PARSED.lock().ok().and_then(|mut parsed| cached(&mut parsed)) {
        return Ok(rows);
    }
    let rows = Arc::new(load(blobs, dataset).await?);
    if let Ok(mut parsed) = PARSED.lock() {
        parsed.retain(|(k, _)| *k != key);
        parsed.insert(0, (key, rows.clone()));
        parsed.truncate(PARSED_UPLOADS);
    }
    Ok(rows)
}

/// The rows whose columns equal the filter's values (placeholders filled from the run).
/// Values compare loosely: `"5"` matches the number 5, `"true"` the boolean, null only null.
/// A shared upload is looked up in an index of the first filtered column (built once, see
/// [`super::column_index`]) rather than scanned.
pub fn filter(rows: &Arc<RowSet>, filter: &Map<String, Value>, bindings: &Bindings<'_>) -> Result<RowSet, SourceError> {
    let mut wanted = Vec::with_capacity(filter.len());
    for (column, value) in filter {
        let j = rows.column(column).ok_or_else(|| SourceError::UnknownColumn {
            column: column.clone(),
            columns: rows.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>().join(", "),
        })?;
        let value = bindings.expand_value(value).map_err(|e| SourceError::Template { field: "filter", source: e })?;
        wanted.push((j, value));
    }
    let holds =
        |row: &Vec<Value>| wanted.iter().all(|(j, value)| loosely_equal(row.get(*j).unwrap_or(&Value::Null), value));
    let found = wanted.first().and_then(|(j, value)| Option::as_ref(&super::column_index::of(rows, *j))?.lookup(value));
    let kept = match found {
        Some(found) => {
            found.into_iter().filter_map(|i| rows.rows.get(i as usize)).filter(|r| holds(r)).cloned().collect()
        }
        None => rows.rows.iter().filter(|r| holds(r)).cloned().collect(),
    };
    Ok(RowSet {
        columns: rows.columns.clone(),
        rows: kept,
        comparisons: rows.comparisons.clone(),
        note: rows.note.clone(),
        label: rows.label.clone(),
    })
}

/// Whether a cell holds the value a filter wants, numbers and booleans also matching their text.
pub(super) fn loosely_equal(cell: &Value, wanted: &Value) -> bool {
    match (cell, wanted) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Number(a), Value::String(b)) | (Value::String(b), Value::Number(a)) => {
            b.trim().parse::<f64>().is_ok_and(|b| a.as_f64() == Some(b))
        }
        (Value::Bool(a), Value::String(b)) | (Value::String(b), Value::Bool(a)) => {
            b.eq_ignore_ascii_case(if *a { "true" } else { "false" })
        }
        (a, b) => a == b,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeZone;

    use super::*;
    use crate::blob::FsBlobs;
    use crate::store::sqlite::SqliteTable;
    use crate::testing::fixtures;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 8, 0, 0).unwrap()
    }

    fn kinds(rows: &RowSet) -> Vec<(&str, ColumnType)> {
        rows.columns.iter().map(|c| (c.name.as_str(), c.kind)).collect()
    }

    #[test]
    fn csv_columns_are_typed_from_their_cells_and_empty_cells_are_null() {
        let rows = parse_csv(
            "\u{feff}id,balance,vip,since,zip,note\n\
             c1,12.5,true,2024-01-31,007,hello\n\
             c2,-3,FALSE,,10115,\n\
             c3,,true,2024-02-01,,\"a, b\"\n"
                .as_bytes(),
        )
        .unwrap();
        use ColumnType::*;
        assert_eq!(
            kinds(&rows),
            [("id", Text), ("balance", Number), ("vip", Boolean), ("since", Date), ("zip", Text), ("note", Text)]
        );
        assert_eq!(
            rows.rows[0],
            vec![json!("c1"), json!(12.5), json!(true), json!("2024-01-31"), json!("007"), json!("hello")]
        );
        assert_eq!(rows.rows[1], vec![json!("c2"), json!(-3), json!(false), Value::Null, json!("10115"), Value::Null]);
        assert_eq!(rows.rows[2][5], json!("a, b"));
    }

    #[test]
    fn a_ragged_or_badly_headed_csv_is_refused_with_the_lines_at_fault() {
        let err = parse_csv(b"id,id,\n1,2,3\n4,5\n").unwrap_err();
        let fields: Vec<_> = err.0.iter().map(|e| (e.field.as_str(), e.message.as_str())).collect();
        assert_eq!(
            fields,
            [
                ("header[1]", "column `id` appears twice"),
                ("header[2]", "a column has no name"),
                ("line 3", "has 2 values, the header has 3")
            ]
        );
        assert!(parse_csv(b"\xff\xfe").is_err());
    }

    #[test]
    fn json_uploads_are_arrays_of_objects() {
        let rows = parse_json(br#"[{"region": "EU", "n": 1}, {"region": "US", "n": 2, "extra": null}]"#).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows.columns.len(), 3);
        let err = parse_json(br#"[{"a": 1}, 2]"#).unwrap_err();
        assert_eq!(err.0[0].field, "[1]");
        assert_eq!(parse_json(br#"{"a": 1}"#).unwrap_err().0[0].field, "body");
    }

    #[test]
    fn a_filter_keeps_equal_rows_with_values_from_the_run() {
        let rows = Arc::new(parse_csv(b"region,n,active\nEU,1,true\nUS,2,false\nEU,3,false\n").unwrap());
        let parameters: Map<String, Value> = serde_json::from_value(json!({"region": "EU"})).unwrap();
        let bindings = Bindings { parameters: &parameters, data: &Value::Null };
        let wanted: Map<String, Value> =
            serde_json::from_value(json!({"region": "{region}", "active": "false"})).unwrap();
        let kept = filter(&rows, &wanted, &bindings).unwrap();
        assert_eq!(kept.rows, vec![vec![json!("EU"), json!(3), json!(false)]]);
        let by_number: Map<String, Value> = serde_json::from_value(json!({"n": "2"})).unwrap();
        assert_eq!(filter(&rows, &by_number, &bindings).unwrap().len(), 1);
        let unknown: Map<String, Value> = serde_json::from_value(json!({"country": "EU"})).unwrap();
        let err = filter(&rows, &unknown, &bindings).unwrap_err();
        assert_eq!(err.to_string(), "the dataset has no column `country` (its columns: region, n, active)");
    }

    #[tokio::test]
    async fn replacing_a_dataset_switches_to_the_new_rows_and_deletes_the_old_document() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = FsBlobs::new(dir.path().to_path_buf(), "http://127.0.0.1".into(), vec![7; 32]);
        let store = Store::new(Arc::new(SqliteTable::in_memory().unwrap()));
        let ws = store.create_workspace(&fixtures::workspace("ds", now())).await.unwrap();
        let code = Code::parse("customers").unwrap();
        let upload = |text: &'static str| Upload {
            rows: parse_csv(text.as_bytes()).unwrap(),
            format: DatasetFormat::Csv,
            body: Bytes::from_static(text.as_bytes()),
        };

        let (first, created) = save(&store, &blobs, ws.id, &code, upload("id\n1\n2\n"), now()).await.unwrap();
        assert!(created);
        assert_eq!((first.row_count, first.version), (2, 1));
        let later = now() + chrono::Duration::minutes(1);
        let (second, created) = save(&store, &blobs, ws.id, &code, upload("id,name\n3,c\n"), later).await.unwrap();
        assert!(!created);
        assert_eq!((second.row_count, second.version, second.created_at, second.updated_at), (1, 2, now(), later));
        assert_eq!(load(&blobs, &second).await.unwrap().rows, vec![vec![json!(3), json!("c")]]);
        assert!(matches!(blobs.get(&first.blob_key).await, Err(BlobError::NotFound(_))));
        assert_eq!(blobs.list(&format!("datasets/{}/", ws.id)).await.unwrap(), vec![second.blob_key.clone()]);

        delete(&store, &blobs, ws.id, &code).await.unwrap();
        assert!(store.find_dataset(ws.id, &code).await.unwrap().is_none());
        assert!(blobs.list(&format!("datasets/{}/", ws.id)).await.unwrap().is_empty());
    }
}
