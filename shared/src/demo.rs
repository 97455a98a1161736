//! The demo workspace: a deterministic offers/customers/interaction history in the shape of
//! the public Starbucks rewards dataset (offers of kind bogo/discount/informational sent over
//! email/mobile/social/web; events received, viewed, completed and transactions), a
//! `customers`, a `transactions` and an `offers` dataset (the catalogue that names the
//! offers), and example reports (a weekly digest, a customer statement, and the seed `003`
//! quickstart job that bursts into one emailed statement per customer, once over the datasets
//! and once in SQL over them). The same seed and day always give the same data.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde_json::{Map, Value, json};

/// One offer of the portfolio.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Offer {
    pub id: &'static str,
    pub kind: &'static str,
    /// Reward paid on completion, in dollars.
    pub reward: f64,
    /// Spend needed to complete it, in dollars.
    pub difficulty: f64,
    pub duration_days: i64,
    pub channels: &'static [&'static str],
}

/// The ten offers of the public dataset's portfolio.
pub const OFFERS: [Offer; 10] = [
    Offer {
        id: "ae264e3637204a6fb9bb56bc8210ddfd",
        kind: "bogo",
        reward: 10.0,
        difficulty: 10.0,
        duration_days: 7,
        channels: &["email", "mobile", "social"],
    },
    Offer {
        id: "4d5c57ea9a6940dd891ad53e9dbe8da0",
        kind: "bogo",
        reward: 10.0,
        difficulty: 10.0,
        duration_days: 5,
        channels: &["web", "email", "mobile", "social"],
    },
    Offer {
        id: "3f207df678b143eea3cee63160fa8bed",
        kind: "informational",
        reward: 0.0,
        difficulty: 0.0,
        duration_days: 4,
        channels: &["web", "email", "mobile"],
    },
    Offer {
        id: "9b98b8c7a33c4b65b9aebfe6a799e6d9",
        kind: "bogo",
        reward: 5.0,
        difficulty: 5.0,
        duration_days: 7,
        channels: &["web", "email", "mobile"],
    },
    Offer {
        id: "0b1e1539f2cc45b7b9fa7c272da2e1d7",
        kind: "discount",
        reward: 5.0,
        difficulty: 20.0,
        duration_days: 10,
        channels: &["web", "email"],
    },
    Offer {
        id: "2298d6c36e964ae4a3e7e9706d1fb8c2",
        kind: "discount",
        reward: 3.0,
        difficulty: 7.0,
        duration_days: 7,
        channels: &["web", "email", "mobile", "social"],
    },
    Offer {
        id: "fafdcd668e3743c1bb461111dcafc2a4",
        kind: "discount",
        reward: 2.0,
        difficulty: 10.0,
        duration_days: 10,
        channels: &["web", "email", "mobile", "social"],
    },
    Offer {
        id: "5a8bc65990b245e5a138643cd4eb9837",
        kind: "informational",
        reward: 0.0,
        difficulty: 0.0,
        duration_days: 3,
        channels: &["email", "mobile", "social"],
    },
    Offer {
        id: "f19421c1d4aa40978ebb69ca19b0e20d",
        kind: "bogo",
        reward: 5.0,
        difficulty: 5.0,
        duration_days: 5,
        channels: &["web", "email", "mobile", "social"],
    },
    Offer {
        id: "2906b810c7d4411798c6938adc9daaa5",
        kind: "discount",
        reward: 2.0,
        difficulty: 10.0,
        duration_days: 7,
        channels: &["web", "email", "mobile"],
    },
];

impl Offer {
    /// The offer as people know it, from its terms: `BOGO $10 · 7 days · web, email`,
    /// `Discount $2 on $10 · 10 days · …`, `Informational · 4 days · …`.
    pub fn name(&self) -> String {
        let dollars = |v: f64| if v.fract() == 0.0 { format!("${v:.0}") } else { format!("${v:.2}") };
        let terms = match self.kind {
            "bogo" => format!("BOGO {}", dollars(self.reward)),
            "discount" => format!("Discount {} on {}", dollars(self.reward), dollars(self.difficulty)),
            _ => "Informational".to_string(),
        };
        format!("{terms} · {} days · {}", self.duration_days, self.channels.join(", "))
    }
}

