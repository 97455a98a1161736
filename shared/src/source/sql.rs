//! SQL sources: `{"type": "sql", "connection": "datasets", "query": "…"}` runs one read-only
//! statement and returns its rows. The built-in connection `datasets` needs no server: the
//! workspace's uploaded datasets that the query names become tables of a private in-memory
//! SQLite database (a code with `-` is also a view spelled with `_`), whatever store Herald
//! itself runs on.
//!
//! Safety is in the engine, not in a parser of the query:
//! - `{name}` placeholders (run parameters, `{data.field}`) become bound parameters (`?1`…), so
//!   a value is data and never SQL; text inside quotes and comments is left alone;
//! - `[[ … ]]` is an optional clause, left out when a placeholder in it has no value;
//! - one statement only (a second is refused when the query is prepared), on a read-only
//!   connection whose authorizer allows reading and computing only (no `ATTACH`, which could
//!   reach a file on disk, no `PRAGMA`, no DDL, no writes);
//! - a time limit enforced inside the engine (the statement is interrupted), and a row cap
//!   that reads no further than one row past it rather than rewriting the query.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::{Value as SqlValue, ValueRef};
use serde_json::{Map, Value};

use super::template::{Bindings, TemplateError};
use super::{ColumnType, RowSet, SourceError};

/// The connection every workspace has: SQL over its uploaded datasets.
pub const DATASETS_CONNECTION: &str = "datasets";

/// How long a query may run.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Most rows a query may return (a run makes at most this many entries too).
pub const MAX_ROWS: usize = 50_000;

/// A query with its placeholders turned into bound parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    pub sql: String,
    pub values: Vec<Value>,
}

#[derive(Clone, Copy, PartialEq)]
enum Lexeme {
    Code,
    Quoted(char),
    LineComment,
    BlockComment,
}

/// Where a parameter goes in an optional clause until the clause is kept.
const PARAMETER_MARK: char = '\u{0}';

