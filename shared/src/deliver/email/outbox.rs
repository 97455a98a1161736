//! The local outbox: each email written as an `.eml` file into one folder, for the local server
//! and for looking at what would have been sent. Files are named
//! `{timestamp}-{sanitized idempotency key}.eml` and written atomically (a temporary file renamed
//! into place); sending the same key again finds the existing file and writes nothing, and
//! sends of one key racing each other end with one file (the first send claims the name).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::mime::{BuiltEmail, sanitize};
use crate::clock::Clock;
use crate::deliver::{Receipt, SendError};

/// Writes emails into `dir`, creating it when missing.
#[derive(Clone)]
pub struct OutboxSender {
    dir: PathBuf,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for OutboxSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxSender").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl OutboxSender {
    pub fn new(dir: impl Into<PathBuf>, clock: Arc<dyn Clock>) -> Self {
        Self { dir: dir.into(), clock }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `email` under `idempotency_key`; the receipt's provider message id is the file name.
    ///
    /// The first send of a key claims a file name (a hidden `.{key}.claim` file holding it,
    /// created atomically); every later or racing send of that key uses the claimed name, so one
    /// file remains and every receipt names it. A claim whose file is missing (a send stopped
    /// half way) is completed by the next send.
    pub async fn send(&self, idempotency_key: &str, email: &BuiltEmail) -> Result<Receipt, SendError> {
        // One trip to the blocking pool for the whole send: it is a handful of small file
        // operations, each of which would otherwise be a trip of its own.
        let (outbox, key, raw) = (self.clone(), sanitize(idempotency_key), email.raw.clone());
        tokio::task::spawn_blocking(move || outbox.write(&key, &raw))
            .await
            .map_err(|e| SendError::Transient(format!("outbox: the write stopped unexpectedly: {e}")))?
    }

    fn write(&self, key: &str, raw: &[u8]) -> Result<Receipt, SendError> {
        let suffix = format!("-{key}.eml");
        std::fs::create_dir_all(&self.dir).map_err(|e| self.io_error("create", &self.dir, e))?;
        let name = format!("{}{suffix}", self.clock.now().format("%Y%m%dT%H%M%S%.3fZ"));
        let claimed = self.claim(key, &name)?;
        let target = self.dir.join(&claimed);
        if target.try_exists().unwrap_or(false) {
            return Ok(Receipt { provider_message_id: Some(claimed) });
        }
        let temp = self.temp_path(&claimed);
        std::fs::write(&temp, raw).map_err(|e| self.io_error("write", &temp, e))?;
        if let Err(e) = std::fs::rename(&temp, &target) {
            let _ = std::fs::remove_file(&temp);
            return Err(self.io_error("rename", &target, e));
        }
        Ok(Receipt { provider_message_id: Some(claimed) })
    }

    /// The file name for `key`: the one already claimed, else `name`, claimed now. Reads one
    /// small file, so a send costs the same however many emails the folder holds.
    fn claim(&self, key: &str, name: &str) -> Result<String, SendError> {
        let claim = self.dir.join(format!(".{key}.claim"));
        if let Some(held) = self.held(&claim)? {
            return Ok(held);
        }
        let temp = self.temp_path(name);
        std::fs::write(&temp, name).map_err(|e| self.io_error("write", &temp, e))?;
        // A hard link is created whole or not at all: the claim never holds a partial name.
        let linked = std::fs::hard_link(&temp, &claim);
        let _ = std::fs::remove_file(&temp);
        match linked {
            Ok(()) => Ok(name.to_owned()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Ok(self.held(&claim)?.unwrap_or_else(|| name.to_owned()))
            }
            Err(e) => Err(self.io_error("claim", &claim, e)),
        }
    }

    /// The file name a claim holds; `None` when there is no claim (or it holds no usable name).
    fn held(&self, claim: &Path) -> Result<Option<String>, SendError> {
        match std::fs::read_to_string(claim) {
            Ok(held) => {
                let held = held.trim();
                Ok((!held.is_empty() && !held.contains(['/', '\\'])).then(|| held.to_owned()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io_error("read", claim, e)),
        }
    }

    fn temp_path(&self, name: &str) -> PathBuf {
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let unique = WRITES.fetch_add(1, Ordering::Relaxed);
        self.dir.join(format!(".{name}.{}-{unique}.tmp", std::process::id()))
    }

    fn io_error(&self, action: &str, path: &Path, error: std::io::Error) -> SendError {
        SendError::Transient(format!("outbox: cannot {action} {}: {error}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::clock::ManualClock;
    use crate::deliver::email::{DEFAULT_ATTACHMENT_LIMIT, build, fixtures};

    fn eml_files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".eml") && !n.starts_with('.'))
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn the_outbox_writes_one_eml_file_per_key_even_when_sent_twice() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap()));
        let outbox = OutboxSender::new(dir.path().join("outbox"), clock.clone());
        let outgoing = fixtures::outgoing("run/1:entry 0");
        let email = build(&outgoing, "reports@herald.example.com", DEFAULT_ATTACHMENT_LIMIT).unwrap();

        let first = outbox.send(&outgoing.idempotency_key, &email).await.unwrap();
        assert_eq!(first.provider_message_id.as_deref(), Some("20261123T080000.000Z-run-1-entry-0.eml"));
        clock.set(chrono::Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap());
        let again = outbox.send(&outgoing.idempotency_key, &email).await.unwrap();
        assert_eq!(again, first);

        let names = eml_files(outbox.dir());
        assert_eq!(names, ["20261123T080000.000Z-run-1-entry-0.eml"]);
        assert_eq!(std::fs::read(outbox.dir().join(&names[0])).unwrap(), email.raw);

        let other = outbox.send("another-key", &email).await.unwrap();
        assert_eq!(other.provider_message_id.as_deref(), Some("20261123T090000.000Z-another-key.eml"));
    }

    #[tokio::test]
    async fn concurrent_sends_of_one_key_leave_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = OutboxSender::new(dir.path(), Arc::new(crate::clock::SystemClock));
        let email = build(&fixtures::outgoing("same"), "reports@herald.example.com", DEFAULT_ATTACHMENT_LIMIT).unwrap();
        let sends = (0..8).map(|_| outbox.send("same", &email));
        let receipts = futures::future::join_all(sends).await;
        let names: Vec<_> = receipts.into_iter().map(|r| r.unwrap().provider_message_id.unwrap()).collect();
        assert!(names.iter().all(|n| n == &names[0]), "{names:?}");
        assert_eq!(eml_files(dir.path()), [names[0].clone()]);
    }
}
