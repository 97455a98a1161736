//! `sql` sources on PostgreSQL: a 10,000-row table of statement lines (id, customer, email,
//! `numeric(20,4)` amount, date, `timestamptz`, boolean) read into a `RowSet` through
//! `Databases::query` (as a report's `sql` source runs, read-only, as the reader login), then
//! read + compose + CSV and read + compose + PDF of a report with one table section over those
//! rows. Best and median of several repetitions, after one warm-up read that opens the pool.
//!
//! Needs the test PostgreSQL that `infra/test.sh` starts (`HERALD_TEST_POSTGRES_*`): run with
//! `bash infra/test.sh -- cargo bench -p herald-core --bench sql` (or `make bench`). A plain
//! `cargo bench` prints SKIPPED and exits 0.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use herald_core::domain::{Code, Connection, ConnectionConfig, ConnectionId, Format, Report, SourceKind, WorkspaceId};
use herald_core::render::compose::compose;
use herald_core::source::RowSet;
use herald_core::source::sql::Databases;
use herald_core::source::template::Bindings;
use herald_core::testing::TestDatabase;
use herald_core::testing::recorder::loopback_policy;
use serde_json::{Map, Value, json};

/// Rows of the table.
const ROWS: usize = 10_000;

/// Repetitions of the read and of read + CSV; PDF of 10,000 rows is slower, so fewer.
const READS: usize = 15;
const PDFS: usize = 5;

fn at() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 7, 0, 0).single().unwrap_or_default()
}

/// The workspace connection a `sql` source names, logging in as the reader.
fn connection(db: &TestDatabase) -> Connection {
    let now = at();
    Connection {
        id: ConnectionId::generate(now),
        workspace_id: WorkspaceId::generate(now),
        name: Code::parse("warehouse").expect("a code"),
        config: serde_json::from_value::<ConnectionConfig>(db.config_json(false)).expect("a connection"),
        created_at: now,
        updated_at: now,
        version: 1,
    }
}

/// A statement report: one `sql` source over `table`, one table section showing every column.
fn report(table: &str) -> Report {
    herald_core::testing::fixtures::report_json(json!({
        "code": "statement-lines",
        "name": "Statement lines",
        "formats": ["pdf", "csv"],
        "sources": [{"name": "lines", "type": "sql", "connection": "warehouse",
                     "query": format!("SELECT id, customer, email, amount, booked, recorded_at, settled \
                                       FROM {table} ORDER BY id")}],
        "sections": [{"type": "table", "title": "Statement lines", "source": "lines",
            "columns": [{"key": "id", "format": {"kind": "number"}},
                        {"key": "customer"},
                        {"key": "email"},
                        {"key": "amount", "format": {"kind": "currency", "code": "USD"}},
                        {"key": "booked", "format": {"kind": "date"}},
                        {"key": "recorded_at", "label": "Recorded"},
                        {"key": "settled"}]}]
    }))
}

/// The report's SQL.
fn query_of(report: &Report) -> String {
    match &report.sources[0].kind {
        SourceKind::Sql { query, .. } => query.clone(),
        other => panic!("not a sql source: {other:?}"),
    }
}

/// Bytes of row data as the connection's `max_bytes` cap counts them (text by its length,
/// numbers 8, booleans and nulls 1).
fn data_bytes(rows: &RowSet) -> usize {
    rows.rows
        .iter()
        .flatten()
        .map(|v| match v {
            Value::String(s) => s.len(),
            Value::Number(_) => 8,
            Value::Null | Value::Bool(_) => 1,
            other => other.to_string().len(),
        })
        .sum()
}

