//! The embedded table: one SQLite file (WAL mode) holding the same single-table layout as
//! DynamoDB, so the local server and AWS share every key design and state check. Conditions
//! are checked inside an immediate (write-locked) transaction, which makes each `write`
//! atomic and serialises concurrent writers.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, TryLockError};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::table::{
    INDEX_COUNT, Item, Key, Page, Position, Query, SkRange, Table, TableError, Write, check_transaction,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    gsi1pk TEXT, gsi1sk TEXT,
    gsi2pk TEXT, gsi2sk TEXT,
    gsi3pk TEXT, gsi3sk TEXT,
    state TEXT,
    version INTEGER NOT NULL,
    ttl INTEGER,
    counters TEXT NOT NULL DEFAULT '{}',
    data TEXT NOT NULL,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS gsi1 ON items (gsi1pk, gsi1sk, pk, sk) WHERE gsi1pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS gsi2 ON items (gsi2pk, gsi2sk, pk, sk) WHERE gsi2pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS gsi3 ON items (gsi3pk, gsi3sk, pk, sk) WHERE gsi3pk IS NOT NULL;
";

const COLUMNS: &str = "pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk, gsi3pk, gsi3sk, state, version, ttl, counters, data";

#[derive(Clone)]
pub struct SqliteTable {
    conn: Arc<Mutex<Connection>>,
}

fn backend(e: impl std::fmt::Display) -> TableError {
    TableError::Backend(e.to_string())
}

impl SqliteTable {
    /// Opens (creating if needed) the database file and its folder.
    pub fn open(path: &Path) -> Result<Self, TableError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| backend(format!("cannot create {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path).map_err(|e| backend(format!("cannot open {}: {e}", path.display())))?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(backend)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(backend)?;
        // The first 64 MiB of the file are read through a memory map, and an 8 MiB page cache
        // (the default is 2 MiB) keeps the B-trees' upper pages, so finding an item does not
        // cost a read system call for every page on its way.
        conn.pragma_update(None, "mmap_size", 64 * 1024 * 1024).map_err(backend)?;
        conn.pragma_update(None, "cache_size", -8 * 1024).map_err(backend)?;
        Self::init(conn)
    }

    /// A private in-memory database (tests).
    pub fn in_memory() -> Result<Self, TableError> {
        Self::init(Connection::open_in_memory().map_err(backend)?)
    }

    fn init(conn: Connection) -> Result<Self, TableError> {
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(backend)?;
        // Every query shape the store asks for (a few dozen) stays prepared.
        conn.set_prepared_statement_cache_capacity(128);
        conn.execute_batch(SCHEMA).map_err(backend)?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)) })
    }

    /// Runs `f` on the connection off the async runtime's threads.
    async fn with_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, TableError> + Send + 'static,
    ) -> Result<T, TableError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(backend)?
    }

    /// Runs a short `f` (one item, or a small transaction) right here when the connection is
    /// free, since handing it to the blocking pool costs more than such a statement; when the
    /// connection is busy, `f` waits for it on the blocking pool, so an async thread never
    /// blocks on the lock.
    async fn with_free_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, TableError> + Send + 'static,
    ) -> Result<T, TableError> {
        let f = match self.conn.try_lock() {
            Ok(mut guard) => return f(&mut guard),
            Err(TryLockError::Poisoned(poisoned)) => return f(&mut poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => f,
        };
        self.with_conn(f).await
    }
}

/// Reads and writes of up to this many items count as short (see
/// [`SqliteTable::with_free_conn`]).
const SHORT: usize = 4;

fn transact(conn: &mut Connection, writes: &[Write]) -> Result<(), TableError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
    apply(&tx, writes)?;
    tx.commit().map_err(backend)
}

