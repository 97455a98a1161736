//! Scheduling seen from outside, on each store: seed `003`'s two switches (scheduled
//! generation and hold-for-review) in all four combinations, and derived parameter dates
//! worked out on the day each run stands for — a scheduled one in its schedule's timezone, one
//! started by hand in the workspace's.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use herald_core::clock::{Clock, ManualClock};
use herald_core::pipeline::tick::tick;
use herald_tests::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn body(r: reqwest::Response) -> Value {
    r.json().await.expect("JSON body")
}

/// A server whose clock stands at `now`, with its workers going.
async fn server(backend: Backend, now: DateTime<Utc>) -> Option<(TestServer, Arc<ManualClock>)> {
    let clock = Arc::new(ManualClock::new(now));
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let s = TestServer::start_with_clock(backend, Some(dyn_clock)).await?;
    s.run_workers();
    Some((s, clock))
}

/// Creates `report` and a schedule of it by `cron` in `timezone`; answers the schedule.
async fn scheduled_report(s: &TestServer, report: Value, cron: &str, timezone: &str) -> Value {
    let code = report["code"].as_str().unwrap().to_owned();
    let r = s.post(&s.ws("/reports")).json(&report).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    let rule = json!({"name": "Nightly", "rule": {"type": "cron", "expression": cron}, "timezone": timezone});
    let r = s.post(&s.ws(&format!("/reports/{code}/schedules"))).json(&rule).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    body(r).await
}

fn report(code: &str, scheduled: bool, hold_for_review: bool) -> Value {
    json!({"code": code, "name": code, "formats": ["markdown"], "scheduled": scheduled, "hold_for_review": hold_for_review,
           "sources": [{"name": "rows", "type": "inline", "rows": [{"n": 1}]}],
           "sections": [{"type": "table", "source": "rows"}]})
}

async fn runs_of(s: &TestServer, code: &str) -> Vec<Value> {
    let listing = body(s.get(&s.ws(&format!("/runs?report_id={code}"))).send().await.unwrap()).await;
    listing["data"].as_array().cloned().unwrap_or_default()
}

async fn the_two_switches_give_the_four_behaviours_of_the_seed(backend: Backend) {
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 7, 0, 0).unwrap();
    let Some((s, clock)) = server(backend, now).await else { return };
    // (scheduled generation, hold for review) → a scheduled run?, where its entry ends.
    let cases = [(false, false), (true, false), (false, true), (true, true)];
    for (scheduled, hold) in cases {
        let code = format!("sw-{scheduled}-{hold}");
        let schedule = scheduled_report(&s, report(&code, scheduled, hold), "0 8 * * *", "UTC").await;
        assert_eq!(schedule["next_run_at"], "2026-11-23T08:00:00Z");
        let r = s.get(&s.ws(&format!("/reports/{code}"))).send().await.unwrap();
        assert_eq!(body(r).await["scheduled"], scheduled);
    }
    clock.set(Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 5).unwrap());
    let ticked = tick(&s.ctx).await.unwrap();
    assert_eq!((ticked.reports_ran, ticked.paused), (2, 2), "{ticked:?}");

    let jobs = body(s.get(&s.ws("/jobs")).send().await.unwrap()).await;
    for (scheduled, hold) in cases {
        let code = format!("sw-{scheduled}-{hold}");
        let runs = runs_of(&s, &code).await;
        let job = jobs.as_array().unwrap().iter().find(|j| j["code"] == code.as_str()).unwrap();
        assert_eq!((job["scheduled"].clone(), job["hold_for_review"].clone()), (json!(scheduled), json!(hold)));
        let schedules = body(s.get(&s.ws(&format!("/reports/{code}/schedules"))).send().await.unwrap()).await;
        let schedule = &schedules["data"][0];
        assert_eq!(schedule["next_run_at"], "2026-11-24T08:00:00Z", "every schedule moves on: {schedule}");
        if !scheduled {
            assert!(runs.is_empty(), "manual-only: the schedule does not fire ({code})");
            assert_eq!(schedule["last_status"], "paused", "{schedule}");
            assert_eq!(schedule["last_error"], "scheduled generation is off for this report", "{schedule}");
            // Run now still works, with or without the gate.
            let r = s.post(&s.ws(&format!("/reports/{code}/runs"))).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::ACCEPTED);
        }
        let runs = runs_of(&s, &code).await;
        assert_eq!(runs.len(), 1, "{code}: {runs:?}");
        let run = s.settled_run(runs[0]["id"].as_str().unwrap()).await;
        assert_eq!(run["trigger"], if scheduled { "schedule" } else { "api" }, "{run}");
        let entry = &run["entry_list"]["data"][0];
        if hold {
            assert_eq!(
                (run["status"].as_str(), entry["status"].as_str()),
                (Some("awaiting_review"), Some("PendingReview"))
            );
        } else {
            assert_eq!((run["status"].as_str(), entry["status"].as_str()), (Some("finished"), Some("Completed")));
        }
    }
}

