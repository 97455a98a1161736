//! Alert rules end to end, over HTTP and the tick, on each store: a rule over the offer
//! performance grouped by offer ("completions drop more than 15% week over week") watched by
//! the tick. When one offer drops, exactly one `firing` notification reaches a Slack listener
//! and a signed webhook listener, however many ticks race; nothing more until `repeat_every`;
//! when the data recovers, exactly one `resolved`. Evaluate now answers the verdicts without
//! changing anything.

use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, Duration, DurationRound, Utc};
use herald_core::clock::ManualClock;
use herald_core::pipeline::maintenance::cleanup::clean_workspace;
use herald_core::pipeline::tick::{TickReport, tick};
use herald_core::testing::recorder::{Recorder, Reply};
use herald_tests::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SECRET_BYTES: [u8; 24] = *b"herald-alerts-secret-24b";

async fn body(r: reqwest::Response) -> Value {
    r.json().await.expect("JSON body")
}

/// `count` completions of `offer`, `days_ago` days before `now`.
async fn completions(s: &TestServer, now: DateTime<Utc>, offer: &str, days_ago: i64, count: usize) {
    let at = (now - Duration::days(days_ago)).to_rfc3339();
    let batch: Vec<Value> = (0..count)
        .map(|i| {
            json!({"customer_id": format!("c{i}"), "type": "completed", "offer_id": offer, "offer_kind": "bogo",
                   "channel": "email", "occurred_at": at})
        })
        .collect();
    let r = s.post(&s.ws("/interactions")).json(&batch).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

async fn destination(s: &TestServer, name: &str, config: Value) -> String {
    let r = s.post(&s.ws("/destinations")).json(&json!({"name": name, "config": config})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    body(r).await["id"].as_str().unwrap().to_owned()
}

/// Eight ticks at once; their reports.
async fn ticks(s: &TestServer) -> Vec<TickReport> {
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let ctx = s.ctx.clone();
            tokio::spawn(async move { tick(&ctx).await.unwrap() })
        })
        .collect();
    futures::future::join_all(handles).await.into_iter().map(Result::unwrap).collect()
}

/// The alert payloads the webhook listener got, each checked against its signature.
fn webhook_events(hook: &Recorder) -> Vec<Value> {
    hook.requests()
        .iter()
        .map(|request| {
            let (id, at) = (request.header("webhook-id").unwrap(), request.header("webhook-timestamp").unwrap());
            let expected =
                herald_core::deliver::webhook::sign(&SECRET_BYTES, id, at.parse().unwrap(), &request.body).unwrap();
            assert_eq!(request.header("webhook-signature").unwrap(), expected, "signed with the destination's secret");
            request.json()
        })
        .collect()
}

fn kinds(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| (e["type"].as_str().unwrap().to_owned(), e["alert"]["instance"].as_str().unwrap().to_owned()))
        .collect()
}

