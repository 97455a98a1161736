//! MySQL and MariaDB: one statement as a binary-protocol prepared statement (which refuses
//! several), in a `READ ONLY` transaction, with the server's statement time limit
//! (`max_statement_time` on MariaDB, `max_execution_time` on MySQL), `KILL QUERY` from a second
//! connection when the server does not stop in time, and `sql_select_limit` one past the row
//! cap (the query is not rewritten: wrapping it would lose its `ORDER BY` on these servers).
//! Sessions run in UTC so `TIMESTAMP` columns read as the instants they are.

use std::net::IpAddr;
use std::time::Duration;

use base64::Engine;
use chrono::{NaiveDate, SecondsFormat};
use mysql_async::consts::{ColumnFlags, ColumnType as MyType};
use mysql_async::prelude::Queryable;
use mysql_async::{Column, Conn, OptsBuilder, Pool, PoolConstraints, PoolOpts, SslOpts};
use serde_json::Value;

use super::Bound;
use crate::domain::{DatabaseServer, QueryOptions, TlsMode};
use crate::source::{ColumnMeta, ColumnType, RowSet, SourceError};

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long past the server's time limit the client waits before killing the query itself.
const CANCEL_GRACE: Duration = Duration::from_secs(2);

/// MySQL's error for a setting it does not have (MariaDB's `max_statement_time`).
const UNKNOWN_SYSTEM_VARIABLE: u16 = 1193;

/// The binary character set: a column of bytes, not text.
const BINARY_CHARSET: u16 = 63;

/// A pool of connections to `server` at the vetted `address`.
pub fn pool(server: &DatabaseServer, address: IpAddr) -> Pool {
    let size = usize::from(server.options.pool_size);
    let constraints = PoolConstraints::new(0, size).unwrap_or_default();
    let mut options = OptsBuilder::default()
        .ip_or_hostname(address.to_string())
        .tcp_port(server.port.unwrap_or(3306))
        .db_name(Some(&server.database))
        .user(Some(&server.user))
        .pass(server.password.as_ref().map(|p| p.expose().to_string()))
        .prefer_socket(false)
        .init(vec!["SET time_zone = '+00:00'"])
        .pool_opts(PoolOpts::default().with_constraints(constraints).with_reset_connection(true));
    if server.tls == TlsMode::Require {
        // Connected by the vetted address, the certificate is still checked against the name.
        options = options.ssl_opts(SslOpts::default().with_danger_tls_hostname_override(Some(server.host.clone())));
    }
    Pool::new(options)
}

/// Runs `bound` read-only under `limits`.
pub async fn query(pool: &Pool, bound: &Bound, limits: &QueryOptions) -> Result<RowSet, SourceError> {
    let mut conn = connect(pool).await?;
    let id = conn.id();
    let allowed = Duration::from_millis(limits.statement_timeout_ms.into());
    match tokio::time::timeout(allowed + CANCEL_GRACE, read_only(&mut conn, bound, limits)).await {
        Ok(result) => result,
        Err(_) => {
            // The server did not stop the statement itself: kill it from another connection,
            // and drop this one rather than return it to the pool mid-statement.
            if let Ok(mut killer) = connect(pool).await {
                let _ = killer.query_drop(format!("KILL QUERY {id}")).await;
            }
            drop(conn);
            Err(timed_out(limits))
        }
    }
}

async fn connect(pool: &Pool) -> Result<Conn, SourceError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, pool.get_conn()).await {
        Ok(conn) => conn.map_err(|e| db_error(&e, &QueryOptions::default())),
        Err(_) => Err(SourceError::Sql("the database did not accept a connection in time".into())),
    }
}

