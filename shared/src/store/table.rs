//! The table port: a single-table, key-value interface shaped like DynamoDB's, small enough
//! that each backend implements it in one file. Items have a partition key and a sort key,
//! up to three secondary index keys, a `state` and a `version` that writes can be conditioned
//! on, atomic counters, an optional expiry, and the entity itself as JSON.
//!
//! Writes are transactional: every write of one call succeeds, or none does and the error
//! names the write whose condition failed.

use std::collections::BTreeMap;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// Most writes one transaction may hold (DynamoDB's limit, enforced by every adapter).
pub const MAX_TRANSACTION_WRITES: usize = 100;

/// Keys one batched read (`get_many`) asks for per request.
pub const MAX_BATCH_READ: usize = 100;

/// The largest item: DynamoDB's 400 KB, counted in thousands (DynamoDB itself refuses a little
/// above 409,600 bytes), so what one store keeps every store keeps. Enforced by every adapter.
pub const MAX_ITEM_BYTES: usize = 400_000;

/// The most one transaction may write (DynamoDB's 4 MB, enforced by every adapter).
pub const MAX_TRANSACTION_BYTES: usize = 4_000_000;

/// Bytes counted for each attribute's name and a number's value: DynamoDB counts names and
/// values; this errs on the large side so an item the check lets through fits there.
const ATTRIBUTE_OVERHEAD: usize = 24;

/// Number of secondary indexes.
pub const INDEX_COUNT: usize = 3;

/// A primary key, or the key an item has in a secondary index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self { pk: pk.into(), sk: sk.into() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Index {
    Gsi1,
    Gsi2,
    Gsi3,
}

impl Index {
    pub const ALL: [Index; INDEX_COUNT] = [Index::Gsi1, Index::Gsi2, Index::Gsi3];

    pub fn position(self) -> usize {
        match self {
            Index::Gsi1 => 0,
            Index::Gsi2 => 1,
            Index::Gsi3 => 2,
        }
    }

    /// The index name, also the prefix of its key attributes (`gsi1pk`, `gsi1sk`).
    pub fn name(self) -> &'static str {
        match self {
            Index::Gsi1 => "gsi1",
            Index::Gsi2 => "gsi2",
            Index::Gsi3 => "gsi3",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Item {
    pub key: Key,
    /// Keys in the secondary indexes; `None` keeps the item out of that index (sparse index).
    pub indexes: [Option<Key>; INDEX_COUNT],
    /// A short value writes can be conditioned on (an entity's status).
    pub state: Option<String>,
    /// Starts at 1, bumped by every update.
    pub version: u64,
    /// Unix seconds after which the item may be removed (DynamoDB TTL).
    pub ttl: Option<i64>,
    /// Counters changed by atomic increments.
    pub counters: BTreeMap<String, i64>,
    /// The entity, as JSON.
    pub data: String,
}

impl Item {
    pub fn new(key: Key, data: String) -> Self {
        Self { key, version: 1, data, ..Default::default() }
    }

    pub fn counter(&self, name: &str) -> i64 {
        self.counters.get(name).copied().unwrap_or(0)
    }

    /// The item's size as DynamoDB counts it (attribute names and values), rounded up.
    pub fn size(&self) -> usize {
        let strings = [&self.key.pk, &self.key.sk, &self.data].into_iter().chain(self.state.as_ref());
        let indexes = self.indexes.iter().flatten().flat_map(|k| [&k.pk, &k.sk]);
        let text: usize = strings.chain(indexes).map(|s| s.len() + ATTRIBUTE_OVERHEAD).sum();
        let numbers = (2 + usize::from(self.ttl.is_some())) * ATTRIBUTE_OVERHEAD;
        let counters: usize = self.counters.keys().map(|name| name.len() + 2 * ATTRIBUTE_OVERHEAD).sum();
        text + numbers + counters
    }

    /// `Err(TooLarge)` when the item is over [`MAX_ITEM_BYTES`]; else its size.
    pub fn check_size(&self) -> Result<usize, TableError> {
        within_item_limit(self.size())
    }
}

fn within_item_limit(bytes: usize) -> Result<usize, TableError> {
    match bytes {
        bytes if bytes > MAX_ITEM_BYTES => Err(TableError::TooLarge { bytes, limit: MAX_ITEM_BYTES }),
        bytes => Ok(bytes),
    }
}

/// What must be true of the stored item for a write to happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Always,
    NotExists,
    Exists,
    /// The item exists at exactly this version.
    Version(u64),
    /// The item exists with exactly this state.
    State(String),
    /// The item exists with exactly this state and counter `counter` at least `min` (a counter
    /// never changed counts as 0). Lets counter increments that commute go ahead concurrently
    /// while a bound on the result still holds.
    StateAndCounterAtLeast {
        state: String,
        counter: String,
        min: i64,
    },
}

impl Condition {
    /// Evaluates the condition against the current item (used by adapters that check
    /// conditions themselves).
    pub fn holds(&self, current: Option<&Item>) -> bool {
        match self {
            Condition::Always => true,
            Condition::NotExists => current.is_none(),
            Condition::Exists => current.is_some(),
            Condition::Version(v) => current.is_some_and(|c| c.version == *v),
            Condition::State(s) => current.is_some_and(|c| c.state.as_deref() == Some(s.as_str())),
            Condition::StateAndCounterAtLeast { state, counter, min } => {
                current.is_some_and(|c| c.state.as_deref() == Some(state.as_str()) && c.counter(counter) >= *min)
            }
        }
    }
}

/// Changes to an existing item. Fields left `None` are kept; the version is always bumped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Update {
    pub data: Option<String>,
    pub state: Option<Option<String>>,
    pub indexes: [Option<Option<Key>>; INDEX_COUNT],
    pub ttl: Option<Option<i64>>,
    /// Atomic increments (negative to decrement); missing counters start at 0.
    pub add: Vec<(String, i64)>,
}

