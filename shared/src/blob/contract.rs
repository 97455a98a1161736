//! The contract every [`Blobs`] adapter must meet, as one suite of async checks run against each
//! adapter by the `contract_tests!` macro in `blob/mod.rs` (`blob::tests::fs::…`,
//! `blob::tests::s3::…`). Each check gets a fresh, empty store plus the [`Env`] of its adapter.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use sha2::{Digest, Sha256};
use tempfile::TempDir;

use super::{BlobError, Blobs, FsBlobs, S3Blobs};

/// A fresh store and what the checks need to know about it.
pub(super) struct Setup {
    pub blobs: Box<dyn Blobs>,
    pub env: Env,
}

/// Adapter-specific facts for the checks.
pub(super) struct Env {
    /// Scratch space for generated source files (outside the store).
    scratch: TempDir,
    /// A directory that must not change when writes are rejected (the fs store's parent, which
    /// `../x` would reach), if the adapter has one.
    watched: Option<PathBuf>,
    /// How to check that a signed URL downloads the object.
    urls: UrlCheck,
}

enum UrlCheck {
    /// No HTTP server here: check the URL's parameters with `FsBlobs::verify` (as the HTTP
    /// layer does), then read the object the route would serve.
    Verify { blobs: FsBlobs, base: String },
    /// Download the URL over HTTP.
    Fetch,
}

/// A filesystem store in a new temporary directory.
pub(super) async fn fs_setup() -> Option<Setup> {
    let dir = tempfile::tempdir().unwrap();
    let base = "http://127.0.0.1:8080".to_owned();
    let blobs = FsBlobs::new(dir.path().join("store"), base.clone(), b"contract-key".to_vec());
    Some(Setup {
        blobs: Box::new(blobs.clone()),
        env: Env { watched: Some(dir.path().to_owned()), scratch: dir, urls: UrlCheck::Verify { blobs, base } },
    })
}

/// An S3 store in a new bucket of the local emulator (`None` if AWS tests are skipped). Lists
/// two keys per page so that listing exercises pagination.
pub(super) async fn s3_setup() -> Option<Setup> {
    let config = crate::testing::emulator().await?;
    let client = crate::aws::s3_client(&config);
    let bucket = crate::testing::unique_name("herald-blobs").to_lowercase();
    let mut create = client.create_bucket().bucket(&bucket);
    if let Some(region) = config.region().map(|r| r.as_ref().to_owned())
        && region != "us-east-1"
    {
        create = create.create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(region.as_str()))
                .build(),
        );
    }
    create.send().await.unwrap();
    Some(Setup {
        blobs: Box::new(S3Blobs::new(client, bucket).with_list_page_size(2)),
        env: Env { scratch: tempfile::tempdir().unwrap(), watched: None, urls: UrlCheck::Fetch },
    })
}

/// Deterministic, incompressible-looking test content.
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[3]
        })
        .collect()
}

fn sha256_of(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Every path under `dir`, relative to it.
fn tree(dir: &Path) -> BTreeSet<PathBuf> {
    fn visit(base: &Path, dir: &Path, found: &mut BTreeSet<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            found.insert(path.strip_prefix(base).unwrap().to_owned());
            if path.is_dir() {
                visit(base, &path, found);
            }
        }
    }
    let mut found = BTreeSet::new();
    visit(dir, dir, &mut found);
    found
}

pub(super) async fn round_trips_bytes_with_size_and_sha256(blobs: &dyn Blobs, _env: &Env) {
    let body = pseudo_random(100_000, 1);
    let meta = blobs.put("ws/run-1/report.pdf", Bytes::from(body.clone()), "application/pdf").await.unwrap();
    assert_eq!(meta.size, 100_000);
    assert_eq!(meta.sha256, sha256_of(&body));
    assert_eq!(blobs.get("ws/run-1/report.pdf").await.unwrap(), body);
}

pub(super) async fn round_trips_an_empty_object(blobs: &dyn Blobs, _env: &Env) {
    let meta = blobs.put("empty.csv", Bytes::new(), "text/csv").await.unwrap();
    assert_eq!(meta.size, 0);
    assert_eq!(meta.sha256, sha256_of(b""));
    assert_eq!(blobs.get("empty.csv").await.unwrap(), Bytes::new());
}

pub(super) async fn overwriting_a_key_replaces_its_content(blobs: &dyn Blobs, _env: &Env) {
    blobs.put("a/b.md", Bytes::from_static(b"first version, longer"), "text/markdown").await.unwrap();
    let meta = blobs.put("a/b.md", Bytes::from_static(b"second"), "text/markdown").await.unwrap();
    assert_eq!(meta.size, 6);
    assert_eq!(meta.sha256, sha256_of(b"second"));
    assert_eq!(blobs.get("a/b.md").await.unwrap(), Bytes::from_static(b"second"));
    assert_eq!(blobs.list("").await.unwrap(), ["a/b.md"]);
}

