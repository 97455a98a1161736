//! Interactions: the workspace's event history (offers sent, viewed, completed; transactions)
//! behind the built-in "Offer performance" and "Channel effectiveness" sources.
//!
//! Clients send interactions in batches; [`parse_interaction`] checks one element and reports
//! every problem with its path. Each stored interaction adds to one [`DailySummary`] (per UTC
//! day, offer and channel), which is what the analytics sources read.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{FieldError, InteractionId, WorkspaceId};

/// Most interactions one ingest request may hold.
pub const MAX_INGEST_BATCH: usize = 10_000;

/// Longest client id, customer id or offer id.
const MAX_ID_LEN: usize = 128;

/// Largest amount accepted (keeps cent counters far from overflow).
const MAX_AMOUNT: f64 = 1e12;

/// How far in the future an `occurred_at` may be (clock skew between client and server).
const MAX_FUTURE: chrono::Duration = chrono::Duration::hours(24);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InteractionKind {
    Received,
    Viewed,
    Completed,
    Transaction,
}

impl InteractionKind {
    pub const ALL: [InteractionKind; 4] =
        [InteractionKind::Received, InteractionKind::Viewed, InteractionKind::Completed, InteractionKind::Transaction];

    pub fn as_str(self) -> &'static str {
        match self {
            InteractionKind::Received => "received",
            InteractionKind::Viewed => "viewed",
            InteractionKind::Completed => "completed",
            InteractionKind::Transaction => "transaction",
        }
    }

    /// Events about an offer (which must name it).
    pub fn is_offer_event(self) -> bool {
        self != InteractionKind::Transaction
    }

    /// The daily-summary counter this kind of interaction adds one to.
    pub fn counter(self) -> &'static str {
        match self {
            InteractionKind::Received => "received",
            InteractionKind::Viewed => "viewed",
            InteractionKind::Completed => "completed",
            InteractionKind::Transaction => "transactions",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OfferKind {
    Bogo,
    Discount,
    Informational,
}

impl OfferKind {
    pub const ALL: [OfferKind; 3] = [OfferKind::Bogo, OfferKind::Discount, OfferKind::Informational];

    pub fn as_str(self) -> &'static str {
        match self {
            OfferKind::Bogo => "bogo",
            OfferKind::Discount => "discount",
            OfferKind::Informational => "informational",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Mobile,
    Social,
    Web,
}

impl Channel {
    pub const ALL: [Channel; 4] = [Channel::Email, Channel::Mobile, Channel::Social, Channel::Web];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Mobile => "mobile",
            Channel::Social => "social",
            Channel::Web => "web",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    pub id: InteractionId,
    pub workspace_id: WorkspaceId,
    /// The client's own id: sending an interaction with a known id again changes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    pub customer_id: String,
    #[serde(rename = "type")]
    pub kind: InteractionKind,
    pub offer_id: Option<String>,
    pub offer_kind: Option<OfferKind>,
    pub channel: Option<Channel>,
    /// Money spent (transactions) or the reward granted (completed offers).
    pub amount: Option<f64>,
    pub occurred_at: DateTime<Utc>,
    /// When Herald received it; exports checkpoint on this.
    pub created_at: DateTime<Utc>,
}

impl Interaction {
    /// What makes the interaction unique in its workspace: the client's id when it sent one,
    /// else Herald's own id (so only interactions with a client id are idempotent).
    pub fn dedupe_key(&self) -> String {
        match &self.client_id {
            Some(client) => format!("C#{client}"),
            None => format!("I#{}", self.id),
        }
    }

    /// The UTC day it belongs to.
    pub fn day(&self) -> NaiveDate {
        self.occurred_at.date_naive()
    }

    /// Whether it arrived more than [`LATE_AFTER`] after it occurred.
    pub fn is_late(&self) -> bool {
        self.created_at - self.occurred_at > LATE_AFTER
    }

    /// The UTC quarter-hour it belongs to (its start).
    pub fn quarter(&self) -> DateTime<Utc> {
        quarter_of(self.occurred_at)
    }

    /// The amount in whole cents (rounded half away from zero), 0 when absent.
    pub fn amount_cents(&self) -> i64 {
        self.amount.map_or(0, |a| (a * 100.0).round() as i64)
    }

    /// The counters this interaction adds to its daily summary.
    pub fn increments(&self) -> Vec<(&'static str, i64)> {
        let mut add = vec![(self.kind.counter(), 1)];
        match self.kind {
            InteractionKind::Transaction => add.push((DailySummary::AMOUNT_CENTS, self.amount_cents())),
            InteractionKind::Completed if self.amount.is_some() => {
                add.push((DailySummary::REWARD_CENTS, self.amount_cents()))
            }
            _ => {}
        }
        add
    }
}

/// How long after it occurred an interaction may arrive before it counts as late: past this,
/// a report of its day may already have been read without it.
pub const LATE_AFTER: Duration = Duration::hours(1);

/// What ingest took in over one UTC quarter-hour of a workspace (the Data health figures).
/// Batches are counted when they arrive: a refused batch stored nothing, a late one held at
/// least one interaction that arrived more than [`LATE_AFTER`] after it occurred.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestTally {
    pub batches: i64,
    pub refused_batches: i64,
    pub late_batches: i64,
    /// Interactions newly stored.
    pub received: i64,
    /// Interactions already stored, not counted again.
    pub duplicates: i64,
    /// Interactions stored late.
    pub late: i64,
}

impl IngestTally {
    pub const COUNTERS: [&'static str; 6] =
        ["batches", "refused_batches", "late_batches", "received", "duplicates", "late"];

    /// A batch that was refused whole.
    pub fn refused() -> Self {
        Self { batches: 1, refused_batches: 1, ..Self::default() }
    }

    /// A batch that stored `received` interactions (`late` of them late) and found
    /// `duplicates` already stored.
    pub fn stored(received: usize, duplicates: usize, late: usize) -> Self {
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        Self {
            batches: 1,
            refused_batches: 0,
            late_batches: i64::from(late > 0),
            received: count(received),
            duplicates: count(duplicates),
            late: count(late),
        }
    }

    pub fn counters(&self) -> [(&'static str, i64); 6] {
        let values = [self.batches, self.refused_batches, self.late_batches, self.received, self.duplicates, self.late];
        std::array::from_fn(|i| (Self::COUNTERS[i], values[i]))
    }

    pub fn set_counter(&mut self, name: &str, value: i64) {
        match name {
            "batches" => self.batches = value,
            "refused_batches" => self.refused_batches = value,
            "late_batches" => self.late_batches = value,
            "received" => self.received = value,
            "duplicates" => self.duplicates = value,
            "late" => self.late = value,
            _ => {}
        }
    }

    pub fn add(&mut self, other: &Self) {
        self.batches += other.batches;
        self.refused_batches += other.refused_batches;
        self.late_batches += other.late_batches;
        self.received += other.received;
        self.duplicates += other.duplicates;
        self.late += other.late;
    }
}

/// What one workspace's interactions of one UTC day, offer and channel add up to. Offer-less
/// interactions (plain transactions) and channel-less ones have their own summaries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailySummary {
    pub day: NaiveDate,
    pub offer_id: Option<String>,
    pub channel: Option<Channel>,
    /// The offer's kind, as the interactions named it.
    pub offer_kind: Option<OfferKind>,
    /// Counters (kept as atomic counters of the stored item, not in its data).
    #[serde(skip)]
    pub received: i64,
    #[serde(skip)]
    pub viewed: i64,
    #[serde(skip)]
    pub completed: i64,
    #[serde(skip)]
    pub transactions: i64,
    /// Sum of transaction amounts, in cents.
    #[serde(skip)]
    pub amount_cents: i64,
    /// Sum of completed offers' rewards, in cents.
    #[serde(skip)]
    pub reward_cents: i64,
}

impl DailySummary {
    pub const AMOUNT_CENTS: &'static str = "amount_cents";
    pub const REWARD_CENTS: &'static str = "reward_cents";

    /// The empty summary an interaction adds to.
    pub fn of(interaction: &Interaction) -> Self {
        Self {
            day: interaction.day(),
            offer_id: interaction.offer_id.clone(),
            channel: interaction.channel,
            offer_kind: interaction.offer_kind,
            ..Default::default()
        }
    }

    /// Sets counter `name` (one of [`DailySummary::COUNTERS`]).
    pub fn set_counter(&mut self, name: &str, value: i64) {
        match name {
            "received" => self.received = value,
            "viewed" => self.viewed = value,
            "completed" => self.completed = value,
            "transactions" => self.transactions = value,
            Self::AMOUNT_CENTS => self.amount_cents = value,
            Self::REWARD_CENTS => self.reward_cents = value,
            _ => {}
        }
    }

    /// Adds what `interaction` counts to the summary's counters.
    pub fn count(&mut self, interaction: &Interaction) {
        for (name, delta) in interaction.increments() {
            match name {
                "received" => self.received += delta,
                "viewed" => self.viewed += delta,
                "completed" => self.completed += delta,
                "transactions" => self.transactions += delta,
                Self::AMOUNT_CENTS => self.amount_cents += delta,
                Self::REWARD_CENTS => self.reward_cents += delta,
                _ => {}
            }
        }
    }

    /// The same summary with its counters negated: what taking it away from a sum adds.
    pub fn negated(self) -> Self {
        Self {
            received: -self.received,
            viewed: -self.viewed,
            completed: -self.completed,
            transactions: -self.transactions,
            amount_cents: -self.amount_cents,
            reward_cents: -self.reward_cents,
            ..self
        }
    }

    /// Counter names, as stored.
    pub const COUNTERS: [&'static str; 6] =
        ["received", "viewed", "completed", "transactions", Self::AMOUNT_CENTS, Self::REWARD_CENTS];
}

/// Summaries are also kept per UTC quarter-hour, the finest step of any zone's offset, so a
/// day of any zone is whole UTC days plus quarters at its edges.
pub const QUARTER_MINUTES: i64 = 15;

/// The start of the UTC quarter-hour holding `at`.
pub fn quarter_of(at: DateTime<Utc>) -> DateTime<Utc> {
    let step = QUARTER_MINUTES * 60;
    DateTime::from_timestamp(at.timestamp().div_euclid(step) * step, 0).unwrap_or(at)
}

/// Reads one interaction of an ingest batch (a JSON object) received at `now`. Every problem
/// is reported, each with `path` prefixed to the field (`interactions[3].offer_id`).
pub fn parse_interaction(
    value: &Value,
    path: &str,
    workspace_id: WorkspaceId,
    now: DateTime<Utc>,
) -> Result<Interaction, Vec<FieldError>> {
    let Some(object) = value.as_object() else {
        return Err(vec![FieldError::new(path, "must be a JSON object")]);
    };
    let mut fields = Fields { object, path, errors: Vec::new() };
    fields.reject_unknown();

    let client_id = fields.id("id", false);
    let customer_id = fields.id("customer_id", true);
    let kind = fields.choice("type", &InteractionKind::ALL, InteractionKind::as_str, true);
    let offer_id = fields.id("offer_id", false);
    let offer_kind = fields.choice("offer_kind", &OfferKind::ALL, OfferKind::as_str, false);
    let channel = fields.choice("channel", &Channel::ALL, Channel::as_str, false);
    let amount = fields.amount();
    let occurred_at = fields.time("occurred_at", now);

    if let Some(kind) = kind {
        if kind.is_offer_event() && offer_id.is_none() && fields.absent("offer_id") {
            fields.error("offer_id", format!("is required for `{}` interactions", kind.as_str()));
        }
        if kind == InteractionKind::Transaction && amount.is_none() && fields.absent("amount") {
            fields.error("amount", "is required for `transaction` interactions");
        }
    }
    let errors = fields.errors;
    match (customer_id, kind, occurred_at) {
        (Some(customer_id), Some(kind), Some(occurred_at)) if errors.is_empty() => Ok(Interaction {
            id: InteractionId::generate(now),
            workspace_id,
            client_id,
            customer_id,
            kind,
            offer_id,
            offer_kind,
            channel,
            amount,
            occurred_at,
            created_at: now,
        }),
        _ => Err(errors),
    }
}

const KNOWN_FIELDS: [&str; 9] =
    ["id", "customer_id", "type", "offer_id", "offer_kind", "channel", "amount", "occurred_at", "created_at"];

/// The fields of one input object and the problems found so far.
struct Fields<'a> {
    object: &'a Map<String, Value>,
    path: &'a str,
    errors: Vec<FieldError>,
}

impl Fields<'_> {
    fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(format!("{}.{field}", self.path), message));
    }

    /// Present and not null.
    fn get(&self, field: &str) -> Option<&Value> {
        self.object.get(field).filter(|v| !v.is_null())
    }

    fn absent(&self, field: &str) -> bool {
        self.get(field).is_none()
    }

    fn reject_unknown(&mut self) {
        let unknown: Vec<String> =
            self.object.keys().filter(|k| !KNOWN_FIELDS.contains(&k.as_str())).cloned().collect();
        for key in unknown {
            self.error(&key, "is not a field of an interaction");
        }
        if self.object.contains_key("created_at") {
            self.error("created_at", "is set by Herald when it receives the interaction");
        }
    }

    fn required(&mut self, field: &str) {
        self.error(field, "is required");
    }

    /// An identifier: 1–128 characters, no whitespace or control characters.
    fn id(&mut self, field: &str, required: bool) -> Option<String> {
        match self.get(field) {
            None => {
                if required {
                    self.required(field);
                }
                None
            }
            Some(Value::String(s))
                if !s.is_empty()
                    && s.chars().count() <= MAX_ID_LEN
                    && !s.chars().any(|c| c.is_whitespace() || c.is_control()) =>
            {
                Some(s.clone())
            }
            Some(Value::String(_)) => {
                self.error(field, "must be 1 to 128 characters without spaces or control characters");
                None
            }
            Some(_) => {
                self.error(field, "must be a string");
                None
            }
        }
    }

    fn choice<T: Copy>(&mut self, field: &str, all: &[T], name: fn(T) -> &'static str, required: bool) -> Option<T> {
        match self.get(field) {
            None => {
                if required {
                    self.required(field);
                }
                None
            }
            Some(value) => {
                let found = value.as_str().and_then(|s| all.iter().copied().find(|&v| name(v) == s));
                if found.is_none() {
                    let names: Vec<&str> = all.iter().map(|&v| name(v)).collect();
                    self.error(field, format!("must be one of {}", names.join(", ")));
                }
                found
            }
        }
    }

    fn amount(&mut self) -> Option<f64> {
        let value = self.get("amount")?;
        match value.as_f64() {
            Some(a) if a.is_finite() && (0.0..=MAX_AMOUNT).contains(&a) => Some(a),
            Some(_) => {
                self.error("amount", "must be a number between 0 and 1000000000000");
                None
            }
            None => {
                self.error("amount", "must be a number");
                None
            }
        }
    }

    fn time(&mut self, field: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let Some(value) = self.get(field) else {
            self.required(field);
            return None;
        };
        match value.as_str().map(DateTime::parse_from_rfc3339) {
            Some(Ok(at)) => {
                let at = at.with_timezone(&Utc);
                if at > now + MAX_FUTURE {
                    self.error(field, "must not be more than 24 hours in the future");
                    None
                } else if at.timestamp() < 0 {
                    self.error(field, "must be after 1970-01-01");
                    None
                } else {
                    Some(at)
                }
            }
            _ => {
                self.error(field, "must be an RFC 3339 timestamp, e.g. 2026-11-20T14:03:00Z");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 8, 0, 0).unwrap()
    }

    fn ws() -> WorkspaceId {
        WorkspaceId::generate(now())
    }

    fn fields(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_complete_interaction_is_read_with_the_receipt_time() {
        let i = parse_interaction(
            &json!({
                "id": "evt-1", "customer_id": "c1", "type": "completed", "offer_id": "o1",
                "offer_kind": "bogo", "channel": "email", "amount": 5.0, "occurred_at": "2026-11-21T10:00:00+01:00"
            }),
            "interactions[0]",
            ws(),
            now(),
        )
        .unwrap();
        assert_eq!(i.client_id.as_deref(), Some("evt-1"));
        assert_eq!(
            (i.kind, i.offer_kind, i.channel),
            (InteractionKind::Completed, Some(OfferKind::Bogo), Some(Channel::Email))
        );
        assert_eq!(i.occurred_at, Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap());
        assert_eq!(i.created_at, now());
        assert_eq!(i.dedupe_key(), "C#evt-1");
        assert_eq!(i.increments(), vec![("completed", 1), ("reward_cents", 500)]);
    }

    #[test]
    fn every_problem_of_an_interaction_is_reported_with_its_path() {
        let errors = parse_interaction(
            &json!({"type": "viewed", "channel": "fax", "amount": -1, "occurred_at": "yesterday", "extra": 1}),
            "interactions[3]",
            ws(),
            now(),
        )
        .unwrap_err();
        assert_eq!(
            fields(errors),
            [
                "interactions[3].extra",
                "interactions[3].customer_id",
                "interactions[3].channel",
                "interactions[3].amount",
                "interactions[3].occurred_at",
                "interactions[3].offer_id"
            ]
        );
    }

    #[test]
    fn a_transaction_needs_an_amount_but_no_offer() {
        let base = json!({"customer_id": "c1", "type": "transaction", "occurred_at": "2026-11-21T10:00:00Z"});
        let errors = parse_interaction(&base, "line 4", ws(), now()).unwrap_err();
        assert_eq!(fields(errors), ["line 4.amount"]);
        let mut with_amount = base.clone();
        with_amount["amount"] = json!(12.345);
        let t = parse_interaction(&with_amount, "line 4", ws(), now()).unwrap();
        assert_eq!(t.increments(), vec![("transactions", 1), ("amount_cents", 1235)]);
        assert!(t.dedupe_key().starts_with("I#"));
    }

    #[test]
    fn a_time_far_in_the_future_or_a_non_object_is_refused() {
        let future =
            json!({"customer_id": "c", "type": "received", "offer_id": "o", "occurred_at": "2026-11-24T00:00:00Z"});
        assert_eq!(fields(parse_interaction(&future, "p", ws(), now()).unwrap_err()), ["p.occurred_at"]);
        assert_eq!(fields(parse_interaction(&json!([1]), "p", ws(), now()).unwrap_err()), ["p"]);
    }
}
