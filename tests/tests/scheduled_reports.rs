//! Seed `004`'s flow seen from outside, on each store: a weekly scheduled report made in one
//! call, three configurations attached (one inactive), a tick past its slot making one run
//! with an entry per active configuration — each narrated with its own prompt addendum — the
//! same from `POST …/executions` without a tick, a 21st configuration refused, and a failing
//! run shown as the scheduled report's `last_run_status` with its `last_error_message`.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use herald_core::clock::{Clock, ManualClock};
use herald_core::pipeline::tick::tick;
use herald_tests::{Backend, TestServer, offer_completions};
use reqwest::StatusCode;
use serde_json::{Value, json};

const FALLING: &str = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";
const EASING: &str = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2";

async fn body(r: reqwest::Response) -> Value {
    r.json().await.expect("JSON body")
}

async fn markdown_of(s: &TestServer, entry: &Value) -> String {
    let artifacts = entry["artifacts"].as_array().unwrap();
    let found = artifacts.iter().find(|a| a["format"] == "markdown").unwrap_or_else(|| panic!("{entry}"));
    s.client.get(found["download_url"].as_str().unwrap()).send().await.unwrap().text().await.unwrap()
}

/// Each entry of `run` is one configuration's: its region in the text, its own threshold in
/// the narrative (the falling offer is down 77.8%, the easing one 20%).
async fn assert_one_entry_per_active_configuration(s: &TestServer, run: &Value) {
    assert_eq!(run["counts"]["total"], 2, "the inactive configuration makes no entry: {run}");
    assert_eq!(run["counts"]["completed"], 2, "{run}");
    let entries = run["entry_list"]["data"].as_array().unwrap();
    let mut seen = Vec::new();
    for entry in entries {
        let name = entry["configuration"]["name"].as_str().unwrap().to_owned();
        let markdown = markdown_of(s, entry).await;
        assert!(markdown.contains(&format!("Offers in {name}")), "{name}: {markdown}");
        // The executive summary and its takeaways, before the report's own sections.
        let text = markdown.split("## Executive summary").nth(1).unwrap_or_default();
        let text = text.split("Offers in ").next().unwrap_or_default();
        match name.as_str() {
            "EMEA" => {
                assert!(text.contains("more than 10%"), "EMEA's own addendum: {text}");
                assert!(text.contains("-20.0%"), "the easing offer passes 10%: {text}");
            }
            "APAC" => {
                assert!(text.contains("more than 60%"), "APAC's own addendum: {text}");
                assert!(!text.contains("-20.0%"), "the easing offer stays under 60%: {text}");
            }
            other => panic!("an entry for {other}"),
        }
        seen.push(name);
    }
    seen.sort();
    assert_eq!(seen, ["APAC", "EMEA"]);
}

