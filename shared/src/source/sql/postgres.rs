//! PostgreSQL: one statement over the extended protocol (a prepared statement, which the
//! server refuses to make of several), in a `READ ONLY` transaction with a `SET LOCAL
//! statement_timeout`, read through a portal with a row limit one past the cap. Parameters go
//! as text the server parses into the type it inferred for each `$n`, so `'2026-01-01'` binds
//! to a date and `12.50` to a numeric without a cast in the query. Rows come back binary and
//! are decoded here, exactly (`numeric` as its digits).

use std::net::IpAddr;
use std::time::Duration;

use base64::Engine;
use bytes::BytesMut;
use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use serde_json::Value;
use tokio_postgres::types::{Format, IsNull, Kind, ToSql, Type, to_sql_checked};
use tokio_postgres::{Column, Row};

use super::Bound;
use crate::domain::{DatabaseServer, QueryOptions, TlsMode};
use crate::source::{ColumnMeta, ColumnType, RowSet, SourceError};

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long past the server's statement timeout the client waits before cancelling itself.
const CANCEL_GRACE: Duration = Duration::from_secs(2);

/// A pool of connections to `server` at the vetted `address`.
pub fn pool(server: &DatabaseServer, address: IpAddr) -> Result<Pool, SourceError> {
    let mut config = tokio_postgres::Config::new();
    config
        .host(&server.host)
        .hostaddr(address)
        .port(server.port.unwrap_or(5432))
        .dbname(&server.database)
        .user(&server.user)
        .application_name("herald")
        .connect_timeout(CONNECT_TIMEOUT);
    if let Some(password) = &server.password {
        config.password(password.expose());
    }
    let manager_config = ManagerConfig { recycling_method: RecyclingMethod::Fast };
    let manager = match server.tls {
        TlsMode::Disable => {
            config.ssl_mode(tokio_postgres::config::SslMode::Disable);
            Manager::from_config(config, tokio_postgres::NoTls, manager_config)
        }
        TlsMode::Require => {
            config.ssl_mode(tokio_postgres::config::SslMode::Require);
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(super::pools::tls_config()?);
            Manager::from_config(config, tls, manager_config)
        }
    };
    Pool::builder(manager)
        .max_size(server.options.pool_size.into())
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(CONNECT_TIMEOUT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .recycle_timeout(Some(CONNECT_TIMEOUT))
        .build()
        .map_err(|e| SourceError::Sql(format!("cannot set up the connection pool: {e}")))
}

/// Runs `bound` read-only under `limits`.
pub async fn query(pool: &Pool, bound: &Bound, limits: &QueryOptions) -> Result<RowSet, SourceError> {
    let mut client = pool.get().await.map_err(pool_error)?;
    let cancel = client.cancel_token();
    let allowed = Duration::from_millis(limits.statement_timeout_ms.into());
    match tokio::time::timeout(allowed + CANCEL_GRACE, read_only(&mut client, bound, limits)).await {
        Ok(result) => result,
        Err(_) => {
            // The server did not stop the statement itself: cancel it, and drop the connection
            // rather than return it to the pool mid-statement.
            let _ = cancel.cancel_query(tokio_postgres::NoTls).await;
            drop(deadpool_postgres::Object::take(client));
            Err(timed_out(limits))
        }
    }
}

async fn read_only(
    client: &mut deadpool_postgres::Object,
    bound: &Bound,
    limits: &QueryOptions,
) -> Result<RowSet, SourceError> {
    let tx = client.build_transaction().read_only(true).start().await.map_err(|e| db_error(&e, limits))?;
    tx.batch_execute(&format!("SET LOCAL statement_timeout = {}", limits.statement_timeout_ms))
        .await
        .map_err(|e| db_error(&e, limits))?;
    let statement = tx.prepare(&bound.sql).await.map_err(|e| db_error(&e, limits))?;
    let columns = statement.columns();
    check_columns(columns)?;
    let parameters: Vec<TextParameter<'_>> = bound.values.iter().map(TextParameter).collect();
    let parameters: Vec<&(dyn ToSql + Sync)> = parameters.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    let portal = tx.bind(&statement, &parameters).await.map_err(|e| db_error(&e, limits))?;
    let cap = limits.max_rows as usize;
    let rows = tx.query_portal(&portal, limits.max_rows as i32 + 1).await.map_err(|e| db_error(&e, limits))?;
    if rows.len() > cap {
        return Err(SourceError::Sql(format!("the query returned more than {cap} rows; narrow it")));
    }
    let set = decode(columns, &rows, limits)?;
    // Nothing was written; ending the transaction returns a clean connection to the pool.
    tx.rollback().await.map_err(|e| db_error(&e, limits))?;
    Ok(set)
}

/// What the connection test reports: the server, the user, and what the user could do
/// beyond reading.
pub async fn check(pool: &Pool) -> Result<(String, String, Vec<String>), SourceError> {
    let client = pool.get().await.map_err(pool_error)?;
    let limits = QueryOptions::default();
    let row = client
        .query_one(
            "SELECT version(), current_user::text, \
                    COALESCE((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false), \
                    COALESCE((SELECT pg_get_userbyid(datdba) = current_user FROM pg_database \
                              WHERE datname = current_database()), false), \
                    has_database_privilege(current_database(), 'CREATE')",
            &[],
        )
        .await
        .map_err(|e| db_error(&e, &limits))?;
    let (version, user): (String, String) = (row.get(0), row.get(1));
    let mut warnings = Vec::new();
    if row.get::<_, bool>(2) {
        warnings.push(format!(
            "`{user}` is a superuser: connect as a role that can only read (queries run read-only, \
             but a superuser can leave a read-only transaction through extensions)"
        ));
    }
    if row.get::<_, bool>(3) {
        warnings.push(format!("`{user}` owns the database: connect as a role that can only read"));
    } else if row.get::<_, bool>(4) {
        warnings.push(format!("`{user}` may create objects in the database: a role that can only read is safer"));
    }
    Ok((version, user, warnings))
}

/// A bound value sent as text; the server parses it into the parameter's inferred type.
#[derive(Debug)]
struct TextParameter<'a>(&'a Value);

