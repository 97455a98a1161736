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
use crate::http::openapi::CronErrors;
use crate::pipeline::maintenance::{cleanup, export};

fn json<T: serde::Serialize>(report: &T) -> ApiResult<Json<Value>> {
    serde_json::to_value(report).map(Json).map_err(|_| ApiError::internal())
}

/// Exports every active workspace's new interactions as Hive-partitioned NDJSON.
///
/// At most 10,000 rows per workspace per call, from each workspace's checkpoint on.
#[utoipa::path(
    get,
    path = "/api/v1/cron/export-interactions",
    operation_id = "cron_export_interactions",
    tag = "cron",
    security(("cron_bearer" = []), ("cron_secret_header" = [])),
    responses(
        (status = 200, description = "What was exported per workspace", body = export::ExportReport),
        CronErrors,
    )
)]
pub async fn export_interactions(State(ctx): State<Arc<Context>>, _: MaintenanceCaller) -> ApiResult<Json<Value>> {
    json(&export::export_interactions(&ctx).await?)
}

/// Deletes expired suppressions and the data past each workspace's retention.
///
/// Workspaces under legal hold are skipped and listed in `legalHoldSkips`.
#[utoipa::path(
    get,
    path = "/api/v1/cron/cleanup",
    operation_id = "cron_cleanup",
    tag = "cron",
    security(("cron_bearer" = []), ("cron_secret_header" = [])),
    responses(
        (status = 200, description = "What was deleted per workspace", body = cleanup::CleanupReport),
        CronErrors,
    )
)]
pub async fn cleanup(State(ctx): State<Arc<Context>>, _: MaintenanceCaller) -> ApiResult<Json<Value>> {
    json(&cleanup::cleanup(&ctx).await?)
}
