//! The OpenAPI document and Swagger UI seen from outside: the served document passes a real
//! OpenAPI validator (`openapi-spec-validator` from the pinned tool venv), documents exactly the
//! methods the router answers on every path, describes the answers the API really gives, and
//! Swagger UI loads with its assets.

use std::collections::BTreeSet;

use herald_tests::{Backend, TestServer, venv_tool};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const METHODS: [Method; 5] = [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE];

async fn server() -> TestServer {
    TestServer::start(Backend::Sqlite).await.expect("server")
}

async fn document(s: &TestServer) -> Value {
    let r = s.client.get(format!("{}/swagger/v1/swagger.json", s.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    r.json().await.expect("JSON document")
}

/// Whether the router has a route for `method` on `path`: anything but "no such endpoint"
/// and "method not allowed" (an unauthenticated probe changes nothing).
async fn answers(s: &TestServer, method: Method, path: &str) -> bool {
    let r = s.client.request(method, format!("{}{path}", s.url)).send().await.unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    let no_route = status == StatusCode::NOT_FOUND && body["error"]["message"] == "No such endpoint";
    !(no_route || status == StatusCode::METHOD_NOT_ALLOWED)
}

#[tokio::test]
async fn the_served_document_passes_the_openapi_validator() {
    let s = server().await;
    let doc = document(&s).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc, serde_json::to_value(herald_core::http::openapi::document()).unwrap());

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("swagger.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let validator = venv_tool("openapi-spec-validator");
    let out = std::process::Command::new(&validator)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (infra/tools.sh installs it; `make test` runs it)", validator.display()));
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the validator refused the document:\n{said}");
    assert!(said.contains("OK"), "{said}");
}

#[tokio::test]
async fn every_path_documents_exactly_the_methods_the_router_answers() {
    let s = server().await;
    let doc = document(&s).await;
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() > 20, "{} paths", paths.len());
    for (template, item) in paths {
        let path = template
            .replace("{workspace}", s.access.workspace.code.as_str())
            .replace("{key}", "runs/file.pdf")
            .split('/')
            .map(|segment| if segment.starts_with('{') { "01ARZ3NDEKTSV4RRFFQ69G5FAV" } else { segment })
            .collect::<Vec<_>>()
            .join("/");
        let documented: BTreeSet<String> =
            METHODS.iter().map(|m| m.as_str().to_lowercase()).filter(|m| item.get(m).is_some()).collect();
        let mut answered = BTreeSet::new();
        for method in METHODS {
            if answers(&s, method.clone(), &path).await {
                answered.insert(method.as_str().to_lowercase());
            }
        }
        assert_eq!(answered, documented, "{template}");
    }
    // The probe tells a route from none.
    assert!(!answers(&s, Method::GET, "/api/v1/no-such-thing").await);
    assert!(!answers(&s, Method::DELETE, "/health").await);
}

#[tokio::test]
async fn the_seeds_compatibility_paths_are_documented() {
    let s = server().await;
    let doc = document(&s).await;
    for (path, method) in
        [("/api/cron/tick", "post"), ("/api/v1/reports/preview", "post"), ("/api/v1/cron/status", "get")]
    {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    let tick = &doc["paths"]["/api/cron/tick"]["post"];
    let schemes: BTreeSet<&str> = tick["security"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_object().unwrap().keys())
        .map(String::as_str)
        .collect();
    assert_eq!(schemes, BTreeSet::from(["cron_bearer", "cron_secret_header", "cron_token_header"]));
    assert_eq!(doc["paths"]["/health"]["get"]["security"], serde_json::json!([{}]));
}

#[tokio::test]
async fn swagger_ui_answers_its_page_and_every_asset_it_loads() {
    let s = server().await;
    let r = s.client.get(format!("{}/swagger/index.html", s.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let page = r.text().await.unwrap();
    let assets: Vec<&str> = page
        .split(['"', '\''])
        .filter(|part| part.starts_with("./") && (part.ends_with(".js") || part.ends_with(".css")))
        .collect();
    assert!(assets.iter().any(|a| a.ends_with("swagger-ui-bundle.js")), "{assets:?}");
    for asset in assets {
        let r = s.client.get(format!("{}/swagger/{}", s.url, &asset[2..])).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{asset}");
        assert!(!r.bytes().await.unwrap().is_empty(), "{asset}");
    }
    let init = s.client.get(format!("{}/swagger/swagger-initializer.js", s.url)).send().await.unwrap();
    assert!(init.text().await.unwrap().contains("/swagger/v1/swagger.json"));

    let missing = s.client.get(format!("{}/swagger/no-such-file.js", s.url)).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(missing.headers().contains_key("x-correlation-id"));
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
}

/// What is wrong with `value` as an instance of `schema` (a schema of the document): types,
/// required properties, enums, and properties the schema does not name (objects whose schema
/// names its properties). `oneOf`/`anyOf` need one branch without problems.
fn problems(doc: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    check(doc, schema, value, at, true)
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            resolve(doc, &doc["components"]["schemas"][reference.trim_start_matches("#/components/schemas/")])
        }
        None => schema,
    }
}

/// The properties an object schema names, through `allOf` (and the branches of a flattened
/// `oneOf`, whose own check names the branch's).
fn named<'a>(doc: &'a Value, schema: &'a Value) -> Vec<(&'a String, &'a Value)> {
    let schema = resolve(doc, schema);
    let mut all: Vec<_> = schema["properties"].as_object().into_iter().flatten().collect();
    for combined in ["allOf", "oneOf", "anyOf"] {
        for part in schema[combined].as_array().into_iter().flatten() {
            all.extend(named(doc, part));
        }
    }
    all
}

fn check(doc: &Value, schema: &Value, value: &Value, at: &str, strict: bool) -> Vec<String> {
    let schema = resolve(doc, schema);
    let mut found = Vec::new();
    for branches in ["oneOf", "anyOf"] {
        if let Some(branches) = schema[branches].as_array()
            && !branches.iter().any(|b| check(doc, b, value, at, strict).is_empty())
        {
            found.push(format!("{at}: {value} matches none of {branches:?}"));
        }
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        found.extend(check(doc, part, value, at, false));
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let is = |t: &str| match t {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    };
    if !types.is_empty() && !types.iter().any(|t| is(t)) {
        found.push(format!("{at}: {value} is not {types:?}"));
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        found.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let (Some(items), Some(values)) = (schema.get("items"), value.as_array()) {
        for (i, item) in values.iter().enumerate() {
            found.extend(check(doc, items, item, &format!("{at}[{i}]"), true));
        }
    }
    if let Some(object) = value.as_object() {
        for key in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if !object.contains_key(key) {
                found.push(format!("{at}: `{key}` is required"));
            }
        }
        let properties = named(doc, schema);
        if strict && !properties.is_empty() {
            for key in object.keys() {
                if !properties.iter().any(|(name, _)| *name == key) {
                    found.push(format!("{at}: `{key}` is not documented"));
                }
            }
        }
        for (name, property) in schema["properties"].as_object().into_iter().flatten() {
            if let Some(v) = object.get(name) {
                found.extend(check(doc, property, v, &format!("{at}.{name}"), true));
            }
        }
    }
    found
}

/// Sends `request` and checks its answer against the documented answer for its status.
async fn answered(doc: &Value, path: &str, method: &str, request: reqwest::RequestBuilder) -> Value {
    let r = request.send().await.unwrap();
    let status = r.status().as_u16().to_string();
    let content_type = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let value: Value = r.json().await.unwrap_or(Value::Null);
    let response = &doc["paths"][path][method]["responses"][&status];
    assert!(response.is_object(), "{method} {path} answered {status}, which is not documented: {value}");
    let response = match response["$ref"].as_str() {
        Some(r) => &doc["components"]["responses"][r.trim_start_matches("#/components/responses/")],
        None => response,
    };
    assert!(content_type.starts_with("application/json"), "{method} {path}: {content_type}");
    let schema = &response["content"]["application/json"]["schema"];
    assert!(schema.is_object(), "{method} {path} {status}: no JSON schema documented");
    let found = problems(doc, schema, &value, &format!("{method} {path} {status}"));
    assert!(found.is_empty(), "{}\n{value:#}", found.join("\n"));
    value
}

#[tokio::test]
async fn the_documented_answers_are_the_answers_the_api_gives() {
    let s = server().await;
    s.run_workers();
    let doc = document(&s).await;
    let ws = "/api/v1/ws/{workspace}";
    let p = |rest: &str| format!("{ws}{rest}");

    answered(&doc, "/health", "get", s.client.get(format!("{}/health", s.url))).await;
    answered(&doc, ws, "get", s.get(&s.ws(""))).await;
    answered(&doc, ws, "get", s.client.get(s.ws(""))).await;
    answered(&doc, &p("/reports/{report}"), "get", s.get(&s.ws("/reports/missing"))).await;

    let token = json!({"name": "ci", "role": "viewer"});
    let created = answered(&doc, &p("/tokens"), "post", s.post(&s.ws("/tokens")).json(&token)).await;
    answered(&doc, &p("/tokens"), "get", s.get(&s.ws("/tokens"))).await;
    let id = created["id"].as_str().unwrap();
    answered(&doc, &p("/tokens/{id}"), "delete", s.delete(&s.ws(&format!("/tokens/{id}")))).await;

    let hook = json!({"name": "Hook", "config": {"type": "webhook", "url": "http://127.0.0.1:9/hook",
        "signing_secret": "whsec_0123456789abcdef"}});
    let destination = answered(&doc, &p("/destinations"), "post", s.post(&s.ws("/destinations")).json(&hook)).await;
    answered(&doc, &p("/destinations"), "get", s.get(&s.ws("/destinations"))).await;

    let report = json!({
        "code": "sales", "name": "Sales", "formats": ["pdf", "csv"],
        "parameters": [{"name": "region", "type": "string", "default": "north"}],
        "sources": [{"name": "sales", "type": "inline", "rows": [{"region": "north", "amount": 12.5}]}],
        "sections": [{"type": "table", "source": "sales", "title": "Sales"}],
        "deliveries": [{"destination_id": destination["id"], "subject": "Sales"}],
    });
    answered(&doc, &p("/reports"), "post", s.post(&s.ws("/reports")).json(&report)).await;
    answered(&doc, &p("/reports"), "post", s.post(&s.ws("/reports")).json(&json!({"name": "No code"}))).await;
    answered(&doc, &p("/reports"), "get", s.get(&s.ws("/reports"))).await;
    let preview = json!({"report_id": "sales"});
    answered(&doc, &p("/reports/preview"), "post", s.post(&s.ws("/reports/preview")).json(&preview)).await;

    let schedule = json!({"name": "Mornings", "rule": {"type": "recurrence", "trigger": "weekly",
        "start": "2026-01-05T08:00:00", "allowed_days": ["Mon"]}, "timezone": "Europe/London"});
    answered(
        &doc,
        &p("/reports/{report}/schedules"),
        "post",
        s.post(&s.ws("/reports/sales/schedules")).json(&schedule),
    )
    .await;
    let rule = json!({"rule": {"type": "cron", "expression": "0 8 * * 1"}, "count": 3});
    answered(&doc, &p("/schedules/preview"), "post", s.post(&s.ws("/schedules/preview")).json(&rule)).await;
    answered(&doc, &p("/schedules"), "get", s.get(&s.ws("/schedules"))).await;

    let run = answered(&doc, &p("/reports/{report}/runs"), "post", s.post(&s.ws("/reports/sales/runs"))).await;
    let id = run["id"].as_str().unwrap();
    s.settled_run(id).await;
    let detail = answered(&doc, &p("/runs/{id}"), "get", s.get(&s.ws(&format!("/runs/{id}")))).await;
    assert!(detail["entry_list"]["data"][0]["artifacts"][0]["download_url"].is_string(), "{detail:#}");
    assert!(detail["entry_list"]["data"][0]["deliveries"][0]["id"].is_string(), "{detail:#}");
    answered(&doc, &p("/runs"), "get", s.get(&s.ws("/runs"))).await;
    answered(&doc, &p("/runs/{id}/deliver"), "post", s.post(&s.ws(&format!("/runs/{id}/deliver")))).await;

    let rows = "region,amount\nnorth,1\nsouth,2\n";
    let upload = s.client.put(s.ws("/datasets/regions")).bearer_auth(&s.access.secret);
    answered(&doc, &p("/datasets/{code}"), "put", upload.header("content-type", "text/csv").body(rows)).await;
    answered(&doc, &p("/datasets/{code}"), "get", s.get(&s.ws("/datasets/regions"))).await;
    answered(&doc, &p("/datasets/{code}/rows"), "get", s.get(&s.ws("/datasets/regions/rows?limit=1"))).await;
    answered(&doc, &p("/datasets"), "get", s.get(&s.ws("/datasets?limit=0"))).await;

    let batch = json!([{"customer_id": "c1", "type": "transaction", "amount": 3.5, "channel": "web"}]);
    answered(&doc, &p("/interactions"), "post", s.post(&s.ws("/interactions")).json(&batch)).await;
}
