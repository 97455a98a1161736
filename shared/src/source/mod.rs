//! Data sources → typed rows. Every source kind of a report (the interaction analytics,
//! uploaded datasets, JSON endpoints, inline rows) yields a [`RowSet`]: named, typed columns and
//! positional rows, which sections, narration and per-row delivery read.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The type of a column, inferred from its values or declared by the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    Text,
    Number,
    /// An exact decimal number kept as its digits (`1234567890123456.1234`), as databases'
    /// `numeric`/`decimal` columns hold money.
    Decimal,
    Boolean,
    /// `YYYY-MM-DD` text.
    Date,
    /// RFC 3339 text.
    Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// Which column names the rows for people, and which id it stands for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<label::RowLabel>,
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
        RowSet { columns, rows, comparisons: vec![], note: None, label: None }
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

    /// The numbers of column `j` (non-numeric cells skipped; a decimal column's digits read
    /// as the nearest float, for sums, charts and comparisons).
    pub fn numbers(&self, j: usize) -> impl Iterator<Item = f64> + '_ {
        let decimal = self.columns.get(j).is_some_and(|c| c.kind == ColumnType::Decimal);
        self.rows.iter().filter_map(move |r| match r.get(j) {
            Some(Value::String(digits)) if decimal => digits.parse().ok(),
            other => other.and_then(Value::as_f64),
        })
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

// ----- fetching -----

pub mod analytics;
mod column_index;
pub mod dataset;
pub mod health;
pub mod http;
pub mod label;
pub mod sql;
pub mod template;

use chrono::NaiveDate;

use crate::blob::Blobs;
use crate::domain::{Code, CustomerSegment, Period, RunTime, Segment, SourceKind, SourceSpec, Workspace};
use crate::net::{NetError, NetworkPolicy, OutboundHttp};
use std::collections::HashSet;
use std::sync::Arc;

use crate::store::{PageRequest, Store, StoreError};
use template::{Bindings, TemplateError};

/// The run parameter that moves the analytics window's last day (`YYYY-MM-DD`).
pub const AS_OF_PARAMETER: &str = "as_of";

/// What a source is fetched with: the ports, the workspace, and the run's inputs.
pub struct SourceContext<'a> {
    pub store: &'a Store,
    pub blobs: &'a dyn Blobs,
    pub http: &'a OutboundHttp,
    /// The pools of the workspace connections `sql` sources read.
    pub databases: &'a sql::Databases,
    pub workspace: &'a Workspace,
    /// The run's resolved parameter values.
    pub parameters: &'a Map<String, Value>,
    /// The run's free-form data payload (`{data.…}` in templates).
    pub data: &'a Value,
    /// The instant the run stands for and its zone ([`crate::domain::Run::time`]): analytics
    /// periods are days of that zone.
    pub time: RunTime,
}

impl SourceContext<'_> {
    pub fn bindings(&self) -> Bindings<'_> {
        Bindings { parameters: self.parameters, data: self.data }
    }

    /// The last day an analytics period covers: the `as_of` parameter if the run has one (a
    /// day its author chose), else the run's day for `today` or when asked to include it, else
    /// the day before it — the last complete day, so a run in the morning does not compare
    /// a few hours against a whole day.
    pub fn last_day(&self, period: Period, include_today: bool) -> Result<NaiveDate, SourceError> {
        match self.parameters.get(AS_OF_PARAMETER) {
            None | Some(Value::Null) if period == Period::Today || include_today => Ok(self.time.day()),
            None | Some(Value::Null) => Ok(self.time.day().pred_opt().unwrap_or(NaiveDate::MIN)),
            Some(Value::String(s)) => NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| SourceError::Parameter {
                name: AS_OF_PARAMETER,
                message: format!("must be a date (YYYY-MM-DD), not `{s}`"),
            }),
            Some(other) => Err(SourceError::Parameter {
                name: AS_OF_PARAMETER,
                message: format!("must be a date (YYYY-MM-DD), not {other}"),
            }),
        }
    }
}

