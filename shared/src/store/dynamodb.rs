//! The DynamoDB table: the `Table` port on one DynamoDB table (the production store on AWS).
//! Conditions become condition expressions, multi-write calls become `TransactWriteItems`,
//! queries page with `ExclusiveStartKey`, and bulk loads use `BatchWriteItem`.
//!
//! The table (see [`create_table`], which matches `template.yaml`) is on-demand, keyed by
//! `pk` (hash) / `sk` (range), with three global secondary indexes `gsi1`..`gsi3` keyed by
//! `gsiNpk` / `gsiNsk` and projecting all attributes, and TTL on `ttl`.
//!
//! Item attributes:
//!
//! | attribute             | type | holds                                                          |
//! | --------------------- | ---- | -------------------------------------------------------------- |
//! | `pk`, `sk`            | S    | the table key                                                  |
//! | `gsiNpk`, `gsiNsk`    | S    | key in index `gsiN` (N = 1..3); both absent when the item is out of that index (sparse index) |
//! | `st`                  | S    | state; absent when `None`                                      |
//! | `v`                   | N    | version                                                        |
//! | `ttl`                 | N    | expiry in Unix seconds; absent when `None`                     |
//! | `d`                   | S    | the entity as JSON                                             |
//! | `n_<name>`            | N    | counter `<name>` (`ADD` creates a missing one at 0)            |
//!
//! Every expression names attributes through `ExpressionAttributeNames`, so reserved words
//! never matter. Strongly consistent reads are used wherever DynamoDB offers them (`get` and
//! table queries; index queries are eventually consistent, as every GSI read is).
//!
//! DynamoDB refuses empty strings in key attributes, so writes with an empty table or index key
//! are refused as `InvalidWrite`, and reads of empty keys or ranges that only an empty sort key
//! could match return nothing without asking DynamoDB.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, DeleteRequest, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType, Put, PutRequest, ScalarAttributeType,
    TimeToLiveSpecification, TimeToLiveStatus, TransactWriteItem, WriteRequest,
};

use super::table::{
    Condition, INDEX_COUNT, Index, Item, Key, MAX_BATCH_READ, Page, Position, Query, SkRange, Table, TableError,
    Update, Write, check_transaction,
};

type Attrs = HashMap<String, AttributeValue>;
/// Expression attribute names: placeholder → attribute.
type Names = HashMap<String, String>;

const PK: &str = "pk";
const SK: &str = "sk";
const STATE: &str = "st";
const VERSION: &str = "v";
const TTL: &str = "ttl";
const DATA: &str = "d";
const COUNTER_PREFIX: &str = "n_";

/// Most items one `BatchWriteItem` call may hold.
const BATCH_SIZE: usize = 25;
/// Calls of `BatchWriteItem` per chunk before unprocessed items are reported as an error.
const BATCH_ATTEMPTS: u32 = 8;
/// Largest page a query returns.
const MAX_PAGE: usize = 1000;
/// How long `create_table` waits for a new table to become active.
const CREATE_WAIT: Duration = Duration::from_secs(300);

/// The `Table` port on one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoTable {
    client: Client,
    table_name: String,
}

impl DynamoTable {
    /// An adapter for the existing table `table_name` (see [`create_table`]).
    pub fn new(client: Client, table_name: String) -> Self {
        Self { client, table_name }
    }
}

/// Creates the table as `template.yaml` defines it (on-demand; `pk`/`sk`; GSIs `gsi1`..`gsi3`
/// on `gsiNpk`/`gsiNsk` projecting everything), waits until it is active, and enables TTL on
/// `ttl`. An existing table is fine: it is left as it is, and only its TTL is enabled if needed.
pub async fn create_table(client: &Client, name: &str) -> Result<(), TableError> {
    let definition = |attr: &str| {
        AttributeDefinition::builder()
            .attribute_name(attr)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| backend_msg(format!("CreateTable {name}: {e}")))
    };
    let key = |attr: &str, key_type: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(attr)
            .key_type(key_type)
            .build()
            .map_err(|e| backend_msg(format!("CreateTable {name}: {e}")))
    };
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(definition(PK)?)
        .attribute_definitions(definition(SK)?)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?);
    for index in Index::ALL {
        let (index_pk, index_sk) = index_attrs(index);
        let gsi = GlobalSecondaryIndex::builder()
            .index_name(index.name())
            .key_schema(key(&index_pk, KeyType::Hash)?)
            .key_schema(key(&index_sk, KeyType::Range)?)
            .projection(Projection::builder().projection_type(ProjectionType::All).build())
            .build()
            .map_err(|e| backend_msg(format!("CreateTable {name}: {e}")))?;
        request = request
            .attribute_definitions(definition(&index_pk)?)
            .attribute_definitions(definition(&index_sk)?)
            .global_secondary_indexes(gsi);
    }
    match request.send().await {
        Ok(_) => {}
        Err(e) if e.code() == Some("ResourceInUseException") => {}
        Err(e) => return Err(sdk_backend(&format!("CreateTable {name}"), &e)),
    }
    client
        .wait_until_table_exists()
        .table_name(name)
        .wait(CREATE_WAIT)
        .await
        .map_err(|e| sdk_backend(&format!("waiting for table {name}"), &e))?;

    let enabled_on = match ttl_attribute(client, name).await? {
        Some(attr) => attr,
        None => {
            let spec = TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(TTL)
                .build()
                .map_err(|e| backend_msg(format!("UpdateTimeToLive {name}: {e}")))?;
            let updated = client.update_time_to_live().table_name(name).time_to_live_specification(spec).send().await;
            match updated {
                Ok(_) => TTL.to_string(),
                // Someone else may have enabled it meanwhile (DynamoDB refuses a second enable).
                Err(e) => ttl_attribute(client, name)
                    .await?
                    .ok_or_else(|| sdk_backend(&format!("UpdateTimeToLive {name}"), &e))?,
            }
        }
    };
    if enabled_on != TTL {
        return Err(backend_msg(format!("table {name} has TTL on attribute `{enabled_on}`, Herald needs `{TTL}`")));
    }
    Ok(())
}

