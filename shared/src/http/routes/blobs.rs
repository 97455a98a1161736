//! Downloads through signed links of the local (filesystem) blob store. S3 links go to S3.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::context::Context;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::ApiQuery;
use crate::http::openapi::{LinkErrors, views};

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

/// Downloads a stored file through a signed link (local file storage; S3 links go to S3).
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
        LinkErrors,
    )
)]
pub async fn download(
    State(ctx): State<Arc<Context>>,
    Path(key): Path<String>,
    ApiQuery(sig): ApiQuery<Signature>,
) -> ApiResult<Response> {
    let local = ctx.local_blobs.as_ref().ok_or_else(|| ApiError::not_found("file"))?;
    if !local.verify(&key, sig.expires, &sig.signature, ctx.clock.now()) {
        return Err(ApiError::not_found("file"));
    }
    let bytes = ctx.blobs.get(&key).await.map_err(|e| match e {
        crate::blob::BlobError::NotFound(_) | crate::blob::BlobError::InvalidKey(_) => ApiError::not_found("file"),
        other => {
            tracing::error!(error = %other, "blob read failed");
            ApiError::internal()
        }
    })?;
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
