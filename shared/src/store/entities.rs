//! How each entity maps onto the single table: its keys, the indexes it appears in, and the
//! state writes are conditioned on. This file is the whole key design.
//!
//! | entity | pk | sk | gsi1 | gsi2 | gsi3 |
//! |---|---|---|---|---|---|
//! | workspace | `WS#{id}` | `WS` | | `WORKSPACES` / `{id}` | |
//! | workspace code guard | `WSCODE#{code}` | `WSCODE` | | | |
//! | token | `WS#{ws}` | `TOKEN#{id}` | `TOKENHASH#{sha256}` / `TOKEN` | | |
//! | destination | `WS#{ws}` | `DEST#{id}` | | | |
//! | connection | `WS#{ws}` | `CONN#{id}` | | | |
//! | connection name guard | `WS#{ws}` | `CONNNAME#{name}` | | | |
//! | report | `WS#{ws}` | `REPORT#{id}` | | | |
//! | report code guard | `WS#{ws}` | `REPORTCODE#{code}` | | | |
//! | schedule | `WS#{ws}` | `SCHED#{id}` | `DUE` / `{next_run_at}#{id}` (enabled only) | `REPORT#{report}` / `SCHED#{id}` | |
//! | run | `RUN#{id}` | `RUN` | `WS#{ws}#RUNS` / `{id}` | `REPORT#{report}` / `RUN#{id}` | |
//! | idempotency key | `WS#{ws}` | `IDEM#{key}` | | | |
//! | entry | `RUN#{run}` | `E#{id}` | `HELD#{shard}` / `{held_since}#{run}#{id}` (pending review only) | | `WORK#{shard}` / `{lease_until}#{run}#{id}` (queued or in progress only) |
//! | delivery | `RUN#{run}` | `D#{entry}#{index}` | | | |
//! | last tick | `SYSTEM` | `TICK` | | | |
//! | interaction | `WS#{ws}#IX#{dedupe}` | `IX` | `WS#{ws}#INTERACTIONS` / `{created_at}#{id}` | | |
//! | daily summary | `WS#{ws}#DAILY` | `{day}#{channel}#{offer}` | | | |
//! | dataset | `WS#{ws}` | `DATASET#{code}` | | | |
//! | export checkpoint | `WS#{ws}` | `EXPORT#interactions` | | | |
//! | suppression | `WS#{ws}` | `SUPP#{address}` | `SUPPRESSIONS` / `{expires_at}#{ws}#{address}` (expiring only) | | |
//! | temporary file | `WS#{ws}` | `TMP#{id}` (expires by TTL) | | | |
//! | AI calls of a day | `WS#{ws}` | `AICALLS#{day}` (counter `calls`; expires by TTL) | | | |
//! | alert rule | `WS#{ws}` | `ALERT#{id}` | `ALERTDUE` / `{next_evaluation_at}#{id}` (enabled only) | | |
//! | alert instance | `ALERT#{rule}` | `INST#{key hash}` | | | |
//! | alert event | `ALERT#{rule}` | `EVT#{at}#{key hash}` | `WS#{ws}#ALERTEVENTS` / `{at}#{rule}#{key hash}` | | |
//! | alert notification | `ALERT#{rule}` | `NOTE#{key hash}#{notice key}#{index}` | | | |
//!
//! Access patterns: due schedules by time (gsi1 `DUE`, sparse), runs of a workspace or a
//! report newest-first (gsi1/gsi2, ULID order), tokens by hash (gsi1), entries and deliveries
//! by run (table partition), unfinished work by lease expiry (gsi3, 16 shards so one busy run
//! does not make a hot partition), entries held for review by the time they were held (gsi1,
//! sparse, sharded the same way; the approvals expiry reads only those past its cutoff).
//!
//! Interactions: `{dedupe}` is `C#{client id}` when the client sent an id, else `I#{id}`; each
//! interaction is its own partition, so the `NotExists` put that makes re-sending idempotent
//! never contends with other writes. A workspace's interactions are listed in receipt order
//! through gsi1 (for exports). Daily summaries keep atomic counters (`received`, `viewed`,
//! `completed`, `transactions`, `amount_cents`, `reward_cents`) per UTC day, channel (`none` when
//! absent) and offer (`={offer_id}`, or `-` for offer-less transactions); the analytics sources
//! read a range of days from the one `DAILY` partition. An interaction and its summary
//! increments are written in one transaction. Datasets keep their metadata here and their rows
//! in the blob store (`datasets/{ws}/{code}/{upload}.json`).
//!
//! Alerts: due rules are found like due schedules (gsi1 `ALERTDUE`, sparse); a rule's
//! instances, state changes and notifications share its partition, so one evaluation writes an
//! instance, its event and its notifications in one transaction. An instance's key (a group's
//! value, any text) is stored whole in the item and hashed in the sort key.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::table::{INDEX_COUNT, Key};
use crate::domain::{
    AlertEvent, AlertInstance, AlertNotification, AlertRule, AlertRuleId, ApiToken, Channel, Connection, DailySummary,
    Dataset, Delivery, Destination, Entry, EntryStatus, ExportCheckpoint, Interaction, Report, Run, Schedule,
    ScheduleId, Suppression, TemporaryFile, TemporaryFileId, Workspace, WorkspaceId,
};

