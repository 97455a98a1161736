//! The system maintenance tasks of seed `002`, each run by its cron endpoint, by the tick
//! function on its own schedule and by `herald maintenance <task>`: the interaction export
//! (`export`) and retention cleanup (`cleanup`). Each task goes through every workspace,
//! isolates one workspace's failure from the others, and reports what it did.

pub mod cleanup;
pub mod export;

use crate::context::Context;
use crate::domain::Workspace;
use crate::store::{PageRequest, StoreError};

/// Every workspace, active or not, in id order.
pub(crate) async fn all_workspaces(ctx: &Context) -> Result<Vec<Workspace>, StoreError> {
    let mut all = Vec::new();
    let mut page = PageRequest::first(200);
    loop {
        let listing = ctx.store.list_workspaces(&page).await?;
        all.extend(listing.items);
        match listing.cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => return Ok(all),
        }
    }
}
