//! Extractors whose rejections speak the API's error envelope, and the listing shape shared
//! by every collection endpoint.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::ApiError;
use crate::store::{Listing, PageRequest};

/// A JSON body read but not yet judged: a handler checks the caller's permission first and
/// then `parse`s it, so a caller who may not do something is told so whatever it sent.
/// Malformed or mistyped bodies are `body_validation_error`; a body without a JSON
/// `Content-Type` is 415.
pub struct JsonBody {
    json: bool,
    bytes: bytes::Bytes,
}

impl JsonBody {
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        if !self.json {
            return Err(ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                super::error::ErrorCode::BodyValidationError,
                "Expected a request body with `Content-Type: application/json`",
            ));
        }
        let axum::Json(value) = axum::Json::<T>::from_bytes(&self.bytes)?;
        Ok(value)
    }

    /// For a body that may be left out: an empty body is `T::default()`.
    pub fn parse_or_default<T: DeserializeOwned + Default>(&self) -> Result<T, ApiError> {
        if self.bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(T::default());
        }
        let axum::Json(value) = axum::Json::<T>::from_bytes(&self.bytes)?;
        Ok(value)
    }
}

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|mime| mime.trim().to_ascii_lowercase())
            .is_some_and(|mime| {
                mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        let bytes = bytes::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::new(e.status(), super::error::ErrorCode::BodyValidationError, e.body_text()))?;
        Ok(Self { json, bytes })
    }
}

/// Query parameters; bad ones are `validation_error`.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(value) = axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// `?cursor=…&limit=…` of a listing.
/// (Kept as text: query strings inside flattened structs arrive as strings.)
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Where the page starts: the `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 200.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
}

impl PageParams {
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        let limit = match self.limit.as_deref() {
            None | Some("") => None,
            Some(raw) => match raw.parse::<usize>() {
                Ok(limit) if (1..=200).contains(&limit) => Some(limit),
                _ => return Err(ApiError::invalid("limit", "must be a whole number between 1 and 200")),
            },
        };
        Ok(PageRequest { cursor: self.cursor.clone().filter(|c| !c.is_empty()), limit })
    }
}

/// An API object: the value's fields plus `"object": kind`.
pub fn object<T: Serialize>(kind: &str, value: &T) -> Value {
    let mut v = serde_json::to_value(value).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        map.insert("object".into(), Value::String(kind.into()));
    }
    v
}

/// `{"object": "list", "data": [...], "has_more", "next_cursor"}`.
pub fn list<T>(listing: Listing<T>, view: impl Fn(&T) -> Value) -> Value {
    json!({
        "object": "list",
        "data": listing.items.iter().map(view).collect::<Vec<_>>(),
        "has_more": listing.cursor.is_some(),
        "next_cursor": listing.cursor,
    })
}
