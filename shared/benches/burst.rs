//! Bursting at scale: the seed `003` quickstart job (`monthly-statements` of the demo) over a
//! 10,000-row customers dataset — one run, 10,000 entries rendered to PDF and emailed to the
//! outbox by the in-process workers, on the embedded SQLite store in a temporary folder, as
//! `herald serve` runs them. Prints the end-to-end wall time, entries per second and the peak
//! resident memory of the process (VmHWM), which must stay flat: PDFs go to the blob store
//! and are never held together in memory.
//!
//! With `AWS_ENDPOINT_URL` (as `make bench` sets) the same job also runs over 300 customers on
//! DynamoDB in the emulator, counting the store requests per entry and per email sent:
//! requests are what cost time and money on AWS (the emulator's own speed says nothing).
//!
//! `cargo bench -p herald-core --bench burst` (or `make bench`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_core::config::Config;
use herald_core::context::Context;
use herald_core::lambda::Worker;
use herald_core::pipeline::start_run::{RunRequest, start_run};
use herald_core::pipeline::{admin, demo_data, workers};
use herald_core::store::counting::CountingTable;
use herald_core::store::{RunCreation, Store};

/// Rows of the customers dataset, so entries of the run (on the emulator, fewer).
const CUSTOMERS: usize = 10_000;
const EMULATED_CUSTOMERS: usize = 300;

/// The process's peak resident set size in MiB, from `/proc/self/status` (Linux).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// CPU seconds (user, system) the process has used so far, from `/proc/self/stat` (Linux).
fn cpu_seconds() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    // utime and stime are fields 14 and 15 of the line, in clock ticks (100 per second on Linux).
    Some((ticks(11)? / 100.0, ticks(12)? / 100.0))
}

fn eml_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries.filter_map(Result::ok).filter(|e| e.file_name().to_string_lossy().ends_with(".eml")).count()
    })
}

async fn burst(backend: &str, customers: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let vars = [
        ("HERALD_STORE", format!("sqlite:{}", dir.path().join("herald.db").display())),
        ("HERALD_BLOBS", format!("fs:{}", dir.path().join("blobs").display())),
        ("HERALD_OUTBOX", dir.path().join("outbox").display().to_string()),
    ];
    let config =
        Config::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())).expect("config");
    let mut ctx = Context::from_config(config).await.expect("context");
    // On DynamoDB, a fresh table in the emulator, counted; otherwise the embedded store above.
    let counting = match backend {
        "sqlite" => None,
        _ => Some(Arc::new(CountingTable::new(herald_core::testing::bench_table(backend, dir.path()).await))),
    };
    if let Some(counting) = &counting {
        ctx.store = Store::new(counting.clone());
    }
    let ctx = Arc::new(ctx);
    let access = admin::create_workspace(&ctx, "bench", "Bench").await.expect("workspace");
    let seeding = Instant::now();
    demo_data::load(&ctx, &access.workspace, customers, 1).await.expect("demo data");
    let seeded = seeding.elapsed();
    let report = ctx.store.resolve_report(access.workspace.id, "monthly-statements").await.expect("statements job");

    let (stop, stopping) = tokio::sync::watch::channel(false);
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let concurrency = workers::render_concurrency();
    let render = tokio::spawn(workers::run_workers(ctx.clone(), Worker::Render, concurrency, stopping.clone()));
    let deliver =
        tokio::spawn(workers::run_workers(ctx.clone(), Worker::Deliver, workers::DELIVER_CONCURRENCY, stopping));

    if let Some(counting) = &counting {
        counting.take();
    }
    let started = Instant::now();
    let cpu_before = cpu_seconds();
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
    let cpu = cpu_seconds().zip(cpu_before).map(|((user, system), (u0, s0))| (user - u0, system - s0));
    let _ = stop.send(true);
    let _ = tokio::join!(render, deliver);

    let emails = eml_files(&ctx.config.outbox_dir);
    assert_eq!(run.counts.total as usize, customers, "{:?}", run.counts);
    assert_eq!(run.counts.completed as usize, customers, "every entry completes: {:?}", run.counts);
    if let Some(counting) = counting {
        // The workers' last polls may add a request or two after the run ended.
        let traffic = counting.take();
        println!(
            "burst {backend} {customers} entries ({emails} emails): {:.1} store requests per entry, {:.1} per email \
             | items read {:.1}, written {:.1} per entry",
            traffic.requests as f64 / customers as f64,
            traffic.requests as f64 / emails.max(1) as f64,
            traffic.items_read as f64 / customers as f64,
            traffic.items_written as f64 / customers as f64,
        );
        return;
    }
    println!(
        "burst {backend}  {customers} entries ({emails} emails, {} skipped by condition): {:>6.1} s end to end \
         ({:.1} s to create the run) | {:>6.0} entries/s | CPU {} | peak RSS {} | {cores} cores, seeded in {:.1} s",
        customers - emails,
        elapsed.as_secs_f64(),
        created.as_secs_f64(),
        customers as f64 / elapsed.as_secs_f64(),
        cpu.map_or_else(|| "n/a".to_owned(), |(user, system)| format!("{user:.1} s user + {system:.1} s system")),
        peak_rss_mib().map_or_else(|| "n/a".to_owned(), |m| format!("{m:.0} MiB")),
        seeded.as_secs_f64(),
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    println!("burst benchmark: one run of the statements job over {CUSTOMERS} customers, to the outbox");
    runtime.block_on(burst("sqlite", CUSTOMERS));
    if std::env::var("AWS_ENDPOINT_URL").is_ok() {
        runtime.block_on(burst("dynamodb", EMULATED_CUSTOMERS));
    } else {
        println!("(DynamoDB skipped: AWS_ENDPOINT_URL is unset; `make bench` starts the emulator)");
    }
}
