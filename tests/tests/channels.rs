//! One run delivered through the channels that need more than loopback HTTP, end to end: SES
//! and S3 in the local AWS emulator, SMTP (configured through the workspace settings API)
//! into the SMTP sink, and Teams on a loopback listener. Every file arrives byte for byte as
//! stored (SHA-256), and every delivery records what the provider said.

use std::collections::BTreeMap;

use herald_core::testing::recorder::{Recorder, Reply};
use herald_core::testing::{SmtpSink, emulator, mail, moto_sent_raw_messages, unique_name};
use herald_tests::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

async fn body(r: reqwest::Response) -> Value {
    let status = r.status();
    let text = r.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: {text}"))
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// (file name, sha256) of each attachment of a raw message.
fn attachments(raw: &[u8]) -> Vec<(String, String)> {
    let message = mail::parse(raw);
    message.leaves().into_iter().filter_map(|p| p.file_name().map(|n| (n, sha256(&p.body)))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_reaches_ses_smtp_teams_and_s3_with_every_file_intact() {
    let Some(s) = TestServer::start(Backend::DynamoDb).await else { return };
    let (Some(sdk), Some(sink)) = (emulator().await, SmtpSink::from_env()) else { return };
    s.run_workers();

    let domain = format!("{}.example.com", unique_name("channels"));
    aws_sdk_sesv2::Client::new(&sdk).create_email_identity().email_identity(&domain).send().await.unwrap();
    let bucket = unique_name("herald-archive").replace('_', "-");
    aws_sdk_s3::Client::new(&sdk).create_bucket().bucket(&bucket).send().await.unwrap();
    let teams = Recorder::start(vec![Reply::new(200, "1")]).await;
    let settings = json!({
        "network": {"allowed_addresses": ["127.0.0.1"]},
        "smtp": {"host": sink.host, "port": sink.port, "security": "none", "from": format!("reports@{domain}")}
    });
    let r = s.patch(&s.ws("/settings")).json(&settings).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let mut ids = BTreeMap::new();
    for (name, config) in [
        ("ses", json!({"type": "email", "transport": "ses", "from": format!("reports@{domain}")})),
        ("smtp", json!({"type": "email", "transport": "smtp"})),
        ("teams", json!({"type": "teams", "webhook_url": teams.url("/workflow")})),
        ("s3", json!({"type": "s3", "bucket": bucket, "prefix": "digests/weekly"})),
    ] {
        let r = s.post(&s.ws("/destinations")).json(&json!({"name": name, "config": config})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        ids.insert(name, body(r).await["id"].as_str().unwrap().to_owned());
    }
    let subject = format!("Digest {}", unique_name("subject"));
    let report = json!({
        "code": "digest", "name": "Weekly digest", "formats": ["pdf", "csv"],
        "sources": [{"name": "sales", "type": "inline", "rows": [
            {"region": "North", "revenue": 48211.75}, {"region": "South", "revenue": 30500.5}]}],
        "sections": [{"type": "table", "title": "Sales", "source": "sales"}],
        "deliveries": [
            {"destination_id": ids["ses"], "to": ["ops@example.com"], "subject": subject},
            {"destination_id": ids["smtp"], "to": ["ops@example.com"], "subject": subject},
            {"destination_id": ids["teams"]},
            {"destination_id": ids["s3"]}
        ]
    });
    let r = s.post(&s.ws("/reports")).json(&report).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    let r = s.post(&s.ws("/reports/digest/runs")).send().await.unwrap();
    let id = body(r).await["id"].as_str().unwrap().to_owned();
    let run = s.settled_run(&id).await;
    let entry = &run["entry_list"]["data"][0];
    let deliveries = entry["deliveries"].as_array().unwrap();
    let statuses: Vec<&str> = deliveries.iter().map(|d| d["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["sent"; 4], "{run}");
    assert!(deliveries[..2].iter().all(|d| d["provider_message_id"].is_string()), "{deliveries:?}");
    let stored: Vec<(String, String)> = entry["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["file_name"].as_str().unwrap().to_owned(), a["sha256"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(stored.len(), 2);

    // SES: the raw message moto accepted, with the files attached.
    let sent = moto_sent_raw_messages().await;
    let raw = sent
        .iter()
        .filter_map(|m| m["raw_data"].as_str())
        .find(|raw| raw.contains(&subject))
        .expect("the SES message in the emulator");
    assert_eq!(attachments(raw.as_bytes()), stored);

    // SMTP: the message in the sink, from the workspace's address.
    let delivered = sink.messages_containing(&subject);
    assert_eq!(delivered.len(), 1);
    assert_eq!(attachments(&delivered[0]), stored);
    assert_eq!(mail::parse(&delivered[0]).header("x-mailfrom"), Some(format!("reports@{domain}").as_str()));

    // Teams: one Adaptive Card linking to the run in the console, for people.
    let posted = teams.requests();
    assert_eq!(posted.len(), 1);
    let card = posted[0].json();
    assert_eq!(card["attachments"][0]["contentType"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(card["attachments"][0]["content"]["type"], "AdaptiveCard");
    let action = &card["attachments"][0]["content"]["actions"][0];
    assert_eq!(action["url"], format!("{}/console#/runs/{id}", s.url), "{card}");

    // S3: each file under the prefix, byte for byte.
    let s3 = aws_sdk_s3::Client::new(&sdk);
    let mut archived = Vec::new();
    for (name, _) in &stored {
        let object = s3.get_object().bucket(&bucket).key(format!("digests/weekly/{name}")).send().await.unwrap();
        let bytes = object.body.collect().await.unwrap().into_bytes();
        archived.push((name.clone(), sha256(&bytes)));
    }
    assert_eq!(archived, stored);
}
