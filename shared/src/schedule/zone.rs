//! Wall-clock time → instant in an IANA zone, with the RFC 5545 rules for times that a DST
//! transition skips or repeats. Used for recurrence occurrences (cron resolves through croner).

use chrono::{DateTime, Duration, FixedOffset, LocalResult, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// How far back [`resolve`] looks for the last wall-clock time before a gap (one-minute steps).
/// Real gaps last 30 minutes to 2 hours (a whole day once, in Samoa in 2011).
const MAX_GAP_LOOKBACK_MINUTES: i64 = 48 * 60;

/// A wall-clock time pinned to one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub at: DateTime<Utc>,
    pub local: DateTime<FixedOffset>,
    /// The instant's wall clock differs from the requested one (the requested time was skipped).
    pub shifted: bool,
}

/// Pins `wall` in `tz`:
/// - a time that exists once is that instant;
/// - a repeated (ambiguous) time is its first occurrence, the earlier instant (not shifted);
/// - a skipped (nonexistent) time is read with the offset in force before the gap, so 02:30 on
///   the US spring-forward day is 02:30 EST = 03:30 EDT (RFC 5545 §3.3.5), flagged `shifted`.
///
/// `None` only when no wall-clock time exists within two days before a skipped one, which no
/// zone in the tz database has, or when the result is out of chrono's range.
pub(crate) fn resolve(tz: Tz, wall: NaiveDateTime) -> Option<Resolved> {
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(dt) | LocalResult::Ambiguous(dt, _) => {
            Some(Resolved { at: dt.with_timezone(&Utc), local: dt.fixed_offset(), shifted: false })
        }
        LocalResult::None => {
            let before_gap = pre_gap_offset(tz, wall)?;
            let at = wall.checked_sub_signed(Duration::seconds(i64::from(before_gap.local_minus_utc())))?.and_utc();
            let local = at.with_timezone(&tz).fixed_offset();
            Some(Resolved { at, local, shifted: local.naive_local() != wall })
        }
    }
}

/// The UTC offset of the last wall-clock time that exists before `wall`.
fn pre_gap_offset(tz: Tz, wall: NaiveDateTime) -> Option<FixedOffset> {
    let mut probe = wall;
    for _ in 0..MAX_GAP_LOOKBACK_MINUTES {
        probe = probe.checked_sub_signed(Duration::minutes(1))?;
        match tz.from_local_datetime(&probe) {
            LocalResult::Single(dt) => return Some(dt.offset().fix()),
            // The later reading of a repeated time is the offset in force right after it.
            LocalResult::Ambiguous(_, later) => return Some(later.offset().fix()),
            LocalResult::None => {}
        }
    }
    None
}

/// The wall-clock time in `tz` at `at`.
pub(crate) fn wall_clock(tz: Tz, at: DateTime<Utc>) -> NaiveDateTime {
    at.with_timezone(&tz).naive_local()
}
