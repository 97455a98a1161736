//! Interactions in the store: idempotent ingest that moves the summary counters in the same
//! transaction as it stores each interaction, summaries over any span of time (what the
//! analytics sources read), the receipt-order listing exports page through, and the ingest
//! log the Data health figures read (batches per UTC quarter-hour, refused and late ones).
//!
//! Every interaction counts in two summaries of its offer and channel: its UTC day's and its
//! UTC quarter-hour's. A day of any zone (offsets are whole quarter-hours) is then whole UTC
//! days plus quarters at its edges, so periods are read in the report's timezone at about the
//! cost of UTC days.
//!
//! Ingest writes chunks of interactions per transaction: a `NotExists` put per interaction
//! plus one write per summary the chunk touches (an `Update` adding to its counters, or
//! a `NotExists` put carrying them when the summary is new). The puts make re-sending safe: an
//! interaction whose id is already stored fails its condition, the whole transaction is
//! refused, and the chunk is written again without it — so a duplicate never increments
//! anything, and a retried batch only adds what was not stored yet.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};

use super::entities::{
    Entity, daily_summary_key, daily_summary_pk, day_key, ingest_log_key, ingest_log_pk, interactions_index_pk,
    quarter_key, quarter_summary_key, quarter_summary_pk, time_key,
};
use super::repository::{Listing, PageRequest, Store, StoreError, from_item, to_item};
use super::table::{Condition, Index, Item, Key, Query, SkRange, TableError, Update, Write};
use crate::domain::{DailySummary, IngestTally, Interaction, OfferKind, QUARTER_MINUTES, WorkspaceId, quarter_of};

/// Interactions per transaction (each may touch two more summaries, within the 100-write cap).
const CHUNK: usize = 32;

/// Summaries read per query page.
const SUMMARY_PAGE: usize = 1_000;

/// What one ingest did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    /// Newly stored interactions.
    pub accepted: usize,
    /// Interactions whose id was already stored (or repeated within the batch); not counted.
    pub duplicates: usize,
    /// Accepted interactions that arrived late ([`Interaction::is_late`]).
    pub late: usize,
}

impl IngestOutcome {
    fn add(&mut self, other: Self) {
        self.accepted += other.accepted;
        self.duplicates += other.duplicates;
        self.late += other.late;
    }
}

/// What ingest knows about a stored summary.
#[derive(Debug, Clone, Copy)]
enum Known {
    Missing,
    Stored { offer_kind: Option<OfferKind> },
}

/// The writes one chunk makes to one summary.
struct SummaryWrite {
    summary: DailySummary,
    add: BTreeMap<&'static str, i64>,
}

fn summary_data(summary: &DailySummary) -> Result<String, StoreError> {
    serde_json::to_string(summary).map_err(|e| StoreError::Corrupt { kind: "daily summary", message: e.to_string() })
}

fn summary_from_item(item: &Item) -> Result<DailySummary, StoreError> {
    let mut summary: DailySummary = serde_json::from_str(&item.data)
        .map_err(|e| StoreError::Corrupt { kind: "daily summary", message: format!("{}: {e}", item.key.sk) })?;
    for name in DailySummary::COUNTERS {
        summary.set_counter(name, item.counter(name));
    }
    Ok(summary)
}

impl Store {
    /// Stores interactions (already validated) and adds them to their summaries. An
    /// interaction whose client id is already stored in its workspace, or repeats an earlier
    /// one of the batch, is a duplicate and changes nothing.
    ///
    /// Each chunk is atomic; if storage fails midway, the chunks before are stored and the
    /// batch can be sent again (interactions with client ids are then not counted twice).
    pub async fn ingest_interactions(&self, interactions: &[Interaction]) -> Result<IngestOutcome, StoreError> {
        let mut outcome = IngestOutcome::default();
        let mut seen = HashSet::new();
        let mut fresh = Vec::with_capacity(interactions.len());
        for interaction in interactions {
            if seen.insert(interaction.key()) {
                fresh.push(interaction);
            } else {
                outcome.duplicates += 1;
            }
        }
        let mut known = HashMap::new();
        for chunk in fresh.chunks(CHUNK) {
            outcome.add(self.ingest_chunk(chunk, &mut known).await?);
        }
        Ok(outcome)
    }

