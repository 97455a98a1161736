//! The `http` source: rows from a JSON endpoint. The URL is a template whose `{param}`
//! placeholders are filled with URL-encoded run values; the request goes through
//! [`OutboundHttp`](crate::net::OutboundHttp) under the workspace's network policy, with the
//! source's timeout and size cap and an optional secret header.
//!
//! Accepted answers: an array of objects; an object whose `rows`, `data` or `items` field is
//! such an array; or a single object (one row).

use std::time::Duration;

use serde_json::{Map, Value};

use super::template::{Bindings, url_encode};
use super::{RowSet, SourceError};
use crate::domain::Secret;
use crate::net::{NetworkPolicy, OutboundHttp, RequestOptions};

/// Where an endpoint may nest its rows.
const ROW_FIELDS: [&str; 3] = ["rows", "data", "items"];

/// One `http` source, as the report defines it.
pub struct HttpSource<'a> {
    pub url: &'a str,
    pub header_name: Option<&'a str>,
    pub header_secret: Option<&'a Secret>,
    pub timeout_ms: u32,
    pub max_bytes: u32,
}

/// Fetches the rows of `source`.
pub async fn fetch(
    http: &OutboundHttp,
    policy: &NetworkPolicy,
    bindings: &Bindings<'_>,
    source: &HttpSource<'_>,
) -> Result<RowSet, SourceError> {
    let url =
        bindings.expand_with(source.url, url_encode).map_err(|e| SourceError::Template { field: "url", source: e })?;
    let mut options =
        RequestOptions::new(Duration::from_millis(u64::from(source.timeout_ms)), source.max_bytes as usize)
            .with_header("accept", "application/json")?;
    if let (Some(name), Some(secret)) = (source.header_name, source.header_secret) {
        options = options.with_header(name, secret.expose())?;
    }
    let response = http.get(policy, &url, &options).await?;
    if response.is_redirect() {
        return Err(SourceError::HttpStatus {
            status: response.status,
            hint: " (redirects are not followed; use the final URL)",
        });
    }
    if !response.is_success() {
        return Err(SourceError::HttpStatus { status: response.status, hint: "" });
    }
    let value: Value = serde_json::from_slice(&response.body).map_err(|e| SourceError::NotJson(e.to_string()))?;
    rows_from_json(value)
}

/// The rows of an endpoint's answer.
pub fn rows_from_json(value: Value) -> Result<RowSet, SourceError> {
    let shape = |found: &str| {
        SourceError::Shape(format!(
            "expected an array of objects, an object with a `rows`, `data` or `items` array of objects, or a \
             single object; got {found}"
        ))
    };
    match value {
        Value::Array(items) => objects(items, "the array").map(RowSet::from_objects),
        Value::Object(mut object) => {
            if let Some(field) = ROW_FIELDS.iter().find(|f| object.get(**f).is_some_and(Value::is_array)) {
                let Some(Value::Array(items)) = object.remove(*field) else { return Err(shape("an object")) };
                return objects(items, &format!("`{field}`")).map(RowSet::from_objects);
            }
            Ok(RowSet::from_objects(vec![object]))
        }
        Value::Null => Err(shape("null")),
        Value::Bool(_) => Err(shape("a boolean")),
        Value::Number(_) => Err(shape("a number")),
        Value::String(_) => Err(shape("a string")),
    }
}

fn objects(items: Vec<Value>, what: &str) -> Result<Vec<Map<String, Value>>, SourceError> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(object) => Ok(object),
            _ => Err(SourceError::Shape(format!("item {i} of {what} is not an object; every row must be one"))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn arrays_wrapped_arrays_and_single_objects_become_rows() {
        assert_eq!(rows_from_json(json!([{"a": 1}, {"a": 2}])).unwrap().len(), 2);
        for field in ROW_FIELDS {
            let rows = rows_from_json(json!({field: [{"a": 1}], "total": 1})).unwrap();
            assert_eq!((rows.len(), rows.columns[0].name.as_str()), (1, "a"));
        }
        let single = rows_from_json(json!({"balance": 10, "data": {"x": 1}})).unwrap();
        assert_eq!((single.len(), single.columns.len()), (1, 2));
        assert!(rows_from_json(json!([])).unwrap().is_empty());
    }

    #[test]
    fn anything_else_is_refused_with_what_was_found() {
        assert!(rows_from_json(json!("hello")).unwrap_err().to_string().ends_with("got a string"));
        assert!(rows_from_json(json!(null)).unwrap_err().to_string().ends_with("got null"));
        let err = rows_from_json(json!({"rows": [{"a": 1}, 7]})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the endpoint's answer has the wrong shape: item 1 of `rows` is not an object; every row must be one"
        );
        assert!(rows_from_json(json!([[1, 2]])).is_err());
    }
}
