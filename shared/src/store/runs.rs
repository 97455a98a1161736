//! Runs, entries and deliveries in the store. A run and its entries are created together (in
//! one transaction when they fit, else in chunks behind a `preparing` run that nothing works
//! on until the last chunk lands, resumable after a crash). Every entry transition is
//! guarded by the entry's current status and moves the run's bucket counters in the same
//! transaction, so counts never drift from the entries.

use chrono::{DateTime, Utc};

use super::entities::{
    Entity, WORK_SHARDS, delivery_key, entry_key, idempotency_key, run_key, schedule_key, time_key, workspace_key,
};
use super::repository::{Listing, PageRequest, Store, StoreError, from_item, rewrite, to_item};
use super::table::{Condition, Index, Item, MAX_TRANSACTION_WRITES, Query, SkRange, TableError, Update, Write};
use crate::domain::{
    Bucket, Delivery, DeliveryStatus, Entry, EntryCounts, EntryId, EntryStatus, NarrativeOutput, ReportId, Run, RunId,
    RunStatus, RunTrigger, Schedule, Workspace, WorkspaceId,
};

/// How long an idempotency key keeps pointing at its run.
const IDEMPOTENCY_TTL_HOURS: i64 = 24;

/// How often an entry transition reads the run again when the run changed under it.
const RUN_WRITE_ATTEMPTS: usize = 50;

/// Which runs a listing returns (every field optional).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunQuery {
    pub report: Option<ReportId>,
    pub status: Option<RunStatus>,
    pub trigger: Option<RunTrigger>,
    /// Created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before.
    pub created_before: Option<DateTime<Utc>>,
}

impl RunQuery {
    fn matches(&self, run: &Run) -> bool {
        self.status.is_none_or(|s| s == run.status)
            && self.trigger.is_none_or(|t| t == run.trigger)
            && self.created_from.is_none_or(|from| run.created_at >= from)
            && self.created_before.is_none_or(|before| run.created_at < before)
    }

    /// The range of run ids (ULIDs, time first) created in the window, when one is set.
    fn id_window(&self) -> Option<(String, String)> {
        if self.created_from.is_none() && self.created_before.is_none() {
            return None;
        }
        let millis = |t: DateTime<Utc>| t.timestamp_millis().max(0) as u64;
        let from = self.created_from.map_or(0, millis);
        let to = self.created_before.map_or((1u64 << 48) - 1, |t| millis(t).saturating_sub(1));
        Some((ulid::Ulid::from_parts(from, 0).to_string(), ulid::Ulid::from_parts(to, u128::MAX).to_string()))
    }
}

/// Outcome of creating a run.
#[derive(Debug, Clone, PartialEq)]
pub enum RunCreation {
    Created(Box<Run>),
    /// The slot or idempotency key already has this run; nothing was written.
    Existing(RunId),
}

fn counters(counts: &EntryCounts) -> Vec<(String, i64)> {
    let mut list = vec![("total".to_string(), counts.total as i64)];
    list.extend(Bucket::ALL.iter().map(|&b| (b.as_str().to_string(), counts.get(b) as i64)));
    list
}

/// The counter changes of one entry leaving bucket `was` for `becomes`.
fn bucket_move(was: Bucket, becomes: Bucket) -> Vec<(String, i64)> {
    vec![(was.as_str().into(), -1), (becomes.as_str().into(), 1)]
}

/// Refuses a move the entry's life cycle does not allow.
fn check_entry_move(from: EntryStatus, to: EntryStatus) -> Result<(), StoreError> {
    if from.can_transition_to(to) {
        return Ok(());
    }
    Err(StoreError::InvalidTransition { kind: "entry", from: from.as_str().into(), to: to.as_str().into() })
}

fn run_from_item(item: &Item) -> Result<Run, StoreError> {
    let mut run: Run = from_item(item)?;
    run.counts.total = item.counter("total").max(0) as u64;
    for bucket in Bucket::ALL {
        run.counts.set(bucket, item.counter(bucket.as_str()).max(0) as u64);
    }
    Ok(run)
}