    /// Adds `tally` (what batches received at `at` did) to the ingest log's quarter-hour
    /// holding `at`. Written apart from the interactions: a crash between the two leaves a
    /// batch stored but not logged.
    pub async fn log_ingest(&self, ws: WorkspaceId, at: DateTime<Utc>, tally: &IngestTally) -> Result<(), StoreError> {
        let key = ingest_log_key(ws, quarter_of(at));
        let add: Vec<(String, i64)> =
            tally.counters().iter().filter(|(_, n)| *n != 0).map(|(name, n)| (name.to_string(), *n)).collect();
        // Add to the quarter's item, or create it; whichever a concurrent batch did not do first.
        for _ in 0..8 {
            let update = Update { add: add.clone(), ..Default::default() };
            match self.write(vec![Write::Update { key: key.clone(), condition: Condition::Exists, update }]).await {
                Err(TableError::ConditionFailed { .. }) => {}
                done => return Ok(done?),
            }
            let mut item = Item::new(key.clone(), "{}".into());
            item.counters = add.iter().cloned().collect();
            match self.write(vec![Write::Put { item, condition: Condition::NotExists }]).await {
                Err(TableError::ConditionFailed { .. }) => {}
                done => return Ok(done?),
            }
        }
        Err(StoreError::Conflict("the ingest log is changing too fast; retry".into()))
    }

    /// The ingest log's quarter-hours starting in `[from, to)` that saw a batch, in time order.
    pub async fn ingest_log_between(
        &self,
        ws: WorkspaceId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, IngestTally)>, StoreError> {
        let (from, to) = (quarter_of(from), quarter_of(to));
        if from >= to {
            return Ok(vec![]);
        }
        let range = SkRange::Between(quarter_key(from), quarter_key(to - Duration::minutes(QUARTER_MINUTES)));
        let mut log = Vec::new();
        self.each_item(Query::table(ingest_log_pk(ws), range), |item| {
            let mut tally = IngestTally::default();
            for name in IngestTally::COUNTERS {
                tally.set_counter(name, item.counter(name));
            }
            log.push((quarter_from_key(&item.key.sk)?, tally));
            Ok(())
        })
        .await?;
        Ok(log)
    }

    /// Calls `each` with every stored interaction received at or after `since`, in receipt
    /// order, holding one page of them at a time.
    pub async fn scan_interactions_received(
        &self,
        ws: WorkspaceId,
        since: DateTime<Utc>,
        mut each: impl FnMut(Interaction),
    ) -> Result<(), StoreError> {
        let query = Query::index(Index::Gsi1, interactions_index_pk(ws), SkRange::AtLeast(time_key(since)));
        self.each_item(query, |item| {
            each(from_item(item)?);
            Ok(())
        })
        .await
    }

    /// When the workspace last received an interaction (that is still stored).
    pub async fn last_received_at(&self, ws: WorkspaceId) -> Result<Option<DateTime<Utc>>, StoreError> {
        let query = Query::index(Index::Gsi1, interactions_index_pk(ws), SkRange::All).descending().limit(1);
        let page = self.table.query(&query).await?;
        page.items.first().map(|item| from_item::<Interaction>(item).map(|i| i.created_at)).transpose()
    }

    /// The start of the latest quarter-hour any summary counts interactions of.
    pub async fn summaries_through(&self, ws: WorkspaceId) -> Result<Option<DateTime<Utc>>, StoreError> {
        let query = Query::table(quarter_summary_pk(ws), SkRange::All).descending().limit(1);
        let page = self.table.query(&query).await?;
        page.items.first().map(|item| quarter_from_key(&item.key.sk)).transpose()
    }