/// Why a source could not be fetched, in words for the person reading the failed entry.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("dataset `{0}` does not exist in this workspace; upload it first")]
    DatasetNotFound(String),
    #[error("the dataset has no column `{column}` (its columns: {columns})")]
    UnknownColumn { column: String, columns: String },
    #[error("in the source's label: {0}")]
    Label(String),
    #[error("in the source's {field}: {source}")]
    Template {
        field: &'static str,
        #[source]
        source: TemplateError,
    },
    #[error("parameter `{name}` {message}")]
    Parameter { name: &'static str, message: String },
    #[error("the endpoint could not be reached: {0}")]
    Net(#[from] NetError),
    #[error("the endpoint answered HTTP {status}{hint}")]
    HttpStatus { status: u16, hint: &'static str },
    #[error("the endpoint's answer is not JSON: {0}")]
    NotJson(String),
    #[error("the endpoint's answer has the wrong shape: {0}")]
    Shape(String),
    #[error("could not read the data: {0}")]
    Store(#[from] StoreError),
    #[error("could not read the dataset: {0}")]
    Dataset(#[from] dataset::DatasetError),
    /// The query failed or was refused; the database engine's own words.
    #[error("the query: {0}")]
    Sql(String),
    /// The source needs something this build or deployment does not have.
    #[error("{0}")]
    Unavailable(&'static str),
}

/// The rows of one source of a report, for one run, named as the source's label says.
pub async fn fetch(ctx: &SourceContext<'_>, spec: &SourceSpec) -> Result<RowSet, SourceError> {
    let rows = fetch_rows(ctx, spec).await?;
    match &spec.label {
        Some(wanted) => label::apply(ctx, wanted, rows).await,
        None => Ok(rows),
    }
}

/// The segment with its customers' value filled from the run's parameters; without customers
/// when that value is empty (a dashboard's "all tiers").
fn filled_segment(ctx: &SourceContext<'_>, segment: &Segment) -> Result<Segment, SourceError> {
    let mut filled = segment.clone();
    if let Some(customers) = &mut filled.customers {
        let bindings = ctx.bindings();
        customers.equals = bindings
            .expand_value(&customers.equals)
            .map_err(|e| SourceError::Template { field: "segment", source: e })?;
        if customers.equals.is_null() || customers.equals.as_str().is_some_and(|s| s.trim().is_empty()) {
            filled.customers = None;
        }
    }
    Ok(filled)
}

/// The ids (as text) of the customers a segment's dataset picks.
async fn customer_ids(ctx: &SourceContext<'_>, customers: &CustomerSegment) -> Result<HashSet<String>, SourceError> {
    let rows = dataset_rows(ctx, &customers.dataset).await?;
    let column = |name: &str| {
        rows.column(name).ok_or_else(|| SourceError::UnknownColumn {
            column: name.to_owned(),
            columns: rows.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>().join(", "),
        })
    };
    let (key, picked) = (column(&customers.key)?, column(&customers.column)?);
    Ok(rows
        .rows
        .iter()
        .filter(|row| dataset::loosely_equal(&row[picked], &customers.equals))
        .filter_map(|row| match &row[key] {
            Value::Null => None,
            Value::String(id) => Some(id.clone()),
            other => Some(other.to_string()),
        })
        .collect())
}

/// Every row of the workspace's dataset `code` (shared: loaded once while in use).
async fn dataset_rows(ctx: &SourceContext<'_>, code: &Code) -> Result<Arc<RowSet>, SourceError> {
    let meta = match ctx.store.get_dataset(ctx.workspace.id, code).await {
        Ok(meta) => meta,
        Err(StoreError::NotFound { .. }) => return Err(SourceError::DatasetNotFound(code.to_string())),
        Err(e) => return Err(e.into()),
    };
    Ok(dataset::load_shared(ctx.blobs, &meta).await?)
}

async fn fetch_rows(ctx: &SourceContext<'_>, spec: &SourceSpec) -> Result<RowSet, SourceError> {
    let ws = ctx.workspace.id;
    match &spec.kind {
        SourceKind::OfferPerformance { period, include_today, segment }
        | SourceKind::ChannelEffectiveness { period, include_today, segment } => {
            let window = analytics::Window::new(*period, ctx.last_day(*period, *include_today)?, ctx.time.zone);
            let segment = filled_segment(ctx, segment)?;
            let periods = match &segment.customers {
                None => analytics::Periods::read(ctx.store, ws, &window).await?,
                Some(customers) => {
                    let ids = customer_ids(ctx, customers).await?;
                    analytics::Periods::read_customers(ctx.store, ws, &window, &ids).await?
                }
            };
            let periods = periods.only(&segment);
            let window = window.with_segment(&segment);
            Ok(match spec.kind {
                SourceKind::OfferPerformance { .. } => analytics::offer_performance(&periods, &window),
                _ => analytics::channel_effectiveness(&periods, &window),
            })
        }
        SourceKind::IngestHealth { period, include_today } => {
            let window = analytics::Window::new(*period, ctx.last_day(*period, *include_today)?, ctx.time.zone);
            let (from, to) = window.current_span();
            let log = ctx.store.ingest_log_between(ws, from, to).await?;
            Ok(health::ingest_by_day(&log, &window))
        }
        SourceKind::DataFreshness {} => {
            let (last_received_at, summaries_through, export) = futures::try_join!(
                ctx.store.last_received_at(ws),
                ctx.store.summaries_through(ws),
                ctx.store.export_checkpoint(ws)
            )?;
            let freshness = health::Freshness {
                now: ctx.time.at,
                zone: ctx.time.zone,
                last_received_at,
                summaries_through,
                export,
            };
            Ok(freshness.row_set())
        }
        SourceKind::Dataset { dataset: code, filter } => {
            let rows = dataset_rows(ctx, code).await?;
            dataset::filter(&rows, filter, &ctx.bindings())
        }
        SourceKind::Http { url, header_name, header_secret, timeout_ms, max_bytes } => {
            let source = http::HttpSource {
                url,
                header_name: header_name.as_deref(),
                header_secret: header_secret.as_ref(),
                timeout_ms: *timeout_ms,
                max_bytes: *max_bytes,
            };
            let policy = NetworkPolicy::of(&ctx.workspace.settings.network);
            http::fetch(ctx.http, &policy, &ctx.bindings(), &source).await
        }
        SourceKind::Sql { connection, query } if connection == sql::DATASETS_CONNECTION => {
            let bound = sql::bind(query, &ctx.bindings(), sql::Placeholder::Numbered)?;
            let tables = datasets_named(ctx, query).await?;
            tokio::task::spawn_blocking(move || sql::datasets::run(&tables, &bound, sql::datasets::QUERY_TIMEOUT))
                .await
                .map_err(|_| SourceError::Sql("the query stopped unexpectedly".into()))?
        }
        SourceKind::Sql { connection, query } => {
            let connection = match ctx.store.resolve_connection(ws, connection).await {
                Ok(connection) => connection,
                Err(StoreError::NotFound { .. }) => {
                    return Err(SourceError::Sql(format!("no connection named `{connection}` in this workspace")));
                }
                Err(e) => return Err(e.into()),
            };
            let policy = NetworkPolicy::of(&ctx.workspace.settings.network);
            ctx.databases.query(&connection, &policy, query, &ctx.bindings()).await
        }
        SourceKind::Inline { rows } => {
            let bindings = ctx.bindings();
            let objects = rows
                .iter()
                .map(|row| match bindings.expand_value(&Value::Object(row.clone())) {
                    Ok(Value::Object(object)) => Ok(object),
                    Ok(_) => Ok(row.clone()),
                    Err(e) => Err(SourceError::Template { field: "rows", source: e }),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(RowSet::from_objects(objects))
        }
    }
}

/// The workspace's datasets whose code the query names (as written, or with `_` for `-`), with
/// their rows: the tables a query on the `datasets` connection sees.
async fn datasets_named(ctx: &SourceContext<'_>, query: &str) -> Result<Vec<(String, Arc<RowSet>)>, SourceError> {
    let text = query.to_ascii_lowercase();
    let mut tables = Vec::new();
    let mut page = PageRequest::first(200);
    loop {
        let listing = ctx.store.list_datasets(ctx.workspace.id, &page).await?;
        for meta in &listing.items {
            let code = meta.code.as_str();
            if text.contains(code) || text.contains(&code.replace('-', "_")) {
                tables.push((code.to_string(), dataset::load_shared(ctx.blobs, meta).await?));
            }
        }
        match listing.cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => return Ok(tables),
        }
    }
}

#[cfg(test)]
mod fetch_tests {
    use std::sync::Arc;

    use axum::Router;
    use axum::routing::get;
    use bytes::Bytes;
    use chrono::{DateTime, TimeZone, Utc};
    use serde_json::json;

    use super::*;
    use crate::blob::FsBlobs;
    use crate::domain::{Code, DatasetFormat, FieldError, IngestTally, Interaction, parse_interaction};
    use crate::store::sqlite::SqliteTable;
    use crate::testing::fixtures;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 8, 0, 0).unwrap()
    }

    struct Fixture {
        store: Store,
        blobs: FsBlobs,
        http: OutboundHttp,
        databases: sql::Databases,
        workspace: Workspace,
        _dir: tempfile::TempDir,
    }

    impl Fixture {
        async fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let blobs = FsBlobs::new(dir.path().to_path_buf(), "http://127.0.0.1".into(), vec![7; 32]);
            let store = Store::new(Arc::new(SqliteTable::in_memory().unwrap()));
            let workspace = store.create_workspace(&fixtures::workspace("sources", now())).await.unwrap();
            Self { store, blobs, http: OutboundHttp::new(), databases: sql::Databases::new(), workspace, _dir: dir }
        }

        async fn fetch(&self, spec: Value, parameters: Value) -> Result<RowSet, SourceError> {
            self.fetch_at(spec, parameters, RunTime::new(now(), chrono_tz::Tz::UTC)).await
        }

        async fn fetch_at(&self, spec: Value, parameters: Value, time: RunTime) -> Result<RowSet, SourceError> {
            let spec: SourceSpec = serde_json::from_value(spec).unwrap();
            let parameters = parameters.as_object().cloned().unwrap_or_default();
            let data = json!({"customer": {"id": "c-7"}});
            let ctx = SourceContext {
                store: &self.store,
                blobs: &self.blobs,
                http: &self.http,
                databases: &self.databases,
                workspace: &self.workspace,
                parameters: &parameters,
                data: &data,
                time,
            };
            fetch(&ctx, &spec).await
        }

        fn interaction(&self, v: Value) -> Interaction {
            parse_interaction(&v, "i", self.workspace.id, now()).map_err(|e: Vec<FieldError>| e).unwrap()
        }
    }

    #[tokio::test]
    async fn offer_performance_ends_with_the_last_complete_day_unless_asked_to_include_today() {
        let f = Fixture::new().await;
        let event = |day: &str, kind: &str| {
            json!({"customer_id": "c", "type": kind, "offer_id": "o1", "offer_kind": "bogo", "channel": "email",
                   "occurred_at": format!("{day}T12:00:00Z")})
        };
        let batch: Vec<Interaction> = [
            event("2026-11-22", "received"),
            event("2026-11-22", "completed"),
            event("2026-11-16", "completed"),
            event("2026-11-15", "completed"),
        ]
        .into_iter()
        .map(|v| f.interaction(v))
        .collect();
        f.store.ingest_interactions(&batch).await.unwrap();

        // The run's day is the 22nd, not over yet: seven days to the 21st, against the seven before.
        let rows =
            f.fetch(json!({"name": "offers", "type": "offer_performance", "period": "7d"}), json!({})).await.unwrap();
        assert_eq!(
            rows.note.as_deref(),
            Some("7 days from 15 Nov 2026 to 21 Nov 2026 (UTC), against the 7 days before (8 Nov 2026 to 14 Nov 2026)")
        );
        let row = rows.row_object(0).unwrap();
        assert_eq!((row["completed"].clone(), row["previous_completed"].clone()), (json!(2), json!(0)));
        assert_eq!(row["received"], json!(0), "the day so far is not counted");
        assert_eq!(row["offer_kind"], json!("bogo"));

        // Asked to, the period takes in the day so far.
        let spec = json!({"name": "offers", "type": "offer_performance", "period": "7d", "include_today": true});
        let rows = f.fetch(spec, json!({})).await.unwrap();
        let row = rows.row_object(0).unwrap();
        assert_eq!((row["completed"].clone(), row["previous_completed"].clone()), (json!(2), json!(1)));
        assert_eq!(row["completed_change"], json!(1.0));
        assert_eq!(row["received"], json!(1));

        // As of the 15th, only that day's completion is current, and nothing came before.
        let rows = f
            .fetch(
                json!({"name": "offers", "type": "offer_performance", "period": "today"}),
                json!({"as_of": "2026-11-15"}),
            )
            .await
            .unwrap();
        let row = rows.row_object(0).unwrap();
        assert_eq!((row["completed"].clone(), row["completed_change"].clone()), (json!(1), Value::Null));
        assert_eq!(rows.note.as_deref(), Some("15 Nov 2026 (UTC), against the day before (14 Nov 2026)"));

        let channels =
            f.fetch(json!({"name": "c", "type": "channel_effectiveness", "period": "14d"}), json!({})).await.unwrap();
        assert_eq!(channels.row_object(0).unwrap()["completed"], json!(2), "the 15th and 16th, not the 22nd");
    }

    #[tokio::test]
    async fn periods_are_days_of_the_run_timezone_including_a_25_hour_day() {
        let f = Fixture::new().await;
        let event = |at: &str| json!({"customer_id": "c", "type": "completed", "offer_id": "o1", "channel": "email", "occurred_at": at});
        let batch: Vec<Interaction> = [
            "2026-11-01T03:30:00Z", // 31 Oct, 23:30 EDT: the day before
            "2026-11-01T04:10:00Z", // 1 Nov, 00:10 EDT
            "2026-11-02T04:30:00Z", // 1 Nov, 23:30 EST: the 25th hour of the day clocks went back
            "2026-11-02T05:10:00Z", // 2 Nov, 00:10 EST: the run's own day, not complete yet
        ]
        .into_iter()
        .map(|at| f.interaction(event(at)))
        .collect();
        f.store.ingest_interactions(&batch).await.unwrap();

        let new_york = RunTime::new("2026-11-02T14:00:00Z".parse().unwrap(), chrono_tz::America::New_York);
        let spec = json!({"name": "offers", "type": "offer_performance", "period": "today"});
        let as_of = json!({"as_of": "2026-11-01"});
        let rows = f.fetch_at(spec.clone(), as_of.clone(), new_york).await.unwrap();
        assert_eq!(rows.note.as_deref(), Some("1 Nov 2026 (America/New_York), against the day before (31 Oct 2026)"));
        let row = rows.row_object(0).unwrap();
        assert_eq!((row["completed"].clone(), row["previous_completed"].clone()), (json!(2), json!(1)));

        // In UTC, 1 November holds the first two and the 31st nothing.
        let rows =
            f.fetch_at(spec.clone(), as_of.clone(), RunTime::new(new_york.at, chrono_tz::Tz::UTC)).await.unwrap();
        let row = rows.row_object(0).unwrap();
        assert_eq!((row["completed"].clone(), row["previous_completed"].clone()), (json!(2), json!(0)));

        // Kathmandu (+05:45): 1 Nov there is 31 Oct 18:15 to 1 Nov 18:15 UTC, so again the first two.
        let kathmandu = RunTime::new("2026-11-02T03:00:00Z".parse().unwrap(), chrono_tz::Asia::Kathmandu);
        let rows = f.fetch_at(spec, as_of, kathmandu).await.unwrap();
        let row = rows.row_object(0).unwrap();
        assert_eq!((row["completed"].clone(), row["previous_completed"].clone()), (json!(2), json!(0)));
    }

    #[tokio::test]
    async fn a_segment_counts_only_its_channel_or_kind_of_offer_and_says_so() {
        let f = Fixture::new().await;
        let event = |channel: &str, kind: &str| {
            json!({"customer_id": "c", "type": "completed", "offer_id": format!("{kind}-1"), "offer_kind": kind,
                   "channel": channel, "occurred_at": "2026-11-21T12:00:00Z"})
        };
        let batch: Vec<Interaction> = [event("email", "bogo"), event("email", "discount"), event("web", "bogo")]
            .into_iter()
            .map(|v| f.interaction(v))
            .collect();
        f.store.ingest_interactions(&batch).await.unwrap();
        let completed = |rows: &RowSet| -> i64 {
            (0..rows.len()).map(|i| rows.row_object(i).unwrap()["completed"].as_i64().unwrap()).sum()
        };
        let all = f.fetch(json!({"name": "o", "type": "offer_performance"}), json!({})).await.unwrap();
        assert_eq!(completed(&all), 3);
        let email = json!({"name": "o", "type": "offer_performance", "segment": {"channel": "email"}});
        let rows = f.fetch(email, json!({})).await.unwrap();
        assert_eq!(completed(&rows), 2);
        assert!(rows.note.as_deref().unwrap().ends_with("; email only"), "{:?}", rows.note);
        let bogo = json!({"name": "c", "type": "channel_effectiveness", "segment": {"offer_kind": "bogo"}});
        let rows = f.fetch(bogo, json!({})).await.unwrap();
        assert_eq!((rows.len(), completed(&rows)), (2, 2), "email and web, one bogo each");
        let both =
            json!({"name": "c", "type": "channel_effectiveness", "segment": {"channel": "web", "offer_kind": "bogo"}});
        assert_eq!(completed(&f.fetch(both, json!({})).await.unwrap()), 1);
        let wrong = serde_json::from_value::<SourceSpec>(
            json!({"name": "c", "type": "channel_effectiveness", "segment": {"tier": "gold"}}),
        );
        assert!(wrong.is_err(), "an unknown segment field is refused");
    }

    #[tokio::test]
    async fn ingest_health_counts_batches_by_day_of_the_run_zone_with_a_row_for_every_day() {
        let f = Fixture::new().await;
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let ws = f.workspace.id;
        // 21 Nov 23:30 UTC is 22 Nov 05:15 in Kathmandu (+05:45); 22 Nov 18:30 UTC is 23 Nov there.
        f.store.log_ingest(ws, at("2026-11-21T23:30:00Z"), &IngestTally::stored(4, 0, 1)).await.unwrap();
        f.store.log_ingest(ws, at("2026-11-21T23:40:00Z"), &IngestTally::refused()).await.unwrap();
        f.store.log_ingest(ws, at("2026-11-20T09:00:00Z"), &IngestTally::stored(7, 2, 0)).await.unwrap();
        f.store.log_ingest(ws, at("2026-11-22T18:30:00Z"), &IngestTally::stored(1, 0, 0)).await.unwrap();

        let spec = json!({"name": "h", "type": "ingest_health", "period": "7d", "include_today": true});
        let kathmandu = RunTime::new(now(), "Asia/Kathmandu".parse().unwrap());
        let rows = f.fetch_at(spec.clone(), json!({}), kathmandu).await.unwrap();
        let days: Vec<Value> = rows.rows.iter().map(|r| r[0].clone()).collect();
        assert_eq!(days.len(), 7, "every day of the period: {days:?}");
        assert_eq!((days[0].clone(), days[6].clone()), (json!("2026-11-16"), json!("2026-11-22")));
        let row = |day: &str| rows.rows.iter().position(|r| r[0] == json!(day)).map(|i| rows.row_object(i).unwrap());
        let the_22nd = row("2026-11-22").unwrap();
        assert_eq!(
            [&the_22nd["batches"], &the_22nd["refused_batches"], &the_22nd["late_batches"], &the_22nd["received"]],
            [&json!(2), &json!(1), &json!(1), &json!(4)]
        );
        assert_eq!(the_22nd["late_batch_rate"], json!(1.0));
        let the_20th = row("2026-11-20").unwrap();
        assert_eq!((&the_20th["received"], &the_20th["duplicates"]), (&json!(7), &json!(2)));
        assert_eq!(row("2026-11-18").unwrap()["batches"], json!(0), "a quiet day shows as zeros");
        assert_eq!(row("2026-11-18").unwrap()["late_batch_rate"], Value::Null);
        assert!(rows.note.as_deref().unwrap().contains("16 Nov 2026 to 22 Nov 2026 (Asia/Kathmandu)"));

        // In UTC the refused batch and the late one fall on the 21st, and the 22nd is not complete yet.
        let utc = f.fetch(json!({"name": "h", "type": "ingest_health"}), json!({})).await.unwrap();
        assert_eq!(utc.rows.last().unwrap()[0], json!("2026-11-21"));
        assert_eq!(utc.row_object(utc.len() - 1).unwrap()["refused_batches"], json!(1));
    }

    #[tokio::test]
    async fn data_freshness_says_when_data_last_arrived_and_how_far_the_export_is_behind() {
        let f = Fixture::new().await;
        let spec = json!({"name": "f", "type": "data_freshness"});
        let empty = f.fetch(spec.clone(), json!({})).await.unwrap();
        let nothing = empty.row_object(0).unwrap();
        assert_eq!((&nothing["last_received_at"], &nothing["export_status"]), (&Value::Null, &json!("caught up")));

        let received = now() - chrono::Duration::minutes(50);
        let event =
            json!({"customer_id": "c", "type": "transaction", "amount": 3, "occurred_at": "2026-11-22T06:10:00Z"});
        let interaction = parse_interaction(&event, "i", f.workspace.id, received).unwrap();
        f.store.ingest_interactions(&[interaction]).await.unwrap();
        let row = f.fetch(spec.clone(), json!({})).await.unwrap().row_object(0).unwrap();
        assert_eq!(row["last_received_at"], json!("2026-11-22T07:10:00Z"));
        assert_eq!(row["minutes_since_received"], json!(50));
        assert_eq!(row["summaries_through"], json!("2026-11-22T06:15:00Z"));
        assert_eq!(row["summary_age_minutes"], json!(105));
        assert_eq!((&row["export_status"], &row["export_lag_minutes"]), (&json!("never run"), &Value::Null));

        let mut checkpoint = crate::domain::ExportCheckpoint::start(f.workspace.id);
        checkpoint.position = Some("2026-11-22T06:40:00.000Z#ix".into());
        f.store.save_export_checkpoint(&checkpoint).await.unwrap();
        let paris = RunTime::new(now(), "Europe/Paris".parse().unwrap());
        let row = f.fetch_at(spec, json!({}), paris).await.unwrap().row_object(0).unwrap();
        assert_eq!((&row["export_status"], &row["export_lag_minutes"]), (&json!("behind"), &json!(30)));
        assert_eq!(row["exported_through"], json!("2026-11-22T07:40:00+01:00"), "in the run's zone");
    }

    #[tokio::test]
    async fn a_customer_segment_counts_only_the_customers_a_dataset_column_picks() {
        let f = Fixture::new().await;
        let body = "id,tier\nc1,gold\nc2,green\n3,gold\n";
        let upload = dataset::Upload {
            rows: dataset::parse_csv(body.as_bytes()).unwrap(),
            format: DatasetFormat::Csv,
            body: Bytes::from_static(body.as_bytes()),
        };
        dataset::save(&f.store, &f.blobs, f.workspace.id, &Code::parse("customers").unwrap(), upload, now())
            .await
            .unwrap();
        let event = |customer: &str, day: &str, channel: &str| {
            json!({"customer_id": customer, "type": "completed", "offer_id": "o1", "offer_kind": "bogo",
                   "channel": channel, "occurred_at": format!("{day}T12:00:00Z")})
        };
        let batch: Vec<Interaction> = [
            event("c1", "2026-11-20", "email"),
            event("c1", "2026-11-21", "web"),
            event("c1", "2026-11-10", "email"),
            event("c2", "2026-11-20", "email"),
            event("3", "2026-11-19", "email"),
            event("c9", "2026-11-19", "email"),
        ]
        .into_iter()
        .map(|v| f.interaction(v))
        .collect();
        f.store.ingest_interactions(&batch).await.unwrap();
        let completed = |rows: &RowSet| -> (i64, i64) {
            let row = rows.row_object(0).unwrap();
            (row["completed"].as_i64().unwrap(), row["previous_completed"].as_i64().unwrap())
        };
        let spec = |segment: Value| json!({"name": "o", "type": "offer_performance", "segment": segment});
        let gold = json!({"customers": {"dataset": "customers", "column": "tier", "equals": "{tier}"}});

        let rows = f.fetch(spec(gold.clone()), json!({"tier": "gold"})).await.unwrap();
        assert_eq!(completed(&rows), (3, 1), "c1 twice and customer 3 this week, c1 the week before");
        assert!(rows.note.as_deref().unwrap().ends_with("; customers whose tier is gold"), "{:?}", rows.note);
        let green = f.fetch(spec(gold.clone()), json!({"tier": "green"})).await.unwrap();
        assert_eq!(completed(&green), (1, 0));
        let all = f.fetch(spec(gold.clone()), json!({"tier": ""})).await.unwrap();
        assert_eq!(completed(&all), (5, 1), "an empty value counts every customer, from the summaries");
        let mut gold_email = gold.clone();
        gold_email["channel"] = json!("email");
        assert_eq!(completed(&f.fetch(spec(gold_email), json!({"tier": "gold"})).await.unwrap()), (2, 1));
        let kathmandu = RunTime::new(now(), "Asia/Kathmandu".parse().unwrap());
        let rows = f.fetch_at(spec(gold.clone()), json!({"tier": "gold"}), kathmandu).await.unwrap();
        assert_eq!(completed(&rows), (3, 1), "the same days in another zone");

        let wrong = json!({"customers": {"dataset": "customers", "column": "level", "equals": "gold"}});
        let err = f.fetch(spec(wrong), json!({})).await.unwrap_err();
        assert_eq!(err.to_string(), "the dataset has no column `level` (its columns: id, tier)");
        let missing = json!({"customers": {"dataset": "people", "column": "tier", "equals": "gold"}});
        assert!(matches!(f.fetch(spec(missing), json!({})).await, Err(SourceError::DatasetNotFound(_))));
    }

    #[tokio::test]
    async fn a_workspace_without_history_gets_no_rows_and_a_bad_as_of_is_named() {
        let f = Fixture::new().await;
        let rows = f.fetch(json!({"name": "o", "type": "offer_performance"}), json!({})).await.unwrap();
        assert!(rows.is_empty());
        let err = f.fetch(json!({"name": "o", "type": "offer_performance"}), json!({"as_of": "last week"})).await;
        assert_eq!(err.unwrap_err().to_string(), "parameter `as_of` must be a date (YYYY-MM-DD), not `last week`");
    }

    #[tokio::test]
    async fn inline_rows_fill_their_placeholders_from_the_run() {
        let f = Fixture::new().await;
        let spec = json!({"name": "x", "type": "inline", "rows": [
            {"label": "Region {region}", "limit": "{limit}", "customer": "{data.customer.id}"}
        ]});
        let rows = f.fetch(spec.clone(), json!({"region": "EU", "limit": 5})).await.unwrap();
        assert_eq!(rows.rows[0], vec![json!("Region EU"), json!(5), json!("c-7")]);
        assert_eq!(rows.columns[1].kind, ColumnType::Number);
        let err = f.fetch(spec, json!({"limit": 5})).await.unwrap_err();
        assert_eq!(err.to_string(), "in the source's rows: `{region}` names no parameter of the run");
    }

    #[tokio::test]
    async fn a_dataset_source_reads_the_upload_and_applies_its_filter() {
        let f = Fixture::new().await;
        let code = Code::parse("customers").unwrap();
        let body = "id,region,email\n1,EU,a@example.com\n2,US,b@example.com\n3,EU,\n";
        let upload = dataset::Upload {
            rows: dataset::parse_csv(body.as_bytes()).unwrap(),
            format: DatasetFormat::Csv,
            body: Bytes::from_static(body.as_bytes()),
        };
        dataset::save(&f.store, &f.blobs, f.workspace.id, &code, upload, now()).await.unwrap();

        let spec = json!({"name": "customers", "role": "repeating", "type": "dataset", "dataset": "customers",
                          "filter": {"region": "{region}"}});
        let rows = f.fetch(spec.clone(), json!({"region": "EU"})).await.unwrap();
        assert_eq!(rows.rows.iter().map(|r| r[0].clone()).collect::<Vec<_>>(), [json!(1), json!(3)]);
        assert_eq!(rows.row_object(1).unwrap()["email"], Value::Null);
        let all = f.fetch(json!({"name": "c", "type": "dataset", "dataset": "customers"}), json!({})).await.unwrap();
        assert_eq!(all.len(), 3);
        let missing = f.fetch(json!({"name": "c", "type": "dataset", "dataset": "leads"}), json!({})).await;
        assert_eq!(
            missing.unwrap_err().to_string(),
            "dataset `leads` does not exist in this workspace; upload it first"
        );
    }

    #[tokio::test]
    async fn a_report_checks_its_dataset_filters_and_http_headers() {
        let f = Fixture::new().await;
        let mut report = fixtures::report(&f.workspace, "r", now());
        report.sources = serde_json::from_value(json!([
            {"name": "a", "type": "dataset", "dataset": "customers", "filter": {"region": "{region}", "tags": ["x"]}},
            {"name": "b", "type": "http", "url": "https://api.example.com/x", "header_name": "Bad Header"},
        ]))
        .unwrap();
        let fields: Vec<String> = report.validate().unwrap_err().0.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["sources[0].filter.tags", "sources[1].header_name", "sources[1].header_secret"]);
    }

    async fn endpoint() -> String {
        let app = Router::new()
            .route(
                "/customers/{region}",
                get(|axum::extract::Path(region): axum::extract::Path<String>, headers: axum::http::HeaderMap| async move {
                    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                    axum::Json(json!({"data": [{"region": region, "key": key}], "total": 1}))
                }),
            )
            .route("/text", get(|| async { "not json" }))
            .route("/number", get(|| async { axum::Json(json!(42)) }))
            .route("/missing", get(|| async { (axum::http::StatusCode::NOT_FOUND, "no") }))
            .route(
                "/moved",
                get(|| async { (axum::http::StatusCode::MOVED_PERMANENTLY, [(axum::http::header::LOCATION, "/text")]) }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{address}")
    }

    fn http_spec(url: String) -> Value {
        json!({"name": "api", "type": "http", "url": url, "header_name": "X-Api-Key", "header_secret": "k-123"})
    }

    #[tokio::test]
    async fn an_http_source_on_a_private_address_needs_the_workspace_to_allow_it() {
        let mut f = Fixture::new().await;
        let base = endpoint().await;
        let spec = http_spec(format!("{base}/customers/{{region}}"));
        let err = f.fetch(spec.clone(), json!({"region": "EU"})).await.unwrap_err();
        assert!(matches!(err, SourceError::Net(NetError::Blocked { .. })), "{err:?}");
        assert!(err.to_string().starts_with("the endpoint could not be reached: 127.0.0.1 is not a public address"));

        f.workspace.settings.network.allowed_addresses = vec!["127.0.0.0/8".into()];
        let rows = f.fetch(spec, json!({"region": "EU west"})).await.unwrap();
        assert_eq!(rows.rows, vec![vec![json!("EU west"), json!("k-123")]]);
    }

    #[tokio::test]
    async fn an_http_source_explains_bad_answers() {
        let mut f = Fixture::new().await;
        f.workspace.settings.network.allowed_addresses = vec!["127.0.0.1".into()];
        let base = endpoint().await;
        let cases = [
            ("/text", "the endpoint's answer is not JSON: expected ident at line 1 column 2"),
            ("/number", "the endpoint's answer has the wrong shape: expected an array of objects"),
            ("/missing", "the endpoint answered HTTP 404"),
            ("/moved", "the endpoint answered HTTP 301 (redirects are not followed; use the final URL)"),
        ];
        for (path, expected) in cases {
            let err = f.fetch(http_spec(format!("{base}{path}")), json!({})).await.unwrap_err();
            assert!(err.to_string().starts_with(expected), "{path}: {err}");
        }
        let err = f.fetch(http_spec(format!("{base}/customers/{{nope}}")), json!({})).await.unwrap_err();
        assert_eq!(err.to_string(), "in the source's url: `{nope}` names no parameter of the run");
    }
}
