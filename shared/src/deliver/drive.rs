//! Google Drive deliveries (seed `003`): each file of the entry uploaded into the destination's
//! folder as a separate file, as the workspace's service account (or a user it acts as). An
//! upload carries the delivery's idempotency key (and the file's place) as an app property, and
//! a retried or re-delivered attempt finds the file it already made instead of making another.
//! A message without files (Test connection) reads the folder, writes a small probe file and
//! removes it, so it proves the key, the token and write access without leaving anything.
//! The Drive file ids and links are the receipt.

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::{Outgoing, Receipt, SendError};
use crate::domain::{ConnectionConfig, ServiceAccount, WorkspaceId};
use crate::google::drive::{Drive, DriveFile};
use crate::google::{Endpoints, GoogleError, ServiceAccountKey, Tokens};
use crate::store::{Store, StoreError};

/// The name of the probe file Test connection writes and removes.
const PROBE_NAME: &str = "Herald connection test (safe to delete).txt";

impl From<GoogleError> for SendError {
    fn from(error: GoogleError) -> Self {
        match error {
            GoogleError::Transient(message) => SendError::Transient(message),
            GoogleError::Permanent(message) | GoogleError::TokenRejected(message) => SendError::Permanent(message),
        }
    }
}

/// The service account `name` (a connection's name or id) of workspace `ws`; the inner error
/// says why the name cannot be used (no such connection, or one of another kind).
pub async fn service_account(
    store: &Store,
    ws: WorkspaceId,
    name: &str,
) -> Result<Result<ServiceAccount, String>, StoreError> {
    match store.resolve_connection(ws, name).await {
        Ok(connection) => Ok(match connection.config {
            ConnectionConfig::GoogleServiceAccount(account) => Ok(account),
            other => Err(format!("`{name}` is a {} connection, not a Google service account", other.kind())),
        }),
        Err(StoreError::NotFound { .. }) => Ok(Err(format!(
            "no connection `{name}` in the workspace: upload the service account's key under connections"
        ))),
        Err(e) => Err(e),
    }
}

/// The parsed key of `account`, or why it cannot sign.
fn key_of(account: &ServiceAccount) -> Result<ServiceAccountKey, SendError> {
    ServiceAccountKey::parse(account.key.expose())
        .map_err(|e| SendError::Permanent(format!("the service account's key file {e}; upload its key again")))
}

/// Where and as whom a Drive delivery uploads.
pub struct DriveTarget<'a> {
    pub account: &'a ServiceAccount,
    pub folder: &'a str,
    pub impersonate: Option<&'a str>,
}

pub struct DriveSender {
    tokens: Tokens,
}

impl DriveSender {
    pub fn new(endpoints: Endpoints) -> Self {
        Self { tokens: Tokens::new(endpoints) }
    }

    /// Uploads each file of `outgoing` (or, without files, checks the folder with a probe).
    pub async fn send(
        &self,
        target: &DriveTarget<'_>,
        outgoing: &Outgoing,
        now: DateTime<Utc>,
    ) -> Result<Receipt, SendError> {
        let key = key_of(target.account)?;
        // A token Drive stops accepting is fetched again once.
        match self.attempt(&key, target, outgoing, now).await {
            Err(GoogleError::TokenRejected(_)) => {
                self.tokens.forget(&key, target.impersonate);
                Ok(self.attempt(&key, target, outgoing, now).await?)
            }
            other => Ok(other?),
        }
    }

    /// Checks that `account`'s key parses and that Google gives it a token (Test connection of
    /// the service account; a destination's test also checks its folder).
    pub async fn check_key(&self, account: &ServiceAccount, now: DateTime<Utc>) -> Result<(), SendError> {
        let key = key_of(account)?;
        self.tokens.forget(&key, None);
        self.tokens.token(&key, None, now).await?;
        Ok(())
    }

    async fn attempt(
        &self,
        key: &ServiceAccountKey,
        target: &DriveTarget<'_>,
        outgoing: &Outgoing,
        now: DateTime<Utc>,
    ) -> Result<Receipt, GoogleError> {
        let token = self.tokens.token(key, target.impersonate, now).await?;
        let drive = Drive {
            http: self.tokens.http(),
            api_base: &self.tokens.endpoints().api_base,
            token: &token,
            account: &key.client_email,
        };
        if outgoing.files.is_empty() {
            return probe(&drive, target.folder, &outgoing.idempotency_key).await;
        }
        let mut uploaded = Vec::with_capacity(outgoing.files.len());
        for (n, file) in outgoing.files.iter().enumerate() {
            let tag = format!("{}-{n}", outgoing.idempotency_key);
            let found = match drive.find(target.folder, &tag).await? {
                Some(found) => found,
                None => drive.upload(target.folder, &file.file_name, &file.content_type, &file.bytes, &tag).await?,
            };
            uploaded.push(found);
        }
        Ok(Receipt { provider_message_id: Some(described(&uploaded)) })
    }
}

/// Reads the folder, then writes and removes a probe file in it.
async fn probe(drive: &Drive<'_>, folder: &str, tag: &str) -> Result<Receipt, GoogleError> {
    let found = drive.folder(folder).await?;
    if !found.can_add_children {
        return Err(GoogleError::Permanent(format!(
            "{} may read the folder “{}” but not add files to it: give it Content manager (shared drive) or Editor access",
            drive.account, found.name
        )));
    }
    let bytes = Bytes::from_static(b"Herald checked that it can write to this folder. This file is removed at once.\n");
    let written = drive.upload(folder, PROBE_NAME, "text/plain", &bytes, tag).await?;
    drive.delete(&written.id).await?;
    let place = if found.shared_drive { "a shared drive" } else { "My Drive" };
    Ok(Receipt {
        provider_message_id: Some(format!("folder “{}” in {place}: a test file was written and removed", found.name)),
    })
}

/// `id (link)` of each file, for the delivery's provider message id.
fn described(files: &[DriveFile]) -> String {
    let one = |f: &DriveFile| match &f.web_view_link {
        Some(link) => format!("{} ({link})", f.id),
        None => f.id.clone(),
    };
    files.iter().map(one).collect::<Vec<_>>().join(", ")
}
