//! Test support shared by the contract suites and the black-box tests: access to the local
//! AWS emulator, which must be running (`make test` starts it) unless AWS tests are skipped
//! on purpose.

use aws_config::SdkConfig;

/// The SDK configuration for the local AWS emulator named by `AWS_ENDPOINT_URL`.
///
/// Returns `None` (and says so on stderr) only when `HERALD_SKIP_AWS_TESTS=1`; without an
/// endpoint otherwise it panics, so a missing emulator is a failure and never a silent pass.
pub async fn emulator() -> Option<SdkConfig> {
    if std::env::var("HERALD_SKIP_AWS_TESTS").is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED: AWS emulator tests (HERALD_SKIP_AWS_TESTS=1)");
        return None;
    }
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    assert!(
        endpoint.starts_with("http://127.0.0.1") || endpoint.starts_with("http://localhost"),
        "AWS_ENDPOINT_URL must name the local AWS emulator (got `{endpoint}`): run `make test`, \
         or set HERALD_SKIP_AWS_TESTS=1 to skip the AWS contract tests explicitly"
    );
    Some(crate::aws::load_sdk_config().await)
}

/// The table a benchmark measures: the embedded store in `dir` (`sqlite`), or a fresh table in
/// the emulator (anything else; needs `AWS_ENDPOINT_URL`).
pub async fn bench_table(backend: &str, dir: &std::path::Path) -> std::sync::Arc<dyn crate::store::Table> {
    use crate::store::{dynamodb, sqlite};
    match backend {
        "sqlite" => std::sync::Arc::new(sqlite::SqliteTable::open(&dir.join("bench.db")).expect("sqlite")),
        _ => {
            let client = aws_sdk_dynamodb::Client::new(&crate::aws::load_sdk_config().await);
            let name = unique_name("herald-bench");
            dynamodb::create_table(&client, &name).await.expect("table");
            std::sync::Arc::new(dynamodb::DynamoTable::new(client, name))
        }
    }
}

/// A resource name unique to this test process and call, for tests sharing one emulator.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A local context for pipeline unit tests: an in-memory store, in-memory queues, blobs in a
/// fresh folder, and a manual clock at `now`.
#[cfg(test)]
pub(crate) async fn local_context(now: chrono::DateTime<chrono::Utc>) -> crate::context::Context {
    use std::sync::Arc;
    use std::time::Duration;

    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = crate::config::Config::from_lookup(|_| None).expect("default config");
    config.blobs = crate::config::BlobConfig::Fs(dir.keep());
    let mut ctx = crate::context::Context::from_config(config).await.expect("context");
    ctx.store = crate::store::Store::new(Arc::new(crate::store::sqlite::SqliteTable::in_memory().expect("sqlite")));
    ctx.render_queue = Arc::new(crate::queue::MemoryQueue::new(Duration::from_secs(60)));
    ctx.deliver_queue = Arc::new(crate::queue::MemoryQueue::new(Duration::from_secs(60)));
    ctx.clock = Arc::new(crate::clock::ManualClock::new(now));
    ctx
}

/// Valid entities for tests, with every field filled.
/// Faults the black-box tests can cause on purpose. Compiled only with the `testing` feature:
/// the binaries users run have none of them.
pub mod faults {
    use crate::render::{Block, Document, TextPart};

    /// A paragraph with this text makes the renderer panic, as a renderer meeting content it
    /// cannot handle would.
    pub const PANIC_WHILE_RENDERING: &str = "herald-fault: panic while rendering";

    /// Panics when `document` asks for it (called by [`crate::render::render`]).
    pub fn check(document: &Document) {
        let asks = document.blocks.iter().any(|block| match block {
            Block::Text(text) => text
                .parts
                .iter()
                .any(|part| matches!(part, TextPart::Paragraph(p) if p.contains(PANIC_WHILE_RENDERING))),
            _ => false,
        });
        if asks {
            panic!("the renderer met content it cannot handle ({PANIC_WHILE_RENDERING})");
        }
    }
}

pub mod fixtures {
    use chrono::{DateTime, Utc};
    use serde_json::{Map, Value, json};

    use crate::domain::*;

