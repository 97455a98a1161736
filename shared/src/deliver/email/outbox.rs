//! The local outbox: each email written as an `.eml` file into one folder, for the local server
//! and for looking at what would have been sent. Files are named
//! `{timestamp}-{sanitized idempotency key}.eml` and written atomically (a temporary file renamed
//! into place); sending the same key again finds the existing file and writes nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    pub async fn send(&self, idempotency_key: &str, email: &BuiltEmail) -> Result<Receipt, SendError> {
        let suffix = format!("-{}.eml", sanitize(idempotency_key));
        tokio::fs::create_dir_all(&self.dir).await.map_err(|e| self.io_error("create", &self.dir, e))?;
        if let Some(existing) = self.find(&suffix).await? {
            return Ok(Receipt { provider_message_id: Some(existing) });
        }
        let name = format!("{}{suffix}", self.clock.now().format("%Y%m%dT%H%M%S%.3fZ"));
        let temp = self.dir.join(format!(".{name}.{}.tmp", std::process::id()));
        tokio::fs::write(&temp, &email.raw).await.map_err(|e| self.io_error("write", &temp, e))?;
        let target = self.dir.join(&name);
        if let Err(e) = tokio::fs::rename(&temp, &target).await {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(self.io_error("rename", &target, e));
        }
        Ok(Receipt { provider_message_id: Some(name) })
    }

    /// The name of a finished file ending with `suffix`, if one exists.
    async fn find(&self, suffix: &str) -> Result<Option<String>, SendError> {
        let mut entries = tokio::fs::read_dir(&self.dir).await.map_err(|e| self.io_error("list", &self.dir, e))?;
        while let Some(entry) = entries.next_entry().await.map_err(|e| self.io_error("list", &self.dir, e))? {
            if let Some(name) = entry.file_name().to_str()
                && !name.starts_with('.')
                && name.ends_with(suffix)
            {
                return Ok(Some(name.to_owned()));
            }
        }
        Ok(None)
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

        let names: Vec<String> = std::fs::read_dir(outbox.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["20261123T080000.000Z-run-1-entry-0.eml"]);
        assert_eq!(std::fs::read(outbox.dir().join(&names[0])).unwrap(), email.raw);

        let other = outbox.send("another-key", &email).await.unwrap();
        assert_eq!(other.provider_message_id.as_deref(), Some("20261123T090000.000Z-another-key.eml"));
    }
}
