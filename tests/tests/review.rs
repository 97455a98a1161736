//! Hold-for-review seen from outside: held entries are approved, rejected (kept for audit,
//! never delivered) and delivered in bulk with the run's buckets right at each step; the four
//! toggle combinations of seed `003` (scheduled or not × held or not); the approvals expiry
//! of seed `002`; the seed `003` jobs endpoints; and the consolidated review document.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use herald_core::clock::ManualClock;
use herald_core::domain::Role;
use herald_core::testing::fixtures;
use herald_core::testing::recorder::{Recorder, Reply};
use herald_tests::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

const CRON_SECRET: &str = "cron-secret-for-the-review-tests";

async fn body(r: reqwest::Response) -> Value {
    r.json().await.expect("JSON body")
}

/// A server with a clock the test moves, the cron secrets set, workers running and loopback
/// webhooks allowed; `None` only when AWS tests are skipped.
async fn server(backend: Backend, clock: Arc<ManualClock>, extra: &[(&'static str, &str)]) -> Option<TestServer> {
    let mut vars = vec![("CRON_SECRET", CRON_SECRET), ("CRON_TOKEN", CRON_SECRET)];
    vars.extend_from_slice(extra);
    let s = TestServer::start_with(backend, Some(clock), &vars).await?;
    s.run_workers();
    let mut ws = s.ctx.store.get_workspace(s.access.workspace.id).await.unwrap();
    ws.settings.network.allowed_addresses = vec!["127.0.0.1".into()];
    s.ctx.store.update_workspace(&ws).await.unwrap();
    Some(s)
}

fn start_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 7, 59, 0).unwrap()))
}

