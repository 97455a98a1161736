//! The OpenAPI 3.1 document of the API and its Swagger UI. The document is built from the
//! handlers' `#[utoipa::path]` annotations while the router is built (`http::api_routes`), so a
//! route cannot exist without being documented. This module holds what every operation shares:
//! the document's root (info, tags), the security schemes, the error envelope and the sets of
//! error responses operations list.
//!
//! Annotating a handler, the same way everywhere:
//! a `///` comment (first line: the summary), then
//! `#[utoipa::path(METHOD, path = "…", operation_id = "…", tag = "…", security((…)),
//! params(WorkspacePath, …), request_body = …, responses((status = 200, body = …), ReadErrors))]`,
//! and `routes!(module::handler)` in `http::api_routes`.

pub mod views;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{IntoParams, IntoResponses, Modify, OpenApi, ToSchema};
use utoipa_swagger_ui::SwaggerUi;

use super::error::ErrorCode;

/// Where the document is served.
pub const DOCUMENT_PATH: &str = "/swagger/v1/swagger.json";

/// Where Swagger UI is served (its page is `/swagger/index.html`).
pub const UI_PATH: &str = "/swagger";

/// Security scheme: a personal access token (`Authorization: Bearer hrld_pat_…`).
pub const PAT: &str = "personal_access_token";
/// Security scheme: the scheduler's secret (`CRON_TOKEN`, or `CRON_SECRET`) as a bearer token.
pub const CRON_BEARER: &str = "cron_bearer";
/// Security scheme: the scheduler's secret in `X-Cron-Secret`.
pub const CRON_SECRET_HEADER: &str = "cron_secret_header";
/// Security scheme: the tick's secret in `X-Cron-Token`.
pub const CRON_TOKEN_HEADER: &str = "cron_token_header";

/// The root of the document; the paths come from the router.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Herald API",
        description = "Scheduled, narrated reports: compose a report from data sources, put it on a schedule or \
                       run it now, and deliver the rendered files. JSON, snake_case, every object has `object`; \
                       errors answer with the error envelope; every response carries `X-Correlation-ID`."
    ),
    tags(
        (name = "system", description = "Liveness and signed downloads"),
        (name = "workspaces", description = "The workspace of a token"),
        (name = "tokens", description = "Personal access tokens"),
        (name = "reports", description = "Report templates and previews"),
        (name = "schedules", description = "Schedules of reports"),
        (name = "scheduled reports", description = "Seed 004's scheduled reports: a schedule in one call, its configurations (named parameter sets, one entry each) and executions"),
        (name = "destinations", description = "Where reports are delivered"),
        (name = "connections", description = "Databases that `sql` sources read (admins manage them)"),
        (name = "alerts", description = "Alert rules: the tick watches the data and notifies when it crosses a line"),
        (name = "runs", description = "Runs, their entries and deliveries, review decisions"),
        (name = "jobs", description = "The report generation jobs API of seed 003, review documents"),
        (name = "interactions", description = "The interaction history behind the built-in sources"),
        (name = "datasets", description = "Uploaded datasets"),
        (name = "cron", description = "Endpoints called by a scheduler"),
    ),
    components(schemas(ErrorBody, ErrorDetail, ErrorCode)),
    modifiers(&SharedComponents)
)]
pub struct ApiDoc;

/// The error envelope every failure answers with.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
    /// The id of the request, also sent as `X-Correlation-ID`.
    pub request_id: String,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// For people; may change.
    pub message: String,
    /// More about the failure: `errors` (`[{field, message}]`) for validation errors, or `reason`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
}

/// The `{workspace}` segment of a path.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct WorkspacePath {
    /// The workspace's id or code.
    pub workspace: String,
}

/// A failure the API answers with the error envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    Unprocessable,
    RateLimited,
    Internal,
    Unavailable,
}