impl Store {
    /// Creates a run with its entries. The run's status should be `Running` (or `Finished`
    /// for a run with no entries); counts are derived from the entries.
    pub async fn create_run(
        &self,
        run: &Run,
        entries: &[Entry],
        now: DateTime<Utc>,
    ) -> Result<RunCreation, StoreError> {
        let mut counts = EntryCounts { total: entries.len() as u64, ..Default::default() };
        for e in entries {
            let b = e.status.bucket();
            counts.set(b, counts.get(b) + 1);
        }
        let mut guards = Vec::new();
        if let Some(key) = &run.idempotency_key {
            let mut guard = Item::new(idempotency_key(run.workspace_id, key), run.id.to_string());
            guard.ttl = Some((now + chrono::Duration::hours(IDEMPOTENCY_TTL_HOURS)).timestamp());
            guards.push(Write::Put { item: guard, condition: Condition::NotExists });
        }
        let entry_puts = |condition: Condition| {
            entries.iter().map(move |e| Ok(Write::Put { item: to_item(e)?, condition: condition.clone() }))
        };

        let single = 1 + guards.len() + entries.len() <= MAX_TRANSACTION_WRITES;
        let mut head = to_item(run)?;
        head.version = 1;
        if single {
            head.counters = counters(&counts).into_iter().collect();
        } else {
            let mut preparing = run.clone();
            preparing.status = RunStatus::Preparing;
            head = Item { counters: Default::default(), ..to_item(&preparing)? };
            head.version = 1;
        }
        let mut writes = vec![Write::Put { item: head, condition: Condition::NotExists }];
        writes.extend(guards.iter().cloned());
        if single {
            writes.extend(entry_puts(Condition::NotExists).collect::<Result<Vec<_>, StoreError>>()?);
        }
        match self.write(writes).await {
            Ok(()) => {}
            Err(TableError::ConditionFailed { index: 0 }) => {
                // The slot's run exists. Finish creating it if a crash interrupted that.
                let existing = self.get_run(run.id).await?;
                if single || existing.status != RunStatus::Preparing {
                    return Ok(RunCreation::Existing(run.id));
                }
            }
            Err(TableError::ConditionFailed { index }) if index <= guards.len() => {
                return self.existing_for_idempotency_key(run).await;
            }
            Err(TableError::ConditionFailed { .. }) => {
                return Err(StoreError::Conflict(format!("entries of run {} already exist", run.id)));
            }
            Err(e) => return Err(e.into()),
        }
        if !single {
            let puts = entry_puts(Condition::Always).collect::<Result<Vec<_>, StoreError>>()?;
            for chunk in puts.chunks(MAX_TRANSACTION_WRITES) {
                self.write(chunk.to_vec()).await?;
            }
            let update = Update { add: counters(&counts), ..rewrite(run)? };
            let finish = Write::Update {
                key: run_key(run.id),
                condition: Condition::State(RunStatus::Preparing.as_str().into()),
                update,
            };
            match self.write(vec![finish]).await {
                // Another worker resuming the same creation finished first.
                Ok(()) | Err(TableError::ConditionFailed { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(RunCreation::Created(Box::new(self.get_run(run.id).await?)))
    }

    async fn existing_for_idempotency_key(&self, run: &Run) -> Result<RunCreation, StoreError> {
        let key = run.idempotency_key.as_deref().unwrap_or_default();
        let guard = self.table.get(&idempotency_key(run.workspace_id, key)).await?;
        match guard.and_then(|g| g.data.parse::<RunId>().ok()) {
            Some(id) => Ok(RunCreation::Existing(id)),
            None => Err(StoreError::Conflict(format!("idempotency key `{key}` is in use"))),
        }
    }

    pub async fn get_run(&self, id: RunId) -> Result<Run, StoreError> {
        let item = self.table.get(&run_key(id)).await?.ok_or_else(|| StoreError::not_found("run", id))?;
        run_from_item(&item)
    }

    /// A run of one workspace; another workspace's run is "not found".
    pub async fn get_run_in(&self, ws: WorkspaceId, id: RunId) -> Result<Run, StoreError> {
        match self.get_run(id).await {
            Ok(run) if run.workspace_id == ws => Ok(run),
            Ok(_) => Err(StoreError::not_found("run", id)),
            Err(e) => Err(e),
        }
    }

    /// Runs of a workspace, or of one report, newest first.
    pub async fn list_runs(
        &self,
        ws: WorkspaceId,
        report: Option<ReportId>,
        page: &PageRequest,
    ) -> Result<Listing<Run>, StoreError> {
        self.find_runs(ws, &RunQuery { report, ..RunQuery::default() }, page).await
    }

    /// Runs of a workspace newest first, narrowed by `query`. The creation window narrows the
    /// index range (run ids are time-ordered); status and trigger are checked per run, reading
    /// on until the page is full or a bounded number of reads is spent, so a page may hold
    /// fewer runs than asked while a `cursor` still says more may follow.
    pub async fn find_runs(
        &self,
        ws: WorkspaceId,
        query: &RunQuery,
        page: &PageRequest,
    ) -> Result<Listing<Run>, StoreError> {
        const MAX_READS: usize = 8;
        let window = query.id_window();
        let base = match query.report {
            Some(report) => {
                let sk = match window {
                    Some((from, to)) => SkRange::Between(format!("RUN#{from}"), format!("RUN#{to}")),
                    None => SkRange::Prefix("RUN#".into()),
                };
                Query::index(Index::Gsi2, format!("REPORT#{report}"), sk)
            }
            None => {
                let sk = window.map_or(SkRange::All, |(from, to)| SkRange::Between(from, to));
                Query::index(Index::Gsi1, format!("WS#{ws}#RUNS"), sk)
            }
        };
        let wanted = page.apply(base.clone()).limit;
        let mut items = Vec::with_capacity(wanted);
        let mut cursor = page.cursor.clone();
        for _ in 0..MAX_READS {
            let request = base.clone().descending().limit(wanted - items.len()).after(cursor.take());
            let result = self.table.query(&request).await?;
            for item in &result.items {
                let run = run_from_item(item)?;
                if run.workspace_id == ws && query.matches(&run) {
                    items.push(run);
                }
            }
            cursor = result.cursor;
            if items.len() >= wanted || cursor.is_none() {
                break;
            }
        }
        Ok(Listing { items, cursor })
    }

    /// Moves a run from `from` to `to` if it is still in `from`, applying `change` to the run
    /// as it is at the write (its counts may move meanwhile: the write is conditioned on the
    /// version read, and read again when workers moved them). `Conflict` once it is no longer
    /// in `from`.
    pub async fn transition_run(
        &self,
        id: RunId,
        from: RunStatus,
        to: RunStatus,
        mut change: impl FnMut(&mut Run),
    ) -> Result<Run, StoreError> {
        if !from.can_transition_to(to) {
            return Err(StoreError::InvalidTransition {
                kind: "run",
                from: from.as_str().into(),
                to: to.as_str().into(),
            });
        }
        for _ in 0..RUN_WRITE_ATTEMPTS {
            let mut run = self.get_run(id).await?;
            if run.status != from {
                let now = run.status.as_str();
                return Err(StoreError::Conflict(format!("run {id} is {now}, not {}", from.as_str())));
            }
            change(&mut run);
            run.status = to;
            let write =
                Write::Update { key: run_key(id), condition: Condition::Version(run.version), update: rewrite(&run)? };
            match self.write(vec![write]).await {
                Ok(()) => return self.get_run(id).await,
                Err(TableError::ConditionFailed { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict(format!("run {id} kept changing; try again")))
    }

    /// An entry with its run and the run's workspace (`ws`, the one the caller expects it in),
    /// read in one request where the backend batches reads.
    pub async fn entry_with_context(
        &self,
        ws: WorkspaceId,
        run_id: RunId,
        id: EntryId,
    ) -> Result<(Entry, Run, Workspace), StoreError> {
        let keys = [entry_key(run_id, id), run_key(run_id), workspace_key(ws)];
        let mut items = self.table.get_many(&keys).await?.into_iter();
        let (entry, run, workspace) = (items.next().flatten(), items.next().flatten(), items.next().flatten());
        let entry: Entry = from_item(&entry.ok_or_else(|| StoreError::not_found("entry", id))?)?;
        let run = run_from_item(&run.ok_or_else(|| StoreError::not_found("run", run_id))?)?;
        let workspace = match workspace {
            Some(item) if run.workspace_id == ws => from_item(&item)?,
            _ => self.get_workspace(run.workspace_id).await?,
        };
        Ok((entry, run, workspace))
    }

    pub async fn get_entry(&self, run: RunId, id: EntryId) -> Result<Entry, StoreError> {
        self.fetch_or_404(&entry_key(run, id), id).await
    }

    /// Entries of a run in sequence order.
    pub async fn list_entries(&self, run: RunId, page: &PageRequest) -> Result<Listing<Entry>, StoreError> {
        self.list(page.apply(Query::table(format!("RUN#{run}"), SkRange::Prefix("E#".into())))).await
    }

    /// Moves an entry from `from` to `to` if it is still in `from`, applying `change`, and moves
    /// the run's counters, status and end time with it, in one transaction. Exactly one of
    /// several concurrent callers wins; the others get `Conflict`.
    pub async fn transition_entry(
        &self,
        run_id: RunId,
        id: EntryId,
        from: EntryStatus,
        to: EntryStatus,
        now: DateTime<Utc>,
        change: impl FnOnce(&mut Entry),
    ) -> Result<Entry, StoreError> {
        check_entry_move(from, to)?;
        let key = entry_key(run_id, id);
        let item = self.table.get(&key).await?.ok_or_else(|| StoreError::not_found("entry", id))?;
        let mut entry: Entry = from_item(&item)?;
        if entry.status != from {
            return Err(StoreError::Conflict(format!(
                "entry {id} is {}, not {}",
                entry.status.as_str(),
                from.as_str()
            )));
        }
        change(&mut entry);
        entry.status = to;
        entry.updated_at = now;
        self.commit_entry_move(entry, from, Condition::State(from.as_str().into()), now).await
    }

    /// [`Store::transition_entry`] for an entry this worker holds as it last wrote it: moves
    /// it from its status to `to` without reading it again, on the condition that nobody has
    /// written it since (its version). If somebody has, it is read again and moved the usual
    /// way.
    pub async fn transition_held_entry(
        &self,
        held: &Entry,
        to: EntryStatus,
        now: DateTime<Utc>,
        mut change: impl FnMut(&mut Entry),
    ) -> Result<Entry, StoreError> {
        let from = held.status;
        check_entry_move(from, to)?;
        let mut entry = held.clone();
        change(&mut entry);
        entry.status = to;
        entry.updated_at = now;
        match self.commit_entry_move(entry, from, Condition::Version(held.version), now).await {
            Err(StoreError::Conflict(_)) => {
                self.transition_entry(held.run_id, held.id, from, to, now, &mut change).await
            }
            moved => moved,
        }
    }

    /// Writes `entry` (already moved out of `from`) on `condition`, together with the run's
    /// counters. While the entry leaves the queue for a bucket that is not an error, the run
    /// is first assumed to stay running with work left, which needs no read of the run: the
    /// write only adds to its counters, on that condition. When the assumption fails (the
    /// last entries, a cancelled run) or the move needs more, the run is read and the write
    /// says everything the move means.
    async fn commit_entry_move(
        &self,
        mut entry: Entry,
        from: EntryStatus,
        condition: Condition,
        now: DateTime<Utc>,
    ) -> Result<Entry, StoreError> {
        let (run_id, id, to) = (entry.run_id, entry.id, entry.status);
        let key = entry_key(run_id, id);
        let version = entry.version;
        let entry_write = Write::Update { key, condition, update: rewrite(&entry)? };
        let (was, becomes) = (from.bucket(), to.bucket());
        let mut assume_running = was == Bucket::Queued && !matches!(becomes, Bucket::Queued | Bucket::Errors);
        let mut attempts = 0;
        loop {
            let mut writes = vec![entry_write.clone()];
            let mut ended = None;
            if was != becomes && assume_running {
                writes.push(Write::Update {
                    key: run_key(run_id),
                    condition: Condition::StateAndCounterAtLeast {
                        state: RunStatus::Running.as_str().into(),
                        counter: Bucket::Queued.as_str().into(),
                        min: 2,
                    },
                    update: Update { add: bucket_move(was, becomes), ..Default::default() },
                });
            } else if was != becomes {
                let (write, ends) = self.run_counts_moved(run_id, &entry, was, becomes, now).await?;
                writes.push(write);
                ended = ends;
            }
            match self.write(writes).await {
                Ok(()) => {
                    if let Some(run) = ended {
                        self.record_run_outcome_or_log(&run).await;
                    }
                    break;
                }
                Err(TableError::ConditionFailed { index: 0 }) => {
                    return Err(StoreError::Conflict(format!("entry {id} moved on concurrently")));
                }
                // The run is not running with work left: read it and say what the move means.
                Err(TableError::ConditionFailed { .. }) if assume_running => assume_running = false,
                // The run changed between reading and writing it: read it again.
                Err(TableError::ConditionFailed { .. }) if attempts < RUN_WRITE_ATTEMPTS => attempts += 1,
                Err(TableError::ConditionFailed { .. }) => {
                    return Err(StoreError::Conflict(format!("run {run_id} kept changing; try again")));
                }
                Err(e) => return Err(e.into()),
            }
        }
        entry.version = version + 1;
        Ok(entry)
    }

    /// The write that moves a run's counters as `entry` leaves bucket `was` for `becomes`,
    /// together with the status and end time those counts mean (see [`Run::settled`]), so the
    /// two never disagree, and the run as it will be when this write ends it. While the run
    /// stays running with work left, the write only adds to the counters, on the condition
    /// that work is left, and such writes of concurrent workers commute; any other change is
    /// conditioned on the run's version (the caller retries). The first entry to fail gives
    /// the run its `error`.
    async fn run_counts_moved(
        &self,
        run_id: RunId,
        entry: &Entry,
        was: Bucket,
        becomes: Bucket,
        now: DateTime<Utc>,
    ) -> Result<(Write, Option<Run>), StoreError> {
        let key = run_key(run_id);
        let item = self.table.get(&key).await?.ok_or_else(|| StoreError::not_found("run", run_id))?;
        let mut run = run_from_item(&item)?;
        let add = bucket_move(was, becomes);
        let mut counts = run.counts;
        counts.set(was, counts.get(was).saturating_sub(1));
        counts.set(becomes, counts.get(becomes) + 1);
        let (status, finished_at) = run.settled(&counts, now);
        let first_error = (becomes == Bucket::Errors && run.error.is_none()).then(|| {
            let reason = entry.error.clone().unwrap_or_else(|| entry.status.as_str().to_string());
            format!("entry {}: {reason}", entry.seq + 1)
        });
        if (status, finished_at) == (run.status, run.finished_at) && first_error.is_none() {
            let condition = match run.status {
                // Still running with work left: holds as long as that much work is queued.
                RunStatus::Running => {
                    let left = i64::from(was == Bucket::Queued) - i64::from(becomes == Bucket::Queued);
                    Condition::StateAndCounterAtLeast {
                        state: run.status.as_str().into(),
                        counter: Bucket::Queued.as_str().into(),
                        min: 1 + left,
                    }
                }
                _ => Condition::Version(item.version),
            };
            return Ok((Write::Update { key, condition, update: Update { add, ..Default::default() } }, None));
        }
        let ends = !run.is_finished();
        run.status = status;
        run.finished_at = finished_at;
        run.error = run.error.or(first_error);
        let update = Update { add, ..rewrite(&run)? };
        run.counts = counts;
        let ended = (ends && run.is_finished()).then_some(run);
        Ok((Write::Update { key, condition: Condition::Version(item.version), update }, ended))
    }

    /// Records how `run` ended on the schedule whose slot started it (while that run is still
    /// the schedule's last): `last_run_status`, and `last_error` saying why it failed.
    /// Idempotent; nothing for a run that has not ended or was not scheduled.
    pub async fn record_run_outcome(&self, run: &Run) -> Result<(), StoreError> {
        let (Some(schedule_id), Some(outcome)) = (run.schedule_id, run.outcome()) else { return Ok(()) };
        let key = schedule_key(run.workspace_id, schedule_id);
        let applies = |s: &Schedule| s.last_run_id == Some(run.id) && s.last_run_status != Some(outcome);
        match self.fetch_or_404::<Schedule>(&key, schedule_id).await {
            Ok(schedule) if applies(&schedule) => {}
            Ok(_) | Err(StoreError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e),
        }
        let recorded = self
            .modify(&key, schedule_id, |s: &mut Schedule| {
                if !applies(s) {
                    return Err(StoreError::Conflict("already recorded".into()));
                }
                s.last_run_status = Some(outcome);
                s.last_error = run.failure();
                Ok(())
            })
            .await;
        match recorded {
            Ok(_) | Err(StoreError::Conflict(_) | StoreError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// [`Store::record_run_outcome`] after the run's own write, which has happened: a failure
    /// here is logged (the schedules API and the next run repair it), not returned.
    async fn record_run_outcome_or_log(&self, run: &Run) {
        if let Err(error) = self.record_run_outcome(run).await {
            tracing::warn!(run = %run.id, %error, "could not record the run's outcome on its schedule");
        }
    }

    /// Moves the lease of an entry that is still in `status` to `until` (the work index
    /// follows), without changing anything else.
    pub async fn extend_entry_lease(
        &self,
        run: RunId,
        id: EntryId,
        status: EntryStatus,
        until: DateTime<Utc>,
    ) -> Result<Entry, StoreError> {
        self.update_entry_in(run, id, status, |e| e.lease_until = Some(until)).await
    }

    /// Changes an entry that is still in `status` without moving it to another status (its
    /// lease, its artifacts); a conflict if it has moved on.
    pub async fn update_entry_in(
        &self,
        run: RunId,
        id: EntryId,
        status: EntryStatus,
        change: impl FnMut(&mut Entry),
    ) -> Result<Entry, StoreError> {
        self.change_entry_in(None, run, id, status, change).await
    }

    /// [`Store::update_entry_in`] for an entry this worker holds as it last wrote it (read
    /// again only if somebody wrote it since).
    pub async fn update_held_entry(&self, held: &Entry, change: impl FnMut(&mut Entry)) -> Result<Entry, StoreError> {
        self.change_entry_in(Some(held.clone()), held.run_id, held.id, held.status, change).await
    }

    async fn change_entry_in(
        &self,
        held: Option<Entry>,
        run: RunId,
        id: EntryId,
        status: EntryStatus,
        mut change: impl FnMut(&mut Entry),
    ) -> Result<Entry, StoreError> {
        self.modify_from(held, &entry_key(run, id), id, |e: &mut Entry| {
            if e.status != status {
                return Err(StoreError::Conflict(format!(
                    "entry {id} is {}, not {}",
                    e.status.as_str(),
                    status.as_str()
                )));
            }
            change(e);
            Ok(())
        })
        .await
    }

    /// Records the run's narrative (written once, by the worker that narrates).
    pub async fn record_narrative(&self, id: RunId, narrative: &NarrativeOutput) -> Result<Run, StoreError> {
        self.modify(&run_key(id), id, |r: &mut Run| {
            r.narrative = Some(narrative.clone());
            Ok(())
        })
        .await
    }

    /// Queued or in-progress entries whose lease ended at or before `now` (work a crashed
    /// worker or a lost message left behind), at most `limit` per shard.
    pub async fn stale_entries(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Entry>, StoreError> {
        let mut stale = Vec::new();
        for shard in 0..WORK_SHARDS {
            let query =
                Query::index(Index::Gsi3, format!("WORK#{shard}"), SkRange::AtMost(format!("{}#~", time_key(now))));
            stale.extend(self.list::<Entry>(query.limit(limit)).await?.items);
        }
        Ok(stale)
    }

    /// Entries of every workspace held for review since `cutoff` or earlier, oldest first per
    /// shard, at most `limit` per shard. Reads only the sparse held-entries index, so the cost
    /// follows the number of entries past the cutoff.
    pub async fn held_entries(&self, cutoff: DateTime<Utc>, limit: usize) -> Result<Vec<Entry>, StoreError> {
        let mut held = Vec::new();
        for shard in 0..WORK_SHARDS {
            let query =
                Query::index(Index::Gsi1, format!("HELD#{shard}"), SkRange::AtMost(format!("{}#~", time_key(cutoff))));
            held.extend(self.list::<Entry>(query.limit(limit)).await?.items);
        }
        Ok(held)
    }

    /// Creates delivery records; records that already exist are left as they are, so a
    /// repeated call is harmless.
    pub async fn create_deliveries(&self, deliveries: &[Delivery]) -> Result<(), StoreError> {
        for chunk in deliveries.chunks(MAX_TRANSACTION_WRITES) {
            let writes = chunk
                .iter()
                .map(|d| Ok(Write::Put { item: to_item(d)?, condition: Condition::NotExists }))
                .collect::<Result<Vec<_>, StoreError>>()?;
            match self.write(writes.clone()).await {
                Ok(()) => {}
                Err(TableError::ConditionFailed { .. }) => {
                    for write in writes {
                        match self.write(vec![write]).await {
                            Ok(()) | Err(TableError::ConditionFailed { .. }) => {}
                            Err(e) => return Err(e.into()),
                        }
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Creates every one of `deliveries` in one transaction, or none (`false`) when any of
    /// them exists already or they are more than a transaction holds. The records come back
    /// as stored (their version).
    pub async fn create_all_deliveries(&self, deliveries: &mut [Delivery]) -> Result<bool, StoreError> {
        if deliveries.len() > MAX_TRANSACTION_WRITES {
            return Ok(false);
        }
        let items = deliveries.iter().map(to_item).collect::<Result<Vec<Item>, StoreError>>()?;
        let versions: Vec<u64> = items.iter().map(|item| item.version).collect();
        match self
            .write(items.into_iter().map(|item| Write::Put { item, condition: Condition::NotExists }).collect())
            .await
        {
            Ok(()) => {}
            Err(TableError::ConditionFailed { .. }) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        for (delivery, version) in deliveries.iter_mut().zip(versions) {
            delivery.version = version;
        }
        Ok(true)
    }

    pub async fn get_delivery(&self, run: RunId, entry: EntryId, index: u32) -> Result<Delivery, StoreError> {
        self.fetch_or_404(&delivery_key(run, entry, index), format!("{entry}/{index}")).await
    }

    /// Deliveries of one entry (in delivery order), or of the whole run.
    pub async fn list_deliveries(
        &self,
        run: RunId,
        entry: Option<EntryId>,
        page: &PageRequest,
    ) -> Result<Listing<Delivery>, StoreError> {
        let prefix = entry.map_or_else(|| "D#".to_string(), |e| format!("D#{e}#"));
        self.list(page.apply(Query::table(format!("RUN#{run}"), SkRange::Prefix(prefix)))).await
    }

    /// Claims a delivery for one send: it must be pending or waiting for a retry, and nobody
    /// else may be sending it. Records the attempt and the idempotency key before anything is
    /// sent, so a repeated job finds it claimed (or settled) and sends nothing.
    pub async fn claim_delivery(
        &self,
        delivery: &Delivery,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Delivery, StoreError> {
        let id = delivery.id;
        self.modify(&delivery_key(delivery.run_id, delivery.entry_id, delivery.index), id, |d: &mut Delivery| {
            let open = matches!(d.status, DeliveryStatus::Pending | DeliveryStatus::FailedTransient);
            if !open || d.sending_until.is_some_and(|t| t > now) {
                return Err(StoreError::Conflict(format!("delivery {id} is {} or being sent", d.status.as_str())));
            }
            d.claim(now, until);
            Ok(())
        })
        .await
    }

    /// Ends a send claim that lapsed at or before `cutoff` (its sender is gone: a crashed
    /// worker, or the local server before a restart), so the delivery can be claimed again at
    /// once. Its idempotency key stays, so the next send is recognised as the same message.
    /// A settled delivery, or one whose claim still holds at `cutoff`, is a conflict.
    pub async fn release_delivery(&self, delivery: &Delivery, cutoff: DateTime<Utc>) -> Result<Delivery, StoreError> {
        let id = delivery.id;
        self.modify(&delivery_key(delivery.run_id, delivery.entry_id, delivery.index), id, |d: &mut Delivery| {
            if d.status.is_settled() || d.sending_until.is_none_or(|t| t > cutoff) {
                return Err(StoreError::Conflict(format!("delivery {id} holds no lapsed claim")));
            }
            d.sending_until = None;
            Ok(())
        })
        .await
    }

    /// Moves a delivery from `from` to `to` if it is still in `from`, applying `change`.
    /// Returns the delivery as written, its version one past the caller's copy.
    pub async fn transition_delivery(
        &self,
        delivery: &Delivery,
        from: DeliveryStatus,
        to: DeliveryStatus,
        now: DateTime<Utc>,
        change: impl FnOnce(&mut Delivery),
    ) -> Result<Delivery, StoreError> {
        if !from.can_transition_to(to) {
            return Err(StoreError::InvalidTransition {
                kind: "delivery",
                from: from.as_str().into(),
                to: to.as_str().into(),
            });
        }
        let mut next = delivery.clone();
        change(&mut next);
        next.status = to;
        next.updated_at = now;
        let write = Write::Update {
            key: next.key(),
            condition: Condition::State(from.as_str().into()),
            update: rewrite(&next)?,
        };
        match self.write(vec![write]).await {
            Ok(()) => {}
            Err(TableError::ConditionFailed { .. }) => {
                return Err(StoreError::Conflict(format!("delivery {} moved on concurrently", delivery.id)));
            }
            Err(e) => return Err(e.into()),
        }
        next.version = delivery.version.max(1) + 1;
        Ok(next)
    }
}
