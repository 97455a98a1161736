//! The built-in interaction analytics of seeds `000`/`001`: offer performance and channel
//! effectiveness over a period (today, 7, 14, 30 or 90 days of the run's timezone ending with
//! the period's last day), each against the previous period of the same length for
//! week-over-week change. They read the summaries: UTC days whole, and days of other zones as
//! whole UTC days plus the quarter-hours at their edges. A segment of customers (summaries
//! have no customer dimension) is read from the raw interactions instead.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

use super::{ColumnMeta, ColumnType, Comparison, RowSet};
use crate::domain::{Channel, DailySummary, OfferKind, Period, Segment, WorkspaceId, relative_date};
use crate::store::{Store, StoreError};

/// Number of days a period covers.
pub fn period_days(period: Period) -> u32 {
    match period {
        Period::Today => 1,
        Period::Days7 => 7,
        Period::Days14 => 14,
        Period::Days30 => 30,
        Period::Days90 => 90,
    }
}

/// The days of `zone` a source covers and the days it is compared with (all bounds inclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub days: u32,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub previous_start: NaiveDate,
    pub previous_end: NaiveDate,
    pub zone: Tz,
    /// The segment counted, in words (said in the note).
    pub segment: Option<String>,
}

impl Window {
    /// The `period` ending with `day` (a day of `zone`), and the as many days before it.
    pub fn new(period: Period, day: NaiveDate, zone: Tz) -> Self {
        let days = period_days(period);
        let back = |from: NaiveDate, n: u32| from.checked_sub_days(Days::new(u64::from(n))).unwrap_or(NaiveDate::MIN);
        let start = back(day, days - 1);
        let previous_end = back(start, 1);
        Self { days, start, end: day, previous_start: back(previous_end, days - 1), previous_end, zone, segment: None }
    }

    /// The same window, saying it counts only `segment`.
    pub fn with_segment(self, segment: &Segment) -> Self {
        Self { segment: segment.describe(), ..self }
    }

    /// The first instant of `day` in the window's zone.
    fn instant(&self, day: NaiveDate) -> DateTime<Utc> {
        relative_date::day_start(self.zone, day)
    }

    /// The current period as a span of time: from its first day's start to its last day's end.
    pub fn current_span(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        (self.instant(self.start), self.instant(self.end.succ_opt().unwrap_or(NaiveDate::MAX)))
    }

    /// The window in words, for the row set's note.
    pub fn describe(&self) -> String {
        let date = |d: NaiveDate| d.format("%-d %b %Y").to_string();
        let zone = self.zone.name();
        let said = if self.days == 1 {
            format!("{} ({zone}), against the day before ({})", date(self.end), date(self.previous_end))
        } else {
            format!(
                "{n} days from {} to {} ({zone}), against the {n} days before ({} to {})",
                date(self.start),
                date(self.end),
                date(self.previous_start),
                date(self.previous_end),
                n = self.days
            )
        };
        match &self.segment {
            Some(segment) => format!("{said}; {segment}"),
            None => said,
        }
    }
}

/// The summaries of a window's two periods; each list adds up to its period exactly.
#[derive(Debug, Default)]
pub struct Periods {
    pub current: Vec<DailySummary>,
    pub previous: Vec<DailySummary>,
}

impl Periods {
    /// Daily summaries (UTC days) sorted into the window's periods; those outside are left out.
    pub fn of_days(summaries: Vec<DailySummary>, window: &Window) -> Self {
        let (mut current, mut previous) = (Vec::new(), Vec::new());
        for s in summaries {
            if window.start <= s.day && s.day <= window.end {
                current.push(s);
            } else if window.previous_start <= s.day && s.day <= window.previous_end {
                previous.push(s);
            }
        }
        Self { current, previous }
    }

    /// Only the summaries in `segment`.
    pub fn only(self, segment: &Segment) -> Self {
        if segment.is_all() {
            return self;
        }
        let keep =
            |list: Vec<DailySummary>| list.into_iter().filter(|s| segment.holds(s.channel, s.offer_kind)).collect();
        Self { current: keep(self.current), previous: keep(self.previous) }
    }

    /// Reads the window's periods from the store: in UTC, one range of daily summaries; in
    /// another zone, each period's span of time.
    pub async fn read(store: &Store, ws: WorkspaceId, window: &Window) -> Result<Self, StoreError> {
        if window.zone == Tz::UTC {
            let summaries = store.daily_summaries(ws, window.previous_start, window.end).await?;
            return Ok(Self::of_days(summaries, window));
        }
        let from = window.instant(window.previous_start);
        let (middle, until) = window.current_span();
        let (previous, current) =
            futures::try_join!(store.summaries_between(ws, from, middle), store.summaries_between(ws, middle, until))?;
        Ok(Self { current, previous })
    }
}

