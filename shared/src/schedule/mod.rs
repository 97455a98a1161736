//! When schedules fire: rules evaluated in their IANA timezone (chrono-tz), fire times in UTC.
//!
//! - `mod.rs` (this file): [`CompiledRule`] (parse once, evaluate many times), [`Occurrence`],
//!   [`RuleError`] and the [`presets`] of seed `001`.
//! - [`cron`]: strict 5-field cron expressions, parsed and evaluated by `croner`.
//! - [`recurrence`]: the structured rule of seed `003` ⇄ RFC 5545 text, evaluated with `rrule`.
//! - `zone`: wall-clock → instant for recurrence occurrences (the gap/overlap rules below).
//! - `tests.rs`: the DST suite over real 2026 transitions, seed examples, presets, errors.
//!
//! # DST
//!
//! Cron (Vixie cron's rule, which croner implements; see [`cron`]):
//! - a job with one fixed minute and one fixed hour whose local time is skipped runs once, at
//!   the first instant after the gap (`30 2 * * *` on 2026-03-08 in New York runs at 03:00 EDT),
//!   `dst_shifted = true`; its repeated local time runs once, in the first pass (earlier instant);
//! - jobs with `*`, steps, lists or several hours follow the wall clock: skipped slots do not run,
//!   repeated slots run once per instant.
//!
//! Recurrence rules (RFC 5545; see [`recurrence`]):
//! - a skipped local time takes the offset in force before the gap (02:30 → 03:30 EDT on
//!   2026-03-08), `dst_shifted = true`;
//! - a repeated local time means its first occurrence (the earlier instant);
//! - identical instants fire once; a DTSTART inside a gap or an overlap is fine, and a day whose
//!   local midnight does not exist (Santiago, 2026-09-06) keeps its occurrences.
//!
//! # Semantics shared by both kinds
//!
//! - Searches are strictly after the given instant; results ascend and never repeat an instant.
//! - Occurrences before a recurrence rule's `start` never fire; `until` is inclusive (the whole
//!   local day).
//! - [`CompiledRule::compile`] refuses only what does not parse or is out of range. A rule that
//!   parses but can never fire (`0 0 30 2 *`; allowed days excluding the one date a once rule
//!   has; an `until` before the first occurrence) compiles with an empty preview, and
//!   [`CompiledRule::ensure_fires`] (the check before saving) returns [`RuleError::NeverFires`]
//!   with the reason; it also covers the time-dependent case, no occurrence after `now` (a once
//!   rule in the past, an `until` that has passed).
//!
//! # Caps (no search loops forever)
//!
//! - [`MAX_PREVIEW`] occurrences per preview. Searches cover the years 1900–9998: an earlier
//!   `after` searches from 1900, a later one finds nothing (and never panics).
//! - Cron: each search is croner's (a wall-clock walk bounded by croner at the year 5000, so a
//!   cron rule has no occurrence after that); a
//!   failed search is retried from a day later at most 3 times. Compile checks that the
//!   expression matches at all with one such search (about 70 ms for `0 0 30 2 *`); a rule
//!   found never to fire is not searched again.
//! - Recurrence: at most [`recurrence::MAX_STEPS`] (100,000) wall-clock candidates per search,
//!   and `rrule`'s own limit of 100,000 empty periods in a row; DTSTART is re-anchored near the
//!   searched time so the cost does not grow with the rule's age. A search that hits a cap
//!   before the rule ends yields nothing from [`CompiledRule::next_after`] (and a warning in
//!   the log) and a [`RuleError::NeverFires`] saying so from [`CompiledRule::ensure_fires`]. A
//!   rule that fires at all does not hit these caps in practice: searches start at most one
//!   period plus two days before the wanted time.

pub mod cron;
pub mod recurrence;
pub mod rfc5545;
pub(crate) mod zone;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use chrono::{DateTime, Datelike, FixedOffset, TimeZone, Utc};
use chrono_tz::Tz;

use crate::domain::ScheduleRule;

use self::cron::CronExpr;
use self::recurrence::Plan;
use self::rfc5545::TextRule;

/// The most occurrences one [`CompiledRule::preview`] returns.
pub const MAX_PREVIEW: usize = 500;

/// Searches cover 1900–9998: an earlier `after` searches from 1900 (recurrence starts are not
/// earlier), a later one finds nothing (the rules' range ends at 9999, near chrono's limits for
/// local times).
fn search_from(after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match after.year() {
        ..1900 => Utc.with_ymd_and_hms(1900, 1, 1, 0, 0, 0).single(),
        9999.. => None,
        _ => Some(after),
    }
}

