//! Destinations and deliveries seen from outside: destinations keep their secrets
//! write-only; a run delivers to email (outbox), a signed webhook and Slack with what each
//! expects; failures are recorded per destination and retried when transient; a repeated
//! delivery job sends nothing twice.

use std::sync::Arc;

use base64::Engine;
use chrono::{Duration, TimeZone, Utc};
use herald_core::clock::{Clock, ManualClock};
use herald_core::testing::mail;
use herald_core::testing::recorder::{Recorder, Reply};
use herald_tests::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

async fn body(r: reqwest::Response) -> Value {
    r.json().await.expect("JSON body")
}

async fn destinations_keep_their_secrets_write_only(s: TestServer) {
    let r = s
        .post(&s.ws("/destinations"))
        .json(&json!({"name": "Ops Slack", "config": {"type": "slack", "webhook_url": "https://hooks.slack.test/T0/B0/secret"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created = body(r).await;
    assert_eq!(created["object"], "destination");
    assert_eq!(created["type"], "slack");
    assert_eq!(created["config"]["webhook_url"], "********");
    let id = created["id"].as_str().unwrap().to_owned();

    let listed = body(s.get(&s.ws("/destinations")).send().await.unwrap()).await;
    assert_eq!(listed["data"][0]["id"], id.as_str());
    assert!(!listed.to_string().contains("secret"), "{listed}");

    // Sending the redacted text back keeps the stored secret; the name changes.
    let r = s
        .patch(&s.ws(&format!("/destinations/{id}")))
        .json(&json!({"name": "Ops channel", "config": {"type": "slack", "webhook_url": "********"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let stored = s.ctx.store.get_destination(s.access.workspace.id, id.parse().unwrap()).await.unwrap();
    assert_eq!(stored.name.as_str(), "Ops channel");
    match stored.config {
        herald_core::domain::DestinationConfig::Slack { webhook_url } => {
            assert_eq!(webhook_url.expose(), "https://hooks.slack.test/T0/B0/secret")
        }
        other => panic!("{other:?}"),
    }

    let r = s.delete(&s.ws(&format!("/destinations/{id}"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = s.get(&s.ws(&format!("/destinations/{id}"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

async fn an_invalid_destination_names_each_bad_field_and_saves_nothing(s: TestServer) {
    let r = s
        .post(&s.ws("/destinations"))
        .json(&json!({"name": "Hook", "config": {"type": "webhook", "url": "ftp://x", "signing_secret": "short"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v = body(r).await;
    let fields: Vec<_> =
        v["error"]["details"]["errors"].as_array().unwrap().iter().map(|e| e["field"].clone()).collect();
    assert_eq!(fields, [json!("config.url"), json!("config.signing_secret")]);
    let listed = body(s.get(&s.ws("/destinations")).send().await.unwrap()).await;
    assert_eq!(listed["data"], json!([]));
    let r = s.post(&s.ws("/destinations")).json(&json!({"config": {"type": "email"}})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

const SECRET_BYTES: [u8; 24] = *b"herald-webhook-secret-24";

fn signing_secret() -> String {
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(SECRET_BYTES))
}

/// Lets the workspace's deliveries reach the loopback listeners of the test.
async fn allow_loopback(s: &TestServer) {
    let mut ws = s.ctx.store.get_workspace(s.access.workspace.id).await.unwrap();
    ws.settings.network.allowed_addresses = vec!["127.0.0.1".into()];
    s.ctx.store.update_workspace(&ws).await.unwrap();
}

async fn destination(s: &TestServer, name: &str, config: Value) -> String {
    let r = s.post(&s.ws("/destinations")).json(&json!({"name": name, "config": config})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    body(r).await["id"].as_str().unwrap().to_owned()
}

/// A signed webhook destination posting to `hook`.
async fn webhook_to(s: &TestServer, hook: &Recorder) -> String {
    let config = json!({"type": "webhook", "url": hook.url("/hook"), "signing_secret": signing_secret()});
    destination(s, "Hook", config).await
}

/// A report on inline rows delivering to `deliveries`.
async fn report(s: &TestServer, deliveries: Value) {
    let report = json!({
        "code": "weekly-digest", "name": "Weekly digest", "formats": ["pdf", "csv"],
        "sources": [{"name": "sales", "type": "inline", "rows": [
            {"region": "North", "orders": 1200, "revenue": 48211.75},
            {"region": "South", "orders": 800, "revenue": 30500.5}
        ]}],
        "sections": [
            {"type": "kpi", "source": "sales", "tiles": [{"label": "Revenue", "column": "revenue", "format": {"kind": "currency", "code": "USD"}}]},
            {"type": "table", "title": "Sales", "source": "sales"}
        ],
        "deliveries": deliveries
    });
    let r = s.post(&s.ws("/reports")).json(&report).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
}

async fn run_now(s: &TestServer) -> String {
    let r = s.post(&s.ws("/reports/weekly-digest/runs")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    body(r).await["id"].as_str().unwrap().to_owned()
}

async fn run_detail(s: &TestServer, id: &str) -> Value {
    body(s.get(&s.ws(&format!("/runs/{id}"))).send().await.unwrap()).await
}

fn statuses(run: &Value) -> Vec<String> {
    run["entry_list"]["data"][0]["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_delivers_to_email_a_signed_webhook_and_slack_each_as_expected() {
    let s = TestServer::start(Backend::Sqlite).await.unwrap();
    s.run_workers();
    allow_loopback(&s).await;
    let hook = Recorder::start(vec![Reply::new(200, "ok")]).await;
    let slack = Recorder::start(vec![Reply::new(200, "ok")]).await;
    let email =
        destination(&s, "Ops email", json!({"type": "email", "transport": "outbox", "from": "reports@acme.test"}))
            .await;
    let webhook = webhook_to(&s, &hook).await;
    let chat = destination(&s, "Slack", json!({"type": "slack", "webhook_url": slack.url("/slack")})).await;
    report(&s, json!([
        {"destination_id": email, "to": ["ops@acme.test"], "subject": "Weekly digest for {run.date}", "message": "Hello team"},
        {"destination_id": webhook},
        {"destination_id": chat}
    ]))
    .await;
    let id = run_now(&s).await;
    let run = s.settled_run(&id).await;
    assert_eq!(run["counts"]["completed"], 1, "{run}");
    assert_eq!(run["entry_list"]["data"][0]["status"], "Completed");
    assert_eq!(statuses(&run), ["sent", "sent", "sent"]);
    let artifacts = run["entry_list"]["data"][0]["artifacts"].as_array().unwrap().clone();
    let sha =
        |name: &str| artifacts.iter().find(|a| a["file_name"] == name).unwrap()["sha256"].as_str().unwrap().to_owned();

    // Email: one message in the outbox, its attachments byte-identical to the stored artifacts.
    let outbox = s.ctx.config.outbox_dir.clone();
    let emails: Vec<_> = std::fs::read_dir(&outbox)
        .unwrap()
        .flatten()
        .filter(|f| f.file_name().to_string_lossy().ends_with(".eml"))
        .collect();
    assert_eq!(emails.len(), 1);
    let message = mail::parse(&std::fs::read(emails[0].path()).unwrap());
    let date = Utc::now().format("%Y-%m-%d").to_string();
    assert_eq!(mail::decode_words(message.header("subject").unwrap()), format!("Weekly digest for {date}"));
    let attached: Vec<(String, String)> = message
        .leaves()
        .into_iter()
        .filter_map(|p| p.file_name().map(|n| (n, hex::encode(Sha256::digest(&p.body)))))
        .collect();
    assert_eq!(
        attached,
        [("weekly-digest.pdf".to_owned(), sha("weekly-digest.pdf")), ("sales.csv".to_owned(), sha("sales.csv"))]
    );
    let text = message.leaves().iter().map(|p| p.text()).collect::<String>();
    assert!(text.contains("Hello team") && text.contains("Executive summary") && text.contains(&id), "{text}");

    // Webhook: signed per Standard Webhooks, the artifacts inline.
    let requests = hook.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    let (hook_id, timestamp) = (request.header("webhook-id").unwrap(), request.header("webhook-timestamp").unwrap());
    let expected =
        herald_core::deliver::webhook::sign(&SECRET_BYTES, hook_id, timestamp.parse().unwrap(), &request.body).unwrap();
    assert_eq!(request.header("webhook-signature").unwrap(), expected);
    let payload = request.json();
    assert_eq!(payload["run"]["id"], id.as_str());
    for artifact in payload["artifacts"].as_array().unwrap() {
        let bytes =
            base64::engine::general_purpose::STANDARD.decode(artifact["content_base64"].as_str().unwrap()).unwrap();
        assert_eq!(hex::encode(Sha256::digest(&bytes)), sha(artifact["file_name"].as_str().unwrap()));
    }

    // Slack: Block Kit with the summary and a link to the run in the console.
    let slack_requests = slack.requests();
    assert_eq!(slack_requests.len(), 1);
    let blocks = slack_requests[0].json();
    assert!(blocks["blocks"].as_array().is_some_and(|b| !b.is_empty()), "{blocks}");
    assert!(blocks.to_string().contains(&format!("/console#/runs/{id}")), "{blocks}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_for_good_and_one_for_now_leave_the_other_delivered_and_the_transient_one_retried() {
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap()));
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let s = TestServer::start_with(Backend::Sqlite, Some(dyn_clock), &[]).await.unwrap();
    s.run_workers();
    allow_loopback(&s).await;
    // The webhook fails its first send (three tries inside it), then succeeds.
    let hook = Recorder::start(vec![
        Reply::new(503, "busy"),
        Reply::new(503, "busy"),
        Reply::new(503, "busy"),
        Reply::new(200, "ok"),
    ])
    .await;
    let slack = Recorder::start(vec![Reply::new(400, "invalid_payload")]).await;
    let email = destination(&s, "Ops email", json!({"type": "email"})).await;
    let webhook = webhook_to(&s, &hook).await;
    let chat = destination(&s, "Slack", json!({"type": "slack", "webhook_url": slack.url("/slack")})).await;
    report(
        &s,
        json!([
            {"destination_id": email, "to": ["ops@acme.test"]},
            {"destination_id": webhook},
            {"destination_id": chat}
        ]),
    )
    .await;
    let id = run_now(&s).await;
    let mut run = run_detail(&s, &id).await;
    for _ in 0..300 {
        if statuses(&run).len() == 3 && !statuses(&run).contains(&"pending".to_owned()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        run = run_detail(&s, &id).await;
    }
    assert_eq!(statuses(&run), ["sent", "failed_transient", "failed_permanent"], "{run}");
    let deliveries = &run["entry_list"]["data"][0]["deliveries"];
    assert!(deliveries[2]["error"].as_str().unwrap().contains("invalid_payload"), "{deliveries}");
    assert_eq!(run["finished"], false, "a retry is still due");

    // A minute later the recovery sweep hands the entry back; the webhook now answers 200.
    clock.advance(Duration::minutes(2));
    herald_core::pipeline::recovery::recover_stale_work(&s.ctx, clock.now()).await.unwrap();
    let run = s.settled_run(&id).await;
    assert_eq!(statuses(&run), ["sent", "sent", "failed_permanent"], "{run}");
    assert_eq!(run["entry_list"]["data"][0]["status"], "CompletedWithErrors");
    assert_eq!((run["counts"]["errors"].clone(), run["counts"]["completed"].clone()), (json!(1), json!(0)));
    assert_eq!(hook.requests().len(), 4);
    assert_eq!(slack.requests().len(), 1, "permanent failures are not retried");

    // "Retry" on the failed delivery re-sends the stored artifacts; Slack now accepts.
    let failed = run["entry_list"]["data"][0]["deliveries"][2]["id"].as_str().unwrap().to_owned();
    let r = s.post(&s.ws(&format!("/runs/{id}/deliveries/{failed}/retry"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED, "{}", r.text().await.unwrap());
    let run = s.settled_run(&id).await;
    assert_eq!(statuses(&run), ["sent", "sent", "failed_permanent"], "Slack still answers 400: {run}");
    assert_eq!(slack.requests().len(), 2);
    assert_eq!(hook.requests().len(), 4, "a retry of one delivery sends only that one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_entries_wait_for_the_deliver_action_which_can_also_send_again() {
    let s = TestServer::start(Backend::Sqlite).await.unwrap();
    s.run_workers();
    allow_loopback(&s).await;
    let hook = Recorder::start(vec![Reply::new(200, "ok")]).await;
    let webhook = webhook_to(&s, &hook).await;
    report(&s, json!([{"destination_id": webhook}])).await;
    let r = s.patch(&s.ws("/reports/weekly-digest")).json(&json!({"hold_for_review": true})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let id = run_now(&s).await;
    let run = s.settled_run(&id).await;
    assert_eq!(run["counts"]["review"], 1, "{run}");
    assert_eq!(run["entry_list"]["data"][0]["status"], "PendingReview");
    assert!(hook.requests().is_empty(), "nothing leaves before approval");

    let r = s
        .post(&s.ws(&format!("/runs/{id}/deliver")))
        .json(&json!({"entry_ids": ["01JD0000000000000000000000"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = s.post(&s.ws(&format!("/runs/{id}/deliver"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(body(r).await["queued"], 1);
    let run = s.settled_run(&id).await;
    assert_eq!((run["counts"]["completed"].clone(), run["counts"]["review"].clone()), (json!(1), json!(0)), "{run}");
    assert_eq!(hook.requests().len(), 1);

    // Delivering a delivered entry again re-sends it from the stored artifacts.
    let r = s.post(&s.ws(&format!("/runs/{id}/deliver"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let run = s.settled_run(&id).await;
    assert_eq!(statuses(&run), ["sent"]);
    assert_eq!(hook.requests().len(), 2);
    assert_eq!(run["entry_list"]["data"][0]["deliveries"][0]["attempts"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_connection_sends_a_real_message_and_reports_the_answer() {
    let s = TestServer::start(Backend::Sqlite).await.unwrap();
    allow_loopback(&s).await;
    let good = Recorder::start(vec![Reply::new(200, "ok")]).await;
    let bad = Recorder::start(vec![Reply::new(404, "no_service")]).await;
    let ok_id = destination(&s, "Slack", json!({"type": "slack", "webhook_url": good.url("/ok")})).await;
    let bad_id = destination(&s, "Teams", json!({"type": "teams", "webhook_url": bad.url("/gone")})).await;
    let v = body(s.post(&s.ws(&format!("/destinations/{ok_id}/test"))).send().await.unwrap()).await;
    assert_eq!((v["object"].clone(), v["ok"].clone()), (json!("destination_test"), json!(true)), "{v}");
    assert!(good.requests()[0].json().to_string().contains("Herald test message"));
    let v = body(s.post(&s.ws(&format!("/destinations/{bad_id}/test"))).send().await.unwrap()).await;
    assert_eq!((v["ok"].clone(), v["transient"].clone()), (json!(false), json!(false)), "{v}");
    assert!(v["error"].as_str().unwrap().contains("404"), "{v}");
    let email = destination(&s, "Email", json!({"type": "email"})).await;
    let r = s.post(&s.ws(&format!("/destinations/{email}/test"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v = body(
        s.post(&s.ws(&format!("/destinations/{email}/test")))
            .json(&json!({"to": ["me@acme.test"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v["ok"], true, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_delivery_job_processed_twice_sends_once() {
    let s = TestServer::start(Backend::Sqlite).await.unwrap();
    allow_loopback(&s).await;
    let hook = Recorder::start(vec![Reply::new(200, "ok")]).await;
    let webhook = webhook_to(&s, &hook).await;
    report(&s, json!([{"destination_id": webhook}])).await;
    let id: herald_core::domain::RunId = run_now(&s).await.parse().unwrap();
    let entries = s.ctx.store.list_entries(id, &herald_core::store::PageRequest::first(1)).await.unwrap().items;
    let (ws, entry) = (s.access.workspace.id, entries[0].id);
    // The render hands the entry to a delivery of its own; two more jobs race it, and a third
    // comes after.
    herald_core::pipeline::render_entry::render_entry(&s.ctx, ws, id, entry).await.unwrap();
    let (a, b) = tokio::join!(
        herald_core::pipeline::deliver_entry::deliver_entry(&s.ctx, ws, (id, entry), None),
        herald_core::pipeline::deliver_entry::deliver_entry(&s.ctx, ws, (id, entry), None)
    );
    a.unwrap();
    b.unwrap();
    let run = s.settled_run(&id.to_string()).await;
    assert_eq!(run["finished"], true, "{run}");
    herald_core::pipeline::deliver_entry::deliver_entry(&s.ctx, ws, (id, entry), None).await.unwrap();
    assert_eq!(hook.requests().len(), 1);
    let run = run_detail(&s, &id.to_string()).await;
    assert_eq!(statuses(&run), ["sent"]);
    assert_eq!(run["entry_list"]["data"][0]["deliveries"][0]["attempts"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_delivery_names_the_files_with_its_own_pattern() {
    let s = TestServer::start(Backend::Sqlite).await.unwrap();
    s.run_workers();
    let email = destination(&s, "Outbox", json!({"type": "email", "transport": "outbox"})).await;
    report(
        &s,
        json!([
            {"destination_id": email, "to": ["a@acme.test"], "naming_pattern": "first-{file}"},
            {"destination_id": email, "to": ["b@acme.test"], "naming_pattern": "second-{file}"}
        ]),
    )
    .await;
    let run = s.settled_run(&run_now(&s).await).await;
    assert_eq!(statuses(&run), ["sent", "sent"]);
    let mut names = std::collections::BTreeMap::new();
    for file in std::fs::read_dir(&s.ctx.config.outbox_dir).unwrap().flatten() {
        if !file.file_name().to_string_lossy().ends_with(".eml") {
            continue;
        }
        let message = mail::parse(&std::fs::read(file.path()).unwrap());
        let mut files: Vec<String> = message.leaves().iter().filter_map(|part| part.file_name()).collect();
        files.sort();
        names.insert(message.header("to").unwrap().to_owned(), files);
    }
    assert_eq!(names["a@acme.test"], ["first-sales.csv", "first-weekly-digest.pdf"], "{names:?}");
    assert_eq!(names["b@acme.test"], ["second-sales.csv", "second-weekly-digest.pdf"], "{names:?}");
}

async fn a_report_whose_condition_does_not_parse_is_refused_with_the_position(s: TestServer) {
    let email = destination(&s, "Ops email", json!({"type": "email"})).await;
    let report = json!({
        "code": "statements", "name": "Statements", "formats": ["pdf"],
        "deliveries": [{"destination_id": email, "to": ["{row.email}"], "condition": "row.email != null"}]
    });
    let r = s.post(&s.ws("/reports")).json(&report).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v = body(r).await;
    let error = &v["error"]["details"]["errors"][0];
    assert_eq!(error["field"], "deliveries[0].condition");
    assert!(error["message"].as_str().unwrap().contains("{row.email}"), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suppressed_addresses_are_left_out_and_a_delivery_to_nobody_else_is_skipped_with_a_note() {
    let s = TestServer::start(Backend::Sqlite).await.unwrap();
    s.run_workers();
    let email = destination(&s, "Ops email", json!({"type": "email", "transport": "outbox"})).await;
    report(&s, json!([{"destination_id": email, "to": ["Bounced@Acme.test", "ops@acme.test"]}])).await;
    let r = s.client.put(s.ws("/suppressions/bounced@acme.test")).bearer_auth(&s.access.secret);
    let r = r.json(&json!({"reason": "hard_bounce"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(body(r).await["reason"], "hard_bounce");
    let listed = body(s.get(&s.ws("/suppressions")).send().await.unwrap()).await;
    assert_eq!(listed["data"][0]["address"], "bounced@acme.test");

    let run = s.settled_run(&run_now(&s).await).await;
    assert_eq!(statuses(&run), ["sent"]);
    let outbox = s.ctx.config.outbox_dir.clone();
    let sent: Vec<_> = std::fs::read_dir(&outbox)
        .unwrap()
        .flatten()
        .filter(|f| f.file_name().to_string_lossy().ends_with(".eml"))
        .collect();
    let message = mail::parse(&std::fs::read(sent[0].path()).unwrap());
    assert_eq!(message.header("to"), Some("ops@acme.test"));

    let r = s.client.put(s.ws("/suppressions/ops@acme.test")).bearer_auth(&s.access.secret).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let run = s.settled_run(&run_now(&s).await).await;
    assert_eq!(statuses(&run), ["skipped_condition"]);
    let note = run["entry_list"]["data"][0]["deliveries"][0]["error"].as_str().unwrap().to_owned();
    assert!(note.contains("every recipient is suppressed") && note.contains("ops@acme.test"), "{note}");

    for (address, expected) in
        [("not-an-address", StatusCode::BAD_REQUEST), ("nobody@acme.test", StatusCode::NOT_FOUND)]
    {
        let r = s.delete(&s.ws(&format!("/suppressions/{address}"))).send().await.unwrap();
        assert_eq!(r.status(), expected, "{address}");
    }
    let r = s.client.put(s.ws("/suppressions/x@acme.test")).bearer_auth(&s.access.secret);
    let r = r.json(&json!({"expires_at": "2000-01-01T00:00:00Z"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = s.delete(&s.ws("/suppressions/ops@acme.test")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

herald_tests::on_every_store!(
    a_report_whose_condition_does_not_parse_is_refused_with_the_position,
    destinations_keep_their_secrets_write_only,
    an_invalid_destination_names_each_bad_field_and_saves_nothing,
);
