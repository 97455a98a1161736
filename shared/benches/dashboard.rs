//! A dashboard redraw, as the console's Dashboards page asks for one on every filter change:
//! the transient HTML preview (fetch every source, compose, narrate with the built-in narrator,
//! render) of the built-in Executive, Offers-for-gold-customers and Data health dashboards over
//! the demo data (`herald demo`: 300 customers, 90 days), for each period. Best and median of
//! several redraws after one warm-up, with the store requests and items each redraw reads, on
//! SQLite and (with `AWS_ENDPOINT_URL`, as `make bench` sets) on DynamoDB in the emulator. The
//! emulator answers a query in time that grows with the whole table, not as DynamoDB does, so
//! there only the requests and items count (three redraws each, periods of 7 and 90 days).

use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_core::config::{BlobConfig, Config};
use herald_core::context::Context;
use herald_core::domain::{Format, Report, Workspace};
use herald_core::pipeline::demo_data;
use herald_core::pipeline::preview::{PreviewRequest, preview};
use herald_core::store::Store;
use herald_core::store::counting::{CountingTable, Traffic};
use herald_core::testing::fixtures;
use serde_json::{Value, json};

/// Redraws measured per dashboard and period, and the periods, by store.
fn plan(backend: &str) -> (usize, &'static [&'static str]) {
    match backend {
        "sqlite" => (15, &["today", "7d", "14d", "30d", "90d"]),
        _ => (3, &["7d", "90d"]),
    }
}

/// The console's built-in dashboards (`shared/console/pages/dashboards.js`), with the period
/// the filter picked.
fn dashboards(period: &str) -> Vec<(&'static str, Report)> {
    let offers = json!({"name": "offers", "type": "offer_performance", "period": period,
                        "label": {"dataset": "offers", "key": "id", "column": "name"}});
    let channels = json!({"name": "channels", "type": "channel_effectiveness", "period": period});
    let mut gold = offers.clone();
    gold["segment"] = json!({"customers": {"dataset": "customers", "key": "id", "column": "tier", "equals": "gold"}});
    let usd = json!({"kind": "currency", "code": "USD"});
    let executive = json!({
        "name": "Executive dashboard", "formats": ["html"], "sources": [offers, channels],
        "sections": [
            {"type": "kpi", "title": "Headline", "source": "channels", "tiles": [
                {"label": "Offers received", "column": "received"}, {"label": "Offers completed", "column": "completed"},
                {"label": "Transactions", "column": "transactions"}, {"label": "Revenue", "column": "revenue", "format": usd}]},
            {"type": "chart", "source": "channels", "chart": "bar", "x": "channel", "y": ["completed", "previous_completed"]},
            {"type": "table", "title": "Channels", "source": "channels", "totals": true}
        ],
        "narrative": {"enabled": true}
    });
    let offers_gold = json!({
        "name": "Offer performance", "formats": ["html"], "sources": [gold],
        "sections": [
            {"type": "chart", "source": "offers", "chart": "bar", "x": "offer_id", "y": ["completed", "previous_completed"]},
            {"type": "table", "title": "Offer performance", "source": "offers", "totals": true}
        ],
        "narrative": {"enabled": true}
    });
    let health = json!({
        "name": "Data health", "formats": ["html"],
        "sources": [{"name": "ingest", "type": "ingest_health", "period": period, "include_today": true},
                    {"name": "freshness", "type": "data_freshness"}],
        "sections": [
            {"type": "kpi", "source": "ingest", "tiles": [{"label": "Received", "column": "received"},
                {"label": "Refused batches", "column": "refused_batches"}]},
            {"type": "chart", "source": "ingest", "chart": "line", "x": "day", "y": ["received"]},
            {"type": "table", "source": "ingest", "totals": true},
            {"type": "table", "source": "freshness"}
        ],
        "narrative": {"enabled": false}
    });
    [("executive", executive), ("offers, gold", offers_gold), ("data health", health)]
        .into_iter()
        .map(|(name, body)| (name, fixtures::report_json(body)))
        .collect()
}

/// One redraw: the preview of `report` rendered as HTML; its size in bytes.
async fn redraw(ctx: &Context, ws: &Workspace, report: &Report) -> usize {
    let request = PreviewRequest { report: report.clone(), overrides: Default::default(), data: Value::Null };
    let shown = preview(ctx, ws, request).await.expect("preview");
    let files = shown.render(Format::Html).await.expect("render");
    files.iter().map(|f| f.bytes.len()).sum()
}

async fn measure(backend: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let counting = Arc::new(CountingTable::new(herald_core::testing::bench_table(backend, dir.path()).await));
    let mut config = Config::from_lookup(|_| None).expect("config");
    config.blobs = BlobConfig::Fs(dir.path().join("blobs"));
    let mut ctx = Context::from_config(config).await.expect("context");
    ctx.store = Store::new(counting.clone());
    let now = ctx.clock.now();
    let ws = ctx.store.create_workspace(&fixtures::workspace("demo", now)).await.expect("workspace");
    let loading = Instant::now();
    let load = demo_data::load(&ctx, &ws, 300, 90).await.expect("demo");
    println!(
        "{backend:<8} demo loaded in {:.1} s ({} interactions)",
        loading.elapsed().as_secs_f64(),
        load.interactions
    );

    let (redraws, periods) = plan(backend);
    for period in periods {
        for (name, report) in dashboards(period) {
            let size = redraw(&ctx, &ws, &report).await;
            counting.take();
            let mut times: Vec<Duration> = Vec::with_capacity(redraws);
            for _ in 0..redraws {
                let started = Instant::now();
                redraw(&ctx, &ws, &report).await;
                times.push(started.elapsed());
            }
            let Traffic { requests, items_read, .. } = counting.take();
            times.sort();
            println!(
                "{backend:<8} {name:<13} {period:>5}: best {:>6.1} ms, median {:>6.1} ms | {:>4} requests, {:>6} items \
                 read per redraw | {:>4} KiB of HTML",
                times[0].as_secs_f64() * 1e3,
                times[redraws / 2].as_secs_f64() * 1e3,
                requests / redraws as u64,
                items_read / redraws as u64,
                size / 1024,
            );
        }
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    println!("dashboard benchmark: one redraw = the HTML preview of a built-in dashboard on the demo data");
    runtime.block_on(measure("sqlite"));
    if std::env::var("AWS_ENDPOINT_URL").is_ok() {
        runtime.block_on(measure("dynamodb"));
    } else {
        println!("(DynamoDB skipped: AWS_ENDPOINT_URL is unset; `make bench` starts the emulator)");
    }
}