pub(super) async fn getting_a_missing_key_is_not_found(blobs: &dyn Blobs, _env: &Env) {
    blobs.put("present/x.txt", Bytes::from_static(b"x"), "text/plain").await.unwrap();
    for key in ["missing.txt", "present/y.txt", "present", "present/x.txt/deeper"] {
        match blobs.get(key).await {
            Err(BlobError::NotFound(k)) => assert_eq!(k, key),
            other => panic!("get {key}: expected NotFound, got {other:?}"),
        }
    }
}

pub(super) async fn deleting_a_key_removes_it(blobs: &dyn Blobs, _env: &Env) {
    blobs.put("d/one.txt", Bytes::from_static(b"1"), "text/plain").await.unwrap();
    blobs.put("d/two.txt", Bytes::from_static(b"2"), "text/plain").await.unwrap();
    blobs.delete("d/one.txt").await.unwrap();
    assert!(matches!(blobs.get("d/one.txt").await, Err(BlobError::NotFound(_))));
    assert_eq!(blobs.get("d/two.txt").await.unwrap(), Bytes::from_static(b"2"));
    assert_eq!(blobs.list("").await.unwrap(), ["d/two.txt"]);
}

pub(super) async fn deleting_a_missing_key_succeeds(blobs: &dyn Blobs, _env: &Env) {
    blobs.delete("never/stored.pdf").await.unwrap();
    blobs.put("twice.pdf", Bytes::from_static(b"%PDF"), "application/pdf").await.unwrap();
    blobs.delete("twice.pdf").await.unwrap();
    blobs.delete("twice.pdf").await.unwrap();
    assert_eq!(blobs.list("").await.unwrap(), Vec::<String>::new());
}

pub(super) async fn invalid_keys_are_rejected_and_nothing_is_written(blobs: &dyn Blobs, env: &Env) {
    let source = env.scratch.path().join("source.txt");
    std::fs::write(&source, b"payload").unwrap();
    let before = env.watched.as_deref().map(tree);
    let now = Utc::now();
    for key in ["../x", "/abs", "a//b", "a/../b", "", "a/", "./x", "a b", "a/~tmp"] {
        let results = [
            blobs.put(key, Bytes::from_static(b"payload"), "text/plain").await.map(drop),
            blobs.put_file(key, &source, "text/plain").await.map(drop),
            blobs.get(key).await.map(drop),
            blobs.delete(key).await,
            blobs.signed_url(key, Duration::from_secs(60), now).await.map(drop),
        ];
        for (operation, result) in ["put", "put_file", "get", "delete", "signed_url"].iter().zip(results) {
            match result {
                Err(BlobError::InvalidKey(k)) => assert_eq!(k, key),
                other => panic!("{operation} {key:?}: expected InvalidKey, got {other:?}"),
            }
        }
    }
    assert_eq!(blobs.list("").await.unwrap(), Vec::<String>::new());
    assert_eq!(env.watched.as_deref().map(tree), before, "files appeared on disk");
}

pub(super) async fn put_file_round_trips_a_small_file(blobs: &dyn Blobs, env: &Env) {
    let body = pseudo_random(300_000, 2);
    let path = env.scratch.path().join("small.csv");
    std::fs::write(&path, &body).unwrap();
    let meta = blobs.put_file("exports/small.csv", &path, "text/csv").await.unwrap();
    assert_eq!(meta.size, body.len() as u64);
    assert_eq!(meta.sha256, sha256_of(&body));
    assert_eq!(blobs.get("exports/small.csv").await.unwrap(), body);
}

pub(super) async fn put_file_streams_a_large_file_with_the_right_sha256(blobs: &dyn Blobs, env: &Env) {
    // 20 MiB and a bit: two full 8 MiB parts and a partial third one on S3.
    let len = 20 * 1024 * 1024 + 12_345;
    let body = pseudo_random(len, 3);
    let path = env.scratch.path().join("large.bin");
    std::fs::write(&path, &body).unwrap();
    let meta = blobs.put_file("exports/large.bin", &path, "application/octet-stream").await.unwrap();
    assert_eq!(meta.size, len as u64);
    assert_eq!(meta.sha256, sha256_of(&body));
    let stored = blobs.get("exports/large.bin").await.unwrap();
    assert_eq!(stored.len(), len);
    assert_eq!(sha256_of(&stored), sha256_of(&body));
}