/// One fire time of a rule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Occurrence {
    /// The instant (UTC).
    pub at: DateTime<Utc>,
    /// The wall-clock time in the rule's zone at that instant, with its offset.
    pub local: DateTime<FixedOffset>,
    /// True when a DST transition moved this occurrence away from the local time the rule names
    /// (a skipped time run after/with the pre-gap offset). A repeated (ambiguous) local time that
    /// runs in its first pass is NOT moved (false).
    pub dst_shifted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("invalid cron expression `{expression}`: {reason}")]
    InvalidCron { expression: String, reason: String },
    #[error("`{0}` is not an IANA timezone")]
    InvalidTimezone(String),
    #[error("invalid recurrence rule: {0}")]
    InvalidRecurrence(String),
    /// The rule parses but selects no time (e.g. `0 0 30 2 *`; Allowed Days excluding the only day a
    /// fixed-date rule lands on; an `until` before the first occurrence). The message says why.
    #[error("the rule never fires: {0}")]
    NeverFires(String),
}

/// A rule ready to evaluate in its timezone (parse once, evaluate many times; cheap to clone).
#[derive(Debug, Clone)]
pub struct CompiledRule {
    tz: Tz,
    kind: Kind,
    /// Why the rule can never fire, whatever the time (found once, at compile).
    never: Option<String>,
}

#[derive(Debug, Clone)]
enum Kind {
    Cron(Arc<CronExpr>),
    Recurrence(Arc<dyn Recurring>),
}

/// A recurrence evaluated with `rrule`: the structured rule or RFC 5545 text.
trait Recurring: std::fmt::Debug + Send + Sync {
    /// Up to `count` occurrences strictly after `after` (from the start when `None`).
    fn find(&self, after: Option<DateTime<Utc>>, count: usize) -> recurrence::Found;
    /// Why a search found nothing.
    fn why_nothing(&self, after: Option<DateTime<Utc>>, capped: bool) -> String;
}

impl Recurring for Plan {
    fn find(&self, after: Option<DateTime<Utc>>, count: usize) -> recurrence::Found {
        Plan::find(self, after, count)
    }

    fn why_nothing(&self, after: Option<DateTime<Utc>>, capped: bool) -> String {
        Plan::why_nothing(self, after, capped)
    }
}

impl Recurring for TextRule {
    fn find(&self, after: Option<DateTime<Utc>>, count: usize) -> recurrence::Found {
        TextRule::find(self, after, count)
    }

    fn why_nothing(&self, after: Option<DateTime<Utc>>, capped: bool) -> String {
        TextRule::why_nothing(self, after, capped)
    }
}

impl CompiledRule {
    /// Parses and checks `rule` in `timezone` (an IANA name such as `Europe/London`, or `UTC`).
    ///
    /// Errors: [`RuleError::InvalidTimezone`], [`RuleError::InvalidCron`] and
    /// [`RuleError::InvalidRecurrence`] (including out-of-range fields: every 1–1000, month
    /// 1–12, occurrence 1–5, years 1900–9999). A rule that parses but can never fire compiles:
    /// its preview is empty (seed `003`: "your rule selects no dates") and
    /// [`CompiledRule::ensure_fires`] returns [`RuleError::NeverFires`] with the reason, which is
    /// found here, once.
    pub fn compile(rule: &ScheduleRule, timezone: &str) -> Result<Self, RuleError> {
        let tz = timezone.parse::<Tz>().map_err(|_| RuleError::InvalidTimezone(timezone.to_string()))?;
        let (kind, never) = match rule {
            ScheduleRule::Cron { expression } => {
                let expr = CronExpr::parse(expression)?;
                let never = (!expr.ever_matches(tz)).then(|| {
                    format!(
                        "cron expression `{}` never matches: no real date satisfies its day-of-month and month fields",
                        expr.as_str()
                    )
                });
                (Kind::Cron(Arc::new(expr)), never)
            }
            ScheduleRule::Recurrence(rule) => recurring(Arc::new(Plan::new(rule, tz)?)),
            ScheduleRule::Rrule { text } => {
                let rule = TextRule::parse(text)?;
                if rule.tz() != tz {
                    return Err(RuleError::InvalidRecurrence(format!(
                        "the rule's zone `{}` differs from the schedule's timezone `{timezone}`",
                        rule.timezone
                    )));
                }
                recurring(Arc::new(rule))
            }
        };
        Ok(Self { tz, kind, never })
    }