/// The offer catalogue as dataset rows: each offer's id, name and terms, so reports over the
/// interactions can name offers as people know them.
pub fn offer_catalogue() -> Vec<Map<String, Value>> {
    OFFERS
        .iter()
        .map(|o| {
            let row = json!({"id": o.id, "name": o.name(), "kind": o.kind, "reward": o.reward,
                             "difficulty": o.difficulty, "duration_days": o.duration_days,
                             "channels": o.channels.join(", ")});
            row.as_object().cloned().unwrap_or_default()
        })
        .collect()
}

/// The offer whose completions fall in the latest week, so the digest has a drop to flag.
pub const FADING_OFFER: &str = "fafdcd668e3743c1bb461111dcafc2a4";

/// Small, fast, reproducible generator (SplitMix64); the data must not change with a
/// dependency's version.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const FIRST: [&str; 24] = [
    "Ava", "Liam", "Zoë", "Noah", "Mia", "José", "Emma", "Søren", "Olivia", "Łukasz", "Amelia", "Mateo", "Chloé",
    "Ethan", "Ingrid", "Kenji", "Priya", "Omar", "Aoife", "Dmitri", "Elena", "Björn", "Grace", "Rafael",
];
const LAST: [&str; 20] = [
    "Smith",
    "García",
    "Müller",
    "Johnson",
    "Nakamura",
    "Brown",
    "Ørsted",
    "Kowalski",
    "Dubois",
    "Patel",
    "Rossi",
    "O'Brien",
    "Novak",
    "Silva",
    "Andersson",
    "Chen",
    "Ivanova",
    "Murphy",
    "Haddad",
    "Taylor",
];
const TIERS: [&str; 3] = ["green", "gold", "gold"];
const REGIONS: [&str; 4] = ["north", "south", "east", "west"];

/// `n` customers: id, name, email (a few blank, as real lists have), region, tier, age,
/// income and membership date.
pub fn customers(n: usize, seed: u64) -> Vec<Map<String, Value>> {
    let mut rng = Rng::new(seed ^ 0xC057);
    (0..n)
        .map(|i| {
            let first = *rng.pick(&FIRST);
            let last = *rng.pick(&LAST);
            let id = format!("{:032x}", u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64()));
            let local: String = format!("{first}.{last}").chars().filter(char::is_ascii_alphanumeric).collect();
            // One customer in 25 has no address on file: statements skip them by condition.
            let email = if i % 25 == 7 { String::new() } else { format!("{}.{i}@example.com", local.to_lowercase()) };
            let since =
                NaiveDate::from_ymd_opt(2013, 7, 29).unwrap_or_default() + Duration::days(rng.below(1800) as i64);
            let object = json!({
                "id": id,
                "name": format!("{first} {last}"),
                "email": email,
                "region": *rng.pick(&REGIONS),
                "tier": *rng.pick(&TIERS),
                "age": 18 + rng.below(70),
                "income": 30_000 + 1_000 * rng.below(90),
                "became_member_on": since.format("%Y-%m-%d").to_string(),
            });
            match object {
                Value::Object(map) => map,
                _ => Map::new(),
            }
        })
        .collect()
}

/// The generated history: interactions in the API's ingest shape, and every transaction as
/// a statement line.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub interactions: Vec<Value>,
    pub transactions: Vec<Map<String, Value>>,
}

