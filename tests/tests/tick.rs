//! The tick under contention: several ticks at once over many due schedules still make
//! exactly one run per slot, on each store.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use herald_core::clock::ManualClock;
use herald_core::domain::ScheduleRule;
use herald_core::pipeline::tick::tick;
use herald_core::store::PageRequest;
use herald_core::testing::fixtures;
use herald_tests::{Backend, TestServer};

const TICKS: usize = 8;

/// Due schedules raced over (`HERALD_TICK_TEST_SCHEDULES` lowers it for a quick local run).
fn schedules() -> usize {
    std::env::var("HERALD_TICK_TEST_SCHEDULES").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000)
}

async fn eight_concurrent_ticks_over_many_due_schedules_make_one_run_each(backend: Backend) {
    let expected = schedules();
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 30).unwrap();
    let slot = Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap();
    let clock = Arc::new(ManualClock::new(now));
    let Some(server) = TestServer::start_with_clock(backend, Some(clock)).await else { return };
    let store = &server.ctx.store;
    let report = store.create_report(&fixtures::report(&server.access.workspace, "digest", now)).await.unwrap();
    let creations = (0..expected).map(|_| {
        let mut s = fixtures::schedule(&report, Some(slot), now);
        s.rule = ScheduleRule::Cron { expression: "0 * * * *".into() };
        async move { store.create_schedule(&s).await.unwrap() }
    });
    futures::future::join_all(creations).await;

    let ticks: Vec<_> = (0..TICKS)
        .map(|_| {
            let ctx = server.ctx.clone();
            tokio::spawn(async move { tick(&ctx).await.unwrap() })
        })
        .collect();
    let mut ran = 0;
    for t in ticks {
        let report = t.await.unwrap();
        assert!(report.ok, "{:?}", report.errors);
        ran += report.reports_ran;
    }
    assert_eq!(ran, expected, "the ticks together created one run per schedule");

    let mut runs = 0;
    let mut page = PageRequest::first(200);
    loop {
        let listing = store.list_runs(server.access.workspace.id, Some(report.id), &page).await.unwrap();
        runs += listing.items.len();
        assert!(listing.items.iter().all(|r| r.scheduled_for == Some(slot)));
        match listing.cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => break,
        }
    }
    assert_eq!(runs, expected, "exactly one run per slot is stored");
    let again = tick(&server.ctx).await.unwrap();
    assert_eq!((again.reports_evaluated, again.reports_ran), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_ticks_make_exactly_one_run_per_slot_on_sqlite() {
    eight_concurrent_ticks_over_many_due_schedules_make_one_run_each(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_ticks_make_exactly_one_run_per_slot_on_dynamodb() {
    eight_concurrent_ticks_over_many_due_schedules_make_one_run_each(Backend::DynamoDb).await;
}
