//! The authorization matrix, driven by the served OpenAPI document so every route present and
//! future is covered: every operation secured by a personal access token refuses a missing,
//! expired or revoked token (401 `unauthorized` with `WWW-Authenticate: Bearer`), answers a
//! token of another workspace as if nothing were there (404 `not_found`, nothing of the
//! workspace or its resources in the body), refuses a viewer's token on writes (403
//! `forbidden`), changes nothing when it refuses, and lets the admin token through. The
//! scheduler's endpoints refuse a missing or wrong secret in every form they accept.

use chrono::Duration;
use herald_core::domain::{ApiToken, Name, Role, TokenGrant};
use herald_core::pipeline::admin;
use herald_core::testing::fixtures;
use herald_tests::surface::{self, Operation, World, changes, envelope_problems, snapshot};
use herald_tests::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

const CRON_SECRET: &str = "cron-secret-of-the-authorization-matrix";

/// POSTs that only read (they compute a preview and store nothing): a viewer may call them.
const READING_POSTS: [&str; 3] = ["preview_report", "preview_report_in_own_workspace", "preview_schedule"];

async fn server(backend: Backend) -> Option<TestServer> {
    let s = TestServer::start_with(backend, None, &[("CRON_SECRET", CRON_SECRET), ("CRON_TOKEN", CRON_SECRET)]).await?;
    s.run_workers();
    Some(s)
}

/// A way of calling that must be refused, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    NoToken,
    ExpiredToken,
    RevokedToken,
    AnotherWorkspacesToken,
    /// The path names the first workspace by its id rather than its code.
    AnotherWorkspacesTokenByWorkspaceId,
    ViewerOnAWrite,
    /// A body the operation would refuse does not get a viewer past the permission check.
    ViewerOnAWriteWithAnUnknownField,
}

impl Case {
    const ALL: [Case; 7] = [
        Case::NoToken,
        Case::ExpiredToken,
        Case::RevokedToken,
        Case::AnotherWorkspacesToken,
        Case::AnotherWorkspacesTokenByWorkspaceId,
        Case::ViewerOnAWrite,
        Case::ViewerOnAWriteWithAnUnknownField,
    ];

    fn is_another_workspaces(self) -> bool {
        matches!(self, Case::AnotherWorkspacesToken | Case::AnotherWorkspacesTokenByWorkspaceId)
    }

    fn is_viewers(self) -> bool {
        matches!(self, Case::ViewerOnAWrite | Case::ViewerOnAWriteWithAnUnknownField)
    }

    /// The JSON body sent where the operation takes one.
    fn body(self) -> Value {
        match self {
            Case::ViewerOnAWriteWithAnUnknownField => json!({"definitely_unknown_field": 1}),
            _ => json!({}),
        }
    }

    fn expected(self) -> (StatusCode, &'static str) {
        match self {
            Case::NoToken | Case::ExpiredToken | Case::RevokedToken => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Case::AnotherWorkspacesToken | Case::AnotherWorkspacesTokenByWorkspaceId => {
                (StatusCode::NOT_FOUND, "not_found")
            }
            Case::ViewerOnAWrite | Case::ViewerOnAWriteWithAnUnknownField => (StatusCode::FORBIDDEN, "forbidden"),
        }
    }
}

/// The secrets of the tokens the matrix calls with.
struct Tokens {
    expired: String,
    revoked: String,
    other_workspace: String,
    viewer: String,
}

impl Tokens {
    async fn create(s: &TestServer) -> Tokens {
        let store = &s.ctx.store;
        let now = s.ctx.clock.now();
        let ws = &s.access.workspace;
        let grant = TokenGrant {
            workspace_id: ws.id,
            name: Name::parse("Expired").unwrap(),
            role: Role::Admin,
            scopes: Role::Admin.default_scopes(),
            expires_at: Some(now + Duration::seconds(1)),
            created_by: None,
        };
        let (mut token, expired) = ApiToken::issue(grant, now - Duration::hours(1));
        token.expires_at = Some(now - Duration::minutes(1));
        store.create_token(&token).await.unwrap();
        let (token, revoked) = fixtures::token(ws, Role::Admin, now);
        store.create_token(&token).await.unwrap();
        store.revoke_token(ws.id, token.id, now).await.unwrap();
        let (token, viewer) = fixtures::token(ws, Role::Viewer, now);
        store.create_token(&token).await.unwrap();
        let code = herald_core::testing::unique_name("other").replace('_', "-");
        let other = admin::create_workspace(&s.ctx, &code, "Other").await.unwrap();
        Tokens { expired, revoked, other_workspace: other.secret, viewer }
    }

