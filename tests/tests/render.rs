//! Reports rendered through the API and read back: the preview summary, every export format
//! (PDF text extracted, CSV re-read, Markdown and HTML checked for the figures), long tables
//! across pages, non-Latin text, empty sources, runs whose artifacts download with their
//! recorded checksum, and the weekly digest over ingested interaction history.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use herald_core::clock::{Clock, ManualClock};
use herald_core::demo;
use herald_tests::{Backend, TestServer, pdf_text};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

async fn server() -> TestServer {
    TestServer::start_with(Backend::Sqlite, None, &[("HERALD_BODY_LIMIT_BYTES", "8388608")]).await.expect("server")
}

fn sales_report() -> Value {
    json!({
        "name": "Regional sales",
        "sources": [{"name": "sales", "type": "inline", "rows": [
            {"region": "North", "orders": 1200, "revenue": 48211.75, "margin_rate": 0.153},
            {"region": "South", "orders": 800, "revenue": 30500.5, "margin_rate": 0.121},
            {"region": "Zoë Ørsted — Ελληνικά, Кириллица", "orders": 15, "revenue": 99.99, "margin_rate": 0.5}
        ]}],
        "sections": [
            {"type": "kpi", "title": "Headline", "source": "sales", "tiles": [
                {"label": "Orders", "column": "orders", "format": {"kind": "number"}},
                {"label": "Revenue", "column": "revenue", "format": {"kind": "currency", "code": "USD"}}
            ]},
            {"type": "chart", "title": "Revenue by region", "source": "sales", "chart": "bar", "x": "region", "y": ["revenue"]},
            {"type": "table", "title": "By region", "source": "sales", "totals": true,
             "sort": {"column": "revenue", "descending": true},
             "columns": [{"key": "region"}, {"key": "orders", "format": {"kind": "number"}},
                         {"key": "revenue", "format": {"kind": "currency", "code": "USD"}},
                         {"key": "margin_rate", "label": "Margin"}]},
            {"type": "text", "title": "Notes", "markdown": "Figures for {period}.\n\n- Prepared by finance"}
        ],
        "parameters": [{"name": "period", "type": "string", "default": "May 2026"}],
        "formats": ["pdf"]
    })
}

