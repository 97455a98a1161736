//! System endpoints called by a scheduler (seed `002`).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::context::Context;
use crate::http::cron_auth::{MaintenanceCaller, TickCaller};
use crate::http::error::ApiResult;
use crate::http::openapi::{CronErrors, views};
use crate::pipeline::tick;
use crate::wiring::TickState;

/// Fire every due schedule.
///
/// `POST /api/cron/tick`: fires every due schedule of every workspace once.
#[utoipa::path(
    post,
    path = "/api/cron/tick",
    operation_id = "cron_tick",
    tag = "cron",
    security(("cron_bearer" = []), ("cron_token_header" = []), ("cron_secret_header" = [])),
    responses(
        (status = 200, description = "What the tick did", body = tick::TickReport),
        CronErrors,
    )
)]
pub async fn tick(State(ctx): State<Arc<Context>>, _: TickCaller) -> ApiResult<Json<Value>> {
    let report = tick::tick(&ctx).await?;
    Ok(Json(serde_json::to_value(report).unwrap_or(Value::Null)))
}

/// How recent the last tick must be for the tick to count as running.
const TICK_FRESHNESS: chrono::Duration = chrono::Duration::minutes(5);

/// Whether schedules can fire.
///
/// `GET /api/v1/cron/status`: whether anything makes schedules fire, and when it last did.
#[utoipa::path(
    get,
    path = "/api/v1/cron/status",
    operation_id = "cron_status",
    tag = "cron",
    security(("cron_bearer" = []), ("cron_secret_header" = [])),
    responses(
        (status = 200, description = "The tick's state", body = views::CronStatusView),
        CronErrors,
    )
)]
pub async fn status(State(ctx): State<Arc<Context>>, _: MaintenanceCaller) -> ApiResult<Json<Value>> {
    let wiring = ctx.tick_source.status().await;
    let last = ctx.store.last_tick().await?;
    let ticking = last.is_some_and(|at| ctx.clock.now() - at <= TICK_FRESHNESS);
    Ok(Json(json!({
        "object": "cron_status",
        "ok": wiring.state == TickState::Enabled && ticking,
        "tick": wiring,
        "last_tick_at": last,
        "ticking": ticking,
    })))
}