    pub fn workspace(code: &str, now: DateTime<Utc>) -> Workspace {
        Workspace {
            id: WorkspaceId::generate(now),
            code: Code::parse(code).expect("valid code"),
            name: Name::parse(format!("Workspace {code}")).expect("valid name"),
            active: true,
            settings: WorkspaceSettings::default(),
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }

    /// A token and its secret.
    pub fn token(ws: &Workspace, role: Role, now: DateTime<Utc>) -> (ApiToken, String) {
        let grant = TokenGrant {
            workspace_id: ws.id,
            name: Name::parse("test token").expect("valid name"),
            role,
            scopes: role.default_scopes(),
            expires_at: None,
            created_by: None,
        };
        ApiToken::issue(grant, now)
    }

    pub fn report(ws: &Workspace, code: &str, now: DateTime<Utc>) -> Report {
        let code = Code::parse(code).expect("valid code");
        let name = Name::parse(format!("Report {code}")).expect("valid name");
        Report::new(ReportId::generate(now), ws.id, code, name, now)
    }

    /// A report from API-shaped JSON (fields over a `weekly-digest` PDF report).
    pub fn report_json(extra: Value) -> Report {
        let mut base = serde_json::json!({
            "id": "01JD0000000000000000000000",
            "workspace_id": "01JD0000000000000000000001",
            "code": "weekly-digest",
            "name": "Weekly digest",
            "formats": ["pdf"],
            "created_at": "2026-11-01T00:00:00Z",
            "updated_at": "2026-11-01T00:00:00Z"
        });
        if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
            base.extend(extra);
        }
        serde_json::from_value(base).expect("a report")
    }