    /// The first occurrence strictly after `after`, or None when the rule has ended (Once already
    /// passed, `until` passed) or never fires. Also None, with a warning logged, if a search cap
    /// is hit first (see the module docs; not reachable for a rule that fires at all).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<Occurrence> {
        if self.never.is_some() {
            return None;
        }
        let after = search_from(after)?;
        match &self.kind {
            Kind::Cron(expr) => expr.next_after(after, self.tz),
            Kind::Recurrence(plan) => {
                let found = plan.find(Some(after), 1);
                if found.capped {
                    tracing::warn!(%after, "recurrence search stopped at its cap");
                }
                found.occurrences.into_iter().next()
            }
        }
    }

    /// Up to `count` (capped at [`MAX_PREVIEW`]) occurrences strictly after `after`, ascending,
    /// no duplicates (identical instants fire once). Empty for a rule that never fires.
    pub fn preview(&self, after: DateTime<Utc>, count: usize) -> Vec<Occurrence> {
        let count = count.min(MAX_PREVIEW);
        let Some(after) = search_from(after).filter(|_| self.never.is_none()) else { return Vec::new() };
        match &self.kind {
            Kind::Cron(expr) => {
                let mut out: Vec<Occurrence> = Vec::with_capacity(count);
                let mut cursor = after;
                while out.len() < count {
                    let Some(next) = expr.next_after(cursor, self.tz) else { break };
                    cursor = next.at;
                    out.push(next);
                }
                out
            }
            Kind::Recurrence(plan) => plan.find(Some(after), count).occurrences,
        }
    }

    /// Validation for save: Err(NeverFires(reason)) when there is no occurrence after `now`:
    /// the rule can never fire (`0 0 30 2 *`, allowed days excluding a once rule's date, an
    /// `until` before the first occurrence, …) or has no occurrence left (a once rule in the
    /// past, an `until` that has passed).
    pub fn ensure_fires(&self, now: DateTime<Utc>) -> Result<(), RuleError> {
        if let Some(reason) = &self.never {
            return Err(RuleError::NeverFires(reason.clone()));
        }
        let Some(now) = search_from(now) else {
            return Err(RuleError::NeverFires(format!("no occurrence after {now}")));
        };
        match &self.kind {
            Kind::Cron(expr) => match expr.next_after(now, self.tz) {
                Some(_) => Ok(()),
                None => Err(RuleError::NeverFires(format!(
                    "cron expression `{}` has no fire time after {now}",
                    expr.as_str()
                ))),
            },
            Kind::Recurrence(plan) => {
                let found = plan.find(Some(now), 1);
                if found.occurrences.is_empty() {
                    Err(RuleError::NeverFires(plan.why_nothing(Some(now), found.capped)))
                } else {
                    Ok(())
                }
            }
        }
    }

    pub fn timezone(&self) -> Tz {
        self.tz
    }
}

/// The rule as RFC 5545 text (recurrence rules: the structured form written out, or the text
/// as kept); none for cron.
pub fn as_rfc5545(rule: &ScheduleRule, timezone: &str) -> Option<String> {
    match rule {
        ScheduleRule::Recurrence(r) => Some(recurrence::to_rfc5545(r, timezone)),
        ScheduleRule::Rrule { text } => Some(text.clone()),
        ScheduleRule::Cron { .. } => None,
    }
}

/// A recurrence ready to evaluate, and why it never fires (found once, here).
fn recurring(rule: Arc<dyn Recurring>) -> (Kind, Option<String>) {
    let first = rule.find(None, 1);
    let never = first.occurrences.is_empty().then(|| rule.why_nothing(None, first.capped));
    (Kind::Recurrence(rule), never)
}

/// Presets of seed 001: ("Daily 8am", "0 8 * * *"), ("Weekly Mon 8am", "0 8 * * 1"), ("Monthly 1st 8am", "0 8 1 * *").
pub fn presets() -> Vec<(&'static str, ScheduleRule)> {
    [("Daily 8am", "0 8 * * *"), ("Weekly Mon 8am", "0 8 * * 1"), ("Monthly 1st 8am", "0 8 1 * *")]
        .into_iter()
        .map(|(name, expression)| (name, ScheduleRule::Cron { expression: expression.to_string() }))
        .collect()
}
