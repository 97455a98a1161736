//! Who is calling: a personal access token (`Authorization: Bearer hrld_pat_…`) looked up by
//! its SHA-256, scoped to one workspace. Routes under `/api/v1/ws/{workspace}` resolve the
//! workspace by id or code; a token of another workspace gets "not found", never a hint that
//! the workspace exists.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequestParts, MatchedPath, Path};
use axum::http::header;
use axum::http::request::Parts;

use super::error::ApiError;
use crate::context::Context;
use crate::domain::{Access, ApiToken, Area, TokenHash, Workspace};

/// The authenticated caller and the workspace of the request path.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token: ApiToken,
    pub workspace: Workspace,
}

impl Caller {
    /// Fails with `forbidden` unless the token may do `access` on `area`.
    pub fn require(&self, area: Area, access: Access) -> Result<(), ApiError> {
        if self.token.allows(area, access) {
            Ok(())
        } else {
            let needed = crate::domain::Scope { area, access };
            Err(ApiError::forbidden(format!("This token lacks the `{needed}` permission")))
        }
    }
}

/// The bearer secret of the request, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, secret) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| secret.trim()).filter(|s| !s.is_empty())
}

impl FromRequestParts<Arc<Context>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, ctx: &Arc<Context>) -> Result<Self, Self::Rejection> {
        let secret = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        let now = ctx.clock.now();
        let token = ctx
            .store
            .token_by_hash(&TokenHash::of(secret))
            .await?
            .filter(|t| t.is_usable(now))
            .ok_or_else(ApiError::unauthorized)?;
        ctx.rate_limiter.check(token.id, now).map_err(ApiError::rate_limited)?;

        // Paths without a workspace (the seeds' compatibility paths) act in the token's own.
        let scoped = parts.extensions.get::<MatchedPath>().is_some_and(|p| p.as_str().contains("{workspace}"));
        let params = if scoped {
            Path::<HashMap<String, String>>::from_request_parts(parts, ctx).await?.0
        } else {
            HashMap::new()
        };
        let workspace = match params.get("workspace") {
            None => ctx.store.get_workspace(token.workspace_id).await?,
            Some(requested) => match ctx.store.resolve_workspace(requested).await {
                Ok(ws) if ws.id == token.workspace_id => ws,
                Ok(_) | Err(crate::store::StoreError::NotFound { .. }) => {
                    return Err(ApiError::not_found("workspace"));
                }
                Err(e) => return Err(e.into()),
            },
        };
        if let Err(e) = ctx.store.touch_token(&token, now).await {
            tracing::warn!(error = %e, token = %token.id, "could not record token use");
        }
        Ok(Caller { token, workspace })
    }
}