async fn an_offer_that_drops_fires_once_repeats_on_time_and_resolves_once(backend: Backend) {
    let start = Utc::now().duration_trunc(Duration::minutes(1)).unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let Some(s) = TestServer::start_with_clock(backend, Some(clock.clone())).await else { return };
    let mut ws = s.ctx.store.get_workspace(s.access.workspace.id).await.unwrap();
    ws.settings.network.allowed_addresses = vec!["127.0.0.1".into()];
    s.ctx.store.update_workspace(&ws).await.unwrap();

    // Two offers, steady week over week.
    for offer in ["o1", "o2"] {
        completions(&s, start, offer, 10, 10).await;
        completions(&s, start, offer, 2, 10).await;
    }
    let slack = Recorder::start(vec![Reply::new(200, "ok")]).await;
    let hook = Recorder::start(vec![Reply::new(200, "ok")]).await;
    let secret = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(SECRET_BYTES));
    let chat = destination(&s, "Ops Slack", json!({"type": "slack", "webhook_url": slack.url("/slack")})).await;
    let signed =
        destination(&s, "Ops hook", json!({"type": "webhook", "url": hook.url("/hook"), "signing_secret": secret}))
            .await;
    let rule = json!({
        "name": "Completions drop",
        "source": {"name": "offers", "type": "offer_performance", "period": "7d"},
        "metric": {"aggregate": "latest", "column": "completed", "group_by": "offer_id",
                   "previous_column": "previous_completed"},
        "condition": {"op": "change", "by": "percent", "direction": "down", "threshold": 15},
        "interval_minutes": 5,
        "timing": {"repeat_every_minutes": 60, "cooldown_minutes": 0},
        "severity": "critical",
        "destinations": [{"destination_id": chat}, {"destination_id": signed}]
    });
    let r = s.post(&s.ws("/alerts")).json(&rule).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    let id = body(r).await["id"].as_str().unwrap().to_owned();

    // Steady: evaluated, nothing fires.
    let reports = ticks(&s).await;
    assert_eq!(reports.iter().map(|r| r.alerts_evaluated).sum::<usize>(), 1, "one tick claimed the slot");
    assert!(reports.iter().all(|r| r.ok), "{reports:?}");
    let view = body(s.get(&s.ws(&format!("/alerts/{id}"))).send().await.unwrap()).await;
    assert_eq!(view["state"], "normal", "{view}");
    assert_eq!(view["instances"].as_array().unwrap().len(), 2, "one instance per offer: {view}");

    // o2's previous week grows: this week is a third lower. Evaluate now says so, and changes nothing.
    completions(&s, start, "o2", 9, 5).await;
    let dry = body(s.post(&s.ws(&format!("/alerts/{id}/evaluate"))).send().await.unwrap()).await;
    let verdict = dry["instances"].as_array().unwrap().iter().find(|i| i["instance"] == "o2").unwrap().clone();
    assert_eq!((verdict["breached"].clone(), verdict["state_after"].clone()), (json!(true), json!("firing")), "{dry}");
    assert_eq!(verdict["notification"], "firing");
    assert_eq!(dry["dry_run"], true);
    assert!(slack.requests().is_empty() && hook.requests().is_empty(), "a dry run sends nothing");

    // The next slot fires exactly once, to both listeners.
    clock.set(start + Duration::minutes(5));
    let reports = ticks(&s).await;
    assert_eq!(reports.iter().map(|r| r.alerts_notified).sum::<usize>(), 2, "{reports:?}");
    assert_eq!(reports.iter().map(|r| r.alerts_firing).sum::<usize>(), 1);
    assert_eq!(slack.requests().len(), 1);
    let slack_text = String::from_utf8_lossy(&slack.requests()[0].body).to_string();
    assert!(slack_text.contains("Completions drop") && slack_text.contains("o2"), "{slack_text}");
    assert!(slack_text.contains(&format!("/console#/alerts/{id}")), "a link to the alert: {slack_text}");
    let events = webhook_events(&hook);
    assert_eq!(kinds(&events), [("alert.firing".to_owned(), "o2".to_owned())]);
    assert_eq!(events[0]["alert"]["severity"], "critical");
    assert_eq!(events[0]["alert"]["value"], json!(10.0));

    // Further ticks inside `repeat_every` send nothing; past it, one repeat.
    for minutes in [10, 15, 30] {
        clock.set(start + Duration::minutes(minutes));
        ticks(&s).await;
    }
    assert_eq!(hook.requests().len(), 1, "no repeat before an hour");
    clock.set(start + Duration::minutes(65));
    ticks(&s).await;
    let repeat = &webhook_events(&hook)[1];
    assert_eq!(kinds(std::slice::from_ref(repeat)), [("alert.repeat".to_owned(), "o2".to_owned())]);
    assert_eq!(repeat["alert"]["recent"], json!(vec![10.0; 6]), "the values evaluated so far");
    assert!(repeat["message"].as_str().unwrap().contains("Last 6 evaluations: ▄▄▄▄▄▄"), "{repeat}");
    assert_eq!(slack.requests().len(), 2);

    // The data recovers: exactly one resolved, which says how long it fired.
    completions(&s, start, "o2", 1, 5).await;
    clock.set(start + Duration::minutes(70));
    ticks(&s).await;
    clock.set(start + Duration::minutes(75));
    ticks(&s).await;
    let events = webhook_events(&hook);
    assert_eq!(
        kinds(&events),
        [
            ("alert.firing".to_owned(), "o2".to_owned()),
            ("alert.repeat".to_owned(), "o2".to_owned()),
            ("alert.resolved".to_owned(), "o2".to_owned())
        ]
    );
    assert_eq!(events[2]["alert"]["fired_for_seconds"], json!(65 * 60));
    assert_eq!(slack.requests().len(), 3);

    // The history: normal → firing → normal for o2, newest first.
    let history = body(s.get(&s.ws(&format!("/alerts/{id}/events"))).send().await.unwrap()).await;
    let changes: Vec<(String, String, String)> = history["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let text = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (text("instance"), text("from"), text("to"))
        })
        .collect();
    assert_eq!(
        changes,
        [("o2".into(), "firing".into(), "normal".into()), ("o2".into(), "normal".into(), "firing".into())],
        "{history}"
    );
    let sent = body(s.get(&s.ws(&format!("/alerts/{id}/notifications"))).send().await.unwrap()).await;
    let statuses: Vec<&str> = sent["data"].as_array().unwrap().iter().map(|n| n["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["sent"; 6], "{sent}");

    // Retention: a year on, cleanup removes the state changes and notifications.
    let later = start + Duration::days(366);
    let ws = s.ctx.store.get_workspace(s.access.workspace.id).await.unwrap();
    let (tenant, errors) = clean_workspace(&s.ctx, &ws, later).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(tenant.alert_history, 2 + 6, "{tenant:?}");
    let history = body(s.get(&s.ws(&format!("/alerts/{id}/events"))).send().await.unwrap()).await;
    assert_eq!(history["data"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_that_drops_fires_once_repeats_on_time_and_resolves_once_on_sqlite() {
    an_offer_that_drops_fires_once_repeats_on_time_and_resolves_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_that_drops_fires_once_repeats_on_time_and_resolves_once_on_dynamodb() {
    an_offer_that_drops_fires_once_repeats_on_time_and_resolves_once(Backend::DynamoDb).await;
}

async fn a_rule_with_a_bad_field_or_an_unknown_destination_is_refused_naming_each(s: TestServer) {
    let rule = json!({
        "name": "Bad",
        "source": {"name": "offers", "type": "offer_performance"},
        "metric": {"aggregate": "sum"},
        "condition": {"op": ">", "threshold": 10, "recovery_threshold": 20},
        "window_minutes": 0,
        "destinations": [{"destination_id": "01JD0000000000000000000000"}]
    });
    let r = s.post(&s.ws("/alerts")).json(&rule).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused = body(r).await;
    let fields: Vec<&str> = refused["error"]["details"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["metric.column", "condition.recovery_threshold", "window_minutes", "destinations[0].destination_id"],
        "{refused}"
    );
    let listed = body(s.get(&s.ws("/alerts")).send().await.unwrap()).await;
    assert_eq!(listed["data"], json!([]));
}

herald_tests::on_every_store!(a_rule_with_a_bad_field_or_an_unknown_destination_is_refused_naming_each);
