//! Tick cost: time and items read for one tick over N schedules of which 1,000 are due, on
//! SQLite and (with `AWS_ENDPOINT_URL`, as `make bench` sets) on DynamoDB in the emulator.
//! Items read must follow the due set, not the total: compare the two sizes.

use std::sync::Arc;
use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use herald_core::clock::ManualClock;
use herald_core::config::{BlobConfig, Config};
use herald_core::context::Context;
use herald_core::domain::ScheduleRule;
use herald_core::pipeline::tick::tick;
use herald_core::store::Store;
use herald_core::store::counting::CountingTable;
use herald_core::testing::fixtures;

const DUE: usize = 1_000;

async fn measure(backend: &str, total: usize) {
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
    let report = ctx.store.create_report(&fixtures::report(&ws, "digest", now)).await.expect("report");
    let seeding = Instant::now();
    let schedules: Vec<_> = (0..total)
        .map(|i| {
            let next = if i < DUE { slot } else { slot + Duration::days(1) };
            let mut s = fixtures::schedule(&report, Some(next), now);
            s.rule = ScheduleRule::Cron { expression: "0 8 * * *".into() };
            s
        })
        .collect();
    ctx.store.import_schedules(&schedules).await.expect("seed");
    let seeded = seeding.elapsed();

    counting.take();
    let started = Instant::now();
    let outcome = tick(&ctx).await.expect("tick");
    let elapsed = started.elapsed();
    let traffic = counting.take();
    assert_eq!(outcome.reports_ran, DUE, "{:?}", outcome.errors);
    println!(
        "{backend:<8} {total:>7} schedules, {DUE} due: tick {:>8.2} s | items read {:>6} ({:.1} per due schedule) | \
         items written {:>6} | requests {:>6} | seeded in {:.1} s",
        elapsed.as_secs_f64(),
        traffic.items_read,
        traffic.items_read as f64 / DUE as f64,
        traffic.items_written,
        traffic.requests,
        seeded.as_secs_f64(),
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    println!("tick benchmark: one tick, {DUE} due schedules among N");
    for total in [10_000, 100_000] {
        runtime.block_on(measure("sqlite", total));
    }
    if std::env::var("AWS_ENDPOINT_URL").is_ok() {
        for total in [10_000, 100_000] {
            runtime.block_on(measure("dynamodb", total));
        }
    } else {
        println!("(DynamoDB skipped: AWS_ENDPOINT_URL is unset; `make bench` starts the emulator)");
    }
}