/// `days` days of history ending on `today` (UTC) for `customers`: an offer wave every 7
/// days (as in the public dataset), views and completions with channel- and kind-dependent
/// odds, and everyday purchases. [`FADING_OFFER`] completes less often in the last week.
pub fn history(customers: &[Map<String, Value>], today: NaiveDate, days: i64, seed: u64) -> History {
    let mut rng = Rng::new(seed ^ 0x1157);
    let mut out = History::default();
    let start = today - Duration::days(days - 1);
    let at = |day: NaiveDate, minutes: u64| -> DateTime<Utc> {
        Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default()) + Duration::minutes(minutes as i64)
    };
    let mut seq = 0u64;
    let mut push = |out: &mut History, event: Value| {
        seq += 1;
        let mut event = event;
        event["id"] = Value::String(format!("demo-{seed:x}-{seq:08}"));
        out.interactions.push(event);
    };
    for customer in customers {
        let id = customer.get("id").and_then(Value::as_str).unwrap_or_default();
        let mut day = start;
        while day <= today {
            let offset = (day - start).num_days();
            let minutes = 8 * 60 + rng.below(12 * 60) as u64;
            let latest_week = (today - day).num_days() < 7;
            if offset % 7 == 0 && rng.chance(0.6) {
                let offer = *rng.pick(&OFFERS);
                let channel = *rng.pick(offer.channels);
                let base =
                    json!({"customer_id": id, "offer_id": offer.id, "offer_kind": offer.kind, "channel": channel});
                let mut event = base.clone();
                event["type"] = json!("received");
                event["occurred_at"] = json!(at(day, minutes));
                push(&mut out, event);
                let view_odds = match channel {
                    "social" => 0.78,
                    "mobile" => 0.7,
                    "email" => 0.55,
                    _ => 0.45,
                };
                let viewed_after = rng.below(3) as i64;
                if rng.chance(view_odds) && day + Duration::days(viewed_after) <= today {
                    let mut event = base.clone();
                    event["type"] = json!("viewed");
                    event["occurred_at"] = json!(at(day + Duration::days(viewed_after), minutes + 90));
                    push(&mut out, event);
                    let mut odds = match offer.kind {
                        "bogo" => 0.5,
                        "discount" => 0.6,
                        _ => 0.0,
                    };
                    let completed_after = viewed_after + rng.below(offer.duration_days as usize) as i64;
                    let completion_day = day + Duration::days(completed_after);
                    if offer.id == FADING_OFFER && (today - completion_day).num_days() < 7 {
                        odds *= 0.45;
                    }
                    if rng.chance(odds) && completion_day <= today {
                        let spend = offer.difficulty + (rng.unit() * 8.0 * 100.0).round() / 100.0;
                        let when = at(completion_day, minutes + 240);
                        let mut event = base.clone();
                        event["type"] = json!("completed");
                        event["amount"] = json!(offer.reward);
                        event["occurred_at"] = json!(when);
                        push(&mut out, event);
                        purchase(
                            &mut out,
                            &mut push,
                            id,
                            when - Duration::minutes(1),
                            spend,
                            channel,
                            Some(offer.kind),
                        );
                    }
                }
            }
            // Everyday purchases, a little busier at the weekend.
            if rng.chance(if latest_week { 0.28 } else { 0.3 }) {
                let spend = (2.0 + rng.unit() * rng.unit() * 28.0) * 100.0;
                let channel = *rng.pick(&["mobile", "web"]);
                purchase(&mut out, &mut push, id, at(day, minutes + 30), spend.round() / 100.0, channel, None);
            }
            day += Duration::days(1);
        }
    }
    out
}

fn purchase(
    out: &mut History,
    push: &mut impl FnMut(&mut History, Value),
    customer: &str,
    when: DateTime<Utc>,
    amount: f64,
    channel: &str,
    offer_kind: Option<&str>,
) {
    push(
        out,
        json!({"customer_id": customer, "type": "transaction", "amount": amount, "channel": channel, "occurred_at": when}),
    );
    let description = match offer_kind {
        Some("bogo") => "Purchase (buy one, get one)",
        Some("discount") => "Purchase (discount applied)",
        _ => "Purchase",
    };
    let line = json!({
        "customer_id": customer,
        "date": when.format("%Y-%m-%d").to_string(),
        "description": description,
        "channel": channel,
        "amount": amount,
    });
    if let Value::Object(line) = line {
        out.transactions.push(line);
    }
}

/// How the analytics sources name offers: from the `offers` dataset of [`offer_catalogue`].
fn offer_names() -> Value {
    json!({"dataset": "offers", "key": "id", "column": "name"})
}