/// Number of shards of the work index.
pub const WORK_SHARDS: u8 = 16;

/// Sortable text form of an instant (fixed width, millisecond precision, UTC).
pub fn time_key(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn workspace_key(ws: WorkspaceId) -> Key {
    Key::new(workspace_pk(ws), "WS")
}

pub fn workspace_pk(ws: WorkspaceId) -> String {
    format!("WS#{ws}")
}

/// An entity stored as one item.
pub trait Entity: Serialize + DeserializeOwned {
    /// Name used in errors (`report`, `run`).
    const KIND: &'static str;
    fn key(&self) -> Key;
    fn indexes(&self) -> [Option<Key>; INDEX_COUNT] {
        [None, None, None]
    }
    fn state(&self) -> Option<String> {
        None
    }
    fn version(&self) -> u64;
    fn set_version(&mut self, version: u64);
}

macro_rules! versioned {
    () => {
        fn version(&self) -> u64 {
            self.version
        }
        fn set_version(&mut self, version: u64) {
            self.version = version;
        }
    };
}

impl Entity for Workspace {
    const KIND: &'static str = "workspace";
    fn key(&self) -> Key {
        workspace_key(self.id)
    }
    fn indexes(&self) -> [Option<Key>; INDEX_COUNT] {
        [None, Some(Key::new("WORKSPACES", self.id.to_string())), None]
    }
    versioned!();
}

pub fn workspace_code_key(code: &str) -> Key {
    Key::new(format!("WSCODE#{code}"), "WSCODE")
}

/// Tokens carry no version of their own; the item's version guards their updates.
impl Entity for ApiToken {
    const KIND: &'static str = "token";
    fn key(&self) -> Key {
        Key::new(workspace_pk(self.workspace_id), format!("TOKEN#{}", self.id))
    }
    fn indexes(&self) -> [Option<Key>; INDEX_COUNT] {
        [Some(Key::new(format!("TOKENHASH#{}", self.hash.as_str()), "TOKEN")), None, None]
    }
    fn version(&self) -> u64 {
        0
    }
    fn set_version(&mut self, _: u64) {}
}

impl Entity for Destination {
    const KIND: &'static str = "destination";
    fn key(&self) -> Key {
        Key::new(workspace_pk(self.workspace_id), format!("DEST#{}", self.id))
    }
    versioned!();
}

impl Entity for Connection {
    const KIND: &'static str = "connection";
    fn key(&self) -> Key {
        Key::new(workspace_pk(self.workspace_id), format!("CONN#{}", self.id))
    }
    versioned!();
}

impl Entity for AlertRule {
    const KIND: &'static str = "alert rule";
    fn key(&self) -> Key {
        alert_rule_key(self.workspace_id, self.id)
    }
    fn indexes(&self) -> [Option<Key>; INDEX_COUNT] {
        let due = self
            .next_evaluation_at
            .filter(|_| self.enabled)
            .map(|at| Key::new("ALERTDUE", format!("{}#{}", time_key(at), self.id)));
        [due, None, None]
    }
    versioned!();
}

pub fn alert_rule_key(ws: WorkspaceId, id: AlertRuleId) -> Key {
    Key::new(workspace_pk(ws), format!("ALERT#{id}"))
}

pub fn alert_pk(rule: AlertRuleId) -> String {
    format!("ALERT#{rule}")
}

/// The sort-key form of an instance key: 16 hex digits of its SHA-256.
pub fn instance_hash(key: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(key.as_bytes())[..8])
}

impl Entity for AlertInstance {
    const KIND: &'static str = "alert instance";
    fn key(&self) -> Key {
        Key::new(alert_pk(self.rule_id), format!("INST#{}", instance_hash(&self.key)))
    }
    fn state(&self) -> Option<String> {
        Some(self.state.as_str().into())
    }
    versioned!();
}

impl Entity for AlertEvent {
    const KIND: &'static str = "alert event";
    fn key(&self) -> Key {
        Key::new(alert_pk(self.rule_id), format!("EVT#{}#{}", time_key(self.at), instance_hash(&self.instance)))
    }
    fn indexes(&self) -> [Option<Key>; INDEX_COUNT] {
        let sk = format!("{}#{}#{}", time_key(self.at), self.rule_id, instance_hash(&self.instance));
        [Some(Key::new(format!("WS#{}#ALERTEVENTS", self.workspace_id), sk)), None, None]
    }
    fn version(&self) -> u64 {
        0
    }
    fn set_version(&mut self, _: u64) {}
}

