//! The HTTP API: one axum `Router` for the whole product, served by the API Lambda (through
//! `lambda_http`) and by `herald serve`. Conventions: JSON with an `object` field, the error
//! envelope of `error.rs`, `X-Correlation-ID` on every response, cursor pagination, a body size
//! limit, and bearer personal access tokens scoped to one workspace.

pub mod auth;
pub mod cron_auth;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod openapi;
pub mod routes;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::context::Context;
use routes::{
    blobs, cron, datasets, destinations, interactions, preview, reports, runs, schedules, system, tokens, workspaces,
};

/// The whole API: the documented routes, the OpenAPI document at `/swagger/v1/swagger.json`
/// and Swagger UI at `/swagger/index.html`.
pub fn router(ctx: Arc<Context>) -> Router {
    let body_limit = ctx.config.body_limit_bytes;
    let (api, doc) = api_routes().split_for_parts();
    api.merge(openapi::swagger_ui(doc))
        .fallback(system::not_found)
        .method_not_allowed_fallback(system::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(middleware::correlation))
        .with_state(ctx)
}

/// Every route of the API with its OpenAPI operation (each handler's `#[utoipa::path]`).
pub fn api_routes() -> OpenApiRouter<Arc<Context>> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(system::health))
        .routes(routes!(workspaces::get))
        .routes(routes!(tokens::list_tokens, tokens::create_token))
        .routes(routes!(tokens::revoke_token))
        .routes(routes!(reports::list_reports, reports::create))
        .routes(routes!(preview::preview))
        .routes(routes!(preview::preview_in_own_workspace))
        .routes(routes!(runs::run_now))
        .routes(routes!(reports::get, reports::update, reports::delete))
        .routes(routes!(schedules::list_of_report, schedules::create))
        .routes(routes!(schedules::list_all))
        .routes(routes!(schedules::preview))
        .routes(routes!(schedules::get, schedules::update, schedules::delete))
        .routes(routes!(destinations::list_destinations, destinations::create))
        .routes(routes!(destinations::get, destinations::update, destinations::delete))
        .routes(routes!(destinations::test))
        .routes(routes!(runs::list_runs))
        .routes(routes!(runs::get_run))
        .routes(routes!(runs::deliver))
        .routes(routes!(runs::retry_delivery))
        .routes(routes!(interactions::ingest))
        .routes(routes!(datasets::list_datasets))
        .routes(routes!(datasets::get, datasets::put, datasets::delete))
        .routes(routes!(datasets::rows))
        .routes(routes!(blobs::download))
        .routes(routes!(cron::tick))
        .routes(routes!(cron::status))
}
