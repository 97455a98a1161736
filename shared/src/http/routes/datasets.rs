//! Datasets of a workspace: `PUT /datasets/{code}` creates or replaces one from a CSV
//! (`text/csv`, header row) or JSON (`application/json`, array of objects) upload; list, read
//! the metadata, page through the rows, delete.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use serde_json::{Value, json};

use super::interactions::{body_rejection, media_type, unsupported_media_type};
use crate::context::Context;
use crate::domain::{Access, Area, Code, Dataset, DatasetFormat};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, ApiResult, ErrorCode};
use crate::http::extract::{ApiQuery, PageParams, list};
use crate::http::openapi::{ConflictErrors, ReadErrors, WorkspacePath, WriteErrors, views};
use crate::source::dataset::{self, DatasetError, Upload};

/// Rows per page when the caller does not say.
const DEFAULT_ROWS_PAGE: usize = 100;

pub fn view(d: &Dataset) -> Value {
    json!({
        "object": "dataset",
        "code": d.code,
        "row_count": d.row_count,
        "columns": d.columns,
        "format": d.format,
        "size_bytes": d.size_bytes,
        "sha256": d.sha256,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
        "version": d.version,
    })
}

impl From<DatasetError> for ApiError {
    fn from(e: DatasetError) -> Self {
        match e {
            DatasetError::Invalid(errors) => errors.into(),
            DatasetError::TooLarge => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::ValidationError, e.to_string())
            }
            DatasetError::Store(store) => store.into(),
            DatasetError::Blob(_) | DatasetError::Corrupt { .. } => {
                tracing::error!(error = %e, "dataset storage failure");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::ServiceUnavailable,
                    "Service temporarily unavailable, please retry",
                )
            }
        }
    }
}

/// A dataset code from the path; one that cannot be a code names no dataset.
fn existing_code(raw: &str) -> Result<Code, ApiError> {
    Code::parse(raw).map_err(|_| ApiError::not_found("dataset"))
}

/// Create or replace a dataset.
///
/// Creates or replaces a dataset from a CSV (with a header row) or a JSON array of objects.
#[utoipa::path(
    put,
    path = "/api/v1/ws/{workspace}/datasets/{code}",
    operation_id = "put_dataset",
    tag = "datasets",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("code" = crate::domain::Code, Path, description = "The dataset's code")),
    request_body(
        description = "The rows: CSV with a header row, or a JSON array of objects",
        content((String = "text/csv"), (Vec<Object> = "application/json"))
    ),
    responses(
        (status = 201, description = "The dataset, created", body = views::DatasetView),
        (status = 200, description = "The dataset, replaced", body = views::DatasetView),
        WriteErrors,
        ConflictErrors,
    )
)]
pub async fn put(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, code)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(Area::Datasets, Access::Write)?;
    let code = Code::parse(&code).map_err(|message| ApiError::invalid("code", message))?;
    let body = body.map_err(body_rejection)?;
    let format = match media_type(&headers).as_str() {
        "text/csv" | "application/csv" => DatasetFormat::Csv,
        "application/json" => DatasetFormat::Json,
        _ => return Err(unsupported_media_type("text/csv or application/json")),
    };
    let rows = match format {
        DatasetFormat::Csv => dataset::parse_csv(&body)?,
        DatasetFormat::Json => dataset::parse_json(&body)?,
    };
    let upload = Upload { rows, format, body };
    let (saved, created) =
        dataset::save(&ctx.store, &*ctx.blobs, caller.workspace.id, &code, upload, ctx.clock.now()).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(view(&saved))))
}

/// Lists the datasets of the workspace.
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}/datasets",
    operation_id = "list_datasets",
    tag = "datasets",
    security(("personal_access_token" = [])),
    params(WorkspacePath, PageParams),
    responses(
        (status = 200, description = "A page of datasets", body = views::List<views::DatasetView>),
        ReadErrors,
    )
)]
pub async fn list_datasets(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Datasets, Access::Read)?;
    let listing = ctx.store.list_datasets(caller.workspace.id, &params.page()?).await?;
    Ok(Json(list(listing, view)))
}

/// Reads a dataset's metadata.
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}/datasets/{code}",
    operation_id = "get_dataset",
    tag = "datasets",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("code" = crate::domain::Code, Path, description = "The dataset's code")),
    responses(
        (status = 200, description = "The dataset's metadata", body = views::DatasetView),
        ReadErrors,
    )
)]
pub async fn get(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, code)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Datasets, Access::Read)?;
    let code = existing_code(&code)?;
    Ok(Json(view(&ctx.store.get_dataset(caller.workspace.id, &code).await?)))
}

/// A position in one version of a dataset's rows.
fn encode_cursor(version: u64, offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("{version}:{offset}"))
}

fn decode_cursor(cursor: &str, version: u64) -> Result<usize, ApiError> {
    let invalid = || ApiError::invalid("cursor", "is not a cursor of this listing");
    let text = URL_SAFE_NO_PAD.decode(cursor).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(invalid)?;
    let (v, offset) = text.split_once(':').ok_or_else(invalid)?;
    let (v, offset) = (v.parse::<u64>().map_err(|_| invalid())?, offset.parse::<usize>().map_err(|_| invalid())?);
    if v != version {
        return Err(ApiError::invalid("cursor", "the dataset was replaced since this cursor was issued; start again"));
    }
    Ok(offset)
}

/// A page of rows, each as an object keyed by column name.
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}/datasets/{code}/rows",
    operation_id = "list_dataset_rows",
    tag = "datasets",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("code" = crate::domain::Code, Path, description = "The dataset's code"), PageParams),
    responses(
        (status = 200, description = "A page of rows", body = views::DatasetRows),
        ReadErrors,
    )
)]
pub async fn rows(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, code)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Datasets, Access::Read)?;
    let page = params.page()?;
    let code = existing_code(&code)?;
    let meta = ctx.store.get_dataset(caller.workspace.id, &code).await?;
    let offset = page.cursor.as_deref().map(|c| decode_cursor(c, meta.version)).transpose()?.unwrap_or(0);
    let rows = dataset::load(&*ctx.blobs, &meta).await?;
    let end = rows.len().min(offset.saturating_add(page.limit.unwrap_or(DEFAULT_ROWS_PAGE)));
    let data: Vec<Value> = (offset..end).filter_map(|i| rows.row_object(i)).map(Value::Object).collect();
    let next = (end < rows.len()).then(|| encode_cursor(meta.version, end));
    Ok(Json(json!({
        "object": "list",
        "columns": meta.columns,
        "data": data,
        "has_more": next.is_some(),
        "next_cursor": next,
    })))
}

/// Deletes a dataset and its stored file.
#[utoipa::path(
    delete,
    path = "/api/v1/ws/{workspace}/datasets/{code}",
    operation_id = "delete_dataset",
    tag = "datasets",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("code" = crate::domain::Code, Path, description = "The dataset's code")),
    responses(
        (status = 204, description = "Deleted"),
        ReadErrors,
        ConflictErrors,
    )
)]
pub async fn delete(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, code)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(Area::Datasets, Access::Write)?;
    let code = existing_code(&code)?;
    dataset::delete(&ctx.store, &*ctx.blobs, caller.workspace.id, &code).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rows_cursor_belongs_to_one_version_of_the_dataset() {
        let cursor = encode_cursor(3, 200);
        assert_eq!(decode_cursor(&cursor, 3).unwrap(), 200);
        assert_eq!(decode_cursor(&cursor, 4).unwrap_err().status, StatusCode::BAD_REQUEST);
        assert!(decode_cursor("nonsense!", 3).is_err());
    }
}