impl Periods {
    /// Reads the window's periods for `customers` only, from the stored interactions
    /// themselves (summaries have no customer dimension): every one received since the window
    /// began, as none that occurred in it arrived before. Raw interactions are kept for the
    /// workspace's history retention, summaries longer.
    pub async fn read_customers(
        store: &Store,
        ws: WorkspaceId,
        window: &Window,
        customers: &HashSet<String>,
    ) -> Result<Self, StoreError> {
        let from = window.instant(window.previous_start);
        let (middle, until) = window.current_span();
        let mut subjects: BTreeMap<(bool, Option<String>, Option<Channel>), DailySummary> = BTreeMap::new();
        store
            .scan_interactions_received(ws, from, |interaction| {
                let at = interaction.occurred_at;
                if at < from || at >= until || !customers.contains(&interaction.customer_id) {
                    return;
                }
                let key = (at >= middle, interaction.offer_id.clone(), interaction.channel);
                let summary = subjects.entry(key).or_insert_with(|| DailySummary::of(&interaction));
                summary.offer_kind = summary.offer_kind.or(interaction.offer_kind);
                summary.count(&interaction);
            })
            .await?;
        let mut periods = Self::default();
        for ((current, ..), summary) in subjects {
            if current { periods.current.push(summary) } else { periods.previous.push(summary) }
        }
        Ok(periods)
    }
}

/// Counters added up over some summaries.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    received: i64,
    viewed: i64,
    completed: i64,
    transactions: i64,
    amount_cents: i64,
    reward_cents: i64,
}

impl Tally {
    fn is_empty(&self) -> bool {
        [self.received, self.viewed, self.completed, self.transactions, self.amount_cents, self.reward_cents]
            .iter()
            .all(|n| *n == 0)
    }

    fn add(&mut self, s: &DailySummary) {
        self.received += s.received;
        self.viewed += s.viewed;
        self.completed += s.completed;
        self.transactions += s.transactions;
        self.amount_cents += s.amount_cents;
        self.reward_cents += s.reward_cents;
    }
}

/// Current and previous tallies of one subject (an offer, a channel).
#[derive(Debug, Default)]
struct Subject {
    current: Tally,
    previous: Tally,
    offer_kind: Option<OfferKind>,
}

fn ratio(part: i64, whole: i64) -> Value {
    if whole == 0 { Value::Null } else { json!(part as f64 / whole as f64) }
}

fn change(current: i64, previous: i64) -> Value {
    if previous == 0 { Value::Null } else { json!((current - previous) as f64 / previous as f64) }
}

fn money(cents: i64) -> Value {
    json!(cents as f64 / 100.0)
}

pub(super) fn columns(spec: &[(&str, ColumnType)]) -> Vec<ColumnMeta> {
    spec.iter().map(|(name, kind)| ColumnMeta { name: name.to_string(), kind: *kind }).collect()
}

/// Adds each summary of the periods to the subject `key` picks (summaries it maps to `None`
/// are left out). A subject with nothing in either period (only seen in a part of a day that
/// was taken away again) is left out.
fn tally<K: Ord>(periods: &Periods, key: impl Fn(&DailySummary) -> Option<K>) -> BTreeMap<K, Subject> {
    let mut subjects: BTreeMap<K, Subject> = BTreeMap::new();
    let previous = periods.previous.iter().map(|s| (false, s));
    for (current, s) in previous.chain(periods.current.iter().map(|s| (true, s))) {
        let Some(k) = key(s) else { continue };
        let subject = subjects.entry(k).or_default();
        if current {
            subject.current.add(s);
        } else {
            subject.previous.add(s);
        }
        // The latest kind wins (summaries come in about time order).
        if s.offer_kind.is_some() {
            subject.offer_kind = s.offer_kind;
        }
    }
    subjects.retain(|_, s| !(s.current.is_empty() && s.previous.is_empty()));
    subjects
}

/// Sorts by current completions, most first, then by name.
fn by_completions(subjects: BTreeMap<String, Subject>) -> Vec<(String, Subject)> {
    let mut list: Vec<(String, Subject)> = subjects.into_iter().collect();
    list.sort_by(|(a, x), (b, y)| y.current.completed.cmp(&x.current.completed).then_with(|| a.cmp(b)));
    list
}

