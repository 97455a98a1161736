//! The contract every `Table` adapter passes: conditions, atomic transactions, counters,
//! sparse indexes, ordering and pagination, and one winner among concurrent transitions.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::table::*;

fn item(pk: &str, sk: &str) -> Item {
    Item::new(Key::new(pk, sk), format!(r#"{{"pk":"{pk}","sk":"{sk}"}}"#))
}

fn put(item: Item) -> Write {
    Write::Put { item, condition: Condition::Always }
}

async fn all_pages(table: &dyn Table, mut query: Query) -> Vec<Item> {
    let mut items = Vec::new();
    for _ in 0..1000 {
        let page = table.query(&query).await.unwrap();
        items.extend(page.items);
        match page.cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return items,
        }
    }
    panic!("pagination did not end");
}

fn sks(items: &[Item]) -> Vec<&str> {
    items.iter().map(|i| i.key.sk.as_str()).collect()
}

pub async fn put_then_get_returns_every_field(table: &dyn Table, p: &str) {
    let mut it = item(p, "a");
    it.indexes[1] = Some(Key::new(format!("{p}-idx"), "2026"));
    it.state = Some("Queued".into());
    it.ttl = Some(1_900_000_000);
    it.counters = BTreeMap::from([("queued".to_string(), 3), ("errors".to_string(), 0)]);
    table.write(vec![put(it.clone())]).await.unwrap();
    let got = table.get(&it.key).await.unwrap().unwrap();
    assert_eq!(got.key, it.key);
    assert_eq!(got.indexes, it.indexes);
    assert_eq!(got.state, it.state);
    assert_eq!(got.version, 1);
    assert_eq!(got.ttl, it.ttl);
    assert_eq!(got.counter("queued"), 3);
    assert_eq!(got.counter("errors"), 0);
    assert_eq!(got.data, it.data);
    assert!(table.get(&Key::new(p, "missing")).await.unwrap().is_none());
}

pub async fn a_create_of_an_existing_item_fails_and_changes_nothing(table: &dyn Table, p: &str) {
    table.write(vec![Write::Put { item: item(p, "a"), condition: Condition::NotExists }]).await.unwrap();
    let mut again = item(p, "a");
    again.data = r#"{"changed":true}"#.into();
    let err = table.write(vec![Write::Put { item: again, condition: Condition::NotExists }]).await.unwrap_err();
    assert!(matches!(err, TableError::ConditionFailed { index: 0 }), "{err:?}");
    assert_eq!(table.get(&Key::new(p, "a")).await.unwrap().unwrap().data, item(p, "a").data);
}

pub async fn updates_apply_changes_bump_the_version_and_add_to_counters(table: &dyn Table, p: &str) {
    let mut it = item(p, "a");
    it.indexes[0] = Some(Key::new(format!("{p}-g1"), "x"));
    it.state = Some("Queued".into());
    it.counters.insert("queued".into(), 2);
    table.write(vec![put(it)]).await.unwrap();
    let update = Update {
        data: Some(r#"{"v":2}"#.into()),
        state: Some(Some("InProgress".into())),
        indexes: [Some(None), Some(Some(Key::new(format!("{p}-g2"), "y"))), None],
        ttl: Some(Some(42)),
        add: vec![("queued".into(), -1), ("completed".into(), 1)],
    };
    table
        .write(vec![Write::Update { key: Key::new(p, "a"), condition: Condition::State("Queued".into()), update }])
        .await
        .unwrap();
    let got = table.get(&Key::new(p, "a")).await.unwrap().unwrap();
    assert_eq!(got.version, 2);
    assert_eq!(got.data, r#"{"v":2}"#);
    assert_eq!(got.state.as_deref(), Some("InProgress"));
    assert_eq!(got.indexes, [None, Some(Key::new(format!("{p}-g2"), "y")), None]);
    assert_eq!(got.ttl, Some(42));
    assert_eq!((got.counter("queued"), got.counter("completed")), (1, 1));
    // Out of gsi1 now, in gsi2.
    assert!(table.query(&Query::index(Index::Gsi1, format!("{p}-g1"), SkRange::All)).await.unwrap().items.is_empty());
    assert_eq!(table.query(&Query::index(Index::Gsi2, format!("{p}-g2"), SkRange::All)).await.unwrap().items.len(), 1);
}

pub async fn an_update_of_a_missing_item_fails(table: &dyn Table, p: &str) {
    let err = table
        .write(vec![Write::Update {
            key: Key::new(p, "ghost"),
            condition: Condition::Always,
            update: Update::default(),
        }])
        .await
        .unwrap_err();
    assert!(matches!(err, TableError::ConditionFailed { index: 0 }), "{err:?}");
    assert!(table.get(&Key::new(p, "ghost")).await.unwrap().is_none());
}

pub async fn version_and_state_conditions_guard_writes(table: &dyn Table, p: &str) {
    let mut it = item(p, "a");
    it.state = Some("Queued".into());
    table.write(vec![put(it)]).await.unwrap();
    let key = Key::new(p, "a");
    let stale = table
        .write(vec![Write::Update { key: key.clone(), condition: Condition::Version(7), update: Update::default() }])
        .await;
    assert!(matches!(stale, Err(TableError::ConditionFailed { index: 0 })));
    let wrong_state =
        table.write(vec![Write::Delete { key: key.clone(), condition: Condition::State("Completed".into()) }]).await;
    assert!(matches!(wrong_state, Err(TableError::ConditionFailed { index: 0 })));
    table
        .write(vec![Write::Update { key: key.clone(), condition: Condition::Version(1), update: Update::default() }])
        .await
        .unwrap();
    table.write(vec![Write::Delete { key: key.clone(), condition: Condition::State("Queued".into()) }]).await.unwrap();
    assert!(table.get(&key).await.unwrap().is_none());
    // Deleting what is gone is fine without a condition.
    table.write(vec![Write::Delete { key, condition: Condition::Always }]).await.unwrap();
}

pub async fn a_failed_condition_rolls_back_the_whole_transaction(table: &dyn Table, p: &str) {
    table.write(vec![put(item(p, "existing")), put(item(p, "other"))]).await.unwrap();
    let err = table
        .write(vec![
            Write::Put { item: item(p, "new"), condition: Condition::NotExists },
            Write::Update {
                key: Key::new(p, "existing"),
                condition: Condition::Exists,
                update: Update { add: vec![("n".into(), 1)], ..Default::default() },
            },
            Write::Check { key: Key::new(p, "other"), condition: Condition::NotExists },
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, TableError::ConditionFailed { index: 2 }), "{err:?}");
    assert!(table.get(&Key::new(p, "new")).await.unwrap().is_none());
    let existing = table.get(&Key::new(p, "existing")).await.unwrap().unwrap();
    assert_eq!((existing.version, existing.counter("n")), (1, 0));
}

pub async fn oversized_and_self_conflicting_transactions_are_refused(table: &dyn Table, p: &str) {
    let writes: Vec<Write> = (0..=MAX_TRANSACTION_WRITES).map(|i| put(item(p, &format!("{i:04}")))).collect();
    assert!(matches!(table.write(writes).await, Err(TableError::TooManyWrites(101))));
    let twice = vec![put(item(p, "a")), Write::Delete { key: Key::new(p, "a"), condition: Condition::Always }];
    assert!(matches!(table.write(twice).await, Err(TableError::InvalidWrite(_))));
    assert!(table.query(&Query::table(p, SkRange::All)).await.unwrap().items.is_empty());
}

pub async fn items_over_the_size_limit_are_refused_whole_and_change_nothing(table: &dyn Table, p: &str) {
    let sized = |sk: &str, bytes: usize| Item::new(Key::new(p, sk), "x".repeat(bytes));
    table.write(vec![put(sized("fits", MAX_ITEM_BYTES - 2_000))]).await.unwrap();
    let over = table.write(vec![put(item(p, "small")), put(sized("big", MAX_ITEM_BYTES))]).await;
    assert!(matches!(over, Err(TableError::TooLarge { limit: MAX_ITEM_BYTES, .. })), "{over:?}");
    assert!(table.get(&Key::new(p, "small")).await.unwrap().is_none(), "the transaction wrote nothing");
    // An update that would make an item too large is refused, and the item stays as it was.
    let grow = Update { data: Some("y".repeat(MAX_ITEM_BYTES)), ..Default::default() };
    let grown =
        table.write(vec![Write::Update { key: Key::new(p, "fits"), condition: Condition::Exists, update: grow }]).await;
    assert!(matches!(grown, Err(TableError::TooLarge { .. })), "{grown:?}");
    assert_eq!(table.get(&Key::new(p, "fits")).await.unwrap().unwrap().version, 1);
    // Eleven items of 390 KB are over the 4 MB a transaction may write.
    let many: Vec<Write> = (0..11).map(|i| put(sized(&format!("m{i}"), 390_000))).collect();
    assert!(matches!(table.write(many).await, Err(TableError::TooLarge { limit: MAX_TRANSACTION_BYTES, .. })));
    assert!(matches!(table.put_all(vec![sized("bulk", MAX_ITEM_BYTES)]).await, Err(TableError::TooLarge { .. })));
}

pub async fn counter_conditions_let_commuting_increments_through_while_a_bound_holds(table: &dyn Table, p: &str) {
    let mut it = item(p, "run");
    it.state = Some("running".into());
    it.counters = BTreeMap::from([("queued".to_string(), 2)]);
    table.write(vec![put(it)]).await.unwrap();
    let key = Key::new(p, "run");
    let take_one = |min: i64| Write::Update {
        key: key.clone(),
        condition: Condition::StateAndCounterAtLeast { state: "running".into(), counter: "queued".into(), min },
        update: Update { add: vec![("queued".into(), -1)], ..Default::default() },
    };
    table.write(vec![take_one(2)]).await.unwrap();
    let last = table.write(vec![take_one(2)]).await;
    assert!(matches!(last, Err(TableError::ConditionFailed { index: 0 })), "{last:?}");
    assert_eq!(table.get(&key).await.unwrap().unwrap().counter("queued"), 1);
    let other_state = Write::Update {
        key: key.clone(),
        condition: Condition::StateAndCounterAtLeast { state: "finished".into(), counter: "queued".into(), min: 0 },
        update: Update::default(),
    };
    assert!(matches!(table.write(vec![other_state]).await, Err(TableError::ConditionFailed { index: 0 })));
    let never_counted = Write::Update {
        key: key.clone(),
        condition: Condition::StateAndCounterAtLeast { state: "running".into(), counter: "errors".into(), min: 0 },
        update: Update::default(),
    };
    table.write(vec![never_counted]).await.unwrap();
}

pub async fn queries_return_a_partition_in_order_page_by_page(table: &dyn Table, p: &str) {
    let items: Vec<Item> = (0..23).map(|i| item(p, &format!("E#{i:03}"))).collect();
    table.put_all(items).await.unwrap();
    table.write(vec![put(item(p, "D#001")), put(item(&format!("{p}-other"), "E#000"))]).await.unwrap();

    let asc = all_pages(table, Query::table(p, SkRange::Prefix("E#".into())).limit(5)).await;
    assert_eq!(sks(&asc), (0..23).map(|i| format!("E#{i:03}")).collect::<Vec<_>>());
    let desc = all_pages(table, Query::table(p, SkRange::Prefix("E#".into())).descending().limit(7)).await;
    assert_eq!(sks(&desc), (0..23).rev().map(|i| format!("E#{i:03}")).collect::<Vec<_>>());

    let between = table.query(&Query::table(p, SkRange::Between("E#005".into(), "E#007".into()))).await.unwrap();
    assert_eq!(sks(&between.items), ["E#005", "E#006", "E#007"]);
    let at_most = table.query(&Query::table(p, SkRange::AtMost("D#999".into()))).await.unwrap();
    assert_eq!(sks(&at_most.items), ["D#001"]);
    let at_least = table.query(&Query::table(p, SkRange::AtLeast("E#021".into()))).await.unwrap();
    assert_eq!(sks(&at_least.items), ["E#021", "E#022"]);
    let one_page = table.query(&Query::table(p, SkRange::All).limit(100)).await.unwrap();
    assert_eq!(one_page.items.len(), 24);
    assert!(one_page.cursor.is_none(), "a page holding everything has no cursor");
}

pub async fn sparse_indexes_hold_only_items_with_an_index_key(table: &dyn Table, p: &str) {
    let due = format!("{p}-due");
    let mut items = Vec::new();
    for i in 0..12 {
        let mut it = item(p, &format!("S#{i:02}"));
        if i % 3 != 0 {
            // Equal index sort keys in pairs: ties are ordered by the table key.
            it.indexes[0] = Some(Key::new(due.clone(), format!("2026-01-{:02}", i / 2 + 1)));
        }
        items.push(it);
    }
    table.put_all(items).await.unwrap();
    let all = all_pages(table, Query::index(Index::Gsi1, &due, SkRange::All).limit(3)).await;
    assert_eq!(sks(&all), ["S#01", "S#02", "S#04", "S#05", "S#07", "S#08", "S#10", "S#11"]);
    let until = all_pages(table, Query::index(Index::Gsi1, &due, SkRange::AtMost("2026-01-03".into())).limit(2)).await;
    assert_eq!(sks(&until), ["S#01", "S#02", "S#04", "S#05"]);
    let newest = all_pages(table, Query::index(Index::Gsi1, &due, SkRange::All).descending().limit(5)).await;
    assert_eq!(sks(&newest).len(), 8);
    assert_eq!(sks(&newest)[0], "S#11");
}

pub async fn a_cursor_from_another_partition_is_refused(table: &dyn Table, p: &str) {
    table.put_all((0..3).map(|i| item(p, &format!("{i}"))).collect()).await.unwrap();
    let page = table.query(&Query::table(p, SkRange::All).limit(1)).await.unwrap();
    let cursor = page.cursor.expect("more pages");
    let foreign = Query::table(format!("{p}-other"), SkRange::All).after(Some(cursor));
    assert!(matches!(table.query(&foreign).await, Err(TableError::InvalidCursor)));
    let garbage = Query::table(p, SkRange::All).after(Some("not a cursor".into()));
    assert!(matches!(table.query(&garbage).await, Err(TableError::InvalidCursor)));
}

pub async fn bulk_puts_write_many_items_and_replace_existing_ones(table: &dyn Table, p: &str) {
    table.write(vec![put(item(p, "0007"))]).await.unwrap();
    let items: Vec<Item> = (0..60)
        .map(|i| {
            let mut it = item(p, &format!("{i:04}"));
            it.state = Some("ParametersPrepared".into());
            it
        })
        .collect();
    table.put_all(items).await.unwrap();
    let all = all_pages(table, Query::table(p, SkRange::All).limit(50)).await;
    assert_eq!(all.len(), 60);
    assert!(all.iter().all(|i| i.state.as_deref() == Some("ParametersPrepared")));
}

pub async fn batched_reads_return_items_in_the_order_asked_for(table: &dyn Table, p: &str) {
    let items: Vec<Item> = (0..150).map(|i| item(p, &format!("{i:03}"))).collect();
    table.put_all(items).await.unwrap();
    let mut keys: Vec<Key> = (0..150).rev().map(|i| Key::new(p, format!("{i:03}"))).collect();
    keys.insert(3, Key::new(p, "missing"));
    keys.push(Key::new(p, "007"));
    let got = table.get_many(&keys).await.unwrap();
    assert_eq!(got.len(), keys.len());
    for (key, item) in keys.iter().zip(&got) {
        match item {
            Some(item) => assert_eq!(&item.key, key),
            None => assert_eq!(key.sk, "missing"),
        }
    }
    assert!(table.get_many(&[]).await.unwrap().is_empty());
}

/// Many workers race to move one item from `Queued` to `InProgress`: exactly one may win.
pub async fn concurrent_conditional_transitions_have_exactly_one_winner(table: Arc<dyn Table>, p: &str) {
    let mut it = item(p, "entry");
    it.state = Some("Queued".into());
    table.write(vec![put(it)]).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|worker| {
            let table = table.clone();
            let key = Key::new(p, "entry");
            tokio::spawn(async move {
                let update = Update {
                    state: Some(Some("InProgress".into())),
                    data: Some(format!(r#"{{"worker":{worker}}}"#)),
                    ..Default::default()
                };
                table.write(vec![Write::Update { key, condition: Condition::State("Queued".into()), update }]).await
            })
        })
        .collect();
    let mut wins = Vec::new();
    for (worker, task) in tasks.into_iter().enumerate() {
        match task.await.unwrap() {
            Ok(()) => wins.push(worker),
            Err(TableError::ConditionFailed { index: 0 } | TableError::Contention) => {}
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(wins.len(), 1, "exactly one transition wins, got {wins:?}");
    let stored = table.get(&Key::new(p, "entry")).await.unwrap().unwrap();
    assert_eq!(stored.data, format!(r#"{{"worker":{}}}"#, wins[0]));
    assert_eq!(stored.version, 2);
}

pub async fn bulk_deletes_remove_many_items_and_ignore_missing_ones(table: &dyn Table, p: &str) {
    let mut items: Vec<Item> = (0..60).map(|i| item(p, &format!("{i:03}"))).collect();
    items[0].indexes[0] = Some(Key::new(format!("{p}-index"), "a"));
    table.put_all(items).await.unwrap();
    let mut doomed: Vec<Key> = (0..55).map(|i| Key::new(p, format!("{i:03}"))).collect();
    doomed.push(Key::new(p, "missing"));
    doomed.push(Key::new(p, "000"));
    table.delete_all(doomed).await.unwrap();
    let left = all_pages(table, Query::table(p, SkRange::All)).await;
    assert_eq!(sks(&left), ["055", "056", "057", "058", "059"]);
    let indexed = table.query(&Query::index(Index::Gsi1, format!("{p}-index"), SkRange::All)).await.unwrap();
    assert!(indexed.items.is_empty(), "a deleted item leaves its indexes too");
    table.delete_all(Vec::new()).await.unwrap();
}

/// Instantiates the table contract for one adapter. `$make` is an async block returning
/// `Option<Arc<dyn Table>>` (`None` only when the adapter's tests are explicitly skipped).
macro_rules! table_contract {
    ($adapter:ident, $make:expr) => {
        mod $adapter {
            use std::sync::Arc;

            use super::super::contract;
            use super::super::table::Table;

            async fn table() -> Option<Arc<dyn Table>> {
                $make.await
            }

            macro_rules! case {
                ($name:ident) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                    async fn $name() {
                        let Some(table) = table().await else { return };
                        contract::$name(table.as_ref(), &crate::testing::unique_name(stringify!($name))).await;
                    }
                };
            }

            case!(put_then_get_returns_every_field);
            case!(a_create_of_an_existing_item_fails_and_changes_nothing);
            case!(updates_apply_changes_bump_the_version_and_add_to_counters);
            case!(an_update_of_a_missing_item_fails);
            case!(version_and_state_conditions_guard_writes);
            case!(a_failed_condition_rolls_back_the_whole_transaction);
            case!(oversized_and_self_conflicting_transactions_are_refused);
            case!(items_over_the_size_limit_are_refused_whole_and_change_nothing);
            case!(counter_conditions_let_commuting_increments_through_while_a_bound_holds);
            case!(queries_return_a_partition_in_order_page_by_page);
            case!(sparse_indexes_hold_only_items_with_an_index_key);
            case!(a_cursor_from_another_partition_is_refused);
            case!(bulk_puts_write_many_items_and_replace_existing_ones);
            case!(bulk_deletes_remove_many_items_and_ignore_missing_ones);
            case!(batched_reads_return_items_in_the_order_asked_for);

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn concurrent_conditional_transitions_have_exactly_one_winner() {
                let Some(table) = table().await else { return };
                let p = crate::testing::unique_name("race");
                contract::concurrent_conditional_transitions_have_exactly_one_winner(table, &p).await;
            }
        }
    };
}
pub(crate) use table_contract;
