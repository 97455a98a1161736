//! Temporary files of a workspace (consolidated review documents): their status, with a
//! signed download link once ready, and their content. Expired files are "not found".

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::context::Context;
use crate::domain::{Access, Area, TemporaryFile, TemporaryFileId, TemporaryFileStatus};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::object;
use crate::http::openapi::{ConflictErrors, ReadErrors, WorkspacePath, views};

/// Longest validity of a download link (never past the file's expiry).
const LINK_TTL: Duration = Duration::from_secs(3600);

/// Temporary files are made from runs: reading them takes jobs or runs read access.
async fn find(ctx: &Context, caller: &Caller, id: &str) -> ApiResult<TemporaryFile> {
    caller.require(Area::Jobs, Access::Read).or_else(|_| caller.require(Area::Runs, Access::Read))?;
    let file_id: TemporaryFileId = id.parse().map_err(|_| ApiError::not_found("temporary file"))?;
    Ok(ctx.store.get_temporary_file(caller.workspace.id, file_id, ctx.clock.now()).await?)
}

/// Reads a temporary file: its status (`pending`, `ready`, `failed`), and a signed
/// `download_url` once ready.
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}/temporary-files/{id}",
    operation_id = "get_temporary_file",
    tag = "jobs",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("id" = String, Path, description = "The temporary file's id")),
    responses(
        (status = 200, description = "The file's status", body = views::TemporaryFileView),
        ReadErrors,
    )
)]
pub async fn get(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let file = find(&ctx, &caller, &id).await?;
    let mut v = object("temporary_file", &file);
    if let Some(fields) = v.as_object_mut() {
        fields.remove("key");
    }
    if let (TemporaryFileStatus::Ready, Some(key)) = (file.status, &file.key) {
        let now = ctx.clock.now();
        let left = (file.expires_at - now).to_std().unwrap_or_default();
        let url = ctx.blobs.signed_url(key, LINK_TTL.min(left), now).await.map_err(|e| {
            tracing::error!(error = %e, "cannot sign a temporary file link");
            ApiError::internal()
        })?;
        v["download_url"] = Value::String(url);
    }
    Ok(Json(v))
}

/// Downloads a temporary file once it is ready (`409` before).
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}/temporary-files/{id}/content",
    operation_id = "get_temporary_file_content",
    tag = "jobs",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("id" = String, Path, description = "The temporary file's id")),
    responses(
        (status = 200, description = "The file", content_type = "application/pdf", body = views::FileBody),
        ReadErrors,
        ConflictErrors,
    )
)]
pub async fn content(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let file = find(&ctx, &caller, &id).await?;
    let key = match (file.status, &file.key) {
        (TemporaryFileStatus::Ready, Some(key)) => key,
        (status, _) => {
            return Err(ApiError::conflict(format!("the file is {}, not ready", status.as_str())));
        }
    };
    let bytes = ctx.blobs.get(key).await.map_err(|e| match e {
        crate::blob::BlobError::NotFound(_) => ApiError::not_found("temporary file"),
        other => {
            tracing::error!(error = %other, "temporary file read failed");
            ApiError::internal()
        }
    })?;
    let name = file.file_name.replace('"', "");
    Ok((
        [
            (header::CONTENT_TYPE, file.content_type.clone()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        bytes,
    )
        .into_response())
}