/// The attribute TTL is enabled (or being enabled) on, if any.
async fn ttl_attribute(client: &Client, name: &str) -> Result<Option<String>, TableError> {
    let out = client
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(|e| sdk_backend(&format!("DescribeTimeToLive {name}"), &e))?;
    Ok(out
        .time_to_live_description()
        .filter(|d| matches!(d.time_to_live_status(), Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)))
        .map(|d| d.attribute_name().unwrap_or(TTL).to_string()))
}

/// A fresh table on the local AWS emulator; `None` only when AWS tests are skipped on purpose.
#[cfg(test)]
pub async fn test_table() -> Option<DynamoTable> {
    let config = crate::testing::emulator().await?;
    let client = Client::new(&config);
    let name = crate::testing::unique_name("herald");
    if let Err(e) = create_table(&client, &name).await {
        panic!("cannot create the test table {name}: {e}");
    }
    Some(DynamoTable::new(client, name))
}

// ---------------------------------------------------------------------------------------------
// Errors

fn backend_msg(message: String) -> TableError {
    TableError::Backend(message)
}

fn sdk_backend<E: std::error::Error + 'static>(operation: &str, err: &E) -> TableError {
    TableError::Backend(format!("{operation}: {}", DisplayErrorContext(err)))
}

/// Error codes meaning "too busy or racing right now; retrying may succeed".
fn is_contention_code(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "TransactionConflictException"
                | "TransactionInProgressException"
                | "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
        )
    )
}

/// Maps the error of a single PutItem/UpdateItem/DeleteItem.
fn single_write_error<E, R>(operation: &str, err: &SdkError<E, R>) -> TableError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match err.code() {
        Some("ConditionalCheckFailedException") => TableError::ConditionFailed { index: 0 },
        code if is_contention_code(code) => TableError::Contention,
        _ => sdk_backend(operation, err),
    }
}

fn transaction_error<R: std::fmt::Debug + 'static>(err: &SdkError<TransactWriteItemsError, R>) -> TableError {
    if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) = err.as_service_error() {
        let reasons = cancelled.cancellation_reasons();
        if let Some(index) = reasons.iter().position(|r| r.code() == Some("ConditionalCheckFailed")) {
            return TableError::ConditionFailed { index };
        }
        if reasons.iter().any(|r| {
            matches!(r.code(), Some("TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"))
        }) {
            return TableError::Contention;
        }
    }
    if is_contention_code(err.code()) {
        return TableError::Contention;
    }
    sdk_backend("TransactWriteItems", err)
}

// ---------------------------------------------------------------------------------------------
// Item mapping

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The key attributes of `index`: (`gsiNpk`, `gsiNsk`).
fn index_attrs(index: Index) -> (String, String) {
    (format!("{}pk", index.name()), format!("{}sk", index.name()))
}

fn key_attrs(key: &Key) -> Attrs {
    HashMap::from([(PK.to_string(), s(&key.pk)), (SK.to_string(), s(&key.sk))])
}

fn to_attrs(item: &Item) -> Attrs {
    let mut attrs = key_attrs(&item.key);
    for (index, index_key) in Index::ALL.into_iter().zip(&item.indexes) {
        if let Some(index_key) = index_key {
            let (pk, sk) = index_attrs(index);
            attrs.insert(pk, s(&index_key.pk));
            attrs.insert(sk, s(&index_key.sk));
        }
    }
    if let Some(state) = &item.state {
        attrs.insert(STATE.into(), s(state));
    }
    attrs.insert(VERSION.into(), n(item.version));
    if let Some(ttl) = item.ttl {
        attrs.insert(TTL.into(), n(ttl));
    }
    attrs.insert(DATA.into(), s(&item.data));
    for (name, value) in &item.counters {
        attrs.insert(format!("{COUNTER_PREFIX}{name}"), n(value));
    }
    attrs
}

