//! Alert cost in the tick: time, items read and items written for one tick over 10,000 alert
//! rules of which 100 are due, then for the next tick (0 due of the same 10,000), on SQLite and
//! (with `AWS_ENDPOINT_URL`, as `make bench` sets) on DynamoDB in the emulator. The rules read
//! an inline source of one row and have no destinations, so what is measured is the claiming
//! and evaluating machinery, not a data source. Items read must follow the due set, not the
//! total: the tick with nothing due should read (almost) nothing.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, TimeZone, Utc};
use futures::StreamExt;
use herald_core::clock::ManualClock;
use herald_core::config::{BlobConfig, Config};
use herald_core::context::Context;
use herald_core::domain::{AlertRule, AlertRuleId, Workspace};
use herald_core::pipeline::tick::{TickReport, tick};
use herald_core::store::Store;
use herald_core::store::counting::{CountingTable, Traffic};
use herald_core::testing::fixtures;
use serde_json::json;

const TOTAL: usize = 10_000;
const DUE: usize = 100;
/// Rules created at the same time (each is one conditional put).
const SEED_CONCURRENCY: usize = 32;

/// A rule over an inline source of one row (`sum(v)` = 1, never above 10), no destinations.
fn rule(ws: &Workspace, next: DateTime<Utc>, now: DateTime<Utc>) -> AlertRule {
    let mut rule: AlertRule = serde_json::from_value(json!({
        "id": AlertRuleId::generate(now),
        "workspace_id": ws.id,
        "name": "bench",
        "enabled": true,
        "source": { "name": "x", "type": "inline", "rows": [{ "v": 1 }] },
        "metric": { "aggregate": "sum", "column": "v" },
        "condition": { "op": ">", "threshold": 10 },
        "interval_minutes": 5,
        "window_minutes": 5,
        "created_at": now,
        "updated_at": now,
    }))
    .expect("alert rule");
    rule.next_evaluation_at = Some(next);
    rule
}

fn print(backend: &str, label: &str, outcome: &TickReport, elapsed: std::time::Duration, traffic: Traffic) {
    println!(
        "{backend:<8} {TOTAL} rules, {label:<10}: tick {:>7.2} s | evaluated {:>3} (inline {:>2}, queued {:>2}) | \
         items read {:>5} | items written {:>5} | requests {:>5}",
        elapsed.as_secs_f64(),
        outcome.alerts_evaluated,
        outcome.alerts_evaluated - outcome.alerts_queued,
        outcome.alerts_queued,
        traffic.items_read,
        traffic.items_written,
        traffic.requests,
    );
}

async fn measure(backend: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 30).unwrap();
    let slot = Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap();
    let counting = Arc::new(CountingTable::new(herald_core::testing::bench_table(backend, dir.path()).await));
    let mut config = Config::from_lookup(|_| None).expect("config");
    config.blobs = BlobConfig::Fs(dir.path().join("blobs"));
    let mut ctx = Context::from_config(config).await.expect("context");
    ctx.store = Store::new(counting.clone());
    ctx.clock = Arc::new(ManualClock::new(now));

    let ws = ctx.store.create_workspace(&fixtures::workspace("bench", now)).await.expect("workspace");
    let seeding = Instant::now();
    let rules: Vec<AlertRule> = (0..TOTAL)
        .map(|i| {
            // Not due: spread over the next day, so the index is not one clump after `now`.
            let next = if i < DUE { slot } else { slot + Duration::minutes(1 + (i % 1_440) as i64) };
            rule(&ws, next, now)
        })
        .collect();
    let store = &ctx.store;
    futures::stream::iter(rules)
        .map(|rule| async move { store.create_alert_rule(&rule).await.expect("seed") })
        .buffer_unordered(SEED_CONCURRENCY)
        .for_each(|_| async {})
        .await;
    let seeded = seeding.elapsed();
    println!("{backend:<8} {TOTAL} rules seeded in {:.1} s", seeded.as_secs_f64());

    // One tick with 100 due: every due rule is claimed, 16 evaluated here, the rest queued.
    counting.take();
    let started = Instant::now();
    let outcome = tick(&ctx).await.expect("tick");
    let elapsed = started.elapsed();
    let traffic = counting.take();
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    assert_eq!(outcome.alerts_evaluated, DUE);
    print(backend, &format!("{DUE} due"), &outcome, elapsed, traffic);

    // The next tick at the same instant: nothing is due (the evaluated rules moved to their
    // next slot, the queued ones hold a lease).
    let started = Instant::now();
    let outcome = tick(&ctx).await.expect("tick");
    let elapsed = started.elapsed();
    let traffic = counting.take();
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    assert_eq!(outcome.alerts_evaluated, 0);
    print(backend, "0 due", &outcome, elapsed, traffic);
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    println!("alert benchmark: one tick over {TOTAL} alert rules, {DUE} due, then the next tick (0 due)");
    runtime.block_on(measure("sqlite"));
    if std::env::var("AWS_ENDPOINT_URL").is_ok() {
        runtime.block_on(measure("dynamodb"));
    } else {
        println!("(DynamoDB skipped: AWS_ENDPOINT_URL is unset; `make bench` starts the emulator)");
    }
}
