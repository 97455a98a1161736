//! Persistence. `Table` is the port (a single-table key-value design, see `table.rs`) with its
//! SQLite and DynamoDB adapters; `Store` is the typed layer on top that the rest of Herald
//! uses (see `entities.rs` for the key design).

mod alerts;
pub mod counting;
mod datasets;
#[cfg(feature = "aws")]
pub mod dynamodb;
pub mod entities;
mod interactions;
mod maintenance;
mod repository;
mod runs;
pub mod sqlite;
pub mod table;
mod temporary_files;

pub use interactions::IngestOutcome;
pub use maintenance::Purged;
pub use repository::{Listing, PageRequest, Store, StoreError};
pub use runs::{RunCreation, RunQuery};
pub use table::{Condition, Index, Item, Key, Page, Query, SkRange, Table, TableError, Update, Write};

#[cfg(test)]
mod contract;
#[cfg(test)]
pub(crate) mod store_contract;

#[cfg(test)]
mod table_tests {
    use super::contract::table_contract;

    table_contract!(sqlite, async {
        let table: Arc<dyn crate::store::Table> = Arc::new(crate::store::sqlite::SqliteTable::in_memory().unwrap());
        Some(table)
    });

    table_contract!(dynamodb, async {
        let table: Arc<dyn crate::store::Table> = Arc::new(crate::store::dynamodb::test_table().await?);
        Some(table)
    });
}

#[cfg(test)]
mod store_tests {
    use super::store_contract::store_contract;

    store_contract!(sqlite, async {
        let table: Arc<dyn crate::store::Table> = Arc::new(crate::store::sqlite::SqliteTable::in_memory().unwrap());
        Some(table)
    });

    store_contract!(dynamodb, async {
        let table: Arc<dyn crate::store::Table> = Arc::new(crate::store::dynamodb::test_table().await?);
        Some(table)
    });
}