impl ToSql for TextParameter<'_> {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self.0 {
            Value::Null => return Ok(IsNull::Yes),
            Value::String(text) => out.extend_from_slice(text.as_bytes()),
            other => out.extend_from_slice(other.to_string().as_bytes()),
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, _: &Type) -> Format {
        Format::Text
    }

    to_sql_checked!();
}

/// Refuses, before anything runs, a result column of a type Herald cannot read.
fn check_columns(columns: &[Column]) -> Result<(), SourceError> {
    let names: Vec<&str> = columns.iter().map(Column::name).collect();
    if let Some(twice) = names.iter().enumerate().find_map(|(i, n)| names[..i].contains(n).then_some(n)) {
        return Err(SourceError::Sql(format!("the column `{twice}` comes twice: name each column once (`AS …`)")));
    }
    for column in columns {
        if column_type(column.type_()).is_none() {
            return Err(SourceError::Sql(format!(
                "the column `{}` has the type `{}`, which reports cannot read; cast it in the query (`{}::text`)",
                column.name(),
                column.type_().name(),
                column.name()
            )));
        }
    }
    Ok(())
}

/// The row type of a PostgreSQL type, or `None` when it cannot be read.
fn column_type(ty: &Type) -> Option<ColumnType> {
    Some(match *ty {
        Type::BOOL => ColumnType::Boolean,
        Type::INT2 | Type::INT4 | Type::INT8 | Type::OID | Type::FLOAT4 | Type::FLOAT8 => ColumnType::Number,
        Type::NUMERIC => ColumnType::Decimal,
        Type::DATE => ColumnType::Date,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => ColumnType::Timestamp,
        Type::TEXT
        | Type::VARCHAR
        | Type::BPCHAR
        | Type::NAME
        | Type::CHAR
        | Type::UUID
        | Type::JSON
        | Type::JSONB
        | Type::TIME
        | Type::BYTEA
        | Type::UNKNOWN
        | Type::VOID => ColumnType::Text,
        _ if matches!(ty.kind(), Kind::Enum(_)) || ty.name() == "citext" => ColumnType::Text,
        _ => return None,
    })
}

fn decode(columns: &[Column], rows: &[Row], limits: &QueryOptions) -> Result<RowSet, SourceError> {
    let kinds: Vec<ColumnType> = columns.iter().map(|c| column_type(c.type_()).unwrap_or(ColumnType::Text)).collect();
    let mut bytes = 0usize;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut values = Vec::with_capacity(columns.len());
        for (i, column) in columns.iter().enumerate() {
            let Cell(value) = row.try_get(i).map_err(|e| {
                SourceError::Sql(format!("the column `{}` could not be read: {}", column.name(), source_text(&e)))
            })?;
            bytes += size_of(&value);
            values.push(value);
        }
        if bytes > limits.max_bytes as usize {
            return Err(SourceError::Sql(format!(
                "the query returned more than {} bytes; narrow it",
                limits.max_bytes
            )));
        }
        out.push(values);
    }
    let columns = columns.iter().zip(kinds).map(|(c, kind)| ColumnMeta { name: c.name().to_string(), kind }).collect();
    Ok(RowSet { columns, rows: out, comparisons: vec![], note: None, label: None })
}

fn size_of(value: &Value) -> usize {
    match value {
        Value::String(s) => s.len(),
        Value::Null | Value::Bool(_) => 1,
        Value::Number(_) => 8,
        other => other.to_string().len(),
    }
}

