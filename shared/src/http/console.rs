//! The web console: a single-page app at `/console`, its files built into the binary (no CDN,
//! no build step), served gzipped to browsers that take it, with an `ETag` and a strict content
//! security policy. It talks to the
//! API with the personal access token the user signs in with; pages live in the URL fragment,
//! so the server only ever answers `index.html` and the files it names.
//!
//! `HERALD_CONSOLE_DIR` serves the files from a folder instead, to work on the console without
//! rebuilding.

use std::io::Write;
use std::path::Path as FsPath;
use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

use crate::context::Context;
use crate::http::routes::system;

/// One file of the console.
struct Asset {
    path: &'static str,
    body: &'static [u8],
}

macro_rules! assets {
    ($($path:literal),* $(,)?) => {
        &[$(Asset { path: $path, body: include_bytes!(concat!("../../console/", $path)) }),*]
    };
}

/// Every file of the console (a test checks that this list and the folder agree).
static ASSETS: &[Asset] = assets!(
    "index.html",
    "app.css",
    "app.js",
    "api.js",
    "ui.js",
    "dates.js",
    "preview.js",
    "pages/dashboards.js",
    "pages/reports.js",
    "pages/run-now.js",
    "pages/editor.js",
    "pages/schedule.js",
    "pages/runs.js",
    "pages/alerts.js",
    "pages/destinations.js",
    "pages/connections.js",
    "pages/tokens.js",
    "pages/settings.js",
);

/// What each built-in file is served as: its tag, and its gzipped bytes when that is smaller.
struct Prepared {
    etag: String,
    gzip: Option<Bytes>,
}

static PREPARED: LazyLock<Vec<Prepared>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| Prepared {
            etag: etag(a.body),
            gzip: gzip(a.body).filter(|z| z.len() < a.body.len()).map(Bytes::from),
        })
        .collect()
});

/// One representation of a file: its bytes, tag and content encoding.
struct Representation {
    body: Bytes,
    etag: String,
    gzipped: bool,
}

/// Scripts, styles, data and frames only from Herald itself; rendered PDFs and HTML open in
/// frames from the same origin or from `blob:` URLs.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; frame-src 'self' blob:; object-src 'self' blob:; connect-src 'self'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// `/` and `/console` answer the app; `/console/{file}` its files.
pub fn routes() -> Router<Arc<Context>> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .route("/console", get(index))
        .route("/console/", get(index))
        .route("/console/{*path}", get(file))
}

async fn index(State(ctx): State<Arc<Context>>, headers: HeaderMap) -> Response {
    serve(&ctx, "index.html", &headers).await
}

async fn file(State(ctx): State<Arc<Context>>, Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&ctx, &path, &headers).await
}

async fn serve(ctx: &Context, path: &str, headers: &HeaderMap) -> Response {
    let Some(content_type) = content_type(path) else {
        return system::not_found().await.into_response();
    };
    let found = match &ctx.config.console_dir {
        Some(dir) => from_folder(dir, path).await.map(|body| Representation {
            etag: etag(&body),
            body: body.into(),
            gzipped: false,
        }),
        None => ASSETS.iter().position(|a| a.path == path).map(|i| built_in(i, accepts_gzip(headers))),
    };
    let Some(file) = found else {
        return system::not_found().await.into_response();
    };
    let fresh = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v == file.etag);
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type)], file.body).into_response()
    };
    let h = response.headers_mut();
    if let Ok(tag) = HeaderValue::from_str(&file.etag) {
        h.insert(header::ETAG, tag);
    }
    if file.gzipped && !fresh {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// The media type of a console file, or `None` for a name the console never uses (which also
/// keeps `..` and other path tricks out of the folder mode).
fn content_type(path: &str) -> Option<&'static str> {
    let plain = !path.is_empty()
        && path.split('/').all(|part| {
            !part.is_empty()
                && !part.starts_with('.')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        });
    if !plain {
        return None;
    }
    match path.rsplit_once('.')?.1 {
        "html" => Some("text/html; charset=utf-8"),
        "css" => Some("text/css; charset=utf-8"),
        "js" => Some("text/javascript; charset=utf-8"),
        "svg" => Some("image/svg+xml"),
        _ => None,
    }
}

