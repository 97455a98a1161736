//! Destinations and deliveries seen from outside: destinations are created, listed, changed
//! and deleted with their secrets never shown again.

use herald_tests::TestServer;
use reqwest::StatusCode;
use serde_json::{Value, json};

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

herald_tests::on_every_store!(
    destinations_keep_their_secrets_write_only,
    an_invalid_destination_names_each_bad_field_and_saves_nothing,
);
