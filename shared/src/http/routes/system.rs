//! Liveness and the answers for paths and methods that do not exist.

use axum::Json;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::http::error::{ApiError, ErrorCode};
use crate::http::openapi::{ServerErrors, views};

/// Liveness: answers while the service runs.
#[utoipa::path(
    get,
    path = "/health",
    operation_id = "health",
    tag = "system",
    security(()),
    responses(
        (status = 200, description = "The service is up", body = views::HealthView),
        ServerErrors,
    )
)]
pub async fn health() -> Json<Value> {
    Json(json!({ "object": "health", "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "No such endpoint")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, ErrorCode::NotFound, "This endpoint does not accept that method")
}
