//! Cron rules: strict 5-field expressions parsed and evaluated by `croner`, in an IANA zone.
//!
//! Accepted: `minute hour day-of-month month day-of-week`, with lists, ranges and `*/n` steps,
//! month and weekday names (`JAN`, `MON`, case-insensitive), `?` (same as `*` in the day fields),
//! `L` (last day of the month; `5L` last Friday), `W` (`15W`, nearest weekday), `#` (`MON#2`,
//! second Monday), and the nicknames `@yearly`/`@annually`, `@monthly`, `@weekly` (Sunday),
//! `@daily`/`@midnight` and `@hourly`. Rejected with a reason: 6- and 7-field expressions
//! (seconds, years), other nicknames (`@reboot`), and croner's `+` day-of-week modifier.
//!
//! Day matching is POSIX/Vixie: when both day-of-month and day-of-week are restricted, a day
//! matches if EITHER does (`0 9 13 * FRI` fires on every 13th and on every Friday). croner's
//! default (`dom_and_dow = false`) is this OR; the parser sets it explicitly and refuses `+`
//! (croner's per-expression switch to AND).
//!
//! DST, as croner 4.0.3 implements it (verified by the tests in `super::tests`):
//! - a *fixed-time* job (one minute value and one hour value, no `*`, step or list) whose local
//!   time is skipped runs once, at the first instant after the gap (02:30 on the US
//!   spring-forward day runs at 03:00 EDT; Santiago's `0 0 * * *` on the day its midnight is
//!   skipped runs at 01:00); the occurrence is flagged `dst_shifted`. Its repeated local time
//!   runs once, in the first pass (the earlier instant).
//! - every other job follows the wall clock: skipped slots do not run, and a repeated slot runs
//!   once per instant (`*/30` runs 01:00 and 01:30 twice on the US fall-back day).
//!
//! This matches DESIGN.md, so nothing is layered on top of croner here.

use std::fmt;

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use super::{Occurrence, RuleError};

/// After a croner search error at run time the search restarts this much later, at most
/// [`MAX_RETRIES`] times. Expressions that never match are refused at compile, so this only
/// covers croner's own limits (e.g. its 2-hour cap on walking through a DST gap, which a
/// fixed-time job in a longer gap such as Samoa's skipped day of 2011 would hit).
const RETRY_STEP: Duration = Duration::days(1);
const MAX_RETRIES: usize = 3;

/// A parsed cron expression (cheap to clone).
#[derive(Clone)]
pub struct CronExpr {
    expression: String,
    cron: Cron,
}

impl fmt::Debug for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CronExpr").field(&self.expression).finish()
    }
}

impl CronExpr {
    /// Parses a strict 5-field expression or a nickname. Does not check that it ever matches
    /// (see [`super::CompiledRule::compile`]).
    pub fn parse(expression: &str) -> Result<Self, RuleError> {
        let invalid = |reason: String| RuleError::InvalidCron { expression: expression.to_string(), reason };
        let trimmed = expression.trim();
        let fields: String = if trimmed.starts_with('@') {
            nickname(trimmed)
                .ok_or_else(|| {
                    invalid(format!(
                        "unknown nickname `{trimmed}`; use @yearly, @annually, @monthly, @weekly, @daily, \
                         @midnight or @hourly"
                    ))
                })?
                .to_string()
        } else {
            let count = trimmed.split_whitespace().count();
            match count {
                5 => {}
                6 | 7 => {
                    return Err(invalid(format!(
                        "{count} fields given; exactly 5 are allowed (minute hour day-of-month month day-of-week): \
                         seconds and years are not supported"
                    )));
                }
                _ => {
                    return Err(invalid(format!(
                        "{count} fields given; exactly 5 are needed (minute hour day-of-month month day-of-week)"
                    )));
                }
            }
            if trimmed.split_whitespace().nth(4).is_some_and(|dow| dow.starts_with('+')) {
                return Err(invalid(
                    "the `+` day-of-week modifier is not supported: when day-of-month and day-of-week are both \
                     restricted, a day matches if either matches (POSIX)"
                        .to_string(),
                ));
            }
            trimmed.to_string()
        };
        let parser = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .dom_and_dow(false)
            .alternative_weekdays(false)
            .sloppy_ranges(false)
            .build();
        let cron = parser.parse(&fields).map_err(|e| invalid(e.to_string()))?;
        Ok(Self { expression: expression.to_string(), cron })
    }

    /// The expression as given.
    pub fn as_str(&self) -> &str {
        &self.expression
    }

    /// True for a job with one minute and one hour value (no `*`, step or list): such a job
    /// runs right after a DST gap that skips its time; other jobs follow the wall clock.
    pub fn is_fixed_time(&self) -> bool {
        self.cron.determine_job_type() == croner::JobType::FixedTime
    }

    /// False when no date ever matches (`0 0 30 2 *`). A 5-field expression repeats every 400
    /// years and croner searches to the year 5000, so one search from 2000 decides it.
    pub fn ever_matches(&self, tz: Tz) -> bool {
        let Some(reference) = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).single() else { return true };
        self.cron.find_next_occurrence(&reference.with_timezone(&tz), false).is_ok()
    }

    /// The first fire time strictly after `after`, evaluated in `tz`. `None` when croner finds
    /// nothing (each search is bounded by croner: wall-clock walk up to the year 5000) even
    /// after restarting a day later 3 times.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<Occurrence> {
        let mut origin = after.with_timezone(&tz);
        for _ in 0..=MAX_RETRIES {
            match self.cron.find_next_occurrence(&origin, false) {
                Ok(found) => {
                    // A fixed-time job moved past a DST gap no longer shows its own wall-clock time.
                    let shifted = !self.cron.is_time_matching(&found).unwrap_or(true);
                    return Some(Occurrence {
                        at: found.with_timezone(&Utc),
                        local: found.fixed_offset(),
                        dst_shifted: shifted,
                    });
                }
                Err(error) => {
                    tracing::warn!(expression = %self.expression, %error, "cron search failed; retrying a day later");
                    origin = origin.checked_add_signed(RETRY_STEP)?;
                }
            }
        }
        None
    }
}

/// The 5-field expansion of a nickname.
fn nickname(text: &str) -> Option<&'static str> {
    Some(match text.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        _ => return None,
    })
}
