//! What a run says about itself is true at every read: its status, `finished`, `finished_at`,
//! `duration_ms` and bucket counts agree however often it is polled while it works; a run
//! whose entries wait for review says so and is not finished; a schedule learns how the run
//! it started ended; a run that cannot start for want of a parameter is refused, not started;
//! a panic on one entry's content fails that entry alone; and both stores refuse what does not
//! fit in one record the same way.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use herald_core::clock::ManualClock;
use herald_core::testing::faults::PANIC_WHILE_RENDERING;
use herald_tests::{Backend, TestServer, on_every_store};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn body(r: reqwest::Response) -> Value {
    r.json().await.expect("a JSON body")
}

async fn create_report(s: &TestServer, report: Value) {
    let r = s.post(&s.ws("/reports")).json(&report).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
}

/// A report of one entry per row of `rows`, each a one-line text document.
fn statements(code: &str, rows: Value) -> Value {
    json!({
        "code": code, "name": "Statements", "formats": ["csv", "pdf"],
        "sources": [{"name": "customers", "role": "repeating", "type": "inline", "rows": rows}],
        "sections": [
            {"type": "text", "markdown": "Statement for {customers.name}"},
            {"type": "table", "source": "customers"}
        ]
    })
}

async fn run_now(s: &TestServer, code: &str) -> String {
    let r = s.post(&s.ws(&format!("/reports/{code}/runs"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    body(r).await["id"].as_str().unwrap().to_owned()
}

/// Everything that would contradict itself in one read of a run, as a list of problems.
fn contradictions(run: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let status = run["status"].as_str().unwrap_or_default();
    let finished = run["finished"].as_bool().unwrap_or_default();
    let counts = &run["counts"];
    let n = |bucket: &str| counts[bucket].as_u64().unwrap_or(0);
    let ended = match status {
        "finished" | "failed" => true,
        "cancelled" => n("queued") == 0,
        _ => false,
    };
    if finished != ended {
        problems.push(format!("finished is {finished} while status is {status}"));
    }
    let has = |field: &str| !run[field].is_null();
    if finished != has("finished_at") {
        problems.push(format!("finished is {finished} but finished_at is {}", run["finished_at"]));
    }
    if finished != has("duration_ms") {
        problems.push(format!("finished is {finished} but duration_ms is {}", run["duration_ms"]));
    }
    match status {
        "running" if n("queued") == 0 => problems.push("running with nothing queued".into()),
        "awaiting_review" if n("queued") > 0 || n("review") == 0 => {
            problems.push("awaiting review with work queued or nothing held".into())
        }
        "finished" if n("queued") + n("review") > 0 => problems.push("finished with entries left".into()),
        _ => {}
    }
    let buckets = ["queued", "completed", "errors", "review", "cancelled"].map(n).iter().sum::<u64>();
    if status != "preparing" && buckets != n("total") {
        problems.push(format!("buckets add up to {buckets}, not {}", n("total")));
    }
    problems
}

async fn polls_never_see_a_run_contradict_itself(s: TestServer, polls: usize) {
    s.run_workers();
    let rows: Vec<Value> = (0..60).map(|i| json!({"name": format!("Customer {i}")})).collect();
    create_report(&s, statements("statements", Value::Array(rows))).await;
    let id = run_now(&s, "statements").await;
    let detail = s.ws(&format!("/runs/{id}"));
    let status = s.ws(&format!("/jobs/statements/runs/{id}/status"));
    let read = |url: String| {
        let s = &s;
        async move { body(s.get(&url).send().await.unwrap()).await }
    };
    // Two pollers at once, while the workers complete the entries; then on past the end.
    let mut seen_finished = 0;
    let mut reads = 0;
    while reads < polls || seen_finished < 5 {
        let (run, job) = tokio::join!(read(detail.clone()), read(status.clone()));
        let problems = contradictions(&run);
        assert!(problems.is_empty(), "read {reads}: {problems:?}\n{run}");
        let (queued, finished) = (job["status"]["queued"].as_u64(), job["finished"].as_bool());
        assert!(finished != Some(true) || queued == Some(0), "the job status contradicts itself: {job}");
        if run["finished"] == true {
            seen_finished += 1;
            assert_eq!(run["counts"]["completed"], 60, "{run}");
        }
        reads += 2;
        assert!(reads < polls * 20, "the run did not finish");
    }
}

async fn a_run_polled_thousands_of_times_never_contradicts_itself(s: TestServer) {
    polls_never_see_a_run_contradict_itself(s, 2_000).await;
}

async fn a_run_polled_hundreds_of_times_never_contradicts_itself(s: TestServer) {
    polls_never_see_a_run_contradict_itself(s, 300).await;
}

async fn a_run_held_for_review_awaits_review_until_every_entry_is_decided(s: TestServer) {
    s.run_workers();
    let mut report = statements("held", json!([{"name": "Ada"}, {"name": "Brook"}]));
    report["hold_for_review"] = json!(true);
    create_report(&s, report).await;
    let id = run_now(&s, "held").await;
    let url = s.ws(&format!("/runs/{id}"));
    let mut run = Value::Null;
    for _ in 0..300 {
        run = body(s.get(&url).send().await.unwrap()).await;
        if run["status"] == "awaiting_review" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(run["status"], "awaiting_review", "{run}");
    assert_eq!((run["finished"].clone(), run["finished_at"].clone()), (json!(false), Value::Null));
    assert_eq!(run["counts"]["review"], 2);
    let listed = body(s.get(&s.ws("/runs?status=awaiting_review")).send().await.unwrap()).await;
    assert_eq!(listed["data"][0]["id"], id.as_str());

    let entries = run["entry_list"]["data"].as_array().unwrap().clone();
    let decide = |entry: &Value, verb: &str| {
        s.post(&s.ws(&format!("/runs/{id}/entries/{}/{verb}", entry["id"].as_str().unwrap())))
    };
    assert!(decide(&entries[0], "approve").send().await.unwrap().status().is_success());
    let half = body(s.get(&url).send().await.unwrap()).await;
    assert!(contradictions(&half).is_empty(), "{half}");
    assert_ne!(half["finished"], true, "one entry still waits: {half}");
    assert!(decide(&entries[1], "reject").send().await.unwrap().status().is_success());
    let done = s.settled_run(&id).await;
    assert_eq!((done["status"].clone(), done["finished"].clone()), (json!("finished"), json!(true)), "{done}");
    let finished_at = done["finished_at"].clone();
    assert!(finished_at.is_string());
    // It stays finished, at the same instant.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(body(s.get(&url).send().await.unwrap()).await["finished_at"], finished_at);
}

async fn a_run_without_a_required_parameter_is_refused_and_nothing_is_recorded(s: TestServer) {
    let mut report = statements("needs-period", json!([{"name": "Ada"}]));
    report["parameters"] = json!([{"name": "period", "type": "string", "required": true}]);
    create_report(&s, report).await;
    for url in [s.ws("/reports/needs-period/runs"), s.ws("/jobs/needs-period/runs")] {
        let r = s.post(&url).json(&json!({})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        let refused = body(r).await;
        assert_eq!(refused["error"]["code"], "validation_error");
        assert_eq!(refused["error"]["details"]["errors"][0]["field"], "params.period", "{refused}");
    }
    let preview = s.post(&format!("{}/api/v1/reports/preview", s.url)).json(&json!({"report_id": "needs-period"}));
    let previewed = body(preview.send().await.unwrap()).await;
    assert_eq!(previewed["error"]["details"]["errors"][0]["field"], "params.period", "the same answer as preview");
    let runs = body(s.get(&s.ws("/runs")).send().await.unwrap()).await;
    assert_eq!(runs["data"], json!([]), "nothing was recorded");
    // With the value, it runs.
    let r = s.post(&s.ws("/reports/needs-period/runs")).json(&json!({"params": {"period": "2026-11"}})).send().await;
    assert_eq!(r.unwrap().status(), StatusCode::ACCEPTED);
}

/// Creates a daily 08:00 UTC schedule of `report` while the clock reads 07:00, then moves the
/// clock past 08:00 and ticks once; the schedule's id.
async fn tick_a_daily_schedule(s: &TestServer, clock: &ManualClock, report: &str) -> String {
    clock.set(Utc.with_ymd_and_hms(2026, 11, 23, 7, 0, 0).unwrap());
    let schedule = json!({"name": "Mornings", "rule": {"type": "cron", "expression": "0 8 * * *"}, "timezone": "UTC"});
    let r = s.post(&s.ws(&format!("/reports/{report}/schedules"))).json(&schedule).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = body(r).await["id"].as_str().unwrap().to_owned();
    clock.set(Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 20).unwrap());
    let ticked = herald_core::pipeline::tick::tick(&s.ctx).await.unwrap();
    assert_eq!(ticked.reports_ran, 1, "{ticked:?}");
    id
}

/// The schedule once its last run has an outcome.
async fn settled_schedule(s: &TestServer, id: &str) -> Value {
    for _ in 0..300 {
        let schedule = body(s.get(&s.ws(&format!("/schedules/{id}"))).send().await.unwrap()).await;
        if !schedule["last_run_status"].is_null() {
            return schedule;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the schedule never learned how its run ended");
}

async fn a_schedule_records_how_the_run_it_started_ended() {
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 7, 0, 0).unwrap()));
    let s = TestServer::start_with_clock(Backend::Sqlite, Some(clock.clone())).await.unwrap();
    s.run_workers();

    create_report(&s, statements("fine", json!([{"name": "Ada"}, {"name": "Brook"}]))).await;
    let fine = tick_a_daily_schedule(&s, &clock, "fine").await;
    let schedule = settled_schedule(&s, &fine).await;
    assert_eq!(
        (schedule["last_status"].clone(), schedule["last_run_status"].clone()),
        (json!("ran"), json!("succeeded"))
    );
    assert!(schedule["last_error"].is_null(), "{schedule}");

    // A source that cannot be read: every entry fails, so the run failed.
    let mut broken = statements("broken", json!([{"name": "Ada"}]));
    broken["sources"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "ledger", "type": "dataset", "dataset": "missing-ledger"}));
    broken["sections"].as_array_mut().unwrap().push(json!({"type": "table", "source": "ledger"}));
    create_report(&s, broken).await;
    let broken = tick_a_daily_schedule(&s, &clock, "broken").await;
    let schedule = settled_schedule(&s, &broken).await;
    assert_eq!(schedule["last_run_status"], "failed", "{schedule}");
    let why = schedule["last_error"].as_str().unwrap();
    assert!(why.contains("1 of 1 entries failed") && why.contains("ledger"), "{why}");

    // A required parameter without a value: the scheduled run fails at once, on the record.
    let mut needs = statements("needs-period", json!([{"name": "Ada"}]));
    needs["parameters"] = json!([{"name": "period", "type": "string", "required": true}]);
    create_report(&s, needs).await;
    let needs = tick_a_daily_schedule(&s, &clock, "needs-period").await;
    let schedule = settled_schedule(&s, &needs).await;
    assert_eq!(schedule["last_run_status"], "failed");
    assert!(schedule["last_error"].as_str().unwrap().contains("period"), "{schedule}");
    let run =
        body(s.get(&s.ws(&format!("/runs/{}", schedule["last_run_id"].as_str().unwrap()))).send().await.unwrap()).await;
    assert_eq!((run["status"].clone(), run["finished"].clone()), (json!("failed"), json!(true)), "{run}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_record_whether_their_runs_succeeded_or_failed_and_why() {
    a_schedule_records_how_the_run_it_started_ended().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_while_rendering_one_entry_fails_that_entry_and_the_server_goes_on() {
    let s = TestServer::start(Backend::Sqlite).await.unwrap();
    s.run_workers();
    let rows = json!([{"name": "Ada"}, {"name": PANIC_WHILE_RENDERING}, {"name": "Cy"}]);
    create_report(&s, statements("fragile", rows)).await;
    let id = run_now(&s, "fragile").await;
    let run = s.settled_run(&id).await;
    assert_eq!((run["counts"]["completed"].clone(), run["counts"]["errors"].clone()), (json!(2), json!(1)), "{run}");
    let failed: Vec<&Value> =
        run["entry_list"]["data"].as_array().unwrap().iter().filter(|e| e["status"] == "GenerationFailed").collect();
    assert_eq!(failed.len(), 1, "{run}");
    assert_eq!(failed[0]["seq"], 1);
    let why = failed[0]["error"].as_str().unwrap();
    assert!(why.contains("stopped unexpectedly") && why.contains("cannot handle"), "{why}");
    // The server, its workers and the API go on.
    assert_eq!(s.client.get(format!("{}/health", s.url)).send().await.unwrap().status(), StatusCode::OK);
    create_report(&s, statements("sturdy", json!([{"name": "Dee"}]))).await;
    let again = s.settled_run(&run_now(&s, "sturdy").await).await;
    assert_eq!(again["counts"]["completed"], 1, "{again}");
}

async fn what_does_not_fit_in_one_record_is_refused_alike_on(backend: Backend) {
    // The API takes bodies this large (as it does on AWS); the stores do not keep them whole.
    let Some(s) = TestServer::start_with(backend, None, &[("HERALD_BODY_LIMIT_BYTES", "6291456")]).await else {
        return;
    };
    // A report of 8,000 inline rows (about 700 KB): refused with the limit, nothing saved.
    let rows: Vec<Value> = (0..8_000)
        .map(|i| json!({"id": i, "name": format!("Customer {i}"), "email": format!("c{i}@example.com")}))
        .collect();
    let mut big = statements("big", Value::Array(rows));
    big["sources"][0]["role"] = json!("shared");
    let r = s.post(&s.ws("/reports")).json(&big).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let refused = body(r).await;
    assert_eq!(refused["error"]["code"], "validation_error");
    assert_eq!(refused["error"]["details"]["limit_bytes"], 300_000, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("dataset"), "{refused}");
    assert_eq!(s.get(&s.ws("/reports/big")).send().await.unwrap().status(), StatusCode::NOT_FOUND);

    // A run now with a 1 MB data payload: refused with the limit, no run recorded.
    create_report(&s, statements("small", json!([{"name": "Ada"}]))).await;
    let data = json!({"blob": "x".repeat(1_000_000)});
    for url in [s.ws("/reports/small/runs"), s.ws("/jobs/small/runs")] {
        let r = s.post(&url).json(&json!({"data": data})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "{url}");
        let refused = body(r).await;
        assert_eq!(refused["error"]["details"]["limit_bytes"], 400_000, "{refused}");
    }
    assert_eq!(body(s.get(&s.ws("/runs")).send().await.unwrap()).await["data"], json!([]));
}

on_every_store!(
    a_run_held_for_review_awaits_review_until_every_entry_is_decided,
    a_run_without_a_required_parameter_is_refused_and_nothing_is_recorded,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_does_not_fit_in_one_record_is_refused_with_its_limit_on_sqlite() {
    what_does_not_fit_in_one_record_is_refused_alike_on(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_does_not_fit_in_one_record_is_refused_with_its_limit_on_dynamodb() {
    what_does_not_fit_in_one_record_is_refused_alike_on(Backend::DynamoDb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_polled_thousands_of_times_while_it_completes_never_contradicts_itself() {
    a_run_polled_thousands_of_times_never_contradicts_itself(TestServer::start(Backend::Sqlite).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_on_dynamodb_polled_while_it_completes_never_contradicts_itself() {
    let Some(s) = TestServer::start(Backend::DynamoDb).await else { return };
    a_run_polled_hundreds_of_times_never_contradicts_itself(s).await;
}
