//! Personal access tokens of a workspace: list, create (the secret is shown once), revoke.
//! A token's strength is its role and its scopes together: a caller creates, sees and revokes
//! only tokens no stronger than its own (admins: every such token; others: their own and those
//! they created), and a new token expires no later than the token that made it.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::context::Context;
use crate::domain::{Access, ApiToken, Area, FieldError, Name, Role, Scope, TokenGrant, TokenId, ValidationErrors};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{ApiQuery, JsonBody, PageParams, list, object};
use crate::http::openapi::{ConflictErrors, ReadErrors, WorkspacePath, WriteErrors, views};

pub fn view(token: &ApiToken) -> Value {
    let mut v = object("api_token", token);
    if let Value::Object(map) = &mut v {
        map.remove("hash");
    }
    v
}

/// Admins see every token no stronger than their own; others see their own token and those
/// they created (which are never stronger).
fn visible_to(caller: &Caller, token: &ApiToken) -> bool {
    let related =
        caller.token.role == Role::Admin || token.id == caller.token.id || token.created_by == Some(caller.token.id);
    related && caller.token.covers(token)
}

/// Lists the tokens this token may see (admins: all of the workspace).
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}/tokens",
    operation_id = "list_tokens",
    tag = "tokens",
    security(("personal_access_token" = [])),
    params(WorkspacePath, PageParams),
    responses(
        (status = 200, description = "A page of tokens", body = views::List<views::TokenView>),
        ReadErrors,
    )
)]
pub async fn list_tokens(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Tokens, Access::Read)?;
    let mut listing = ctx.store.list_tokens(caller.workspace.id, &params.page()?).await?;
    listing.items.retain(|t| visible_to(&caller, t));
    Ok(Json(list(listing, view)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: Name,
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub scopes: Option<Vec<Scope>>,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// Creates a token with at most the caller's own permissions; its secret is shown once.
#[utoipa::path(
    post,
    path = "/api/v1/ws/{workspace}/tokens",
    operation_id = "create_token",
    tag = "tokens",
    security(("personal_access_token" = [])),
    params(WorkspacePath),
    request_body = CreateToken,
    responses(
        (status = 201, description = "The token, with its secret shown this once", body = views::CreatedTokenView),
        WriteErrors,
        ConflictErrors,
    )
)]
pub async fn create_token(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    body: JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(Area::Tokens, Access::Write)?;
    let body: CreateToken = body.parse()?;
    let now = ctx.clock.now();
    let role = body.role.unwrap_or(caller.token.role);
    let mut errors = Vec::new();
    if role.rank() > caller.token.role.rank() {
        errors.push(FieldError::new("role", "must not exceed your own role"));
    }
    let scopes = match body.scopes {
        Some(scopes) => {
            for (i, s) in scopes.iter().enumerate() {
                if !caller.token.allows(s.area, s.access) {
                    errors.push(FieldError::new(format!("scopes[{i}]"), format!("`{s}` exceeds your own permissions")));
                }
            }
            scopes
        }
        None => role.default_scopes().into_iter().filter(|s| caller.token.allows(s.area, s.access)).collect(),
    };
    if body.expires_at.is_some_and(|at| at <= now) {
        errors.push(FieldError::new("expires_at", "must be in the future"));
    }
    // A token never outlives its maker: it expires with it at the latest.
    let expires_at = match (body.expires_at, caller.token.expires_at) {
        (Some(at), Some(limit)) if at > limit => {
            let limit = limit.format("%Y-%m-%dT%H:%M:%SZ");
            errors.push(FieldError::new("expires_at", format!("must not be after your own token expires ({limit})")));
            None
        }
        (at, limit) => at.or(limit),
    };
    ValidationErrors::into_result(errors)?;

    let grant = TokenGrant {
        workspace_id: caller.workspace.id,
        name: body.name,
        role,
        scopes,
        expires_at,
        created_by: Some(caller.token.id),
    };
    let (token, secret) = ApiToken::issue(grant, now);
    let token = ctx.store.create_token(&token).await?;
    let mut body = view(&token);
    body["secret"] = json!(secret);
    Ok((StatusCode::CREATED, Json(body)))
}

/// Revokes a token: it stops working at once.
#[utoipa::path(
    delete,
    path = "/api/v1/ws/{workspace}/tokens/{id}",
    operation_id = "revoke_token",
    tag = "tokens",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("id" = String, Path, description = "The token's id")),
    responses(
        (status = 200, description = "The revoked token", body = views::TokenView),
        ReadErrors,
        ConflictErrors,
    )
)]
pub async fn revoke_token(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Tokens, Access::Write)?;
    let id: TokenId = id.parse().map_err(|_| ApiError::not_found("token"))?;
    let token = ctx.store.get_token(caller.workspace.id, id).await?;
    if !visible_to(&caller, &token) {
        return Err(ApiError::not_found("token"));
    }
    let revoked = ctx.store.revoke_token(caller.workspace.id, id, ctx.clock.now()).await?;
    Ok(Json(view(&revoked)))
}
