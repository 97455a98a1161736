//! `POST /api/cron/tick` exactly as seed `002` describes it: its token from `x-cron-token`,
//! `x-cron-secret` or `Authorization: Bearer`; `CRON_TOKEN` falling back to `CRON_SECRET`;
//! every call refused when neither is set; the seed's summary fields in the answer.

use herald_tests::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::Value;

async fn server(vars: &[(&'static str, &str)]) -> TestServer {
    TestServer::start_with(Backend::Sqlite, None, vars).await.unwrap()
}

async fn tick(s: &TestServer, header: Option<(&str, &str)>) -> (StatusCode, Value) {
    let mut request = s.client.post(format!("{}/api/cron/tick", s.url));
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn without_a_configured_secret_the_tick_refuses_every_call() {
    let s = server(&[]).await;
    for header in
        [None, Some(("x-cron-token", "")), Some(("x-cron-token", "anything")), Some(("authorization", "Bearer x"))]
    {
        let (status, body) = tick(&s, header).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{header:?}");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
}

#[tokio::test]
async fn the_cron_token_is_accepted_in_each_of_its_three_places() {
    let s = server(&[("CRON_TOKEN", "tick-token-123"), ("CRON_SECRET", "maintenance-secret")]).await;
    for header in [
        ("x-cron-token", "tick-token-123"),
        ("x-cron-secret", "tick-token-123"),
        ("authorization", "Bearer tick-token-123"),
    ] {
        let (status, body) = tick(&s, Some(header)).await;
        assert_eq!(status, StatusCode::OK, "{header:?}: {body}");
        assert_eq!(body["ok"], true);
        assert_eq!((body["reportsEvaluated"].as_u64(), body["reportsRan"].as_u64()), (Some(0), Some(0)));
        assert!(body["errors"].as_array().unwrap().is_empty());
    }
    // The maintenance secret is not the tick's token when a token is set.
    let (status, _) = tick(&s, Some(("x-cron-token", "maintenance-secret"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = tick(&s, Some(("x-cron-token", "tick-token-12"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_tick_falls_back_to_the_cron_secret() {
    let s = server(&[("CRON_SECRET", "only-the-secret")]).await;
    let (status, _) = tick(&s, Some(("x-cron-token", "only-the-secret"))).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_status_says_when_nothing_ticks_and_when_the_last_tick_ran() {
    let s = server(&[("CRON_TOKEN", "tick-token"), ("CRON_SECRET", "maintenance-secret")]).await;
    let url = format!("{}/api/v1/cron/status", s.url);
    assert_eq!(s.client.get(&url).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let status = |s: &TestServer| s.client.get(&url).header("x-cron-secret", "maintenance-secret").send();
    let before: Value = status(&s).await.unwrap().json().await.unwrap();
    assert_eq!(before["object"], "cron_status");
    assert_eq!((before["ok"].as_bool(), before["ticking"].as_bool()), (Some(false), Some(false)));
    assert_eq!((before["tick"]["kind"].as_str(), before["tick"]["state"].as_str()), (Some("none"), Some("missing")));
    assert!(before["tick"]["detail"].as_str().unwrap().contains("POST /api/cron/tick"));
    assert!(before["last_tick_at"].is_null());

    let (code, _) = tick(&s, Some(("x-cron-token", "tick-token"))).await;
    assert_eq!(code, StatusCode::OK);
    let after: Value = status(&s).await.unwrap().json().await.unwrap();
    assert!(after["last_tick_at"].is_string());
    assert_eq!(after["ticking"], true);
}
