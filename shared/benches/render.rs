//! Rendering speed and memory: per-document time and throughput on one core for a one-page
//! customer statement (25-row table) and a 3-page digest, in every format; and the peak
//! memory of writing a 100,000-row CSV (measured in a child process, beside 10,000 and
//! 1,000,000 rows to show it stays flat).
//!
//! `cargo bench -p herald-core --bench render` (or `make bench`).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use herald_core::demo;
use herald_core::domain::{Report, ValueFormat};
use herald_core::narrate::{BuiltinNarrator, Narrator};
use herald_core::render::compose::{Composed, compose};
use herald_core::render::{Align, Document, TableColumn, csv, html, markdown, pdf};
use herald_core::source::{ColumnMeta, ColumnType, Comparison, RowSet};
use serde_json::{Value, json};

fn report(body: Value) -> Report {
    herald_core::testing::fixtures::report_json(body)
}

fn rows(columns: &[(&str, ColumnType)], rows: Vec<Vec<Value>>) -> RowSet {
    RowSet {
        columns: columns.iter().map(|(n, k)| ColumnMeta { name: (*n).into(), kind: *k }).collect(),
        rows,
        comparisons: vec![],
        note: None,
        label: None,
    }
}

/// What composing a document takes: the report, its rows and the template scope.
struct Inputs {
    report: Report,
    sources: BTreeMap<String, RowSet>,
    scope: Value,
}

impl Inputs {
    fn compose(&self) -> Composed {
        compose(&self.report, &self.sources, &self.scope, at()).expect("compose")
    }
}

/// The demo statement for one customer with 25 purchase lines.
fn statement() -> Inputs {
    let customer = demo::customers(1, 5).remove(0);
    let id = customer["id"].as_str().unwrap_or_default().to_owned();
    let statement = report(demo::reports(&id).remove(1));
    let lines = (0..25)
        .map(|i| {
            vec![
                json!(format!("2026-10-{:02}", 1 + i)),
                json!(if i % 4 == 0 { "Purchase (buy one, get one)" } else { "Purchase" }),
                json!(if i % 3 == 0 { "mobile" } else { "web" }),
                json!(3.5 + f64::from(i) * 1.25),
            ]
        })
        .collect();
    let number = ColumnType::Number;
    let text = ColumnType::Text;
    let sources = BTreeMap::from([
        ("customers".to_owned(), RowSet::from_objects(vec![customer.clone()])),
        (
            "lines".to_owned(),
            rows(&[("date", ColumnType::Date), ("description", text), ("channel", text), ("amount", number)], lines),
        ),
    ]);
    let scope = json!({"customers": Value::Object(customer)});
    Inputs { report: statement, sources, scope }
}

/// The demo digest with its narrative and a 90-day activity table: three pages.
fn digest() -> (Inputs, Composed) {
    let mut body = demo::reports("c").remove(0);
    if let Some(sections) = body["sections"].as_array_mut() {
        sections.push(json!({"type": "table", "title": "Daily activity", "source": "days", "totals": true,
            "columns": [{"key": "day", "format": {"kind": "date"}}, {"key": "received", "format": {"kind": "number"}},
                        {"key": "completed", "format": {"kind": "number"}}, {"key": "revenue", "format": {"kind": "currency", "code": "USD"}}]}));
    }
    if let Some(sources) = body["sources"].as_array_mut() {
        sources.push(json!({"name": "days", "type": "inline", "rows": []}));
    }
    let digest = report(body);
    let number = ColumnType::Number;
    let text = ColumnType::Text;
    let mut offers = rows(
        &[
            ("offer_id", text),
            ("offer_kind", text),
            ("received", number),
            ("viewed", number),
            ("completed", number),
            ("view_rate", number),
            ("completion_rate", number),
            ("rewards", number),
            ("previous_completed", number),
            ("completed_change", number),
        ],
        demo::OFFERS
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let (received, completed, previous) =
                    (900.0 - 40.0 * i as f64, 300.0 - 17.0 * i as f64, 280.0 - 9.0 * i as f64);
                vec![
                    json!(o.id),
                    json!(o.kind),
                    json!(received),
                    json!(received * 0.7),
                    json!(completed),
                    json!(0.7),
                    json!(completed / received),
                    json!(completed * o.reward),
                    json!(previous),
                    json!((completed - previous) / previous),
                ]
            })
            .collect(),
    );
    offers.comparisons.push(Comparison {
        label_column: "offer_id".into(),
        metric: "completions".into(),
        current_column: "completed".into(),
        previous_column: "previous_completed".into(),
    });
    let channels = rows(
        &[
            ("channel", text),
            ("received", number),
            ("viewed", number),
            ("completed", number),
            ("view_rate", number),
            ("completion_rate", number),
            ("transactions", number),
            ("revenue", number),
            ("previous_completed", number),
            ("completed_change", number),
        ],
        ["email", "mobile", "social", "web"]
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let f = 1.0 + i as f64;
                vec![
                    json!(c),
                    json!(1000.0 * f),
                    json!(700.0 * f),
                    json!(300.0 * f),
                    json!(0.7),
                    json!(0.3),
                    json!(2000.0 * f),
                    json!(21000.5 * f),
                    json!(280.0 * f),
                    json!(0.07),
                ]
            })
            .collect(),
    );
    let days = rows(
        &[("day", ColumnType::Date), ("received", number), ("completed", number), ("revenue", number)],
        (0..90)
            .map(|d| {
                let day = chrono::NaiveDate::from_ymd_opt(2026, 8, 24).unwrap_or_default() + chrono::Duration::days(d);
                vec![json!(day.to_string()), json!(300 + d), json!(100 + d / 2), json!(2500.25 + d as f64 * 10.0)]
            })
            .collect(),
    );
    let sources =
        BTreeMap::from([("offers".to_owned(), offers), ("channels".to_owned(), channels), ("days".to_owned(), days)]);
    let inputs = Inputs { report: digest, sources, scope: Value::Null };
    let mut composed = inputs.compose();
    let narration =
        BuiltinNarrator::new().write(&composed.figures, Some("Flag any offer with >15% week-over-week drop."));
    composed.document.narrative = Some(herald_core::domain::NarrativeOutput {
        summary: narration.summary,
        takeaways: narration.takeaways,
        narrator: BuiltinNarrator::new().name().into(),
        dropped: vec![],
        error: None,
        provider: None,
        fallback_reason: None,
    });
    (inputs, composed)
}

