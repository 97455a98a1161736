//! Authentication of the system endpoints called by a scheduler, exactly as seed `002` says:
//! `POST /api/cron/tick` takes `CRON_TOKEN` (falling back to `CRON_SECRET`) from `x-cron-token`,
//! `x-cron-secret` or `Authorization: Bearer`; the `/api/v1/cron/*` maintenance endpoints take
//! `CRON_SECRET` from `Authorization: Bearer` or `X-Cron-Secret`. With no secret configured the
//! endpoints refuse every call (fail closed). Secrets are compared in constant time.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};

use super::auth::bearer;
use super::error::ApiError;
use crate::context::Context;
use crate::domain::Secret;

/// Equality whose time does not depend on where the inputs differ (both are hashed first, so
/// not even their lengths leak).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (Sha256::digest(a), Sha256::digest(b));
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name)?.to_str().ok().map(str::trim).filter(|v| !v.is_empty())
}

fn check(expected: Option<&Secret>, presented: &[Option<&str>]) -> Result<(), ApiError> {
    let expected = expected.ok_or_else(ApiError::unauthorized)?;
    let matched = presented.iter().flatten().any(|p| constant_time_eq(p.as_bytes(), expected.expose().as_bytes()));
    if matched { Ok(()) } else { Err(ApiError::unauthorized()) }
}

/// A caller of `POST /api/cron/tick`.
pub struct TickCaller;

impl FromRequestParts<Arc<Context>> for TickCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, ctx: &Arc<Context>) -> Result<Self, Self::Rejection> {
        let presented = [header(parts, "x-cron-token"), header(parts, "x-cron-secret"), bearer(parts)];
        check(ctx.config.cron_token.as_ref(), &presented).map(|()| TickCaller)
    }
}

/// A caller of the `/api/v1/cron/*` maintenance endpoints.
pub struct MaintenanceCaller;

impl FromRequestParts<Arc<Context>> for MaintenanceCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, ctx: &Arc<Context>) -> Result<Self, Self::Rejection> {
        let presented = [bearer(parts), header(parts, "x-cron-secret")];
        check(ctx.config.cron_secret.as_ref(), &presented).map(|()| MaintenanceCaller)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_secrets_match_and_others_do_not() {
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
        assert!(!constant_time_eq(b"s3cret", b"s3creT"));
        assert!(!constant_time_eq(b"s3cret", b"s3cret-longer"));
        assert!(!constant_time_eq(b"", b"x"));
    }

    #[test]
    fn without_a_configured_secret_every_call_is_refused() {
        assert!(check(None, &[Some("anything")]).is_err());
        assert!(check(Some(&Secret::new("abc")), &[None, Some("abd")]).is_err());
        assert!(check(Some(&Secret::new("abc")), &[None, Some("abc")]).is_ok());
    }
}
