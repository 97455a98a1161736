//! The contract every database engine of `sql` sources passes, run against the real servers
//! `make test` starts (PostgreSQL and MariaDB from Debian's packages): types round-trip
//! exactly, parameters are bound, one statement only, the transaction is read-only, the time
//! limit is enforced and the statement cancelled on the server, the row and size caps hold,
//! errors are the database's own words, the network policy is obeyed, and a changed
//! connection gets a new pool.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use serde_json::{Map, Value, json};

use super::Databases;
use crate::domain::{Connection, ConnectionConfig, ConnectionId, WorkspaceId};
use crate::net::NetworkPolicy;
use crate::source::template::Bindings;
use crate::source::{ColumnType, RowSet, SourceError};
use crate::testing::TestDatabase;
use crate::testing::recorder::loopback_policy;

fn connection(db: &TestDatabase, as_admin: bool, change: impl FnOnce(&mut Value)) -> Connection {
    let now = Utc.with_ymd_and_hms(2026, 12, 7, 8, 0, 0).unwrap();
    let mut config = db.config_json(as_admin);
    change(&mut config);
    Connection {
        id: ConnectionId::generate(now),
        workspace_id: WorkspaceId::generate(now),
        name: crate::domain::Code::parse("warehouse").unwrap(),
        config: serde_json::from_value::<ConnectionConfig>(config).unwrap(),
        created_at: now,
        updated_at: now,
        version: 1,
    }
}

async fn query(
    databases: &Databases,
    connection: &Connection,
    sql: &str,
    parameters: Value,
) -> Result<RowSet, SourceError> {
    let parameters: Map<String, Value> = parameters.as_object().cloned().unwrap_or_default();
    let bindings = Bindings { parameters: &parameters, data: &Value::Null };
    databases.query(connection, &loopback_policy(), sql, &bindings).await
}

fn column<'a>(rows: &'a RowSet, name: &str) -> Vec<&'a Value> {
    let j = rows.column(name).unwrap_or_else(|| panic!("no column {name} in {:?}", rows.columns));
    rows.rows.iter().map(|r| &r[j]).collect()
}

