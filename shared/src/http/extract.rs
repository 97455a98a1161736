//! Extractors whose rejections speak the API's error envelope, and the listing shape shared
//! by every collection endpoint.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::ApiError;
use crate::store::{Listing, PageRequest};

/// A body that could not be read as the operation's JSON object, with the reason.
fn body_error(status: axum::http::StatusCode, reason: impl Into<String>) -> ApiError {
    ApiError::new(
        status,
        super::error::ErrorCode::BodyValidationError,
        "Request body did not match the expected schema",
    )
    .with_details(json!({ "reason": reason.into() }))
}

/// A JSON object body read but not yet judged: a handler checks the caller's permission first
/// and then `parse`s it, so a caller who may not do something is told so whatever it sent.
/// Malformed or mistyped bodies (an array, a string…) are `body_validation_error`; a body
/// without a JSON `Content-Type` is 415.
pub struct JsonBody {
    json: bool,
    bytes: bytes::Bytes,
}

impl JsonBody {
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        if !self.json {
            return Err(body_error(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Expected request with `Content-Type: application/json`",
            ));
        }
        self.object()
    }

    /// For a body that may be left out: no body (blank, when not declared JSON), or JSON
    /// `null`, is `T::default()`; anything else must be a JSON object. A body declared JSON that
    /// is only whitespace is not JSON, and is refused.
    pub fn parse_or_default<T: DeserializeOwned + Default>(&self) -> Result<T, ApiError> {
        let text = self.bytes.trim_ascii();
        if self.bytes.is_empty() || (text.is_empty() && !self.json) || text == b"null" {
            return Ok(T::default());
        }
        self.object()
    }

    /// The body as `T`, which every body of the API is an object of (a JSON array would
    /// otherwise fill a struct's fields in order). A number written with a zero fraction
    /// (`3.0`) is an integer, as JSON Schema says, where the field takes one.
    fn object<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let axum::Json(value) = axum::Json::<Value>::from_bytes(&self.bytes)?;
        if !value.is_object() {
            return Err(body_error(axum::http::StatusCode::BAD_REQUEST, "The request body must be a JSON object"));
        }
        match axum::Json::<T>::from_bytes(&self.bytes) {
            Ok(axum::Json(parsed)) => Ok(parsed),
            Err(rejection) => {
                let Some(integral) = integral_numbers(&self.bytes) else {
                    return Err(rejection.into());
                };
                serde_json::from_slice(&integral).map_err(|e| {
                    body_error(axum::http::StatusCode::BAD_REQUEST, format!("Failed to deserialize the JSON body: {e}"))
                })
            }
        }
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
        let bytes = bytes::Bytes::from_request(req, state).await.map_err(|e| body_error(e.status(), e.body_text()))?;
        Ok(Self { json, bytes })
    }
}

/// A `version` a change is based on: a whole number from 0 to 2^63 - 1, as the document says
/// (`format: int64`).
pub fn version<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<u64>::deserialize(d)? {
        Some(v) if v > i64::MAX as u64 => Err(serde::de::Error::custom("a version is at most 9223372036854775807")),
        other => Ok(other),
    }
}