async fn read_only(conn: &mut Conn, bound: &Bound, limits: &QueryOptions) -> Result<RowSet, SourceError> {
    let failed = |e: mysql_async::Error| db_error(&e, limits);
    let seconds = f64::from(limits.statement_timeout_ms) / 1000.0;
    match conn.query_drop(format!("SET SESSION max_statement_time = {seconds}")).await {
        Err(mysql_async::Error::Server(e)) if e.code == UNKNOWN_SYSTEM_VARIABLE => conn
            .query_drop(format!("SET SESSION max_execution_time = {}", limits.statement_timeout_ms))
            .await
            .map_err(failed)?,
        other => other.map_err(failed)?,
    }
    conn.query_drop(format!("SET SESSION sql_select_limit = {}", u64::from(limits.max_rows) + 1))
        .await
        .map_err(failed)?;
    conn.query_drop("START TRANSACTION READ ONLY").await.map_err(failed)?;
    let result = run(conn, bound, limits).await;
    // Nothing was written; ending the transaction returns a clean connection to the pool.
    conn.query_drop("ROLLBACK").await.map_err(failed)?;
    result
}

async fn run(conn: &mut Conn, bound: &Bound, limits: &QueryOptions) -> Result<RowSet, SourceError> {
    let failed = |e: mysql_async::Error| db_error(&e, limits);
    let statement = conn.prep(&bound.sql).await.map_err(failed)?;
    let parameters: Vec<mysql_async::Value> = bound.values.iter().map(parameter).collect();
    let columns: Vec<Column> = statement.columns().to_vec();
    let names: Vec<String> = columns.iter().map(|c| c.name_str().into_owned()).collect();
    if let Some(twice) = names.iter().enumerate().find_map(|(i, n)| names[..i].contains(n).then_some(n)) {
        return Err(SourceError::Sql(format!("the column `{twice}` comes twice: name each column once (`AS …`)")));
    }
    let kinds: Vec<ColumnType> = columns.iter().map(column_type).collect();
    let rows: Vec<mysql_async::Row> = conn.exec(&statement, parameters).await.map_err(failed)?;
    let cap = limits.max_rows as usize;
    if rows.len() > cap {
        return Err(SourceError::Sql(format!("the query returned more than {cap} rows; narrow it")));
    }
    let mut bytes = 0usize;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let values: Vec<Value> = row
            .unwrap()
            .into_iter()
            .zip(&columns)
            .map(|(value, column)| {
                bytes += value.bin_len() as usize;
                cell(value, column)
            })
            .collect();
        if bytes > limits.max_bytes as usize {
            return Err(SourceError::Sql(format!(
                "the query returned more than {} bytes; narrow it",
                limits.max_bytes
            )));
        }
        out.push(values);
    }
    let columns = names.into_iter().zip(kinds).map(|(name, kind)| ColumnMeta { name, kind }).collect();
    Ok(RowSet { columns, rows: out, comparisons: vec![], note: None, label: None })
}

/// What the connection test reports: the server, the user, and what the user could do
/// beyond reading.
pub async fn check(pool: &Pool) -> Result<(String, String, Vec<String>), SourceError> {
    let mut conn = connect(pool).await?;
    let failed = |e: mysql_async::Error| db_error(&e, &QueryOptions::default());
    let (version, user): (String, String) =
        conn.query_first("SELECT VERSION(), CURRENT_USER()").await.map_err(failed)?.unwrap_or_default();
    let grants: Vec<String> = conn.query("SHOW GRANTS").await.map_err(failed)?;
    let mut warnings = Vec::new();
    let powerful = ["ALL PRIVILEGES", "SUPER", "INSERT", "UPDATE", "DELETE", "DROP", "CREATE", "ALTER", "FILE"];
    let mut found: Vec<&str> =
        powerful.into_iter().filter(|p| grants.iter().any(|g| g.to_ascii_uppercase().contains(p))).collect();
    found.dedup();
    if !found.is_empty() {
        warnings.push(format!(
            "`{user}` holds {} privileges: connect as a user that can only read (SELECT)",
            found.join(", ")
        ));
    }
    Ok((version, user, warnings))
}