pub(super) async fn list_returns_sorted_keys_under_a_prefix_only(blobs: &dyn Blobs, _env: &Env) {
    let keys = [
        "reports/b.pdf",
        "reports/a/x.csv",
        "reports/a.csv",
        "reports/date=2024-05-01/z.md",
        "reportsx/y.pdf",
        "other/reports/c.pdf",
        "rep.txt",
    ];
    for key in keys {
        blobs.put(key, Bytes::from(key.as_bytes().to_vec()), "text/plain").await.unwrap();
    }
    let mut all: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    all.sort();
    assert_eq!(blobs.list("").await.unwrap(), all);
    assert_eq!(
        blobs.list("reports/").await.unwrap(),
        ["reports/a.csv", "reports/a/x.csv", "reports/b.pdf", "reports/date=2024-05-01/z.md"]
    );
    // A prefix may end in the middle of a segment.
    assert_eq!(blobs.list("reports/a").await.unwrap(), ["reports/a.csv", "reports/a/x.csv"]);
    assert_eq!(
        blobs.list("rep").await.unwrap(),
        [
            "rep.txt",
            "reports/a.csv",
            "reports/a/x.csv",
            "reports/b.pdf",
            "reports/date=2024-05-01/z.md",
            "reportsx/y.pdf"
        ]
    );
    assert_eq!(blobs.list("reports/a/").await.unwrap(), ["reports/a/x.csv"]);
    assert_eq!(blobs.list("nothing/").await.unwrap(), Vec::<String>::new());
    assert_eq!(blobs.list("../").await.unwrap(), Vec::<String>::new());
}

pub(super) async fn signed_url_downloads_the_exact_bytes(blobs: &dyn Blobs, env: &Env) {
    let key = "signed/report=1.pdf";
    let body = pseudo_random(50_000, 4);
    blobs.put(key, Bytes::from(body.clone()), "application/pdf").await.unwrap();
    let now = Utc::now();
    let ttl = Duration::from_secs(600);
    let url = blobs.signed_url(key, ttl, now).await.unwrap();
    let parsed = reqwest::Url::parse(&url).unwrap();
    let param = |name: &str| {
        parsed
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no `{name}` in {url}"))
    };
    match &env.urls {
        UrlCheck::Verify { blobs: fs, base } => {
            assert!(url.starts_with(&format!("{base}/blobs/{key}?")), "{url}");
            let expires: i64 = param("expires").parse().unwrap();
            let signature = param("signature");
            assert_eq!(expires, now.timestamp() + 600);
            assert!(fs.links().verify(key, expires, &signature, now));
            assert!(fs.links().verify(key, expires, &signature, now + chrono::Duration::seconds(599)));

            let mut tampered = signature.clone().into_bytes();
            tampered[0] = if tampered[0] == b'0' { b'1' } else { b'0' };
            let tampered = String::from_utf8(tampered).unwrap();
            assert!(!fs.links().verify(key, expires, &tampered, now), "tampered signature accepted");
            assert!(!fs.links().verify(key, expires, "not hex", now));
            assert!(!fs.links().verify(key, expires, "", now));
            assert!(!fs.links().verify(key, expires + 3600, &signature, now), "extended expiry accepted");
            assert!(!fs.links().verify("signed/other.pdf", expires, &signature, now), "other key accepted");
            let at_expiry = now + chrono::Duration::seconds(600);
            assert!(!fs.links().verify(key, expires, &signature, at_expiry), "expired URL accepted");

            // What the `/blobs/{key}` route serves once the URL is verified.
            assert_eq!(blobs.get(key).await.unwrap(), body);
        }
        UrlCheck::Fetch => {
            // The emulator checks neither signature nor expiry, so check what was signed.
            assert_eq!(param("X-Amz-Expires"), "600");
            assert_eq!(param("X-Amz-Date"), now.format("%Y%m%dT%H%M%SZ").to_string());
            let response = reqwest::get(&url).await.unwrap();
            assert!(response.status().is_success(), "{}", response.status());
            assert_eq!(response.bytes().await.unwrap(), body);
        }
    }
    // Where the storage has URLs of its own (S3), a verified download is sent there.
    match (blobs.direct_url(key, ttl, now).await.unwrap(), &env.urls) {
        (None, UrlCheck::Verify { .. }) => {}
        (Some(direct), UrlCheck::Fetch) => {
            assert_eq!(reqwest::get(&direct).await.unwrap().bytes().await.unwrap(), body);
        }
        (direct, _) => panic!("unexpected direct URL {direct:?}"),
    }
}