impl Failure {
    pub const ALL: [Failure; 11] = [
        Failure::BadRequest,
        Failure::Unauthorized,
        Failure::Forbidden,
        Failure::NotFound,
        Failure::Conflict,
        Failure::PayloadTooLarge,
        Failure::UnsupportedMediaType,
        Failure::Unprocessable,
        Failure::RateLimited,
        Failure::Internal,
        Failure::Unavailable,
    ];

    pub fn status(self) -> u16 {
        match self {
            Failure::BadRequest => 400,
            Failure::Unauthorized => 401,
            Failure::Forbidden => 403,
            Failure::NotFound => 404,
            Failure::Conflict => 409,
            Failure::PayloadTooLarge => 413,
            Failure::UnsupportedMediaType => 415,
            Failure::Unprocessable => 422,
            Failure::RateLimited => 429,
            Failure::Internal => 500,
            Failure::Unavailable => 503,
        }
    }

    /// The name of its entry in `components.responses`.
    pub fn name(self) -> &'static str {
        match self {
            Failure::BadRequest => "BadRequest",
            Failure::Unauthorized => "Unauthorized",
            Failure::Forbidden => "Forbidden",
            Failure::NotFound => "NotFound",
            Failure::Conflict => "Conflict",
            Failure::PayloadTooLarge => "PayloadTooLarge",
            Failure::UnsupportedMediaType => "UnsupportedMediaType",
            Failure::Unprocessable => "ValidationFailed",
            Failure::RateLimited => "RateLimited",
            Failure::Internal => "InternalError",
            Failure::Unavailable => "ServiceUnavailable",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Failure::BadRequest => {
                "`validation_error` (a bad query or path parameter) or `body_validation_error` (a body that is not \
                 the expected JSON)"
            }
            Failure::Unauthorized => "`unauthorized`: missing, unknown, expired or revoked credentials",
            Failure::Forbidden => "`forbidden`: the token lacks the permission this needs",
            Failure::NotFound => "`not_found`: no such resource in the workspace (or not visible to this token)",
            Failure::Conflict => "`conflict`: the resource changed meanwhile, already exists, or is in the wrong state",
            Failure::PayloadTooLarge => "`body_validation_error` or `validation_error`: the body is too large",
            Failure::UnsupportedMediaType => "`body_validation_error`: the Content-Type is not one this accepts",
            Failure::Unprocessable => "`validation_error`: the input is invalid; `details.errors` lists every problem",
            Failure::RateLimited => "`rate_limit_exceeded`: too many requests; retry later",
            Failure::Internal => "`internal_error`: an unexpected failure",
            Failure::Unavailable => "`service_unavailable`: a backing service failed; retry",
        }
    }

    fn response(self) -> Response {
        let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
        ResponseBuilder::new()
            .description(self.description())
            .content("application/json", content)
            .header(CORRELATION_HEADER, correlation_header())
            .build()
    }
}

/// The header every response carries.
const CORRELATION_HEADER: &str = "X-Correlation-ID";

fn correlation_header() -> Header {
    HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(Type::String))
        .description(Some("The request's id: the caller's own when it sent a sensible one, else a new ULID"))
        .build()
}

/// References to the shared responses of `failures`, keyed by status.
fn responses(failures: &[Failure]) -> BTreeMap<String, RefOr<Response>> {
    failures.iter().map(|f| (f.status().to_string(), RefOr::Ref(Ref::from_response_name(f.name())))).collect()
}

macro_rules! error_set {
    ($($(#[$meta:meta])* $name:ident = [$($failure:ident),+];)+) => {$(
        $(#[$meta])*
        pub struct $name;

        impl $name {
            pub const FAILURES: &'static [Failure] = &[$(Failure::$failure),+];
        }

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                responses(Self::FAILURES)
            }
        }
    )+};
}

