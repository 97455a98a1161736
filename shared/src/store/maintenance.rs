//! What the maintenance tasks read and write: export checkpoints, suppressions, and the
//! bounded purges retention cleanup makes (raw interactions by receipt time, daily summaries
//! by day, finished runs with their entries and deliveries). Purges delete at most `limit`
//! items per call and say whether more are left, so a call never outgrows its time budget and
//! the next one carries on; deleting is idempotent.

use chrono::{DateTime, NaiveDate, Utc};

use super::entities::{
    Entity, SUPPRESSIONS_INDEX_PK, daily_summary_pk, day_key, export_checkpoint_key, idempotency_key, ingest_log_pk,
    interactions_index_pk, quarter_summary_pk, suppression_key, time_key, workspace_pk,
};
use super::repository::{Listing, PageRequest, Store, StoreError, from_item, rewrite, to_item};
use super::runs::RunQuery;
use super::table::{Condition, Index, Item, Key, Query, SkRange, TableError, Update, Write};
use crate::domain::{ExportCheckpoint, Interaction, Run, Suppression, WorkspaceId};

/// What one bounded purge did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub items: usize,
    /// More items are past the cutoff than this call removed.
    pub more: bool,
}

impl Store {
    /// Takes one of the `cap` model calls a workspace may make on `day`: `false` when they
    /// are all taken. The day's counter is one item, changed only if still at the version
    /// read, so racing calls never take more than the cap.
    pub async fn take_ai_call(&self, ws: WorkspaceId, day: NaiveDate, cap: u32) -> Result<bool, StoreError> {
        let key = Key::new(workspace_pk(ws), format!("AICALLS#{}", day_key(day)));
        // Kept two days, then the store may drop it.
        let expires = day.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp() + 3 * 86_400);
        for _ in 0..20 {
            let write = match self.table.get(&key).await? {
                Some(item) if item.counter("calls") >= i64::from(cap) => return Ok(false),
                Some(item) => Write::Update {
                    key: key.clone(),
                    condition: Condition::Version(item.version),
                    update: Update { add: vec![("calls".into(), 1)], ..Default::default() },
                },
                None if cap == 0 => return Ok(false),
                None => {
                    let mut item = Item::new(key.clone(), "{}".into());
                    item.counters.insert("calls".into(), 1);
                    item.ttl = expires;
                    Write::Put { item, condition: Condition::NotExists }
                }
            };
            match self.write(vec![write]).await {
                Ok(()) => return Ok(true),
                Err(TableError::ConditionFailed { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict("the AI call counter is changing too fast; retry".into()))
    }

    // ----- interaction export -----

    /// The workspace's export checkpoint (the starting one when it never exported).
    pub async fn export_checkpoint(&self, ws: WorkspaceId) -> Result<ExportCheckpoint, StoreError> {
        Ok(self.fetch(&export_checkpoint_key(ws)).await?.unwrap_or_else(|| ExportCheckpoint::start(ws)))
    }

    /// Saves `checkpoint` if nobody saved another since it was read (version 0: never saved).
    pub async fn save_export_checkpoint(&self, checkpoint: &ExportCheckpoint) -> Result<ExportCheckpoint, StoreError> {
        let write = if checkpoint.version == 0 {
            Write::Put { item: to_item(checkpoint)?, condition: Condition::NotExists }
        } else {
            Write::Update {
                key: checkpoint.key(),
                condition: Condition::Version(checkpoint.version),
                update: rewrite(checkpoint)?,
            }
        };
        match self.write(vec![write]).await {
            Ok(()) => {}
            Err(TableError::ConditionFailed { .. }) => {
                return Err(StoreError::Conflict("another export moved the checkpoint meanwhile".into()));
            }
            Err(e) => return Err(e.into()),
        }
        let mut saved = checkpoint.clone();
        saved.version = checkpoint.version + 1;
        Ok(saved)
    }

    /// Up to `limit` interactions received after `after` (a receipt position) and at or before
    /// `until`, in receipt order, each with its position.
    pub async fn interactions_after(
        &self,
        ws: WorkspaceId,
        after: Option<&str>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(String, Interaction)>, StoreError> {
        // Positions are `{time}#{id}`; everything at `until`'s millisecond sorts below `~`.
        let upper = format!("{}~", time_key(until));
        let lower = after.map_or_else(String::new, |a| format!("{a}\u{1}"));
        let mut query = Query::index(Index::Gsi1, interactions_index_pk(ws), SkRange::Between(lower, upper));
        let mut rows = Vec::with_capacity(limit.min(10_000));
        while rows.len() < limit {
            let page = self.table.query(&query.clone().limit((limit - rows.len()).min(1_000))).await?;
            for item in &page.items {
                let position = item.indexes[Index::Gsi1.position()].as_ref().map(|k| k.sk.clone()).unwrap_or_default();
                rows.push((position, from_item::<Interaction>(item)?));
            }
            match page.cursor {
                Some(cursor) => query = query.after(Some(cursor)),
                None => break,
            }
        }
        Ok(rows)
    }

    // ----- retention purges -----

    /// Deletes up to `limit` raw interactions received before `cutoff` (their daily summaries
    /// stay).
    pub async fn purge_interactions(
        &self,
        ws: WorkspaceId,
        cutoff: DateTime<Utc>,
        limit: usize,
    ) -> Result<Purged, StoreError> {
        let range = SkRange::AtMost(time_key(cutoff));
        let query = Query::index(Index::Gsi1, interactions_index_pk(ws), range).limit(limit + 1);
        self.purge_page(&query, limit).await
    }

    /// Deletes up to `limit` daily summaries, and as many quarter-hour summaries and ingest
    /// log quarters, of days before `first_kept`.
    pub async fn purge_daily_summaries(
        &self,
        ws: WorkspaceId,
        first_kept: NaiveDate,
        limit: usize,
    ) -> Result<Purged, StoreError> {
        // Summary keys are `{day}#…` and `{day}T{hh:mm}#…`: every key of an earlier day sorts
        // below the bare day.
        let mut purged = Purged { items: 0, more: false };
        for pk in [daily_summary_pk(ws), quarter_summary_pk(ws), ingest_log_pk(ws)] {
            let query = Query::table(pk, SkRange::AtMost(day_key(first_kept))).limit(limit + 1);
            let page = self.purge_page(&query, limit).await?;
            purged.items += page.items;
            purged.more |= page.more;
        }
        Ok(purged)
    }

    /// Deletes the items of one page of `query` (which asks for `limit + 1`).
    pub(crate) async fn purge_page(&self, query: &Query, limit: usize) -> Result<Purged, StoreError> {
        let page = self.table.query(query).await?;
        let more = page.items.len() > limit || (page.items.len() == limit && page.cursor.is_some());
        let keys: Vec<Key> = page.items.into_iter().take(limit).map(|item| item.key).collect();
        let items = keys.len();
        self.table.delete_all(keys).await?;
        Ok(Purged { items, more })
    }

    /// The workspace's runs created before `cutoff`, oldest pages first (newest first within).
    pub async fn runs_created_before(
        &self,
        ws: WorkspaceId,
        cutoff: DateTime<Utc>,
        page: &PageRequest,
    ) -> Result<Listing<Run>, StoreError> {
        self.find_runs(ws, &RunQuery { created_before: Some(cutoff), ..RunQuery::default() }, page).await
    }

    /// Deletes a run's record: its entries and deliveries first, its idempotency key, the run
    /// item last (so a purge interrupted half-way is found and finished by the next one).
    /// The caller deletes the artifacts first.
    pub async fn purge_run(&self, run: &Run) -> Result<usize, StoreError> {
        let partition = run.key().pk;
        let mut removed = 0;
        loop {
            let query = Query::table(partition.clone(), SkRange::All).limit(500);
            let page = self.table.query(&query).await?;
            let keys: Vec<Key> = page.items.into_iter().map(|i| i.key).filter(|k| k.sk != "RUN").collect();
            if keys.is_empty() {
                break;
            }
            removed += keys.len();
            self.table.delete_all(keys).await?;
        }
        let mut last = vec![run.key()];
        if let Some(key) = &run.idempotency_key {
            last.push(idempotency_key(run.workspace_id, key));
        }
        self.table.delete_all(last).await?;
        Ok(removed + 1)
    }

    // ----- suppressions -----

    /// Adds or replaces the suppression of an address.
    pub async fn put_suppression(&self, suppression: &Suppression) -> Result<Suppression, StoreError> {
        let mut item = to_item(suppression)?;
        item.ttl = suppression.expires_at.map(|at| at.timestamp());
        self.write(vec![Write::Put { item, condition: Condition::Always }]).await?;
        let mut saved = suppression.clone();
        saved.version = 1;
        Ok(saved)
    }

    /// The suppression of `address` (lowercased) if one is in force at `now`.
    pub async fn active_suppression(
        &self,
        ws: WorkspaceId,
        address: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Suppression>, StoreError> {
        let found: Option<Suppression> = self.fetch(&suppression_key(ws, &address.to_lowercase())).await?;
        Ok(found.filter(|s| s.is_active(now)))
    }

    /// A workspace's suppressions in address order (expired ones not yet cleaned up included).
    pub async fn list_suppressions(
        &self,
        ws: WorkspaceId,
        page: &PageRequest,
    ) -> Result<Listing<Suppression>, StoreError> {
        self.list(page.apply(Query::table(workspace_pk(ws), SkRange::Prefix("SUPP#".into())))).await
    }

    pub async fn delete_suppression(&self, ws: WorkspaceId, address: &str) -> Result<(), StoreError> {
        let key = suppression_key(ws, &address.to_lowercase());
        match self.write(vec![Write::Delete { key, condition: Condition::Exists }]).await {
            Err(TableError::ConditionFailed { .. }) => Err(StoreError::not_found("suppression", address)),
            other => Ok(other?),
        }
    }

    /// Deletes up to `limit` suppressions (of every workspace) that expired by `now`.
    pub async fn purge_expired_suppressions(&self, now: DateTime<Utc>, limit: usize) -> Result<Purged, StoreError> {
        let query = Query::index(Index::Gsi1, SUPPRESSIONS_INDEX_PK, SkRange::AtMost(time_key(now))).limit(limit + 1);
        self.purge_page(&query, limit).await
    }
}
