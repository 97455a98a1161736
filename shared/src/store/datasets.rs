//! Dataset metadata in the store. Each upload's rows are a blob; the metadata item points at
//! the current one, and replacing or deleting it is conditioned on the version that was read,
//! so two uploads racing each other cannot leave the metadata pointing at a deleted blob.

use super::entities::{Entity, dataset_key, workspace_pk};
use super::repository::{Listing, PageRequest, Store, StoreError, from_item, rewrite, to_item};
use super::table::{Condition, Query, SkRange, TableError, Write};
use crate::domain::{Code, Dataset, WorkspaceId};

impl Store {
    pub async fn find_dataset(&self, ws: WorkspaceId, code: &Code) -> Result<Option<Dataset>, StoreError> {
        self.fetch(&dataset_key(ws, code.as_str())).await
    }

    pub async fn get_dataset(&self, ws: WorkspaceId, code: &Code) -> Result<Dataset, StoreError> {
        self.fetch_or_404(&dataset_key(ws, code.as_str()), code).await
    }

    /// A workspace's datasets in code order.
    pub async fn list_datasets(&self, ws: WorkspaceId, page: &PageRequest) -> Result<Listing<Dataset>, StoreError> {
        self.list(page.apply(Query::table(workspace_pk(ws), SkRange::Prefix("DATASET#".into())))).await
    }

    /// Saves `dataset`: creates it when `previous` is `None` (it must not exist yet), else
    /// replaces the stored one if it is still at version `previous`. A lost race is a
    /// `Conflict`. Returns the dataset at its new version.
    pub async fn put_dataset(&self, dataset: &Dataset, previous: Option<u64>) -> Result<Dataset, StoreError> {
        let write = match previous {
            None => {
                let mut item = to_item(dataset)?;
                item.version = 1;
                Write::Put { item, condition: Condition::NotExists }
            }
            Some(version) => {
                Write::Update { key: dataset.key(), condition: Condition::Version(version), update: rewrite(dataset)? }
            }
        };
        match self.write(vec![write]).await {
            Ok(()) => {}
            Err(TableError::ConditionFailed { .. }) => {
                return Err(StoreError::Conflict(format!(
                    "dataset `{}` was changed by another upload at the same time; retry",
                    dataset.code
                )));
            }
            Err(e) => return Err(e.into()),
        }
        let mut saved = from_item::<Dataset>(&to_item(dataset)?)?;
        saved.set_version(previous.map_or(1, |v| v + 1));
        Ok(saved)
    }

    /// Deletes the dataset if it is still at `version`.
    pub async fn delete_dataset(&self, ws: WorkspaceId, code: &Code, version: u64) -> Result<(), StoreError> {
        let write = Write::Delete { key: dataset_key(ws, code.as_str()), condition: Condition::Version(version) };
        match self.write(vec![write]).await {
            Ok(()) => Ok(()),
            Err(TableError::ConditionFailed { .. }) => Err(StoreError::Conflict(format!(
                "dataset `{code}` was changed or deleted at the same time; reload and retry"
            ))),
            Err(e) => Err(e.into()),
        }
    }
}