fn at() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 7, 0, 0).single().unwrap_or_default()
}

/// Runs `f` for about `budget`, returning the median of 15 batches' per-call time.
fn time(budget: Duration, mut f: impl FnMut()) -> Duration {
    let started = Instant::now();
    f();
    let once = started.elapsed().max(Duration::from_micros(1));
    let per_batch = ((budget.as_secs_f64() / 15.0) / once.as_secs_f64()).clamp(1.0, 100_000.0) as u32;
    let mut samples: Vec<Duration> = (0..15)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..per_batch {
                f();
            }
            t.elapsed() / per_batch
        })
        .collect();
    samples.sort();
    samples[7]
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

fn bench_document(name: &str, doc: &Document, inputs: &Inputs) {
    let bytes = pdf::render_pdf(doc).expect("pdf");
    println!("\n{name}: {} page(s), PDF {:.1} KiB", pages(&bytes), bytes.len() as f64 / 1024.0);
    let budget = Duration::from_millis(1500);
    let t = time(budget, || {
        black_box(pdf::render_pdf(black_box(doc)).ok());
    });
    println!(
        "  pdf            {:>9.3} ms/doc  {:>8.0} docs/s (one core)",
        t.as_secs_f64() * 1e3,
        1.0 / t.as_secs_f64()
    );
    let t = time(budget, || {
        let c = inputs.compose();
        black_box(pdf::render_pdf(&c.document).ok());
    });
    println!("  compose + pdf  {:>9.3} ms/doc  {:>8.0} docs/s", t.as_secs_f64() * 1e3, 1.0 / t.as_secs_f64());
    let t = time(budget, || {
        black_box(html::render_html(black_box(doc)));
    });
    println!("  html           {:>9.3} ms/doc  {:>8.0} docs/s", t.as_secs_f64() * 1e3, 1.0 / t.as_secs_f64());
    let t = time(budget, || {
        black_box(markdown::render_markdown(black_box(doc)));
    });
    println!("  markdown       {:>9.3} ms/doc  {:>8.0} docs/s", t.as_secs_f64() * 1e3, 1.0 / t.as_secs_f64());
    let t = time(budget, || {
        black_box(csv::render_csv(black_box(doc)).ok());
    });
    println!("  csv            {:>9.3} ms/doc  {:>8.0} docs/s", t.as_secs_f64() * 1e3, 1.0 / t.as_secs_f64());
}

/// Child mode: writes `n` generated rows as CSV to a temporary file and prints the peak
/// resident memory of the process.
fn csv_child(n: usize) {
    let columns: Vec<TableColumn> = ["id", "customer", "date", "channel", "amount", "points"]
        .iter()
        .map(|k| TableColumn { key: (*k).into(), label: (*k).into(), format: ValueFormat::Text, align: Align::Left })
        .collect();
    let rows = (0..n).map(|i| {
        [
            json!(i),
            json!(format!("customer-{}", i % 5000)),
            json!("2026-11-01"),
            json!(["email", "mobile", "social", "web"][i % 4]),
            json!(3.25 + (i % 1000) as f64 / 100.0),
            json!(i % 97),
        ]
    });
    let file = tempfile::tempfile().expect("temp file");
    let started = Instant::now();
    csv::write_table(&columns, rows, BufWriter::new(&file)).expect("csv");
    let elapsed = started.elapsed();
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.trim_start_matches("VmHWM:").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    println!("{n} {:.1} {:.1} {peak}", elapsed.as_secs_f64() * 1e3, size as f64 / 1_048_576.0);
    let _ = std::io::stdout().flush();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--csv-child") {
        csv_child(args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(100_000));
        return;
    }
    let plain = statement();
    bench_document("Customer statement (25-row table)", &plain.compose().document, &plain);
    let mut cyrillic = statement();
    cyrillic.report.name = herald_core::domain::Name::parse("Выписка по счёту — Zoë Ørsted").expect("a name");
    bench_document("Customer statement in Cyrillic (embedded DejaVu subset)", &cyrillic.compose().document, &cyrillic);
    let (digest, composed) = digest();
    bench_document("Weekly digest (narrative, KPIs, chart, 3 tables)", &composed.document, &digest);

    println!("\nCSV streaming (6 columns, child process per size):");
    println!("  {:>9}  {:>9}  {:>9}  peak RSS", "rows", "ms", "MiB out");
    let exe = std::env::current_exe().expect("bench executable");
    for n in [10_000usize, 100_000, 1_000_000] {
        match std::process::Command::new(&exe).args(["--csv-child", &n.to_string()]).output() {
            Ok(out) => {
                let line = String::from_utf8_lossy(&out.stdout);
                let parts: Vec<&str> = line.split_whitespace().collect();
                if let [rows, ms, mib, peak @ ..] = &parts[..] {
                    println!("  {rows:>9}  {ms:>9}  {mib:>9}  {}", peak.join(" "));
                }
            }
            Err(e) => println!("  {n}: could not run the child: {e}"),
        }
    }
}
