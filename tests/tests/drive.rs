//! Google Drive deliveries (seed `003`) against the local Drive peer `make test` starts
//! (`infra/drive.sh`: a token endpoint that verifies each RS256 assertion with an independent
//! JOSE library, and Drive v3 with shared drives, My Drive and Google's errors): an uploaded
//! service-account key, a folder given as its link, Test connection leaving nothing behind, one
//! file per report of each customer's entry named by the pattern, a 429 retried, a My Drive
//! folder refused with what to do, a revoked key failing the delivery, and a new key plus a
//! retry delivering without duplicate files.

use std::sync::Arc;

use chrono::{Duration, Utc};
use herald_core::clock::{Clock, ManualClock};
use herald_core::testing::{drive_peer_url, service_account_key_file, unique_name};
use herald_tests::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn body(r: reqwest::Response) -> Value {
    r.json().await.expect("JSON body")
}

/// The Drive peer's test controls (`/_peer/…`).
struct Peer {
    url: String,
    http: reqwest::Client,
}

impl Peer {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.expect("the Drive peer answers");
        assert!(answer.status().is_success(), "{path}: {}", answer.status());
        answer.json().await.unwrap_or(Value::Null)
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// The files in `folder`: (name, sha256, the delivery tag).
    async fn files(&self, folder: &str) -> Vec<(String, String, String)> {
        let listed = self.call(reqwest::Method::GET, &format!("/_peer/files?parent={folder}"), None).await;
        let mut files: Vec<_> = listed["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let tag = f["appProperties"]["herald_delivery"].as_str().unwrap_or_default();
                (f["name"].as_str().unwrap().to_owned(), f["sha256"].as_str().unwrap().to_owned(), tag.to_owned())
            })
            .collect();
        files.sort();
        files
    }
}

/// A folder id of the characters Drive uses, unique to this test.
fn folder_id(prefix: &str) -> String {
    unique_name(prefix).replace('_', "-")
}