/// A value of any readable type, decoded from PostgreSQL's binary format.
struct Cell(Value);

impl<'a> tokio_postgres::types::FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let text = || -> Result<Value, Box<dyn std::error::Error + Sync + Send>> {
            Ok(Value::String(std::str::from_utf8(raw)?.to_string()))
        };
        let value = match *ty {
            Type::BOOL => Value::Bool(raw.first().is_some_and(|b| *b != 0)),
            Type::INT2 => Value::from(i16::from_be_bytes(raw.try_into()?)),
            Type::INT4 => Value::from(i32::from_be_bytes(raw.try_into()?)),
            Type::INT8 => Value::from(i64::from_be_bytes(raw.try_into()?)),
            Type::OID => Value::from(u32::from_be_bytes(raw.try_into()?)),
            Type::FLOAT4 => float(f32::from_be_bytes(raw.try_into()?).into()),
            Type::FLOAT8 => float(f64::from_be_bytes(raw.try_into()?)),
            Type::NUMERIC => numeric(raw)?,
            Type::DATE => date(i32::from_be_bytes(raw.try_into()?)),
            Type::TIMESTAMP | Type::TIMESTAMPTZ => timestamp(i64::from_be_bytes(raw.try_into()?)),
            Type::TIME => time(i64::from_be_bytes(raw.try_into()?)),
            Type::UUID => {
                let hex = hex::encode(<[u8; 16]>::try_from(raw)?);
                Value::String(format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]))
            }
            Type::JSON => serde_json::from_slice(raw)?,
            // jsonb: a version byte, then the text.
            Type::JSONB => serde_json::from_slice(raw.get(1..).unwrap_or_default())?,
            Type::CHAR => Value::String(char::from(raw.first().copied().unwrap_or(b' ')).to_string()),
            Type::BYTEA => Value::String(base64::engine::general_purpose::STANDARD.encode(raw)),
            // What a function returning nothing (`pg_sleep`) returns.
            Type::VOID => Value::Null,
            _ => text()?,
        };
        Ok(Cell(value))
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Cell(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn float(value: f64) -> Value {
    serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
}

/// Days since 2000-01-01.
fn date(days: i32) -> Value {
    let epoch = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default();
    match epoch.checked_add_signed(chrono::Duration::days(days.into())) {
        Some(day) if (i32::MIN + 1..i32::MAX).contains(&days) => Value::String(day.format("%Y-%m-%d").to_string()),
        _ => Value::String(if days > 0 { "infinity" } else { "-infinity" }.into()),
    }
}

/// Microseconds since 2000-01-01 00:00 UTC (a `timestamp` without zone is read as UTC).
fn timestamp(micros: i64) -> Value {
    const EPOCH_2000: i64 = 946_684_800_000_000;
    match micros.checked_add(EPOCH_2000).and_then(DateTime::from_timestamp_micros) {
        Some(at) if micros != i64::MAX && micros != i64::MIN => {
            Value::String(at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        }
        _ => Value::String(if micros > 0 { "infinity" } else { "-infinity" }.into()),
    }
}

/// Microseconds since midnight.
fn time(micros: i64) -> Value {
    let seconds = u32::try_from(micros.div_euclid(1_000_000)).unwrap_or(0);
    let nanos = u32::try_from(micros.rem_euclid(1_000_000) * 1000).unwrap_or(0);
    let at = NaiveTime::from_num_seconds_from_midnight_opt(seconds, nanos).unwrap_or_default();
    Value::String(if nanos == 0 { at.format("%H:%M:%S").to_string() } else { at.format("%H:%M:%S%.6f").to_string() })
}

/// `numeric`'s binary form (base-10000 digits with a weight, a sign and a display scale) as
/// exact decimal text.
fn numeric(raw: &[u8]) -> Result<Value, Box<dyn std::error::Error + Sync + Send>> {
    let word = |i: usize| -> Result<u16, Box<dyn std::error::Error + Sync + Send>> {
        Ok(u16::from_be_bytes(raw.get(i * 2..i * 2 + 2).ok_or("a numeric value is cut short")?.try_into()?))
    };
    let (count, weight, sign, scale) = (word(0)? as usize, word(1)? as i16, word(2)?, word(3)? as usize);
    match sign {
        0x0000 | 0x4000 => {}
        0xC000 => return Ok(Value::String("NaN".into())),
        0xD000 => return Ok(Value::String("Infinity".into())),
        0xF000 => return Ok(Value::String("-Infinity".into())),
        _ => return Err("a numeric value has an unknown sign".into()),
    }
    let digits: Vec<u16> = (0..count).map(|i| word(4 + i)).collect::<Result<_, _>>()?;
    let digit = |i: i32| -> u16 { usize::try_from(i).ok().and_then(|i| digits.get(i)).copied().unwrap_or(0) };
    let mut whole = String::new();
    for i in 0..=i32::from(weight) {
        if whole.is_empty() {
            whole = digit(i).to_string();
        } else {
            whole.push_str(&format!("{:04}", digit(i)));
        }
    }
    if whole.is_empty() {
        whole.push('0');
    }
    let mut fraction = String::new();
    let mut i = i32::from(weight) + 1;
    while fraction.len() < scale {
        fraction.push_str(&format!("{:04}", digit(i)));
        i += 1;
    }
    fraction.truncate(scale);
    let negative = sign == 0x4000 && (whole != "0" || fraction.bytes().any(|b| b != b'0'));
    let mut text = String::with_capacity(whole.len() + fraction.len() + 2);
    if negative {
        text.push('-');
    }
    text.push_str(&whole);
    if !fraction.is_empty() {
        text.push('.');
        text.push_str(&fraction);
    }
    Ok(Value::String(text))
}

fn timed_out(limits: &QueryOptions) -> SourceError {
    SourceError::Sql(format!(
        "the query ran longer than the connection's limit of {} ms and was cancelled",
        limits.statement_timeout_ms
    ))
}

/// The database's own words, with the position of a mistake; never a connection string.
fn db_error(error: &tokio_postgres::Error, limits: &QueryOptions) -> SourceError {
    let Some(db) = error.as_db_error() else {
        if error.is_closed() {
            return SourceError::Sql("the database closed the connection".into());
        }
        return SourceError::Sql(format!("the database could not be reached: {}", source_text(error)));
    };
    let code = db.code().code();
    let message = match code {
        // query_canceled: the statement timeout (or the cancel sent on it)
        "57014" => return timed_out(limits),
        // read_only_sql_transaction
        "25006" => format!("only reading is allowed: {}", db.message()),
        _ => db.message().to_string(),
    };
    let position = match db.position() {
        Some(tokio_postgres::error::ErrorPosition::Original(at)) => format!(" (at character {at})"),
        _ => String::new(),
    };
    let hint = db.hint().map(|h| format!("; {h}")).unwrap_or_default();
    SourceError::Sql(format!("{message}{position}{hint}"))
}

fn pool_error(error: deadpool_postgres::PoolError) -> SourceError {
    match error {
        deadpool_postgres::PoolError::Backend(e) => db_error(&e, &QueryOptions::default()),
        deadpool_postgres::PoolError::Timeout(_) => {
            SourceError::Sql("the database did not accept a connection in time".into())
        }
        other => SourceError::Sql(format!("the database could not be reached: {other}")),
    }
}

/// The innermost cause of an error, which names what went wrong without the connection's
/// details.
fn source_text(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text = inner.to_string();
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_bytes(weight: i16, sign: u16, scale: u16, digits: &[u16]) -> Vec<u8> {
        let mut raw = Vec::new();
        for word in [digits.len() as u16, weight as u16, sign, scale].iter().chain(digits) {
            raw.extend_from_slice(&word.to_be_bytes());
        }
        raw
    }

    #[test]
    fn numerics_decode_to_their_exact_digits() {
        // 1234567890123456.1234: 1234|5678|9012|3456 . 1234
        let big = numeric_bytes(3, 0, 4, &[1234, 5678, 9012, 3456, 1234]);
        assert_eq!(numeric(&big).unwrap(), Value::String("1234567890123456.1234".into()));
        assert_eq!(numeric(&numeric_bytes(-1, 0x4000, 2, &[500])).unwrap(), Value::String("-0.05".into()));
        assert_eq!(numeric(&numeric_bytes(0, 0, 4, &[12, 5000])).unwrap(), Value::String("12.5000".into()));
        assert_eq!(numeric(&numeric_bytes(1, 0, 0, &[1])).unwrap(), Value::String("10000".into()));
        assert_eq!(numeric(&numeric_bytes(-2, 0, 6, &[1200])).unwrap(), Value::String("0.000012".into()));
        assert_eq!(numeric(&numeric_bytes(0, 0, 0, &[])).unwrap(), Value::String("0".into()));
        assert_eq!(numeric(&numeric_bytes(0, 0xC000, 0, &[])).unwrap(), Value::String("NaN".into()));
        assert!(numeric(&[0, 1]).is_err());
    }

    #[test]
    fn dates_and_timestamps_count_from_the_year_2000() {
        assert_eq!(date(0), Value::String("2000-01-01".into()));
        assert_eq!(date(-1), Value::String("1999-12-31".into()));
        assert_eq!(timestamp(86_400_000_000 + 1_500_000), Value::String("2000-01-02T00:00:01.500Z".into()));
        assert_eq!(timestamp(i64::MAX), Value::String("infinity".into()));
        assert_eq!(time(3_723_000_000), Value::String("01:02:03".into()));
    }
}