/// The example reports, as API report bodies: the weekly digest of seed `000` and a
/// statement for one customer (`customer_id` picks whom).
pub fn reports(first_customer: &str) -> Vec<Value> {
    let usd = json!({"kind": "currency", "code": "USD"});
    let pct = json!({"kind": "percent", "decimals": 1});
    let purchases = purchase_sections();
    vec![
        json!({
            "code": "weekly-digest",
            "name": "Weekly digest",
            "description": "Offer performance and channel effectiveness over the last 7 days, week over week.",
            "sources": [
                {"name": "offers", "type": "offer_performance", "period": "7d", "label": offer_names()},
                {"name": "channels", "type": "channel_effectiveness", "period": "7d"}
            ],
            "sections": [
                {"type": "kpi", "title": "This week", "source": "channels", "tiles": [
                    {"label": "Offers received", "column": "received", "format": {"kind": "number"}},
                    {"label": "Offers completed", "column": "completed", "format": {"kind": "number"}},
                    {"label": "Transactions", "column": "transactions", "format": {"kind": "number"}},
                    {"label": "Revenue", "column": "revenue", "format": usd}
                ]},
                {"type": "chart", "title": "Completions by channel, this week and last", "source": "channels",
                 "chart": "bar", "x": "channel", "y": ["completed", "previous_completed"]},
                {"type": "table", "title": "Offer performance", "source": "offers", "totals": true, "columns": [
                    {"key": "offer_id", "label": "Offer"},
                    {"key": "received", "format": {"kind": "number"}},
                    {"key": "viewed", "format": {"kind": "number"}},
                    {"key": "completed", "format": {"kind": "number"}},
                    {"key": "completion_rate", "label": "Completion", "format": pct},
                    {"key": "rewards", "format": usd},
                    {"key": "completed_change", "label": "WoW", "format": pct}
                ]},
                {"type": "table", "title": "Channel effectiveness", "source": "channels", "totals": true, "columns": [
                    {"key": "channel"},
                    {"key": "received", "format": {"kind": "number"}},
                    {"key": "view_rate", "label": "Viewed", "format": pct},
                    {"key": "completed", "format": {"kind": "number"}},
                    {"key": "completion_rate", "label": "Completion", "format": pct},
                    {"key": "transactions", "format": {"kind": "number"}},
                    {"key": "revenue", "format": usd}
                ]}
            ],
            "formats": ["pdf", "csv", "html", "markdown"],
            "narrative": {"enabled": true, "prompt_addendum": "Flag any offer with >15% week-over-week drop."}
        }),
        json!({
            "code": "customer-statement",
            "name": "Monthly customer statement",
            "description": "One customer's purchases over the last 90 days.",
            "parameters": [
                {"name": "customer_id", "type": "string", "required": true, "default": first_customer,
                 "description": "The customer the statement is for."}
            ],
            "sources": [
                {"name": "customers", "type": "dataset", "dataset": "customers", "filter": {"id": "{customer_id}"}},
                {"name": "lines", "type": "dataset", "dataset": "transactions", "filter": {"customer_id": "{customer_id}"}}
            ],
            "sections": [
                {"type": "text", "title": "Statement for {customers.name}", "markdown":
                    "Prepared for {customers.name} ({customers.email}), {customers.tier} member since {customers.became_member_on}.\n\nEvery purchase of the last 90 days is listed below. Thank you for being a member."},
                purchases[0],
                purchases[1]
            ],
            "formats": ["pdf"],
            "narrative": {"enabled": false}
        }),
    ]
}

/// The KPI tiles and the purchases table of a statement, over its `lines` source.
fn purchase_sections() -> [Value; 2] {
    let usd = json!({"kind": "currency", "code": "USD"});
    [
        json!({"type": "kpi", "source": "lines", "tiles": [
            {"label": "Purchases", "column": "amount", "aggregate": "count", "format": {"kind": "number"}},
            {"label": "Total spent", "column": "amount", "format": usd},
            {"label": "Average purchase", "column": "amount", "aggregate": "avg", "format": usd}
        ]}),
        json!({"type": "table", "title": "Purchases", "source": "lines", "totals": true,
         "sort": {"column": "date"}, "columns": [
            {"key": "date", "format": {"kind": "date"}},
            {"key": "description"},
            {"key": "channel"},
            {"key": "amount", "format": usd}
        ]}),
    ]
}