async fn a_weekly_scheduled_report_runs_one_entry_per_active_configuration(backend: Backend) {
    // Sunday noon; the weekly slot is Monday 09:00 UTC.
    let now = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
    let clock = Arc::new(ManualClock::new(now));
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let Some(s) = TestServer::start_with_clock(backend, Some(dyn_clock)).await else { return };
    s.run_workers();
    let mut events = offer_completions(FALLING, 12, 9);
    events.extend(offer_completions(FALLING, 19, 2));
    events.extend(offer_completions(EASING, 12, 10));
    events.extend(offer_completions(EASING, 19, 8));
    let r = s.post(&s.ws("/interactions")).json(&events).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let report = json!({"code": "visibility", "name": "Visibility", "formats": ["markdown"],
        "parameters": [{"name": "region", "type": "string", "required": true}],
        "sources": [{"name": "offers", "type": "offer_performance", "period": "7d"}],
        "sections": [{"type": "text", "markdown": "Offers in {region}."}, {"type": "table", "source": "offers"}],
        "narrative": {"enabled": true, "prompt_addendum": "Flag any offer with >90% week-over-week drop."}});
    let r = s.post(&s.ws("/reports")).json(&report).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());

    let r = s
        .post(&s.ws("/scheduled-reports"))
        .json(&json!({"report": "visibility", "frequency": "weekly", "name": "Acme weekly visibility"}));
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    let scheduled = body(r).await;
    assert_eq!(scheduled["object"], "scheduled_report");
    assert_eq!((scheduled["frequency"].as_str(), scheduled["is_active"].as_bool()), (Some("weekly"), Some(true)));
    assert_eq!(scheduled["next_run_at"], "2026-11-23T09:00:00Z");
    assert_eq!((scheduled["last_run_at"].clone(), scheduled["last_run_status"].clone()), (Value::Null, Value::Null));
    assert_eq!(scheduled["last_error_message"], Value::Null);
    let id = scheduled["id"].as_str().unwrap().to_owned();
    let configurations = s.ws(&format!("/scheduled-reports/{id}/configurations"));

    for (name, addendum, active) in [
        ("EMEA", "Flag any offer with >10% week-over-week drop.", true),
        ("APAC", "Flag any offer with >60% week-over-week drop.", true),
        ("LATAM", "Flag any offer with >5% week-over-week drop.", false),
    ] {
        let config =
            json!({"name": name, "parameters": {"region": name}, "prompt_addendum": addendum, "active": active});
        let r = s.post(&configurations).json(&config).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
        assert_eq!(body(r).await["object"], "configuration");
    }
    // A configuration naming a parameter the report does not have changes nothing.
    let r = s.post(&configurations).json(&json!({"name": "X", "parameters": {"country": "FR"}})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body(r).await["error"]["details"]["errors"][0]["field"], "parameters.country");
    let listed = body(s.get(&configurations).send().await.unwrap()).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 3);

    // The tick passes Monday 09:00: one run, an entry per active configuration.
    clock.set(Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 5).unwrap());
    assert_eq!(tick(&s.ctx).await.unwrap().reports_ran, 1);
    let runs = body(s.get(&s.ws("/runs?report_id=visibility")).send().await.unwrap()).await;
    assert_eq!(runs["data"].as_array().unwrap().len(), 1);
    let run = s.settled_run(runs["data"][0]["id"].as_str().unwrap()).await;
    assert_eq!(run["trigger"], "schedule");
    assert_one_entry_per_active_configuration(&s, &run).await;
    let scheduled = body(s.get(&s.ws(&format!("/scheduled-reports/{id}"))).send().await.unwrap()).await;
    assert_eq!(scheduled["last_run_at"], "2026-11-23T09:00:05Z", "when it ran");
    assert_eq!(scheduled["last_run_status"], "completed", "{scheduled}");
    assert_eq!(scheduled["next_run_at"], "2026-11-30T09:00:00Z");

    // An execution does the same without a tick.
    let r = s.post(&s.ws(&format!("/scheduled-reports/{id}/executions"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED, "{}", r.text().await.unwrap());
    let run = s.settled_run(body(r).await["id"].as_str().unwrap()).await;
    assert_eq!(run["trigger"], "api");
    assert_one_entry_per_active_configuration(&s, &run).await;

    // Up to 20 configurations; the 21st is refused and nothing changes.
    for i in 4..=20 {
        let r = s.post(&configurations).json(&json!({"name": format!("Region {i}"), "active": false})).send().await;
        assert_eq!(r.unwrap().status(), StatusCode::CREATED);
    }
    let r = s.post(&configurations).json(&json!({"name": "Region 21"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused = body(r).await;
    assert_eq!(refused["error"]["details"]["errors"][0]["field"], "configurations", "{refused}");
    let listed = body(s.get(&configurations).send().await.unwrap()).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 20);

    // A run that fails shows on the scheduled report, with the reason.
    let broken = json!({"code": "broken", "name": "Broken", "formats": ["markdown"],
        "sources": [{"name": "gone", "type": "dataset", "dataset": "never-uploaded"}],
        "sections": [{"type": "table", "source": "gone"}]});
    assert_eq!(s.post(&s.ws("/reports")).json(&broken).send().await.unwrap().status(), StatusCode::CREATED);
    let r = s
        .post(&s.ws("/scheduled-reports"))
        .json(&json!({"report": "broken", "frequency": "daily", "name": "Broken daily"}));
    let failing = body(r.send().await.unwrap()).await;
    let failing_id = failing["id"].as_str().unwrap().to_owned();
    let r = s.post(&s.ws(&format!("/scheduled-reports/{failing_id}/executions"))).send().await.unwrap();
    let run = s.settled_run(body(r).await["id"].as_str().unwrap()).await;
    assert_eq!(run["counts"]["errors"], 1, "{run}");
    let mut failing = Value::Null;
    for _ in 0..50 {
        failing = body(s.get(&s.ws(&format!("/scheduled-reports/{failing_id}"))).send().await.unwrap()).await;
        if failing["last_run_status"] == "failed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(failing["last_run_status"], "failed", "{failing}");
    assert!(failing["last_error_message"].as_str().unwrap().contains("never-uploaded"), "{failing}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weekly_scheduled_report_runs_one_entry_per_active_configuration_on_sqlite() {
    a_weekly_scheduled_report_runs_one_entry_per_active_configuration(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weekly_scheduled_report_runs_one_entry_per_active_configuration_on_dynamodb() {
    a_weekly_scheduled_report_runs_one_entry_per_active_configuration(Backend::DynamoDb).await;
}
