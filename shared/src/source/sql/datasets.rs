//! The built-in `datasets` connection: SQL over the workspace's uploaded datasets with no
//! server. The datasets a query names become tables of a private in-memory SQLite database (a
//! code with `-` is also a view spelled with `_`); the connection is read-only and its
//! authorizer allows reading and computing only (no `ATTACH`, which could reach a file on
//! disk, no `PRAGMA`, no DDL, no writes); a progress handler stops a statement at its time
//! limit, and rows are read no further than one past the cap.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::{Value as SqlValue, ValueRef};
use serde_json::{Map, Value};

use super::Bound;
use crate::source::{ColumnType, RowSet, SourceError};

/// How long a query over datasets may run.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Most rows a query may return (a run makes at most this many entries too).
pub const MAX_ROWS: usize = crate::domain::MAX_QUERY_ROWS as usize;

/// Runs `bound` over `tables` (name, rows) in a private read-only database.
pub fn run(tables: &[(String, Arc<RowSet>)], bound: &Bound, timeout: Duration) -> Result<RowSet, SourceError> {
    let failed = |e: rusqlite::Error| SourceError::Sql(describe(&e, timeout));
    let mut conn = rusqlite::Connection::open_in_memory().map_err(failed)?;
    load(&mut conn, tables).map_err(failed)?;
    conn.pragma_update(None, "query_only", true).map_err(failed)?;
    // Reading and computing only: no ATTACH (a file anywhere on disk), PRAGMA, DDL or writes.
    conn.authorizer(Some(|context: AuthContext<'_>| match context.action {
        AuthAction::Select | AuthAction::Read { .. } | AuthAction::Function { .. } | AuthAction::Recursive => {
            Authorization::Allow
        }
        _ => Authorization::Deny,
    }));
    let deadline = Instant::now() + timeout;
    conn.progress_handler(1_000, Some(move || Instant::now() > deadline));
    let mut statement = conn.prepare(&bound.sql).map_err(failed)?;
    if !statement.readonly() {
        return Err(SourceError::Sql("only reading is allowed: the query would change data".into()));
    }
    let names: Vec<String> = statement.column_names().into_iter().map(str::to_string).collect();
    if let Some(twice) = names.iter().enumerate().find_map(|(i, n)| names[..i].contains(n).then_some(n)) {
        return Err(SourceError::Sql(format!("the column `{twice}` comes twice: name each column once (`AS …`)")));
    }
    let parameters: Vec<SqlValue> = bound.values.iter().map(to_sql).collect();
    let mut rows = statement.query(rusqlite::params_from_iter(parameters)).map_err(failed)?;
    let mut objects = Vec::new();
    while let Some(row) = rows.next().map_err(failed)? {
        if objects.len() == MAX_ROWS {
            return Err(SourceError::Sql(format!("the query returned more than {MAX_ROWS} rows; narrow it")));
        }
        let mut object = Map::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            object.insert(name.clone(), from_sql(row.get_ref(i).map_err(failed)?));
        }
        objects.push(object);
    }
    let mut set = RowSet::from_objects(objects);
    if set.columns.is_empty() {
        set.columns =
            names.into_iter().map(|name| crate::source::ColumnMeta { name, kind: ColumnType::Text }).collect();
    }
    Ok(set)
}

/// Creates one table per dataset (and a `_` view of a code with `-`) and fills it.
fn load(conn: &mut rusqlite::Connection, tables: &[(String, Arc<RowSet>)]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    for (name, rows) in tables {
        let columns: Vec<String> = rows
            .columns
            .iter()
            .map(|c| {
                let affinity = match c.kind {
                    ColumnType::Number | ColumnType::Decimal => "NUMERIC",
                    ColumnType::Boolean => "INTEGER",
                    ColumnType::Text | ColumnType::Date | ColumnType::Timestamp => "TEXT",
                };
                format!("{} {affinity}", quote(&c.name))
            })
            .collect();
        if columns.is_empty() {
            continue;
        }
        tx.execute_batch(&format!("CREATE TABLE {} ({});", quote(name), columns.join(", ")))?;
        if name.contains('-') {
            let alias = name.replace('-', "_");
            tx.execute_batch(&format!("CREATE VIEW {} AS SELECT * FROM {};", quote(&alias), quote(name)))?;
        }
        let marks = vec!["?"; rows.columns.len()].join(", ");
        let mut insert = tx.prepare(&format!("INSERT INTO {} VALUES ({marks})", quote(name)))?;
        for row in &rows.rows {
            insert.execute(rusqlite::params_from_iter(row.iter().map(to_sql)))?;
        }
    }
    tx.commit()
}

fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

fn to_sql(value: &Value) -> SqlValue {
    match value {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None => SqlValue::Real(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => SqlValue::Text(s.clone()),
        other => SqlValue::Text(other.to_string()),
    }
}

fn from_sql(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
    }
}

