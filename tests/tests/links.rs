//! Download links when the files live in S3: with a signing key they are Herald's own links to
//! `/blobs/…`, which send the download on to a fresh, short-lived presigned URL, so a link in an
//! email works for as long as it says rather than as long as the credentials of the function
//! that wrote it; a tampered link finds nothing.

use herald_core::testing::{emulator, unique_name};
use herald_tests::{Backend, TestServer};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_file_link_is_heralds_own_and_sends_the_download_on_to_a_fresh_presigned_url() {
    let Some(sdk) = emulator().await else { return };
    let bucket = unique_name("herald-links").replace('_', "-").to_lowercase();
    aws_sdk_s3::Client::new(&sdk).create_bucket().bucket(&bucket).send().await.unwrap();
    let blobs = format!("s3:{bucket}");
    let key = "k".repeat(40);
    let extra = [("HERALD_BLOBS", blobs.as_str()), ("HERALD_SIGNING_KEY", key.as_str())];
    let s = TestServer::start_with(Backend::Sqlite, None, &extra).await.expect("server");
    s.run_workers();

    let report = json!({
        "code": "numbers", "name": "Numbers", "formats": ["csv"],
        "sources": [{"name": "rows", "type": "inline", "rows": [{"n": 1}, {"n": 2}]}],
        "sections": [{"type": "table", "title": "Rows", "source": "rows"}]
    });
    let created = s.post(&s.ws("/reports")).json(&report).send().await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let started: Value = s.post(&s.ws("/reports/numbers/runs")).send().await.unwrap().json().await.unwrap();
    let run = s.settled_run(started["id"].as_str().unwrap()).await;
    let artifact = &run["entry_list"]["data"][0]["artifacts"][0];
    let link = artifact["download_url"].as_str().unwrap();
    assert!(link.starts_with(&format!("{}/blobs/", s.url)), "{link}");

    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let answer = no_redirects.get(link).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::TEMPORARY_REDIRECT);
    let direct = answer.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(direct.contains("X-Amz-Signature=") && direct.contains("X-Amz-Expires=300"), "{direct}");

    let bytes = reqwest::get(link).await.unwrap().bytes().await.unwrap();
    let stored = aws_sdk_s3::Client::new(&sdk)
        .get_object()
        .bucket(&bucket)
        .key(artifact["key"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(bytes, stored);
    assert!(String::from_utf8_lossy(&bytes).contains('2'));

    let tampered = link.replace("signature=", "signature=0");
    assert_eq!(no_redirects.get(&tampered).send().await.unwrap().status(), StatusCode::NOT_FOUND);
}