error_set! {
    /// Errors of a call with a personal access token that sends no body.
    ReadErrors = [BadRequest, Unauthorized, Forbidden, NotFound, RateLimited, Internal, Unavailable];
    /// Errors of a call with a personal access token that sends a body.
    WriteErrors = [
        BadRequest, Unauthorized, Forbidden, NotFound, PayloadTooLarge, UnsupportedMediaType, Unprocessable,
        RateLimited, Internal, Unavailable
    ];
    /// The conflict of a change based on an old version, a taken code, or a resource in the wrong state.
    ConflictErrors = [Conflict];
    /// Errors of the endpoints called by a scheduler.
    CronErrors = [Unauthorized, RateLimited, Internal, Unavailable];
    /// Errors of a signed download link.
    LinkErrors = [BadRequest, NotFound, RateLimited, Internal, Unavailable];
    /// Errors any endpoint can give.
    ServerErrors = [RateLimited, Internal];
}

/// Adds the security schemes and the shared error responses.
struct SharedComponents;

impl Modify for SharedComponents {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        let bearer = |about: &str| {
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(about)).build())
        };
        let header = |name: &str, about: &str| {
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(name, about)))
        };
        components.add_security_scheme(PAT, bearer("A personal access token (`hrld_pat_…`) of the workspace"));
        components.add_security_scheme(
            CRON_BEARER,
            bearer("`CRON_TOKEN` (falling back to `CRON_SECRET`) for the tick; `CRON_SECRET` for `/api/v1/cron/*`"),
        );
        components.add_security_scheme(CRON_SECRET_HEADER, header("X-Cron-Secret", "The scheduler's secret"));
        components.add_security_scheme(CRON_TOKEN_HEADER, header("X-Cron-Token", "The tick's secret (`CRON_TOKEN`)"));
        for failure in Failure::ALL {
            components.responses.insert(failure.name().to_string(), RefOr::T(failure.response()));
        }
    }
}

/// The document as served: the router's paths in OpenAPI's template form (`/blobs/{key}`
/// for the router's `/blobs/{*key}`), every answer with its `X-Correlation-ID` header.
pub fn finish(mut doc: Document) -> Document {
    let paths = std::mem::take(&mut doc.paths.paths);
    doc.paths.paths = paths.into_iter().map(|(path, item)| (path.replace("{*", "{"), item)).collect();
    for item in doc.paths.paths.values_mut() {
        let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for operation in operations.into_iter().flatten() {
            for response in operation.responses.responses.values_mut() {
                if let RefOr::T(response) = response {
                    response.headers.insert(CORRELATION_HEADER.into(), correlation_header());
                }
            }
        }
    }
    doc
}

/// Swagger UI at `/swagger/index.html` over the document at `/swagger/v1/swagger.json`; a file
/// it does not have is answered like any unknown path.
pub fn swagger_ui<S: Clone + Send + Sync + 'static>(doc: Document) -> axum::Router<S> {
    axum::Router::from(SwaggerUi::new(UI_PATH).url(DOCUMENT_PATH, finish(doc)))
        .layer(axum::middleware::map_response(enveloped))
}

async fn enveloped(response: axum::response::Response) -> axum::response::Response {
    if response.status() == axum::http::StatusCode::NOT_FOUND {
        axum::response::IntoResponse::into_response(super::routes::system::not_found().await)
    } else {
        response
    }
}

