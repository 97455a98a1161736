//! Amazon Athena: SQL over data in S3, for data that has outgrown one database. A query is
//! started in the connection's workgroup and database, polled with back-off until it ends
//! (stopped when it outlives the connection's time limit), and its results are read page by
//! page (the first row of the first page is the header), no further than one row past the
//! cap.
//!
//! Athena takes one statement per execution. Its execution parameters are not bound values
//! but SQL literals put in place of each `?`, so each value is written here as a literal with
//! its quotes escaped (`'O''Brien'`), never spliced by hand into the query. What a query may
//! do is bounded by the function's IAM role (`template.yaml`): it can start and read queries
//! and read the Glue catalog, never change a table.

use std::time::{Duration, Instant};

use aws_sdk_athena::Client;
use aws_sdk_athena::types::{QueryExecutionContext, QueryExecutionState, ResultConfiguration};
use chrono::{NaiveDateTime, SecondsFormat};
use serde_json::Value;

use super::Bound;
use crate::domain::{AthenaWorkgroup, QueryOptions};
use crate::source::{ColumnMeta, ColumnType, RowSet, SourceError};

/// The first and the longest wait between two polls of a running query.
const FIRST_POLL: Duration = Duration::from_millis(100);
const LONGEST_POLL: Duration = Duration::from_secs(2);

/// Most rows Athena returns in one page.
const PAGE_ROWS: i32 = 1000;

/// A client for `athena`'s region (the deployment's when it names none).
pub fn client(sdk: &aws_config::SdkConfig, athena: &AthenaWorkgroup) -> Client {
    let mut config = aws_sdk_athena::config::Builder::from(sdk);
    if let Some(region) = &athena.region {
        config = config.region(aws_sdk_athena::config::Region::new(region.clone()));
    }
    Client::from_conf(config.build())
}

/// Runs `bound` under `limits`.
pub async fn query(
    client: &Client,
    athena: &AthenaWorkgroup,
    bound: &Bound,
    limits: &QueryOptions,
) -> Result<RowSet, SourceError> {
    let context = QueryExecutionContext::builder().database(&athena.database).catalog(&athena.catalog).build();
    let mut start = client
        .start_query_execution()
        .query_string(&bound.sql)
        .work_group(&athena.workgroup)
        .query_execution_context(context);
    if let Some(location) = &athena.output_location {
        start = start.result_configuration(ResultConfiguration::builder().output_location(location).build());
    }
    if !bound.values.is_empty() {
        start = start.set_execution_parameters(Some(bound.values.iter().map(literal).collect()));
    }
    let started = start.send().await.map_err(|e| failed(&e))?;
    let id = started.query_execution_id().unwrap_or_default().to_string();
    wait(client, &id, limits).await?;
    results(client, &id, limits).await
}

/// What the connection test reports: the workgroup's engine, whom Athena runs as, and nothing
/// to warn about (what a query may do is the function role's IAM policy).
pub async fn check(client: &Client, athena: &AthenaWorkgroup) -> Result<(String, String, Vec<String>), SourceError> {
    let workgroup = client.get_work_group().work_group(&athena.workgroup).send().await.map_err(|e| failed(&e))?;
    let engine = workgroup
        .work_group()
        .and_then(|w| w.configuration())
        .and_then(|c| c.engine_version())
        .and_then(|e| e.effective_engine_version().or(e.selected_engine_version()))
        .unwrap_or("AUTO")
        .to_string();
    client
        .get_database()
        .catalog_name(&athena.catalog)
        .database_name(&athena.database)
        .send()
        .await
        .map_err(|e| failed(&e))?;
    let version = format!("Amazon Athena, workgroup {} (engine {engine})", athena.workgroup);
    Ok((version, "the function's IAM role".into(), vec![]))
}

