//! The security promises, each tried as the attack it stops: a viewer reading secrets out of
//! run records, an editor sending a masked secret to its own server, chat webhook URLs repeated
//! in errors and logs, a token outgrowing its maker, a cycle of includes, answers that bypass
//! the error envelope; and one sweep of every GET route with a viewer token, after creating
//! every kind of secret, that finds none of them in any byte of any answer.
//!
//! Every log line the servers of this binary write is captured, and no test may find a secret
//! in them either.

use chrono::{Duration, Utc};
use herald_core::testing::recorder::{Recorder, Reply};
use herald_tests::surface::{self, World};
use herald_tests::{Backend, TestServer, on_every_store};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const HEADER_SECRET: &str = "hdr-secret-7f3a9c1e";
const SLACK_TOKEN: &str = "SlackTokenB7Q2x9";
const TEAMS_TOKEN: &str = "TeamsToken4Kd8Zp";
const SIGNING_SECRET: &str = "whsec_c2lnbmluZy1zZWNyZXQtb2YtdGhlLXRlc3Q=";
const SMTP_PASSWORD: &str = "smtp-pass-91c4e0";
const SECRETS: [&str; 5] = [HEADER_SECRET, SLACK_TOKEN, TEAMS_TOKEN, SIGNING_SECRET, SMTP_PASSWORD];

fn capture_logs() {
    herald_tests::logs::capture("debug,hyper=info,h2=info,aws=info,rustls=info", false);
}

/// Fails when a secret shows in `text`, naming where.
fn assert_no_secret(text: &str, place: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{place} shows a secret ({secret}): {text}");
    }
}

fn assert_no_secret_logged() {
    let logs = herald_tests::logs::text();
    assert!(!logs.is_empty(), "the servers log");
    assert_no_secret(&logs, "the log");
}

/// Starts the workers, lets deliveries reach the loopback listeners, and captures the logs.
async fn prepare(s: &TestServer) {
    capture_logs();
    s.run_workers();
    let r = s.patch(&s.ws("/settings")).json(&json!({"network": {"allowed_addresses": ["127.0.0.1"]}})).send().await;
    assert_eq!(r.unwrap().status(), StatusCode::OK);
}

async fn server(backend: Backend) -> TestServer {
    let s = TestServer::start(backend).await.expect("a server");
    prepare(&s).await;
    s
}

async fn body(r: reqwest::Response) -> Value {
    r.json().await.expect("a JSON body")
}

async fn text(r: reqwest::Response) -> (StatusCode, String) {
    let status = r.status();
    (status, r.text().await.expect("a body"))
}

/// A token of the server's workspace with `grant` (name, role, scopes, expiry).
async fn token(s: &TestServer, grant: Value) -> String {
    let r = s.post(&s.ws("/tokens")).json(&grant).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    body(r).await["secret"].as_str().unwrap().to_owned()
}

async fn create(s: &TestServer, path: &str, value: Value) -> Value {
    let r = s.post(&s.ws(path)).json(&value).send().await.unwrap();
    let (status, answer) = text(r).await;
    assert_eq!(status, StatusCode::CREATED, "{path}: {answer}");
    assert_no_secret(&answer, path);
    serde_json::from_str(&answer).unwrap()
}

/// The HTTP source of the `feed` report: rows from `api`, with a header secret.
fn feed_source(url: &str) -> Value {
    json!({"name": "orders", "type": "http", "url": url, "header_name": "X-Api-Key", "header_secret": HEADER_SECRET})
}

/// `feed` reads an HTTP source with a header secret; `wrapper` includes it.
async fn feed_and_wrapper(s: &TestServer, api: &Recorder) {
    create(
        s,
        "/reports",
        json!({"code": "feed", "name": "Feed", "formats": ["csv"],
            "sources": [feed_source(&api.url("/orders"))],
            "sections": [{"type": "table", "source": "orders"}]}),
    )
    .await;
    create(
        s,
        "/reports",
        json!({"code": "wrapper", "name": "Wrapper", "formats": ["csv"],
            "sources": [{"name": "rows", "type": "inline", "rows": [{"a": 1}]}],
            "sections": [{"type": "table", "source": "rows"}],
            "includes": [{"report": "feed"}]}),
    )
    .await;
}

