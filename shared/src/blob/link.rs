//! Herald's own download links: `{base}/blobs/{key}?expires=…&signature=…`, an HMAC-SHA256 of
//! the key and expiry under the server's signing key. The local file store hands these out,
//! and so does S3 when a public URL and signing key are configured: a presigned S3 URL dies with
//! the temporary credentials that signed it (hours on Lambda), while these links last as long as
//! they say and the API trades them for a fresh presigned URL at download time.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{BlobError, validate_key};

type HmacSha256 = Hmac<Sha256>;

/// Signs and checks download links.
#[derive(Clone)]
pub struct LinkSigner {
    key: Vec<u8>,
    /// Where links point (`https://api.example.com`); without it the signer only verifies.
    base_url: Option<String>,
}

impl fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkSigner").field("base_url", &self.base_url).field("key", &"<redacted>").finish()
    }
}

impl LinkSigner {
    /// A signer whose links start with `base_url`; `None` only verifies links made elsewhere.
    pub fn new(key: Vec<u8>, base_url: Option<String>) -> Self {
        Self { key, base_url: base_url.map(|url| url.trim_end_matches('/').to_owned()) }
    }

    /// Whether this signer can make links (it knows where they point).
    pub fn can_sign(&self) -> bool {
        self.base_url.is_some()
    }

    /// A link that downloads `key` until `now + ttl`.
    pub fn sign(&self, key: &str, ttl: Duration, now: DateTime<Utc>) -> Result<String, BlobError> {
        validate_key(key)?;
        let base =
            self.base_url.as_deref().ok_or_else(|| BlobError::Backend("no public URL to sign links for".into()))?;
        let expires = i64::try_from(ttl.as_secs())
            .ok()
            .and_then(|ttl| now.timestamp().checked_add(ttl))
            .ok_or_else(|| BlobError::Backend(format!("signed URL lifetime {ttl:?} is too long")))?;
        let signature = hex::encode(self.mac(key, expires)?.finalize().into_bytes());
        Ok(format!("{base}/blobs/{key}?expires={expires}&signature={signature}"))
    }

    /// Whether `signature` signs (`key`, `expires`) under this key and `now` is before `expires`
    /// (Unix seconds). The comparison runs in constant time.
    pub fn verify(&self, key: &str, expires: i64, signature: &str, now: DateTime<Utc>) -> bool {
        if validate_key(key).is_err() || now.timestamp() >= expires {
            return false;
        }
        let (Ok(signature), Ok(mac)) = (hex::decode(signature), self.mac(key, expires)) else {
            return false;
        };
        mac.verify_slice(&signature).is_ok()
    }

    /// The HMAC of `key + "\n" + expires`, ready to finalize or verify.
    fn mac(&self, key: &str, expires: i64) -> Result<HmacSha256, BlobError> {
        // HMAC accepts keys of any length, so this does not fail in practice.
        let mut mac = HmacSha256::new_from_slice(&self.key)
            .map_err(|err| BlobError::Backend(format!("blob signing key rejected: {err}")))?;
        mac.update(key.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        Ok(mac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    fn parts(url: &str) -> (String, i64, String) {
        let (path, query) = url.split_once('?').unwrap();
        let key = path.split_once("/blobs/").unwrap().1.to_owned();
        let mut expires = 0;
        let mut signature = String::new();
        for pair in query.split('&') {
            match pair.split_once('=').unwrap() {
                ("expires", v) => expires = v.parse().unwrap(),
                ("signature", v) => signature = v.to_owned(),
                _ => {}
            }
        }
        (key, expires, signature)
    }

    #[test]
    fn a_link_verifies_until_it_expires_and_only_for_its_own_key() {
        let signer = LinkSigner::new(b"k".repeat(32), Some("https://api.example.com/".into()));
        let url = signer.sign("ws/a/run/1.pdf", Duration::from_secs(60), now()).unwrap();
        assert!(url.starts_with("https://api.example.com/blobs/ws/a/run/1.pdf?expires=1700000060&signature="));
        let (key, expires, signature) = parts(&url);
        assert!(signer.verify(&key, expires, &signature, now()));
        assert!(!signer.verify(&key, expires, &signature, now() + chrono::Duration::seconds(60)));
        assert!(!signer.verify("ws/a/run/2.pdf", expires, &signature, now()));
        assert!(!signer.verify(&key, expires + 1, &signature, now()));
        assert!(!signer.verify(&key, expires, "not-hex", now()));
    }

    #[test]
    fn a_verifier_without_a_base_url_checks_links_of_a_signer_with_the_same_key() {
        let signer = LinkSigner::new(b"k".repeat(32), Some("https://api.example.com".into()));
        let verifier = LinkSigner::new(b"k".repeat(32), None);
        let other = LinkSigner::new(b"x".repeat(32), None);
        let (key, expires, signature) = parts(&signer.sign("a.pdf", Duration::from_secs(60), now()).unwrap());
        assert!(verifier.verify(&key, expires, &signature, now()));
        assert!(!other.verify(&key, expires, &signature, now()));
        assert!(!verifier.can_sign() && verifier.sign("a.pdf", Duration::from_secs(60), now()).is_err());
    }

    #[test]
    fn debug_output_hides_the_key() {
        assert!(!format!("{:?}", LinkSigner::new(b"top-secret".to_vec(), None)).contains("top-secret"));
    }
}
