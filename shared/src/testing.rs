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