/// The whole contract on `db`.
pub async fn suite(db: &TestDatabase) {
    let postgres = db.kind == "postgres";
    let table = db.table("customers");
    let (timestamp, boolean) = if postgres { ("timestamptz", "boolean") } else { ("datetime(6)", "boolean") };
    db.execute(&[
        &format!(
            "CREATE TABLE {table} (id integer PRIMARY KEY, name varchar(100), email varchar(200), \
             balance numeric(20,4), seen {timestamp}, joined date, active {boolean}, note text)"
        ),
        &format!(
            "INSERT INTO {table} VALUES \
             (1, 'Ada', 'ada@example.com', 1234567890123456.1234, '2026-03-01 10:30:00', '2026-01-03', true, 'Zoë ✓ 😀'), \
             (2, 'Brook', 'brook@example.com', -0.0500, '2026-03-02 23:59:59.5', '2026-02-11', false, NULL), \
             (3, 'Cy', NULL, 0, NULL, '2026-03-20', true, '')"
        ),
    ])
    .await;
    let databases = Databases::new();
    let reader = connection(db, false, |_| {});

    // Types round-trip exactly.
    let rows = query(&databases, &reader, &format!("SELECT * FROM {table} ORDER BY id"), json!({})).await.unwrap();
    let kinds: Vec<(&str, ColumnType)> = rows.columns.iter().map(|c| (c.name.as_str(), c.kind)).collect();
    assert_eq!(kinds[0], ("id", ColumnType::Number));
    assert_eq!(kinds[3], ("balance", ColumnType::Decimal));
    assert_eq!(kinds[4], ("seen", ColumnType::Timestamp));
    assert_eq!(kinds[5], ("joined", ColumnType::Date));
    assert_eq!(column(&rows, "id"), [&json!(1), &json!(2), &json!(3)]);
    assert_eq!(column(&rows, "balance"), [&json!("1234567890123456.1234"), &json!("-0.0500"), &json!("0.0000")]);
    assert_eq!(column(&rows, "seen")[0], &json!("2026-03-01T10:30:00Z"));
    assert_eq!(column(&rows, "seen")[1], &json!("2026-03-02T23:59:59.500Z"));
    assert_eq!(column(&rows, "seen")[2], &Value::Null);
    assert_eq!(column(&rows, "joined"), [&json!("2026-01-03"), &json!("2026-02-11"), &json!("2026-03-20")]);
    let active = column(&rows, "active");
    assert!(active[0] == &json!(true) || active[0] == &json!(1), "{active:?}");
    assert!(active[1] == &json!(false) || active[1] == &json!(0), "{active:?}");
    assert_eq!(column(&rows, "note"), [&json!("Zoë ✓ 😀"), &Value::Null, &json!("")]);
    assert_eq!(column(&rows, "email")[2], &Value::Null);

    // Parameters are bound: an injection attempt is data and the table survives; text binds to
    // a date; an optional clause drops out without a value.
    let evil = json!({"name": "'; DROP TABLE customers; --"});
    let found = query(&databases, &reader, &format!("SELECT id FROM {table} WHERE name = {{name}}"), evil).await;
    assert!(found.unwrap().is_empty());
    let count = format!("SELECT COUNT(*) AS n FROM {table}");
    assert_eq!(query(&databases, &reader, &count, json!({})).await.unwrap().rows[0][0], json!(3));
    let narrowed = format!("SELECT id FROM {table} WHERE joined >= {{since}} [[AND name = {{who}}]] ORDER BY id");
    let rows = query(&databases, &reader, &narrowed, json!({"since": "2026-02-01"})).await.unwrap();
    assert_eq!(column(&rows, "id"), [&json!(2), &json!(3)]);
    let rows = query(&databases, &reader, &narrowed, json!({"since": "2026-02-01", "who": "Cy"})).await.unwrap();
    assert_eq!(column(&rows, "id"), [&json!(3)]);
    let money = format!("SELECT id FROM {table} WHERE balance > {{min}}");
    let rows = query(&databases, &reader, &money, json!({"min": 1000})).await.unwrap();
    assert_eq!(column(&rows, "id"), [&json!(1)]);

    // One statement only.
    let two = query(&databases, &reader, "SELECT 1 AS a; SELECT 2 AS b", json!({})).await.unwrap_err();
    assert!(matches!(two, SourceError::Sql(_)), "{two}");

    // A write is refused by the read-only transaction, even for a user who may write.
    let admin = connection(db, true, |_| {});
    let insert = format!("INSERT INTO {table} (id, name) VALUES (9, 'Mallory')");
    let refused = query(&databases, &admin, &insert, json!({})).await.unwrap_err().to_string();
    assert!(refused.contains("only reading is allowed"), "{refused}");
    let update = format!("UPDATE {table} SET name = 'x'");
    let refused = query(&databases, &admin, &update, json!({})).await.unwrap_err().to_string();
    assert!(refused.contains("only reading is allowed"), "{refused}");
    assert_eq!(db.scalar(&format!("SELECT COUNT(*) FROM {table} WHERE name = 'Mallory'")).await.as_deref(), Some("0"));

    // The time limit: the server stops the statement, nothing keeps running there.
    let quick = connection(db, false, |c| c["options"] = json!({"statement_timeout_ms": 500}));
    let sleep = if postgres { "SELECT pg_sleep(60) AS slept" } else { "SELECT SLEEP(60) AS slept" };
    let started = Instant::now();
    let stopped = query(&databases, &quick, sleep, json!({})).await.unwrap_err().to_string();
    assert!(stopped.contains("ran longer than the connection's limit of 500 ms"), "{stopped}");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    let running = if postgres {
        "SELECT COUNT(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60)%' AND state = 'active'"
    } else {
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(60)%'"
    };
    assert_eq!(db.scalar(running).await.as_deref(), Some("0"), "the sleeping statement still runs");

    // The row cap holds without rewriting the query; the size cap too.
    let many = if postgres {
        "SELECT n FROM generate_series(1, 100) AS n ORDER BY n DESC".to_string()
    } else {
        "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 100) SELECT n FROM s ORDER BY n DESC"
            .to_string()
    };
    let capped = connection(db, false, |c| c["options"] = json!({"max_rows": 10}));
    let refused = query(&databases, &capped, &many, json!({})).await.unwrap_err().to_string();
    assert!(refused.contains("more than 10 rows"), "{refused}");
    let rows = query(&databases, &reader, &many, json!({})).await.unwrap();
    assert_eq!((rows.len(), rows.rows[0][0].clone()), (100, json!(100)), "ORDER BY kept");
    let small = connection(db, false, |c| c["options"] = json!({"max_bytes": 1024}));
    let wide = if postgres { "SELECT repeat('x', 5000) AS wide" } else { "SELECT REPEAT('x', 5000) AS wide" };
    let refused = query(&databases, &small, wide, json!({})).await.unwrap_err().to_string();
    assert!(refused.contains("more than 1024 bytes"), "{refused}");

    // Mistakes come back in the database's own words.
    let typo = query(&databases, &reader, &format!("SELECT nme FROM {table}"), json!({})).await.unwrap_err();
    let typo = typo.to_string();
    assert!(typo.contains("nme"), "{typo}");
    if postgres {
        assert!(typo.contains("(at character 8)"), "{typo}");
    }
    let missing = query(&databases, &reader, "SELECT * FROM no_such_table", json!({})).await.unwrap_err().to_string();
    assert!(missing.contains("no_such_table"), "{missing}");
    assert!(!missing.contains(&db.password), "{missing}");

    // The test answer flags a user who can do more than read.
    let check = databases.check(&reader, &loopback_policy()).await.unwrap();
    assert_eq!(check.user.split('@').next(), Some(db.user.as_str()));
    assert!(check.warnings.is_empty(), "{:?}", check.warnings);
    let check = databases.check(&admin, &loopback_policy()).await.unwrap();
    assert!(!check.warnings.is_empty(), "the admin is flagged");

    // The network policy is obeyed: a private address needs the workspace's permission.
    let blocked = databases.check(&connection(db, false, |_| {}), &NetworkPolicy::public_only()).await.unwrap_err();
    assert!(blocked.to_string().contains("is not a public address"), "{blocked}");

    // A changed connection gets a new pool: a wrong password now fails, the right one works.
    let mut changed = reader.clone();
    if let ConnectionConfig::Postgres(server) | ConnectionConfig::Mysql(server) = &mut changed.config {
        server.password = Some(crate::domain::Secret::new("wrong"));
    }
    changed.version += 1;
    let denied = query(&databases, &changed, "SELECT 1 AS one", json!({})).await.unwrap_err().to_string();
    assert!(!denied.contains("wrong"), "{denied}");
    assert!(denied.to_lowercase().contains("denied") || denied.contains("authentication"), "{denied}");
    let mut fixed = reader.clone();
    fixed.version += 2;
    assert_eq!(query(&databases, &fixed, "SELECT 1 AS one", json!({})).await.unwrap().rows, [[json!(1)]]);
}

#[tokio::test]
async fn postgresql_passes_the_sql_source_contract() {
    if let Some(db) = TestDatabase::postgres() {
        suite(&db).await;
    }
}

#[tokio::test]
async fn mariadb_passes_the_sql_source_contract() {
    if let Some(db) = TestDatabase::mysql() {
        suite(&db).await;
    }
}
