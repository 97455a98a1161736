//! The typed store every use-case talks to: entities in, entities out, with the key design of
//! `entities.rs`, optimistic versions, unique codes and state-guarded transitions. It runs
//! on any `Table` adapter, so SQLite and DynamoDB behave the same by construction.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::entities::{
    Entity, connection_name_key, report_code_key, schedule_key, time_key, workspace_code_key, workspace_key,
    workspace_pk,
};
use super::table::{Condition, Index, Item, Key, Query, SkRange, Table, TableError, Update, Write};
use crate::domain::{
    ApiToken, Code, Connection, ConnectionId, Destination, DestinationId, Report, ReportId, Schedule, ScheduleId,
    TokenHash, TokenId, Workspace, WorkspaceId,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{kind} `{id}` not found")]
    NotFound { kind: &'static str, id: String },
    /// A uniqueness or version check failed: the caller's view is stale or the value taken.
    #[error("{0}")]
    Conflict(String),
    #[error("cannot move {kind} from {from} to {to}")]
    InvalidTransition { kind: &'static str, from: String, to: String },
    #[error("invalid or foreign pagination cursor")]
    InvalidCursor,
    #[error("stored {kind} is unreadable: {message}")]
    Corrupt { kind: &'static str, message: String },
    /// More than the store keeps in one item or transaction: a permanent refusal.
    #[error("{kind} is {bytes} bytes stored, over the limit of {limit} bytes")]
    TooLarge { kind: &'static str, bytes: usize, limit: usize },
    #[error("storage failed: {0}")]
    Backend(#[source] TableError),
}

impl From<TableError> for StoreError {
    fn from(e: TableError) -> Self {
        match e {
            TableError::InvalidCursor => StoreError::InvalidCursor,
            TableError::TooLarge { bytes, limit } => StoreError::TooLarge { kind: "the record", bytes, limit },
            other => StoreError::Backend(other),
        }
    }
}

impl StoreError {
    pub(crate) fn not_found(kind: &'static str, id: impl ToString) -> Self {
        StoreError::NotFound { kind, id: id.to_string() }
    }
}

/// One page of a listing; pass `cursor` back to get the next.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub cursor: Option<String>,
}

/// Which page of a listing to read.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub cursor: Option<String>,
    /// Clamped to 1..=200; 50 when absent.
    pub limit: Option<usize>,
}

impl PageRequest {
    pub fn first(limit: usize) -> Self {
        Self { cursor: None, limit: Some(limit) }
    }

    pub(crate) fn apply(&self, query: Query) -> Query {
        query.limit(self.limit.unwrap_or(50).clamp(1, 200)).after(self.cursor.clone())
    }
}

/// The store's codec: the one place secrets are written as their values (see
/// [`crate::domain::Secret`]).
pub(crate) fn to_item<T: Entity>(value: &T) -> Result<Item, StoreError> {
    let data = crate::domain::revealed(|| serde_json::to_string(value))
        .map_err(|e| StoreError::Corrupt { kind: T::KIND, message: e.to_string() })?;
    Ok(Item {
        key: value.key(),
        indexes: value.indexes(),
        state: value.state(),
        version: value.version().max(1),
        ttl: None,
        counters: Default::default(),
        data,
    })
}

pub(crate) fn from_item<T: Entity>(item: &Item) -> Result<T, StoreError> {
    let mut value: T = serde_json::from_str(&item.data)
        .map_err(|e| StoreError::Corrupt { kind: T::KIND, message: format!("{}: {e}", item.key.sk) })?;
    value.set_version(item.version);
    Ok(value)
}

impl Store {
    /// How many bytes `value` takes stored (what [`super::table::MAX_ITEM_BYTES`] limits), so a use-case can
    /// refuse something too large before doing any work for it.
    pub fn stored_size<T: Entity>(&self, value: &T) -> Result<usize, StoreError> {
        Ok(to_item(value)?.size())
    }
}

/// An update that rewrites an entity's data, state and index keys (counters are kept).
pub(crate) fn rewrite<T: Entity>(value: &T) -> Result<Update, StoreError> {
    let item = to_item(value)?;
    Ok(Update { data: Some(item.data), state: Some(item.state), indexes: item.indexes.map(Some), ..Default::default() })
}

/// How often a write that lost to a concurrent transaction is retried.
const CONTENTION_RETRIES: u32 = 6;

#[derive(Clone)]
pub struct Store {
    pub(crate) table: Arc<dyn Table>,
}

impl Store {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    /// The table underneath (for tools and tests that work on raw items).
    pub fn table(&self) -> &Arc<dyn Table> {
        &self.table
    }

    /// Writes atomically, retrying (with jitter) when a concurrent transaction interfered.
    pub(crate) async fn write(&self, writes: Vec<Write>) -> Result<(), TableError> {
        let mut attempt = 0;
        loop {
            match self.table.write(writes.clone()).await {
                Err(TableError::Contention) if attempt < CONTENTION_RETRIES => {
                    attempt += 1;
                    let jitter = rand::random::<u64>() % (10 << attempt);
                    tokio::time::sleep(Duration::from_millis(5 + jitter)).await;
                }
                other => return other,
            }
        }
    }

    pub(crate) async fn fetch<T: Entity>(&self, key: &Key) -> Result<Option<T>, StoreError> {
        self.table.get(key).await?.as_ref().map(from_item).transpose()
    }

    pub(crate) async fn fetch_or_404<T: Entity>(&self, key: &Key, id: impl ToString) -> Result<T, StoreError> {
        self.fetch(key).await?.ok_or_else(|| StoreError::not_found(T::KIND, id))
    }

    pub(crate) async fn list<T: Entity>(&self, query: Query) -> Result<Listing<T>, StoreError> {
        let page = self.table.query(&query).await?;
        let items = page.items.iter().map(from_item).collect::<Result<_, _>>()?;
        Ok(Listing { items, cursor: page.cursor })
    }

    /// Creates `value` (which must not exist) together with `guards`; a failed guard is
    /// reported with `guard_message`.
    async fn insert<T: Entity>(&self, value: &T, guards: Vec<Write>, guard_message: String) -> Result<T, StoreError> {
        let mut item = to_item(value)?;
        item.version = 1;
        let mut writes = vec![Write::Put { item, condition: Condition::NotExists }];
        writes.extend(guards);
        match self.write(writes).await {
            Ok(()) => {}
            Err(TableError::ConditionFailed { index: 0 }) => {
                return Err(StoreError::Conflict(format!("{} already exists", T::KIND)));
            }
            Err(TableError::ConditionFailed { .. }) => return Err(StoreError::Conflict(guard_message)),
            Err(e) => return Err(e.into()),
        }
        let mut stored = from_item::<T>(&to_item(value)?)?;
        stored.set_version(1);
        Ok(stored)
    }

    /// Replaces `value` if it is still at the version it was read at; returns it at its new
    /// version. Extra writes join the same transaction.
    async fn replace<T: Entity>(&self, value: &T, extra: Vec<Write>) -> Result<T, StoreError> {
        let mut writes = vec![Write::Update {
            key: value.key(),
            condition: Condition::Version(value.version()),
            update: rewrite(value)?,
        }];
        writes.extend(extra);
        match self.write(writes).await {
            Ok(()) => {}
            Err(TableError::ConditionFailed { index: 0 }) => {
                return Err(StoreError::Conflict(format!(
                    "{} was changed by someone else since it was read (version {}); reload and retry",
                    T::KIND,
                    value.version()
                )));
            }
            Err(TableError::ConditionFailed { .. }) => {
                return Err(StoreError::Conflict(format!("{} conflicts with an existing one", T::KIND)));
            }
            Err(e) => return Err(e.into()),
        }
        let mut updated = from_item::<T>(&to_item(value)?)?;
        updated.set_version(value.version() + 1);
        Ok(updated)
    }

    /// [`Store::replace`] with the writes that move a uniqueness guard; a taken guard is
    /// reported with `taken`.
    async fn replace_guarded<T: Entity>(&self, value: &T, guards: Vec<Write>, taken: String) -> Result<T, StoreError> {
        let moves = !guards.is_empty();
        self.replace(value, guards).await.map_err(|e| match e {
            StoreError::Conflict(m) if moves && m.contains("conflicts with") => StoreError::Conflict(taken),
            other => other,
        })
    }

    /// Reads the item, changes the entity with `change`, and writes it back if nobody else
    /// wrote in between; retries a few times when someone did.
    pub(crate) async fn modify<T: Entity>(
        &self,
        key: &Key,
        id: impl ToString,
        change: impl FnMut(&mut T) -> Result<(), StoreError>,
    ) -> Result<T, StoreError> {
        self.modify_from(None, key, id, change).await
    }

    /// [`Store::modify`] starting from `held`, the entity as this caller last read or wrote
    /// it, so an entity nobody else touched meanwhile is written without being read again.
    pub(crate) async fn modify_from<T: Entity>(
        &self,
        mut held: Option<T>,
        key: &Key,
        id: impl ToString,
        mut change: impl FnMut(&mut T) -> Result<(), StoreError>,
    ) -> Result<T, StoreError> {
        for _ in 0..5 {
            // An entity that keeps no version of its own (`version()` is 0) is always read.
            let (mut value, version) = match held.take().filter(|held| held.version() > 0) {
                Some(value) => {
                    let version = value.version();
                    (value, version)
                }
                None => {
                    let item =
                        self.table.get(key).await?.ok_or_else(|| StoreError::not_found(T::KIND, id.to_string()))?;
                    (from_item(&item)?, item.version)
                }
            };
            change(&mut value)?;
            let update = rewrite(&value)?;
            match self
                .write(vec![Write::Update { key: key.clone(), condition: Condition::Version(version), update }])
                .await
            {
                Ok(()) => {
                    value.set_version(version + 1);
                    return Ok(value);
                }
                Err(TableError::ConditionFailed { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict(format!("{} is being changed concurrently; retry", T::KIND)))
    }

    async fn remove<T: Entity>(&self, key: Key, id: impl ToString, extra: Vec<Write>) -> Result<(), StoreError> {
        let mut writes = vec![Write::Delete { key, condition: Condition::Exists }];
        writes.extend(extra);
        match self.write(writes).await {
            Err(TableError::ConditionFailed { index: 0 }) => Err(StoreError::not_found(T::KIND, id)),
            other => Ok(other?),
        }
    }

    // ----- workspaces -----

    /// Creates a workspace; its code must be free.
    pub async fn create_workspace(&self, ws: &Workspace) -> Result<Workspace, StoreError> {
        let guard = Item::new(workspace_code_key(ws.code.as_str()), ws.id.to_string());
        self.insert(
            ws,
            vec![Write::Put { item: guard, condition: Condition::NotExists }],
            format!("workspace code `{}` is taken", ws.code),
        )
        .await
    }

    pub async fn get_workspace(&self, id: WorkspaceId) -> Result<Workspace, StoreError> {
        self.fetch_or_404(&workspace_key(id), id).await
    }

    pub async fn workspace_by_code(&self, code: &Code) -> Result<Option<Workspace>, StoreError> {
        let Some(guard) = self.table.get(&workspace_code_key(code.as_str())).await? else { return Ok(None) };
        let id: WorkspaceId = guard.data.parse().map_err(|_| StoreError::Corrupt {
            kind: "workspace code guard",
            message: format!("`{}` is not an id", guard.data),
        })?;
        self.fetch(&workspace_key(id)).await
    }

    /// A workspace by id or code (API paths accept either).
    pub async fn resolve_workspace(&self, id_or_code: &str) -> Result<Workspace, StoreError> {
        let found = if let Ok(id) = id_or_code.parse::<WorkspaceId>() {
            self.fetch(&workspace_key(id)).await?
        } else if let Ok(code) = Code::parse(id_or_code) {
            self.workspace_by_code(&code).await?
        } else {
            None
        };
        found.ok_or_else(|| StoreError::not_found("workspace", id_or_code))
    }

    pub async fn list_workspaces(&self, page: &PageRequest) -> Result<Listing<Workspace>, StoreError> {
        self.list(page.apply(Query::index(Index::Gsi2, "WORKSPACES", SkRange::All))).await
    }

    /// Saves changed settings/name; the code is immutable.
    pub async fn update_workspace(&self, ws: &Workspace) -> Result<Workspace, StoreError> {
        let current = self.get_workspace(ws.id).await?;
        if current.code != ws.code {
            return Err(StoreError::Conflict("a workspace's code cannot change".into()));
        }
        self.replace(ws, vec![]).await
    }

    // ----- tokens -----

    pub async fn create_token(&self, token: &ApiToken) -> Result<ApiToken, StoreError> {
        self.insert(token, vec![], String::new()).await
    }

    /// The token with this hash, whatever its state (the caller checks usability).
    pub async fn token_by_hash(&self, hash: &TokenHash) -> Result<Option<ApiToken>, StoreError> {
        let query = Query::index(Index::Gsi1, format!("TOKENHASH#{}", hash.as_str()), SkRange::All).limit(1);
        Ok(self.list::<ApiToken>(query).await?.items.into_iter().next())
    }

    pub async fn get_token(&self, ws: WorkspaceId, id: TokenId) -> Result<ApiToken, StoreError> {
        self.fetch_or_404(&Key::new(workspace_pk(ws), format!("TOKEN#{id}")), id).await
    }

    pub async fn list_tokens(&self, ws: WorkspaceId, page: &PageRequest) -> Result<Listing<ApiToken>, StoreError> {
        self.list(page.apply(Query::table(workspace_pk(ws), SkRange::Prefix("TOKEN#".into())))).await
    }

    /// Revokes a token (revoking twice keeps the first time).
    pub async fn revoke_token(&self, ws: WorkspaceId, id: TokenId, now: DateTime<Utc>) -> Result<ApiToken, StoreError> {
        self.modify(&Key::new(workspace_pk(ws), format!("TOKEN#{id}")), id, |t: &mut ApiToken| {
            t.revoked_at.get_or_insert(now);
            Ok(())
        })
        .await
    }

    /// Records use of a token; at most once a minute per token to spare writes.
    pub async fn touch_token(&self, token: &ApiToken, now: DateTime<Utc>) -> Result<(), StoreError> {
        if token.last_used_at.is_some_and(|t| now - t < chrono::Duration::minutes(1)) {
            return Ok(());
        }
        self.modify(&token.key(), token.id, |t: &mut ApiToken| {
            t.last_used_at = Some(now);
            Ok(())
        })
        .await
        .map(drop)
    }

    // ----- destinations -----

    pub async fn create_destination(&self, d: &Destination) -> Result<Destination, StoreError> {
        self.insert(d, vec![], String::new()).await
    }

    pub async fn get_destination(&self, ws: WorkspaceId, id: DestinationId) -> Result<Destination, StoreError> {
        self.fetch_or_404(&Key::new(workspace_pk(ws), format!("DEST#{id}")), id).await
    }

    pub async fn list_destinations(
        &self,
        ws: WorkspaceId,
        page: &PageRequest,
    ) -> Result<Listing<Destination>, StoreError> {
        self.list(page.apply(Query::table(workspace_pk(ws), SkRange::Prefix("DEST#".into())))).await
    }

    pub async fn update_destination(&self, d: &Destination) -> Result<Destination, StoreError> {
        self.replace(d, vec![]).await
    }

    pub async fn delete_destination(&self, ws: WorkspaceId, id: DestinationId) -> Result<(), StoreError> {
        self.remove::<Destination>(Key::new(workspace_pk(ws), format!("DEST#{id}")), id, vec![]).await
    }

    // ----- connections -----

    /// Creates a connection; its name must be free in the workspace.
    pub async fn create_connection(&self, c: &Connection) -> Result<Connection, StoreError> {
        let guard = Item::new(connection_name_key(c.workspace_id, c.name.as_str()), c.id.to_string());
        self.insert(
            c,
            vec![Write::Put { item: guard, condition: Condition::NotExists }],
            format!("a connection named `{}` exists", c.name),
        )
        .await
    }

    pub async fn get_connection(&self, ws: WorkspaceId, id: ConnectionId) -> Result<Connection, StoreError> {
        self.fetch_or_404(&Key::new(workspace_pk(ws), format!("CONN#{id}")), id).await
    }

    /// A connection by id or name.
    pub async fn resolve_connection(&self, ws: WorkspaceId, id_or_name: &str) -> Result<Connection, StoreError> {
        if let Ok(id) = id_or_name.parse::<ConnectionId>() {
            return self.get_connection(ws, id).await;
        }
        let guard = match Code::parse(id_or_name) {
            Ok(name) => self.table.get(&connection_name_key(ws, name.as_str())).await?,
            Err(_) => None,
        };
        match guard.and_then(|g| g.data.parse::<ConnectionId>().ok()) {
            Some(id) => self.get_connection(ws, id).await,
            None => Err(StoreError::not_found("connection", id_or_name)),
        }
    }

    pub async fn list_connections(
        &self,
        ws: WorkspaceId,
        page: &PageRequest,
    ) -> Result<Listing<Connection>, StoreError> {
        self.list(page.apply(Query::table(workspace_pk(ws), SkRange::Prefix("CONN#".into())))).await
    }

    /// Saves a connection read at `c.version`; a changed name moves its uniqueness guard.
    pub async fn update_connection(&self, c: &Connection) -> Result<Connection, StoreError> {
        let current = self.get_connection(c.workspace_id, c.id).await?;
        let guards = moved_guard(connection_name_key(c.workspace_id, current.name.as_str()), {
            (current.name != c.name).then(|| connection_name_key(c.workspace_id, c.name.as_str()))
        });
        self.replace_guarded(c, guards(c.id.to_string()), format!("a connection named `{}` exists", c.name)).await
    }

    pub async fn delete_connection(&self, ws: WorkspaceId, id: ConnectionId) -> Result<(), StoreError> {
        let connection = self.get_connection(ws, id).await?;
        let guard =
            Write::Delete { key: connection_name_key(ws, connection.name.as_str()), condition: Condition::Always };
        self.remove::<Connection>(connection.key(), id, vec![guard]).await
    }

    // ----- reports -----

    /// Creates a report; its code must be free in the workspace.
    pub async fn create_report(&self, r: &Report) -> Result<Report, StoreError> {
        self.insert_report(r, vec![]).await
    }

    /// Creates a report and its first schedule in one transaction: both or neither.
    pub async fn create_report_with_schedule(
        &self,
        r: &Report,
        s: &Schedule,
    ) -> Result<(Report, Schedule), StoreError> {
        let mut schedule = to_item(s)?;
        schedule.version = 1;
        let report =
            self.insert_report(r, vec![Write::Put { item: schedule, condition: Condition::NotExists }]).await?;
        let mut stored = s.clone();
        stored.set_version(1);
        Ok((report, stored))
    }

    /// Inserts a report with its code's uniqueness guard and `extra` writes, all in one transaction.
    async fn insert_report(&self, r: &Report, extra: Vec<Write>) -> Result<Report, StoreError> {
        let guard = Item::new(report_code_key(r.workspace_id, r.code.as_str()), r.id.to_string());
        let mut writes = vec![Write::Put { item: guard, condition: Condition::NotExists }];
        writes.extend(extra);
        self.insert(r, writes, format!("report code `{}` is taken", r.code)).await
    }

    pub async fn get_report(&self, ws: WorkspaceId, id: ReportId) -> Result<Report, StoreError> {
        self.fetch_or_404(&Key::new(workspace_pk(ws), format!("REPORT#{id}")), id).await
    }

    /// A report by id or code.
    pub async fn resolve_report(&self, ws: WorkspaceId, id_or_code: &str) -> Result<Report, StoreError> {
        if let Ok(id) = id_or_code.parse::<ReportId>() {
            return self.get_report(ws, id).await;
        }
        let guard = match Code::parse(id_or_code) {
            Ok(code) => self.table.get(&report_code_key(ws, code.as_str())).await?,
            Err(_) => None,
        };
        match guard.and_then(|g| g.data.parse::<ReportId>().ok()) {
            Some(id) => self.get_report(ws, id).await,
            None => Err(StoreError::not_found("report", id_or_code)),
        }
    }

    pub async fn list_reports(&self, ws: WorkspaceId, page: &PageRequest) -> Result<Listing<Report>, StoreError> {
        self.list(page.apply(Query::table(workspace_pk(ws), SkRange::Prefix("REPORT#".into())))).await
    }

    /// Saves a report read at `r.version`; a changed code moves its uniqueness guard.
    pub async fn update_report(&self, r: &Report) -> Result<Report, StoreError> {
        let current = self.get_report(r.workspace_id, r.id).await?;
        let guards = moved_guard(report_code_key(r.workspace_id, current.code.as_str()), {
            (current.code != r.code).then(|| report_code_key(r.workspace_id, r.code.as_str()))
        });
        self.replace_guarded(r, guards(r.id.to_string()), format!("report code `{}` is taken", r.code)).await
    }

    pub async fn delete_report(&self, ws: WorkspaceId, id: ReportId) -> Result<(), StoreError> {
        let report = self.get_report(ws, id).await?;
        let guard = Write::Delete { key: report_code_key(ws, report.code.as_str()), condition: Condition::Always };
        self.remove::<Report>(report.key(), id, vec![guard]).await
    }

    // ----- schedules -----

    pub async fn create_schedule(&self, s: &Schedule) -> Result<Schedule, StoreError> {
        self.insert(s, vec![], String::new()).await
    }

    pub async fn get_schedule(&self, ws: WorkspaceId, id: ScheduleId) -> Result<Schedule, StoreError> {
        self.fetch_or_404(&schedule_key(ws, id), id).await
    }

    pub async fn list_schedules(&self, ws: WorkspaceId, page: &PageRequest) -> Result<Listing<Schedule>, StoreError> {
        self.list(page.apply(Query::table(workspace_pk(ws), SkRange::Prefix("SCHED#".into())))).await
    }

    pub async fn schedules_of_report(
        &self,
        report: ReportId,
        page: &PageRequest,
    ) -> Result<Listing<Schedule>, StoreError> {
        self.list(page.apply(Query::index(Index::Gsi2, format!("REPORT#{report}"), SkRange::Prefix("SCHED#".into()))))
            .await
    }

    /// Saves a schedule read at `s.version` (its due-index entry follows `next_run_at`).
    pub async fn update_schedule(&self, s: &Schedule) -> Result<Schedule, StoreError> {
        self.replace(s, vec![]).await
    }

    /// Reads, changes and writes back a schedule, retrying when another write came between.
    pub async fn modify_schedule(
        &self,
        ws: WorkspaceId,
        id: ScheduleId,
        change: impl FnMut(&mut Schedule) -> Result<(), StoreError>,
    ) -> Result<Schedule, StoreError> {
        self.modify(&schedule_key(ws, id), id, change).await
    }

    pub async fn delete_schedule(&self, ws: WorkspaceId, id: ScheduleId) -> Result<(), StoreError> {
        self.remove::<Schedule>(schedule_key(ws, id), id, vec![]).await
    }

    /// Records that a tick ran at `at` (for the cron status endpoint).
    pub async fn record_tick(&self, at: DateTime<Utc>) -> Result<(), StoreError> {
        let item = Item::new(Key::new("SYSTEM", "TICK"), time_key(at));
        Ok(self.write(vec![Write::Put { item, condition: Condition::Always }]).await?)
    }

    /// When a tick last ran.
    pub async fn last_tick(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let Some(item) = self.table.get(&Key::new("SYSTEM", "TICK")).await? else { return Ok(None) };
        DateTime::parse_from_rfc3339(&item.data)
            .map(|at| Some(at.with_timezone(&Utc)))
            .map_err(|e| StoreError::Corrupt { kind: "tick record", message: e.to_string() })
    }

    /// Loads many schedules at once without uniqueness checks (bulk imports, benchmarks);
    /// existing schedules with the same ids are replaced.
    pub async fn import_schedules(&self, schedules: &[Schedule]) -> Result<(), StoreError> {
        let items = schedules.iter().map(to_item).collect::<Result<Vec<_>, _>>()?;
        for chunk in items.chunks(1_000) {
            self.table.put_all(chunk.to_vec()).await?;
        }
        Ok(())
    }

    /// Enabled schedules whose next run is at or before `now`, oldest first, a page at a time.
    /// Cost grows with the due set only.
    pub async fn due_schedules(&self, now: DateTime<Utc>, page: &PageRequest) -> Result<Listing<Schedule>, StoreError> {
        self.list(page.apply(Query::index(Index::Gsi1, "DUE", SkRange::AtMost(format!("{}#~", time_key(now)))))).await
    }

    /// Claims one occurrence of a schedule: saves `next` (with its advanced `next_run_at`) only
    /// if the schedule is unchanged since it was read. `Ok(false)` means another tick claimed
    /// it (or someone edited it) first.
    pub async fn claim_schedule_slot(&self, next: &Schedule) -> Result<bool, StoreError> {
        match self.replace(next, vec![]).await {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// The writes that move a uniqueness guard from `old` to `new` (none when it stays): the new
/// guard must be free, and holds the id given to the returned function.
fn moved_guard(old: Key, new: Option<Key>) -> impl FnOnce(String) -> Vec<Write> {
    move |id| match new {
        Some(new) => vec![
            Write::Put { item: Item::new(new, id), condition: Condition::NotExists },
            Write::Delete { key: old, condition: Condition::Always },
        ],
        None => vec![],
    }
}