/// Reads an item, refusing anything this adapter would not have written.
fn from_attrs(attrs: &Attrs) -> Result<Item, TableError> {
    let pk = string_attr(attrs, PK).ok_or_else(|| backend_msg("malformed item: no string `pk`".into()))?;
    let sk = string_attr(attrs, SK).ok_or_else(|| backend_msg(format!("malformed item {pk}: no string `sk`")))?;
    let malformed = |what: String| backend_msg(format!("malformed item {pk}/{sk}: {what}"));
    let optional_string = |attr: &str| match attrs.get(attr) {
        None => Ok(None),
        Some(AttributeValue::S(value)) => Ok(Some(value.clone())),
        Some(_) => Err(malformed(format!("`{attr}` is not a string"))),
    };
    let number = |attr: &str, value: &AttributeValue| -> Result<i128, TableError> {
        match value {
            AttributeValue::N(text) => {
                text.parse::<i128>().map_err(|_| malformed(format!("`{attr}` is not an integer: {text}")))
            }
            _ => Err(malformed(format!("`{attr}` is not a number"))),
        }
    };

    let mut indexes: [Option<Key>; INDEX_COUNT] = Default::default();
    for index in Index::ALL {
        let (pk_attr, sk_attr) = index_attrs(index);
        indexes[index.position()] = match (optional_string(&pk_attr)?, optional_string(&sk_attr)?) {
            (Some(pk), Some(sk)) => Some(Key { pk, sk }),
            (None, None) => None,
            _ => {
                return Err(malformed(format!("only one of `{pk_attr}` and `{sk_attr}` is set")));
            }
        };
    }
    let version = attrs.get(VERSION).ok_or_else(|| malformed(format!("no `{VERSION}`")))?;
    let version =
        u64::try_from(number(VERSION, version)?).map_err(|_| malformed(format!("`{VERSION}` out of range")))?;
    let ttl = attrs
        .get(TTL)
        .map(|value| i64::try_from(number(TTL, value)?).map_err(|_| malformed(format!("`{TTL}` out of range"))))
        .transpose()?;
    let mut counters = BTreeMap::new();
    for (attr, value) in attrs {
        if let Some(name) = attr.strip_prefix(COUNTER_PREFIX) {
            let value = i64::try_from(number(attr, value)?).map_err(|_| malformed(format!("`{attr}` out of range")))?;
            counters.insert(name.to_string(), value);
        }
    }
    let data = optional_string(DATA)?.ok_or_else(|| malformed(format!("no string `{DATA}`")))?;
    let state = optional_string(STATE)?;
    Ok(Item { key: Key { pk, sk }, indexes, state, version, ttl, counters, data })
}

fn string_attr(attrs: &Attrs, attr: &str) -> Option<String> {
    match attrs.get(attr) {
        Some(AttributeValue::S(value)) => Some(value.clone()),
        _ => None,
    }
}

/// DynamoDB refuses empty strings in key attributes (table and index keys).
fn check_key(key: &Key, what: &str) -> Result<(), TableError> {
    if key.pk.is_empty() || key.sk.is_empty() {
        return Err(TableError::InvalidWrite(format!("{what} has an empty partition or sort key")));
    }
    Ok(())
}