    /// Writes one chunk in one transaction, dropping the duplicates it finds.
    async fn ingest_chunk(
        &self,
        chunk: &[&Interaction],
        known: &mut HashMap<Key, Known>,
    ) -> Result<IngestOutcome, StoreError> {
        let mut pending: Vec<&Interaction> = chunk.to_vec();
        let mut duplicates = 0;
        // Each failed attempt removes a duplicate or corrects one summary's state.
        for _ in 0..(2 * chunk.len() + 8) {
            if pending.is_empty() {
                return Ok(IngestOutcome { duplicates, ..IngestOutcome::default() });
            }
            let groups = group_by_summary(&pending);
            self.learn_summaries(groups.keys(), known).await?;

            let mut writes = Vec::with_capacity(pending.len() + groups.len());
            for interaction in &pending {
                writes.push(Write::Put { item: to_item(*interaction)?, condition: Condition::NotExists });
            }
            let order: Vec<&Key> = groups.keys().collect();
            for (key, group) in &groups {
                let add: Vec<(String, i64)> =
                    group.add.iter().map(|(name, delta)| (name.to_string(), *delta)).collect();
                match known.get(key) {
                    Some(Known::Stored { offer_kind }) => {
                        let learned_kind = offer_kind.is_none() && group.summary.offer_kind.is_some();
                        let data = if learned_kind { Some(summary_data(&group.summary)?) } else { None };
                        let update = Update { data, add, ..Default::default() };
                        writes.push(Write::Update { key: key.clone(), condition: Condition::Always, update });
                    }
                    _ => {
                        let mut item = Item::new(key.clone(), summary_data(&group.summary)?);
                        item.counters = add.into_iter().collect();
                        writes.push(Write::Put { item, condition: Condition::NotExists });
                    }
                }
            }

            match self.write(writes).await {
                Ok(()) => {
                    let late = pending.iter().filter(|i| i.is_late()).count();
                    for (key, group) in &groups {
                        let stored = match known.get(key) {
                            Some(Known::Stored { offer_kind }) => offer_kind.or(group.summary.offer_kind),
                            _ => group.summary.offer_kind,
                        };
                        known.insert(key.clone(), Known::Stored { offer_kind: stored });
                    }
                    return Ok(IngestOutcome { accepted: pending.len(), duplicates, late });
                }
                Err(TableError::ConditionFailed { index }) if index < pending.len() => {
                    // At least one interaction is stored already: find every such one at once.
                    let keys: Vec<Key> = pending.iter().map(|i| i.key()).collect();
                    let found = futures::future::join_all(keys.iter().map(|k| self.table.get(k))).await;
                    let mut keep = Vec::with_capacity(pending.len());
                    for (n, (interaction, stored)) in pending.iter().zip(found).enumerate() {
                        if stored?.is_some() || n == index {
                            duplicates += 1;
                        } else {
                            keep.push(*interaction);
                        }
                    }
                    pending = keep;
                }
                Err(TableError::ConditionFailed { index }) => {
                    // A summary was created (or removed) since it was read: read it again.
                    if let Some(key) = order.get(index - pending.len()) {
                        known.remove(*key);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict("interactions are being written concurrently; send the batch again".into()))
    }

    /// Reads the summaries whose state is not known yet.
    async fn learn_summaries<'k>(
        &self,
        keys: impl Iterator<Item = &'k Key>,
        known: &mut HashMap<Key, Known>,
    ) -> Result<(), StoreError> {
        let unknown: Vec<&Key> = keys.filter(|k| !known.contains_key(*k)).collect();
        let found = futures::future::join_all(unknown.iter().map(|k| self.table.get(k))).await;
        for (key, item) in unknown.into_iter().zip(found) {
            let state = match item? {
                Some(item) => Known::Stored { offer_kind: summary_from_item(&item)?.offer_kind },
                None => Known::Missing,
            };
            known.insert(key.clone(), state);
        }
        Ok(())
    }

    /// The daily summaries of a workspace for the UTC days `from..=to`, in day order.
    pub async fn daily_summaries(
        &self,
        ws: WorkspaceId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DailySummary>, StoreError> {
        // Summary keys are `{day}#{channel}#…` with a lowercase channel, which sorts before `~`.
        let range = SkRange::Between(day_key(from), format!("{}#~", day_key(to)));
        self.summaries_in(Query::table(daily_summary_pk(ws), range)).await
    }

    /// Summaries whose counters add up to the interactions that occurred in `[from, to)` (both
    /// taken to their quarter-hour): the daily summaries of the whole UTC days inside, and the
    /// rest of each edge day from its quarter-hour summaries. An edge of more than half a day
    /// is read as its day less the quarters outside the span, so no edge reads more than 48
    /// quarters; the summaries taken away come with negated counters, and a sum over the list
    /// is exact. In time order, but for the edges.
    pub async fn summaries_between(
        &self,
        ws: WorkspaceId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<DailySummary>, StoreError> {
        let (from, to) = (quarter_of(from), quarter_of(to));
        if from >= to {
            return Ok(vec![]);
        }
        let (first, last) = (from.date_naive(), to.date_naive());
        if first == last {
            return self.part_of_day(ws, from, to).await;
        }
        let mut summaries = Vec::new();
        let mut whole_from = first;
        if from != midnight(first) {
            summaries.extend(self.part_of_day(ws, from, midnight(first) + Duration::days(1)).await?);
            whole_from = first.succ_opt().unwrap_or(NaiveDate::MAX);
        }
        if let Some(whole_to) = last.pred_opt().filter(|day| whole_from <= *day) {
            summaries.extend(self.daily_summaries(ws, whole_from, whole_to).await?);
        }
        if to != midnight(last) {
            summaries.extend(self.part_of_day(ws, midnight(last), to).await?);
        }
        Ok(summaries)
    }

    /// Summaries of `[from, to)` within one UTC day (`to` may be the next midnight).
    async fn part_of_day(
        &self,
        ws: WorkspaceId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<DailySummary>, StoreError> {
        let day = from.date_naive();
        let (start, end) = (midnight(day), midnight(day) + Duration::days(1));
        if (to - from) <= Duration::hours(12) {
            return self.quarter_summaries(ws, from, to).await;
        }
        let mut summaries = self.daily_summaries(ws, day, day).await?;
        let before = self.quarter_summaries(ws, start, from).await?;
        let after = self.quarter_summaries(ws, to, end).await?;
        summaries.extend(before.into_iter().chain(after).map(DailySummary::negated));
        Ok(summaries)
    }

    /// The quarter-hour summaries of the quarters starting in `[from, to)`.
    async fn quarter_summaries(
        &self,
        ws: WorkspaceId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<DailySummary>, StoreError> {
        if from >= to {
            return Ok(vec![]);
        }
        let last = to - Duration::minutes(QUARTER_MINUTES);
        let range = SkRange::Between(quarter_key(from), format!("{}#~", quarter_key(last)));
        self.summaries_in(Query::table(quarter_summary_pk(ws), range)).await
    }

    /// Every summary `query` finds, page after page.
    async fn summaries_in(&self, query: Query) -> Result<Vec<DailySummary>, StoreError> {
        let mut summaries = Vec::new();
        self.each_item(query, |item| {
            summaries.push(summary_from_item(item)?);
            Ok(())
        })
        .await?;
        Ok(summaries)
    }

    /// Calls `each` with every item `query` finds, a page of [`SUMMARY_PAGE`] at a time.
    async fn each_item(
        &self,
        query: Query,
        mut each: impl FnMut(&Item) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut query = query.limit(SUMMARY_PAGE);
        loop {
            let page = self.table.query(&query).await?;
            for item in &page.items {
                each(item)?;
            }
            match page.cursor {
                Some(cursor) => query = query.after(Some(cursor)),
                None => return Ok(()),
            }
        }
    }

    /// A workspace's interactions in the order Herald received them, from `since` on.
    pub async fn interactions_received(
        &self,
        ws: WorkspaceId,
        since: Option<DateTime<Utc>>,
        page: &PageRequest,
    ) -> Result<Listing<Interaction>, StoreError> {
        let range = since.map_or(SkRange::All, |at| SkRange::AtLeast(time_key(at)));
        self.list(page.apply(Query::index(Index::Gsi1, interactions_index_pk(ws), range))).await
    }
}

/// The increments of `interactions` per summary they belong to (their day's and their
/// quarter-hour's).
fn group_by_summary(interactions: &[&Interaction]) -> BTreeMap<Key, SummaryWrite> {
    let mut groups: BTreeMap<Key, SummaryWrite> = BTreeMap::new();
    for interaction in interactions {
        let summary = DailySummary::of(interaction);
        let ws = interaction.workspace_id;
        let keys = [daily_summary_key(ws, &summary), quarter_summary_key(ws, interaction.quarter(), &summary)];
        let increments = interaction.increments();
        for key in keys {
            let group =
                groups.entry(key).or_insert_with(|| SummaryWrite { summary: summary.clone(), add: BTreeMap::new() });
            if group.summary.offer_kind.is_none() {
                group.summary.offer_kind = interaction.offer_kind;
            }
            for &(name, delta) in &increments {
                *group.add.entry(name).or_insert(0) += delta;
            }
        }
    }
    groups
}

/// The quarter-hour a sort key starts with (`2026-12-07T13:45…`).
fn quarter_from_key(sk: &str) -> Result<DateTime<Utc>, StoreError> {
    sk.get(..16)
        .and_then(|text| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M").ok())
        .map(|at| at.and_utc())
        .ok_or_else(|| StoreError::Corrupt { kind: "quarter-hour key", message: sk.to_string() })
}

/// The first instant of the UTC day `day`.
fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}