/// Built-in file `i`, gzipped when the browser takes gzip and that is smaller.
fn built_in(i: usize, gzip_ok: bool) -> Representation {
    let prepared = &PREPARED[i];
    match &prepared.gzip {
        Some(zipped) if gzip_ok => {
            let tag = prepared.etag.trim_end_matches('"');
            Representation { body: zipped.clone(), etag: format!("{tag}-gz\""), gzipped: true }
        }
        _ => Representation { body: Bytes::from_static(ASSETS[i].body), etag: prepared.etag.clone(), gzipped: false },
    }
}

/// Whether `Accept-Encoding` lists gzip (or `*`) without refusing it with a zero weight.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let items =
        headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','));
    items.into_iter().any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or_default();
        let weight = parts.find_map(|p| p.strip_prefix("q=")).and_then(|q| q.trim().parse::<f32>().ok()).unwrap_or(1.0);
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && weight > 0.0
    })
}

fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 3), Compression::best());
    encoder.write_all(body).ok()?;
    encoder.finish().ok()
}

async fn from_folder(dir: &FsPath, path: &str) -> Option<Vec<u8>> {
    tokio::fs::read(dir.join(path)).await.ok()
}

fn etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files_under(dir: &FsPath, prefix: &str, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("console folder") {
            let entry = entry.expect("entry");
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            if entry.path().is_dir() {
                files_under(&entry.path(), &format!("{name}/"), out);
            } else {
                out.push(name);
            }
        }
    }

    #[test]
    fn every_file_in_the_console_folder_is_built_in_and_servable() {
        let mut on_disk = Vec::new();
        files_under(&FsPath::new(env!("CARGO_MANIFEST_DIR")).join("console"), "", &mut on_disk);
        on_disk.sort();
        let mut built_in: Vec<String> = ASSETS.iter().map(|a| a.path.to_string()).collect();
        built_in.sort();
        assert_eq!(on_disk, built_in);
        assert!(built_in.iter().all(|p| content_type(p).is_some()), "an unservable file: {built_in:?}");
    }

    fn with_accept_encoding(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn gzip_is_used_only_when_the_browser_takes_it() {
        for (value, expected) in [
            ("gzip, deflate, br", true),
            ("br;q=1.0, gzip;q=0.8", true),
            ("*", true),
            ("identity", false),
            ("gzip;q=0", false),
            ("gzip; q=0.000", false),
            ("deflate", false),
        ] {
            assert_eq!(accepts_gzip(&with_accept_encoding(value)), expected, "{value}");
        }
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn every_built_in_file_gzips_to_its_own_bytes_under_its_own_tag() {
        use std::io::Read;
        for (i, asset) in ASSETS.iter().enumerate() {
            let zipped = built_in(i, true);
            assert!(zipped.gzipped, "{} should shrink", asset.path);
            assert_ne!(zipped.etag, built_in(i, false).etag);
            let mut unzipped = Vec::new();
            flate2::read::GzDecoder::new(&zipped.body[..]).read_to_end(&mut unzipped).unwrap();
            assert_eq!(unzipped, asset.body, "{}", asset.path);
        }
    }

    #[test]
    fn paths_that_climb_or_hide_are_never_served() {
        for path in ["../Cargo.toml", "pages/../../x.js", ".env", "pages/.x.js", "a//b.js", "", "x.rs", "a\\b.js"] {
            assert_eq!(content_type(path), None, "{path}");
        }
        assert_eq!(content_type("pages/runs.js"), Some("text/javascript; charset=utf-8"));
    }
}