impl Update {
    /// Applies the update to `item` (used by adapters that apply updates themselves).
    pub fn apply_to(&self, item: &mut Item) {
        if let Some(data) = &self.data {
            item.data.clone_from(data);
        }
        if let Some(state) = &self.state {
            item.state.clone_from(state);
        }
        for (slot, change) in item.indexes.iter_mut().zip(&self.indexes) {
            if let Some(change) = change {
                slot.clone_from(change);
            }
        }
        if let Some(ttl) = self.ttl {
            item.ttl = ttl;
        }
        for (name, delta) in &self.add {
            *item.counters.entry(name.clone()).or_insert(0) += delta;
        }
        item.version += 1;
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Creates or replaces the whole item.
    Put {
        item: Item,
        condition: Condition,
    },
    /// Changes an item that must exist (in addition to `condition`).
    Update {
        key: Key,
        condition: Condition,
        update: Update,
    },
    Delete {
        key: Key,
        condition: Condition,
    },
    /// Writes nothing; only the condition must hold.
    Check {
        key: Key,
        condition: Condition,
    },
}

impl Write {
    pub fn key(&self) -> &Key {
        match self {
            Write::Put { item, .. } => &item.key,
            Write::Update { key, .. } | Write::Delete { key, .. } | Write::Check { key, .. } => key,
        }
    }

    pub fn condition(&self) -> &Condition {
        match self {
            Write::Put { condition, .. }
            | Write::Update { condition, .. }
            | Write::Delete { condition, .. }
            | Write::Check { condition, .. } => condition,
        }
    }
}

/// Which sort keys a query returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkRange {
    All,
    Prefix(String),
    /// Inclusive on both ends.
    Between(String, String),
    AtMost(String),
    AtLeast(String),
}

impl SkRange {
    pub fn contains(&self, sk: &str) -> bool {
        match self {
            SkRange::All => true,
            SkRange::Prefix(p) => sk.starts_with(p.as_str()),
            SkRange::Between(a, b) => a.as_str() <= sk && sk <= b.as_str(),
            SkRange::AtMost(b) => sk <= b.as_str(),
            SkRange::AtLeast(a) => a.as_str() <= sk,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// `None` queries the table itself.
    pub index: Option<Index>,
    pub pk: String,
    pub sk: SkRange,
    pub descending: bool,
    pub limit: usize,
    /// From a previous page of the same query.
    pub cursor: Option<String>,
}

impl Query {
    pub fn table(pk: impl Into<String>, sk: SkRange) -> Self {
        Self { index: None, pk: pk.into(), sk, descending: false, limit: 100, cursor: None }
    }

    pub fn index(index: Index, pk: impl Into<String>, sk: SkRange) -> Self {
        Self { index: Some(index), ..Self::table(pk, sk) }
    }

    pub fn descending(mut self) -> Self {
        self.descending = true;
        self
    }

    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    pub fn after(mut self, cursor: Option<String>) -> Self {
        self.cursor = cursor;
        self
    }
}

/// One page of a query. A present cursor means there may be more.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page {
    pub items: Vec<Item>,
    pub cursor: Option<String>,
}

/// The position after the last item of a page: its table key and, for index queries, its
/// index key. Opaque to callers (base64url JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub key: Key,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_key: Option<Key>,
}