async fn run_now(s: &TestServer, code: &str) -> String {
    let r = s.post(&s.ws(&format!("/reports/{code}/runs"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED, "{}", r.text().await.unwrap());
    body(r).await["id"].as_str().unwrap().to_owned()
}

/// The run once every delivery left `pending` and `sending`.
async fn delivered(s: &TestServer, id: &str) -> Value {
    for _ in 0..300 {
        let run = body(s.get(&s.ws(&format!("/runs/{id}"))).send().await.unwrap()).await;
        let entries = run["entry_list"]["data"].as_array().cloned().unwrap_or_default();
        let settled = !entries.is_empty()
            && entries.iter().all(|e| {
                let deliveries = e["deliveries"].as_array().cloned().unwrap_or_default();
                !deliveries.is_empty()
                    && deliveries.iter().all(|d| !matches!(d["status"].as_str(), Some("pending" | "sending")))
            });
        if settled {
            return run;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the deliveries of run {id} did not settle");
}

fn deliveries(run: &Value) -> Vec<Value> {
    run["entry_list"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["deliveries"].as_array().unwrap().clone())
        .collect()
}

fn statuses(run: &Value) -> Vec<String> {
    deliveries(run).iter().map(|d| d["status"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn statements_are_uploaded_to_a_shared_drive_folder_one_file_per_report_and_never_twice() {
    let Some(url) = drive_peer_url() else { return };
    let peer = Peer { url: url.clone(), http: reqwest::Client::new() };
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let s = TestServer::start_with(Backend::Sqlite, Some(dyn_clock), &[("HERALD_TEST_DRIVE_URL", &url)]).await.unwrap();
    s.run_workers();

    // The account and its key, as Google Cloud issues them; the peer knows the public half.
    let email = format!("{}@herald-test.iam.gserviceaccount.com", folder_id("statements"));
    let key = service_account_key_file(&email, "key-1");
    peer.post("/_peer/keys", serde_json::from_str(&key).unwrap()).await;
    let (shared, personal) = (folder_id("shared"), folder_id("mydrive"));
    peer.post(
        "/_peer/folders",
        json!({"id": shared, "name": "Statements", "kind": "shared_drive", "members": {&email: "fileOrganizer"}}),
    )
    .await;
    peer.post(
        "/_peer/folders",
        json!({"id": personal, "name": "Mine", "kind": "my_drive", "members": {&email: "writer"}}),
    )
    .await;

    // Upload the key: the answer shows whose it is, never the key.
    // What the key says of itself wins over what a client sends for the read-only fields.
    let connection = json!({"name": "reports-sa", "kind": "google_service_account", "key": key,
                            "client_email": "someone@else.example", "key_uploaded_at": "2000-01-01"});
    let r = s.post(&s.ws("/connections")).json(&connection).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created = body(r).await;
    assert_eq!(
        (created["client_email"].as_str(), created["private_key_id"].as_str()),
        (Some(email.as_str()), Some("key-1"))
    );
    assert_eq!(created["key"], "********");
    assert!(created["key_uploaded_at"].is_string());
    assert!(!created.to_string().contains("PRIVATE KEY"));
    let wrong = json!({"name": "oauth", "kind": "google_service_account", "key": "{\"type\": \"authorized_user\"}"});
    let r = s.post(&s.ws("/connections")).json(&wrong).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error = body(r).await;
    assert_eq!(error["error"]["details"]["errors"][0]["field"], "key");
    let tested = body(s.post(&s.ws("/connections/reports-sa/test")).send().await.unwrap()).await;
    assert_eq!((tested["ok"].clone(), tested["user"].as_str()), (json!(true), Some(email.as_str())), "{tested}");

    // A destination on the folder's link keeps its id; Test connection writes and removes a probe.
    let link = format!("https://drive.google.com/drive/folders/{shared}?usp=sharing");
    let config = json!({"type": "google_drive", "service_account": "reports-sa", "folder": link});
    let r = s
        .post(&s.ws("/destinations"))
        .json(&json!({"name": "Statements folder", "config": config}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let destination = body(r).await;
    assert_eq!(destination["config"]["folder"], shared.as_str());
    let drive = destination["id"].as_str().unwrap().to_owned();
    let nobody = json!({"type": "google_drive", "service_account": "nobody", "folder": shared});
    let r = s.post(&s.ws("/destinations")).json(&json!({"name": "Nowhere", "config": nobody})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let tested = body(s.post(&s.ws(&format!("/destinations/{drive}/test"))).send().await.unwrap()).await;
    assert_eq!(tested["ok"], true, "{tested}");
    assert!(tested["provider_message_id"].as_str().unwrap().contains("Statements"), "{tested}");
    assert!(peer.files(&shared).await.is_empty(), "the probe file is removed");

    // A statement per customer with its cover page: two PDFs per entry, named by the pattern.
    let cover = json!({"code": "cover", "name": "Cover", "formats": ["pdf"],
        "parameters": [{"name": "who", "type": "string", "required": true}],
        "sections": [{"type": "text", "markdown": "Prepared for {who}"}]});
    assert_eq!(s.post(&s.ws("/reports")).json(&cover).send().await.unwrap().status(), StatusCode::CREATED);
    let statement = json!({"code": "statement", "name": "Statement", "formats": ["pdf"],
        "sources": [{"name": "customers", "type": "inline", "role": "repeating",
                     "rows": [{"id": "c-1", "name": "Ada"}, {"id": "c-2", "name": "Grace"}]}],
        "sections": [{"type": "text", "markdown": "Statement of {customers.name}"}],
        "includes": [{"report": "cover", "bindings": {"who": {"row": "name"}}}],
        "deliveries": [{"destination_id": drive, "naming_pattern": "{customers.id}-{file}"}]});
    assert_eq!(s.post(&s.ws("/reports")).json(&statement).send().await.unwrap().status(), StatusCode::CREATED);
    let first = run_now(&s, "statement").await;
    let run = delivered(&s, &first).await;
    assert_eq!(statuses(&run), ["sent", "sent"], "{run}");
    let mut expected = Vec::new();
    for entry in run["entry_list"]["data"].as_array().unwrap() {
        let customer = entry["row"]["id"].as_str().unwrap();
        let delivery = &entry["deliveries"][0];
        assert!(
            delivery["provider_message_id"].as_str().unwrap().contains("https://drive.google.com/file/d/"),
            "{delivery}"
        );
        for (n, artifact) in entry["artifacts"].as_array().unwrap().iter().enumerate() {
            let stem = artifact["file_name"].as_str().unwrap().trim_end_matches(".pdf").to_owned();
            let tag = format!("{first}-{}-0-{n}", entry["id"].as_str().unwrap());
            expected.push((format!("{customer}-{stem}.pdf"), artifact["sha256"].as_str().unwrap().to_owned(), tag));
        }
    }
    expected.sort();
    assert_eq!(expected.len(), 4, "two customers, two PDFs each: {run}");
    assert_eq!(peer.files(&shared).await, expected);

    // Sending a delivered entry again finds its files: nothing is uploaded twice.
    let again = deliveries(&run)[0]["id"].as_str().unwrap().to_owned();
    let r = s.post(&s.ws(&format!("/runs/{first}/deliveries/{again}/retry"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(statuses(&delivered(&s, &first).await), ["sent", "sent"]);
    assert_eq!(peer.files(&shared).await, expected, "a repeat finds the files it made");

    // Drive says 429 once: the delivery waits and goes through on its retry.
    peer.post(
        "/_peer/faults",
        json!({"path_prefix": "/upload/drive/v3/files", "status": 429, "times": 1, "client_email": email}),
    )
    .await;
    let busy = run_now(&s, "statement").await;
    let run = delivered(&s, &busy).await;
    let mut seen = statuses(&run);
    seen.sort();
    assert_eq!(seen, ["failed_transient", "sent"], "{run}");
    let waiting = deliveries(&run).into_iter().find(|d| d["status"] == "failed_transient").unwrap();
    assert!(waiting["error"].as_str().unwrap().contains("429"), "{waiting}");
    clock.advance(Duration::minutes(2));
    herald_core::pipeline::recovery::recover_stale_work(&s.ctx, clock.now()).await.unwrap();
    let run = s.settled_run(&busy).await;
    assert_eq!(statuses(&run), ["sent", "sent"], "{run}");
    assert_eq!(peer.files(&shared).await.len(), 8);

    // A folder of someone's My Drive: the account has no storage there, and the error says what to do.
    let mine = json!({"type": "google_drive", "service_account": "reports-sa", "folder": personal});
    let r = s.post(&s.ws("/destinations")).json(&json!({"name": "My Drive", "config": mine})).send().await.unwrap();
    let personal_id = body(r).await["id"].as_str().unwrap().to_owned();
    let tested = body(s.post(&s.ws(&format!("/destinations/{personal_id}/test"))).send().await.unwrap()).await;
    assert_eq!((tested["ok"].clone(), tested["transient"].clone()), (json!(false), json!(false)), "{tested}");
    let said = tested["error"].as_str().unwrap();
    assert!(
        said.contains("no Drive storage of its own") && said.contains("shared drive") && said.contains("delegation"),
        "{said}"
    );

    // The key is revoked: the delivery fails for good and the entry shows it.
    peer.call(reqwest::Method::DELETE, "/_peer/keys/key-1", None).await;
    peer.post("/_peer/tokens/expire", json!({"client_email": email})).await;
    let revoked = run_now(&s, "statement").await;
    let run = s.settled_run(&revoked).await;
    assert_eq!(statuses(&run), ["failed_permanent", "failed_permanent"], "{run}");
    let entry = &run["entry_list"]["data"][0];
    assert_eq!(entry["status"], "DeliveryFailed", "{entry}");
    let said = entry["deliveries"][0]["error"].as_str().unwrap();
    assert!(said.contains("invalid_grant") && said.contains("upload a new key"), "{said}");

    // A new key in place of the old, then retry the failed deliveries: sent, with no file twice.
    let fresh = service_account_key_file(&email, "key-2");
    peer.post("/_peer/keys", serde_json::from_str(&fresh).unwrap()).await;
    let r = s.patch(&s.ws("/connections/reports-sa")).json(&json!({"key": fresh})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(body(r).await["private_key_id"], "key-2");
    for delivery in deliveries(&run) {
        let id = delivery["id"].as_str().unwrap();
        let r = s.post(&s.ws(&format!("/runs/{revoked}/deliveries/{id}/retry"))).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
    }
    let run = s.settled_run(&revoked).await;
    assert_eq!(statuses(&run), ["sent", "sent"], "{run}");
    let files = peer.files(&shared).await;
    assert_eq!(files.len(), 12);
    let mut tags: Vec<&str> = files.iter().map(|(_, _, tag)| tag.as_str()).collect();
    tags.sort();
    tags.dedup();
    assert_eq!(tags.len(), 12, "every upload is a different file of a different delivery");
}
