//! One router, two hosts: the API Gateway (HTTP API v2) sample events of `events/` go through
//! `lambda_http`'s conversion into the same router `herald serve` runs.

use axum::body::Body;
use herald_tests::{Backend, TestServer};
use tower::ServiceExt;

fn event(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

async fn call(server: &TestServer, event_json: &str) -> (http::StatusCode, serde_json::Value) {
    let request = lambda_http::request::from_str(event_json).expect("API Gateway event");
    let (parts, body) = request.into_parts();
    let request = http::Request::from_parts(parts, Body::from(body.to_vec()));
    let response = herald_core::http::router(server.ctx.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn the_health_event_is_answered_by_the_router() {
    let server = TestServer::start(Backend::Sqlite).await.unwrap();
    let (status, body) = call(&server, &event("api-health.json")).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn the_workspace_event_is_authenticated_like_any_request() {
    let server = TestServer::start(Backend::Sqlite).await.unwrap();
    // The sample carries a placeholder token: it is refused with the envelope.
    let (status, body) = call(&server, &event("api-get-workspace.json")).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");

    // With the server's real token and workspace, the same event succeeds.
    let mut real: serde_json::Value = serde_json::from_str(&event("api-get-workspace.json")).unwrap();
    let path = format!("/api/v1/ws/{}", server.access.workspace.code);
    real["rawPath"] = path.clone().into();
    real["requestContext"]["http"]["path"] = path.into();
    real["headers"]["authorization"] = format!("Bearer {}", server.access.secret).into();
    let (status, body) = call(&server, &real.to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["code"], server.access.workspace.code.as_str());
}
