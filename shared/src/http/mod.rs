//! The HTTP API: one axum `Router` for the whole product, served by the API Lambda (through
//! `lambda_http`) and by `herald serve`. Conventions: JSON with an `object` field, the error
//! envelope of `error.rs`, `X-Correlation-ID` on every response, cursor pagination, a body size
//! limit, and bearer personal access tokens scoped to one workspace.

pub mod auth;
pub mod console;
pub mod cron_auth;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod openapi;
pub mod rate_limit;
pub mod routes;
pub mod serve;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::context::Context;
use routes::{
    alerts, blobs, connections, cron, datasets, destinations, interactions, jobs, maintenance, preview, reports,
    review, runs, scheduled_reports, schedules, suppressions, system, temporary_files, tokens, workspaces,
};

/// The whole API: the documented routes, the OpenAPI document at `/swagger/v1/swagger.json`,
/// Swagger UI at `/swagger/index.html` and the web console at `/console`.
pub fn router(ctx: Arc<Context>) -> Router {
    let body_limit = ctx.config.body_limit_bytes;
    let (api, doc) = api_routes().split_for_parts();
    api.merge(openapi::swagger_ui(doc))
        .merge(console::routes())
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
        .routes(routes!(workspaces::session))
        .routes(routes!(workspaces::get))
        .routes(routes!(workspaces::get_settings, workspaces::update_settings))
        .routes(routes!(workspaces::test_ai))
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
        .routes(routes!(scheduled_reports::list_all, scheduled_reports::create))
        .routes(routes!(scheduled_reports::get, scheduled_reports::update, scheduled_reports::delete))
        .routes(routes!(scheduled_reports::list_configurations, scheduled_reports::create_configuration))
        .routes(routes!(scheduled_reports::update_configuration, scheduled_reports::delete_configuration))
        .routes(routes!(scheduled_reports::execute))
        .routes(routes!(destinations::list_destinations, destinations::create))
        .routes(routes!(destinations::get, destinations::update, destinations::delete))
        .routes(routes!(destinations::test))
        .routes(routes!(connections::list_connections, connections::create))
        .routes(routes!(connections::get, connections::update, connections::delete))
        .routes(routes!(connections::test))
        .routes(routes!(connections::run_query))
        .routes(routes!(alerts::list_rules, alerts::create))
        .routes(routes!(alerts::get, alerts::update, alerts::delete))
        .routes(routes!(alerts::evaluate))
        .routes(routes!(alerts::events))
        .routes(routes!(alerts::notifications))
        .routes(routes!(alerts::workspace_events))
        .routes(routes!(runs::list_runs))
        .routes(routes!(runs::get_run))
        .routes(routes!(runs::get_run_in_own_workspace))
        .routes(routes!(runs::cancel))
        .routes(routes!(runs::list_entries))
        .routes(routes!(runs::get_entry))
        .routes(routes!(runs::deliver))
        .routes(routes!(runs::retry_delivery))
        .routes(routes!(review::approve_entries))
        .routes(routes!(review::reject_entries))
        .routes(routes!(review::approve_entry))
        .routes(routes!(review::reject_entry))
        .routes(routes!(jobs::list_jobs))
        .routes(routes!(jobs::start_job_run))
        .routes(routes!(jobs::run_status))
        .routes(routes!(jobs::deliver))
        .routes(routes!(jobs::generate_review_document))
        .routes(routes!(temporary_files::get))
        .routes(routes!(temporary_files::content))
        .routes(routes!(interactions::ingest))
        .routes(routes!(suppressions::list_suppressions))
        .routes(routes!(suppressions::put, suppressions::delete))
        .routes(routes!(datasets::list_datasets))
        .routes(routes!(datasets::get, datasets::put, datasets::delete))
        .routes(routes!(datasets::rows))
        .routes(routes!(blobs::download))
        .routes(routes!(cron::tick))
        .routes(routes!(cron::status))
        .routes(routes!(maintenance::export_interactions))
        .routes(routes!(maintenance::cleanup))
        .routes(routes!(review::approvals_expire))
}
