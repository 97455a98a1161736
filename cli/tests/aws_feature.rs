//! What `herald` does with AWS settings, in both builds: without the `aws` feature (`cargo test
//! -p herald-cli`, the build `make run` makes) every setting that needs AWS is refused by name
//! with the rebuild command, at start for the environment and as a validation error for an
//! object of the API; with it (`cargo test --workspace`, which turns the feature on for the
//! Lambda functions) the same settings are accepted.

use std::sync::Arc;

use axum::body::Body;
use herald_core::config::{AWS, Config, WITHOUT_AWS};
use herald_core::context::Context;
use serde_json::{Value, json};
use tower::ServiceExt;

fn lookup<'a>(vars: &'a [(&'a str, String)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| vars.iter().find(|(key, _)| *key == name).map(|(_, value)| value.clone())
}

#[test]
fn every_aws_setting_of_the_environment_is_named_with_the_rebuild_command() {
    let queue = "https://sqs.eu-west-1.amazonaws.com/1/q".to_string();
    let vars = [
        ("HERALD_STORE", "dynamodb:herald".to_string()),
        ("HERALD_BLOBS", "s3:herald-artifacts".to_string()),
        ("HERALD_QUEUE", "sqs".to_string()),
        ("HERALD_RENDER_QUEUE_URL", queue.clone()),
        ("HERALD_DELIVER_QUEUE_URL", queue),
        ("HERALD_TICK_SCHEDULE", "herald-tick".to_string()),
        ("HERALD_BEDROCK_MODEL_ID", "amazon.nova-micro-v1:0".to_string()),
        ("HERALD_SES_CONFIGURATION_SET", "herald-events".to_string()),
    ];
    let result = Config::from_lookup(lookup(&vars));
    if AWS {
        assert!(result.is_ok(), "{result:?}");
        return;
    }
    let problems = result.expect_err("AWS settings in a build without AWS").0;
    let settings = "HERALD_TICK_SCHEDULE, HERALD_BEDROCK_MODEL_ID, HERALD_SES_CONFIGURATION_SET, \
                    HERALD_STORE=dynamodb, HERALD_BLOBS=s3, HERALD_QUEUE=sqs";
    assert_eq!(problems, [format!("{settings}: {WITHOUT_AWS}")]);
    assert!(WITHOUT_AWS.contains("cargo build --release -p herald-cli --features aws"));
}

/// Sends one authorised request to the API and returns the status and the answer.
async fn call(router: &axum::Router, token: &str, method: &str, path: &str, body: Value) -> (u16, Value) {
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("a request");
    let response = router.clone().oneshot(request).await.expect("an answer");
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("the body");
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_api_refuses_s3_ses_athena_and_bedrock_by_name_without_aws() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let vars = [
        ("HERALD_STORE", format!("sqlite:{}", dir.path().join("herald.db").display())),
        ("HERALD_BLOBS", format!("fs:{}", dir.path().join("blobs").display())),
        ("HERALD_OUTBOX", dir.path().join("outbox").display().to_string()),
    ];
    let ctx = Arc::new(Context::from_config(Config::from_lookup(lookup(&vars))?).await?);
    let access = herald_core::pipeline::admin::create_workspace(&ctx, "acme", "Acme").await?;
    let router = herald_core::http::router(ctx);

    let requests = [
        (
            "POST",
            "/api/v1/ws/acme/destinations",
            json!({"name": "Archive", "config": {"type": "s3", "bucket": "herald-archive"}}),
            "config.type",
        ),
        (
            "POST",
            "/api/v1/ws/acme/destinations",
            json!({"name": "Mail", "config": {"type": "email", "transport": "ses"}}),
            "config.transport",
        ),
        ("POST", "/api/v1/ws/acme/connections", json!({"name": "lake", "kind": "athena", "database": "sales"}), "kind"),
        ("PATCH", "/api/v1/ws/acme/settings", json!({"ai": {"narrator": "bedrock"}}), "settings.ai.narrator"),
    ];
    for (method, path, body, field) in requests {
        let (status, answer) = call(&router, &access.secret, method, path, body.clone()).await;
        if AWS {
            assert!((200..300).contains(&status), "{body}: {status} {answer}");
            continue;
        }
        assert_eq!(status, 422, "{body}: {answer}");
        let errors = answer["error"]["details"]["errors"].as_array().cloned().unwrap_or_default();
        assert!(
            errors.iter().any(|e| e["field"] == field && e["message"] == WITHOUT_AWS),
            "{body}: the answer names `{field}` and the rebuild command: {answer}"
        );
    }
    Ok(())
}
