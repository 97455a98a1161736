//! Validated value types shared by the entities: codes, names, identifiers, secrets, and the
//! field-level validation errors every entity reports all at once.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Serde default for flags that are on unless switched off.
pub(crate) fn default_true() -> bool {
    true
}

/// A name's pattern: something other than whitespace, and no control characters.
const NAME_PATTERN: &str =
    r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$";

/// The OpenAPI schema of a value that travels as a JSON string.
pub(crate) fn string_schema(
    description: &str,
    format: Option<&str>,
    pattern: Option<&str>,
    length: Option<(usize, usize)>,
    example: Option<&str>,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaFormat, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .format(format.map(|f| SchemaFormat::Custom(f.into())))
        .pattern(pattern)
        .min_length(length.map(|(min, _)| min))
        .max_length(length.map(|(_, max)| max))
        .examples(example)
        .into()
}

/// One problem with one field of an input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Path of the field, e.g. `sources[1].name`.
    pub field: String,
    pub message: String,
}

/// Adds `more` to `errors`, leaving out the fields `errors` already names (one message a field).
pub fn add_unreported(errors: &mut Vec<FieldError>, more: impl IntoIterator<Item = FieldError>) {
    let reported: Vec<String> = errors.iter().map(|e| e.field.clone()).collect();
    errors.extend(more.into_iter().filter(|e| !reported.contains(&e.field)));
}

impl From<FieldError> for ValidationErrors {
    fn from(error: FieldError) -> Self {
        ValidationErrors(vec![error])
    }
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// Every problem found in an input, reported together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", summary(.0))]
pub struct ValidationErrors(pub Vec<FieldError>);

fn summary(errors: &[FieldError]) -> String {
    errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; ")
}

impl ValidationErrors {
    /// `Ok(())` when no problem was collected.
    pub fn into_result(errors: Vec<FieldError>) -> Result<(), ValidationErrors> {
        if errors.is_empty() { Ok(()) } else { Err(ValidationErrors(errors)) }
    }

    /// The same errors with their fields under `parent` (`rule` becomes `schedule.rule`).
    pub fn prefixed(self, parent: &str) -> Self {
        let under = |field: String| if field.is_empty() { parent.to_string() } else { format!("{parent}.{field}") };
        ValidationErrors(self.0.into_iter().map(|e| FieldError { field: under(e.field), ..e }).collect())
    }
}

macro_rules! string_value {
    ($(#[$meta:meta])* $name:ident, $schema:expr, $check:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Validates `value`; the error says what is wrong with it.
            pub fn parse(value: impl Into<String>) -> Result<Self, String> {
                let value = value.into();
                let check: fn(&str) -> Result<(), String> = $check;
                check(&value).map(|()| Self(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(raw).map_err(serde::de::Error::custom)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $schema
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

string_value!(
    /// A stable, human-readable identifier used in API paths (`acme`, `monthly-statements`):
    /// 1–64 characters of lowercase letters, digits, `-` and `_`, starting with a letter or digit,
    /// and never shaped like a ULID (so `{idOrCode}` paths are unambiguous).
    Code,
    string_schema(
        "A stable identifier: lowercase letters, digits, `-` and `_`, starting with a letter or digit",
        None,
        Some("^[a-z0-9][a-z0-9_-]{0,63}$"),
        Some((1, 64)),
        Some("weekly-digest"),
    ),
    |v| {
        if v.is_empty() || v.len() > 64 {
            return Err("must be 1 to 64 characters".into());
        }
        if !v.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_') {
            return Err("may only contain lowercase letters, digits, '-' and '_'".into());
        }
        if !v.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err("must start with a letter or digit".into());
        }
        if v.len() == 26 && ulid::Ulid::from_string(&v.to_ascii_uppercase()).is_ok() {
            return Err("must not look like an id".into());
        }
        Ok(())
    }
);

string_value!(
    /// A display name: 1–200 characters, not blank, no control characters.
    Name,
    string_schema(
        "A display name: not blank, no control characters",
        None,
        Some(NAME_PATTERN),
        Some((1, 200)),
        Some("Weekly digest")
    ),
    |v| {
        if v.trim().is_empty() {
            return Err("must not be blank".into());
        }
        if v.chars().count() > 200 {
            return Err("must be at most 200 characters".into());
        }
        if v.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(())
    }
);

string_value!(
    /// A name that templates and expressions refer to (`customers`, `period`, `customerId`):
    /// a letter or `_` followed by letters, digits or `_`, at most 64 characters.
    Ident,
    string_schema(
        "A name templates refer to: a letter or `_` followed by letters, digits or `_`",
        None,
        Some("^[A-Za-z_][A-Za-z0-9_]{0,63}$"),
        Some((1, 64)),
        Some("customers"),
    ),
    |v| {
        let mut chars = v.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') || v.len() > 64 {
            return Err("must be a letter or '_' followed by letters, digits or '_' (at most 64)".into());
        }
        Ok(())
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_accept_lowercase_slugs() {
        for ok in ["acme", "monthly-statements", "team_1", "2026"] {
            assert!(Code::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn codes_reject_what_cannot_be_a_stable_path_segment() {
        for bad in ["", "Acme", "-lead", "a b", "a/b", &"x".repeat(65), "01ARZ3NDEKTSV4RRFFQ69G5FAV"] {
            assert!(Code::parse(bad).is_err(), "{bad:?}");
        }
        let lower_ulid = "01arz3ndektsv4rrffq69g5fav";
        assert_eq!(Code::parse(lower_ulid).unwrap_err(), "must not look like an id");
    }

    #[test]
    fn names_must_not_be_blank_or_contain_control_characters() {
        assert!(Name::parse("Weekly digest").is_ok());
        assert!(Name::parse("   ").is_err());
        assert!(Name::parse("a\u{0}b").is_err());
    }

    #[test]
    fn deserializing_an_invalid_value_fails_with_the_reason() {
        let err = serde_json::from_str::<Ident>("\"9lives\"").unwrap_err();
        assert!(err.to_string().contains("must be a letter"));
    }
}
