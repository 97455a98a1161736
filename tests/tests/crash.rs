//! A crash in the middle of a burst: the real `herald serve` is killed with SIGKILL while a
//! 1,000-entry (and a 10,000-entry) run renders and emails, then started again on the same
//! data folder. The run must complete with every entry accounted for, and no customer may
//! get their statement twice: the outbox holds exactly one email per recipient, because a
//! delivery cut short is sent again under the same idempotency key and the outbox keeps one
//! file per key.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use herald_core::testing::mail;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The `herald` binary of this build, built now (a no-op when it is up to date): it sits in
/// the same target folder as this test, one level above `deps/`.
fn herald_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("the test runs from <target>/<profile>/deps");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "--quiet", "-p", "herald-cli"]).current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "`cargo build -p herald-cli` failed");
    let binary = profile_dir.join(format!("herald{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.is_file(),
        "the herald binary is missing at {}: run `cargo build -p herald-cli` first",
        binary.display()
    );
    binary
}

/// `herald` with the data folder's defaults only: no store, queue or outbox from the caller's
/// environment.
fn herald(binary: &Path, data: &Path) -> Command {
    let mut command = Command::new(binary);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("HERALD_") {
            command.env_remove(name);
        }
    }
    command.env("HERALD_RATE_LIMIT_PER_MINUTE", "0").env("RUST_LOG", "warn").current_dir(data);
    command
}

/// Creates the workspace with `herald admin create-workspace`; its admin token.
fn create_workspace(binary: &Path, data: &Path) -> String {
    let out = herald(binary, data)
        .args(["admin", "create-workspace", "--code", "crash", "--name", "Crash test", "--data-dir"])
        .arg(data)
        .output()
        .expect("herald admin runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let token = stdout.lines().find_map(|l| l.split("Admin token (shown once, store it safely): ").nth(1));
    token.unwrap_or_else(|| panic!("no token in: {stdout}")).trim().to_owned()
}

/// A running `herald serve` on a free port, and its URL.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(binary: &Path, data: &Path) -> Server {
        let mut child = herald(binary, data)
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("herald serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            let line = lines.next().expect("herald serve printed its URL").expect("a line");
            if let Some(url) = line.strip_prefix("Herald is running at ") {
                break url.trim().to_owned();
            }
        };
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        Server { child, url }
    }

    fn kill(mut self) {
        // SIGKILL: no graceful shutdown, jobs in flight are cut where they are.
        self.child.kill().expect("kill herald");
        self.child.wait().expect("reap herald");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn send(&self, request: reqwest::RequestBuilder) -> Value {
        let r = request.bearer_auth(&self.token).send().await.expect("request");
        let status = r.status();
        let body: Value = r.json().await.expect("JSON body");
        assert!(status.is_success(), "{status}: {body}");
        body
    }

    async fn get(&self, path: &str) -> Value {
        self.send(self.client.get(format!("{}{path}", self.base))).await
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.send(self.client.post(format!("{}{path}", self.base)).json(&body)).await
    }
}

fn address(i: usize) -> String {
    format!("customer{i:04}@example.com")
}

/// The recipients of the outbox's emails, with how many each got.
fn recipients(outbox: &Path) -> BTreeMap<String, usize> {
    let mut sent = BTreeMap::new();
    let Ok(files) = std::fs::read_dir(outbox) else { return sent };
    for file in files.flatten() {
        let name = file.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !name.ends_with(".eml") {
            continue;
        }
        let message = mail::parse(&std::fs::read(file.path()).expect("read an email"));
        *sent.entry(message.header("to").expect("a To header").trim().to_owned()).or_insert(0) += 1;
    }
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_mid_burst_completes_after_a_restart_and_emails_nobody_twice() {
    killed_mid_burst(1_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_thousand_entry_run_killed_mid_burst_completes_and_emails_nobody_twice() {
    killed_mid_burst(10_000).await;
}

/// Kills the server while a run over `customers` renders and emails, starts it again, and
/// checks that every entry completed and every customer got exactly one email.
async fn killed_mid_burst(customers: usize) {
    let binary = herald_binary();
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path();
    let token = create_workspace(&binary, data);
    let server = Server::start(&binary, data);
    let api = Api { client: reqwest::Client::new(), base: format!("{}/api/v1/ws/crash", server.url), token };

    let mut csv = String::from("id,name,email\n");
    for i in 0..customers {
        csv.push_str(&format!("c{i:04},Customer {i:04},{}\n", address(i)));
    }
    let r = api
        .client
        .put(format!("{}/datasets/customers", api.base))
        .bearer_auth(&api.token)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::CREATED);
    let config = json!({"type": "email", "transport": "outbox", "from": "statements@acme.test"});
    let destination = api.post("/destinations", json!({"name": "Statements", "config": config})).await;
    let job = json!({
        "code": "statements", "name": "Statements",
        "sources": [{"name": "customers", "role": "repeating", "type": "dataset", "dataset": "customers"}],
        "sections": [{"type": "text", "title": "Statement for {customers.name}", "markdown": "Customer {customers.id}."}],
        "formats": ["pdf"],
        "deliveries": [{
            "destination_id": destination["id"], "to": ["{customers.email}"], "subject": "Statement for {customers.name}",
            "message": "Attached.", "condition": "{customers.email} != null && {customers.email} != \"\""
        }]
    });
    api.post("/reports", job).await;
    let run = api.post("/jobs/statements/runs", json!({})).await;
    let id = run["jobRunId"].as_str().expect("a run id").to_owned();

    // Kill the server once some statements are out and most are not.
    let outbox = data.join("outbox");
    let started = Instant::now();
    loop {
        let status = api.get(&format!("/jobs/statements/runs/{id}/status")).await;
        assert_eq!(status["finished"], false, "the run finished before the crash: {status}");
        if recipients(&outbox).len() >= 20 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "no email went out in 5 minutes: {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.kill();
    let before = recipients(&outbox).len();
    assert!(before < customers, "everything was sent before the crash");

    // Start again on the same data folder: the start-up recovery hands out what was unfinished.
    let server = Server::start(&binary, data);
    let api = Api { base: format!("{}/api/v1/ws/crash", server.url), ..api };
    let started = Instant::now();
    let status = loop {
        let status = api.get(&format!("/jobs/statements/runs/{id}/status")).await;
        if status["finished"] == true {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(600), "the run did not finish after the restart: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(status["entries"], customers, "{status}");
    assert_eq!(status["status"], json!({"queued": 0, "completed": customers, "errors": 0, "review": 0}), "{status}");

    // Every entry has a terminal status and its one delivery sent.
    let mut cursor: Option<String> = None;
    let mut seen = 0;
    loop {
        let page = match &cursor {
            Some(c) => api.get(&format!("/runs/{id}/entries?limit=200&cursor={c}")).await,
            None => api.get(&format!("/runs/{id}/entries?limit=200")).await,
        };
        for entry in page["data"].as_array().expect("entries") {
            assert_eq!(entry["status"], "Completed", "{entry}");
            seen += 1;
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, customers);

    // Exactly one email per customer, however the crash cut the sends.
    let sent = recipients(&outbox);
    assert_eq!(sent.len(), customers, "{} recipients", sent.len());
    let twice: Vec<_> = sent.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "emailed more than once: {twice:?}");
    for i in 0..customers {
        assert_eq!(sent.get(&address(i)), Some(&1), "{}", address(i));
    }
    drop(server);
}
