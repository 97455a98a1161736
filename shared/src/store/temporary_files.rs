//! Temporary file records in the store. Each item carries its expiry as the item's TTL, so
//! the table drops it on its own; until then, reads past the expiry answer "not found".

use chrono::{DateTime, Utc};

use super::entities::temporary_file_key;
use super::repository::{Store, StoreError, to_item};
use super::table::{Condition, TableError, Write};
use crate::domain::{TemporaryFile, TemporaryFileId, TemporaryFileStatus, WorkspaceId};

impl Store {
    /// Records a new temporary file (which must not exist yet).
    pub async fn create_temporary_file(&self, file: &TemporaryFile) -> Result<TemporaryFile, StoreError> {
        let mut item = to_item(file)?;
        item.version = 1;
        item.ttl = Some(file.expires_at.timestamp());
        match self.write(vec![Write::Put { item, condition: Condition::NotExists }]).await {
            Ok(()) => {}
            Err(TableError::ConditionFailed { .. }) => {
                return Err(StoreError::Conflict(format!("temporary file {} already exists", file.id)));
            }
            Err(e) => return Err(e.into()),
        }
        let mut stored = file.clone();
        stored.version = 1;
        Ok(stored)
    }

    /// A temporary file of a workspace that has not expired at `now`.
    pub async fn get_temporary_file(
        &self,
        ws: WorkspaceId,
        id: TemporaryFileId,
        now: DateTime<Utc>,
    ) -> Result<TemporaryFile, StoreError> {
        let file: TemporaryFile = self.fetch_or_404(&temporary_file_key(ws, id), id).await?;
        if file.is_expired(now) {
            return Err(StoreError::not_found("temporary file", id));
        }
        Ok(file)
    }

    /// Settles a pending temporary file (ready or failed) with `change`; a conflict if it is
    /// no longer pending.
    pub async fn settle_temporary_file(
        &self,
        ws: WorkspaceId,
        id: TemporaryFileId,
        to: TemporaryFileStatus,
        mut change: impl FnMut(&mut TemporaryFile),
    ) -> Result<TemporaryFile, StoreError> {
        self.modify(&temporary_file_key(ws, id), id, |f: &mut TemporaryFile| {
            if f.status != TemporaryFileStatus::Pending {
                return Err(StoreError::Conflict(format!("temporary file {id} is {}", f.status.as_str())));
            }
            change(f);
            f.status = to;
            Ok(())
        })
        .await
    }
}
