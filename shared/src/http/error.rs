//! The API's error envelope: an HTTP status plus
//! `{"error": {"code", "message", "details"}, "request_id"}` with a stable code. Every failure
//! of a handler or an extractor is turned into one; internal details are logged, not sent.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use crate::domain::ValidationErrors;
use crate::store::StoreError;

tokio::task_local! {
    /// The id of the request being handled (echoed as `X-Correlation-ID`).
    pub static REQUEST_ID: String;
}

/// The stable error codes of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    ValidationError,
    BodyValidationError,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    RateLimitExceeded,
    InternalError,
    ServiceUnavailable,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<Value>,
    /// Seconds to wait before trying again (`Retry-After`).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), details: None, retry_after: None }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, "Missing or invalid credentials")
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
    }

    /// `what` (a kind of thing) was not found. The answer never repeats the id or code asked
    /// for, so it reads the same whether the thing never existed or belongs to someone else.
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, format!("{what} not found"))
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, ErrorCode::Conflict, message)
    }

    /// A bad query or path parameter.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::ValidationError, format!("{field}: {message}"))
            .with_details(json!({"errors": [{"field": field, "message": message}]}))
    }

    /// Too many requests for this token; it may try again after `seconds`.
    pub fn rate_limited(seconds: u64) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimitExceeded,
            format!("Too many requests for this token; retry in {seconds} s"),
        )
        .with_details(json!({"retry_after_seconds": seconds}));
        error.retry_after = Some(seconds);
        error
    }

    /// `what` would be `bytes` stored, over the `limit` every Herald store keeps (DynamoDB's
    /// item size): `413`, with both numbers, whatever the store.
    pub fn too_large(what: &str, bytes: usize, limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::ValidationError,
            format!("{what} would be {bytes} bytes stored, over the limit of {limit} bytes"),
        )
        .with_details(json!({"stored_bytes": bytes, "limit_bytes": limit}))
    }

    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::InternalError, "An unexpected error occurred")
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::ValidationError, "Request validation failed")
            .with_details(json!({ "errors": errors.0 }))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { kind, .. } => ApiError::not_found(kind),
            StoreError::Conflict(message) => ApiError::conflict(message),
            StoreError::InvalidTransition { .. } => ApiError::conflict(e.to_string()),
            StoreError::InvalidCursor => ApiError::invalid("cursor", "is not a cursor of this listing"),
            // Permanent: the same request can never fit, so it is not a "please retry".
            StoreError::TooLarge { kind, bytes, limit } => ApiError::too_large(kind, bytes, limit),
            StoreError::Corrupt { .. } | StoreError::Backend(_) => {
                tracing::error!(error = %e, "store failure");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::ServiceUnavailable,
                    "Service temporarily unavailable, please retry",
                )
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = match rejection {
            JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, ErrorCode::BodyValidationError, "Request body did not match the expected schema")
            .with_details(json!({ "reason": rejection.body_text() }))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::ValidationError, "Invalid query parameters")
            .with_details(json!({ "reason": rejection.body_text() }))
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "Resource not found")
            .with_details(json!({ "reason": rejection.body_text() }))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let request_id = REQUEST_ID.try_with(Clone::clone).unwrap_or_default();
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(details) = self.details {
            error["details"] = details;
        }
        let mut response =
            (self.status, axum::Json(json!({ "error": error, "request_id": request_id }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl From<crate::pipeline::PipelineError> for ApiError {
    fn from(e: crate::pipeline::PipelineError) -> Self {
        use crate::pipeline::PipelineError;
        match e {
            PipelineError::Invalid(errors) => errors.into(),
            PipelineError::Store(store) => store.into(),
            PipelineError::Queue(queue) => {
                tracing::error!(error = %queue, "queue failure");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::ServiceUnavailable,
                    "Service temporarily unavailable, please retry",
                )
            }
            PipelineError::Blob(blob) => {
                tracing::error!(error = %blob, "blob storage failure");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::ServiceUnavailable,
                    "Service temporarily unavailable, please retry",
                )
            }
            PipelineError::Generation(reason) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::ValidationError, reason)
            }
            PipelineError::NotAvailable(what) => ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                ErrorCode::ServiceUnavailable,
                format!("{what} is not available in this version of Herald"),
            ),
        }
    }
}
