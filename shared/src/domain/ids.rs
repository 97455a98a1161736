//! Typed identifiers. Every entity id is a ULID (sortable by creation time) wrapped in its own
//! type so a run id can never be passed where an entry id is expected.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ulid::Ulid;

/// An id string that is not a valid ULID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid id")]
pub struct InvalidId {
    pub value: String,
}

macro_rules! ulid_id {
    ($($(#[$meta:meta])* $name:ident;)+) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Ulid);

        impl $name {
            /// A fresh id whose time part is `now` (ids sort by creation time).
            pub fn generate(now: DateTime<Utc>) -> Self {
                Self(Ulid::from_parts(now.timestamp_millis().max(0) as u64, rand::random()))
            }

            pub fn from_ulid(ulid: Ulid) -> Self {
                Self(ulid)
            }

            pub fn ulid(self) -> Ulid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                let about = concat!("A ", stringify!($name), ": a ULID (26 characters, sortable by creation time)");
                let example = Some("01JD8X0Q6V4W7ZB9N3K2M5P8RT");
                let pattern = Some("^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$");
                super::values::string_schema(about, Some("ulid"), pattern, Some((26, 26)), example)
            }
        }

        impl utoipa::ToSchema for $name {}

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ulid::from_string(s)
                    .map(Self)
                    .map_err(|_| InvalidId { value: s.chars().take(64).collect() })
            }
        }
    )+};
}

ulid_id! {
    /// A workspace (tenant).
    WorkspaceId;
    /// A personal access token.
    TokenId;
    /// A configured destination (email, Slack, Teams, webhook, S3).
    DestinationId;
    /// A report template.
    ReportId;
    /// A schedule of a report.
    ScheduleId;
    /// One execution of a report.
    RunId;
    /// One entry of a run (one per repeating row, or one).
    EntryId;
    /// One (entry × delivery) record.
    DeliveryId;
    /// One event of a workspace's interaction history.
    InteractionId;
    /// A file kept for a while (a consolidated review document).
    TemporaryFileId;
    /// A connection to a database.
    ConnectionId;
    /// An alert rule.
    AlertRuleId;
    /// A named parameter set of a schedule (seed `004`'s region configs).
    ConfigurationId;
}

impl EntryId {
    /// `count` ids with one time part whose order is the order of the entries (seq).
    pub fn sequence(now: DateTime<Utc>, count: usize) -> Vec<Self> {
        let ms = now.timestamp_millis().max(0) as u64;
        // Leave room above the random base so adding `count` never overflows 80 bits.
        let base = rand::random::<u64>() as u128 >> 1;
        (0..count as u128).map(|i| Self(Ulid::from_parts(ms, base + i))).collect()
    }
}

impl RunId {
    /// The id of the run a schedule creates for one occurrence. Deterministic, so every tick
    /// that sees the same slot derives the same id and the store's uniqueness check turns the
    /// second attempt into a no-op.
    pub fn for_slot(schedule: ScheduleId, scheduled_for: DateTime<Utc>) -> Self {
        let mut hash = Sha256::new();
        hash.update(schedule.0.to_bytes());
        hash.update(scheduled_for.timestamp_millis().to_be_bytes());
        let digest = hash.finalize();
        let mut random = [0u8; 16];
        random[6..].copy_from_slice(&digest[..10]);
        Self(Ulid::from_parts(scheduled_for.timestamp_millis().max(0) as u64, u128::from_be_bytes(random)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn ids_round_trip_through_their_string_form() {
        let id = ReportId::generate(Utc::now());
        assert_eq!(id.to_string().parse::<ReportId>().unwrap(), id);
    }

    #[test]
    fn an_invalid_id_is_rejected_with_its_value() {
        let err = "not-a-ulid".parse::<RunId>().unwrap_err();
        assert_eq!(err.value, "not-a-ulid");
    }

    #[test]
    fn ids_sort_by_creation_time() {
        let early = RunId::generate(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        let late = RunId::generate(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 1).unwrap());
        assert!(early < late);
        assert!(early.to_string() < late.to_string());
    }

    #[test]
    fn entry_ids_of_one_run_sort_in_sequence_order() {
        let ids = EntryId::sequence(Utc::now(), 1000);
        let strings: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let mut sorted = strings.clone();
        sorted.sort();
        assert_eq!(strings, sorted);
        assert_eq!(ids.iter().collect::<std::collections::BTreeSet<_>>().len(), 1000);
    }

    #[test]
    fn a_slot_always_derives_the_same_run_id_and_other_slots_differ() {
        let schedule = ScheduleId::generate(Utc::now());
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap();
        assert_eq!(RunId::for_slot(schedule, at), RunId::for_slot(schedule, at));
        assert_ne!(RunId::for_slot(schedule, at), RunId::for_slot(schedule, at + chrono::Duration::minutes(1)));
        let other = ScheduleId::generate(Utc::now());
        assert_ne!(RunId::for_slot(schedule, at), RunId::for_slot(other, at));
    }
}
