//! The HTTP API: one axum `Router` for the whole product, served by the API Lambda (through
//! `lambda_http`) and by `herald serve`. Conventions: JSON with an `object` field, the error
//! envelope of `error.rs`, `X-Correlation-ID` on every response, cursor pagination, a body size
//! limit, and bearer personal access tokens scoped to one workspace.

pub mod auth;
pub mod cron_auth;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod rate_limit;
pub mod routes;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};

use crate::context::Context;
use routes::{
    blobs, cron, datasets, destinations, interactions, jobs, maintenance, preview, reports, review, runs, schedules,
    suppressions, system, temporary_files, tokens, workspaces,
};

/// The whole API.
pub fn router(ctx: Arc<Context>) -> Router {
    let body_limit = ctx.config.body_limit_bytes;
    Router::new()
        .route("/health", get(system::health))
        .route("/api/v1/ws/{workspace}", get(workspaces::get))
        .route("/api/v1/ws/{workspace}/settings", get(workspaces::get_settings).patch(workspaces::update_settings))
        .route("/api/v1/ws/{workspace}/tokens", get(tokens::list_tokens).post(tokens::create_token))
        .route("/api/v1/ws/{workspace}/tokens/{id}", delete(tokens::revoke_token))
        .route("/api/v1/ws/{workspace}/reports", get(reports::list_reports).post(reports::create))
        .route("/api/v1/ws/{workspace}/reports/preview", post(preview::preview))
        .route("/api/v1/reports/preview", post(preview::preview))
        .route("/api/v1/ws/{workspace}/reports/{report}/runs", post(runs::run_now))
        .route(
            "/api/v1/ws/{workspace}/reports/{report}",
            get(reports::get).patch(reports::update).delete(reports::delete),
        )
        .route(
            "/api/v1/ws/{workspace}/reports/{report}/schedules",
            get(schedules::list_of_report).post(schedules::create),
        )
        .route("/api/v1/ws/{workspace}/schedules", get(schedules::list_all))
        .route("/api/v1/ws/{workspace}/schedules/preview", post(schedules::preview))
        .route(
            "/api/v1/ws/{workspace}/schedules/{id}",
            get(schedules::get).patch(schedules::update).delete(schedules::delete),
        )
        .route("/api/v1/ws/{workspace}/destinations", get(destinations::list_destinations).post(destinations::create))
        .route(
            "/api/v1/ws/{workspace}/destinations/{id}",
            get(destinations::get).patch(destinations::update).delete(destinations::delete),
        )
        .route("/api/v1/ws/{workspace}/destinations/{id}/test", post(destinations::test))
        .route("/api/v1/ws/{workspace}/runs", get(runs::list_runs))
        .route("/api/v1/ws/{workspace}/runs/{id}", get(runs::get_run))
        .route("/api/v1/reports/runs/{id}", get(runs::get_run))
        .route("/api/v1/ws/{workspace}/runs/{id}/cancel", post(runs::cancel))
        .route("/api/v1/ws/{workspace}/runs/{id}/entries", get(runs::list_entries))
        .route("/api/v1/ws/{workspace}/runs/{id}/entries/{entry}", get(runs::get_entry))
        .route("/api/v1/ws/{workspace}/runs/{id}/deliver", post(runs::deliver))
        .route("/api/v1/ws/{workspace}/runs/{id}/deliveries/{delivery}/retry", post(runs::retry_delivery))
        .route("/api/v1/ws/{workspace}/runs/{id}/approve", post(review::approve_entries))
        .route("/api/v1/ws/{workspace}/runs/{id}/reject", post(review::reject_entries))
        .route("/api/v1/ws/{workspace}/runs/{id}/entries/{entry}/approve", post(review::approve_entry))
        .route("/api/v1/ws/{workspace}/runs/{id}/entries/{entry}/reject", post(review::reject_entry))
        .route("/api/v1/ws/{workspace}/jobs", get(jobs::list_jobs))
        .route("/api/v1/ws/{workspace}/jobs/{job}/runs", post(jobs::start_job_run))
        .route("/api/v1/ws/{workspace}/jobs/{job}/runs/{run}/status", get(jobs::run_status))
        .route("/api/v1/ws/{workspace}/jobs/{job}/runs/{run}/deliver", post(jobs::deliver))
        .route(
            "/api/v1/ws/{workspace}/jobs/{job}/runs/{run}/generate-review-document",
            post(jobs::generate_review_document),
        )
        .route("/api/v1/ws/{workspace}/temporary-files/{id}", get(temporary_files::get))
        .route("/api/v1/ws/{workspace}/temporary-files/{id}/content", get(temporary_files::content))
        .route("/api/v1/ws/{workspace}/interactions", post(interactions::ingest))
        .route("/api/v1/ws/{workspace}/suppressions", get(suppressions::list_suppressions))
        .route(
            "/api/v1/ws/{workspace}/suppressions/{address}",
            axum::routing::put(suppressions::put).delete(suppressions::delete),
        )
        .route("/api/v1/ws/{workspace}/datasets", get(datasets::list_datasets))
        .route("/api/v1/ws/{workspace}/datasets/{code}", get(datasets::get).put(datasets::put).delete(datasets::delete))
        .route("/api/v1/ws/{workspace}/datasets/{code}/rows", get(datasets::rows))
        .route("/blobs/{*key}", get(blobs::download))
        .route("/api/cron/tick", post(cron::tick))
        .route("/api/v1/cron/status", get(cron::status))
        .route("/api/v1/cron/export-interactions", get(maintenance::export_interactions))
        .route("/api/v1/cron/cleanup", get(maintenance::cleanup))
        .route("/api/v1/cron/approvals-expire", get(review::approvals_expire))
        .fallback(system::not_found)
        .method_not_allowed_fallback(system::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(middleware::correlation))
        .with_state(ctx)
}
