//! Google Cloud service-account keys: the JSON key file an admin uploads, checked when it is
//! uploaded (its type, its account's email, its key id, and a private key that parses), and
//! the signed assertion (RFC 7523 JWT, RS256, `kid` = the key's id) that the token endpoint
//! exchanges for an access token. The key file's own `token_uri` is never used: the token
//! endpoint is Google's (or a test setting's), so an uploaded file cannot send the key elsewhere.

use std::fmt;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

/// How long an assertion is good for (Google accepts at most an hour).
const ASSERTION_SECONDS: i64 = 3600;

/// Why an uploaded key file was refused, in words for the admin who uploaded it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("is not a JSON key file: {0}")]
    NotJson(String),
    #[error(
        "is a `{0}` file, not a service-account key (`\"type\": \"service_account\"`); download a key of the service account in the Google Cloud console (IAM → Service accounts → Keys)"
    )]
    WrongType(String),
    #[error("has no `{0}`")]
    Missing(&'static str),
    #[error("has a `client_email` that is not an email address")]
    BadEmail,
    #[error("has a `private_key` that is not an RSA private key in PEM: {0}")]
    BadPrivateKey(String),
}

/// The fields of a key file Herald reads (the others are left alone).
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key_id: Option<String>,
    private_key: Option<String>,
}

/// A parsed service-account key, ready to sign.
pub struct ServiceAccountKey {
    pub client_email: String,
    pub private_key_id: String,
    key_pair: RsaKeyPair,
}

impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .finish_non_exhaustive()
    }
}

impl ServiceAccountKey {
    /// Reads a key file's text.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let file: KeyFile = serde_json::from_str(text).map_err(|e| KeyError::NotJson(e.to_string()))?;
        match file.kind.as_deref() {
            Some("service_account") => {}
            Some(other) => return Err(KeyError::WrongType(other.chars().take(40).collect())),
            None => return Err(KeyError::Missing("type")),
        }
        let present =
            |value: Option<String>, name| value.filter(|v| !v.trim().is_empty()).ok_or(KeyError::Missing(name));
        let client_email = present(file.client_email, "client_email")?;
        let private_key_id = present(file.private_key_id, "private_key_id")?;
        let pem = present(file.private_key, "private_key")?;
        if !crate::domain::looks_like_email(&client_email) {
            return Err(KeyError::BadEmail);
        }
        let key_pair = parse_pem(&pem)?;
        Ok(Self { client_email, private_key_id, key_pair })
    }

    /// The public key (DER, PKCS#1), which a token endpoint checks signatures with.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.key_pair.public_key().as_ref().to_vec()
    }

    /// A signed assertion asking for `scope` from the token endpoint `audience`, as of `now`;
    /// with `subject`, for that user (domain-wide delegation).
    pub fn assertion(&self, scope: &str, audience: &str, subject: Option<&str>, now: DateTime<Utc>) -> String {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.private_key_id});
        let iat = now.timestamp();
        let mut claims = json!({
            "iss": self.client_email, "scope": scope, "aud": audience, "iat": iat, "exp": iat + ASSERTION_SECONDS,
        });
        if let Some(subject) = subject {
            claims["sub"] = json!(subject);
        }
        let encode = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let signed = format!("{}.{}", encode(&header), encode(&claims));
        let mut signature = vec![0; self.key_pair.public_modulus_len()];
        // Signing with a key that parsed fails only when the system has no randomness.
        if self.key_pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), signed.as_bytes(), &mut signature).is_err() {
            signature.clear();
        }
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// An RSA private key in PEM: PKCS#8 (`BEGIN PRIVATE KEY`, what Google issues) or PKCS#1.
fn parse_pem(pem: &str) -> Result<RsaKeyPair, KeyError> {
    let pem = pem.trim();
    let (label, body) = pem
        .strip_prefix("-----BEGIN ")
        .and_then(|rest| rest.split_once("-----"))
        .ok_or_else(|| KeyError::BadPrivateKey("it does not start with -----BEGIN PRIVATE KEY-----".into()))?;
    let end = format!("-----END {label}-----");
    let body = body
        .trim_end()
        .strip_suffix(end.as_str())
        .ok_or_else(|| KeyError::BadPrivateKey(format!("it does not end with {end}")))?;
    let base64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let der = STANDARD.decode(base64).map_err(|e| KeyError::BadPrivateKey(format!("its base64 is broken ({e})")))?;
    let parsed = match label {
        "PRIVATE KEY" => RsaKeyPair::from_pkcs8(&der),
        "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der),
        other => return Err(KeyError::BadPrivateKey(format!("a `{other}` is not an RSA private key"))),
    };
    parsed.map_err(|e| KeyError::BadPrivateKey(e.to_string()))
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

    use super::*;

    fn key_file(client_email: &str, key_id: &str) -> String {
        crate::testing::service_account_key_file(client_email, key_id)
    }

    #[test]
    fn an_assertion_is_an_rs256_jwt_the_public_key_verifies_with_the_claims_google_asks_for() {
        let key = ServiceAccountKey::parse(&key_file("reports@herald-test.iam.gserviceaccount.com", "k1")).unwrap();
        let now = "2026-12-07T10:00:00Z".parse().unwrap();
        let jwt = key.assertion(
            "https://www.googleapis.com/auth/drive",
            "https://oauth2.googleapis.com/token",
            Some("ops@example.com"),
            now,
        );
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let decode =
            |p: &str| serde_json::from_slice::<serde_json::Value>(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
        assert_eq!(decode(parts[0]), json!({"alg": "RS256", "typ": "JWT", "kid": "k1"}));
        let claims = decode(parts[1]);
        assert_eq!(claims["iss"], "reports@herald-test.iam.gserviceaccount.com");
        assert_eq!(claims["aud"], "https://oauth2.googleapis.com/token", "never the key file's token_uri");
        assert_eq!(
            (claims["iat"].as_i64(), claims["exp"].as_i64()),
            (Some(now.timestamp()), Some(now.timestamp() + 3600))
        );
        assert_eq!(claims["sub"], "ops@example.com");
        let public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.public_key_der());
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        public.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature).unwrap();
        assert!(public.verify(b"something else", &signature).is_err());
    }

    #[test]
    fn key_files_that_are_not_service_account_keys_are_refused_with_the_reason() {
        let good: serde_json::Value = serde_json::from_str(&key_file("a@b.iam.gserviceaccount.com", "k")).unwrap();
        let with = |field: &str, value: serde_json::Value| {
            let mut file = good.clone();
            file[field] = value;
            ServiceAccountKey::parse(&file.to_string()).unwrap_err().to_string()
        };
        assert!(ServiceAccountKey::parse("{not json").unwrap_err().to_string().starts_with("is not a JSON key file"));
        assert!(with("type", json!("authorized_user")).contains("not a service-account key"));
        assert_eq!(with("client_email", json!("")), "has no `client_email`");
        assert_eq!(with("client_email", json!("nobody")), "has a `client_email` that is not an email address");
        assert_eq!(with("private_key_id", serde_json::Value::Null), "has no `private_key_id`");
        assert!(with("private_key", json!("MIIEv...")).contains("does not start with -----BEGIN PRIVATE KEY-----"));
        let garbled = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----";
        assert!(with("private_key", json!(garbled)).starts_with("has a `private_key` that is not an RSA private key"));
        let debug = format!("{:?}", ServiceAccountKey::parse(&good.to_string()).unwrap());
        assert!(!debug.contains("PRIVATE"), "{debug}");
    }
}