    pub fn schedule(report: &Report, next_run_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Schedule {
        Schedule {
            id: ScheduleId::generate(now),
            workspace_id: report.workspace_id,
            report_id: report.id,
            name: Name::parse("Daily 8am UTC").expect("valid name"),
            rule: ScheduleRule::Cron { expression: "0 8 * * *".into() },
            timezone: "UTC".into(),
            enabled: true,
            overlap: OverlapPolicy::BufferOne,
            catch_up_minutes: 60,
            destinations: vec![],
            next_run_at,
            last_run_at: None,
            last_status: None,
            last_error: None,
            last_run_id: None,
            last_run_status: None,
            configurations: vec![],
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }

    pub fn run(report: &Report, now: DateTime<Utc>) -> Run {
        let inputs = RunInputs {
            report: report.clone(),
            parameters: Map::new(),
            data: Value::Null,
            included: vec![],
            day: None,
            timezone: None,
        };
        Run::started(RunId::generate(now), inputs, RunTrigger::Manual, now)
    }

    /// `count` queued entries of `run`, one per row `{"id": i, "email": "c{i}@example.com"}`.
    pub fn entries(run: &Run, count: usize, now: DateTime<Utc>) -> Vec<Entry> {
        EntryId::sequence(now, count)
            .into_iter()
            .enumerate()
            .map(|(seq, id)| Entry {
                id,
                run_id: run.id,
                workspace_id: run.workspace_id,
                seq: seq as u32,
                status: EntryStatus::Queued,
                row: json!({"id": seq, "email": format!("c{seq}@example.com")}).as_object().cloned(),
                parameters: Map::new(),
                configuration: None,
                artifacts: vec![],
                error: None,
                generation_errors: vec![],
                review: None,
                attempts: 0,
                lease_until: Some(now + chrono::Duration::minutes(15)),
                created_at: now,
                updated_at: now,
                version: 0,
            })
            .collect()
    }

    /// A render job for fresh ids.
    pub fn render_job() -> crate::queue::Job {
        let now = Utc::now();
        crate::queue::Job::Render {
            workspace_id: WorkspaceId::generate(now),
            run_id: RunId::generate(now),
            entry_id: EntryId::generate(now),
        }
    }

    pub fn delivery(entry: &Entry, index: u32, now: DateTime<Utc>) -> Delivery {
        Delivery::new(entry, DestinationId::generate(now), index, now)
    }
}

/// A delivery to send in sender tests.
pub mod outgoing {
    use bytes::Bytes;
    use chrono::{DateTime, Utc};
    use sha2::{Digest, Sha256};

    use crate::deliver::{About, EntryInfo, Outgoing, OutgoingFile, Recipients, RunInfo};
    use crate::domain::{EntryId, NarrativeOutput, ReportId, RunId, RunTrigger, WorkspaceId};

    /// A file named `name` holding `content`, with its size, hash and a download link.
    pub fn file(name: &str, content_type: &str, content: &[u8]) -> OutgoingFile {
        OutgoingFile {
            file_name: name.to_string(),
            content_type: content_type.to_string(),
            bytes: Bytes::copy_from_slice(content),
            size: content.len() as u64,
            sha256: hex::encode(Sha256::digest(content)),
            download_url: format!("https://herald.example/files/{name}?sig=abc&exp=1"),
        }
    }

    /// A scheduled run of "Weekly digest" with a narrative, a message and a PDF and a CSV.
    pub fn outgoing(now: DateTime<Utc>) -> Outgoing {
        let run_id = RunId::generate(now);
        Outgoing {
            idempotency_key: format!("{run_id}-0-0"),
            about: About::Run {
                run: RunInfo {
                    id: run_id,
                    workspace_id: WorkspaceId::generate(now),
                    report_id: ReportId::generate(now),
                    report_code: "weekly-digest".into(),
                    report_name: "Weekly digest".into(),
                    trigger: RunTrigger::Schedule,
                    scheduled_for: Some(now),
                    started_at: Some(now),
                },
                entry: EntryInfo { id: EntryId::generate(now), seq: 0, row: None },
            },
            recipients: Recipients::default(),
            from: None,
            reply_to: None,
            subject: "Weekly digest for ACME".into(),
            message: "Numbers for <ACME> & partners".into(),
            narrative: Some(NarrativeOutput {
                summary: "Revenue grew 12% to $1.2M; churn fell below 2%.".into(),
                takeaways: vec!["Email beat SMS on conversion".into(), "Offer B > Offer A".into()],
                narrator: "builtin".into(),
                dropped: vec![],
                error: None,
                provider: None,
                fallback_reason: None,
            }),
            run_url: format!("https://herald.example/api/v1/reports/runs/{run_id}"),
            view_url: Some(format!("https://herald.example/console#/runs/{run_id}")),
            files: vec![
                file("weekly-digest.pdf", "application/pdf", b"%PDF-1.7 fake pdf bytes \x00\x01\xff"),
                file("weekly-digest.csv", "text/csv", b"a,b\n1,2\n"),
            ],
        }
    }
}

/// An HTTP server on 127.0.0.1 that records every request and answers from a script.
pub mod recorder {
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::body::Bytes;
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    use axum::response::{IntoResponse, Response};

    use crate::net::{AddressRange, NetworkPolicy};

    /// One answer: status, headers and body.
    #[derive(Debug, Clone)]
    pub struct Reply {
        pub status: u16,
        pub headers: Vec<(String, String)>,
        pub body: String,
    }

    impl Reply {
        pub fn new(status: u16, body: &str) -> Self {
            Self { status, headers: vec![], body: body.to_string() }
        }

        pub fn header(mut self, name: &str, value: &str) -> Self {
            self.headers.push((name.to_string(), value.to_string()));
            self
        }
    }

    /// A request the server received.
    #[derive(Debug, Clone)]
    pub struct Recorded {
        pub method: Method,
        pub path: String,
        pub headers: HeaderMap,
        pub body: Bytes,
    }

    impl Recorded {
        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers.get(name).and_then(|v| v.to_str().ok())
        }

        pub fn json(&self) -> serde_json::Value {
            serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
        }
    }

    /// A running recording server.
    #[derive(Clone)]
    pub struct Recorder {
        /// `http://127.0.0.1:{port}`.
        pub base: String,
        requests: Arc<Mutex<Vec<Recorded>>>,
    }

    impl Recorder {
        /// Starts a server that answers its n-th request with `script[n]`, and every request
        /// past the script with its last reply.
        pub async fn start(script: Vec<Reply>) -> Recorder {
            let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
            let seen = requests.clone();
            let app = Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let seen = seen.clone();
                let script = script.clone();
                async move {
                    let n = {
                        let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                        seen.push(Recorded { method, path: uri.path().to_string(), headers, body });
                        seen.len() - 1
                    };
                    let reply = script.get(n).or(script.last()).cloned().unwrap_or_else(|| Reply::new(200, "ok"));
                    let mut response: Response = reply.body.into_response();
                    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
                    for (name, value) in reply.headers {
                        if let (Ok(name), Ok(value)) = (
                            axum::http::HeaderName::from_bytes(name.as_bytes()),
                            axum::http::HeaderValue::from_str(&value),
                        ) {
                            response.headers_mut().insert(name, value);
                        }
                    }
                    response
                }
            });
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free loopback port");
            let address = listener.local_addr().expect("a bound address");
            tokio::spawn(async move { axum::serve(listener, app).await });
            Recorder { base: format!("http://{address}"), requests }
        }