/// A webhook destination posting to `hook`.
async fn webhook_to(s: &TestServer, hook: &Recorder) -> String {
    let secret = "whsec_aGVyYWxkLXdlYmhvb2stc2VjcmV0LTI0";
    let config = json!({"type": "webhook", "url": hook.url("/hook"), "signing_secret": secret});
    let r = s.post(&s.ws("/destinations")).json(&json!({"name": "Hook", "config": config})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    body(r).await["id"].as_str().unwrap().to_owned()
}

/// A statement job: one entry per customer, each PDF naming its customer, delivered to
/// `destination`.
async fn statements(s: &TestServer, code: &str, customers: &[&str], hold: bool, destination: &str) {
    let rows: Vec<Value> = customers.iter().map(|c| json!({"name": c, "balance": 100})).collect();
    let report = json!({
        "code": code, "name": format!("Statements {code}"), "description": "One statement per customer",
        "formats": ["pdf"], "hold_for_review": hold,
        "sources": [{"name": "customers", "role": "repeating", "type": "inline", "rows": rows}],
        "sections": [{"type": "text", "markdown": "Statement for {customers.name}"}],
        "deliveries": [{"destination_id": destination}]
    });
    let r = s.post(&s.ws("/reports")).json(&report).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
}

/// Starts a run through the jobs API and returns its id.
async fn start_job(s: &TestServer, job: &str) -> String {
    let r = s.post(&s.ws(&format!("/jobs/{job}/runs"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    body(r).await["jobRunId"].as_str().unwrap().to_owned()
}

/// `(status, entry id)` of every entry of a finished run, in sequence order.
fn entries(run: &Value) -> Vec<(String, String)> {
    let list = run["entry_list"]["data"].as_array().unwrap();
    list.iter().map(|e| (e["status"].as_str().unwrap().to_owned(), e["id"].as_str().unwrap().to_owned())).collect()
}

/// `(completed, errors, review, cancelled, queued)` of a run.
fn buckets(run: &Value) -> (u64, u64, u64, u64, u64) {
    let c = &run["counts"];
    let n = |k: &str| c[k].as_u64().unwrap();
    (n("completed"), n("errors"), n("review"), n("cancelled"), n("queued"))
}

/// The entry ids the webhook received, in order.
fn delivered(hook: &Recorder) -> Vec<String> {
    hook.requests().iter().map(|r| r.json()["entry"]["id"].as_str().unwrap_or_default().to_owned()).collect()
}

async fn a_held_run_is_approved_rejected_and_delivered_in_bulk_with_the_right_buckets(backend: Backend) {
    let Some(s) = server(backend, start_clock(), &[]).await else { return };
    let hook = Recorder::start(vec![Reply::new(200, "ok")]).await;
    let destination = webhook_to(&s, &hook).await;
    statements(&s, "statements", &["Ada", "Brook", "Cyd", "Dee", "Eve"], true, &destination).await;
    let id = start_job(&s, "statements").await;
    let run = s.settled_run(&id).await;
    assert_eq!(buckets(&run), (0, 0, 5, 0, 0), "{run}");
    assert!(hook.requests().is_empty(), "nothing leaves before approval");
    let ids: Vec<String> = entries(&run).into_iter().map(|(_, id)| id).collect();

    for approved in &ids[..2] {
        let r = s.post(&s.ws(&format!("/runs/{id}/entries/{approved}/approve"))).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED, "{}", r.text().await.unwrap());
    }
    let rejected = &ids[2];
    let r = s
        .post(&s.ws(&format!("/runs/{id}/entries/{rejected}/reject")))
        .json(&json!({"reason": "balance looks wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let entry = body(r).await;
    assert_eq!(entry["status"], "Cancelled");
    assert_eq!(entry["review"]["decision"], "rejected");
    assert_eq!(entry["review"]["by"], s.access.token.id.to_string());
    assert_eq!(entry["review"]["note"], "balance looks wrong");
    let run = s.settled_run(&id).await;
    assert_eq!(buckets(&run), (2, 0, 2, 1, 0), "{run}");
    let mut sent = delivered(&hook);
    sent.sort();
    assert_eq!(sent, ids[..2].to_vec());

    // Only held entries can be decided on: a second decision is a conflict and changes nothing.
    for action in ["approve", "reject"] {
        let r = s.post(&s.ws(&format!("/runs/{id}/entries/{rejected}/{action}"))).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CONFLICT, "{action}");
        assert_eq!(body(r).await["error"]["code"], "conflict");
    }
    let r = s.post(&s.ws(&format!("/runs/{id}/entries/01JD0000000000000000000000/approve"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = s
        .post(&s.ws(&format!("/runs/{id}/approve")))
        .json(&json!({"entry_ids": ["01JD0000000000000000000000"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // The rejected entry keeps its PDF for audit.
    let run = s.settled_run(&id).await;
    let audit = &run["entry_list"]["data"][2];
    assert_eq!(audit["id"], rejected.as_str());
    let url = audit["artifacts"][0]["download_url"].as_str().unwrap();
    let pdf = s.client.get(url).send().await.unwrap().bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF"), "the rejected entry's PDF is still downloadable");
    assert!(herald_tests::pdf_text(&pdf).contains("Statement for Cyd"));

    // A bulk approve without entry ids takes every held entry; named ones not held are skipped.
    let r = s
        .post(&s.ws(&format!("/runs/{id}/reject")))
        .json(&json!({"entry_ids": [ids[0], rejected]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let answer = body(r).await;
    assert_eq!(answer["rejected"], 0);
    assert_eq!(answer["skipped"].as_array().unwrap().len(), 2, "{answer}");
    let r = s.post(&s.ws(&format!("/runs/{id}/approve"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let answer = body(r).await;
    assert_eq!((answer["approved"].clone(), answer["skipped"].clone()), (json!(2), json!([])), "{answer}");
    let run = s.settled_run(&id).await;
    assert_eq!(buckets(&run), (4, 0, 0, 1, 0), "{run}");
    let mut sent = delivered(&hook);
    sent.sort();
    let mut expected: Vec<String> = ids.iter().filter(|i| *i != rejected).cloned().collect();
    expected.sort();
    assert_eq!(sent, expected, "every entry but the rejected one was delivered, once");
    let status = body(s.get(&s.ws(&format!("/jobs/statements/runs/{id}/status"))).send().await.unwrap()).await;
    assert_eq!(status["status"], json!({"queued": 0, "completed": 4, "errors": 0, "review": 0}));

    // Delivering the run again never sends the rejected entry.
    let r = s.post(&s.ws(&format!("/jobs/statements/runs/{id}/deliver"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(body(r).await["queued"], 4);
    s.settled_run(&id).await;
    assert_eq!(delivered(&hook).iter().filter(|e| *e == rejected).count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_run_is_approved_rejected_and_delivered_in_bulk_on_sqlite() {
    a_held_run_is_approved_rejected_and_delivered_in_bulk_with_the_right_buckets(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_run_is_approved_rejected_and_delivered_in_bulk_on_dynamodb() {
    a_held_run_is_approved_rejected_and_delivered_in_bulk_with_the_right_buckets(Backend::DynamoDb).await;
}

/// The newest run of `job`, once finished.
async fn latest_run(s: &TestServer, job: &str) -> Option<Value> {
    let report = s.ctx.store.resolve_report(s.access.workspace.id, job).await.unwrap();
    let runs = body(s.get(&s.ws(&format!("/runs?report_id={}", report.id))).send().await.unwrap()).await;
    let id = runs["data"].as_array().unwrap().first()?["id"].as_str()?.to_owned();
    Some(s.settled_run(&id).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_toggle_combination_of_schedule_and_hold_behaves_as_the_seed_table_says() {
    let clock = start_clock();
    let s = server(Backend::Sqlite, clock.clone(), &[]).await.unwrap();
    let hook = Recorder::start(vec![Reply::new(200, "ok")]).await;
    let destination = webhook_to(&s, &hook).await;
    // (job, scheduled, held)
    let combos =
        [("manual", false, false), ("auto", true, false), ("draft", false, true), ("scheduled-draft", true, true)];
    for (job, scheduled, held) in combos {
        statements(&s, job, &["Ada", "Brook"], held, &destination).await;
        if scheduled {
            let rule =
                json!({"name": "Daily 8am", "rule": {"type": "cron", "expression": "0 8 * * *"}, "timezone": "UTC"});
            let r = s.post(&s.ws(&format!("/reports/{job}/schedules"))).json(&rule).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
        }
    }
    let jobs = body(s.get(&s.ws("/jobs")).send().await.unwrap()).await;
    for (job, scheduled, held) in combos {
        let summary = jobs.as_array().unwrap().iter().find(|j| j["code"] == job).unwrap();
        assert_eq!(
            (summary["scheduled"].as_bool(), summary["hold_for_review"].as_bool()),
            (Some(scheduled), Some(held))
        );
    }

    clock.set(Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 30).unwrap());
    let r = s.client.post(format!("{}/api/cron/tick", s.url)).bearer_auth(CRON_SECRET).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(body(r).await["reportsRan"], 2, "only the scheduled jobs ran on the tick");
    for (job, scheduled, _) in combos {
        match latest_run(&s, job).await {
            Some(run) => assert!(scheduled, "{job} ran without a schedule: {run}"),
            None => {
                assert!(!scheduled, "{job} did not run on its schedule");
                start_job(&s, job).await;
            }
        }
    }
    for (job, _, held) in combos {
        let run = latest_run(&s, job).await.unwrap();
        if held {
            assert_eq!(buckets(&run), (0, 0, 2, 0, 0), "{job} waits for approval: {run}");
        } else {
            assert_eq!(buckets(&run), (2, 0, 0, 0, 0), "{job} delivered at once: {run}");
        }
    }
    // Two entries of each of the two unheld jobs, nothing of the held ones.
    assert_eq!(hook.requests().len(), 4);
}

async fn expire(s: &TestServer) -> Value {
    let r = s.client.get(format!("{}/api/v1/cron/approvals-expire", s.url)).bearer_auth(CRON_SECRET).send().await;
    let r = r.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    body(r).await
}

async fn approvals_expire_only_entries_held_past_the_max_age_and_a_second_call_does_nothing(backend: Backend) {
    let clock = start_clock();
    let Some(s) = server(backend, clock.clone(), &[("APPROVAL_MAX_AGE_HOURS", "2")]).await else { return };
    let hook = Recorder::start(vec![Reply::new(200, "ok")]).await;
    let destination = webhook_to(&s, &hook).await;
    statements(&s, "statements", &["Ada", "Brook"], true, &destination).await;
    let old = start_job(&s, "statements").await;
    s.settled_run(&old).await;
    clock.advance(Duration::hours(1));
    let recent = start_job(&s, "statements").await;
    s.settled_run(&recent).await;

    let r = s.client.get(format!("{}/api/v1/cron/approvals-expire", s.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = s.client.get(format!("{}/api/v1/cron/approvals-expire", s.url)).bearer_auth("wrong").send().await;
    assert_eq!(r.unwrap().status(), StatusCode::UNAUTHORIZED);

    // 1h30 after the second run: the first run's entries have waited 2h30, the second's 1h30.
    clock.advance(Duration::minutes(90));
    let report = expire(&s).await;
    assert_eq!(report["expired"], 2, "{report}");
    assert_eq!(report["max_age_hours"], 2);
    let ws = s.access.workspace.id.to_string();
    let mine = report["workspaces"].as_array().unwrap().iter().find(|w| w["workspace_id"] == ws.as_str()).unwrap();
    assert_eq!((mine["expired"].clone(), mine["errors"].clone()), (json!(2), json!([])));
    let old_run = s.settled_run(&old).await;
    assert_eq!(buckets(&old_run), (0, 0, 0, 2, 0), "{old_run}");
    for entry in old_run["entry_list"]["data"].as_array().unwrap() {
        assert_eq!(
            (entry["review"]["decision"].as_str(), entry["review"]["note"].as_str()),
            (Some("expired"), Some("expired"))
        );
    }
    assert_eq!(buckets(&s.settled_run(&recent).await), (0, 0, 2, 0, 0));

    let again = expire(&s).await;
    assert_eq!(again["expired"], 0, "{again}");
    assert_eq!(buckets(&s.settled_run(&recent).await), (0, 0, 2, 0, 0));
    // An expired entry is never delivered, even by a later bulk delivery.
    let r = s.post(&s.ws(&format!("/runs/{old}/deliver"))).send().await.unwrap();
    assert_eq!(body(r).await["queued"], 0);
    assert!(hook.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_expire_only_entries_held_past_the_max_age_on_sqlite() {
    approvals_expire_only_entries_held_past_the_max_age_and_a_second_call_does_nothing(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_expire_only_entries_held_past_the_max_age_on_dynamodb() {
    approvals_expire_only_entries_held_past_the_max_age_and_a_second_call_does_nothing(Backend::DynamoDb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jobs_endpoints_answer_the_seed_shapes_and_keep_runs_to_their_job() {
    let s = server(Backend::Sqlite, start_clock(), &[]).await.unwrap();
    let hook = Recorder::start(vec![Reply::new(200, "ok")]).await;
    let destination = webhook_to(&s, &hook).await;
    statements(&s, "statements", &["Ada", "Brook", "Cyd"], false, &destination).await;
    statements(&s, "other", &["Dee"], false, &destination).await;

    let jobs = body(s.get(&s.ws("/jobs")).send().await.unwrap()).await;
    let job = jobs.as_array().unwrap().iter().find(|j| j["code"] == "statements").unwrap().clone();
    assert_eq!(job["name"], "Statements statements");
    assert_eq!(job["description"], "One statement per customer");
    assert_eq!((job["scheduled"].clone(), job["hold_for_review"].clone()), (json!(false), json!(false)));

    // By id or code; `params` and `data` optional; an idempotency key answers the first run.
    let by_id = job["id"].as_str().unwrap();
    let first = s
        .post(&s.ws(&format!("/jobs/{by_id}/runs")))
        .header("Idempotency-Key", "statements-2026-11")
        .json(&json!({"params": {}, "data": {"batch": 7}}))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let run_id = body(first).await["jobRunId"].as_str().unwrap().to_owned();
    let again =
        s.post(&s.ws("/jobs/statements/runs")).header("Idempotency-Key", "statements-2026-11").send().await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(body(again).await["jobRunId"], run_id.as_str());

    s.settled_run(&run_id).await;
    let status = body(s.get(&s.ws(&format!("/jobs/statements/runs/{run_id}/status"))).send().await.unwrap()).await;
    assert_eq!(status["finished"], true);
    assert_eq!(status["entries"], 3);
    assert_eq!(status["status"], json!({"queued": 0, "completed": 3, "errors": 0, "review": 0}));

    // A run of another job, an unknown run or job, or a malformed body is refused.
    let r = s.get(&s.ws(&format!("/jobs/other/runs/{run_id}/status"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = s.post(&s.ws(&format!("/jobs/other/runs/{run_id}/deliver"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = s.get(&s.ws("/jobs/statements/runs/not-a-run/status")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = s.post(&s.ws("/jobs/no-such-job/runs")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = s.post(&s.ws("/jobs/statements/runs")).json(&json!({"parameters": {}})).send().await.unwrap();
    assert_eq!(r.status().as_u16() / 100, 4);

    // Reading takes jobs read access; starting, delivering and deciding take write access.
    let (viewer, secret) = fixtures::token(&s.access.workspace, Role::Viewer, Utc::now());
    s.ctx.store.create_token(&viewer).await.unwrap();
    let r = s.client.get(s.ws(&format!("/jobs/statements/runs/{run_id}/status"))).bearer_auth(&secret).send().await;
    assert_eq!(r.unwrap().status(), StatusCode::OK);
    for path in [
        "/jobs/statements/runs".to_string(),
        format!("/jobs/statements/runs/{run_id}/deliver"),
        format!("/runs/{run_id}/approve"),
    ] {
        let r = s.client.post(s.ws(&path)).bearer_auth(&secret).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(hook.requests().len(), 3, "refused calls started nothing");
}

/// The pages of a PDF, as `pdftotext` sees them (it ends each page with a form feed).
fn pages(pdf: &[u8]) -> usize {
    herald_tests::pdf_text(pdf).matches('\u{c}').count()
}

async fn the_review_document_is_a_cover_and_every_entry_pdf_in_order(backend: Backend) {
    let clock = start_clock();
    let Some(s) = server(backend, clock.clone(), &[]).await else { return };
    let hook = Recorder::start(vec![Reply::new(200, "ok")]).await;
    let destination = webhook_to(&s, &hook).await;
    statements(&s, "statements", &["Ada", "Brook", "Cyd"], true, &destination).await;
    statements(&s, "other", &["Dee"], true, &destination).await;
    let id = start_job(&s, "statements").await;
    let run = s.settled_run(&id).await;

    let r = s.post(&s.ws(&format!("/jobs/other/runs/{id}/generate-review-document"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "a run of another job");
    let r = s.post(&s.ws(&format!("/jobs/statements/runs/{id}/generate-review-document"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let file_id = body(r).await["temporaryFileId"].as_str().unwrap().to_owned();
    let mut file = Value::Null;
    for _ in 0..300 {
        file = body(s.get(&s.ws(&format!("/temporary-files/{file_id}"))).send().await.unwrap()).await;
        if file["status"] != "pending" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(file["status"], "ready", "{file}");
    assert!(file.get("key").is_none(), "the storage key stays internal: {file}");
    let document = s.get(&s.ws(&format!("/temporary-files/{file_id}/content"))).send().await.unwrap();
    assert_eq!(document.status(), StatusCode::OK);
    assert_eq!(document.headers()["content-type"], "application/pdf");
    let document = document.bytes().await.unwrap();
    assert!(document.starts_with(b"%PDF"));
    let linked = s.client.get(file["download_url"].as_str().unwrap()).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(linked, document, "the signed link serves the same file");
    assert_eq!(file["size"], document.len());

    let mut entry_pages = 0;
    let text = herald_tests::pdf_text(&document);
    let mut last = 0;
    for entry in run["entry_list"]["data"].as_array().unwrap() {
        let url = entry["artifacts"][0]["download_url"].as_str().unwrap();
        entry_pages += pages(&s.client.get(url).send().await.unwrap().bytes().await.unwrap());
        let name = entry["row"]["name"].as_str().unwrap();
        let at = text.find(&format!("Statement for {name}")).unwrap_or_else(|| panic!("{name} missing: {text}"));
        assert!(at > last, "the entries follow in entry order");
        last = at;
    }
    assert_eq!(pages(&document), 1 + entry_pages, "one cover page, then every entry's pages");
    let cover = text.split('\u{c}').next().unwrap();
    assert!(cover.contains("Review document"), "{cover}");
    assert_eq!(cover.matches("PendingReview").count(), 3, "{cover}");
    for name in ["Ada", "Brook", "Cyd"] {
        assert!(cover.contains(name), "{cover}");
    }

    let r = s.get(&s.ws("/temporary-files/01JD0000000000000000000000")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    clock.advance(Duration::hours(25));
    for path in [format!("/temporary-files/{file_id}"), format!("/temporary-files/{file_id}/content")] {
        let r = s.get(&s.ws(&path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path} after it expired");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_document_is_a_cover_and_every_entry_pdf_in_order_on_sqlite() {
    the_review_document_is_a_cover_and_every_entry_pdf_in_order(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_document_is_a_cover_and_every_entry_pdf_in_order_on_dynamodb() {
    the_review_document_is_a_cover_and_every_entry_pdf_in_order(Backend::DynamoDb).await;
}