/// The seed `003` quickstart job as an API report body: one statement per row of the
/// `customers` dataset (the repeating source), `customer_id` bound to the row's `id`, a
/// `period` date parameter defaulting to the month's start (worked out when each run starts),
/// and one email per customer to the
/// row's address through `destination_id`. Rows without an address are skipped by the
/// delivery condition. It has no schedule: it runs only when asked.
pub fn statements_job(destination_id: &str) -> Value {
    let purchases = purchase_sections();
    json!({
        "code": "monthly-statements",
        "name": "Monthly Customer Statements",
        "description": "Emails each customer their own statement: one entry per row of the customers dataset.",
        "parameters": [
            {"name": "period", "type": "date", "default": "start_of_month",
             "description": "Start of the statement month."},
            {"name": "customer_id", "type": "string", "required": true, "from_row": "id",
             "description": "The customer of each entry, from the repeating row's `id`."}
        ],
        "sources": [
            {"name": "customers", "role": "repeating", "type": "dataset", "dataset": "customers"},
            {"name": "lines", "type": "dataset", "dataset": "transactions", "filter": {"customer_id": "{customer_id}"}}
        ],
        "sections": [
            {"type": "text", "title": "Statement for {customers.name}", "markdown":
                "Statement of {period} for {customers.name} ({customers.email}), {customers.tier} member since {customers.became_member_on}.\n\nEvery recent purchase is listed below. Thank you for being a member."},
            purchases[0],
            purchases[1]
        ],
        "formats": ["pdf"],
        "narrative": {"enabled": false},
        "deliveries": [{
            "destination_id": destination_id,
            "to": ["{customers.email}"],
            "subject": "Your statement for {period}, {customers.name}",
            "message": "Hello {customers.name},\n\nyour statement for the month starting {period} is attached.",
            "naming_pattern": "statement-{period}-{customers.id}",
            "condition": "{customers.email} != null && {customers.email} != \"\""
        }]
    })
}

/// The quickstart job written in SQL over the uploaded datasets (the built-in `datasets`
/// connection): one statement per customer who bought something since `period`, with the
/// purchases of the period and a rank among all customers by spend. It shows what a `sql`
/// source does with no database server: joins, aggregates, window functions and bound
/// parameters.
pub fn statements_job_sql(destination_id: &str) -> Value {
    let purchases = purchase_sections();
    let customers = "SELECT c.id, c.name, c.email, c.tier, COUNT(*) AS purchases, SUM(t.amount) AS spent,\n\
                     RANK() OVER (ORDER BY SUM(t.amount) DESC) AS spend_rank\n\
                     FROM customers c JOIN transactions t ON t.customer_id = c.id\n\
                     WHERE t.date >= {period} [[AND c.tier = {tier}]]\n\
                     GROUP BY c.id, c.name, c.email, c.tier\n\
                     ORDER BY c.id";
    let lines = "SELECT date, description, channel, amount\n\
                 FROM transactions\n\
                 WHERE customer_id = {customer_id} AND date >= {period}\n\
                 ORDER BY date";
    json!({
        "code": "monthly-statements-sql",
        "name": "Monthly Customer Statements (SQL)",
        "description": "The quickstart job in SQL over the uploaded datasets: one statement per customer who bought something in the period.",
        "parameters": [
            {"name": "period", "type": "date", "default": "start_of_month",
             "description": "Start of the statement month."},
            {"name": "tier", "type": "string",
             "description": "Only customers of this tier (all when empty)."},
            {"name": "customer_id", "type": "string", "required": true, "from_row": "id",
             "description": "The customer of each entry, from the repeating row's `id`."}
        ],
        "sources": [
            {"name": "customers", "role": "repeating", "type": "sql", "connection": "datasets", "query": customers},
            {"name": "lines", "type": "sql", "connection": "datasets", "query": lines}
        ],
        "sections": [
            {"type": "text", "title": "Statement for {customers.name}", "markdown":
                "Statement of the month starting {period} for {customers.name} ({customers.email}), {customers.tier} member: {customers.purchases} purchases, number {customers.spend_rank} by spend this month.\n\nThank you for being a member."},
            purchases[0],
            purchases[1]
        ],
        "formats": ["pdf"],
        "narrative": {"enabled": false},
        "deliveries": [{
            "destination_id": destination_id,
            "to": ["{customers.email}"],
            "subject": "Your statement for {period}, {customers.name}",
            "message": "Hello {customers.name},\n\nyour statement for the month starting {period} is attached.",
            "naming_pattern": "statement-{period}-{customers.id}",
            "condition": "{customers.email} != null && {customers.email} != \"\""
        }]
    })
}