/// The API's OpenAPI document.
pub fn document() -> Document {
    finish(super::api_routes().into_openapi())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;

    fn served() -> Value {
        serde_json::to_value(document()).expect("the document is JSON")
    }

    /// Every (path, method, operation) of the document.
    fn operations(doc: &Value) -> Vec<(String, String, Value)> {
        let mut all = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in ["get", "put", "post", "delete", "patch"] {
                if let Some(op) = item.get(method) {
                    all.push((path.clone(), method.to_string(), op.clone()));
                }
            }
        }
        all
    }

    fn statuses(op: &Value) -> BTreeSet<u16> {
        op["responses"].as_object().expect("responses").keys().filter_map(|k| k.parse().ok()).collect()
    }

    #[test]
    fn every_operation_has_an_id_a_summary_a_tag_and_security() {
        let doc = served();
        let mut ids = BTreeSet::new();
        for (path, method, op) in operations(&doc) {
            let id = op["operationId"].as_str().unwrap_or_default().to_string();
            assert!(
                !id.is_empty() && ids.insert(id.clone()),
                "{method} {path}: missing or repeated operation id `{id}`"
            );
            assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{method} {path}: no summary");
            assert_eq!(op["tags"].as_array().map(Vec::len), Some(1), "{method} {path}: one tag");
            assert!(op["security"].is_array(), "{method} {path}: no security requirement");
        }
        assert!(ids.len() > 30, "{} operations", ids.len());
    }

    #[test]
    fn every_operation_lists_its_error_responses_with_the_envelope() {
        let doc = served();
        let shared = doc["components"]["responses"].as_object().expect("shared responses");
        for failure in Failure::ALL {
            let response = &shared[failure.name()];
            assert_eq!(response["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody");
        }
        for (path, method, op) in operations(&doc) {
            let listed = statuses(&op);
            let token = op["security"][0].get(PAT).is_some();
            let cron = op["security"][0].get(CRON_BEARER).is_some();
            let expected: &[Failure] = if token {
                if op.get("requestBody").is_some() { WriteErrors::FAILURES } else { ReadErrors::FAILURES }
            } else if cron {
                CronErrors::FAILURES
            } else {
                ServerErrors::FAILURES
            };
            for failure in expected {
                assert!(listed.contains(&failure.status()), "{method} {path} does not list {}", failure.status());
            }
            for (status, response) in op["responses"].as_object().expect("responses") {
                if status.starts_with(['4', '5']) {
                    let reference = response["$ref"].as_str().unwrap_or_default();
                    let name = reference.trim_start_matches("#/components/responses/");
                    assert!(shared.contains_key(name), "{method} {path} {status}: `{reference}` is not a shared error");
                }
            }
        }
    }

    #[test]
    fn every_answer_documents_its_correlation_id() {
        let doc = served();
        let shared = &doc["components"]["responses"];
        for (path, method, op) in operations(&doc) {
            for (status, response) in op["responses"].as_object().expect("responses") {
                let response = match response["$ref"].as_str() {
                    Some(r) => &shared[r.trim_start_matches("#/components/responses/")],
                    None => response,
                };
                assert!(response["headers"]["X-Correlation-ID"].is_object(), "{method} {path} {status}");
            }
        }
    }

    #[test]
    fn changes_that_can_conflict_list_409() {
        let doc = served();
        for (path, method, op) in operations(&doc) {
            let changes_a_record = matches!(method.as_str(), "patch" | "delete" | "put");
            // Suppressions are keyed by address with no version: a put replaces, a delete of a
            // missing one is 404, so neither can conflict.
            let versionless = path.ends_with("/suppressions/{address}");
            if changes_a_record && path.starts_with("/api/v1/ws/") && !versionless {
                assert!(statuses(&op).contains(&409), "{method} {path} does not list 409");
            }
        }
    }

    #[test]
    fn every_path_template_parameter_is_declared() {
        let doc = served();
        for (path, method, op) in operations(&doc) {
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .filter_map(|p| p["name"].as_str())
                .collect();
            let templated: BTreeSet<&str> =
                path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')).collect();
            assert_eq!(declared, templated, "{method} {path}");
        }
        assert!(doc["paths"].get("/blobs/{key}").is_some(), "the wildcard is written as an OpenAPI template");
    }

    #[test]
    fn listings_document_the_pagination_parameters() {
        let doc = served();
        let listing = &doc["paths"]["/api/v1/ws/{workspace}/reports"]["get"];
        let names: BTreeSet<&str> =
            listing["parameters"].as_array().into_iter().flatten().filter_map(|p| p["name"].as_str()).collect();
        assert!(names.contains("cursor") && names.contains("limit"), "{names:?}");
    }
}