async fn a_scheduled_run_takes_derived_dates_from_its_slot_in_the_schedules_zone(backend: Backend) {
    // 23:30 on 31 March in Los Angeles (PDT) is 06:30 on 1 April in UTC.
    let slot = Utc.with_ymd_and_hms(2027, 4, 1, 6, 30, 0).unwrap();
    let Some((s, clock)) = server(backend, slot - Duration::hours(1)).await else { return };
    let mut dated = report("month-end", true, false);
    dated["parameters"] = json!([
        {"name": "month", "type": "date", "default": "start_of_month"},
        {"name": "quarter_end", "type": "date", "default": "end_of_quarter"},
        {"name": "week_ago", "type": "date", "default": "7_days_ago"},
        {"name": "day_start", "type": "datetime", "default": "start_of_day"},
        {"name": "stamp", "type": "datetime", "default": "now"}
    ]);
    dated["sections"] = json!([{"type": "text", "markdown": "From {month} to {quarter_end}, since {week_ago}."}]);
    let schedule = scheduled_report(&s, dated, "30 23 * * *", "America/Los_Angeles").await;
    assert_eq!(schedule["next_run_at"], "2027-04-01T06:30:00Z");

    // The tick comes 20 minutes late; the run is still the slot's.
    clock.set(slot + Duration::minutes(20));
    assert_eq!(tick(&s.ctx).await.unwrap().reports_ran, 1);
    let runs = runs_of(&s, "month-end").await;
    let run = s.settled_run(runs[0]["id"].as_str().unwrap()).await;
    let expected = json!({"month": "2027-03-01", "quarter_end": "2027-03-31", "week_ago": "2027-03-24",
                          "day_start": "2027-03-31T00:00:00-07:00", "stamp": "2027-03-31T23:30:00-07:00"});
    assert_eq!(run["inputs"]["parameters"], expected, "{run}");
    assert_eq!(
        (run["inputs"]["day"].as_str(), run["inputs"]["timezone"].as_str()),
        (Some("2027-03-31"), Some("America/Los_Angeles"))
    );
    let artifact = &run["entry_list"]["data"][0]["artifacts"][0];
    let text = s.client.get(artifact["download_url"].as_str().unwrap()).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("From 2027-03-01 to 2027-03-31, since 2027-03-24."), "{text}");

    // Run now counts from the UTC day it starts: already April.
    let r = s.post(&s.ws("/reports/month-end/runs")).send().await.unwrap();
    let manual = body(r).await;
    assert_eq!(manual["inputs"]["parameters"]["month"], "2027-04-01");
    assert_eq!(manual["inputs"]["parameters"]["quarter_end"], "2027-06-30");
    assert_eq!(manual["inputs"]["parameters"]["day_start"], "2027-04-01T00:00:00Z");
    assert_eq!(
        manual["inputs"]["parameters"]["stamp"], "2027-04-01T06:50:00Z",
        "a run by hand stands for when it starts"
    );

    // In a workspace on Los Angeles time, Run now at the same moment is still 31 March.
    let r = s.patch(&s.ws("/settings")).json(&json!({"timezone": "Mars/Olympus"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = s.patch(&s.ws("/settings")).json(&json!({"timezone": "America/Los_Angeles"})).send().await.unwrap();
    assert_eq!(body(r).await["timezone"], "America/Los_Angeles");
    let local = body(s.post(&s.ws("/reports/month-end/runs")).send().await.unwrap()).await;
    assert_eq!(
        (local["inputs"]["day"].as_str(), local["inputs"]["parameters"]["month"].as_str()),
        (Some("2027-03-31"), Some("2027-03-01"))
    );
    assert_eq!(local["inputs"]["parameters"]["stamp"], "2027-03-31T23:50:00-07:00");
    // A wall-clock value is read in the workspace's zone and recorded with its offset.
    let given = json!({"params": {"day_start": "2027-03-14T02:30"}});
    let spring = body(s.post(&s.ws("/reports/month-end/runs")).json(&given).send().await.unwrap()).await;
    assert_eq!(spring["inputs"]["parameters"]["day_start"], "2027-03-14T03:30:00-07:00", "02:30 was skipped");

    // A derived date the server does not know is refused, naming the rules it takes.
    let r = s.post(&s.ws("/reports/month-end/runs")).json(&json!({"params": {"month": "next_month"}})).send().await;
    let r = r.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error = body(r).await;
    let message = error["error"]["details"]["errors"][0]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("start_of_month") && message.contains("N_days_ago"), "{message}");
    let r = s.post(&s.ws("/reports/month-end/runs")).json(&json!({"params": {"stamp": "2027-03-31"}})).send().await;
    let error = body(r.unwrap()).await;
    let message = error["error"]["details"]["errors"][0]["message"].as_str().unwrap().to_owned();
    assert!(message.starts_with("must be an instant (RFC 3339"), "{message}");
}

async fn a_report_saved_with_its_first_schedule_is_created_with_it_or_not_at_all(backend: Backend) {
    let monday = Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap();
    let Some((s, _)) = server(backend, monday).await else { return };
    let weekly = json!({"name": "Weekly Mon 8am", "rule": {"type": "cron", "expression": "0 8 * * 1"}, "timezone": "Europe/London"});

    // A schedule that cannot be: nothing is created, and the error names the schedule's field.
    let mut saved = report("exec-30d", true, false);
    saved["schedule"] =
        json!({"name": "Broken", "rule": {"type": "cron", "expression": "0 8 * * 9"}, "timezone": "Europe/London"});
    let r = s.post(&s.ws("/reports")).json(&saved).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error = body(r).await;
    let field = error["error"]["details"]["errors"][0]["field"].as_str().unwrap().to_owned();
    assert!(field.starts_with("schedule.rule"), "{error}");
    let r = s.get(&s.ws("/reports/exec-30d")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "no report without its schedule");
    saved["schedule"] =
        json!({"name": "Nowhere", "rule": weekly["rule"], "destinations": ["01M98AMPRTHD3SWJ8TDFG71SNF"]});
    let r = s.post(&s.ws("/reports")).json(&saved).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body(r).await["error"]["details"]["errors"][0]["field"], "schedule.destinations[0]");
    assert_eq!(s.get(&s.ws("/reports/exec-30d")).send().await.unwrap().status(), StatusCode::NOT_FOUND);

    // A taken code: the schedule is not made either.
    assert_eq!(
        s.post(&s.ws("/reports")).json(&report("taken", true, false)).send().await.unwrap().status(),
        StatusCode::CREATED
    );
    let mut again = report("taken", true, false);
    again["schedule"] = weekly.clone();
    assert_eq!(s.post(&s.ws("/reports")).json(&again).send().await.unwrap().status(), StatusCode::CONFLICT);
    let schedules = body(s.get(&s.ws("/schedules")).send().await.unwrap()).await;
    assert_eq!(schedules["data"].as_array().unwrap().len(), 0, "{schedules}");

    // A good one: the report and its schedule, with its next run, in one answer.
    saved["schedule"] = weekly;
    let r = s.post(&s.ws("/reports")).json(&saved).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created = body(r).await;
    assert_eq!((created["object"].as_str(), created["code"].as_str()), (Some("report"), Some("exec-30d")));
    assert_eq!(created["schedule"]["next_run_at"], "2026-12-14T08:00:00Z", "{created}");
    let listed = body(s.get(&s.ws("/reports/exec-30d/schedules")).send().await.unwrap()).await;
    assert_eq!(listed["data"][0]["id"], created["schedule"]["id"]);

    // A change or a preview takes no schedule.
    let r = s.patch(&s.ws("/reports/exec-30d")).json(&json!({"schedule": {"name": "x"}})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_saved_with_its_first_schedule_is_created_with_it_or_not_at_all_on_sqlite() {
    a_report_saved_with_its_first_schedule_is_created_with_it_or_not_at_all(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_saved_with_its_first_schedule_is_created_with_it_or_not_at_all_on_dynamodb() {
    a_report_saved_with_its_first_schedule_is_created_with_it_or_not_at_all(Backend::DynamoDb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_two_switches_give_the_four_behaviours_of_the_seed_on_sqlite() {
    the_two_switches_give_the_four_behaviours_of_the_seed(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_two_switches_give_the_four_behaviours_of_the_seed_on_dynamodb() {
    the_two_switches_give_the_four_behaviours_of_the_seed(Backend::DynamoDb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_run_takes_derived_dates_from_its_slot_in_the_schedules_zone_on_sqlite() {
    a_scheduled_run_takes_derived_dates_from_its_slot_in_the_schedules_zone(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_run_takes_derived_dates_from_its_slot_in_the_schedules_zone_on_dynamodb() {
    a_scheduled_run_takes_derived_dates_from_its_slot_in_the_schedules_zone(Backend::DynamoDb).await;
}