impl Position {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Decodes a cursor of `query`: it must belong to the queried partition.
    pub fn decode(cursor: &str, query: &Query) -> Result<Self, TableError> {
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| TableError::InvalidCursor)?;
        let position: Position = serde_json::from_slice(&bytes).map_err(|_| TableError::InvalidCursor)?;
        let partition = match (query.index, &position.index_key) {
            (None, None) => &position.key.pk,
            (Some(_), Some(index_key)) => &index_key.pk,
            _ => return Err(TableError::InvalidCursor),
        };
        if *partition != query.pk {
            return Err(TableError::InvalidCursor);
        }
        Ok(position)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The condition of write number `index` (0-based) of the transaction did not hold;
    /// nothing was written.
    #[error("condition of write {index} did not hold")]
    ConditionFailed { index: usize },
    /// Another transaction touched the same items at the same time; retrying may succeed.
    #[error("transaction conflicted with a concurrent one")]
    Contention,
    #[error("a transaction may hold at most {MAX_TRANSACTION_WRITES} writes, got {0}")]
    TooManyWrites(usize),
    /// An item, or a whole transaction, is larger than the store keeps (a permanent refusal:
    /// retrying the same write cannot succeed).
    #[error("{bytes} bytes is over the limit of {limit} bytes")]
    TooLarge { bytes: usize, limit: usize },
    #[error("invalid write: {0}")]
    InvalidWrite(String),
    #[error("invalid or foreign pagination cursor")]
    InvalidCursor,
    #[error("table backend failed: {0}")]
    Backend(String),
}

/// Checks what every adapter rejects before writing: size and duplicate keys.
pub fn check_transaction(writes: &[Write]) -> Result<(), TableError> {
    if writes.len() > MAX_TRANSACTION_WRITES {
        return Err(TableError::TooManyWrites(writes.len()));
    }
    let mut keys: Vec<&Key> = writes.iter().map(Write::key).collect();
    keys.sort();
    if keys.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err(TableError::InvalidWrite("two writes to one item in one transaction".into()));
    }
    // What a write sends; an update's final size is checked where the item is at hand.
    let mut total = 0;
    for write in writes {
        let bytes = match write {
            Write::Put { item, .. } => item.check_size()?,
            // At least its key and new data (counted without copying the data).
            Write::Update { key, update, .. } => {
                let data = update.data.as_ref().map_or(0, String::len);
                within_item_limit(key.pk.len() + key.sk.len() + data + 3 * ATTRIBUTE_OVERHEAD)?
            }
            Write::Delete { .. } | Write::Check { .. } => 0,
        };
        total += bytes;
    }
    if total > MAX_TRANSACTION_BYTES {
        return Err(TableError::TooLarge { bytes: total, limit: MAX_TRANSACTION_BYTES });
    }
    Ok(())
}

#[async_trait]
pub trait Table: Send + Sync {
    async fn get(&self, key: &Key) -> Result<Option<Item>, TableError>;
    /// Several items at once, in the order of `keys` (`None` where there is none; a key may
    /// be named twice): one request per hundred keys where the backend batches reads. Each
    /// item is read as strongly as by `get`, though not all at one instant.
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, TableError>;
    /// Items of one partition in sort-key order (then by table key within an index).
    async fn query(&self, query: &Query) -> Result<Page, TableError>;
    /// Applies all writes atomically, or none.
    async fn write(&self, writes: Vec<Write>) -> Result<(), TableError>;
    /// Creates or replaces items without conditions and without atomicity across items
    /// (bulk loads whose items are safe to write twice).
    async fn put_all(&self, items: Vec<Item>) -> Result<(), TableError>;
    /// Deletes items without conditions and without atomicity across items (purges whose
    /// deletes are safe to repeat); missing keys are no error.
    async fn delete_all(&self, keys: Vec<Key>) -> Result<(), TableError>;
}