    fn secret(&self, case: Case) -> Option<&str> {
        match case {
            Case::NoToken => None,
            Case::ExpiredToken => Some(&self.expired),
            Case::RevokedToken => Some(&self.revoked),
            Case::AnotherWorkspacesToken | Case::AnotherWorkspacesTokenByWorkspaceId => Some(&self.other_workspace),
            Case::ViewerOnAWrite | Case::ViewerOnAWriteWithAnUnknownField => Some(&self.viewer),
        }
    }
}

/// The request of `op` on `path`, with a body of the kind it documents (`json`, or a small
/// CSV), and `secret` as bearer token.
fn request(s: &TestServer, op: &Operation, path: &str, secret: Option<&str>, json: &Value) -> reqwest::RequestBuilder {
    let mut request = s.client.request(op.method.clone(), format!("{}{path}", s.url));
    if let Some(secret) = secret {
        request = request.bearer_auth(secret);
    }
    match op.body_types.first().map(String::as_str) {
        None => request,
        Some("application/json") => request.json(json),
        Some(other) => request.header("content-type", other).body("region,amount\nnorth,1\n"),
    }
}

/// What is wrong with the answer to `op` called as `case`.
async fn refusal_problems(
    s: &TestServer,
    world: &World,
    op: &Operation,
    case: Case,
    secret: Option<&str>,
) -> Vec<String> {
    let path = match case {
        Case::AnotherWorkspacesTokenByWorkspaceId => world.path_with(op, |previous, name| match name {
            "workspace" => s.access.workspace.id.to_string(),
            _ => world.parameter(s, previous, name),
        }),
        _ => world.path(s, op),
    };
    let r = request(s, op, &path, secret, &case.body()).send().await.unwrap();
    let status = r.status();
    let challenge = r.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let text = r.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let (expected, code) = case.expected();
    let mut problems = Vec::new();
    if status != expected {
        problems.push(format!("status {status} instead of {expected}: {text}"));
    }
    problems.extend(envelope_problems(&body, code));
    if expected == StatusCode::UNAUTHORIZED && challenge.as_deref() != Some("Bearer") {
        problems.push(format!("WWW-Authenticate is {challenge:?}"));
    }
    if case.is_another_workspaces() {
        let ws = &s.access.workspace;
        let hidden =
            [ws.id.to_string(), ws.code.to_string()].into_iter().chain(world.ids().into_iter().map(str::to_owned));
        for secret in hidden.chain(world.names.iter().cloned()) {
            if text.contains(&secret) {
                problems.push(format!("the body shows `{secret}`: {text}"));
            }
        }
    }
    problems
}

