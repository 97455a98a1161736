//! Destinations of a workspace (email, Slack, Teams, webhook, S3): create, list, read, change,
//! delete. Secrets (chat webhook URLs, signing secrets) are write-only: views show them
//! redacted, and a change that sends the redacted text back keeps the stored secret.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use crate::context::Context;
use crate::deliver::drive::service_account;
use crate::domain::{
    Access, Area, Destination, DestinationConfig, DestinationId, FieldError, Name, ValidationErrors, WorkspaceId,
};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{ApiQuery, JsonBody, PageParams, list, object};
use crate::http::openapi::{ConflictErrors, ReadErrors, WorkspacePath, WriteErrors, views};

/// The API shape of a destination (its secrets serialize as `********`, see [`crate::domain::Secret`]).
pub fn view(destination: &Destination) -> Value {
    let mut v = object("destination", destination);
    v["type"] = Value::String(destination.config.kind().into());
    v
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DestinationBody {
    pub name: Option<Name>,
    pub config: Option<DestinationConfig>,
    /// The version the change is based on; a newer stored version is a conflict.
    #[serde(default, deserialize_with = "crate::http::extract::version")]
    #[schema(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    pub version: Option<u64>,
}

fn parse_id(id: &str) -> ApiResult<DestinationId> {
    id.parse().map_err(|_| ApiError::not_found("destination"))
}

/// Creates a destination; `name` and `config` are required.
#[utoipa::path(
    post,
    path = "/api/v1/ws/{workspace}/destinations",
    operation_id = "create_destination",
    tag = "destinations",
    security(("personal_access_token" = [])),
    params(WorkspacePath),
    request_body = DestinationBody,
    responses(
        (status = 201, description = "The destination, secrets redacted", body = views::DestinationView),
        WriteErrors,
        ConflictErrors,
    )
)]
pub async fn create(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    body: JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(Area::Destinations, Access::Write)?;
    let body: DestinationBody = body.parse()?;
    let (Some(name), Some(mut config)) = (body.name, body.config) else {
        let errors = [("name", "is required"), ("config", "is required")]
            .into_iter()
            .map(|(field, message)| FieldError::new(field, message))
            .collect();
        return Err(ValidationErrors(errors).into());
    };
    config.resolve(None)?;
    known_service_account(&ctx, caller.workspace.id, &config).await?;
    let now = ctx.clock.now();
    let destination = Destination {
        id: DestinationId::generate(now),
        workspace_id: caller.workspace.id,
        name,
        config,
        created_at: now,
        updated_at: now,
        version: 0,
    };
    let destination = ctx.store.create_destination(&destination).await?;
    Ok((StatusCode::CREATED, Json(view(&destination))))
}

/// Lists the destinations of the workspace.
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}/destinations",
    operation_id = "list_destinations",
    tag = "destinations",
    security(("personal_access_token" = [])),
    params(WorkspacePath, PageParams),
    responses(
        (status = 200, description = "A page of destinations", body = views::List<views::DestinationView>),
        ReadErrors,
    )
)]
pub async fn list_destinations(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Destinations, Access::Read)?;
    let listing = ctx.store.list_destinations(caller.workspace.id, &params.page()?).await?;
    Ok(Json(list(listing, view)))
}

/// Reads a destination.
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}/destinations/{id}",
    operation_id = "get_destination",
    tag = "destinations",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("id" = String, Path, description = "The destination's id")),
    responses(
        (status = 200, description = "The destination, secrets redacted", body = views::DestinationView),
        ReadErrors,
    )
)]
pub async fn get(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Destinations, Access::Read)?;
    Ok(Json(view(&ctx.store.get_destination(caller.workspace.id, parse_id(&id)?).await?)))
}

/// Changes a destination; a secret sent back as `********` is kept.
#[utoipa::path(
    patch,
    path = "/api/v1/ws/{workspace}/destinations/{id}",
    operation_id = "update_destination",
    tag = "destinations",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("id" = String, Path, description = "The destination's id")),
    request_body = DestinationBody,
    responses(
        (status = 200, description = "The changed destination", body = views::DestinationView),
        WriteErrors,
        ConflictErrors,
    )
)]
pub async fn update(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    body: JsonBody,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Destinations, Access::Write)?;
    let body: DestinationBody = body.parse()?;
    let mut destination = ctx.store.get_destination(caller.workspace.id, parse_id(&id)?).await?;
    if body.version.is_some_and(|v| v != destination.version) {
        return Err(ApiError::conflict("the destination changed since that version; read it again"));
    }
    if let Some(name) = body.name {
        destination.name = name;
    }
    if let Some(mut config) = body.config {
        config.resolve(Some(&destination.config))?;
        known_service_account(&ctx, caller.workspace.id, &config).await?;
        destination.config = config;
    }
    destination.updated_at = ctx.clock.now();
    Ok(Json(view(&ctx.store.update_destination(&destination).await?)))
}

/// Deletes a destination.
#[utoipa::path(
    delete,
    path = "/api/v1/ws/{workspace}/destinations/{id}",
    operation_id = "delete_destination",
    tag = "destinations",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("id" = String, Path, description = "The destination's id")),
    responses(
        (status = 204, description = "Deleted"),
        ReadErrors,
        ConflictErrors,
    )
)]
pub async fn delete(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(Area::Destinations, Access::Write)?;
    ctx.store.delete_destination(caller.workspace.id, parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestBody {
    /// Recipients of the test email (email destinations).
    #[serde(default)]
    pub to: Vec<String>,
}

/// Test connection: send a real test message.
///
/// "Test connection": sends a real test message through the destination and answers what the
/// provider said (`ok`, its message id, or its error and whether retrying could help).
#[utoipa::path(
    post,
    path = "/api/v1/ws/{workspace}/destinations/{id}/test",
    operation_id = "test_destination",
    tag = "destinations",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("id" = String, Path, description = "The destination's id")),
    request_body = Option<TestBody>,
    responses(
        (status = 200, description = "What the provider answered", body = views::DestinationTestView),
        WriteErrors,
    )
)]
pub async fn test(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    body: JsonBody,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Destinations, Access::Write)?;
    let body: TestBody = body.parse_or_default()?;
    let destination = ctx.store.get_destination(caller.workspace.id, parse_id(&id)?).await?;
    if matches!(destination.config, DestinationConfig::Email { .. }) && body.to.is_empty() {
        let error = FieldError::new("to", "give at least one address to send the test email to");
        return Err(ValidationErrors(vec![error]).into());
    }
    let now = ctx.clock.now();
    let outgoing =
        crate::deliver::test_message(&caller.workspace, &destination, body.to, ctx.config.public_base_url(), now);
    let answer = match ctx.senders.send(&caller.workspace, &destination, outgoing, now).await {
        Ok(receipt) => serde_json::json!({"ok": true, "provider_message_id": receipt.provider_message_id}),
        Err(error) => serde_json::json!({"ok": false, "error": error.to_string(), "transient": error.is_transient()}),
    };
    let mut v = object("destination_test", &answer);
    v["destination_id"] = Value::String(destination.id.to_string());
    Ok(Json(v))
}

/// A Drive destination must name a Google service account among the workspace's connections.
async fn known_service_account(ctx: &Context, ws: WorkspaceId, config: &DestinationConfig) -> ApiResult<()> {
    let DestinationConfig::GoogleDrive { service_account: name, .. } = config else { return Ok(()) };
    match service_account(&ctx.store, ws, name).await? {
        Ok(_) => Ok(()),
        Err(problem) => Err(ValidationErrors(vec![FieldError::new("config.service_account", problem)]).into()),
    }
}