        /// `base` + `path`.
        pub fn url(&self, path: &str) -> String {
            format!("{}{path}", self.base)
        }

        pub fn requests(&self) -> Vec<Recorded> {
            self.requests.lock().unwrap_or_else(|e| e.into_inner()).clone()
        }
    }

    /// A policy that lets requests reach 127.0.0.1.
    pub fn loopback_policy() -> NetworkPolicy {
        NetworkPolicy::allowing(AddressRange::parse("127.0.0.1"))
    }
}

/// The local SMTP sink (aiosmtpd with a maildir) named by `SMTP_HOST`, `SMTP_PORT` and
/// `SMTP_MAILDIR`, as `infra/test.sh` starts it.
#[derive(Debug, Clone)]
pub struct SmtpSink {
    pub host: String,
    pub port: u16,
    pub maildir: std::path::PathBuf,
}

impl SmtpSink {
    /// The sink, or `None` (said on stderr) only when `HERALD_SKIP_AWS_TESTS=1`; panics when the
    /// sink's variables are missing otherwise, like [`emulator`].
    pub fn from_env() -> Option<SmtpSink> {
        if std::env::var("HERALD_SKIP_AWS_TESTS").is_ok_and(|v| v == "1") {
            eprintln!("SKIPPED: SMTP sink tests (HERALD_SKIP_AWS_TESTS=1)");
            return None;
        }
        let host = std::env::var("SMTP_HOST").unwrap_or_default();
        let port = std::env::var("SMTP_PORT").ok().and_then(|p| p.parse().ok());
        let maildir = std::env::var("SMTP_MAILDIR").unwrap_or_default();
        let (Some(port), false, false) = (port, host.is_empty(), maildir.is_empty()) else {
            panic!(
                "SMTP_HOST, SMTP_PORT and SMTP_MAILDIR must name the local SMTP sink: run `make test`, \
                 or set HERALD_SKIP_AWS_TESTS=1 to skip the emulator tests explicitly"
            );
        };
        assert!(host == "127.0.0.1" || host == "localhost", "SMTP_HOST must be loopback (got `{host}`)");
        Some(SmtpSink { host, port, maildir: maildir.into() })
    }

    /// The delivered messages (files in `new/`) whose text contains `needle`.
    pub fn messages_containing(&self, needle: &str) -> Vec<Vec<u8>> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return vec![];
        };
        entries
            .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
            .filter(|bytes| String::from_utf8_lossy(bytes).contains(needle))
            .collect()
    }
}

/// The raw messages moto's SES has accepted (`ses.RawMessage` of `GET /moto-api/data.json`),
/// as JSON objects with `source`, `destinations` and `raw_data`.
pub async fn moto_sent_raw_messages() -> Vec<serde_json::Value> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    // moto builds data.json by walking every backend's live objects; while other tests change
    // them it can fail (500) now and then, so read it again.
    let mut last = String::new();
    let mut text = None;
    for attempt in 0..20 {
        match reqwest::get(format!("{endpoint}/moto-api/data.json")).await {
            Ok(r) if r.status().is_success() => {
                text = r.text().await.ok();
                if text.is_some() {
                    break;
                }
            }
            Ok(r) => last = format!("{}: {}", r.status(), r.text().await.unwrap_or_default()),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(std::time::Duration::from_millis(100 * (attempt + 1))).await;
    }
    let text = text.unwrap_or_else(|| panic!("moto's data.json kept failing: {last}"));
    let data: serde_json::Value = serde_json::from_str(&text).expect("moto's data.json is JSON");
    data["ses"]["RawMessage"].as_array().cloned().unwrap_or_default()
}

