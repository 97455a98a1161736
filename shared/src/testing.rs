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

/// A resource name unique to this test process and call, for tests sharing one emulator.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Valid entities for tests, with every field filled.
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
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }

    pub fn run(report: &Report, now: DateTime<Utc>) -> Run {
        let inputs = RunInputs { report: report.clone(), parameters: Map::new(), data: Value::Null };
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
                artifacts: vec![],
                error: None,
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

    use crate::deliver::{EntryInfo, Outgoing, OutgoingFile, Recipients, RunInfo};
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
            }),
            run_url: format!("https://herald.example/api/v1/reports/runs/{run_id}"),
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