fn orders_api() -> Vec<Reply> {
    vec![Reply::new(200, r#"[{"region": "north", "amount": 12.5}]"#).header("content-type", "application/json")]
}

async fn run_now(s: &TestServer, report: &str) -> String {
    let r = s.post(&s.ws(&format!("/reports/{report}/runs"))).send().await.unwrap();
    let (status, answer) = text(r).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_no_secret(&answer, "the run-now answer");
    let id = serde_json::from_str::<Value>(&answer).unwrap()["id"].as_str().unwrap().to_owned();
    s.settled_run(&id).await;
    id
}

async fn a_viewer_reads_no_header_secret_in_the_runs_of_a_report_that_has_one(s: TestServer) {
    prepare(&s).await;
    let api = Recorder::start(orders_api()).await;
    feed_and_wrapper(&s, &api).await;
    let feed_run = run_now(&s, "feed").await;
    let wrapper_run = run_now(&s, "wrapper").await;
    let viewer = token(&s, json!({"name": "Reader", "role": "viewer"})).await;

    let mut paths = vec![s.ws("/runs"), s.ws("/reports/feed"), s.ws("/reports/wrapper")];
    for run in [&feed_run, &wrapper_run] {
        paths.push(s.ws(&format!("/runs/{run}")));
        paths.push(s.ws(&format!("/runs/{run}/entries")));
        paths.push(format!("{}/api/v1/reports/runs/{run}", s.url));
    }
    for path in paths {
        let (status, answer) = text(s.client.get(&path).bearer_auth(&viewer).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{path}: {answer}");
        assert_no_secret(&answer, &path);
    }
    let detail =
        body(s.client.get(s.ws(&format!("/runs/{wrapper_run}"))).bearer_auth(&viewer).send().await.unwrap()).await;
    assert_eq!(detail["inputs"]["included"][0]["sources"][0]["header_secret"], "********", "{detail}");
    // The secret itself still reaches the server it is for, from the stored snapshot.
    let sent: Vec<_> = api.requests().iter().filter_map(|r| r.header("x-api-key").map(str::to_owned)).collect();
    assert_eq!(sent, [HEADER_SECRET, HEADER_SECRET]);
    assert_no_secret_logged();
}

async fn an_editor_cannot_send_a_masked_secret_to_a_server_of_its_own(s: TestServer) {
    prepare(&s).await;
    let api = Recorder::start(orders_api()).await;
    let attacker = Recorder::start(orders_api()).await;
    feed_and_wrapper(&s, &api).await;
    let editor = token(&s, json!({"name": "Editor", "role": "editor"})).await;
    let read = body(s.client.get(s.ws("/reports/feed")).bearer_auth(&editor).send().await.unwrap()).await;
    let mut source = read["sources"][0].clone();
    assert_eq!(source["header_secret"], "********");

    source["url"] = json!(attacker.url("/orders"));
    let mut omitted = source.clone();
    omitted.as_object_mut().unwrap().remove("header_secret");
    let mut renamed = read["sources"][0].clone();
    renamed["header_name"] = json!("X-Echo");
    let mut templated = read["sources"][0].clone();
    templated["url"] = json!("http://{host}/orders");
    for attempt in [source, omitted, renamed, templated] {
        let r = s
            .client
            .patch(s.ws("/reports/feed"))
            .bearer_auth(&editor)
            .json(&json!({"sources": [attempt]}))
            .send()
            .await
            .unwrap();
        let (status, answer) = text(r).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{attempt}: {answer}");
        assert!(answer.contains("sources[0]."), "{answer}");
        assert_no_secret(&answer, "the refusal");
    }
    // Nothing changed: previews and runs still call the original server only.
    let r = s.post(&format!("{}/api/v1/reports/preview", s.url)).json(&json!({"report_id": "feed", "format": "csv"}));
    assert_eq!(r.send().await.unwrap().status(), StatusCode::OK);
    run_now(&s, "feed").await;
    assert!(attacker.requests().is_empty(), "the attacker's server was called");
    assert_eq!(api.requests().len(), 2);

    // A signed webhook's secret is not kept for another origin; a Slack URL not for a Teams one.
    let hook = create(
        &s,
        "/destinations",
        json!({"name": "Hook", "config": {"type": "webhook", "url": api.url("/hook"), "signing_secret": SIGNING_SECRET}}),
    )
    .await;
    let slack = create(
        &s,
        "/destinations",
        json!({"name": "Chat", "config": {"type": "slack", "webhook_url": api.url(&format!("/services/{SLACK_TOKEN}"))}}),
    )
    .await;
    for (id, config) in [
        (&hook["id"], json!({"type": "webhook", "url": attacker.url("/hook"), "signing_secret": "********"})),
        (&slack["id"], json!({"type": "teams", "webhook_url": "********"})),
        (&slack["id"], json!({"type": "webhook", "url": attacker.url("/hook"), "signing_secret": "********"})),
    ] {
        let url = s.ws(&format!("/destinations/{}", id.as_str().unwrap()));
        let r = s.client.patch(&url).bearer_auth(&editor).json(&json!({"config": config})).send().await.unwrap();
        let (status, answer) = text(r).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{config}: {answer}");
        assert_no_secret(&answer, "the refusal");
    }
    let hook_test = s.ws(&format!("/destinations/{}/test", hook["id"].as_str().unwrap()));
    assert_eq!(s.post(&hook_test).send().await.unwrap().status(), StatusCode::OK);
    assert!(attacker.requests().is_empty(), "the attacker's server was called");

    // The SMTP password stays with its server too.
    let smtp = json!({"host": "127.0.0.1", "port": 2525, "from": "reports@acme.test", "username": "reports",
        "password": SMTP_PASSWORD, "security": "none"});
    assert_eq!(s.patch(&s.ws("/settings")).json(&json!({"smtp": smtp})).send().await.unwrap().status(), StatusCode::OK);
    let mut moved = smtp.clone();
    moved["host"] = json!("mail.attacker.test");
    moved["password"] = json!("********");
    let (status, answer) = text(s.patch(&s.ws("/settings")).json(&json!({"smtp": moved})).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(answer.contains("smtp.password"), "{answer}");
    let stored = s.ctx.store.get_workspace(s.access.workspace.id).await.unwrap().settings.smtp.unwrap();
    assert_eq!((stored.host.as_str(), stored.password.unwrap().expose()), ("127.0.0.1", SMTP_PASSWORD));
    assert_no_secret_logged();
}

async fn chat_webhook_urls_are_checked_when_saved_and_never_repeated(s: TestServer) {
    let malformed = format!("https://hooks.slack.com:99999/services/T0/B0/{SLACK_TOKEN}");
    for kind in ["slack", "teams"] {
        let r = s
            .post(&s.ws("/destinations"))
            .json(&json!({"name": "Chat", "config": {"type": kind, "webhook_url": malformed}}))
            .send()
            .await
            .unwrap();
        let (status, answer) = text(r).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert!(answer.contains("config.webhook_url") && !answer.contains("services"), "{answer}");
        assert_no_secret(&answer, "the refusal");
    }
    // Nothing listens on port 1: a test fails at once, and says so without repeating the URL.
    let mut unreachable = Vec::new();
    for (kind, url) in [
        ("slack", format!("http://127.0.0.1:1/services/T0/B0/{SLACK_TOKEN}")),
        ("teams", format!("http://127.0.0.1:1/webhookb2/{TEAMS_TOKEN}")),
    ] {
        let created =
            create(&s, "/destinations", json!({"name": kind, "config": {"type": kind, "webhook_url": url}})).await;
        unreachable.push(created["id"].as_str().unwrap().to_owned());
    }
    for id in &unreachable {
        let (status, answer) = text(s.post(&s.ws(&format!("/destinations/{id}/test"))).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert!(answer.contains(r#""ok":false"#) && answer.contains("cannot connect to 127.0.0.1"), "{answer}");
        assert_no_secret(&answer, "the test answer");
    }
    // Chat servers that refuse the message: the deliveries fail for good, and their records
    // (which a viewer reads) name the host at most.
    let gone = Recorder::start(vec![Reply::new(404, "no_service")]).await;
    let slack = create(
        &s,
        "/destinations",
        json!({"name": "Slack", "config": {"type": "slack", "webhook_url": gone.url(&format!("/services/T0/B0/{SLACK_TOKEN}"))}}),
    )
    .await;
    let teams = create(
        &s,
        "/destinations",
        json!({"name": "Teams", "config": {"type": "teams", "webhook_url": gone.url(&format!("/webhookb2/{TEAMS_TOKEN}"))}}),
    )
    .await;
    create(
        &s,
        "/reports",
        json!({"code": "chat", "name": "Chat", "formats": ["csv"],
            "sources": [{"name": "rows", "type": "inline", "rows": [{"a": 1}]}],
            "sections": [{"type": "table", "source": "rows"}],
            "deliveries": [{"destination_id": slack["id"]}, {"destination_id": teams["id"]}]}),
    )
    .await;
    let run = run_now(&s, "chat").await;
    let viewer = token(&s, json!({"name": "Reader", "role": "viewer"})).await;
    let (_, answer) =
        text(s.client.get(s.ws(&format!("/runs/{run}"))).bearer_auth(&viewer).send().await.unwrap()).await;
    assert_eq!(answer.matches(r#""status":"failed_permanent""#).count(), 2, "{answer}");
    assert!(answer.contains("answered HTTP 404"), "{answer}");
    assert_no_secret(&answer, "the run");
    let (_, entries) =
        text(s.client.get(s.ws(&format!("/runs/{run}/entries"))).bearer_auth(&viewer).send().await.unwrap()).await;
    assert_no_secret(&entries, "the entries");
    assert_no_secret_logged();
}

async fn a_token_sees_and_revokes_no_stronger_token_and_never_outlives_its_maker(s: TestServer) {
    prepare(&s).await;
    let narrow = token(&s, json!({"name": "Token clerk", "scopes": ["tokens:write", "reports:read"]})).await;
    let admin_id = s.access.token.id.to_string();
    let listed = body(s.client.get(s.ws("/tokens")).bearer_auth(&narrow).send().await.unwrap()).await;
    let ids: Vec<&str> = listed["data"].as_array().unwrap().iter().filter_map(|t| t["id"].as_str()).collect();
    assert!(!ids.contains(&admin_id.as_str()), "{listed}");
    let r = s.client.delete(s.ws(&format!("/tokens/{admin_id}"))).bearer_auth(&narrow).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(s.get(&s.ws("/tokens")).send().await.unwrap().status(), StatusCode::OK, "the admin token still works");

    // It may still manage what is no stronger than itself.
    let reader = body(
        s.post(&s.ws("/tokens"))
            .json(&json!({"name": "Reader", "role": "viewer", "scopes": ["reports:read"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let r =
        s.client.delete(s.ws(&format!("/tokens/{}", reader["id"].as_str().unwrap()))).bearer_auth(&narrow).send().await;
    assert_eq!(r.unwrap().status(), StatusCode::OK);
    let r =
        s.client.post(s.ws("/tokens")).bearer_auth(&narrow).json(&json!({"name": "More", "scopes": ["reports:write"]}));
    assert_eq!(r.send().await.unwrap().status(), StatusCode::UNPROCESSABLE_ENTITY);

    // A token made by one that expires in an hour expires with it at the latest.
    let expires = Utc::now() + Duration::hours(1);
    let hourly = token(&s, json!({"name": "Hourly", "expires_at": expires})).await;
    let made =
        body(s.client.post(s.ws("/tokens")).bearer_auth(&hourly).json(&json!({"name": "Child"})).send().await.unwrap())
            .await;
    let child_expiry: chrono::DateTime<Utc> = serde_json::from_value(made["expires_at"].clone()).expect("an expiry");
    assert!((child_expiry - expires).num_seconds().abs() <= 1, "{made}");
    let later = Utc::now() + Duration::hours(2);
    let r = s.client.post(s.ws("/tokens")).bearer_auth(&hourly).json(&json!({"name": "Later", "expires_at": later}));
    let refused = body(r.send().await.unwrap()).await;
    assert_eq!(refused["error"]["details"]["errors"][0]["field"], "expires_at", "{refused}");
}

async fn includes_that_would_make_a_cycle_at_any_depth_are_refused(s: TestServer) {
    prepare(&s).await;
    let report = |code: &str, includes: Value| {
        json!({"code": code, "name": code, "formats": ["csv"],
            "sources": [{"name": "rows", "type": "inline", "rows": [{"a": 1}]}],
            "sections": [{"type": "table", "source": "rows"}], "includes": includes})
    };
    create(&s, "/reports", report("alpha", json!([]))).await;
    create(&s, "/reports", report("beta", json!([{"report": "alpha"}]))).await;
    create(&s, "/reports", report("gamma", json!([{"report": "beta"}]))).await;
    for (code, include, path) in
        [("alpha", "beta", "alpha → beta → alpha"), ("alpha", "gamma", "alpha → gamma → beta → alpha")]
    {
        let r = s.patch(&s.ws(&format!("/reports/{code}"))).json(&json!({"includes": [{"report": include}]}));
        let refused = body(r.send().await.unwrap()).await;
        let error = &refused["error"]["details"]["errors"][0];
        assert_eq!(error["field"], "includes[0].report", "{refused}");
        assert!(error["message"].as_str().unwrap().contains(path), "{refused}");
    }
    let stored = body(s.get(&s.ws("/reports/alpha")).send().await.unwrap()).await;
    assert!(stored["includes"].as_array().is_none_or(Vec::is_empty), "{stored}");
}

/// Sends raw bytes to the server and reads its whole answer (the server closes after it).
async fn raw(s: &TestServer, request: &[u8]) -> (u16, String, Value) {
    let address = s.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head.to_ascii_lowercase(), serde_json::from_str(body).unwrap_or(Value::Null))
}

async fn answers_refused_before_any_handler_still_carry_the_envelope(s: TestServer) {
    let long_path = format!("GET /api/v1/{} HTTP/1.1\r\nhost: herald\r\n\r\n", "a".repeat(100_000));
    let many_headers: String = (0..120).map(|i| format!("x-h{i}: {i}\r\n")).collect();
    let many_headers = format!("GET /api/v1/health HTTP/1.1\r\nhost: herald\r\n{many_headers}\r\n");
    let huge_header = format!("GET /api/v1/health HTTP/1.1\r\nhost: herald\r\nx-big: {}\r\n\r\n", "b".repeat(500_000));
    for (request, status) in [
        (long_path.as_bytes(), 414),
        (many_headers.as_bytes(), 431),
        (huge_header.as_bytes(), 431),
        (b"NOT HTTP AT ALL\r\n\r\n".as_slice(), 400),
    ] {
        let (got, head, body) = raw(&s, request).await;
        assert_eq!(got, status, "{head}");
        assert!(head.contains("\r\nx-correlation-id: "), "{head}");
        assert!(surface::envelope_problems(&body, "validation_error").is_empty(), "{body}");
        assert_eq!(body["error"]["details"]["status"], status);
    }
    // Too large a body (the tests' limit is 64 KiB), and a route or method that does not exist.
    let big = json!({"name": "x".repeat(70_000)});
    let r = s.post(&s.ws("/reports")).json(&big).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.headers().contains_key("x-correlation-id"));
    assert!(surface::envelope_problems(&body(r).await, "body_validation_error").is_empty());
    for r in [s.get(&format!("{}/nowhere", s.url)), s.client.put(s.ws("/reports")).bearer_auth(&s.access.secret)] {
        let r = r.send().await.unwrap();
        assert!(r.status().is_client_error() && r.headers().contains_key("x-correlation-id"));
        assert!(body(r).await["error"]["code"].is_string());
    }
}

on_every_store!(
    a_viewer_reads_no_header_secret_in_the_runs_of_a_report_that_has_one,
    an_editor_cannot_send_a_masked_secret_to_a_server_of_its_own,
    a_token_sees_and_revokes_no_stronger_token_and_never_outlives_its_maker,
    includes_that_would_make_a_cycle_at_any_depth_are_refused,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_webhook_urls_are_checked_when_saved_and_never_repeated_in_answers_or_logs() {
    chat_webhook_urls_are_checked_when_saved_and_never_repeated(server(Backend::Sqlite).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_refused_before_any_handler_carry_the_envelope_and_a_correlation_id() {
    answers_refused_before_any_handler_still_carry_the_envelope(server(Backend::Sqlite).await).await;
}

/// Every secret of every kind, in use: SMTP password, Slack and Teams URLs (one delivered, one
/// failing), a signed webhook, a report with a header secret and one including it, each run.
async fn every_kind_of_secret(s: &TestServer, api: &Recorder) -> Vec<(&'static str, String)> {
    let smtp = json!({"host": "127.0.0.1", "port": 2525, "from": "reports@acme.test", "password": SMTP_PASSWORD});
    assert_eq!(s.patch(&s.ws("/settings")).json(&json!({"smtp": smtp})).send().await.unwrap().status(), StatusCode::OK);
    feed_and_wrapper(s, api).await;
    let mut destinations = Vec::new();
    for (name, config) in [
        ("Slack", json!({"type": "slack", "webhook_url": api.url(&format!("/services/T0/B0/{SLACK_TOKEN}"))})),
        ("Teams", json!({"type": "teams", "webhook_url": api.url(&format!("/webhookb2/{TEAMS_TOKEN}"))})),
        ("Hook", json!({"type": "webhook", "url": api.url("/hook"), "signing_secret": SIGNING_SECRET})),
    ] {
        let created = create(s, "/destinations", json!({"name": name, "config": config})).await;
        destinations.push(("destination", created["id"].as_str().unwrap().to_owned()));
    }
    let deliveries: Vec<Value> = destinations.iter().map(|(_, id)| json!({"destination_id": id})).collect();
    let r = s.patch(&s.ws("/reports/feed")).json(&json!({"deliveries": deliveries})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut resources = destinations;
    for report in ["feed", "wrapper"] {
        resources.push(("run", run_now(s, report).await));
    }
    resources
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_get_route_answers_a_viewer_without_a_secret_in_any_byte() {
    let s = server(Backend::Sqlite).await;
    let api = Recorder::start(orders_api()).await;
    let world = World::create(&s).await;
    let secrets = every_kind_of_secret(&s, &api).await;
    let viewer = token(&s, json!({"name": "Reader", "role": "viewer"})).await;
    let doc = surface::document(&s).await;
    let mut read = 0;
    for op in surface::operations(&doc).into_iter().filter(|op| op.method == reqwest::Method::GET) {
        // The world's own resources, then each secret-bearing resource in place of its kind.
        let mut paths = vec![world.path(&s, &op)];
        for (kind, id) in &secrets {
            paths.push(world.path_with(&op, |previous, name| match (*kind, previous, name) {
                ("destination", "destinations", "id") | ("run", "runs", "id") | ("run", _, "run") => id.clone(),
                (_, _, "report" | "job") => "feed".into(),
                _ => world.parameter(&s, previous, name),
            }));
        }
        paths.dedup();
        for path in paths {
            let r = s.client.get(format!("{}{path}", s.url)).bearer_auth(&viewer).send().await.unwrap();
            let (status, answer) = text(r).await;
            assert!(!status.is_server_error(), "{path}: {status} {answer}");
            assert_no_secret(&answer, &path);
            read += 1;
        }
    }
    assert!(read > 40, "only {read} answers read");
    // Entries and their deliveries, page by page as the console reads them.
    for (_, run) in secrets.iter().filter(|(kind, _)| *kind == "run") {
        let entries =
            body(s.client.get(s.ws(&format!("/runs/{run}/entries"))).bearer_auth(&viewer).send().await.unwrap()).await;
        assert_eq!(entries["has_more"], false, "{entries}");
        for entry in entries["data"].as_array().unwrap() {
            let path = s.ws(&format!("/runs/{run}/entries/{}", entry["id"].as_str().unwrap()));
            let (_, answer) = text(s.client.get(&path).bearer_auth(&viewer).send().await.unwrap()).await;
            assert_no_secret(&answer, &path);
        }
    }
    assert_no_secret_logged();
}
