//! Request middleware: the correlation id every response carries (`X-Correlation-ID`, echoed
//! when the caller sent a sensible one) and the request span that logs carry it in.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::error::REQUEST_ID;

pub const CORRELATION_HEADER: &str = "x-correlation-id";

fn acceptable(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

pub async fn correlation(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| acceptable(id))
        .map_or_else(
            || ulid::Ulid::from_parts(chrono::Utc::now().timestamp_millis() as u64, rand::random()).to_string(),
            str::to_string,
        );
    let span =
        tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path());
    let mut response = REQUEST_ID.scope(id.clone(), next.run(request).instrument(span.clone())).await;
    span.in_scope(|| tracing::info!(status = response.status().as_u16(), "handled"));
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(CORRELATION_HEADER, value);
    }
    response
}