/// The body with every number whose value is whole (`3.0`, `1.5e3`) written as an integer, or
/// `None` when it has none. It works on the text, so no digit is lost to a float on the way.
fn integral_numbers(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let (mut changed, mut in_string, mut i) = (false, false, 0);
    while let Some(&b) = text.get(i) {
        if in_string || b == b'"' {
            out.push(b);
            if b == b'\\' && in_string {
                out.extend(text.get(i + 1));
                i += 1;
            } else if b == b'"' {
                in_string = !in_string;
            }
            i += 1;
        } else if b == b'-' || b.is_ascii_digit() {
            let len =
                text[i..].iter().take_while(|c| matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')).count();
            let token = &text[i..i + len];
            match whole_number(token) {
                Some(digits) => {
                    out.extend_from_slice(digits.as_bytes());
                    changed = true;
                }
                None => out.extend_from_slice(token),
            }
            i += len;
        } else {
            out.push(b);
            i += 1;
        }
    }
    changed.then_some(out)
}

/// A JSON number with a fraction or an exponent, as an integer when its value is whole and has
/// at most 20 digits (every integer field fits in that).
fn whole_number(token: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(token).ok()?;
    let (sign, text) = text.strip_prefix('-').map_or(("", text), |rest| ("-", rest));
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, exponent.parse::<i64>().ok()?),
        None => (text, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if fraction.is_empty() && exponent == 0 {
        return None;
    }
    let digits = format!("{whole}{fraction}");
    let significant = digits.trim_start_matches('0').trim_end_matches('0');
    if significant.is_empty() {
        return Some("0".to_owned());
    }
    // The value is `digits` × 10^scale; trimming trailing zeros raised the scale.
    let trailing = digits.trim_end_matches('0').len();
    let scale = exponent - fraction.len() as i64 + (digits.len() - trailing) as i64;
    if scale < 0 || significant.len() as i64 + scale > 20 {
        return None;
    }
    Some(format!("{sign}{significant}{}", "0".repeat(scale as usize)))
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
            None => None,
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

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::StatusCode;

    use super::*;

    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Options {
        limit: Option<u32>,
    }

    async fn body(content_type: Option<&str>, text: &str) -> JsonBody {
        let mut request = axum::http::Request::builder().method("POST").uri("/");
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let request = request.body(Body::from(text.to_owned())).unwrap();
        match JsonBody::from_request(request, &()).await {
            Ok(body) => body,
            Err(e) => panic!("the body was not read: {}", e.message),
        }
    }

    #[tokio::test]
    async fn a_json_array_or_scalar_is_not_taken_for_an_object_body() {
        for text in ["[5]", "[]", "\"text\"", "42", "null"] {
            let read = body(Some("application/json"), text).await;
            let errors = [Some(read.parse::<Options>().unwrap_err()), read.parse_or_default::<Options>().err()];
            // A body that may be left out may also be `null`, JSON's "nothing".
            assert_eq!(errors[1].is_none(), text == "null", "{text}");
            for error in errors.into_iter().flatten() {
                assert_eq!(error.status, StatusCode::BAD_REQUEST, "{text}");
                assert!(error.details.is_some_and(|d| d["reason"].is_string()), "{text}");
            }
        }
        let read = body(Some("application/json"), r#"{"limit": 5}"#).await;
        assert_eq!(read.parse::<Options>().unwrap().limit, Some(5));
        assert_eq!(body(None, " \n").await.parse_or_default::<Options>().unwrap().limit, None);
        assert_eq!(body(Some("application/json"), "").await.parse_or_default::<Options>().unwrap().limit, None);
        let blank = body(Some("application/json"), "\t").await.parse_or_default::<Options>();
        assert_eq!(blank.unwrap_err().status, StatusCode::BAD_REQUEST, "whitespace alone is not JSON");
        let unknown = body(Some("application/json"), r#"{"colour": "red"}"#).await.parse::<Options>();
        assert_eq!(unknown.unwrap_err().status, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn a_body_without_a_json_content_type_is_refused_only_when_it_is_read() {
        let read = body(Some("text/plain"), "{}").await;
        assert_eq!(read.parse::<Options>().unwrap_err().status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(body(Some("application/merge-patch+json; charset=utf-8"), "{}").await.parse::<Options>().is_ok());
    }

    #[derive(Debug, Deserialize)]
    struct Change {
        #[serde(default, deserialize_with = "version")]
        version: Option<u64>,
    }

    #[tokio::test]
    async fn a_whole_number_written_with_a_zero_fraction_is_read_exactly() {
        let cases = [
            ("4098491436866898.0", 4098491436866898),
            ("3.0", 3),
            ("0.0", 0),
            ("9007199254740993.0", (1 << 53) + 1),
            ("1.2345678901234567e+18", 1234567890123456700),
            ("250E-1", 25),
            ("2.50e1", 25),
        ];
        for (text, expected) in cases {
            let read = body(Some("application/json"), &format!(r#"{{"version": {text}}}"#)).await;
            assert_eq!(read.parse::<Change>().unwrap().version, Some(expected), "{text}");
        }
        for text in ["3.5", "1e-1", "-2.0", "1e400", "\"3.0\""] {
            let read = body(Some("application/json"), &format!(r#"{{"version": {text}}}"#)).await;
            assert_eq!(read.parse::<Change>().unwrap_err().status, StatusCode::BAD_REQUEST, "{text}");
        }
        assert_eq!(
            integral_numbers(br#"{"a": "1.0 \" 2.0", "b": [1.0, -0.0, 1.5]}"#).unwrap(),
            br#"{"a": "1.0 \" 2.0", "b": [1, 0, 1.5]}"#
        );
    }
}
