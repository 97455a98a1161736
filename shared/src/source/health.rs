//! The Data health sources: what ingest took in by day of the run's timezone (batches,
//! refused and late ones, interactions and duplicates), and how fresh the stored data is
//! (the last arrival, the latest quarter-hour the summaries count, how far the interaction
//! export lags behind).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

use super::analytics::{Window, columns};
use super::{ColumnType, RowSet};
use crate::domain::{CheckpointStatus, ExportCheckpoint, IngestTally, QUARTER_MINUTES};

/// One row per day of the window's current period, oldest first, from the ingest log's
/// quarter-hours (each falls in one day of any zone, as offsets are whole quarter-hours). A
/// day nothing arrived has a row of zeros: a gap in the feed shows.
pub fn ingest_by_day(log: &[(DateTime<Utc>, IngestTally)], window: &Window) -> RowSet {
    let mut days: BTreeMap<NaiveDate, IngestTally> =
        window.start.iter_days().take_while(|d| *d <= window.end).map(|d| (d, IngestTally::default())).collect();
    for (quarter, tally) in log {
        if let Some(day) = days.get_mut(&quarter.with_timezone(&window.zone).date_naive()) {
            day.add(tally);
        }
    }
    let rows = days
        .into_iter()
        .map(|(day, t)| {
            let accepted = t.batches - t.refused_batches;
            vec![
                json!(day.format("%Y-%m-%d").to_string()),
                json!(t.batches),
                json!(t.refused_batches),
                json!(t.late_batches),
                json!(t.received),
                json!(t.duplicates),
                json!(t.late),
                if accepted == 0 { Value::Null } else { json!(t.late_batches as f64 / accepted as f64) },
            ]
        })
        .collect();
    use ColumnType::{Date, Number};
    RowSet {
        columns: columns(&[
            ("day", Date),
            ("batches", Number),
            ("refused_batches", Number),
            ("late_batches", Number),
            ("received", Number),
            ("duplicates", Number),
            ("late", Number),
            ("late_batch_rate", Number),
        ]),
        rows,
        comparisons: vec![],
        note: Some(format!(
            "Interactions received by day, {}; a batch is late when it held an interaction that occurred more than \
             an hour before it arrived",
            describe_days(window)
        )),
        label: None,
    }
}

fn describe_days(window: &Window) -> String {
    let date = |d: NaiveDate| d.format("%-d %b %Y").to_string();
    let zone = window.zone.name();
    if window.start == window.end {
        format!("{} ({zone})", date(window.end))
    } else {
        format!("{} to {} ({zone})", date(window.start), date(window.end))
    }
}

/// What the freshness row is made of.
#[derive(Debug, Clone)]
pub struct Freshness {
    pub now: DateTime<Utc>,
    pub zone: Tz,
    pub last_received_at: Option<DateTime<Utc>>,
    /// The start of the latest quarter-hour the summaries count.
    pub summaries_through: Option<DateTime<Utc>>,
    pub export: ExportCheckpoint,
}

impl Freshness {
    /// The receipt time of the last interaction exported (positions are `{time}#{id}`).
    fn exported_through(&self) -> Option<DateTime<Utc>> {
        let position = self.export.position.as_deref()?;
        DateTime::parse_from_rfc3339(position.split('#').next()?).ok().map(|at| at.with_timezone(&Utc))
    }

    /// Minutes from `at` to `until`, never negative.
    fn minutes(at: Option<DateTime<Utc>>, until: DateTime<Utc>) -> Value {
        at.map_or(Value::Null, |at| json!((until - at).num_minutes().max(0)))
    }

    fn time(&self, at: Option<DateTime<Utc>>) -> Value {
        at.map_or(Value::Null, |at| json!(at.with_timezone(&self.zone).to_rfc3339_opts(SecondsFormat::Secs, true)))
    }

    /// One row: when the last interaction arrived and how long ago; the end of the latest
    /// quarter-hour the summaries count and its age; how far the export is behind the last
    /// arrival, with its state (`caught up`, `behind`, `failed`, `never run`).
    pub fn row_set(&self) -> RowSet {
        let through = self.summaries_through.map(|q| q + Duration::minutes(QUARTER_MINUTES));
        let exported = self.exported_through();
        let lag = match (self.last_received_at, exported) {
            (Some(last), Some(exported)) => json!((last - exported).num_minutes().max(0)),
            (Some(_), None) => Value::Null,
            (None, _) => json!(0),
        };
        let status = match (self.export.status, exported, self.last_received_at) {
            (CheckpointStatus::Failed, ..) => "failed",
            (_, None, Some(_)) => "never run",
            (_, Some(exported), Some(last)) if exported < last => "behind",
            _ => "caught up",
        };
        use ColumnType::{Number, Text, Timestamp};
        RowSet {
            columns: columns(&[
                ("last_received_at", Timestamp),
                ("minutes_since_received", Number),
                ("summaries_through", Timestamp),
                ("summary_age_minutes", Number),
                ("exported_through", Timestamp),
                ("export_lag_minutes", Number),
                ("export_status", Text),
                ("export_error", Text),
            ]),
            rows: vec![vec![
                self.time(self.last_received_at),
                Self::minutes(self.last_received_at, self.now),
                self.time(through),
                Self::minutes(through, self.now),
                self.time(exported),
                lag,
                json!(status),
                self.export.error.as_ref().map_or(Value::Null, |e| json!(e)),
            ]],
            comparisons: vec![],
            note: Some(format!(
                "As of {} ({})",
                self.now.with_timezone(&self.zone).format("%-d %b %Y %H:%M"),
                self.zone.name()
            )),
            label: None,
        }
    }
}
