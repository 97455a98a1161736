//! The malformed-input sweep, driven by the served OpenAPI document so every route present and
//! future is covered: every JSON body that is malformed, of the wrong type, names a field the
//! operation does not know or is larger than the configured limit, every unknown or garbage id
//! in a path, and every bad schedule rule is answered with a 4xx and the error envelope, never a
//! 5xx, and changes nothing.

use herald_core::http::openapi::PAT;
use herald_tests::surface::{self, Operation, UNKNOWN_ID, World, changes, envelope_problems, snapshot};
use herald_tests::{Backend, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// `HERALD_BODY_LIMIT_BYTES` of the test server.
const BODY_LIMIT: usize = 65536;

async fn server(backend: Backend) -> Option<(TestServer, World, Value)> {
    let s = TestServer::start(backend).await?;
    s.run_workers();
    let world = World::create(&s).await;
    let doc = surface::document(&s).await;
    Some((s, world, doc))
}

/// Operations secured by a token (the ones a user calls with input).
fn token_operations(doc: &Value) -> Vec<Operation> {
    surface::operations(doc).into_iter().filter(|op| op.uses(PAT)).collect()
}

/// What is wrong with an answer that must refuse bad input: a 4xx of the kinds bad input gets,
/// the envelope, and `details` listing the fields of a validation error.
fn refusal_problems(status: StatusCode, body: &Value, text: &str) -> Vec<String> {
    let allowed = [
        StatusCode::BAD_REQUEST,
        StatusCode::NOT_FOUND,
        StatusCode::PAYLOAD_TOO_LARGE,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        StatusCode::UNPROCESSABLE_ENTITY,
    ];
    let mut problems = Vec::new();
    if !allowed.contains(&status) {
        problems.push(format!("status {status}: {text}"));
    }
    let code = body["error"]["code"].as_str().unwrap_or("(none)");
    problems.extend(envelope_problems(body, code).into_iter().map(|p| format!("{p}: {text}")));
    if code == "body_validation_error" && !body["error"]["details"]["reason"].is_string() {
        problems.push(format!("a body error without its reason in details: {text}"));
    }
    if status == StatusCode::UNPROCESSABLE_ENTITY && code == "validation_error" {
        let fields = body["error"]["details"]["errors"].as_array();
        if fields.is_none_or(|f| f.is_empty() || f.iter().any(|e| e["field"].as_str().is_none())) {
            problems.push(format!("a validation error without the fields in details: {text}"));
        }
    }
    problems
}

/// Sends `request` and returns what is wrong with its answer and with the workspace after it.
async fn refused(s: &TestServer, request: reqwest::RequestBuilder, expected: Option<StatusCode>) -> Vec<String> {
    let before = snapshot(s, s.access.workspace.id).await;
    let r = request.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let mut problems = refusal_problems(status, &body, &text);
    if let Some(expected) = expected
        && status != expected
    {
        problems.push(format!("status {status} instead of {expected}: {text}"));
    }
    let after = snapshot(s, s.access.workspace.id).await;
    problems.extend(changes(&before, &after).into_iter().map(|c| format!("changed {c}")));
    problems
}

/// Whether the documented body schema takes fields it does not name (then an unknown field is
/// not an error, and that case does not apply).
fn takes_any_field(doc: &Value, schema: &Value) -> bool {
    let schema = surface::resolve(doc, schema);
    let open = |s: &Value| s.get("additionalProperties").is_some_and(|a| a != false);
    let branches = ["oneOf", "anyOf", "allOf"]
        .iter()
        .flat_map(|k| schema[*k].as_array().into_iter().flatten())
        .any(|branch| takes_any_field(doc, branch));
    open(schema) || branches || schema["type"] == "array"
}

/// The JSON types the documented body schema takes (through `oneOf`/`anyOf`).
fn documented_types(doc: &Value, schema: &Value) -> Vec<String> {
    let schema = surface::resolve(doc, schema);
    let mut types: Vec<String> = match &schema["type"] {
        Value::String(t) => vec![t.clone()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => vec![],
    };
    for branch in ["oneOf", "anyOf"].iter().flat_map(|k| schema[*k].as_array().into_iter().flatten()) {
        types.extend(documented_types(doc, branch));
    }
    types
}

async fn every_bad_json_body_is_a_clear_4xx_that_changes_nothing(backend: Backend) {
    let Some((s, world, doc)) = server(backend).await else { return };
    let operations: Vec<Operation> = token_operations(&doc).into_iter().filter(|op| op.json_schema.is_some()).collect();
    assert!(operations.len() >= 15, "{} operations with a JSON body", operations.len());
    let oversized = format!("{{\"name\": \"{}\"}}", "x".repeat(BODY_LIMIT + 1));
    // (case, body, the JSON type it is, the status it must get if one in particular)
    let cases: [(&str, String, &str, Option<StatusCode>); 6] = [
        ("malformed JSON", "{".into(), "", None),
        ("an array", "[]".into(), "array", None),
        ("a string", "\"text\"".into(), "string", None),
        ("a number", "42".into(), "number", None),
        ("an unknown field", json!({"definitely_unknown_field": 1}).to_string(), "object", None),
        ("a body over the limit", oversized, "", Some(StatusCode::PAYLOAD_TOO_LARGE)),
    ];
    let mut failures = Vec::new();
    let mut checked = 0;
    for op in &operations {
        let path = world.path(&s, op);
        let schema = op.json_schema.as_ref().expect("a JSON body");
        let types = documented_types(&doc, schema);
        for (case, body, kind, expected) in &cases {
            // A value of a type the operation documents is not of the wrong type (a dataset
            // may be uploaded as a JSON array of rows).
            let documented = |t: &str| types.iter().any(|d| d == t || (t == "number" && d == "integer"));
            if *kind != "object" && !kind.is_empty() && documented(kind) {
                continue;
            }
            // A body that may hold any field (interactions are a list of open records) has no
            // unknown field to refuse.
            if *kind == "object" && takes_any_field(&doc, schema) {
                continue;
            }
            checked += 1;
            let request = s
                .client
                .request(op.method.clone(), format!("{}{path}", s.url))
                .bearer_auth(&s.access.secret)
                .header("content-type", "application/json")
                .body(body.clone());
            for problem in refused(&s, request, *expected).await {
                failures.push(format!("{} ({} {}) {case}: {problem}", op.id, op.method, op.template));
            }
        }
    }
    assert!(checked >= operations.len() * 5, "{checked} requests for {} operations", operations.len());
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

/// A well-formed value of path parameter `name` that names nothing.
fn unknown(name: &str) -> &'static str {
    match name {
        "address" => "nobody-here@acme.test",
        "code" | "report" | "job" => "no-such-thing",
        _ => UNKNOWN_ID,
    }
}

/// Values no path parameter takes.
fn garbage() -> Vec<(&'static str, String)> {
    vec![
        ("not-an-id", "not-an-id".into()),
        ("a path climbing up", "..%2F..%2Fetc".into()),
        ("2,000 characters", "x".repeat(2000)),
        ("a NUL byte", "%00".into()),
    ]
}

/// The request of `op` on `path` as the admin, with `{}` where it takes JSON.
fn admin_request(s: &TestServer, op: &Operation, path: &str) -> reqwest::RequestBuilder {
    let request = s.client.request(op.method.clone(), format!("{}{path}", s.url)).bearer_auth(&s.access.secret);
    if op.json_schema.is_some() { request.json(&json!({})) } else { request }
}

async fn every_unknown_or_garbage_id_in_a_path_is_a_clear_4xx_that_changes_nothing(backend: Backend) {
    let Some((s, world, doc)) = server(backend).await else { return };
    let mut failures = Vec::new();
    let mut checked = 0;
    for op in token_operations(&doc) {
        // A PUT names what it creates: an unknown name is a new resource, not a missing one.
        let creates = op.method == Method::PUT;
        for parameter in op.parameters().into_iter().filter(|p| *p != "workspace") {
            let mut values: Vec<(String, String, Option<StatusCode>)> = garbage()
                .into_iter()
                .filter(|(what, _)| !(creates && *what == "not-an-id"))
                .map(|(what, v)| (what.to_owned(), v, None))
                .collect();
            if !creates {
                values.push((
                    "a well-formed unknown id".into(),
                    unknown(parameter).into(),
                    Some(StatusCode::NOT_FOUND),
                ));
            }
            for (what, value, expected) in values {
                let path = world.path_with(&op, |previous, name| {
                    if name == parameter { value.clone() } else { world.parameter(&s, previous, name) }
                });
                checked += 1;
                for problem in refused(&s, admin_request(&s, &op, &path), expected).await {
                    failures
                        .push(format!("{} ({} {}) {{{parameter}}} = {what}: {problem}", op.id, op.method, op.template));
                }
            }
        }
    }
    assert!(checked > 100, "{checked} requests");
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

async fn bad_schedule_rules_are_refused_with_the_field_named(backend: Backend) {
    let Some((s, world, doc)) = server(backend).await else { return };
    let never = json!({"type": "recurrence", "trigger": "weekly", "start": "2026-01-05T08:00:00",
        "until": "2025-01-05", "allowed_days": ["Mon"]});
    let never_text = "DTSTART:20260105T080000\nRRULE:FREQ=WEEKLY;UNTIL=20250105T080000";
    let cases = [
        ("a minute of 61", json!({"rule": {"type": "cron", "expression": "61 * * * *"}}), "rule"),
        ("six fields", json!({"rule": {"type": "cron", "expression": "0 0 8 * * 1"}}), "rule"),
        (
            "an unknown timezone",
            json!({"rule": {"type": "cron", "expression": "0 8 * * 1"}, "timezone": "Mars/Olympus"}),
            "timezone",
        ),
        ("a recurrence that never fires", json!({"rule": never}), "rule"),
        ("an RRULE that never fires", json!({"rule": {"type": "rrule", "text": never_text}}), "rule"),
    ];
    let operations: Vec<Operation> = token_operations(&doc)
        .into_iter()
        .filter(|op| ["create_schedule", "update_schedule", "preview_schedule"].contains(&op.id.as_str()))
        .collect();
    assert_eq!(operations.len(), 3);
    let mut failures = Vec::new();
    for op in &operations {
        for (case, body, field) in &cases {
            let mut body = body.clone();
            if op.id == "create_schedule" {
                body["name"] = json!("Bad rule");
            }
            let path = world.path(&s, op);
            let before = snapshot(&s, s.access.workspace.id).await;
            let request = s.client.request(op.method.clone(), format!("{}{path}", s.url)).bearer_auth(&s.access.secret);
            let r = request.json(&body).send().await.unwrap();
            let status = r.status();
            let answer: Value = r.json().await.unwrap_or(Value::Null);
            let mut problems = envelope_problems(&answer, "validation_error");
            if status != StatusCode::UNPROCESSABLE_ENTITY {
                problems.push(format!("status {status}"));
            }
            let fields: Vec<&str> = answer["error"]["details"]["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["field"].as_str())
                .collect();
            if !fields.iter().any(|f| f == field || f.starts_with(&format!("{field}."))) {
                problems.push(format!("`{field}` is not among the fields {fields:?}"));
            }
            problems.extend(changes(&before, &snapshot(&s, s.access.workspace.id).await));
            failures.extend(problems.into_iter().map(|p| format!("{} {case}: {p}: {answer}", op.id)));
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

mod sqlite {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_bad_json_body_is_a_clear_4xx_that_changes_nothing() {
        super::every_bad_json_body_is_a_clear_4xx_that_changes_nothing(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_unknown_or_garbage_id_in_a_path_is_a_clear_4xx_that_changes_nothing() {
        super::every_unknown_or_garbage_id_in_a_path_is_a_clear_4xx_that_changes_nothing(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_schedule_rules_are_refused_with_the_field_named() {
        super::bad_schedule_rules_are_refused_with_the_field_named(Backend::Sqlite).await;
    }
}

mod dynamodb {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_bad_json_body_is_a_clear_4xx_that_changes_nothing() {
        super::every_bad_json_body_is_a_clear_4xx_that_changes_nothing(Backend::DynamoDb).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_unknown_or_garbage_id_in_a_path_is_a_clear_4xx_that_changes_nothing() {
        super::every_unknown_or_garbage_id_in_a_path_is_a_clear_4xx_that_changes_nothing(Backend::DynamoDb).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_schedule_rules_are_refused_with_the_field_named() {
        super::bad_schedule_rules_are_refused_with_the_field_named(Backend::DynamoDb).await;
    }
}