/// Turns `{name}` placeholders into `?N` parameters and keeps or drops `[[ … ]]` clauses.
pub fn bind(query: &str, bindings: &Bindings<'_>) -> Result<Bound, SourceError> {
    if query.contains(PARAMETER_MARK) {
        return Err(SourceError::Sql("the query holds a NUL character".into()));
    }
    let mut sql = String::with_capacity(query.len());
    let mut values = Vec::new();
    // The optional clause being read: its text, its values, and whether one was missing.
    let mut clause: Option<(String, Vec<Value>, bool)> = None;
    let mut lexeme = Lexeme::Code;
    let chars: Vec<char> = query.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let (c, next) = (chars[i], chars.get(i + 1).copied());
        let out = match &mut clause {
            Some((text, _, _)) => text,
            None => &mut sql,
        };
        match lexeme {
            Lexeme::Quoted(q) if c == q => lexeme = Lexeme::Code,
            Lexeme::LineComment if c == '\n' => lexeme = Lexeme::Code,
            Lexeme::BlockComment if c == '*' && next == Some('/') => {
                out.push_str("*/");
                lexeme = Lexeme::Code;
                i += 2;
                continue;
            }
            Lexeme::Quoted(_) | Lexeme::LineComment | Lexeme::BlockComment => {}
            Lexeme::Code => match c {
                '\'' | '"' | '`' => lexeme = Lexeme::Quoted(c),
                '-' if next == Some('-') => lexeme = Lexeme::LineComment,
                '/' if next == Some('*') => {
                    out.push_str("/*");
                    lexeme = Lexeme::BlockComment;
                    i += 2;
                    continue;
                }
                '[' if next == Some('[') => {
                    if clause.is_some() {
                        return Err(SourceError::Sql("`[[ … ]]` clauses cannot be nested".into()));
                    }
                    clause = Some((String::new(), Vec::new(), false));
                    i += 2;
                    continue;
                }
                ']' if next == Some(']') && clause.is_some() => {
                    if let Some((text, clause_values, missing)) = clause.take()
                        && !missing
                    {
                        // Each marker left in the clause's text is its next value's parameter.
                        let mut pending = clause_values.into_iter();
                        for ch in text.chars() {
                            match (ch, ch == PARAMETER_MARK) {
                                (_, true) => {
                                    values.extend(pending.next());
                                    sql.push_str(&format!("?{}", values.len()));
                                }
                                (ch, false) => sql.push(ch),
                            }
                        }
                    }
                    i += 2;
                    continue;
                }
                '{' => {
                    let name: String = chars[i + 1..].iter().take_while(|c| **c != '}').collect();
                    let closed = chars.get(i + 1 + name.len()) == Some(&'}');
                    let well_formed =
                        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
                    if closed && well_formed {
                        let value = match bindings.lookup(&name) {
                            Ok(value) => Some(value.clone()),
                            Err(TemplateError::UnknownParameter(_) | TemplateError::UnknownData(_)) => None,
                        };
                        match (&mut clause, value) {
                            (Some((text, clause_values, missing)), value) => match value.filter(|v| !v.is_null()) {
                                Some(value) => {
                                    clause_values.push(value);
                                    text.push(PARAMETER_MARK);
                                }
                                None => *missing = true,
                            },
                            (None, Some(value)) => {
                                values.push(value);
                                sql.push_str(&format!("?{}", values.len()));
                            }
                            (None, None) => {
                                return Err(SourceError::Template {
                                    field: "query",
                                    source: TemplateError::UnknownParameter(name),
                                });
                            }
                        }
                        i += name.len() + 2;
                        continue;
                    }
                }
                _ => {}
            },
        }
        match &mut clause {
            Some((text, _, _)) => text.push(c),
            None => sql.push(c),
        }
        i += 1;
    }
    if clause.is_some() {
        return Err(SourceError::Sql("a `[[` clause is not closed with `]]`".into()));
    }
    Ok(Bound { sql, values })
}

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
        set.columns = names.into_iter().map(|name| super::ColumnMeta { name, kind: ColumnType::Text }).collect();
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
                    ColumnType::Number => "NUMERIC",
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

    fn bound(query: &str, parameters: Value) -> Result<Bound, SourceError> {
        let parameters = parameters.as_object().cloned().unwrap_or_default();
        bind(query, &Bindings { parameters: &parameters, data: &Value::Null })
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
    fn placeholders_become_bound_parameters_and_quotes_and_comments_are_left_alone() {
        let b = bound(
            "SELECT '{tier}' AS t, \"{x}\" -- {ignored}\nFROM customers WHERE tier = {tier} /* {no} */ AND n > {min}",
            json!({"tier": "gold", "min": 3}),
        )
        .unwrap();
        assert_eq!(
            b.sql,
            "SELECT '{tier}' AS t, \"{x}\" -- {ignored}\nFROM customers WHERE tier = ?1 /* {no} */ AND n > ?2"
        );
        assert_eq!(b.values, [json!("gold"), json!(3)]);
        assert!(matches!(bound("SELECT {nope}", json!({})), Err(SourceError::Template { .. })));
    }

    #[test]
    fn an_optional_clause_drops_out_when_a_parameter_in_it_has_no_value() {
        let sql = "SELECT * FROM customers WHERE 1 = 1 [[AND tier = {tier}]] [[AND joined >= {since}]]";
        let both = bound(sql, json!({"tier": "gold", "since": "2026-02-01"})).unwrap();
        assert_eq!(both.sql, "SELECT * FROM customers WHERE 1 = 1 AND tier = ?1 AND joined >= ?2");
        assert_eq!(both.values, [json!("gold"), json!("2026-02-01")]);
        let one = bound(sql, json!({"since": "2026-02-01", "tier": null})).unwrap();
        assert_eq!(one.sql, "SELECT * FROM customers WHERE 1 = 1  AND joined >= ?1");
        assert_eq!(one.values, [json!("2026-02-01")]);
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
