//! A `Table` decorator that counts the traffic passing through it: items read, items written
//! and requests. Benchmarks use it to show what an operation costs, independent of the
//! backend's speed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use super::table::{Item, Key, MAX_BATCH_READ, Page, Query, Table, TableError, Write};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Traffic {
    pub requests: u64,
    pub items_read: u64,
    pub items_written: u64,
}

pub struct CountingTable {
    inner: Arc<dyn Table>,
    requests: AtomicU64,
    items_read: AtomicU64,
    items_written: AtomicU64,
}

impl CountingTable {
    pub fn new(inner: Arc<dyn Table>) -> Self {
        Self { inner, requests: AtomicU64::new(0), items_read: AtomicU64::new(0), items_written: AtomicU64::new(0) }
    }

    /// The traffic so far, and a fresh count from now on.
    pub fn take(&self) -> Traffic {
        Traffic {
            requests: self.requests.swap(0, Ordering::Relaxed),
            items_read: self.items_read.swap(0, Ordering::Relaxed),
            items_written: self.items_written.swap(0, Ordering::Relaxed),
        }
    }

    fn count(&self, read: usize, written: usize) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.items_read.fetch_add(read as u64, Ordering::Relaxed);
        self.items_written.fetch_add(written as u64, Ordering::Relaxed);
    }
}

#[async_trait]
impl Table for CountingTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, TableError> {
        let item = self.inner.get(key).await?;
        self.count(usize::from(item.is_some()), 0);
        Ok(item)
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, TableError> {
        let items = self.inner.get_many(keys).await?;
        // One request per batch, as DynamoDB's BatchGetItem.
        self.requests.fetch_add(keys.len().div_ceil(MAX_BATCH_READ) as u64, Ordering::Relaxed);
        self.items_read.fetch_add(items.iter().flatten().count() as u64, Ordering::Relaxed);
        Ok(items)
    }

    async fn query(&self, query: &Query) -> Result<Page, TableError> {
        let page = self.inner.query(query).await?;
        self.count(page.items.len(), 0);
        Ok(page)
    }

    async fn write(&self, writes: Vec<Write>) -> Result<(), TableError> {
        let n = writes.len();
        let result = self.inner.write(writes).await;
        self.count(0, if result.is_ok() { n } else { 0 });
        result
    }

    async fn put_all(&self, items: Vec<Item>) -> Result<(), TableError> {
        let n = items.len();
        self.inner.put_all(items).await?;
        self.count(0, n);
        Ok(())
    }

    async fn delete_all(&self, keys: Vec<Key>) -> Result<(), TableError> {
        let n = keys.len();
        self.inner.delete_all(keys).await?;
        self.count(0, n);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteTable;
    use crate::store::{Condition, SkRange};

    #[tokio::test]
    async fn reads_and_writes_are_counted_by_item() {
        let table = CountingTable::new(Arc::new(SqliteTable::in_memory().unwrap()));
        let items: Vec<Item> = (0..5).map(|i| Item::new(Key::new("p", format!("{i}")), "{}".into())).collect();
        table.put_all(items).await.unwrap();
        table.write(vec![Write::Delete { key: Key::new("p", "0"), condition: Condition::Always }]).await.unwrap();
        table.query(&Query::table("p", SkRange::All)).await.unwrap();
        table.get(&Key::new("p", "1")).await.unwrap();
        table.get(&Key::new("p", "missing")).await.unwrap();
        assert_eq!(table.take(), Traffic { requests: 5, items_read: 5, items_written: 6 });
        assert_eq!(table.take(), Traffic::default());
    }
}