fn check_write_keys(write: &Write) -> Result<(), TableError> {
    check_key(write.key(), "a write")?;
    match write {
        Write::Put { item, .. } => item.indexes.iter().flatten().try_for_each(|k| check_key(k, "an index key")),
        Write::Update { update, .. } => {
            update.indexes.iter().flatten().flatten().try_for_each(|k| check_key(k, "an index key"))
        }
        Write::Delete { .. } | Write::Check { .. } => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Expressions

/// Attribute names and values of one request's expressions.
#[derive(Debug, Default)]
struct Expr {
    names: Names,
    values: Attrs,
}

impl Expr {
    /// The placeholder of one of the fixed attributes (`#pk`, `#v`, `#gsi1sk`, …).
    fn name(&mut self, attr: &str) -> String {
        let alias = format!("#{attr}");
        self.names.insert(alias.clone(), attr.to_string());
        alias
    }

    /// The placeholder of counter `counter` (attribute `n_<counter>`); `#c0`, `#c1`, …
    fn counter(&mut self, counter: &str) -> String {
        let alias = format!("#c{}", self.names.keys().filter(|a| a.starts_with("#c")).count());
        self.names.insert(alias.clone(), format!("{COUNTER_PREFIX}{counter}"));
        alias
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    /// The maps as the SDK takes them (DynamoDB refuses empty maps).
    fn into_parts(self) -> (Option<Names>, Option<Attrs>) {
        ((!self.names.is_empty()).then_some(self.names), (!self.values.is_empty()).then_some(self.values))
    }
}

/// The condition expression of a write; `must_exist` adds `attribute_exists(pk)` (updates).
fn condition_expression(condition: &Condition, must_exist: bool, expr: &mut Expr) -> Option<String> {
    let mut parts = Vec::new();
    if must_exist && !matches!(condition, Condition::Exists) {
        parts.push(format!("attribute_exists({})", expr.name(PK)));
    }
    match condition {
        Condition::Always => {}
        Condition::NotExists => parts.push(format!("attribute_not_exists({})", expr.name(PK))),
        Condition::Exists => parts.push(format!("attribute_exists({})", expr.name(PK))),
        Condition::Version(version) => {
            let value = expr.value(n(version));
            parts.push(format!("{} = {value}", expr.name(VERSION)));
        }
        Condition::State(state) => {
            let value = expr.value(s(state));
            parts.push(format!("{} = {value}", expr.name(STATE)));
        }
        Condition::StateAndCounterAtLeast { state, counter, min } => {
            let value = expr.value(s(state));
            parts.push(format!("{} = {value}", expr.name(STATE)));
            let (alias, bound) = (expr.counter(counter), expr.value(n(min)));
            if *min > 0 {
                parts.push(format!("{alias} >= {bound}"));
            } else {
                parts.push(format!("(attribute_not_exists({alias}) OR {alias} >= {bound})"));
            }
        }
    }
    (!parts.is_empty()).then(|| parts.join(" AND "))
}

/// One `UpdateExpression`: SET changed fields and `v = v + 1`, REMOVE cleared ones, ADD counters.
fn update_expression(update: &Update, expr: &mut Expr) -> String {
    let mut set = Vec::new();
    let mut remove = Vec::new();
    let mut add = Vec::new();

    let version = expr.name(VERSION);
    let one = expr.value(n(1));
    set.push(format!("{version} = {version} + {one}"));
    if let Some(data) = &update.data {
        let value = expr.value(s(data));
        set.push(format!("{} = {value}", expr.name(DATA)));
    }
    match &update.state {
        Some(Some(state)) => {
            let value = expr.value(s(state));
            set.push(format!("{} = {value}", expr.name(STATE)));
        }
        Some(None) => remove.push(expr.name(STATE)),
        None => {}
    }
    for (index, change) in Index::ALL.into_iter().zip(&update.indexes) {
        let (pk_attr, sk_attr) = index_attrs(index);
        match change {
            Some(Some(key)) => {
                let pk = expr.value(s(&key.pk));
                let sk = expr.value(s(&key.sk));
                set.push(format!("{} = {pk}", expr.name(&pk_attr)));
                set.push(format!("{} = {sk}", expr.name(&sk_attr)));
            }
            Some(None) => {
                remove.push(expr.name(&pk_attr));
                remove.push(expr.name(&sk_attr));
            }
            None => {}
        }
    }
    match update.ttl {
        Some(Some(ttl)) => {
            let value = expr.value(n(ttl));
            set.push(format!("{} = {value}", expr.name(TTL)));
        }
        Some(None) => remove.push(expr.name(TTL)),
        None => {}
    }
    // One action per counter: DynamoDB refuses two actions on one attribute.
    let mut deltas: BTreeMap<&str, i64> = BTreeMap::new();
    for (name, delta) in &update.add {
        let total = deltas.entry(name.as_str()).or_insert(0);
        *total = total.saturating_add(*delta);
    }
    for (name, delta) in deltas {
        let alias = expr.counter(name);
        let value = expr.value(n(delta));
        add.push(format!("{alias} {value}"));
    }

    let mut clauses = vec![format!("SET {}", set.join(", "))];
    if !remove.is_empty() {
        clauses.push(format!("REMOVE {}", remove.join(", ")));
    }
    if !add.is_empty() {
        clauses.push(format!("ADD {}", add.join(", ")));
    }
    clauses.join(" ")
}

/// One write, ready to send on its own or inside a transaction.
struct Request {
    kind: RequestKind,
    condition: Option<String>,
    names: Option<Names>,
    values: Option<Attrs>,
}

enum RequestKind {
    Put(Attrs),
    Update { key: Attrs, expression: String },
    Delete(Attrs),
    Check(Attrs),
}

fn request(write: &Write) -> Request {
    let mut expr = Expr::default();
    let (kind, condition) = match write {
        Write::Put { item, condition } => {
            (RequestKind::Put(to_attrs(item)), condition_expression(condition, false, &mut expr))
        }
        Write::Update { key, condition, update } => {
            let condition = condition_expression(condition, true, &mut expr);
            let expression = update_expression(update, &mut expr);
            (RequestKind::Update { key: key_attrs(key), expression }, condition)
        }
        Write::Delete { key, condition } => {
            (RequestKind::Delete(key_attrs(key)), condition_expression(condition, false, &mut expr))
        }
        Write::Check { key, condition } => {
            // A ConditionCheck needs an expression; `Always` gets one that always holds.
            let condition = match condition {
                Condition::Always => {
                    let pk = expr.name(PK);
                    Some(format!("attribute_exists({pk}) OR attribute_not_exists({pk})"))
                }
                other => condition_expression(other, false, &mut expr),
            };
            (RequestKind::Check(key_attrs(key)), condition)
        }
    };
    let (names, values) = expr.into_parts();
    Request { kind, condition, names, values }
}

fn transact_item(table: &str, request: Request) -> Result<TransactWriteItem, TableError> {
    let Request { kind, condition, names, values } = request;
    let built = |e: aws_sdk_dynamodb::error::BuildError| backend_msg(format!("TransactWriteItems: {e}"));
    let item = match kind {
        RequestKind::Put(attrs) => TransactWriteItem::builder().put(
            Put::builder()
                .table_name(table)
                .set_item(Some(attrs))
                .set_condition_expression(condition)
                .set_expression_attribute_names(names)
                .set_expression_attribute_values(values)
                .build()
                .map_err(built)?,
        ),
        RequestKind::Update { key, expression } => TransactWriteItem::builder().update(
            aws_sdk_dynamodb::types::Update::builder()
                .table_name(table)
                .set_key(Some(key))
                .update_expression(expression)
                .set_condition_expression(condition)
                .set_expression_attribute_names(names)
                .set_expression_attribute_values(values)
                .build()
                .map_err(built)?,
        ),
        RequestKind::Delete(key) => TransactWriteItem::builder().delete(
            Delete::builder()
                .table_name(table)
                .set_key(Some(key))
                .set_condition_expression(condition)
                .set_expression_attribute_names(names)
                .set_expression_attribute_values(values)
                .build()
                .map_err(built)?,
        ),
        RequestKind::Check(key) => TransactWriteItem::builder().condition_check(
            ConditionCheck::builder()
                .table_name(table)
                .set_key(Some(key))
                .set_condition_expression(condition)
                .set_expression_attribute_names(names)
                .set_expression_attribute_values(values)
                .build()
                .map_err(built)?,
        ),
    };
    Ok(item.build())
}

// ---------------------------------------------------------------------------------------------
// Queries

/// A sort-key condition DynamoDB accepts (no empty strings), or `None` when nothing can match.
enum SkCondition<'a> {
    All,
    Prefix(&'a str),
    Between(&'a str, &'a str),
    AtMost(&'a str),
    AtLeast(&'a str),
}

fn sk_condition(range: &SkRange) -> Option<SkCondition<'_>> {
    // Stored sort keys are never empty, so an empty bound is "no bound" from below and
    // "nothing" from above.
    Some(match range {
        SkRange::All => SkCondition::All,
        SkRange::Prefix(p) if p.is_empty() => SkCondition::All,
        SkRange::Prefix(p) => SkCondition::Prefix(p),
        SkRange::Between(a, b) if b.is_empty() || a > b => return None,
        SkRange::Between(a, b) if a.is_empty() => SkCondition::AtMost(b),
        SkRange::Between(a, b) => SkCondition::Between(a, b),
        SkRange::AtMost(b) if b.is_empty() => return None,
        SkRange::AtMost(b) => SkCondition::AtMost(b),
        SkRange::AtLeast(a) if a.is_empty() => SkCondition::All,
        SkRange::AtLeast(a) => SkCondition::AtLeast(a),
    })
}

fn key_condition(pk_attr: &str, sk_attr: &str, pk: &str, range: &SkCondition<'_>, expr: &mut Expr) -> String {
    let pk_value = expr.value(s(pk));
    let mut condition = format!("{} = {pk_value}", expr.name(pk_attr));
    let sk = expr.name(sk_attr);
    let sk_part = match range {
        SkCondition::All => {
            // `name` registered `#sk`; drop it again so no unused name is sent.
            expr.names.remove(&sk);
            return condition;
        }
        SkCondition::Prefix(p) => format!("begins_with({sk}, {})", expr.value(s(p))),
        SkCondition::Between(a, b) => {
            let a = expr.value(s(a));
            let b = expr.value(s(b));
            format!("{sk} BETWEEN {a} AND {b}")
        }
        SkCondition::AtMost(b) => format!("{sk} <= {}", expr.value(s(b))),
        SkCondition::AtLeast(a) => format!("{sk} >= {}", expr.value(s(a))),
    };
    condition.push_str(" AND ");
    condition.push_str(&sk_part);
    condition
}

/// The `ExclusiveStartKey` of a decoded cursor.
fn start_key(position: &Position, index: Option<Index>) -> Result<Attrs, TableError> {
    let mut attrs = key_attrs(&position.key);
    let mut keys = vec![&position.key];
    if let Some(index) = index {
        let index_key = position.index_key.as_ref().ok_or(TableError::InvalidCursor)?;
        let (pk_attr, sk_attr) = index_attrs(index);
        attrs.insert(pk_attr, s(&index_key.pk));
        attrs.insert(sk_attr, s(&index_key.sk));
        keys.push(index_key);
    }
    if keys.iter().any(|k| k.pk.is_empty() || k.sk.is_empty()) {
        return Err(TableError::InvalidCursor);
    }
    Ok(attrs)
}

/// The cursor after the item (or `LastEvaluatedKey`) `attrs`.
fn cursor_after(attrs: &Attrs, index: Option<Index>) -> Result<String, TableError> {
    let key_of = |pk_attr: &str, sk_attr: &str| match (string_attr(attrs, pk_attr), string_attr(attrs, sk_attr)) {
        (Some(pk), Some(sk)) => Ok(Key { pk, sk }),
        _ => Err(backend_msg(format!("malformed query position: no string `{pk_attr}`/`{sk_attr}`"))),
    };
    let key = key_of(PK, SK)?;
    let index_key = match index {
        None => None,
        Some(index) => {
            let (pk_attr, sk_attr) = index_attrs(index);
            Some(key_of(&pk_attr, &sk_attr)?)
        }
    };
    Ok(Position { key, index_key }.encode())
}

// ---------------------------------------------------------------------------------------------
// The port

#[async_trait]
impl Table for DynamoTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, TableError> {
        if key.pk.is_empty() || key.sk.is_empty() {
            return Ok(None);
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.table_name)
            .set_key(Some(key_attrs(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_backend("GetItem", &e))?;
        out.item().map(from_attrs).transpose()
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, TableError> {
        // A batch may not name one key twice; keys no item can have are not asked for.
        let unique: BTreeSet<&Key> = keys.iter().filter(|k| !k.pk.is_empty() && !k.sk.is_empty()).collect();
        let unique: Vec<&Key> = unique.into_iter().collect();
        let mut found: HashMap<Key, Item> = HashMap::with_capacity(unique.len());
        for chunk in unique.chunks(MAX_BATCH_READ) {
            let keys = chunk.iter().map(|key| key_attrs(key)).collect();
            let wanted = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(|e| backend_msg(format!("BatchGetItem: {e}")))?;
            for attrs in self.batch_get(wanted).await? {
                let item = from_attrs(&attrs)?;
                found.insert(item.key.clone(), item);
            }
        }
        Ok(keys.iter().map(|key| found.get(key).cloned()).collect())
    }

    async fn query(&self, query: &Query) -> Result<Page, TableError> {
        let start = query.cursor.as_deref().map(|c| Position::decode(c, query)).transpose()?;
        let start = start.map(|position| start_key(&position, query.index)).transpose()?;
        let Some(range) = sk_condition(&query.sk) else {
            return Ok(Page::default());
        };
        if query.pk.is_empty() {
            return Ok(Page::default());
        }
        let (pk_attr, sk_attr) = match query.index {
            None => (PK.to_string(), SK.to_string()),
            Some(index) => index_attrs(index),
        };
        let limit = query.limit.clamp(1, MAX_PAGE);
        let mut expr = Expr::default();
        let condition = key_condition(&pk_attr, &sk_attr, &query.pk, &range, &mut expr);
        let (names, values) = expr.into_parts();
        let has_cursor = start.is_some();
        // One more than the page: DynamoDB reports a `LastEvaluatedKey` whenever the page is
        // full, but a page holding everything must come without a cursor.
        let request = self
            .client
            .query()
            .table_name(&self.table_name)
            .set_index_name(query.index.map(|i| i.name().to_string()))
            .set_consistent_read(query.index.is_none().then_some(true))
            .key_condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .scan_index_forward(!query.descending)
            .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start);
        let out = request.send().await.map_err(|e| {
            if has_cursor && e.code() == Some("ValidationException") {
                TableError::InvalidCursor
            } else {
                sdk_backend("Query", &e)
            }
        })?;

        let raw = out.items();
        let more = raw.len() > limit;
        let raw = &raw[..raw.len().min(limit)];
        let items = raw.iter().map(from_attrs).collect::<Result<Vec<_>, _>>()?;
        let cursor = match (more, raw.last(), out.last_evaluated_key()) {
            (true, Some(last), _) => Some(cursor_after(last, query.index)?),
            // A page cut short by DynamoDB's 1 MB limit.
            (false, _, Some(last_evaluated)) => Some(cursor_after(last_evaluated, query.index)?),
            _ => None,
        };
        Ok(Page { items, cursor })
    }

    async fn write(&self, writes: Vec<Write>) -> Result<(), TableError> {
        check_transaction(&writes)?;
        writes.iter().try_for_each(check_write_keys)?;
        match writes.as_slice() {
            [] => Ok(()),
            [single] if !matches!(single, Write::Check { .. }) => self.write_one(request(single)).await,
            _ => self.transact(&writes).await,
        }
    }

    async fn put_all(&self, items: Vec<Item>) -> Result<(), TableError> {
        for item in &items {
            item.check_size()?;
            check_key(&item.key, "an item")?;
            item.indexes.iter().flatten().try_for_each(|k| check_key(k, "an index key"))?;
        }
        // A batch may not name one key twice; the last item for a key wins, as if written in order.
        let mut last_of: HashMap<&Key, usize> = HashMap::new();
        for (position, item) in items.iter().enumerate() {
            last_of.insert(&item.key, position);
        }
        let unique: Vec<&Item> = items
            .iter()
            .enumerate()
            .filter(|(position, item)| last_of.get(&item.key) == Some(position))
            .map(|(_, item)| item)
            .collect();
        for chunk in unique.chunks(BATCH_SIZE) {
            let requests = chunk
                .iter()
                .map(|item| {
                    let put = PutRequest::builder()
                        .set_item(Some(to_attrs(item)))
                        .build()
                        .map_err(|e| backend_msg(format!("BatchWriteItem: {e}")))?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<Result<Vec<_>, TableError>>()?;
            self.batch_write(requests).await?;
        }
        Ok(())
    }

    async fn delete_all(&self, keys: Vec<Key>) -> Result<(), TableError> {
        keys.iter().try_for_each(|k| check_key(k, "an item"))?;
        // A batch may not name one key twice.
        let unique: std::collections::BTreeSet<&Key> = keys.iter().collect();
        let unique: Vec<&Key> = unique.into_iter().collect();
        for chunk in unique.chunks(BATCH_SIZE) {
            let requests = chunk
                .iter()
                .map(|key| {
                    let delete = DeleteRequest::builder()
                        .set_key(Some(key_attrs(key)))
                        .build()
                        .map_err(|e| backend_msg(format!("BatchWriteItem: {e}")))?;
                    Ok(WriteRequest::builder().delete_request(delete).build())
                })
                .collect::<Result<Vec<_>, TableError>>()?;
            self.batch_write(requests).await?;
        }
        Ok(())
    }
}

impl DynamoTable {
    async fn write_one(&self, request: Request) -> Result<(), TableError> {
        let Request { kind, condition, names, values } = request;
        let table = &self.table_name;
        match kind {
            RequestKind::Put(item) => self
                .client
                .put_item()
                .table_name(table)
                .set_item(Some(item))
                .set_condition_expression(condition)
                .set_expression_attribute_names(names)
                .set_expression_attribute_values(values)
                .send()
                .await
                .map(drop)
                .map_err(|e| single_write_error("PutItem", &e)),
            RequestKind::Update { key, expression } => self
                .client
                .update_item()
                .table_name(table)
                .set_key(Some(key))
                .update_expression(expression)
                .set_condition_expression(condition)
                .set_expression_attribute_names(names)
                .set_expression_attribute_values(values)
                .send()
                .await
                .map(drop)
                .map_err(|e| single_write_error("UpdateItem", &e)),
            RequestKind::Delete(key) => self
                .client
                .delete_item()
                .table_name(table)
                .set_key(Some(key))
                .set_condition_expression(condition)
                .set_expression_attribute_names(names)
                .set_expression_attribute_values(values)
                .send()
                .await
                .map(drop)
                .map_err(|e| single_write_error("DeleteItem", &e)),
            RequestKind::Check(key) => {
                // Not reached (`write` sends checks in a transaction); kept total for safety.
                let request = Request { kind: RequestKind::Check(key), condition, names, values };
                self.send_transaction(vec![transact_item(table, request)?]).await
            }
        }
    }

    async fn transact(&self, writes: &[Write]) -> Result<(), TableError> {
        let items = writes
            .iter()
            .map(|write| transact_item(&self.table_name, request(write)))
            .collect::<Result<Vec<_>, _>>()?;
        self.send_transaction(items).await
    }

    async fn send_transaction(&self, items: Vec<TransactWriteItem>) -> Result<(), TableError> {
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map(drop)
            .map_err(|e| transaction_error(&e))
    }

    /// Sends one batch, retrying unprocessed items (and throttled calls) with exponential
    /// backoff and jitter, up to `BATCH_ATTEMPTS` calls.
    /// Reads `wanted` with `BatchGetItem`, asking again (with back-off) for the keys DynamoDB
    /// left unprocessed.
    async fn batch_get(&self, mut wanted: KeysAndAttributes) -> Result<Vec<Attrs>, TableError> {
        let mut items = Vec::new();
        let mut backoff = Backoff::default();
        for attempt in 1..=BATCH_ATTEMPTS {
            let result =
                self.client.batch_get_item().request_items(self.table_name.clone(), wanted.clone()).send().await;
            match result {
                Ok(out) => {
                    items.extend(out.responses().and_then(|r| r.get(&self.table_name)).cloned().unwrap_or_default());
                    match out.unprocessed_keys().and_then(|u| u.get(&self.table_name)) {
                        Some(rest) if !rest.keys().is_empty() => wanted = rest.clone(),
                        _ => return Ok(items),
                    }
                }
                Err(e) if is_contention_code(e.code()) => {}
                Err(e) => return Err(sdk_backend("BatchGetItem", &e)),
            }
            if attempt < BATCH_ATTEMPTS {
                backoff.wait().await;
            }
        }
        Err(backend_msg(format!(
            "BatchGetItem: {} keys still unprocessed after {BATCH_ATTEMPTS} attempts",
            wanted.keys().len()
        )))
    }

    async fn batch_write(&self, mut requests: Vec<WriteRequest>) -> Result<(), TableError> {
        let mut backoff = Backoff::default();
        for attempt in 1..=BATCH_ATTEMPTS {
            let result =
                self.client.batch_write_item().request_items(self.table_name.clone(), requests.clone()).send().await;
            match result {
                Ok(out) => {
                    requests = out
                        .unprocessed_items()
                        .and_then(|unprocessed| unprocessed.get(&self.table_name))
                        .cloned()
                        .unwrap_or_default();
                    if requests.is_empty() {
                        return Ok(());
                    }
                }
                Err(e) if is_contention_code(e.code()) => {}
                Err(e) => return Err(sdk_backend("BatchWriteItem", &e)),
            }
            if attempt < BATCH_ATTEMPTS {
                backoff.wait().await;
            }
        }
        Err(backend_msg(format!(
            "BatchWriteItem: {} items still unprocessed after {BATCH_ATTEMPTS} attempts",
            requests.len()
        )))
    }
}

/// The wait before a batch asks again for what DynamoDB left unprocessed: from 50 ms,
/// doubling up to 5 s, with up to half again of jitter.
struct Backoff {
    delay_ms: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { delay_ms: 50 }
    }
}

impl Backoff {
    async fn wait(&mut self) {
        let jitter = rand::random_range(0..=self.delay_ms / 2);
        tokio::time::sleep(Duration::from_millis(self.delay_ms + jitter)).await;
        self.delay_ms = (self.delay_ms * 2).min(5_000);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_item() -> Item {
        let mut item = Item::new(Key::new("P", "S"), r#"{"a":1}"#.into());
        item.indexes[2] = Some(Key::new("G", "2026"));
        item.state = Some("Queued".into());
        item.version = 3;
        item.ttl = Some(-5);
        item.counters = BTreeMap::from([("queued".into(), 2), ("errors".into(), -1)]);
        item
    }

    #[test]
    fn items_round_trip_through_attributes() {
        let item = full_item();
        let attrs = to_attrs(&item);
        assert_eq!(attrs.get("gsi3pk"), Some(&s("G")));
        assert!(!attrs.contains_key("gsi1pk"));
        assert_eq!(attrs.get("n_queued"), Some(&n(2)));
        assert_eq!(from_attrs(&attrs).unwrap(), item);
        let bare = Item::new(Key::new("P", "S"), String::new());
        assert_eq!(from_attrs(&to_attrs(&bare)).unwrap(), bare);
    }

    #[test]
    fn malformed_items_are_backend_errors() {
        let mut attrs = to_attrs(&full_item());
        attrs.insert("v".into(), s("1"));
        assert!(matches!(from_attrs(&attrs), Err(TableError::Backend(m)) if m.starts_with("malformed item P/S")));
        let mut attrs = to_attrs(&full_item());
        attrs.remove("gsi3sk");
        assert!(matches!(from_attrs(&attrs), Err(TableError::Backend(_))));
        let mut attrs = to_attrs(&full_item());
        attrs.insert("n_x".into(), n("1.5"));
        assert!(matches!(from_attrs(&attrs), Err(TableError::Backend(_))));
        assert!(matches!(from_attrs(&HashMap::new()), Err(TableError::Backend(_))));
    }

    #[test]
    fn updates_build_one_expression_and_name_every_attribute() {
        let update = Update {
            data: Some("{}".into()),
            state: Some(None),
            indexes: [Some(None), Some(Some(Key::new("a", "b"))), None],
            ttl: Some(Some(9)),
            add: vec![("x".into(), 1), ("y".into(), 2), ("x".into(), 3)],
        };
        let mut expr = Expr::default();
        let condition = condition_expression(&Condition::State("Queued".into()), true, &mut expr);
        let expression = update_expression(&update, &mut expr);
        assert_eq!(condition.as_deref(), Some("attribute_exists(#pk) AND #st = :v0"));
        assert_eq!(
            expression,
            "SET #v = #v + :v1, #d = :v2, #gsi2pk = :v3, #gsi2sk = :v4, #ttl = :v5 \
             REMOVE #st, #gsi1pk, #gsi1sk ADD #c0 :v6, #c1 :v7"
        );
        assert_eq!(expr.values.get(":v6"), Some(&n(4)));
        assert_eq!(expr.names.get("#c1").map(String::as_str), Some("n_y"));
    }

    #[test]
    fn ranges_without_possible_matches_skip_dynamodb() {
        assert!(sk_condition(&SkRange::AtMost(String::new())).is_none());
        assert!(sk_condition(&SkRange::Between("b".into(), "a".into())).is_none());
        assert!(matches!(sk_condition(&SkRange::Prefix(String::new())), Some(SkCondition::All)));
        let mut expr = Expr::default();
        assert_eq!(key_condition("pk", "sk", "p", &SkCondition::All, &mut expr), "#pk = :v0");
        assert_eq!(expr.names.len(), 1);
    }
}