/// Just enough MIME reading to check built emails: headers, nested multiparts, base64 bodies,
/// RFC 2047 encoded words and RFC 2231 file names.
pub mod mail {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    #[derive(Debug, Clone)]
    pub struct Part {
        /// Unfolded headers, names as written.
        pub headers: Vec<(String, String)>,
        /// The body, decoded from base64 when the part says so.
        pub body: Vec<u8>,
        pub parts: Vec<Part>,
    }

    impl Part {
        /// The first header called `name` (any case).
        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
        }

        /// The media type, lower case, without parameters.
        pub fn content_type(&self) -> String {
            self.header("content-type").unwrap_or("text/plain").split(';').next().unwrap_or("").trim().to_lowercase()
        }

        /// The body as UTF-8 text.
        pub fn text(&self) -> String {
            String::from_utf8_lossy(&self.body).into_owned()
        }

        /// The attachment's file name, decoded.
        pub fn file_name(&self) -> Option<String> {
            param(self.header("content-disposition")?, "filename")
        }

        /// Every leaf part, depth first.
        pub fn leaves(&self) -> Vec<&Part> {
            if self.parts.is_empty() { vec![self] } else { self.parts.iter().flat_map(Part::leaves).collect() }
        }
    }

    /// Parses a whole message (or part).
    pub fn parse(raw: &[u8]) -> Part {
        let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
        let (head, body) = text.split_once("\n\n").unwrap_or((text.as_str(), ""));
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.lines() {
            if line.starts_with([' ', '\t']) {
                if let Some((_, value)) = headers.last_mut() {
                    value.push_str(line.trim_start());
                }
            } else if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
        let mut part = Part { headers, body: vec![], parts: vec![] };
        let content_type = part.header("content-type").unwrap_or("").to_owned();
        if content_type.to_lowercase().starts_with("multipart/") {
            let boundary = param(&content_type, "boundary").expect("a multipart boundary");
            let delimiter = format!("--{boundary}");
            let inner = body.split(&format!("{delimiter}--")).next().unwrap_or("");
            part.parts =
                inner.split(&delimiter).skip(1).map(|p| parse(p.trim_start_matches('\n').as_bytes())).collect();
        } else if part.header("content-transfer-encoding").is_some_and(|e| e.eq_ignore_ascii_case("base64")) {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            part.body = STANDARD.decode(compact).expect("valid base64");
        } else {
            part.body = body.as_bytes().to_vec();
        }
        part
    }

    /// A header parameter (`name=value`, `name="value"` or RFC 2231 `name*=utf-8''…`, also split
    /// into `name*0*=`, `name*1*=` …), decoded.
    pub fn param(header: &str, name: &str) -> Option<String> {
        let mut plain = None;
        let mut pieces: Vec<(usize, bool, String)> = Vec::new();
        for item in header.split(';').skip(1) {
            let Some((key, value)) = item.trim().split_once('=') else { continue };
            let value = value.trim().trim_matches('"').to_owned();
            let key = key.trim().to_lowercase();
            if key == name {
                plain = Some(value);
            } else if let Some(rest) = key.strip_prefix(&format!("{name}*")) {
                let encoded = rest.ends_with('*') || rest.is_empty();
                let index = rest.trim_matches('*').parse().unwrap_or(0);
                pieces.push((index, encoded, value));
            }
        }
        if pieces.is_empty() {
            return plain.map(|v| decode_words(&v));
        }
        pieces.sort_by_key(|p| p.0);
        let mut bytes = Vec::new();
        for (i, (_, encoded, value)) in pieces.iter().enumerate() {
            let value = if i == 0 && *encoded { value.splitn(3, '\'').nth(2).unwrap_or(value) } else { value };
            if *encoded { percent_decode(value, &mut bytes) } else { bytes.extend_from_slice(value.as_bytes()) }
        }
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn percent_decode(value: &str, out: &mut Vec<u8>) {
        let bytes = value.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%'
                && let Some(byte) = value.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(byte);
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
    }

    /// A header value with its RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`) decoded.
    pub fn decode_words(value: &str) -> String {
        let mut out = Vec::new();
        let mut rest = value;
        let mut last_was_word = false;
        while !rest.is_empty() {
            let Some(start) = rest.find("=?") else {
                out.extend_from_slice(rest.as_bytes());
                break;
            };
            let between = &rest[..start];
            if !(last_was_word && between.trim().is_empty()) {
                out.extend_from_slice(between.as_bytes());
            }
            let word = &rest[start + 2..];
            let mut fields = word.splitn(3, '?');
            let (Some(_charset), Some(encoding), Some(tail)) = (fields.next(), fields.next(), fields.next()) else {
                out.extend_from_slice(&rest.as_bytes()[start..]);
                break;
            };
            let Some(end) = tail.find("?=") else {
                out.extend_from_slice(&rest.as_bytes()[start..]);
                break;
            };
            let text = &tail[..end];
            if encoding.eq_ignore_ascii_case("b") {
                out.extend(STANDARD.decode(text).unwrap_or_default());
            } else {
                percent_decode(&text.replace('_', " ").replace('=', "%"), &mut out);
            }
            last_was_word = true;
            rest = &tail[end + 2..];
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// A database server `infra/test.sh` started for the tests (PostgreSQL or MariaDB on a loopback
/// port), named by `HERALD_TEST_POSTGRES_*` / `HERALD_TEST_MYSQL_*`: a database, an admin who
/// may write (and sets up fixtures), and a reader who may only `SELECT`.
#[derive(Debug, Clone)]
pub struct TestDatabase {
    /// `postgres` or `mysql`.
    pub kind: &'static str,
    pub host: String,
    pub port: u16,
    pub database: String,
    pub admin_user: String,
    pub admin_password: String,
    pub user: String,
    pub password: String,
}

impl TestDatabase {
    pub fn postgres() -> Option<Self> {
        Self::from_env("postgres", "POSTGRES")
    }

    pub fn mysql() -> Option<Self> {
        Self::from_env("mysql", "MYSQL")
    }

    /// The server, or `None` (said on stderr) only when `HERALD_SKIP_AWS_TESTS=1`; panics when its
    /// variables are missing otherwise, like [`emulator`].
    fn from_env(kind: &'static str, prefix: &str) -> Option<Self> {
        if std::env::var("HERALD_SKIP_AWS_TESTS").is_ok_and(|v| v == "1") {
            eprintln!("SKIPPED: {kind} server tests (HERALD_SKIP_AWS_TESTS=1)");
            return None;
        }
        let var = |name: &str| std::env::var(format!("HERALD_TEST_{prefix}_{name}")).unwrap_or_default();
        let port = var("PORT").parse().unwrap_or_else(|_| {
            panic!(
                "HERALD_TEST_{prefix}_* must name the test {kind} server: run `make test` (or `infra/test.sh -- …`), \
                 or set HERALD_SKIP_AWS_TESTS=1 to skip the server tests explicitly"
            )
        });
        let host = var("HOST");
        assert!(
            host == "127.0.0.1" || host == "localhost",
            "the test {kind} server must be on loopback (got `{host}`)"
        );
        Some(Self {
            kind,
            host,
            port,
            database: var("DATABASE"),
            admin_user: var("ADMIN_USER"),
            admin_password: var("ADMIN_PASSWORD"),
            user: var("USER"),
            password: var("PASSWORD"),
        })
    }

    /// A name for a table of this test process and call (`prefix_1234_0`).
    pub fn table(&self, prefix: &str) -> String {
        unique_name(prefix).replace('-', "_")
    }

    /// The connection's fields as the API takes them, logging in as the reader or the admin.
    pub fn config_json(&self, as_admin: bool) -> serde_json::Value {
        let (user, password) =
            if as_admin { (&self.admin_user, &self.admin_password) } else { (&self.user, &self.password) };
        serde_json::json!({
            "kind": self.kind, "host": self.host, "port": self.port, "database": self.database,
            "user": user, "password": password,
        })
    }

    /// Runs `statements` as the admin (fixtures: tables and rows).
    pub async fn execute(&self, statements: &[&str]) {
        match self.admin().await {
            Admin::Postgres(client) => {
                for statement in statements {
                    client.batch_execute(statement).await.unwrap_or_else(|e| panic!("{statement}: {e}"));
                }
            }
            Admin::Mysql(mut conn) => {
                use mysql_async::prelude::Queryable;
                for statement in statements {
                    conn.query_drop(*statement).await.unwrap_or_else(|e| panic!("{statement}: {e}"));
                }
                let _ = conn.disconnect().await;
            }
        }
    }

    /// The first column of the first row of `query`, run as the admin, as text.
    pub async fn scalar(&self, query: &str) -> Option<String> {
        match self.admin().await {
            Admin::Postgres(client) => {
                let rows = client.simple_query(query).await.unwrap_or_else(|e| panic!("{query}: {e}"));
                rows.into_iter().find_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
                    _ => None,
                })
            }
            Admin::Mysql(mut conn) => {
                use mysql_async::prelude::Queryable;
                let value: Option<Option<String>> =
                    conn.query_first(query).await.unwrap_or_else(|e| panic!("{query}: {e}"));
                let _ = conn.disconnect().await;
                value.flatten()
            }
        }
    }

    async fn admin(&self) -> Admin {
        if self.kind == "postgres" {
            let (client, connection) = tokio_postgres::Config::new()
                .host(&self.host)
                .port(self.port)
                .dbname(&self.database)
                .user(&self.admin_user)
                .password(&self.admin_password)
                .connect(tokio_postgres::NoTls)
                .await
                .expect("connect to the test PostgreSQL as its admin");
            tokio::spawn(connection);
            return Admin::Postgres(client);
        }
        let options = mysql_async::OptsBuilder::default()
            .ip_or_hostname(self.host.clone())
            .tcp_port(self.port)
            .db_name(Some(&self.database))
            .user(Some(&self.admin_user))
            .pass(Some(&self.admin_password))
            .prefer_socket(false);
        Admin::Mysql(mysql_async::Conn::new(options).await.expect("connect to the test MariaDB as its admin"))
    }
}

enum Admin {
    Postgres(tokio_postgres::Client),
    Mysql(mysql_async::Conn),
}

/// The test language model server `infra/test.sh` started (`HERALD_TEST_MODEL_URL`: SmolLM2-135M
/// speaking the OpenAI and Anthropic protocols on loopback), or `None` (said on stderr) only when
/// `HERALD_SKIP_AWS_TESTS=1`; panics when it is missing otherwise, like [`emulator`].
pub fn model_server_url() -> Option<String> {
    loopback_server_url("HERALD_TEST_MODEL_URL", "the test model server")
}

/// The URL of a test server `infra/test.sh` started and exported in `variable`, or `None`
/// (said on stderr) only when `HERALD_SKIP_AWS_TESTS=1`; panics when it is missing otherwise.
fn loopback_server_url(variable: &str, what: &str) -> Option<String> {
    if std::env::var("HERALD_SKIP_AWS_TESTS").is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED: tests of {what} (HERALD_SKIP_AWS_TESTS=1)");
        return None;
    }
    let url = std::env::var(variable).unwrap_or_default();
    assert!(
        url.starts_with("http://127.0.0.1:"),
        "{variable} must name {what} on loopback (got `{url}`): run `make test`, \
         or set HERALD_SKIP_AWS_TESTS=1 to skip the server tests explicitly"
    );
    Some(url)
}

/// The local Google Drive peer `infra/test.sh` started (`HERALD_TEST_DRIVE_URL`: a token
/// endpoint that verifies assertions and Drive v3 on loopback), or `None` (said on stderr) only
/// when `HERALD_SKIP_AWS_TESTS=1`; panics when it is missing otherwise, like [`emulator`].
pub fn drive_peer_url() -> Option<String> {
    loopback_server_url("HERALD_TEST_DRIVE_URL", "the Drive peer")
}

/// A service-account key file as Google Cloud writes one, with a 2048-bit RSA key made now
/// (and a `token_uri` elsewhere, which Herald must never use).
pub fn service_account_key_file(client_email: &str, key_id: &str) -> String {
    use aws_lc_rs::encoding::AsDer;
    use base64::Engine;
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("an RSA key");
    let der = pair.as_der().expect("its PKCS#8 form");
    let base64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let lines: Vec<&str> = base64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap_or_default()).collect();
    let pem = format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", lines.join("\n"));
    serde_json::json!({
        "type": "service_account", "project_id": "herald-test", "private_key_id": key_id, "private_key": pem,
        "client_email": client_email, "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.example/o/oauth2/auth", "token_uri": "https://elsewhere.example/token",
    })
    .to_string()
}