/// The engine's own words for what went wrong, for the run and the editor.
fn describe(error: &rusqlite::Error, timeout: Duration) -> String {
    use rusqlite::ErrorCode;
    match error {
        rusqlite::Error::MultipleStatement => "one statement only: the query holds more than one".into(),
        rusqlite::Error::SqliteFailure(e, _) if e.code == ErrorCode::OperationInterrupted => {
            format!("the query ran longer than {} s and was stopped", timeout.as_secs())
        }
        rusqlite::Error::SqliteFailure(e, _)
            if matches!(e.code, ErrorCode::ReadOnly | ErrorCode::AuthorizationForStatementDenied) =>
        {
            "only reading is allowed: the query would change data or the database".into()
        }
        rusqlite::Error::SqliteFailure(_, Some(message)) => message.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::source::sql::{Placeholder, bind};
    use crate::source::template::Bindings;

    fn bound(query: &str, parameters: Value) -> Result<Bound, SourceError> {
        let parameters = parameters.as_object().cloned().unwrap_or_default();
        bind(query, &Bindings { parameters: &parameters, data: &Value::Null }, Placeholder::Numbered)
    }

    fn customers() -> Vec<(String, Arc<RowSet>)> {
        let rows = RowSet::from_objects(
            [
                json!({"id": "c1", "name": "Ada", "tier": "gold", "balance": 120.5, "joined": "2026-01-03"}),
                json!({"id": "c2", "name": "Brook", "tier": "silver", "balance": 80, "joined": "2026-02-11"}),
                json!({"id": "c3", "name": "Cy", "tier": "gold", "balance": 40, "joined": "2026-03-20"}),
            ]
            .into_iter()
            .filter_map(|v| v.as_object().cloned())
            .collect(),
        );
        vec![("customers".into(), Arc::new(rows)), ("sales-2026".into(), Arc::new(RowSet::default()))]
    }

    fn query(sql: &str, parameters: Value) -> Result<RowSet, SourceError> {
        run(&customers(), &bound(sql, parameters)?, QUERY_TIMEOUT)
    }

    #[test]
    fn queries_filter_join_and_aggregate_datasets_with_bound_values() {
        let rows = query(
            "SELECT tier, COUNT(*) AS customers, SUM(balance) AS total FROM customers \
             WHERE joined >= {since} GROUP BY tier ORDER BY tier",
            json!({"since": "2026-01-01"}),
        )
        .unwrap();
        assert_eq!(
            rows.rows,
            vec![vec![json!("gold"), json!(2), json!(160.5)], vec![json!("silver"), json!(1), json!(80)]]
        );
        let ranked = query(
            "SELECT name, RANK() OVER (ORDER BY balance DESC) AS r FROM customers [[WHERE tier = {tier}]]",
            json!({}),
        )
        .unwrap();
        assert_eq!(ranked.rows.len(), 3, "no tier: the clause dropped out");
        let underscored = query("SELECT COUNT(*) AS n FROM sales_2026", json!({})).unwrap_or_default();
        assert!(underscored.rows.is_empty() || underscored.rows[0][0] == json!(0));
    }

    #[test]
    fn an_injected_value_is_data_and_the_table_survives() {
        let evil = json!({"name": "x'; DROP TABLE customers; --"});
        let rows = query("SELECT * FROM customers WHERE name = {name}", evil).unwrap();
        assert!(rows.rows.is_empty());
        assert_eq!(query("SELECT COUNT(*) AS n FROM customers", json!({})).unwrap().rows[0][0], json!(3));
    }

    #[test]
    fn a_second_statement_and_any_write_are_refused() {
        let two = query("SELECT 1 AS a; SELECT 2 AS b", json!({})).unwrap_err().to_string();
        assert!(two.contains("one statement only"), "{two}");
        for write in [
            "SELECT 1 AS a; DELETE FROM customers",
            "PRAGMA query_only = 0",
            "DELETE FROM customers",
            "UPDATE customers SET tier = 'x'",
            "INSERT INTO customers (id) VALUES ('c9')",
            "CREATE TABLE t (a)",
            "ATTACH DATABASE '/tmp/x.db' AS x",
        ] {
            let refused = query(write, json!({})).unwrap_err().to_string();
            assert!(refused.contains("only reading is allowed"), "{write}: {refused}");
        }
    }

    #[test]
    fn a_slow_query_is_stopped_at_its_time_limit() {
        let forever = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT COUNT(*) AS c FROM n";
        let started = Instant::now();
        let stopped =
            run(&customers(), &bound(forever, json!({})).unwrap(), Duration::from_millis(200)).unwrap_err().to_string();
        assert!(stopped.contains("ran longer than"), "{stopped}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn more_rows_than_the_cap_are_refused_without_reading_on() {
        let many = format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT {}) SELECT i FROM n",
            MAX_ROWS + 5
        );
        let refused = query(&many, json!({})).unwrap_err().to_string();
        assert!(refused.contains("more than 50000 rows"), "{refused}");
    }

    #[test]
    fn the_engines_own_message_explains_a_mistake() {
        let typo = query("SELECT nme FROM customers", json!({})).unwrap_err().to_string();
        assert!(typo.contains("no such column: nme"), "{typo}");
        let twice = query("SELECT id, id FROM customers", json!({})).unwrap_err().to_string();
        assert!(twice.contains("comes twice"), "{twice}");
    }
}
