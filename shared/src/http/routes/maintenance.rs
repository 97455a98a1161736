//! The maintenance endpoints of seed `002` (`CRON_SECRET`, fail-closed): the interaction
//! export and retention cleanup. Both answer 200 with what they did per workspace, failures
//! of single workspaces included; only a failure of the whole operation is an error.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::Value;

use crate::context::Context;
use crate::http::cron_auth::MaintenanceCaller;
use crate::http::error::{ApiError, ApiResult};
use crate::pipeline::maintenance::{cleanup, export};

fn json<T: serde::Serialize>(report: &T) -> ApiResult<Json<Value>> {
    serde_json::to_value(report).map(Json).map_err(|_| ApiError::internal())
}

/// `GET /api/v1/cron/export-interactions`.
pub async fn export_interactions(State(ctx): State<Arc<Context>>, _: MaintenanceCaller) -> ApiResult<Json<Value>> {
    json(&export::export_interactions(&ctx).await?)
}

/// `GET /api/v1/cron/cleanup`.
pub async fn cleanup(State(ctx): State<Arc<Context>>, _: MaintenanceCaller) -> ApiResult<Json<Value>> {
    json(&cleanup::cleanup(&ctx).await?)
}