/// Best and median of `samples`.
fn best_median(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    (samples[0], samples[samples.len() / 2])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn bench(db: &TestDatabase) {
    let table = db.table("bench_lines");
    let seeding = Instant::now();
    db.execute(&[
        &format!(
            "CREATE TABLE {table} (id integer PRIMARY KEY, customer text NOT NULL, email text, \
             amount numeric(20,4) NOT NULL, booked date NOT NULL, recorded_at timestamptz NOT NULL, \
             settled boolean NOT NULL)"
        ),
        &format!(
            "INSERT INTO {table} \
             SELECT n, 'Customer ' || (n % 2500), \
                    CASE WHEN n % 50 = 0 THEN NULL ELSE 'customer' || (n % 2500) || '@example.com' END, \
                    ((n * 7919) % 1000000 - 200000)::numeric / 100 + 0.0125, \
                    date '2026-01-01' + (n % 365), \
                    timestamptz '2026-01-01 00:00:00+00' + n * interval '37 minutes 13.25 seconds', \
                    n % 5 <> 0 \
             FROM generate_series(1, {ROWS}) AS n"
        ),
        &format!("ANALYZE {table}"),
    ])
    .await;
    let seeded = seeding.elapsed();

    let databases = Databases::new();
    let policy = loopback_policy();
    let conn = connection(db);
    let report = report(&table);
    let sql = query_of(&report);
    let parameters = Map::new();
    let bindings = Bindings { parameters: &parameters, data: &Value::Null };
    let read = || async { databases.query(&conn, &policy, &sql, &bindings).await.expect("the sql source reads") };
    let document = |rows: RowSet| {
        let sources = BTreeMap::from([("lines".to_owned(), rows)]);
        compose(&report, &sources, &Value::Null, at()).expect("compose").document
    };
    let render = |rows: RowSet, format: Format| -> Vec<u8> {
        let files = herald_core::render::render(&document(rows), format, report.code.as_str()).expect("render");
        files.into_iter().next().map(|f| f.bytes).unwrap_or_default()
    };

    // Warm-up: the first read vets the address and opens the pool's connection.
    let started = Instant::now();
    let first = read().await;
    let cold = started.elapsed();
    assert_eq!(first.len(), ROWS, "every row read");
    let bytes = data_bytes(&first);
    let csv_size = render(first.clone(), Format::Csv).len();
    let pdf = render(first, Format::Pdf);
    println!(
        "sql benchmark: {ROWS} statement lines (7 columns: integer, 2 text, numeric(20,4), date, timestamptz, \
         boolean) on PostgreSQL {}, seeded in {:.2} s; row data {:.2} MiB, CSV {:.2} MiB, PDF {:.2} MiB, {} pages",
        db.scalar("SHOW server_version").await.unwrap_or_default(),
        seeded.as_secs_f64(),
        bytes as f64 / 1_048_576.0,
        csv_size as f64 / 1_048_576.0,
        pdf.len() as f64 / 1_048_576.0,
        pages(&pdf),
    );
    println!("  first read (connect + read)  {:>9.1} ms", ms(cold));

    let mut samples = Vec::with_capacity(READS);
    for _ in 0..READS {
        let t = Instant::now();
        let rows = read().await;
        samples.push(t.elapsed());
        assert_eq!(rows.len(), ROWS);
    }
    let (best, median) = best_median(samples);
    println!(
        "  read -> RowSet               {:>9.1} ms best  {:>9.1} ms median  {:>8.0} rows/s  {:>6.1} MiB/s (median, {READS} reads)",
        ms(best),
        ms(median),
        ROWS as f64 / median.as_secs_f64(),
        bytes as f64 / 1_048_576.0 / median.as_secs_f64(),
    );

    for (label, format, reps) in
        [("read + compose + csv", Format::Csv, READS), ("read + compose + pdf", Format::Pdf, PDFS)]
    {
        let mut with_read = Vec::with_capacity(reps);
        let mut render_only = Vec::with_capacity(reps);
        for _ in 0..reps {
            let t = Instant::now();
            let rows = read().await;
            let read_took = t.elapsed();
            let out = render(rows, format);
            let total = t.elapsed();
            with_read.push(total);
            render_only.push(total - read_took);
            assert!(!out.is_empty());
        }
        let (best, median) = best_median(with_read);
        let (render_best, render_median) = best_median(render_only);
        println!(
            "  {label:<28} {:>9.1} ms best  {:>9.1} ms median  {:>8.0} rows/s  (compose + render alone {:.1} ms best, \
             {:.1} ms median; {reps} runs)",
            ms(best),
            ms(median),
            ROWS as f64 / median.as_secs_f64(),
            ms(render_best),
            ms(render_median),
        );
    }

    db.execute(&[&format!("DROP TABLE {table}")]).await;
}

/// Page objects in a PDF (`/Type /Page`, with or without the space; not `/Pages`).
fn pages(pdf: &[u8]) -> usize {
    [&b"/Type /Page"[..], &b"/Type/Page"[..]]
        .iter()
        .map(|marker| {
            pdf.windows(marker.len() + 1).filter(|w| w.starts_with(marker) && w[marker.len()] != b's').count()
        })
        .sum()
}

fn main() {
    if std::env::var("HERALD_TEST_POSTGRES_PORT").is_err() {
        println!(
            "sql benchmark SKIPPED: HERALD_TEST_POSTGRES_PORT is unset (run `bash infra/test.sh -- cargo bench -p \
             herald-core --bench sql` or `make bench`, which start the test PostgreSQL)"
        );
        return;
    }
    let Some(db) = TestDatabase::postgres() else {
        println!("sql benchmark SKIPPED: HERALD_SKIP_AWS_TESTS=1");
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(bench(&db));
}