fn read_item(row: &Row<'_>) -> rusqlite::Result<Item> {
    let index = |i: usize| -> rusqlite::Result<Option<Key>> {
        let pk: Option<String> = row.get(2 + 2 * i)?;
        let sk: Option<String> = row.get(3 + 2 * i)?;
        Ok(pk.zip(sk).map(|(pk, sk)| Key { pk, sk }))
    };
    let counters: String = row.get(11)?;
    Ok(Item {
        key: Key { pk: row.get(0)?, sk: row.get(1)? },
        indexes: [index(0)?, index(1)?, index(2)?],
        state: row.get(8)?,
        version: row.get::<_, i64>(9)? as u64,
        ttl: row.get(10)?,
        counters: serde_json::from_str::<BTreeMap<String, i64>>(&counters).unwrap_or_default(),
        data: row.get(12)?,
    })
}

/// Statements are prepared once per connection and kept (`prepare_cached`): parsing SQL
/// costs more than running these one-row statements.
fn load(conn: &Connection, key: &Key) -> Result<Option<Item>, TableError> {
    let mut statement =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM items WHERE pk = ?1 AND sk = ?2")).map_err(backend)?;
    statement.query_row(params![key.pk, key.sk], read_item).optional().map_err(backend)
}

fn store(conn: &Connection, item: &Item) -> Result<(), TableError> {
    let index = |i: usize| item.indexes[i].as_ref();
    let counters = serde_json::to_string(&item.counters).map_err(backend)?;
    let mut statement = conn
        .prepare_cached(&format!(
            "INSERT OR REPLACE INTO items ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
        ))
        .map_err(backend)?;
    statement
        .execute(params![
            item.key.pk,
            item.key.sk,
            index(0).map(|k| &k.pk),
            index(0).map(|k| &k.sk),
            index(1).map(|k| &k.pk),
            index(1).map(|k| &k.sk),
            index(2).map(|k| &k.pk),
            index(2).map(|k| &k.sk),
            item.state,
            item.version as i64,
            item.ttl,
            counters,
            item.data,
        ])
        .map_err(backend)?;
    Ok(())
}

fn apply(conn: &Connection, writes: &[Write]) -> Result<(), TableError> {
    for (index, write) in writes.iter().enumerate() {
        let current = load(conn, write.key())?;
        let exists_for_update = !matches!(write, Write::Update { .. }) || current.is_some();
        if !exists_for_update || !write.condition().holds(current.as_ref()) {
            return Err(TableError::ConditionFailed { index });
        }
        match write {
            Write::Put { item, .. } => store(conn, item)?,
            Write::Update { update, .. } => {
                if let Some(mut item) = current {
                    update.apply_to(&mut item);
                    item.check_size()?;
                    store(conn, &item)?;
                }
            }
            Write::Delete { key, .. } => {
                let mut statement =
                    conn.prepare_cached("DELETE FROM items WHERE pk = ?1 AND sk = ?2").map_err(backend)?;
                statement.execute(params![key.pk, key.sk]).map_err(backend)?;
            }
            Write::Check { .. } => {}
        }
    }
    Ok(())
}

#[async_trait]
impl Table for SqliteTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, TableError> {
        let key = key.clone();
        self.with_free_conn(move |conn| load(conn, &key)).await
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, TableError> {
        let (keys, short) = (keys.to_vec(), keys.len() <= SHORT);
        let read = move |conn: &mut Connection| keys.iter().map(|key| load(conn, key)).collect();
        if short {
            return self.with_free_conn(read).await;
        }
        self.with_conn(read).await
    }

    async fn query(&self, query: &Query) -> Result<Page, TableError> {
        let query = query.clone();
        let start = query.cursor.as_deref().map(|c| Position::decode(c, &query)).transpose()?;
        self.with_conn(move |conn| run_query(conn, &query, start.as_ref())).await
    }

    async fn write(&self, writes: Vec<Write>) -> Result<(), TableError> {
        check_transaction(&writes)?;
        if writes.len() <= SHORT {
            return self.with_free_conn(move |conn| transact(conn, &writes)).await;
        }
        self.with_conn(move |conn| transact(conn, &writes)).await
    }