/// Polls the execution until it succeeds; stops it when it outlives the time limit.
async fn wait(client: &Client, id: &str, limits: &QueryOptions) -> Result<(), SourceError> {
    let deadline = Instant::now() + Duration::from_millis(limits.statement_timeout_ms.into());
    let mut pause = FIRST_POLL;
    loop {
        let answer = client.get_query_execution().query_execution_id(id).send().await.map_err(|e| failed(&e))?;
        let status = answer.query_execution().and_then(|q| q.status());
        match status.and_then(|s| s.state()) {
            Some(QueryExecutionState::Succeeded) => return Ok(()),
            Some(QueryExecutionState::Failed) => {
                let reason = status.and_then(|s| s.state_change_reason()).unwrap_or("the query failed");
                return Err(SourceError::Sql(reason.to_string()));
            }
            Some(QueryExecutionState::Cancelled) => return Err(SourceError::Sql("the query was cancelled".into())),
            _ => {}
        }
        let now = Instant::now();
        if now >= deadline {
            let _ = client.stop_query_execution().query_execution_id(id).send().await;
            return Err(SourceError::Sql(format!(
                "the query ran longer than the connection's limit of {} ms and was stopped",
                limits.statement_timeout_ms
            )));
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(LONGEST_POLL);
    }
}

/// Reads the results page by page, typed by the result's column information.
async fn results(client: &Client, id: &str, limits: &QueryOptions) -> Result<RowSet, SourceError> {
    let mut columns: Option<Vec<ColumnMeta>> = None;
    let mut rows = Vec::new();
    let mut bytes = 0usize;
    let mut token: Option<String> = None;
    loop {
        let page = client
            .get_query_results()
            .query_execution_id(id)
            .max_results(PAGE_ROWS)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| failed(&e))?;
        let Some(set) = page.result_set() else { break };
        let first_page = columns.is_none();
        let meta = columns.get_or_insert_with(|| {
            let info = set.result_set_metadata().map(|m| m.column_info()).unwrap_or_default();
            info.iter().map(|c| ColumnMeta { name: c.name().to_string(), kind: column_type(c.r#type()) }).collect()
        });
        for (i, row) in set.rows().iter().enumerate() {
            if first_page && i == 0 {
                continue; // the header
            }
            let values: Vec<Value> = meta
                .iter()
                .zip(row.data())
                .map(|(column, datum)| {
                    let text = datum.var_char_value();
                    bytes += text.map_or(1, str::len);
                    cell(text, column.kind)
                })
                .collect();
            rows.push(values);
        }
        if rows.len() > limits.max_rows as usize {
            return Err(SourceError::Sql(format!("the query returned more than {} rows; narrow it", limits.max_rows)));
        }
        if bytes > limits.max_bytes as usize {
            return Err(SourceError::Sql(format!(
                "the query returned more than {} bytes; narrow it",
                limits.max_bytes
            )));
        }
        match page.next_token() {
            Some(next) => token = Some(next.to_string()),
            None => break,
        }
    }
    Ok(RowSet { columns: columns.unwrap_or_default(), rows, comparisons: vec![], note: None, label: None })
}

/// A value as an Athena SQL literal (what its execution parameters are).
fn literal(value: &Value) -> String {
    match value {
        Value::Null => "NULL".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{}'", s.replace('\'', "''")),
        other => format!("'{}'", other.to_string().replace('\'', "''")),
    }
}

fn column_type(athena: &str) -> ColumnType {
    let base = athena.split(['(', ' ']).next().unwrap_or_default().to_ascii_lowercase();
    match base.as_str() {
        "tinyint" | "smallint" | "integer" | "int" | "bigint" | "double" | "float" | "real" => ColumnType::Number,
        "decimal" => ColumnType::Decimal,
        "boolean" => ColumnType::Boolean,
        "date" => ColumnType::Date,
        "timestamp" => ColumnType::Timestamp,
        _ => ColumnType::Text,
    }
}

/// A result cell (always text on the wire) as the value its column's type says.
fn cell(text: Option<&str>, kind: ColumnType) -> Value {
    let Some(text) = text else { return Value::Null };
    match kind {
        ColumnType::Number => match text.parse::<i64>() {
            Ok(i) => Value::from(i),
            Err(_) => {
                text.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map_or(Value::Null, Value::Number)
            }
        },
        ColumnType::Boolean => Value::Bool(text.eq_ignore_ascii_case("true")),
        // `2026-03-01 10:30:00.000` (UTC; a zone suffix, when present, is dropped as UTC is).
        ColumnType::Timestamp => {
            let bare = text.trim_end_matches(" UTC");
            match NaiveDateTime::parse_from_str(bare, "%Y-%m-%d %H:%M:%S%.f") {
                Ok(at) => Value::String(at.and_utc().to_rfc3339_opts(SecondsFormat::AutoSi, true)),
                Err(_) => Value::String(text.to_string()),
            }
        }
        ColumnType::Text | ColumnType::Decimal | ColumnType::Date => Value::String(text.to_string()),
    }
}

/// Athena's own words for a refused request.
fn failed<E: aws_sdk_athena::error::ProvideErrorMetadata + std::fmt::Display>(
    error: &aws_sdk_athena::error::SdkError<E>,
) -> SourceError {
    use aws_sdk_athena::error::ProvideErrorMetadata;
    match error.message() {
        Some(message) => SourceError::Sql(message.to_string()),
        None => SourceError::Sql(format!("Athena could not be reached: {}", error.code().unwrap_or("no answer"))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parameters_become_escaped_literals() {
        assert_eq!(literal(&json!("O'Brien'; DROP TABLE t; --")), "'O''Brien''; DROP TABLE t; --'");
        assert_eq!(literal(&json!(12.5)), "12.5");
        assert_eq!(literal(&json!(true)), "true");
        assert_eq!(literal(&Value::Null), "NULL");
    }

    #[test]
    fn result_text_is_typed_by_its_column() {
        assert_eq!(cell(Some("42"), column_type("bigint")), json!(42));
        assert_eq!(cell(Some("1234567890123456.1234"), column_type("decimal(20,4)")), json!("1234567890123456.1234"));
        assert_eq!(cell(Some("2026-03-01 10:30:00.000"), column_type("timestamp")), json!("2026-03-01T10:30:00Z"));
        assert_eq!(cell(Some("true"), column_type("boolean")), json!(true));
        assert_eq!(cell(None, column_type("varchar")), Value::Null);
        assert_eq!(column_type("array(varchar)"), ColumnType::Text);
    }

    /// Posts `body` to the emulator's control API at `path`.
    async fn moto(path: &str, body: Value) {
        let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
        let answer = reqwest::Client::new().post(format!("{endpoint}{path}")).json(&body).send().await.unwrap();
        assert!(answer.status().is_success(), "{path}: {}", answer.status());
    }

    fn text_row(cells: &[Option<&str>]) -> Value {
        json!({"Data": cells.iter().map(|c| match c { Some(t) => json!({"VarCharValue": t}), None => json!({}) }).collect::<Vec<_>>()})
    }

    /// The wire contract against the emulator, which runs no SQL: a query starts in the
    /// connection's workgroup and database with its parameters as escaped literals, is polled
    /// until it ends, its results are typed by their columns with the header skipped, a
    /// query past the time limit is stopped, and the test answer reads the workgroup.
    #[tokio::test]
    async fn a_query_starts_polls_and_reads_typed_results_on_the_emulator() {
        let Some(sdk) = crate::testing::emulator().await else { return };
        let athena: AthenaWorkgroup = serde_json::from_value(json!({
            "database": "default", "workgroup": "primary", "output_location": "s3://athena-results/herald/"
        }))
        .unwrap();
        let client = client(&sdk, &athena);
        let columns = [("id", "integer"), ("balance", "decimal"), ("seen", "timestamp"), ("note", "varchar")];
        let column_info: Vec<Value> = columns
            .iter()
            .map(|(name, kind)| {
                json!({"CatalogName": "hive", "SchemaName": "default", "TableName": "customers",
                                      "Name": name, "Label": name, "Type": kind, "Precision": 20, "Scale": 4,
                                      "Nullable": "NULLABLE", "CaseSensitive": true})
            })
            .collect();
        let rows = vec![
            text_row(&[Some("id"), Some("balance"), Some("seen"), Some("note")]),
            text_row(&[Some("1"), Some("1234567890123456.1234"), Some("2026-03-01 10:30:00.000"), Some("Zoë ✓")]),
            text_row(&[Some("2"), Some("-0.0500"), None, None]),
        ];
        moto("/moto-api/static/athena/query-results", json!({"results": [{"rows": rows, "column_info": column_info}]}))
            .await;

        let bound = Bound {
            sql: "SELECT id, balance, seen, note FROM customers WHERE name = ? AND balance > ?".into(),
            values: vec![json!("O'Brien"), json!(10)],
        };
        let set = query(&client, &athena, &bound, &QueryOptions::default()).await.unwrap();
        let kinds: Vec<ColumnType> = set.columns.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, [ColumnType::Number, ColumnType::Decimal, ColumnType::Timestamp, ColumnType::Text]);
        assert_eq!(
            set.rows,
            [
                vec![json!(1), json!("1234567890123456.1234"), json!("2026-03-01T10:30:00Z"), json!("Zoë ✓")],
                vec![json!(2), json!("-0.0500"), Value::Null, Value::Null]
            ]
        );
        let ids = client.list_query_executions().work_group("primary").send().await.unwrap();
        let mut sent = Vec::new();
        for id in ids.query_execution_ids() {
            let execution = client.get_query_execution().query_execution_id(id).send().await.unwrap();
            if let Some(q) = execution.query_execution().filter(|q| q.query() == Some(bound.sql.as_str())) {
                sent.push((
                    q.execution_parameters().to_vec(),
                    q.query_execution_context().and_then(|c| c.database()).map(str::to_string),
                ));
            }
        }
        assert_eq!(sent, [(vec!["'O''Brien'".to_string(), "10".to_string()], Some("default".to_string()))]);

        // A query that outlives the limit is stopped.
        moto(
            "/moto-api/state-manager/set-transition",
            json!({"model_name": "athena::execution", "transition": {"progression": "manual", "times": 1000}}),
        )
        .await;
        let quick = QueryOptions { statement_timeout_ms: 300, ..QueryOptions::default() };
        let stopped = query(&client, &athena, &Bound { sql: "SELECT 1".into(), values: vec![] }, &quick).await;
        moto("/moto-api/state-manager/unset-transition", json!({"model_name": "athena::execution"})).await;
        let stopped = stopped.unwrap_err().to_string();
        assert!(stopped.contains("ran longer than the connection's limit of 300 ms and was stopped"), "{stopped}");

        let (version, _, warnings) = check(&client, &athena).await.unwrap();
        assert!(version.contains("workgroup primary"), "{version}");
        assert!(warnings.is_empty());
        let missing = AthenaWorkgroup { workgroup: "nope".into(), ..athena.clone() };
        let refused = query(&client, &missing, &Bound { sql: "SELECT 1".into(), values: vec![] }, &quick).await;
        assert!(refused.unwrap_err().to_string().contains("WorkGroup does not exist"));
    }
}
