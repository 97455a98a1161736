//! Downloads through Herald's own signed links: the local file store's, and S3's when a signing
//! key is configured (then the download is sent on to a fresh, short-lived presigned S3 URL, so a
//! link in an email works for as long as it says, not as long as the credentials that made it).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::blob::BlobError;
use crate::context::Context;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::ApiQuery;
use crate::http::openapi::{LinkErrors, views};

/// How long the storage's own URL a download is sent on to stays valid.
const DIRECT_TTL: std::time::Duration = std::time::Duration::from_secs(300);

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Signature {
    /// When the link stops working (Unix seconds).
    pub expires: i64,
    /// The link's signature.
    pub signature: String,
}

/// The content type for a file name.
pub fn content_type(key: &str) -> &'static str {
    match key.rsplit('.').next().map(str::to_ascii_lowercase).as_deref() {
        Some("pdf") => "application/pdf",
        Some("csv") => "text/csv; charset=utf-8",
        Some("md") => "text/markdown; charset=utf-8",
        Some("html") => "text/html; charset=utf-8",
        Some("json") => "application/json",
        Some("ndjson") => "application/x-ndjson",
        _ => "application/octet-stream",
    }
}

/// Downloads a stored file through a signed link.
#[utoipa::path(
    get,
    path = "/blobs/{*key}",
    operation_id = "download_file",
    tag = "system",
    security(()),
    params(("key" = String, Path, description = "The stored file's key"), Signature),
    responses(
        (
            status = 200,
            description = "The file; its Content-Type follows its name (PDF, CSV, Markdown, HTML, JSON)",
            body = views::FileBody,
            content_type = "application/octet-stream"
        ),
        (status = 307, description = "Sent on to the storage's own short-lived URL (S3)"),
        LinkErrors,
    )
)]
pub async fn download(
    State(ctx): State<Arc<Context>>,
    Path(key): Path<String>,
    ApiQuery(sig): ApiQuery<Signature>,
) -> ApiResult<Response> {
    let now = ctx.clock.now();
    let links = ctx.links.as_ref().ok_or_else(|| ApiError::not_found("file"))?;
    if !links.verify(&key, sig.expires, &sig.signature, now) {
        return Err(ApiError::not_found("file"));
    }
    let failed = |e: BlobError| match e {
        BlobError::NotFound(_) | BlobError::InvalidKey(_) => ApiError::not_found("file"),
        other => {
            tracing::error!(error = %other, "blob read failed");
            ApiError::internal()
        }
    };
    if let Some(direct) = ctx.blobs.direct_url(&key, DIRECT_TTL, now).await.map_err(failed)? {
        return Ok(Redirect::temporary(&direct).into_response());
    }
    let bytes = ctx.blobs.get(&key).await.map_err(failed)?;
    let name = key.rsplit('/').next().unwrap_or("download").replace('"', "");
    Ok((
        [
            (header::CONTENT_TYPE, content_type(&key).to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        bytes,
    )
        .into_response())
}
