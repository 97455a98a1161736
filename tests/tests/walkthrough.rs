//! The seed `000` walkthrough end to end, over HTTP only (the clock is the one thing the test
//! holds): interaction history in, a weekly digest created and previewed, a daily 8am schedule
//! added, Run now delivering to email, Slack and a webhook, the artifacts downloaded, the
//! delivered email read from the outbox, the run history browsed, and finally the cron tick
//! firing the schedule once its time has come.

use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use herald_core::clock::{Clock, ManualClock};
use herald_core::demo;
use herald_core::testing::mail;
use herald_core::testing::recorder::{Recorder, Reply};
use herald_tests::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

async fn body(r: reqwest::Response) -> Value {
    let status = r.status();
    let text = r.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: not JSON: {text}"))
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_weekly_digest_walkthrough_runs_end_to_end_over_http() {
    // Sunday evening: the history covers the last three weeks.
    let now = Utc.with_ymd_and_hms(2026, 11, 22, 19, 30, 0).unwrap();
    let clock = Arc::new(ManualClock::new(now));
    let held: Arc<dyn Clock> = clock.clone();
    let s = TestServer::start_with(
        Backend::Sqlite,
        Some(held),
        &[("HERALD_BODY_LIMIT_BYTES", "8388608"), ("CRON_TOKEN", "walkthrough-cron-token")],
    )
    .await
    .expect("server");
    s.run_workers();

    // Prerequisites: interaction history, loopback allowed for the chat and webhook listeners.
    let customers = demo::customers(300, 5);
    let history = demo::history(&customers, now.date_naive(), 21, 5);
    let past: Vec<&Value> = history
        .interactions
        .iter()
        .filter(|e| serde_json::from_value::<DateTime<Utc>>(e["occurred_at"].clone()).is_ok_and(|at| at <= now))
        .collect();
    for batch in past.chunks(5000) {
        let r = s.post(&s.ws("/interactions")).json(&batch).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = s.patch(&s.ws("/settings")).json(&json!({"network": {"allowed_addresses": ["127.0.0.1"]}})).send().await;
    assert_eq!(r.unwrap().status(), StatusCode::OK);

    // Notification providers: ops email (outbox), Slack, a signed webhook.
    let slack = Recorder::start(vec![Reply::new(200, "ok")]).await;
    let hook = Recorder::start(vec![Reply::new(200, "ok")]).await;
    let secret = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(b"walkthrough-webhook-secret"));
    let mut destinations = Vec::new();
    for (name, config) in [
        ("Ops email", json!({"type": "email", "transport": "outbox", "from": "reports@acme.test"})),
        ("Ops Slack", json!({"type": "slack", "webhook_url": slack.url("/slack")})),
        ("Warehouse hook", json!({"type": "webhook", "url": hook.url("/hook"), "signing_secret": secret})),
    ] {
        let r = s.post(&s.ws("/destinations")).json(&json!({"name": name, "config": config})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        destinations.push(body(r).await["id"].as_str().unwrap().to_owned());
    }

    // 1. Create the template: Offer performance (7 days) + Channel effectiveness, PDF and CSV,
    //    AI narrative on with a prompt addendum.
    let template = json!({
        "code": "weekly-digest",
        "name": "Weekly digest",
        "sources": [
            {"name": "offers", "type": "offer_performance", "period": "7d"},
            {"name": "channels", "type": "channel_effectiveness", "period": "7d"}
        ],
        "sections": [
            {"type": "table", "title": "Offer performance", "source": "offers"},
            {"type": "table", "title": "Channel effectiveness", "source": "channels"}
        ],
        "formats": ["pdf", "csv"],
        "narrative": {"enabled": true, "prompt_addendum": "Flag any offer with >15% week-over-week drop."},
        "deliveries": [
            {"destination_id": destinations[0], "to": ["ops@acme.test"], "subject": "Weekly digest {run.date}"},
            {"destination_id": destinations[1]},
            {"destination_id": destinations[2]}
        ]
    });
    let r = s.post(&s.ws("/reports")).json(&template).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let report = body(r).await;
    assert_eq!((report["object"].as_str(), report["enabled"].as_bool()), (Some("report"), Some(true)));

    // 2. Preview: the executive summary and a row count per section.
    let r = s.post(&format!("{}/api/v1/reports/preview", s.url)).json(&json!({"report_id": "weekly-digest"})).send();
    let preview = body(r.await.unwrap()).await;
    let rows: Vec<u64> = preview["sections"].as_array().unwrap().iter().map(|s| s["rows"].as_u64().unwrap()).collect();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|&n| n > 0), "{preview}");
    let summary = preview["narrative"]["summary"].as_str().unwrap().to_owned();
    assert!(!summary.is_empty(), "{preview}");
    assert!(
        summary.contains(demo::FADING_OFFER)
            || preview["narrative"]["takeaways"].to_string().contains(demo::FADING_OFFER)
    );

    // 3. Schedule: Daily 8am UTC; it shows its next run and does not fire by itself.
    let rule = json!({"name": "Daily 8am UTC", "rule": {"type": "cron", "expression": "0 8 * * *"}, "timezone": "UTC"});
    let r = s.post(&s.ws("/reports/weekly-digest/schedules")).json(&rule).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let schedule = body(r).await;
    assert_eq!(schedule["next_run_at"], "2026-11-23T08:00:00Z");

    // 4. Run now: PDF + CSV to email, Slack with a deep link, webhook with the files inline.
    let r = s.post(&s.ws("/reports/weekly-digest/runs")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let id = body(r).await["id"].as_str().unwrap().to_owned();
    let run = s.settled_run(&id).await;
    assert_eq!((run["status"].as_str(), run["counts"]["completed"].as_u64()), (Some("finished"), Some(1)), "{run}");
    let entry = &run["entry_list"]["data"][0];
    let sent: Vec<&str> =
        entry["deliveries"].as_array().unwrap().iter().map(|d| d["status"].as_str().unwrap()).collect();
    assert_eq!(sent, ["sent", "sent", "sent"]);

    let mut files = Vec::new();
    for artifact in entry["artifacts"].as_array().unwrap() {
        let url = artifact["download_url"].as_str().unwrap();
        let r = s.client.get(url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{url}");
        let bytes = r.bytes().await.unwrap();
        assert_eq!(sha256(&bytes), artifact["sha256"].as_str().unwrap());
        assert_eq!(bytes.len() as u64, artifact["size"].as_u64().unwrap());
        files.push((artifact["file_name"].as_str().unwrap().to_owned(), bytes));
    }
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"weekly-digest.pdf") && names.iter().any(|n| n.ends_with(".csv")), "{names:?}");
    let pdf = &files.iter().find(|(n, _)| n.ends_with(".pdf")).unwrap().1;
    let text = herald_tests::pdf_text(pdf);
    assert!(text.contains("Offer performance") && text.contains("Channel effectiveness"), "{text}");

    // The ops email: PDF and CSV attached byte for byte, the summary and takeaways in the body.
    let outbox: Vec<_> = std::fs::read_dir(&s.ctx.config.outbox_dir)
        .unwrap()
        .flatten()
        .filter(|f| f.file_name().to_string_lossy().ends_with(".eml"))
        .collect();
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    let message = mail::parse(&std::fs::read(outbox[0].path()).unwrap());
    assert_eq!(message.header("to"), Some("ops@acme.test"));
    let attached: Vec<(String, String)> =
        message.leaves().into_iter().filter_map(|p| p.file_name().map(|n| (n, sha256(&p.body)))).collect();
    let stored: Vec<(String, String)> = files.iter().map(|(n, b)| (n.clone(), sha256(b))).collect();
    assert_eq!(attached, stored);
    let mail_text = message.leaves().iter().map(|p| p.text()).collect::<String>();
    let narrative = &run["narrative"];
    assert!(mail_text.contains("Executive summary") && mail_text.contains("Key takeaways"), "{mail_text}");
    let first_takeaway = narrative["takeaways"][0].as_str().unwrap();
    assert!(mail_text.contains(first_takeaway), "{first_takeaway} not in {mail_text}");

    // Slack and the team's email: the summary and a link that opens the run in the console;
    // the webhook, for machines, names the run in the API too.
    let slack_message = slack.requests()[0].json().to_string();
    assert!(slack_message.contains(&format!("{}/console#/runs/{id}", s.url)), "{slack_message}");
    assert!(mail_text.contains(&format!("{}/console#/runs/{id}", s.url)), "{mail_text}");
    // Webhook: the artifacts inline, byte for byte.
    let payload = hook.requests()[0].json();
    assert_eq!(payload["run_url"], format!("{}/api/v1/reports/runs/{id}", s.url));
    assert_eq!(payload["view_url"], format!("{}/console#/runs/{id}", s.url));
    let inline: Vec<(String, String)> = payload["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let bytes =
                base64::engine::general_purpose::STANDARD.decode(a["content_base64"].as_str().unwrap()).unwrap();
            (a["file_name"].as_str().unwrap().to_owned(), sha256(&bytes))
        })
        .collect();
    assert_eq!(inline, stored);

    // 6. Run history: the seed's path and the workspace listing.
    let seed_path = body(s.get(&format!("{}/api/v1/reports/runs/{id}", s.url)).send().await.unwrap()).await;
    assert_eq!((seed_path["id"].as_str(), seed_path["trigger"].as_str()), (Some(id.as_str()), Some("api")));
    let history = body(s.get(&s.ws("/runs")).send().await.unwrap()).await;
    assert_eq!(history["data"][0]["id"], id.as_str());

    // 5. The cron, once wired: nothing is due before 08:00; at 08:00 the tick runs the report once.
    let tick =
        |s: &TestServer| s.client.post(format!("{}/api/cron/tick", s.url)).bearer_auth("walkthrough-cron-token").send();
    let early = body(tick(&s).await.unwrap()).await;
    assert_eq!((early["ok"].as_bool(), early["reportsRan"].as_u64()), (Some(true), Some(0)), "{early}");
    clock.set(Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 20).unwrap());
    let due = body(tick(&s).await.unwrap()).await;
    assert_eq!((due["reportsEvaluated"].as_u64(), due["reportsRan"].as_u64()), (Some(1), Some(1)), "{due}");
    assert_eq!(body(tick(&s).await.unwrap()).await["reportsRan"], 0, "the slot fires once");
    let scheduled = body(s.get(&s.ws("/runs?trigger=schedule")).send().await.unwrap()).await;
    let scheduled_id = scheduled["data"][0]["id"].as_str().unwrap().to_owned();
    let scheduled_run = s.settled_run(&scheduled_id).await;
    assert_eq!(scheduled_run["counts"]["completed"], 1, "{scheduled_run}");
    let schedule =
        body(s.get(&s.ws(&format!("/schedules/{}", schedule["id"].as_str().unwrap()))).send().await.unwrap()).await;
    assert_eq!(schedule["last_run_at"], "2026-11-23T08:00:20Z", "{schedule}");
    assert_eq!(schedule["next_run_at"], "2026-11-24T08:00:00Z");
}
