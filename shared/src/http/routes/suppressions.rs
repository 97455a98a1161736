//! Suppressed email addresses of a workspace: deliveries leave them out (and a delivery whose
//! every recipient is suppressed is skipped with a note). Addresses are suppressed after a hard
//! bounce or a complaint, or by hand; an expiry lets them receive mail again later, and retention
//! cleanup deletes expired suppressions.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::context::Context;
use crate::domain::{Access, Area, Suppression, SuppressionReason, looks_like_email};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{ApiQuery, JsonBody, PageParams, list, object};
use crate::http::openapi::{ReadErrors, WorkspacePath, WriteErrors, views};

pub fn view(suppression: &Suppression) -> Value {
    object("suppression", suppression)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuppressionBody {
    /// `manual` when absent.
    pub reason: Option<SuppressionReason>,
    /// When the address may receive mail again; never when absent.
    pub expires_at: Option<DateTime<Utc>>,
}

fn address_of(raw: &str) -> ApiResult<String> {
    let address = raw.trim().to_lowercase();
    if looks_like_email(&address) { Ok(address) } else { Err(ApiError::invalid("address", "must be an email address")) }
}

/// Lists the workspace's suppressed email addresses.
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}/suppressions",
    operation_id = "list_suppressions",
    tag = "destinations",
    security(("personal_access_token" = [])),
    params(WorkspacePath, PageParams),
    responses(
        (status = 200, description = "A page of suppressions", body = views::List<views::SuppressionView>),
        ReadErrors,
    )
)]
pub async fn list_suppressions(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Destinations, Access::Read)?;
    let listing = ctx.store.list_suppressions(caller.workspace.id, &params.page()?).await?;
    Ok(Json(list(listing, view)))
}

/// Suppresses an email address (or changes its suppression).
#[utoipa::path(
    put,
    path = "/api/v1/ws/{workspace}/suppressions/{address}",
    operation_id = "put_suppression",
    tag = "destinations",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("address" = String, Path, format = Email, description = "The email address")),
    request_body = Option<SuppressionBody>,
    responses(
        (status = 200, description = "The suppression", body = views::SuppressionView),
        WriteErrors,
    )
)]
pub async fn put(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, address)): Path<(String, String)>,
    body: JsonBody,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Destinations, Access::Write)?;
    let body: SuppressionBody = body.parse_or_default()?;
    let address = address_of(&address)?;
    let now = ctx.clock.now();
    if body.expires_at.is_some_and(|at| at <= now) {
        return Err(crate::domain::ValidationErrors::from(crate::domain::FieldError::new(
            "expires_at",
            "must be in the future",
        ))
        .into());
    }
    let suppression = Suppression {
        workspace_id: caller.workspace.id,
        address,
        reason: body.reason.unwrap_or(SuppressionReason::Manual),
        created_at: now,
        expires_at: body.expires_at,
        version: 0,
    };
    Ok(Json(view(&ctx.store.put_suppression(&suppression).await?)))
}

/// Lifts the suppression of an email address.
#[utoipa::path(
    delete,
    path = "/api/v1/ws/{workspace}/suppressions/{address}",
    operation_id = "delete_suppression",
    tag = "destinations",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("address" = String, Path, format = Email, description = "The email address")),
    responses(
        (status = 204, description = "The address may receive mail again"),
        ReadErrors,
    )
)]
pub async fn delete(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, address)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(Area::Destinations, Access::Write)?;
    ctx.store.delete_suppression(caller.workspace.id, &address_of(&address)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