/// One row per offer seen in the window or the one before: received, viewed, completed,
/// rates, rewards, and completions against the previous period.
pub fn offer_performance(periods: &Periods, window: &Window) -> RowSet {
    let subjects = tally(periods, |s| s.offer_id.clone());
    let rows = by_completions(subjects)
        .into_iter()
        .map(|(offer, s)| {
            let (c, p) = (s.current, s.previous);
            vec![
                json!(offer),
                s.offer_kind.map_or(Value::Null, |k| json!(k.as_str())),
                json!(c.received),
                json!(c.viewed),
                json!(c.completed),
                ratio(c.viewed, c.received),
                ratio(c.completed, c.received),
                money(c.reward_cents),
                json!(p.completed),
                change(c.completed, p.completed),
            ]
        })
        .collect();
    use ColumnType::{Number, Text};
    RowSet {
        columns: columns(&[
            ("offer_id", Text),
            ("offer_kind", Text),
            ("received", Number),
            ("viewed", Number),
            ("completed", Number),
            ("view_rate", Number),
            ("completion_rate", Number),
            ("rewards", Number),
            ("previous_completed", Number),
            ("completed_change", Number),
        ]),
        rows,
        comparisons: vec![Comparison {
            label_column: "offer_id".into(),
            metric: "completions".into(),
            current_column: "completed".into(),
            previous_column: "previous_completed".into(),
        }],
        note: Some(window.describe()),
        label: None,
    }
}