impl Entity for AlertNotification {
    const KIND: &'static str = "alert notification";
    fn key(&self) -> Key {
        let sk = format!("NOTE#{}#{}#{}", instance_hash(&self.instance), self.key, self.index);
        Key::new(alert_pk(self.rule_id), sk)
    }
    versioned!();
}

pub fn connection_name_key(ws: WorkspaceId, name: &str) -> Key {
    Key::new(workspace_pk(ws), format!("CONNNAME#{name}"))
}

impl Entity for Report {
    const KIND: &'static str = "report";
    fn key(&self) -> Key {
        Key::new(workspace_pk(self.workspace_id), format!("REPORT#{}", self.id))
    }
    versioned!();
}

pub fn report_code_key(ws: WorkspaceId, code: &str) -> Key {
    Key::new(workspace_pk(ws), format!("REPORTCODE#{code}"))
}

pub fn schedule_key(ws: WorkspaceId, id: ScheduleId) -> Key {
    Key::new(workspace_pk(ws), format!("SCHED#{id}"))
}

impl Entity for Schedule {
    const KIND: &'static str = "schedule";
    fn key(&self) -> Key {
        schedule_key(self.workspace_id, self.id)
    }
    fn indexes(&self) -> [Option<Key>; INDEX_COUNT] {
        let due = self
            .next_run_at
            .filter(|_| self.enabled)
            .map(|at| Key::new("DUE", format!("{}#{}", time_key(at), self.id)));
        [due, Some(Key::new(format!("REPORT#{}", self.report_id), format!("SCHED#{}", self.id))), None]
    }
    versioned!();
}

impl Entity for Run {
    const KIND: &'static str = "run";
    fn key(&self) -> Key {
        run_key(self.id)
    }
    fn indexes(&self) -> [Option<Key>; INDEX_COUNT] {
        [
            Some(Key::new(format!("WS#{}#RUNS", self.workspace_id), self.id.to_string())),
            Some(Key::new(format!("REPORT#{}", self.report_id), format!("RUN#{}", self.id))),
            None,
        ]
    }
    fn state(&self) -> Option<String> {
        Some(self.status.as_str().to_string())
    }
    versioned!();
}

pub fn run_key(run: crate::domain::RunId) -> Key {
    Key::new(format!("RUN#{run}"), "RUN")
}

pub fn idempotency_key(ws: WorkspaceId, key: &str) -> Key {
    Key::new(workspace_pk(ws), format!("IDEM#{key}"))
}

impl Entity for Entry {
    const KIND: &'static str = "entry";
    fn key(&self) -> Key {
        entry_key(self.run_id, self.id)
    }
    fn indexes(&self) -> [Option<Key>; INDEX_COUNT] {
        let shard = (self.id.ulid().random() % u128::from(WORK_SHARDS)) as u8;
        let working = matches!(self.status, EntryStatus::Queued | EntryStatus::InProgress);
        let work = working.then(|| {
            let due = self.lease_until.unwrap_or(self.updated_at);
            Key::new(format!("WORK#{shard}"), format!("{}#{}#{}", time_key(due), self.run_id, self.id))
        });
        // An entry enters review in a transition, which stamps `updated_at`: the time it was held.
        let held = (self.status == EntryStatus::PendingReview).then(|| {
            Key::new(format!("HELD#{shard}"), format!("{}#{}#{}", time_key(self.updated_at), self.run_id, self.id))
        });
        [held, None, work]
    }
    fn state(&self) -> Option<String> {
        Some(self.status.as_str().to_string())
    }
    versioned!();
}

pub fn entry_key(run: crate::domain::RunId, entry: crate::domain::EntryId) -> Key {
    Key::new(format!("RUN#{run}"), format!("E#{entry}"))
}

impl Entity for Delivery {
    const KIND: &'static str = "delivery";
    fn key(&self) -> Key {
        delivery_key(self.run_id, self.entry_id, self.index)
    }
    fn state(&self) -> Option<String> {
        Some(self.status.as_str().to_string())
    }
    versioned!();
}

pub fn delivery_key(run: crate::domain::RunId, entry: crate::domain::EntryId, index: u32) -> Key {
    Key::new(format!("RUN#{run}"), format!("D#{entry}#{index:04}"))
}