/// The example alert rule of the seed `000` walkthrough, as an API rule body: completions of
/// any offer drop more than 15% week over week, one instance per offer, notifying the demo
/// outbox. Disabled, so a fresh demo sends nothing unasked.
pub fn offer_drop_alert(destination_id: &str) -> Value {
    json!({
        "name": "Offer completions drop",
        "description": "Completions of any offer drop more than 15% week over week.",
        "enabled": false,
        "source": {"name": "offers", "type": "offer_performance", "period": "7d", "label": offer_names()},
        "metric": {"aggregate": "latest", "column": "completed", "group_by": "offer_id",
                   "previous_column": "previous_completed"},
        "condition": {"op": "change", "by": "percent", "direction": "down", "threshold": 15.0},
        "window_minutes": 10080,
        "interval_minutes": 60,
        "severity": "warning",
        "destinations": [{"destination_id": destination_id, "to": ["marketing-ops@demo.herald.test"]}]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_history() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        let people = customers(40, 7);
        assert_eq!(people, customers(40, 7));
        let (a, b) = (history(&people, today, 30, 7), history(&people, today, 30, 7));
        assert_eq!(a.interactions, b.interactions);
        assert_ne!(a.interactions, history(&people, today, 30, 8).interactions);
    }

    #[test]
    fn history_has_every_event_kind_within_the_window() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        let h = history(&customers(60, 1), today, 28, 1);
        for kind in ["received", "viewed", "completed", "transaction"] {
            assert!(h.interactions.iter().any(|e| e["type"] == kind), "no {kind}");
        }
        let first = Utc.with_ymd_and_hms(2026, 10, 26, 0, 0, 0).unwrap();
        let end = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
        for e in &h.interactions {
            let at: DateTime<Utc> = serde_json::from_value(e["occurred_at"].clone()).unwrap();
            assert!(at >= first && at < end + Duration::hours(12), "{e}");
        }
        assert_eq!(h.transactions.len(), h.interactions.iter().filter(|e| e["type"] == "transaction").count());
    }

    #[test]
    fn every_offer_has_a_name_of_its_own_from_its_terms() {
        let names: Vec<String> = OFFERS.iter().map(Offer::name).collect();
        assert_eq!(names[0], "BOGO $10 · 7 days · email, mobile, social");
        assert_eq!(names[4], "Discount $5 on $20 · 10 days · web, email");
        assert_eq!(names[2], "Informational · 4 days · web, email, mobile");
        let unique: std::collections::BTreeSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), OFFERS.len());
        assert_eq!(offer_catalogue()[6]["id"], FADING_OFFER);
    }

    #[test]
    fn a_few_customers_have_no_email() {
        let people = customers(100, 3);
        let blank = people.iter().filter(|c| c["email"] == "").count();
        assert_eq!(blank, 4);
    }

    #[test]
    fn the_statements_job_is_a_valid_report_bursting_over_customers_with_a_guarded_email() {
        let body = statements_job("01JD0000000000000000000000");
        let report = crate::testing::fixtures::report_json(body);
        report.validate().unwrap();
        assert_eq!(report.repeating_source().map(|s| s.name.as_str()), Some("customers"));
        let period = report.parameters.iter().find(|p| p.name.as_str() == "period").unwrap();
        assert_eq!(period.default, Some(json!("start_of_month")), "worked out when each run starts");
        let bound = report.parameters.iter().find(|p| p.name.as_str() == "customer_id").unwrap();
        assert_eq!(bound.from_row.as_deref(), Some("id"));
        let delivery = &report.deliveries[0];
        assert_eq!(delivery.to, ["{customers.email}"]);
        assert!(delivery.condition.as_deref().unwrap().contains("!= \"\""));
    }

    #[test]
    fn the_sql_statements_job_is_a_valid_report_bursting_over_a_query() {
        let body = statements_job_sql("01JD0000000000000000000000");
        let report = crate::testing::fixtures::report_json(body);
        report.validate().unwrap();
        let repeating = report.repeating_source().unwrap();
        assert!(
            matches!(&repeating.kind, crate::domain::SourceKind::Sql { connection, .. } if connection == "datasets")
        );
    }
}