async fn every_refusal_changes_nothing_and_answers_with_the_envelope(backend: Backend) {
    let Some(s) = server(backend).await else { return };
    let world = World::create(&s).await;
    let tokens = Tokens::create(&s).await;
    let doc = surface::document(&s).await;
    let operations: Vec<Operation> =
        surface::operations(&doc).into_iter().filter(|op| op.uses(herald_core::http::openapi::PAT)).collect();
    assert!(operations.len() > 40, "{} operations", operations.len());
    for reading in READING_POSTS {
        assert!(operations.iter().any(|op| op.id == reading), "`{reading}` is not in the document");
    }

    let mut failures = Vec::new();
    for op in &operations {
        for case in Case::ALL {
            let reads_only = !op.writes() || READING_POSTS.contains(&op.id.as_str());
            if case.is_viewers() && (reads_only || (case.body() != json!({}) && op.json_schema.is_none())) {
                continue;
            }
            // A path that names nothing acts in the token's own workspace: there is nothing
            // of the first workspace to hide.
            if case.is_another_workspaces() && op.parameters().is_empty() {
                continue;
            }
            let before = snapshot(&s, s.access.workspace.id).await;
            let problems = refusal_problems(&s, &world, op, case, tokens.secret(case)).await;
            let changed = changes(&before, &snapshot(&s, s.access.workspace.id).await);
            for problem in problems.into_iter().chain(changed.into_iter().map(|c| format!("changed {c}"))) {
                failures.push(format!("{} ({} {}) {case:?}: {problem}", op.id, op.method, op.template));
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

/// The order the admin's calls go in: deletions last (a schedule's after its configuration's,
/// a scheduled report's, which is the same schedule, before the schedule's; the report's after
/// what hangs on it), so every call finds the resources it names.
fn positive_order(op: &Operation) -> (u8, u8) {
    let deletes = op.method == reqwest::Method::DELETE;
    let late = ["delete_scheduled_report", "delete_schedule", "delete_report", "delete_destination"]
        .iter()
        .position(|id| *id == op.id)
        .map_or(0, |i| i as u8 + 1);
    (u8::from(deletes), late)
}

async fn the_admin_token_is_let_through_every_operation(backend: Backend) {
    let Some(s) = server(backend).await else { return };
    let world = World::create(&s).await;
    let doc = surface::document(&s).await;
    let mut operations: Vec<Operation> =
        surface::operations(&doc).into_iter().filter(|op| op.uses(herald_core::http::openapi::PAT)).collect();
    operations.sort_by_key(positive_order);
    let mut failures = Vec::new();
    for op in &operations {
        let r = request(&s, op, &world.path(&s, op), Some(&s.access.secret), &json!({})).send().await.unwrap();
        let status = r.status();
        let refused = [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN, StatusCode::NOT_FOUND];
        if refused.contains(&status) || status.is_server_error() {
            failures.push(format!("{} ({} {}): {status} {}", op.id, op.method, op.template, r.text().await.unwrap()));
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

/// How a scheme of the document presents a secret: `(header, value)`.
fn presented(doc: &Value, scheme: &str, secret: &str) -> (String, String) {
    let scheme = &doc["components"]["securitySchemes"][scheme];
    match scheme["type"].as_str() {
        Some("http") => ("authorization".into(), format!("Bearer {secret}")),
        Some("apiKey") if scheme["in"] == "header" => (scheme["name"].as_str().unwrap().to_owned(), secret.into()),
        other => panic!("an unexpected security scheme {other:?}: {scheme}"),
    }
}

async fn the_scheduler_endpoints_refuse_a_missing_or_wrong_secret(backend: Backend) {
    let Some(s) = server(backend).await else { return };
    let doc = surface::document(&s).await;
    let operations: Vec<Operation> =
        surface::operations(&doc).into_iter().filter(|op| op.schemes.iter().any(|s| s.starts_with("cron_"))).collect();
    assert!(operations.len() >= 4, "{operations:?}");
    let mut failures = Vec::new();
    for op in &operations {
        let url = format!("{}{}", s.url, op.template);
        let mut attempts = vec![("no secret".to_owned(), None)];
        for scheme in &op.schemes {
            attempts.push((format!("a wrong secret by {scheme}"), Some(presented(&doc, scheme, "not-the-secret"))));
        }
        attempts
            .push(("the admin's token".into(), Some(("authorization".into(), format!("Bearer {}", s.access.secret)))));
        for (attempt, header) in attempts {
            let before = snapshot(&s, s.access.workspace.id).await;
            let mut request = s.client.request(op.method.clone(), &url);
            if let Some((name, value)) = header {
                request = request.header(name, value);
            }
            let r = request.send().await.unwrap();
            let status = r.status();
            let challenge = r.headers().get("www-authenticate").cloned();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            let mut problems = envelope_problems(&body, "unauthorized");
            if status != StatusCode::UNAUTHORIZED {
                problems.push(format!("status {status}"));
            }
            if challenge.is_none_or(|c| c != "Bearer") {
                problems.push("no WWW-Authenticate: Bearer".into());
            }
            problems.extend(changes(&before, &snapshot(&s, s.access.workspace.id).await));
            failures.extend(problems.into_iter().map(|p| format!("{} {attempt}: {p}", op.id)));
        }
        // The right secret, in each form, is let through.
        for scheme in &op.schemes {
            let (name, value) = presented(&doc, scheme, CRON_SECRET);
            let r = s.client.request(op.method.clone(), &url).header(name, value).send().await.unwrap();
            if r.status() == StatusCode::UNAUTHORIZED || r.status().is_server_error() {
                failures.push(format!("{} the right secret by {scheme}: {}", op.id, r.status()));
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

mod sqlite {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_refusal_changes_nothing_and_answers_with_the_envelope() {
        super::every_refusal_changes_nothing_and_answers_with_the_envelope(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_admin_token_is_let_through_every_operation() {
        super::the_admin_token_is_let_through_every_operation(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_scheduler_endpoints_refuse_a_missing_or_wrong_secret() {
        super::the_scheduler_endpoints_refuse_a_missing_or_wrong_secret(Backend::Sqlite).await;
    }
}

mod dynamodb {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_refusal_changes_nothing_and_answers_with_the_envelope() {
        super::every_refusal_changes_nothing_and_answers_with_the_envelope(Backend::DynamoDb).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_admin_token_is_let_through_every_operation() {
        super::the_admin_token_is_let_through_every_operation(Backend::DynamoDb).await;
    }
}