async fn export(s: &TestServer, report: &Value, format: &str) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let r = s
        .post(&format!("{}/api/v1/reports/preview", s.url))
        .json(&json!({"report": report, "format": format}))
        .send()
        .await
        .unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    (status, headers, r.bytes().await.unwrap().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_summary_gives_rows_per_section_and_a_grounded_narrative() {
    let s = server().await;
    let r = s.post(&s.ws("/reports/preview")).json(&json!({"report": sales_report()})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "report_preview");
    let rows: Vec<_> =
        v["sections"].as_array().unwrap().iter().map(|s| (s["type"].clone(), s["rows"].clone())).collect();
    assert_eq!(
        rows,
        [(json!("kpi"), json!(3)), (json!("chart"), json!(3)), (json!("table"), json!(3)), (json!("text"), json!(0))]
    );
    assert_eq!(v["entries"], 1);
    let narrative = &v["narrative"];
    assert_eq!(narrative["narrator"], "builtin");
    let summary = narrative["summary"].as_str().unwrap();
    assert!(summary.contains("2,015") && summary.contains("$78,812.24"), "{summary}");
    assert_eq!(narrative["dropped"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_export_format_reads_back_with_the_figures() {
    let s = server().await;
    let report = sales_report();

    let (status, headers, pdf) = export(&s, &report, "pdf").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/pdf");
    assert!(headers["content-disposition"].to_str().unwrap().contains("preview.pdf"));
    let text = pdf_text(&pdf);
    for figure in [
        "Regional sales",
        "$48,211.75",
        "$78,812.24",
        "2,015",
        "15.3%",
        "Zoë Ørsted — Ελληνικά, Кириллица",
        "Figures for May 2026.",
    ] {
        assert!(text.contains(figure), "PDF lacks {figure:?}:\n{text}");
    }
    assert!(text.contains("Page 1 of 1"), "{text}");

    let (status, headers, csv) = export(&s, &report, "csv").await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    let mut reader = csv::Reader::from_reader(&csv[..]);
    assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), ["Region", "Orders", "Revenue", "Margin"]);
    let rows: Vec<Vec<String>> = reader.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect();
    assert_eq!(rows[0], ["North", "1200", "48211.75", "0.153"]);
    assert_eq!(rows[2][0], "Zoë Ørsted — Ελληνικά, Кириллица");

    let (_, _, markdown) = export(&s, &report, "markdown").await;
    let markdown = String::from_utf8(markdown).unwrap();
    assert!(markdown.contains("# Regional sales"), "{markdown}");
    assert!(
        markdown.contains("| North |") && markdown.contains("$48,211.75") && markdown.contains("---:"),
        "{markdown}"
    );

    let (_, headers, html) = export(&s, &report, "html").await;
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = String::from_utf8(html).unwrap();
    assert!(html.contains("$48,211.75") && html.contains("<svg") && html.contains("Кириллица"), "{html}");
    assert!(!html.contains("<script") && !html.contains("src=\"http"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_thousand_row_table_spans_pages_with_its_header_repeated() {
    let s = server().await;
    let mut csv = String::from("id,customer,amount\n");
    for i in 0..2000 {
        csv.push_str(&format!("R{i:05},Customer {i},{}.{:02}\n", 10 + i, i % 100));
    }
    let r = s
        .client
        .put(s.ws("/datasets/ledger"))
        .bearer_auth(&s.access.secret)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let report = json!({
        "name": "Ledger",
        "sources": [{"name": "ledger", "type": "dataset", "dataset": "ledger"}],
        "sections": [{"type": "table", "title": "Ledger", "source": "ledger", "columns": [
            {"key": "id", "label": "Reference"}, {"key": "customer"}, {"key": "amount", "format": {"kind": "currency", "code": "EUR"}}]}]
    });
    let (status, _, pdf) = export(&s, &report, "pdf").await;
    assert_eq!(status, StatusCode::OK);
    let text = pdf_text(&pdf);
    let pages: Vec<&str> = text.split('\u{c}').filter(|p| !p.trim().is_empty()).collect();
    assert!(pages.len() > 20, "{} pages", pages.len());
    for (n, page) in pages.iter().enumerate() {
        assert!(page.contains("Reference") && page.contains("Customer"), "page {} lacks the header", n + 1);
        assert!(page.contains(&format!("Page {} of {}", n + 1, pages.len())), "page {} footer", n + 1);
    }
    for i in [0, 1, 999, 1998, 1999] {
        assert!(text.contains(&format!("R{i:05}")), "row {i} missing");
    }
    assert_eq!(text.matches("€").count(), 2000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_source_renders_an_empty_table_in_every_format() {
    let s = server().await;
    let report = json!({
        "name": "Nothing today",
        "sources": [{"name": "rows", "type": "inline", "rows": []}],
        "sections": [{"type": "table", "title": "Rows", "source": "rows", "columns": []}]
    });
    let (status, _, pdf) = export(&s, &report, "pdf").await;
    assert_eq!(status, StatusCode::OK);
    assert!(pdf_text(&pdf).contains("Nothing today"));
    let (status, _, csv) = export(&s, &report, "csv").await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&csv));
    let (_, _, markdown) = export(&s, &report, "markdown").await;
    assert!(String::from_utf8(markdown).unwrap().contains("Nothing today"));
    let (_, _, html) = export(&s, &report, "html").await;
    assert!(String::from_utf8(html).unwrap().contains("Nothing today"));
}

async fn a_run_stores_artifacts_that_download_with_their_recorded_size_and_checksum(s: TestServer) {
    s.run_workers();
    let mut report = sales_report();
    report["code"] = json!("regional-sales");
    report["formats"] = json!(["pdf", "csv", "markdown", "html"]);
    let r = s.post(&s.ws("/reports")).json(&report).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    let r = s
        .post(&s.ws("/reports/regional-sales/runs"))
        .json(&json!({"params": {"period": "June 2026"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let run: Value = r.json().await.unwrap();
    let run = s.settled_run(run["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "finished");
    assert_eq!(run["counts"]["completed"], 1);
    assert!(run["narrative"]["summary"].as_str().unwrap().contains("$78,812.24"), "{run}");
    let entry = &run["entry_list"]["data"][0];
    assert_eq!(entry["status"], "Completed");
    let artifacts = entry["artifacts"].as_array().unwrap();
    let names: Vec<_> = artifacts.iter().map(|a| a["file_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["regional-sales.pdf", "by-region.csv", "regional-sales.md", "regional-sales.html"]);
    for artifact in artifacts {
        let bytes =
            s.client.get(artifact["download_url"].as_str().unwrap()).send().await.unwrap().bytes().await.unwrap();
        assert_eq!(bytes.len() as u64, artifact["size"].as_u64().unwrap());
        assert_eq!(hex::encode(Sha256::digest(&bytes)), artifact["sha256"].as_str().unwrap());
        if artifact["format"] == "pdf" {
            assert!(pdf_text(&bytes).contains("Figures for June 2026."));
        }
    }
}

async fn a_source_that_fails_fails_the_preview_and_the_entry_with_the_reason(s: TestServer) {
    s.run_workers();
    let report = json!({
        "code": "missing-data", "name": "Missing data", "formats": ["pdf"],
        "sources": [{"name": "customers", "type": "dataset", "dataset": "customers"}]
    });
    let r = s.post(&s.ws("/reports/preview")).json(&json!({"report": report})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("customers"), "{v}");

    s.post(&s.ws("/reports")).json(&report).send().await.unwrap();
    let run: Value = s.post(&s.ws("/reports/missing-data/runs")).send().await.unwrap().json().await.unwrap();
    let run = s.settled_run(run["id"].as_str().unwrap()).await;
    assert_eq!(run["counts"]["errors"], 1);
    let entry = &run["entry_list"]["data"][0];
    assert_eq!(entry["status"], "GenerationFailed");
    assert!(entry["error"].as_str().unwrap().contains("customers"), "{entry}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_weekly_digest_reads_ingested_history_and_flags_the_offer_that_dropped() {
    let now = Utc.with_ymd_and_hms(2026, 11, 22, 23, 30, 0).unwrap();
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(now));
    let s = TestServer::start_with(Backend::Sqlite, Some(clock), &[("HERALD_BODY_LIMIT_BYTES", "8388608")])
        .await
        .expect("server");
    let customers = demo::customers(400, 11);
    let history = demo::history(&customers, now.date_naive(), 21, 11);
    let past: Vec<Value> = history
        .interactions
        .into_iter()
        .filter(|e| serde_json::from_value::<DateTime<Utc>>(e["occurred_at"].clone()).is_ok_and(|at| at <= now))
        .collect();
    for batch in past.chunks(5000) {
        let r = s.post(&s.ws("/interactions")).json(&batch).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    }
    let catalogue = s.client.put(s.ws("/datasets/offers")).bearer_auth(&s.access.secret);
    let r = catalogue.json(&demo::offer_catalogue()).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let digest = demo::reports("c1").remove(0);
    let r = s.post(&s.ws("/reports/preview")).json(&json!({"report": digest})).send().await.unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["sections"][2]["rows"], 10, "{v}");
    let narrative = &v["narrative"];
    let text = format!("{} {}", narrative["summary"], narrative["takeaways"]);
    let fading = demo::OFFERS.iter().find(|o| o.id == demo::FADING_OFFER).unwrap().name();
    assert!(text.contains(&fading), "the fading offer is not flagged by name: {text}");
    assert!(!text.contains(demo::FADING_OFFER), "the narrative names an offer by its id: {text}");
    assert_eq!(narrative["dropped"], json!([]), "{narrative}");
}

herald_tests::on_every_store!(
    a_run_stores_artifacts_that_download_with_their_recorded_size_and_checksum,
    a_source_that_fails_fails_the_preview_and_the_entry_with_the_reason,
);
