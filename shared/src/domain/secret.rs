//! Secrets (passwords, API keys, header secrets, webhook URLs that carry a token, signing keys)
//! and the one rule about them: a secret never leaves Herald except to the system it is for.
//!
//! The rule holds by construction, not by redacting in each view:
//! - `Serialize` writes [`Secret::REDACTED`], whatever object carries the secret (a report, a
//!   run's snapshot of it, a destination, settings, an error detail, a log field);
//! - only the store's codec writes the value, inside [`revealed`], which this crate alone can
//!   call; `Debug` redacts and there is no `Display`;
//! - the value is read with [`Secret::expose`] where it is sent to its system, nowhere else.
//!
//! A client that reads an object and sends it back sends the mask; [`keep_masked`] puts the
//! stored value back only when everything the secret is sent to is unchanged, so a mask can
//! never carry a secret to a new place.

use std::cell::Cell;
use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

use super::FieldError;

thread_local! {
    /// Set while the store's codec serializes an entity (serialization is synchronous, so a
    /// thread-local cannot leak into another task).
    static REVEALED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `encode` with secrets serialized as their values: the store's codec, and nothing else.
pub(crate) fn revealed<T>(encode: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            REVEALED.set(self.0);
        }
    }
    let _restore = Restore(REVEALED.replace(true));
    encode()
}

#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// What every answer shows instead of a secret, and what a client sends back to keep it.
    pub const REDACTED: &'static str = "********";

    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for sending it to the system it belongs to.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether this is the mask a client sent back ("keep the stored one").
    pub fn is_mask(&self) -> bool {
        self.0 == Self::REDACTED
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if REVEALED.get() { serializer.serialize_str(&self.0) } else { serializer.serialize_str(Self::REDACTED) }
    }
}

impl utoipa::PartialSchema for Secret {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        super::values::string_schema(
            "A secret: write-only, answered as `********`; sending `********` back keeps the stored one \
             only while what it is sent to is unchanged",
            Some("password"),
            None,
            None,
            None,
        )
    }
}

impl utoipa::ToSchema for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::REDACTED)
    }
}

/// Resolves a secret a client sent for `field`: a new value is taken as it is; the mask or an
/// omitted secret (`None`) means "keep the stored one", which is allowed only when `stored`
/// exists and `same_target` says everything the secret is sent to is unchanged. Otherwise the
/// caller must give the secret again.
pub fn keep_masked(
    field: &str,
    incoming: &mut Option<Secret>,
    stored: Option<&Secret>,
    same_target: bool,
) -> Result<(), FieldError> {
    if incoming.as_ref().is_some_and(|s| !s.is_mask()) {
        return Ok(());
    }
    match stored {
        Some(stored) if same_target => {
            *incoming = Some(stored.clone());
            Ok(())
        }
        Some(_) => Err(FieldError::new(
            field,
            "give the secret again: the stored one is kept only while what it is sent to is unchanged",
        )),
        None if incoming.is_some() => Err(FieldError::new(
            field,
            format!("write the secret: `{}` only keeps one already saved here", Secret::REDACTED),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Carrier {
        password: Secret,
        nested: Vec<Option<Secret>>,
    }

    fn carrier() -> Carrier {
        Carrier { password: Secret::new("hunter2"), nested: vec![Some(Secret::new("k-123")), None] }
    }

    #[test]
    fn a_secret_serializes_as_the_mask_wherever_it_is_carried() {
        let text = serde_json::to_string(&carrier()).unwrap();
        assert_eq!(text, r#"{"password":"********","nested":["********",null]}"#);
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "********");
    }

    #[test]
    fn only_the_store_codec_writes_the_value_and_only_while_it_encodes() {
        let stored = revealed(|| serde_json::to_string(&carrier()).unwrap());
        assert_eq!(stored, r#"{"password":"hunter2","nested":["k-123",null]}"#);
        assert!(!serde_json::to_string(&carrier()).unwrap().contains("hunter2"));
        let nested = revealed(|| revealed(|| serde_json::to_string(&carrier()).unwrap()));
        assert!(nested.contains("hunter2"));
        assert!(!serde_json::to_string(&carrier()).unwrap().contains("hunter2"));
    }

    #[test]
    fn the_reveal_is_undone_even_when_encoding_panics() {
        let _ = std::panic::catch_unwind(|| revealed(|| panic!("boom")));
        assert!(!serde_json::to_string(&carrier()).unwrap().contains("hunter2"));
    }

    #[test]
    fn a_mask_keeps_the_stored_secret_only_for_the_same_target() {
        let stored = Secret::new("old");
        let mut masked = Some(Secret::new(Secret::REDACTED));
        keep_masked("f", &mut masked, Some(&stored), true).unwrap();
        assert_eq!(masked.unwrap().expose(), "old");

        let mut omitted = None;
        keep_masked("f", &mut omitted, Some(&stored), true).unwrap();
        assert_eq!(omitted.unwrap().expose(), "old");

        let mut retargeted = Some(Secret::new(Secret::REDACTED));
        let error = keep_masked("f", &mut retargeted, Some(&stored), false).unwrap_err();
        assert!(error.message.contains("give the secret again"), "{}", error.message);

        let mut new = Some(Secret::new("new"));
        keep_masked("f", &mut new, Some(&stored), false).unwrap();
        assert_eq!(new.unwrap().expose(), "new");

        let mut nothing_stored = Some(Secret::new(Secret::REDACTED));
        assert!(keep_masked("f", &mut nothing_stored, None, true).is_err());
        let mut none = None;
        keep_masked("f", &mut none, None, false).unwrap();
        assert!(none.is_none());
    }
}
