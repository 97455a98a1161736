//! The OpenAPI document and Swagger UI seen from outside: the served document passes a real
//! OpenAPI validator (`openapi-spec-validator` from the pinned tool venv), documents exactly the
//! methods the router answers on every path, and Swagger UI loads with its assets.

use std::collections::BTreeSet;

use herald_tests::{Backend, TestServer, venv_tool};
use reqwest::{Method, StatusCode};
use serde_json::Value;

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
}