/// One row per channel seen in the window or the one before (`unknown` for interactions
/// without one): offer funnel, transactions, revenue, and completions against the previous
/// period.
pub fn channel_effectiveness(periods: &Periods, window: &Window) -> RowSet {
    let subjects = tally(periods, |s| Some(s.channel.map_or("unknown", |c| c.as_str()).to_string()));
    let rows = by_completions(subjects)
        .into_iter()
        .map(|(channel, s)| {
            let (c, p) = (s.current, s.previous);
            vec![
                json!(channel),
                json!(c.received),
                json!(c.viewed),
                json!(c.completed),
                ratio(c.viewed, c.received),
                ratio(c.completed, c.received),
                json!(c.transactions),
                money(c.amount_cents),
                json!(p.completed),
                change(c.completed, p.completed),
            ]
        })
        .collect();
    use ColumnType::{Number, Text};
    RowSet {
        columns: columns(&[
            ("channel", Text),
            ("received", Number),
            ("viewed", Number),
            ("completed", Number),
            ("view_rate", Number),
            ("completion_rate", Number),
            ("transactions", Number),
            ("revenue", Number),
            ("previous_completed", Number),
            ("completed_change", Number),
        ]),
        rows,
        comparisons: vec![Comparison {
            label_column: "channel".into(),
            metric: "completions".into(),
            current_column: "completed".into(),
            previous_column: "previous_completed".into(),
        }],
        note: Some(window.describe()),
        label: None,
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::Channel;

    use super::*;

    fn day(d: &str) -> NaiveDate {
        d.parse().unwrap()
    }

    fn days(summaries: Vec<DailySummary>, window: &Window) -> Periods {
        Periods::of_days(summaries, window)
    }

    fn summary(d: &str, offer: Option<&str>, channel: Option<Channel>, counts: [i64; 6]) -> DailySummary {
        let [received, viewed, completed, transactions, amount_cents, reward_cents] = counts;
        DailySummary {
            day: day(d),
            offer_id: offer.map(str::to_string),
            channel,
            offer_kind: offer.map(|_| OfferKind::Discount),
            received,
            viewed,
            completed,
            transactions,
            amount_cents,
            reward_cents,
        }
    }

    #[test]
    fn a_window_is_the_days_ending_with_the_run_day_and_the_as_many_days_before() {
        let w = Window::new(Period::Days7, day("2026-11-22"), Tz::UTC);
        assert_eq!((w.start, w.end), (day("2026-11-16"), day("2026-11-22")));
        assert_eq!((w.previous_start, w.previous_end), (day("2026-11-09"), day("2026-11-15")));
        assert_eq!(
            w.describe(),
            "7 days from 16 Nov 2026 to 22 Nov 2026 (UTC), against the 7 days before (9 Nov 2026 to 15 Nov 2026)"
        );
        let today = Window::new(Period::Today, day("2026-03-01"), Tz::UTC);
        assert_eq!(
            (today.start, today.end, today.previous_start),
            (day("2026-03-01"), day("2026-03-01"), day("2026-02-28"))
        );
        assert_eq!(today.describe(), "1 Mar 2026 (UTC), against the day before (28 Feb 2026)");
        let quarter = Window::new(Period::Days90, day("2026-11-22"), Tz::UTC);
        assert_eq!((quarter.start, quarter.previous_start), (day("2026-08-25"), day("2026-05-27")));
    }

    #[test]
    fn offers_are_summed_per_window_and_sorted_by_completions() {
        let w = Window::new(Period::Days7, day("2026-11-22"), Tz::UTC);
        let rows = offer_performance(
            &days(
                vec![
                    // previous window
                    summary("2026-11-10", Some("a"), Some(Channel::Email), [10, 8, 4, 0, 0, 400]),
                    // current window, across two days and channels
                    summary("2026-11-16", Some("a"), Some(Channel::Email), [10, 5, 2, 0, 0, 200]),
                    summary("2026-11-22", Some("a"), Some(Channel::Web), [10, 5, 1, 0, 0, 150]),
                    summary("2026-11-20", Some("b"), Some(Channel::Web), [4, 4, 4, 0, 0, 0]),
                    // outside both windows, and an offer-less transaction
                    summary("2026-11-08", Some("a"), Some(Channel::Email), [99, 99, 99, 0, 0, 0]),
                    summary("2026-11-21", None, Some(Channel::Web), [0, 0, 0, 3, 4550, 0]),
                ],
                &w,
            ),
            &w,
        );
        let names: Vec<&str> = rows.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "offer_id",
                "offer_kind",
                "received",
                "viewed",
                "completed",
                "view_rate",
                "completion_rate",
                "rewards",
                "previous_completed",
                "completed_change"
            ]
        );
        assert_eq!(
            rows.rows,
            vec![
                vec![
                    json!("b"),
                    json!("discount"),
                    json!(4),
                    json!(4),
                    json!(4),
                    json!(1.0),
                    json!(1.0),
                    json!(0.0),
                    json!(0),
                    Value::Null
                ],
                vec![
                    json!("a"),
                    json!("discount"),
                    json!(20),
                    json!(10),
                    json!(3),
                    json!(0.5),
                    json!(0.15),
                    json!(3.5),
                    json!(4),
                    json!(-0.25)
                ],
            ]
        );
        assert_eq!(rows.comparisons[0].label_column, "offer_id");
        assert_eq!(
            (rows.comparisons[0].current_column.as_str(), rows.comparisons[0].previous_column.as_str()),
            ("completed", "previous_completed")
        );
        assert!(rows.note.as_deref().unwrap().starts_with("7 days from 16 Nov 2026"));
    }

    #[test]
    fn an_offer_seen_only_last_period_shows_its_drop_to_zero() {
        let w = Window::new(Period::Days7, day("2026-11-22"), Tz::UTC);
        let rows =
            offer_performance(&days(vec![summary("2026-11-12", Some("gone"), None, [5, 5, 5, 0, 0, 0])], &w), &w);
        assert_eq!(rows.rows[0][4], json!(0));
        assert_eq!(rows.rows[0][8], json!(5));
        assert_eq!(rows.rows[0][9], json!(-1.0));
        assert_eq!(rows.rows[0][5], Value::Null, "no rate without anything received");
    }

    #[test]
    fn channels_count_offer_events_transactions_and_revenue() {
        let w = Window::new(Period::Today, day("2026-11-22"), Tz::UTC);
        let rows = channel_effectiveness(
            &days(
                vec![
                    summary("2026-11-21", Some("a"), Some(Channel::Email), [4, 2, 2, 0, 0, 0]),
                    summary("2026-11-22", Some("a"), Some(Channel::Email), [4, 2, 1, 0, 0, 0]),
                    summary("2026-11-22", None, Some(Channel::Email), [0, 0, 0, 2, 1999, 0]),
                    summary("2026-11-22", None, None, [0, 0, 0, 1, 500, 0]),
                ],
                &w,
            ),
            &w,
        );
        assert_eq!(rows.columns[7].name, "revenue");
        assert_eq!(
            rows.rows,
            vec![
                vec![
                    json!("email"),
                    json!(4),
                    json!(2),
                    json!(1),
                    json!(0.5),
                    json!(0.25),
                    json!(2),
                    json!(19.99),
                    json!(2),
                    json!(-0.5)
                ],
                vec![
                    json!("unknown"),
                    json!(0),
                    json!(0),
                    json!(0),
                    Value::Null,
                    Value::Null,
                    json!(1),
                    json!(5.0),
                    json!(0),
                    Value::Null
                ],
            ]
        );
    }

    #[test]
    fn no_history_means_no_rows_but_still_the_columns_and_the_note() {
        let w = Window::new(Period::Days30, day("2026-11-22"), Tz::UTC);
        for rows in [offer_performance(&Periods::default(), &w), channel_effectiveness(&Periods::default(), &w)] {
            assert!(rows.is_empty());
            assert_eq!(rows.columns.len(), 10);
            assert!(rows.note.is_some());
        }
    }
}