/// Interactions carry no version; they are written once and never changed.
impl Entity for Interaction {
    const KIND: &'static str = "interaction";
    fn key(&self) -> Key {
        interaction_key(self.workspace_id, &self.dedupe_key())
    }
    fn indexes(&self) -> [Option<Key>; INDEX_COUNT] {
        let received = format!("{}#{}", time_key(self.created_at), self.id);
        [Some(Key::new(interactions_index_pk(self.workspace_id), received)), None, None]
    }
    fn version(&self) -> u64 {
        0
    }
    fn set_version(&mut self, _: u64) {}
}

pub fn interaction_key(ws: WorkspaceId, dedupe: &str) -> Key {
    Key::new(format!("WS#{ws}#IX#{dedupe}"), "IX")
}

/// The gsi1 partition listing a workspace's interactions by receipt time.
pub fn interactions_index_pk(ws: WorkspaceId) -> String {
    format!("WS#{ws}#INTERACTIONS")
}

/// The partition of a workspace's daily summaries.
pub fn daily_summary_pk(ws: WorkspaceId) -> String {
    format!("WS#{ws}#DAILY")
}

/// Sort keys of daily summaries start with their day, so a range of days is a key range.
pub fn day_key(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

pub fn daily_summary_key(ws: WorkspaceId, summary: &DailySummary) -> Key {
    Key::new(daily_summary_pk(ws), format!("{}#{}", day_key(summary.day), summary_subject(summary)))
}

/// The partition of a workspace's quarter-hour summaries (what days of other zones are cut from).
pub fn quarter_summary_pk(ws: WorkspaceId) -> String {
    format!("WS#{ws}#QUARTER")
}

/// Sort keys of quarter-hour summaries start with the UTC quarter-hour (`2026-12-07T13:45`),
/// which sorts after its bare day, so a range of quarters is a key range.
pub fn quarter_key(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M").to_string()
}

pub fn quarter_summary_key(ws: WorkspaceId, quarter: DateTime<Utc>, summary: &DailySummary) -> Key {
    Key::new(quarter_summary_pk(ws), format!("{}#{}", quarter_key(quarter), summary_subject(summary)))
}

/// The partition of a workspace's ingest log, one item per UTC quarter-hour that saw a batch.
pub fn ingest_log_pk(ws: WorkspaceId) -> String {
    format!("WS#{ws}#INGESTLOG")
}

pub fn ingest_log_key(ws: WorkspaceId, quarter: DateTime<Utc>) -> Key {
    Key::new(ingest_log_pk(ws), quarter_key(quarter))
}

/// The channel and offer part of a summary's sort key.
fn summary_subject(summary: &DailySummary) -> String {
    let channel = summary.channel.map_or("none", Channel::as_str);
    let offer = summary.offer_id.as_deref().map_or_else(|| "-".to_string(), |o| format!("={o}"));
    format!("{channel}#{offer}")
}

impl Entity for Dataset {
    const KIND: &'static str = "dataset";
    fn key(&self) -> Key {
        dataset_key(self.workspace_id, self.code.as_str())
    }
    versioned!();
}

pub fn dataset_key(ws: WorkspaceId, code: &str) -> Key {
    Key::new(workspace_pk(ws), format!("DATASET#{code}"))
}

impl Entity for TemporaryFile {
    const KIND: &'static str = "temporary file";
    fn key(&self) -> Key {
        temporary_file_key(self.workspace_id, self.id)
    }
    fn state(&self) -> Option<String> {
        Some(self.status.as_str().to_string())
    }
    versioned!();
}

pub fn temporary_file_key(ws: WorkspaceId, id: TemporaryFileId) -> Key {
    Key::new(workspace_pk(ws), format!("TMP#{id}"))
}

impl Entity for ExportCheckpoint {
    const KIND: &'static str = "export checkpoint";
    fn key(&self) -> Key {
        export_checkpoint_key(self.workspace_id)
    }
    versioned!();
}

pub fn export_checkpoint_key(ws: WorkspaceId) -> Key {
    Key::new(workspace_pk(ws), "EXPORT#interactions")
}

/// Expiring suppressions of every workspace, by expiry, so cleanup finds the expired ones
/// with one range read.
pub const SUPPRESSIONS_INDEX_PK: &str = "SUPPRESSIONS";

impl Entity for Suppression {
    const KIND: &'static str = "suppression";
    fn key(&self) -> Key {
        suppression_key(self.workspace_id, &self.address)
    }
    fn indexes(&self) -> [Option<Key>; INDEX_COUNT] {
        let expiring = self.expires_at.map(|at| {
            Key::new(SUPPRESSIONS_INDEX_PK, format!("{}#{}#{}", time_key(at), self.workspace_id, self.address))
        });
        [expiring, None, None]
    }
    versioned!();
}

pub fn suppression_key(ws: WorkspaceId, address: &str) -> Key {
    Key::new(workspace_pk(ws), format!("SUPP#{address}"))
}
