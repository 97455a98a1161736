//! Bursting at scale: the seed `003` quickstart job (`monthly-statements` of the demo) over a
//! 10,000-row customers dataset — one run, 10,000 entries rendered to PDF and emailed to the
//! outbox by the in-process workers, on the embedded SQLite store in a temporary folder, as
//! `herald serve` runs them. Prints the end-to-end wall time, entries per second and the peak
//! resident memory of the process (VmHWM), which must stay flat: PDFs go to the blob store
//! and are never held together in memory.
//!
//! `cargo bench -p herald-core --bench burst` (or `make bench`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_core::config::Config;
use herald_core::context::Context;
use herald_core::lambda::Worker;
use herald_core::pipeline::start_run::{RunRequest, start_run};
use herald_core::pipeline::{admin, demo_data, workers};
use herald_core::store::RunCreation;

/// Rows of the customers dataset, so entries of the run.
const CUSTOMERS: usize = 10_000;

/// Deliveries sent at once, as the local server does.
const DELIVER_WORKERS: usize = 8;

/// The process's peak resident set size in MiB, from `/proc/self/status` (Linux).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn eml_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries.filter_map(Result::ok).filter(|e| e.file_name().to_string_lossy().ends_with(".eml")).count()
    })
}

async fn burst() {
    let dir = tempfile::tempdir().expect("temp dir");
    let vars = [
        ("HERALD_STORE", format!("sqlite:{}", dir.path().join("herald.db").display())),
        ("HERALD_BLOBS", format!("fs:{}", dir.path().join("blobs").display())),
        ("HERALD_OUTBOX", dir.path().join("outbox").display().to_string()),
    ];
    let config =
        Config::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())).expect("config");
    let ctx = Arc::new(Context::from_config(config).await.expect("context"));
    let access = admin::create_workspace(&ctx, "bench", "Bench").await.expect("workspace");
    let seeding = Instant::now();
    demo_data::load(&ctx, &access.workspace, CUSTOMERS, 1).await.expect("demo data");
    let seeded = seeding.elapsed();
    let report = ctx.store.resolve_report(access.workspace.id, "monthly-statements").await.expect("statements job");

    let (stop, stopping) = tokio::sync::watch::channel(false);
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let concurrency = workers::render_concurrency();
    let render = tokio::spawn(workers::run_workers(ctx.clone(), Worker::Render, concurrency, stopping.clone()));
    let deliver = tokio::spawn(workers::run_workers(ctx.clone(), Worker::Deliver, DELIVER_WORKERS, stopping));

    let started = Instant::now();
    let request = RunRequest::now(report, herald_core::domain::RunTrigger::Manual, serde_json::Map::new());
    let run_id = match start_run(&ctx, request).await.expect("start run") {
        RunCreation::Created(run) => run.id,
        RunCreation::Existing(id) => id,
    };
    let created = started.elapsed();
    let run = loop {
        let run = ctx.store.get_run(run_id).await.expect("run");
        if run.is_finished() {
            break run;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1_800),
            "the run did not finish in 30 minutes: {:?}",
            run.counts
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let elapsed = started.elapsed();
    let _ = stop.send(true);
    let _ = tokio::join!(render, deliver);

    let emails = eml_files(&ctx.config.outbox_dir);
    assert_eq!(run.counts.total as usize, CUSTOMERS, "{:?}", run.counts);
    assert_eq!(run.counts.completed as usize, CUSTOMERS, "every entry completes: {:?}", run.counts);
    println!(
        "burst sqlite  {CUSTOMERS} entries ({emails} emails, {} skipped by condition): {:>6.1} s end to end \
         ({:.1} s to create the run) | {:>6.0} entries/s | peak RSS {} | {cores} cores, seeded in {:.1} s",
        CUSTOMERS - emails,
        elapsed.as_secs_f64(),
        created.as_secs_f64(),
        CUSTOMERS as f64 / elapsed.as_secs_f64(),
        peak_rss_mib().map_or_else(|| "n/a".to_owned(), |m| format!("{m:.0} MiB")),
        seeded.as_secs_f64(),
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    println!("burst benchmark: one run of the statements job over {CUSTOMERS} customers, to the outbox");
    runtime.block_on(burst());
}
