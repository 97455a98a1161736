//! `{name}` placeholders in source definitions (HTTP URLs, inline rows, dataset filters),
//! filled from the run: `{name}` is a run parameter and `{data.path.to.field}` a field of the
//! run's data payload. A `{` that does not open a well-formed placeholder is kept as written;
//! a well-formed placeholder naming nothing is an error, never an empty string.

use serde_json::{Map, Value};

use crate::template::{Piece, pieces};

/// What placeholders are filled from.
#[derive(Debug, Clone, Copy)]
pub struct Bindings<'a> {
    pub parameters: &'a Map<String, Value>,
    pub data: &'a Value,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("`{{{0}}}` names no parameter of the run")]
    UnknownParameter(String),
    #[error("`{{{0}}}` names no field of the run's data")]
    UnknownData(String),
}

impl Bindings<'_> {
    /// The value a placeholder names.
    pub fn lookup(&self, name: &str) -> Result<&Value, TemplateError> {
        if let Some(path) = name.strip_prefix("data.") {
            return crate::template::lookup(self.data, path).ok_or_else(|| TemplateError::UnknownData(name.into()));
        }
        self.parameters.get(name).ok_or_else(|| TemplateError::UnknownParameter(name.into()))
    }

    /// `template` with every placeholder replaced by its value's text passed through `encode`.
    pub fn expand_with(&self, template: &str, encode: impl Fn(&str) -> String) -> Result<String, TemplateError> {
        let mut out = String::with_capacity(template.len());
        for piece in pieces(template) {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Placeholder { name, .. } => out.push_str(&encode(&text(self.lookup(name)?))),
            }
        }
        Ok(out)
    }

    /// `template` with every placeholder replaced by its value's text.
    pub fn expand(&self, template: &str) -> Result<String, TemplateError> {
        self.expand_with(template, str::to_string)
    }

    /// A JSON value with placeholders filled in its strings. A string that is exactly one
    /// placeholder takes the value itself (so `"{limit}"` stays a number).
    pub fn expand_value(&self, value: &Value) -> Result<Value, TemplateError> {
        Ok(match value {
            Value::String(s) => match pieces(s).as_slice() {
                [Piece::Placeholder { name, start: 0, end }] if *end == s.len() => self.lookup(name)?.clone(),
                pieces
                    if pieces.iter().all(|p| matches!(p, Piece::Text(_))) && !s.contains("{{") && !s.contains("}}") =>
                {
                    value.clone()
                }
                _ => Value::String(self.expand(s)?),
            },
            Value::Array(items) => Value::Array(items.iter().map(|v| self.expand_value(v)).collect::<Result<_, _>>()?),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.expand_value(v)?)))
                    .collect::<Result<_, TemplateError>>()?,
            ),
            other => other.clone(),
        })
    }
}

/// The text a value stands for in a template (strings without quotes; null as empty).
fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Percent-encodes everything but the unreserved characters of RFC 3986, so a value can never
/// add a path segment, a query parameter or a fragment to a URL.
pub fn url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn with<T>(parameters: Value, data: Value, f: impl FnOnce(Bindings<'_>) -> T) -> T {
        let parameters = parameters.as_object().cloned().unwrap_or_default();
        f(Bindings { parameters: &parameters, data: &data })
    }

    #[test]
    fn parameters_and_data_fields_fill_their_placeholders() {
        with(json!({"region": "EU", "n": 3}), json!({"customer": {"id": "c-9"}}), |b| {
            assert_eq!(b.expand("{region}/{n}/{data.customer.id}").unwrap(), "EU/3/c-9");
        });
    }

    #[test]
    fn braces_that_are_not_placeholders_stay_as_written() {
        with(json!({}), json!(null), |b| {
            assert_eq!(b.expand("{ not one } {} {1x} {").unwrap(), "{ not one } {} {1x} {");
        });
    }

    #[test]
    fn an_unknown_placeholder_is_an_error_naming_it() {
        with(json!({"region": "EU"}), json!({}), |b| {
            assert_eq!(b.expand("{regoin}").unwrap_err().to_string(), "`{regoin}` names no parameter of the run");
            assert!(matches!(b.expand("{data.x}"), Err(TemplateError::UnknownData(_))));
        });
    }

    #[test]
    fn url_values_are_encoded_so_they_cannot_change_the_url_shape() {
        with(json!({"q": "a b/c?d=1&e#f", "id": "Zoë"}), json!(null), |b| {
            let url = b.expand_with("https://api.example.com/{id}?q={q}", url_encode).unwrap();
            assert_eq!(url, "https://api.example.com/Zo%C3%AB?q=a%20b%2Fc%3Fd%3D1%26e%23f");
        });
    }

    #[test]
    fn a_string_that_is_one_placeholder_keeps_the_value_type() {
        with(json!({"limit": 5, "name": "x"}), json!(null), |b| {
            let v = b.expand_value(&json!({"a": "{limit}", "b": "n={limit}", "c": ["{name}"], "d": true})).unwrap();
            assert_eq!(v, json!({"a": 5, "b": "n=5", "c": ["x"], "d": true}));
        });
    }
}