    async fn put_all(&self, items: Vec<Item>) -> Result<(), TableError> {
        for item in &items {
            item.check_size()?;
        }
        self.with_conn(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
            for item in &items {
                store(&tx, item)?;
            }
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn delete_all(&self, keys: Vec<Key>) -> Result<(), TableError> {
        self.with_conn(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
            for key in &keys {
                tx.execute("DELETE FROM items WHERE pk = ?1 AND sk = ?2", params![key.pk, key.sk]).map_err(backend)?;
            }
            tx.commit().map_err(backend)
        })
        .await
    }
}

fn run_query(conn: &Connection, query: &Query, start: Option<&Position>) -> Result<Page, TableError> {
    // Ordering columns: (sk, pk) within an index partition, sk within a table partition.
    let (pk_col, sk_col) = match query.index {
        None => ("pk".to_string(), "sk".to_string()),
        Some(index) => (format!("{}pk", index.name()), format!("{}sk", index.name())),
    };
    let mut sql = format!("SELECT {COLUMNS} FROM items WHERE {pk_col} = ?1");
    let mut args: Vec<String> = vec![query.pk.clone()];
    let mut arg = |sql: &mut String, clause: &str, value: &str| {
        args.push(value.to_string());
        sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
    };
    match &query.sk {
        SkRange::All => {}
        SkRange::Prefix(prefix) => {
            // Everything >= prefix and < prefix followed by the highest code point.
            arg(&mut sql, &format!(" AND {sk_col} >= ?"), prefix);
            arg(&mut sql, &format!(" AND {sk_col} < ?"), &format!("{prefix}\u{10FFFF}"));
        }
        SkRange::Between(a, b) => {
            arg(&mut sql, &format!(" AND {sk_col} >= ?"), a);
            arg(&mut sql, &format!(" AND {sk_col} <= ?"), b);
        }
        SkRange::AtMost(b) => arg(&mut sql, &format!(" AND {sk_col} <= ?"), b),
        SkRange::AtLeast(a) => arg(&mut sql, &format!(" AND {sk_col} >= ?"), a),
    }
    let cmp = if query.descending { "<" } else { ">" };
    let dir = if query.descending { "DESC" } else { "ASC" };
    if let Some(start) = start {
        match (&query.index, &start.index_key) {
            (None, _) => arg(&mut sql, &format!(" AND sk {cmp} ?"), &start.key.sk),
            (Some(_), Some(index_key)) => {
                // Row-value comparison on (index sk, pk, sk).
                args.push(index_key.sk.clone());
                args.push(start.key.pk.clone());
                args.push(start.key.sk.clone());
                let n = args.len();
                sql.push_str(&format!(" AND ({sk_col}, pk, sk) {cmp} (?{}, ?{}, ?{n})", n - 2, n - 1));
            }
            (Some(_), None) => return Err(TableError::InvalidCursor),
        }
    }
    if query.index.is_some() {
        sql.push_str(&format!(" ORDER BY {sk_col} {dir}, pk {dir}, sk {dir}"));
    } else {
        sql.push_str(&format!(" ORDER BY sk {dir}"));
    }
    let limit = query.limit.clamp(1, 1000);
    sql.push_str(&format!(" LIMIT {}", limit + 1));

    let mut statement = conn.prepare_cached(&sql).map_err(backend)?;
    let mut items = statement
        .query_map(rusqlite::params_from_iter(args.iter()), read_item)
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    let more = items.len() > limit;
    items.truncate(limit);
    let cursor = more.then(|| items.last()).flatten().map(|last| {
        let index_key = query.index.and_then(|index| last.indexes[index.position()].clone());
        Position { key: last.key.clone(), index_key }.encode()
    });
    Ok(Page { items, cursor })
}

const _: () = assert!(INDEX_COUNT == 3, "the SQLite schema has three index column pairs");