fn parameter(value: &Value) -> mysql_async::Value {
    match value {
        Value::Null => mysql_async::Value::NULL,
        Value::Bool(b) => mysql_async::Value::Int(i64::from(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => mysql_async::Value::Int(i),
            (None, Some(u)) => mysql_async::Value::UInt(u),
            _ => mysql_async::Value::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => mysql_async::Value::Bytes(s.clone().into_bytes()),
        other => mysql_async::Value::Bytes(other.to_string().into_bytes()),
    }
}

fn column_type(column: &Column) -> ColumnType {
    match column.column_type() {
        MyType::MYSQL_TYPE_TINY
        | MyType::MYSQL_TYPE_SHORT
        | MyType::MYSQL_TYPE_INT24
        | MyType::MYSQL_TYPE_LONG
        | MyType::MYSQL_TYPE_LONGLONG
        | MyType::MYSQL_TYPE_YEAR
        | MyType::MYSQL_TYPE_FLOAT
        | MyType::MYSQL_TYPE_DOUBLE => ColumnType::Number,
        MyType::MYSQL_TYPE_DECIMAL | MyType::MYSQL_TYPE_NEWDECIMAL => ColumnType::Decimal,
        MyType::MYSQL_TYPE_DATE | MyType::MYSQL_TYPE_NEWDATE => ColumnType::Date,
        MyType::MYSQL_TYPE_DATETIME
        | MyType::MYSQL_TYPE_DATETIME2
        | MyType::MYSQL_TYPE_TIMESTAMP
        | MyType::MYSQL_TYPE_TIMESTAMP2 => ColumnType::Timestamp,
        _ => ColumnType::Text,
    }
}

fn cell(value: mysql_async::Value, column: &Column) -> Value {
    use mysql_async::Value as My;
    match value {
        My::NULL => Value::Null,
        My::Int(i) => Value::from(i),
        My::UInt(u) => Value::from(u),
        My::Float(f) => serde_json::Number::from_f64(f.into()).map_or(Value::Null, Value::Number),
        My::Double(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        My::Date(year, month, day, hour, minute, second, micros) => match column_type(column) {
            ColumnType::Date if year == 0 => Value::Null,
            ColumnType::Date => Value::String(format!("{year:04}-{month:02}-{day:02}")),
            _ => {
                let at = NaiveDate::from_ymd_opt(year.into(), month.into(), day.into())
                    .and_then(|d| d.and_hms_micro_opt(hour.into(), minute.into(), second.into(), micros));
                match at {
                    Some(at) => Value::String(at.and_utc().to_rfc3339_opts(SecondsFormat::AutoSi, true)),
                    // MySQL's zero date (`0000-00-00 00:00:00`) is no instant.
                    None => Value::Null,
                }
            }
        },
        My::Time(negative, days, hours, minutes, seconds, micros) => {
            let hours = u64::from(days) * 24 + u64::from(hours);
            let sign = if negative { "-" } else { "" };
            let fraction = if micros > 0 { format!(".{micros:06}") } else { String::new() };
            Value::String(format!("{sign}{hours:02}:{minutes:02}:{seconds:02}{fraction}"))
        }
        My::Bytes(bytes) => {
            let binary = column.character_set() == BINARY_CHARSET
                && !matches!(column.column_type(), MyType::MYSQL_TYPE_NEWDECIMAL | MyType::MYSQL_TYPE_DECIMAL)
                && !column.flags().contains(ColumnFlags::NUM_FLAG);
            match String::from_utf8(bytes) {
                Ok(text) if !binary => Value::String(text),
                Ok(text) => Value::String(base64::engine::general_purpose::STANDARD.encode(text.as_bytes())),
                Err(e) => Value::String(base64::engine::general_purpose::STANDARD.encode(e.into_bytes())),
            }
        }
    }
}

fn timed_out(limits: &QueryOptions) -> SourceError {
    SourceError::Sql(format!(
        "the query ran longer than the connection's limit of {} ms and was cancelled",
        limits.statement_timeout_ms
    ))
}

/// The database's own words; never a connection string.
fn db_error(error: &mysql_async::Error, limits: &QueryOptions) -> SourceError {
    match error {
        mysql_async::Error::Server(e) => match e.code {
            // MariaDB's max_statement_time, MySQL's max_execution_time, a KILL QUERY
            1969 | 3024 | 1317 => timed_out(limits),
            // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
            1792 => SourceError::Sql(format!("only reading is allowed: {}", e.message)),
            _ => SourceError::Sql(e.message.clone()),
        },
        mysql_async::Error::Io(e) => SourceError::Sql(format!("the database could not be reached: {e}")),
        mysql_async::Error::Driver(e) => SourceError::Sql(format!("the database connection failed: {e}")),
        other => SourceError::Sql(format!("the database connection failed: {other}")),
    }
}
