//! The web console as the server hands it out: the app at `/console` (and `/` redirecting
//! there), its files with a content security policy, gzipped for browsers that take it, and an
//! `ETag` that answers 304, nothing outside its own files, a folder override for working on it,
//! and the session endpoint it signs in with.

use herald_tests::{Backend, TestServer};
use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION, VARY,
};
use serde_json::Value;

async fn server() -> TestServer {
    TestServer::start(Backend::Sqlite).await.expect("server")
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

#[tokio::test]
async fn the_console_page_loads_its_own_scripts_under_a_strict_policy() {
    let s = server().await;
    let r = s.client.get(format!("{}/console", s.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    let csp = r.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap().to_string();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let html = r.text().await.unwrap();
    for asset in ["/console/app.css", "/console/app.js"] {
        assert!(html.contains(asset), "index.html names {asset}");
        let file = s.client.get(format!("{}{asset}", s.url)).send().await.unwrap();
        assert_eq!(file.status(), StatusCode::OK, "{asset}");
        assert!(!file.bytes().await.unwrap().is_empty());
    }
    let script = s.client.get(format!("{}/console/pages/runs.js", s.url)).send().await.unwrap();
    assert_eq!(script.headers()[CONTENT_TYPE], "text/javascript; charset=utf-8");
}

#[tokio::test]
async fn the_root_redirects_to_the_console() {
    let s = server().await;
    let r = no_redirects().get(format!("{}/", s.url)).send().await.unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    assert_eq!(r.headers()[LOCATION], "/console");
}

#[tokio::test]
async fn an_unchanged_file_answers_not_modified_to_its_etag() {
    let s = server().await;
    let url = format!("{}/console/app.js", s.url);
    let first = s.client.get(&url).send().await.unwrap();
    let tag = first.headers()[ETAG].clone();
    let again = s.client.get(&url).header(IF_NONE_MATCH, tag.clone()).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(again.bytes().await.unwrap().is_empty());
    let stale = s.client.get(&url).header(IF_NONE_MATCH, "\"stale\"").send().await.unwrap();
    assert_eq!(stale.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_browser_that_takes_gzip_gets_the_files_gzipped_under_their_own_tag() {
    let s = server().await;
    let url = format!("{}/console/pages/editor.js", s.url);
    let plain = s.client.get(&url).header(ACCEPT_ENCODING, "identity").send().await.unwrap();
    assert!(plain.headers().get(CONTENT_ENCODING).is_none());
    assert_eq!(plain.headers()[VARY], "accept-encoding");
    let plain_tag = plain.headers()[ETAG].clone();
    let plain_len = plain.bytes().await.unwrap().len();

    let zipped = s.client.get(&url).header(ACCEPT_ENCODING, "gzip, deflate, br").send().await.unwrap();
    assert_eq!(zipped.headers()[CONTENT_ENCODING], "gzip");
    let tag = zipped.headers()[ETAG].clone();
    assert_ne!(tag, plain_tag);
    let bytes = zipped.bytes().await.unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip magic");
    assert!(bytes.len() * 2 < plain_len, "{} of {plain_len} bytes", bytes.len());

    let again = s.client.get(&url).header(ACCEPT_ENCODING, "gzip").header(IF_NONE_MATCH, tag).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(again.headers().get(CONTENT_ENCODING).is_none());
}

#[tokio::test]
async fn files_the_console_does_not_have_are_not_found_with_the_envelope() {
    let s = server().await;
    for path in ["/console/nope.js", "/console/pages/..%2F..%2FCargo.toml", "/console/.env", "/console/app.rs"] {
        let r = s.client.get(format!("{}{path}", s.url)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
}

#[tokio::test]
async fn a_console_folder_replaces_the_built_in_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<!doctype html><title>edited</title>").unwrap();
    let folder = dir.path().display().to_string();
    let s = TestServer::start_with(Backend::Sqlite, None, &[("HERALD_CONSOLE_DIR", &folder)]).await.expect("server");
    let r = s.client.get(format!("{}/console", s.url)).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "<!doctype html><title>edited</title>");
    let missing = s.client.get(format!("{}/console/app.js", s.url)).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_session_names_the_token_and_its_workspace_but_never_the_secret() {
    let s = server().await;
    let r = s.get(&format!("{}/api/v1/session", s.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["object"], "session");
    assert_eq!(body["workspace"]["id"], s.access.workspace.id.to_string());
    assert_eq!(body["token"]["role"], "admin");
    let text = body.to_string();
    assert!(!text.contains(&s.access.secret) && !text.contains("\"hash\""), "{text}");

    let anonymous = s.client.get(format!("{}/api/v1/session", s.url)).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}
