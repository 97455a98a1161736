//! Recurrence rules (seed `003`, step 5): the structured [`RecurrenceRule`] ⇄ RFC 5545 text,
//! and evaluation with the `rrule` crate.
//!
//! # Meaning of the structured form, as RRULE parts
//!
//! | field | RRULE |
//! |---|---|
//! | `trigger` | `FREQ=YEARLY/MONTHLY/WEEKLY/DAILY/HOURLY`; `Once` is `FREQ=DAILY;COUNT=1` (one run at `start`) |
//! | `every` | `INTERVAL` (omitted when 1) |
//! | `until` | `UNTIL` = the end (23:59:59) of that local day, in UTC as RFC 5545 requires with a `TZID` |
//! | `month` (yearly) | `BYMONTH` (always written for yearly rules; absent means `start`'s month) |
//! | `allowed_days` | `BYDAY` |
//! | `occurrence`, `count_from_end` | `BYSETPOS=n`, or `BYSETPOS=-n` when counting from the end |
//!
//! What `allowed_days` does depends on the trigger:
//! - Hourly, Daily: a filter (only those weekdays fire). "Every weekday at 7 AM" is Daily +
//!   Mon–Fri.
//! - Weekly: the weekdays each week fires on (none given: `start`'s weekday).
//! - Monthly, Yearly with an `occurrence`: the candidates it counts among. "1st Monday" is
//!   Monthly + Mon + occurrence 1; "last business day of the quarter" is Monthly every 3 +
//!   Mon–Fri + occurrence 1 + count from end (`BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1`). An
//!   occurrence without allowed days counts among all seven (occurrence 1 from the end = last day).
//! - Monthly, Yearly without an `occurrence`: the rule is a fixed date (`start`'s day of the
//!   month; for yearly rules in `month`), and allowed days filter it: a date on another weekday
//!   is skipped (`BYMONTHDAY=<start's day>;BYDAY=…`). Months without that day are skipped too
//!   (RFC 5545: monthly on the 31st skips 30-day months).
//! - Once: a filter on the one date; allowed days that exclude it make the rule never fire
//!   (written `FREQ=DAILY;UNTIL=<start>;BYDAY=…`).
//!
//! The time of day always comes from `start`. Occurrences before `start` never fire.
//! Fields a trigger does not use are dropped ([`canonical`]): `month` unless yearly,
//! `occurrence`/`count_from_end` for hourly, daily and once rules, `count_from_end` without an
//! occurrence, `until` of a once rule (unless it is before the start), sub-second parts of
//! `start`; allowed days are sorted Monday first. `from_rfc5545(&to_rfc5545(r, tz))` is
//! `Ok((canonical(r), tz))` for every valid rule that fires at all (and so `(r, tz)` for a
//! canonical one).
//!
//! # Evaluation and DST
//!
//! `rrule` runs on *floating* wall-clock time (UTC as a stand-in zone): in a real zone the crate
//! refuses a DTSTART that falls in a gap or an overlap, and drops every occurrence on a day whose
//! local midnight does not exist (Santiago's September change at 00:00). Each wall-clock
//! occurrence is then pinned in the rule's zone here:
//! - a skipped local time takes the offset in force before the gap (RFC 5545 §3.3.5: 02:30 on
//!   the US spring-forward day runs at 03:30 EDT), flagged `dst_shifted`;
//! - a repeated local time means its first occurrence (the earlier instant), not flagged;
//! - identical instants fire once (an hourly rule's skipped 02:00 and its 03:00 are one slot).
//!
//! Because pinning can reorder wall-clock times that a gap squeezes together, occurrences pass
//! through a small buffer (two days of wall-clock time) that sorts them by instant.
//!
//! # Cost and caps
//!
//! `rrule` iterates forward from DTSTART, so each search re-anchors DTSTART near the wanted
//! time, at a whole number of periods after `start` (hours, days, weeks from `start`'s Monday,
//! months, years), which keeps the interval's phase: the cost does not grow with the rule's age.
//! Each call reads at most [`MAX_STEPS`] wall-clock candidates from `rrule`, and `rrule` itself
//! stops after 100,000 empty periods in a row (its `limit()`), so no search loops forever.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Write as _;

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, Month, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc,
    Weekday,
};
use chrono_tz::Tz;
use rrule::{Frequency, NWeekday, RRule, RRuleSetIter, Unvalidated};

use super::zone;
use super::{Occurrence, RuleError};
use crate::domain::{RecurrenceRule, Trigger};

/// Wall-clock candidates one search reads from `rrule` at most.
pub const MAX_STEPS: usize = 100_000;

/// Occurrences are released in instant order once the wall clock has moved this far past them;
/// DST offsets differ by far less, so nothing earlier can still arrive.
const REORDER_WINDOW: Duration = Duration::days(2);

/// A search for occurrences after `after` anchors DTSTART at least this far (plus up to one
/// period) before `after`'s wall-clock time.
pub(super) const ANCHOR_MARGIN: Duration = Duration::days(2);

const ALL_DAYS: [Weekday; 7] =
    [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];

pub(super) const LAST_SECOND: NaiveTime = match NaiveTime::from_hms_opt(23, 59, 59) {
    Some(time) => time,
    None => NaiveTime::MIN,
};

pub(super) fn invalid(message: impl Into<String>) -> RuleError {
    RuleError::InvalidRecurrence(message.into())
}

// ---------------------------------------------------------------------------------------------
// Canonical form and RFC 5545 text
// ---------------------------------------------------------------------------------------------

/// The rule with the fields its trigger does not use dropped (see the module docs), allowed
/// days sorted Monday first, and `start` cut to whole seconds. Evaluation and [`to_rfc5545`]
/// see only this form, and [`from_rfc5545`] returns it.
pub fn canonical(rule: &RecurrenceRule) -> RecurrenceRule {
    let mut r = rule.clone();
    r.start = r.start.with_nanosecond(0).unwrap_or(r.start);
    r.allowed_days.sort_by_key(Weekday::num_days_from_monday);
    r.allowed_days.dedup();
    // A daily rule whose only candidate is its start is a once rule (the texts coincide).
    if r.trigger == Trigger::Daily && r.until == Some(r.start.date()) && r.start.time() == LAST_SECOND {
        r.trigger = Trigger::Once;
    }
    match r.trigger {
        Trigger::Once | Trigger::Hourly | Trigger::Daily => {
            r.month = None;
            r.occurrence = None;
            r.count_from_end = false;
            if r.trigger == Trigger::Once && r.until.is_some_and(|until| until >= r.start.date()) {
                r.until = None;
            }
        }
        Trigger::Weekly | Trigger::Monthly | Trigger::Yearly => {
            r.month = match r.trigger {
                Trigger::Yearly => Some(r.month.unwrap_or(r.start.month() as u8)),
                _ => None,
            };
            if r.occurrence.is_none() {
                r.count_from_end = false;
            } else if r.allowed_days.is_empty() {
                r.allowed_days = ALL_DAYS.to_vec();
            }
        }
    }
    r
}

/// RFC 5545 text: `"DTSTART;TZID=America/New_York:20260105T090000\nRRULE:FREQ=MONTHLY;BYDAY=MO;BYSETPOS=1"`.
///
/// Writes the [`canonical`] form. The timezone `UTC` is written as a UTC DTSTART
/// (`DTSTART:20260105T090000Z`). `UNTIL` is converted to UTC in `timezone`; if `timezone` is not
/// an IANA name it is written as floating local time (and [`from_rfc5545`] refuses the TZID).
pub fn to_rfc5545(rule: &RecurrenceRule, timezone: &str) -> String {
    let r = canonical(rule);
    let tz = timezone.parse::<Tz>().ok();
    let mut text = String::new();
    let start = r.start.format("%Y%m%dT%H%M%S");
    if timezone == "UTC" {
        let _ = write!(text, "DTSTART:{start}Z");
    } else {
        let _ = write!(text, "DTSTART;TZID={timezone}:{start}");
    }
    let mut parts = vec![format!("FREQ={}", freq_name(r.trigger))];
    if r.every != 1 {
        parts.push(format!("INTERVAL={}", r.every));
    }
    match (r.trigger, r.until) {
        (Trigger::Once, None) if r.allowed_days.is_empty() => parts.push("COUNT=1".to_string()),
        (Trigger::Once, None) => parts.push(format!("UNTIL={}", until_value(tz, r.start))),
        (_, Some(until)) => parts.push(format!("UNTIL={}", until_value(tz, until.and_time(LAST_SECOND)))),
        (_, None) => {}
    }
    if let Some(month) = r.month {
        parts.push(format!("BYMONTH={month}"));
    }
    if matches!(r.trigger, Trigger::Monthly | Trigger::Yearly) && r.occurrence.is_none() && !r.allowed_days.is_empty() {
        parts.push(format!("BYMONTHDAY={}", r.start.day()));
    }
    if !r.allowed_days.is_empty() {
        let days: Vec<&str> = r.allowed_days.iter().map(|d| day_code(*d)).collect();
        parts.push(format!("BYDAY={}", days.join(",")));
    }
    if let Some(n) = r.occurrence {
        let n = i32::from(n);
        parts.push(format!("BYSETPOS={}", if r.count_from_end { -n } else { n }));
    }
    let _ = write!(text, "\nRRULE:{}", parts.join(";"));
    text
}

/// `wall` as an UNTIL value: UTC when the zone is known, else floating.
fn until_value(tz: Option<Tz>, wall: NaiveDateTime) -> String {
    match tz.and_then(|tz| zone::resolve(tz, wall)) {
        Some(resolved) => resolved.at.format("%Y%m%dT%H%M%SZ").to_string(),
        None => wall.format("%Y%m%dT%H%M%S").to_string(),
    }
}

fn freq_name(trigger: Trigger) -> &'static str {
    match trigger {
        Trigger::Yearly => "YEARLY",
        Trigger::Monthly => "MONTHLY",
        Trigger::Weekly => "WEEKLY",
        Trigger::Daily | Trigger::Once => "DAILY",
        Trigger::Hourly => "HOURLY",
    }
}

fn day_code(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "MO",
        Weekday::Tue => "TU",
        Weekday::Wed => "WE",
        Weekday::Thu => "TH",
        Weekday::Fri => "FR",
        Weekday::Sat => "SA",
        Weekday::Sun => "SU",
    }
}

fn parse_day_code(code: &str) -> Option<Weekday> {
    Some(match code {
        "MO" => Weekday::Mon,
        "TU" => Weekday::Tue,
        "WE" => Weekday::Wed,
        "TH" => Weekday::Thu,
        "FR" => Weekday::Fri,
        "SA" => Weekday::Sat,
        "SU" => Weekday::Sun,
        _ => return None,
    })
}

/// Parses a DTSTART line (with a `TZID`, or UTC ending in `Z`, which gives the timezone `UTC`)
/// and one RRULE line into the [`canonical`] structured rule and its timezone.
///
/// Lines may be separated by real line breaks or by a literal `\n` (as typed in a shell), in
/// any order; a bare `FREQ=…` line is read as the RRULE. Anything the structured form cannot
/// express is refused with [`RuleError::InvalidRecurrence`] naming the part: other lines
/// (`EXDATE`, `RDATE`, …), `BYHOUR`/`BYMINUTE`/`BYSECOND` (the time comes from DTSTART),
/// `BYYEARDAY`, `BYWEEKNO`, lists in `BYMONTH`/`BYMONTHDAY`/`BYSETPOS`, a `BYMONTHDAY` other than
/// DTSTART's day, monthly/yearly `BYDAY` without `BYSETPOS` or `BYMONTHDAY` (every such weekday
/// of the month), `COUNT` other than a lone `COUNT=1`, `WKST` other than `MO`, `FREQ=MINUTELY`
/// and `FREQ=SECONDLY`. An ordinal `BYDAY=-1FR` (monthly/yearly) is read as
/// `BYDAY=FR;BYSETPOS=-1`. An unknown TZID is [`RuleError::InvalidTimezone`].
pub fn from_rfc5545(text: &str) -> Result<(RecurrenceRule, String), RuleError> {
    let mut dtstart: Option<(NaiveDateTime, String, Tz)> = None;
    let mut rrule: Option<String> = None;
    for ContentLine { name, params, value } in content_lines(text)? {
        let mut params = params.iter().map(String::as_str);
        match name.as_str() {
            "DTSTART" => {
                if dtstart.is_some() {
                    return Err(invalid("more than one DTSTART line"));
                }
                dtstart = Some(parse_dtstart(params, &value)?);
            }
            "RRULE" => {
                if rrule.is_some() {
                    return Err(invalid("more than one RRULE line; exactly one is supported"));
                }
                if params.next().is_some() {
                    return Err(invalid("RRULE takes no parameters"));
                }
                rrule = Some(value);
            }
            "EXDATE" | "RDATE" | "EXRULE" => {
                return Err(invalid(format!(
                    "{name} is not supported: a schedule has no extra or excluded dates, only DTSTART and one RRULE"
                )));
            }
            _ => return Err(invalid(format!("unknown line `{name}`; expected DTSTART and RRULE"))),
        }
    }
    let (start, timezone, tz) = dtstart.ok_or_else(|| invalid("missing DTSTART line"))?;
    let rrule = rrule.ok_or_else(|| invalid("missing RRULE line"))?;
    let parts = Parts::parse(&rrule)?;
    let rule = parts.into_rule(start, tz)?;
    Ok((canonical(&rule), timezone))
}

/// One line of RFC 5545 text: its name (upper case), its `;` parameters and its value.
pub(super) struct ContentLine {
    pub name: String,
    pub params: Vec<String>,
    pub value: String,
}

/// The non-empty lines of RFC 5545 text, separated by line breaks or a literal `\n` (as typed
/// in a shell); a bare `FREQ=…` line is the RRULE.
pub(super) fn content_lines(text: &str) -> Result<Vec<ContentLine>, RuleError> {
    let normalized = text.replace("\\n", "\n");
    normalized
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (head, value) = match line.split_once(':') {
                Some(split) => split,
                None if line.to_ascii_uppercase().starts_with("FREQ=") => ("RRULE", line),
                None => return Err(invalid(format!("line `{line}` is not `NAME:VALUE`"))),
            };
            let mut params = head.split(';');
            let name = params.next().unwrap_or_default().trim().to_ascii_uppercase();
            Ok(ContentLine { name, params: params.map(String::from).collect(), value: value.trim().to_string() })
        })
        .collect()
}

pub(super) fn parse_dtstart<'a>(
    params: impl Iterator<Item = &'a str>,
    value: &str,
) -> Result<(NaiveDateTime, String, Tz), RuleError> {
    let mut tzid: Option<String> = None;
    for param in params {
        let (key, val) =
            param.split_once('=').ok_or_else(|| invalid(format!("DTSTART parameter `{param}` has no `=`")))?;
        match key.trim().to_ascii_uppercase().as_str() {
            "TZID" => tzid = Some(val.trim().trim_matches('"').to_string()),
            "VALUE" if val.trim().eq_ignore_ascii_case("DATE-TIME") => {}
            "VALUE" => return Err(invalid("DTSTART must be a date-time (VALUE=DATE has no time of day)")),
            other => return Err(invalid(format!("DTSTART parameter `{other}` is not supported"))),
        }
    }
    let (digits, utc) = match value.strip_suffix(['Z', 'z']) {
        Some(digits) => (digits, true),
        None => (value, false),
    };
    let start = parse_basic_datetime(digits)
        .ok_or_else(|| invalid(format!("DTSTART `{value}` is not a date-time like 20260105T090000")))?;
    match (tzid, utc) {
        (Some(_), true) => Err(invalid("DTSTART has both a TZID and a UTC `Z`")),
        (Some(name), false) => {
            let tz = name.parse::<Tz>().map_err(|_| RuleError::InvalidTimezone(name.clone()))?;
            Ok((start, name, tz))
        }
        (None, true) => Ok((start, "UTC".to_string(), Tz::UTC)),
        (None, false) => {
            Err(invalid("DTSTART needs a TZID parameter or a UTC time ending in Z (floating times are not supported)"))
        }
    }
}

/// `YYYYMMDDTHHMMSS`.
pub(super) fn parse_basic_datetime(text: &str) -> Option<NaiveDateTime> {
    let ok = text.len() == 15
        && text.char_indices().all(|(i, c)| if i == 8 { c.eq_ignore_ascii_case(&'T') } else { c.is_ascii_digit() });
    ok.then(|| NaiveDateTime::parse_from_str(&text.to_ascii_uppercase(), "%Y%m%dT%H%M%S").ok()).flatten()
}

/// `YYYYMMDD`.
pub(super) fn parse_basic_date(text: &str) -> Option<NaiveDate> {
    let ok = text.len() == 8 && text.chars().all(|c| c.is_ascii_digit());
    ok.then(|| NaiveDate::parse_from_str(text, "%Y%m%d").ok()).flatten()
}

#[derive(Debug, Clone, Copy)]
enum UntilValue {
    Date(NaiveDate),
    Floating(NaiveDateTime),
    Utc(DateTime<Utc>),
}

/// The parts of an RRULE value, syntax-checked.
#[derive(Debug, Default)]
struct Parts {
    freq: Option<Trigger>,
    interval: Option<u32>,
    count: Option<u32>,
    until: Option<UntilValue>,
    by_month: Option<u8>,
    by_month_day: Option<u32>,
    /// (ordinal, weekday)
    by_day: Vec<(Option<i32>, Weekday)>,
    by_set_pos: Option<i32>,
}

impl Parts {
    fn parse(rrule: &str) -> Result<Self, RuleError> {
        let mut parts = Parts::default();
        let mut seen: Vec<String> = Vec::new();
        for part in rrule.split(';').map(str::trim).filter(|part| !part.is_empty()) {
            let (key, value) =
                part.split_once('=').ok_or_else(|| invalid(format!("RRULE part `{part}` is not `NAME=VALUE`")))?;
            let key = key.trim().to_ascii_uppercase();
            let value = value.trim().to_ascii_uppercase();
            if seen.contains(&key) {
                return Err(invalid(format!("RRULE part {key} appears twice")));
            }
            seen.push(key.clone());
            let single = |what: &str| -> Result<i32, RuleError> {
                if value.contains(',') {
                    return Err(invalid(format!("{what} with several values is not supported")));
                }
                value.parse::<i32>().map_err(|_| invalid(format!("{what}=`{value}` is not a number")))
            };
            match key.as_str() {
                "FREQ" => {
                    parts.freq = Some(match value.as_str() {
                        "YEARLY" => Trigger::Yearly,
                        "MONTHLY" => Trigger::Monthly,
                        "WEEKLY" => Trigger::Weekly,
                        "DAILY" => Trigger::Daily,
                        "HOURLY" => Trigger::Hourly,
                        "MINUTELY" | "SECONDLY" => {
                            return Err(invalid(format!(
                                "FREQ={value} is not supported: the finest trigger is hourly"
                            )));
                        }
                        _ => return Err(invalid(format!("FREQ=`{value}` is not a frequency"))),
                    });
                }
                "INTERVAL" => {
                    let n = single("INTERVAL")?;
                    if !(1..=1000).contains(&n) {
                        return Err(invalid(format!("INTERVAL={n} is out of range: every must be between 1 and 1000")));
                    }
                    parts.interval = u32::try_from(n).ok();
                }
                "COUNT" => {
                    let n = single("COUNT")?;
                    parts.count = Some(u32::try_from(n).map_err(|_| invalid(format!("COUNT={n} is negative")))?);
                }
                "UNTIL" => {
                    let until = if let Some(digits) = value.strip_suffix('Z') {
                        parse_basic_datetime(digits).map(|wall| UntilValue::Utc(wall.and_utc()))
                    } else if value.len() == 8 {
                        parse_basic_date(&value).map(UntilValue::Date)
                    } else {
                        parse_basic_datetime(&value).map(UntilValue::Floating)
                    };
                    parts.until = Some(until.ok_or_else(|| {
                        invalid(format!("UNTIL=`{value}` is not a date (20261231) or date-time (20261231T235959Z)"))
                    })?);
                }
                "BYMONTH" => {
                    let n = single("BYMONTH")?;
                    parts.by_month = Some(
                        u8::try_from(n)
                            .ok()
                            .filter(|m| (1..=12).contains(m))
                            .ok_or_else(|| invalid(format!("BYMONTH={n} is not a month (1-12)")))?,
                    );
                }
                "BYMONTHDAY" => {
                    let n = single("BYMONTHDAY")?;
                    parts.by_month_day =
                        Some(u32::try_from(n).ok().filter(|d| (1..=31).contains(d)).ok_or_else(|| {
                            invalid(format!("BYMONTHDAY={n} is not supported: only a day 1-31 equal to DTSTART's day"))
                        })?);
                }
                "BYDAY" => {
                    for item in value.split(',').map(str::trim) {
                        let split = item.len().saturating_sub(2);
                        let (ordinal, code) = (item.get(..split).unwrap_or(""), item.get(split..).unwrap_or(""));
                        let day = parse_day_code(code)
                            .ok_or_else(|| invalid(format!("BYDAY item `{item}` is not a weekday (MO…SU)")))?;
                        let ordinal =
                            if ordinal.is_empty() {
                                None
                            } else {
                                Some(ordinal.parse::<i32>().map_err(|_| {
                                    invalid(format!("BYDAY item `{item}` has a bad ordinal `{ordinal}`"))
                                })?)
                            };
                        parts.by_day.push((ordinal, day));
                    }
                }
                "BYSETPOS" => {
                    let n = single("BYSETPOS")?;
                    if n == 0 || !(-5..=5).contains(&n) {
                        return Err(invalid(format!(
                            "BYSETPOS={n} is not supported: only 1 to 5 or -1 to -5 (the Nth possible occurrence)"
                        )));
                    }
                    parts.by_set_pos = Some(n);
                }
                "WKST" => {
                    if value != "MO" {
                        return Err(invalid(format!("WKST={value} is not supported: weeks start on Monday (WKST=MO)")));
                    }
                }
                "BYHOUR" | "BYMINUTE" | "BYSECOND" => {
                    return Err(invalid(format!("{key} is not supported: the time of day comes from DTSTART")));
                }
                _ => return Err(invalid(format!("RRULE part {key} is not supported"))),
            }
        }
        Ok(parts)
    }

    fn into_rule(self, start: NaiveDateTime, tz: Tz) -> Result<RecurrenceRule, RuleError> {
        let freq = self.freq.ok_or_else(|| invalid("RRULE needs FREQ"))?;
        let every = self.interval.unwrap_or(1);
        let mut rule = RecurrenceRule {
            trigger: freq,
            every,
            start,
            until: None,
            allowed_days: Vec::new(),
            month: None,
            occurrence: None,
            count_from_end: false,
        };
        let has_by_parts = self.by_month.is_some()
            || self.by_month_day.is_some()
            || !self.by_day.is_empty()
            || self.by_set_pos.is_some();
        if let Some(count) = self.count {
            if self.until.is_some() {
                return Err(invalid("COUNT and UNTIL must not both be given (RFC 5545)"));
            }
            if count != 1 {
                return Err(invalid(format!(
                    "COUNT={count} is not supported: end the rule with UNTIL (a date), or use COUNT=1 for a one-off run"
                )));
            }
            if has_by_parts {
                return Err(invalid("COUNT=1 is only supported on its own (a one-off run at DTSTART)"));
            }
            rule.trigger = Trigger::Once;
            return Ok(rule);
        }

        // BYDAY and BYSETPOS → allowed days and occurrence.
        let ordinals: Vec<i32> = self.by_day.iter().filter_map(|(ordinal, _)| *ordinal).collect();
        let monthly_or_yearly = matches!(freq, Trigger::Monthly | Trigger::Yearly);
        if !ordinals.is_empty() {
            if self.by_day.len() != 1 || !monthly_or_yearly || self.by_set_pos.is_some() {
                return Err(invalid(
                    "an ordinal BYDAY (like 1MO or -1FR) is only supported alone, with FREQ=MONTHLY or YEARLY and \
                     no BYSETPOS",
                ));
            }
            let n = ordinals[0];
            if n == 0 || !(-5..=5).contains(&n) {
                return Err(invalid(format!("BYDAY ordinal {n} is not supported: only 1 to 5 or -1 to -5")));
            }
            rule.occurrence = u8::try_from(n.unsigned_abs()).ok();
            rule.count_from_end = n < 0;
        } else if let Some(n) = self.by_set_pos {
            if self.by_day.is_empty() {
                return Err(invalid("BYSETPOS needs BYDAY (the weekdays it counts among)"));
            }
            if !matches!(freq, Trigger::Weekly | Trigger::Monthly | Trigger::Yearly) {
                return Err(invalid("BYSETPOS is only supported with FREQ=WEEKLY, MONTHLY or YEARLY"));
            }
            rule.occurrence = u8::try_from(n.unsigned_abs()).ok();
            rule.count_from_end = n < 0;
        }
        rule.allowed_days = self.by_day.iter().map(|(_, day)| *day).collect();

        if let Some(month) = self.by_month {
            if freq != Trigger::Yearly {
                return Err(invalid("BYMONTH is only supported with FREQ=YEARLY"));
            }
            rule.month = Some(month);
        }
        if let Some(day) = self.by_month_day {
            if !monthly_or_yearly {
                return Err(invalid("BYMONTHDAY is only supported with FREQ=MONTHLY or YEARLY"));
            }
            if day != start.day() {
                return Err(invalid(format!(
                    "BYMONTHDAY={day} is not supported: the day of the month comes from DTSTART (day {})",
                    start.day()
                )));
            }
            if rule.occurrence.is_some() {
                return Err(invalid("BYMONTHDAY together with BYSETPOS or an ordinal BYDAY is not supported"));
            }
        }
        if monthly_or_yearly
            && !rule.allowed_days.is_empty()
            && rule.occurrence.is_none()
            && self.by_month_day.is_none()
        {
            return Err(invalid(
                "BYDAY without BYSETPOS (every such weekday of the month) is not supported for FREQ=MONTHLY or YEARLY; \
                 add BYSETPOS to pick one, or use FREQ=WEEKLY",
            ));
        }
        if freq == Trigger::Yearly && rule.occurrence.is_some() && rule.month.is_none() {
            return Err(invalid("a yearly BYSETPOS or ordinal BYDAY needs BYMONTH (yearly rules anchor on one month)"));
        }

        if let Some(until) = self.until {
            let is_start = match until {
                UntilValue::Utc(at) => zone::resolve(tz, start).is_some_and(|r| r.at == at),
                UntilValue::Floating(wall) => wall == start,
                UntilValue::Date(_) => false,
            };
            if freq == Trigger::Daily && is_start {
                rule.trigger = Trigger::Once;
            } else {
                rule.until = Some(until_date(until, tz, start, freq)?);
            }
        }
        Ok(rule)
    }
}

/// The inclusive last local day that an UNTIL value allows.
fn until_date(until: UntilValue, tz: Tz, start: NaiveDateTime, freq: Trigger) -> Result<NaiveDate, RuleError> {
    let wall = match until {
        UntilValue::Date(date) => return Ok(date),
        UntilValue::Floating(wall) => wall,
        UntilValue::Utc(at) => {
            let wall = zone::wall_clock(tz, at);
            // The end of a local day, also when 23:59:59 itself was skipped by a DST gap.
            for date in [Some(wall.date()), wall.date().pred_opt()].into_iter().flatten() {
                if zone::resolve(tz, date.and_time(LAST_SECOND)).is_some_and(|r| r.at == at) {
                    return Ok(date);
                }
            }
            wall
        }
    };
    if wall.time() == LAST_SECOND {
        return Ok(wall.date());
    }
    if freq == Trigger::Hourly {
        return Err(invalid(
            "UNTIL of an hourly rule must be the end of a local day (23:59:59): the structured form ends on whole days",
        ));
    }
    // Every other rule fires once a day at DTSTART's time: the last day is the last one whose
    // firing time is not after UNTIL.
    if wall.time() >= start.time() {
        Ok(wall.date())
    } else {
        wall.date().pred_opt().ok_or_else(|| invalid("UNTIL is out of range"))
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

/// A checked, canonical recurrence rule ready to evaluate in its zone.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    tz: Tz,
    rule: RecurrenceRule,
    /// The inclusive end (23:59:59 local) of the last day.
    until: Option<NaiveDateTime>,
    shape: Shape,
}

#[derive(Debug, Clone)]
enum Shape {
    Once,
    Repeat {
        freq: Frequency,
        interval: u16,
        /// Explicit BYDAY (weekly rules without allowed days: `start`'s weekday), so that a
        /// re-anchored DTSTART does not change what the rule means.
        weekdays: Vec<Weekday>,
        set_pos: Option<i32>,
        month: Option<Month>,
        /// Explicit BYMONTHDAY of fixed-date monthly/yearly rules, for the same reason.
        month_day: Option<i8>,
    },
}

/// What a search found.
#[derive(Debug, Default)]
pub(crate) struct Found {
    pub occurrences: Vec<Occurrence>,
    /// The search stopped at [`MAX_STEPS`] (or on an `rrule` error) rather than because the rule
    /// ended.
    pub capped: bool,
}

/// Occurrence candidates ordered by instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Candidate {
    at: DateTime<Utc>,
    wall: NaiveDateTime,
    local: DateTime<FixedOffset>,
    shifted: bool,
}

/// Occurrences strictly after `after` (all when `None`) among the wall-clock candidates
/// `walls` (ascending, from `rrule`), pinned in `tz`: at most `count`, ascending by instant,
/// identical instants once. Reads at most [`MAX_STEPS`] candidates.
pub(crate) fn collect(
    mut walls: impl Iterator<Item = NaiveDateTime>,
    tz: Tz,
    after: Option<DateTime<Utc>>,
    count: usize,
) -> Found {
    let mut found = Found::default();
    if count == 0 {
        return found;
    }
    let is_after = |at: DateTime<Utc>| after.is_none_or(|after| at > after);
    let mut pending: BinaryHeap<Reverse<Candidate>> = BinaryHeap::new();
    let mut newest_wall: Option<NaiveDateTime> = None;
    let mut last_at: Option<DateTime<Utc>> = None;
    let mut exhausted = false;
    let mut steps = 0usize;
    loop {
        while let Some(Reverse(next)) = pending.peek().copied() {
            let settled = exhausted || newest_wall.is_some_and(|newest| newest - next.wall > REORDER_WINDOW);
            if !settled {
                break;
            }
            pending.pop();
            if last_at == Some(next.at) {
                continue;
            }
            last_at = Some(next.at);
            if is_after(next.at) {
                found.occurrences.push(Occurrence { at: next.at, local: next.local, dst_shifted: next.shifted });
                if found.occurrences.len() >= count {
                    return found;
                }
            }
        }
        if exhausted {
            return found;
        }
        if steps >= MAX_STEPS {
            found.capped = true;
            return found;
        }
        match walls.next() {
            None => exhausted = true,
            Some(wall) => {
                steps += 1;
                newest_wall = Some(wall);
                if let Some(r) = zone::resolve(tz, wall) {
                    pending.push(Reverse(Candidate { at: r.at, wall, local: r.local, shifted: r.shifted }));
                }
            }
        }
    }
}

/// The latest DTSTART not after `target` that lies a whole number of `interval` periods after
/// `start` — hours and minutes from `start` itself, days from its date, weeks from the first
/// day (`week_start`) of its week, months and years from their first day, at `start`'s time —
/// or `start` itself. Re-anchoring there keeps a rule's phase, and (with every part the rule
/// takes from DTSTART written out) its meaning.
pub(crate) fn anchor_before(
    start: NaiveDateTime,
    freq: Frequency,
    interval: u16,
    week_start: Weekday,
    target: NaiveDateTime,
) -> NaiveDateTime {
    if target <= start {
        return start;
    }
    let n = i64::from(interval);
    let time = start.time();
    let every_seconds = |period: i64| {
        let k = (target - start).num_seconds() / period;
        start.checked_add_signed(Duration::seconds(k * period))
    };
    let candidate = match freq {
        Frequency::Minutely => every_seconds(n * 60),
        Frequency::Hourly => every_seconds(n * 3600),
        Frequency::Daily => {
            let k = (target.date() - start.date()).num_days() / n;
            start.checked_add_signed(Duration::days(k * n))
        }
        Frequency::Weekly => {
            let back = (7 + start.weekday().num_days_from_monday() - week_start.num_days_from_monday()) % 7;
            let first = start.date() - Duration::days(i64::from(back));
            let k = (target.date() - first).num_days() / 7 / n;
            (k > 0).then(|| first.checked_add_signed(Duration::days(k * n * 7))).flatten().map(|d| d.and_time(time))
        }
        Frequency::Monthly => {
            let index = |d: NaiveDateTime| i64::from(d.year()) * 12 + i64::from(d.month0());
            let k = (index(target) - index(start)) / n;
            let month = index(start) + k * n;
            let year = i32::try_from(month.div_euclid(12)).ok();
            let month0 = u32::try_from(month.rem_euclid(12)).ok();
            (k > 0)
                .then(|| year.zip(month0).and_then(|(y, m0)| NaiveDate::from_ymd_opt(y, m0 + 1, 1)))
                .flatten()
                .map(|d| d.and_time(time))
        }
        Frequency::Yearly => {
            let k = i64::from(target.year() - start.year()) / n;
            let year = i32::try_from(i64::from(start.year()) + k * n).ok();
            (k > 0).then(|| year.and_then(|y| NaiveDate::from_ymd_opt(y, 1, 1))).flatten().map(|d| d.and_time(time))
        }
        Frequency::Secondly => None,
    };
    candidate.filter(|c| *c >= start && *c <= target).unwrap_or(start)
}

impl Plan {
    /// Checks ranges, then the rule's shape with `rrule`. Does not check that it fires.
    pub(crate) fn new(rule: &RecurrenceRule, tz: Tz) -> Result<Self, RuleError> {
        if !(1..=1000).contains(&rule.every) {
            return Err(invalid(format!("every must be between 1 and 1000 (got {})", rule.every)));
        }
        if let Some(month) = rule.month.filter(|m| !(1..=12).contains(m)) {
            return Err(invalid(format!("month must be between 1 and 12 (got {month})")));
        }
        if let Some(n) = rule.occurrence.filter(|n| !(1..=5).contains(n)) {
            return Err(invalid(format!("occurrence must be between 1 and 5 (got {n})")));
        }
        if !(1900..=9999).contains(&rule.start.year()) || rule.until.is_some_and(|u| u.year() > 9999) {
            return Err(invalid("start and until must lie between the years 1900 and 9999"));
        }
        let rule = canonical(rule);
        let until = rule.until.map(|date| date.and_time(LAST_SECOND));
        let interval = u16::try_from(rule.every).map_err(|_| invalid("every is out of range"))?;
        let freq = match rule.trigger {
            Trigger::Once => return Ok(Self { tz, rule, until, shape: Shape::Once }),
            Trigger::Yearly => Frequency::Yearly,
            Trigger::Monthly => Frequency::Monthly,
            Trigger::Weekly => Frequency::Weekly,
            Trigger::Daily => Frequency::Daily,
            Trigger::Hourly => Frequency::Hourly,
        };
        let set_pos = rule.occurrence.map(|n| if rule.count_from_end { -i32::from(n) } else { i32::from(n) });
        let fixed_date = matches!(rule.trigger, Trigger::Monthly | Trigger::Yearly) && rule.occurrence.is_none();
        let weekdays = if rule.trigger == Trigger::Weekly && rule.allowed_days.is_empty() {
            vec![rule.start.weekday()]
        } else {
            rule.allowed_days.clone()
        };
        let month = rule.month.map(|m| Month::try_from(m).map_err(|_| invalid("month is out of range"))).transpose()?;
        let month_day = fixed_date.then(|| i8::try_from(rule.start.day()).unwrap_or(1));
        let plan =
            Self { tz, until, shape: Shape::Repeat { freq, interval, weekdays, set_pos, month, month_day }, rule };
        // Let rrule validate the parts once, at the real start.
        plan.walls(plan.rule.start)?;
        Ok(plan)
    }

    /// Up to `count` occurrences strictly after `after` (from the start when `None`), ascending,
    /// identical instants once.
    pub(crate) fn find(&self, after: Option<DateTime<Utc>>, count: usize) -> Found {
        let mut found = Found::default();
        if count == 0 {
            return found;
        }
        let is_after = |at: DateTime<Utc>| after.is_none_or(|after| at > after);
        let Shape::Repeat { .. } = &self.shape else {
            let allowed =
                self.rule.allowed_days.is_empty() || self.rule.allowed_days.contains(&self.rule.start.weekday());
            let within_until = self.until.is_none_or(|until| self.rule.start <= until);
            if allowed
                && within_until
                && let Some(r) = zone::resolve(self.tz, self.rule.start).filter(|r| is_after(r.at))
            {
                found.occurrences.push(Occurrence { at: r.at, local: r.local, dst_shifted: r.shifted });
            }
            return found;
        };

        let anchor = match after {
            None => Some(self.rule.start),
            Some(after) => zone::wall_clock(self.tz, after)
                .checked_sub_signed(ANCHOR_MARGIN)
                .map(|target| self.anchor_before(target)),
        };
        let Some(anchor) = anchor else { return found };
        if self.until.is_some_and(|until| until < anchor) {
            return found;
        }
        match self.walls(anchor) {
            Ok(walls) => collect(walls.map(|dt| dt.naive_utc()), self.tz, after, count),
            Err(error) => {
                tracing::warn!(%error, "recurrence rule could not be re-anchored");
                Found { occurrences: Vec::new(), capped: true }
            }
        }
    }

    /// The latest DTSTART not after `target` that lies a whole number of periods after `start`
    /// ([`anchor_before`]), or `start` itself.
    fn anchor_before(&self, target: NaiveDateTime) -> NaiveDateTime {
        let Shape::Repeat { freq, interval, .. } = &self.shape else { return self.rule.start };
        anchor_before(self.rule.start, *freq, *interval, Weekday::Mon, target)
    }

    /// The rule's wall-clock occurrences from `anchor` on, from `rrule` with UTC standing in for
    /// floating time.
    fn walls(&self, anchor: NaiveDateTime) -> Result<RRuleSetIter, RuleError> {
        let Shape::Repeat { freq, interval, weekdays, set_pos, month, month_day } = &self.shape else {
            return Err(invalid("a once rule has no recurrence"));
        };
        let mut rrule: RRule<Unvalidated> = RRule::new(*freq).interval(*interval).week_start(Weekday::Mon);
        if !weekdays.is_empty() {
            rrule = rrule.by_weekday(weekdays.iter().map(|d| NWeekday::Every(*d)).collect());
        }
        if let Some(pos) = set_pos {
            rrule = rrule.by_set_pos(vec![*pos]);
        }
        if let Some(month) = month {
            rrule = rrule.by_month(&[*month]);
        }
        if let Some(day) = month_day {
            rrule = rrule.by_month_day(vec![*day]);
        }
        // rrule refuses an UNTIL before DTSTART; such a rule has nothing left anyway.
        if let Some(until) = self.until.filter(|until| *until >= anchor) {
            rrule = rrule.until(rrule::Tz::UTC.from_utc_datetime(&until));
        }
        let set = rrule
            .build(rrule::Tz::UTC.from_utc_datetime(&anchor))
            .map_err(|e| invalid(format!("the rule cannot be evaluated: {e}")))?
            .limit();
        Ok((&set).into_iter())
    }

    /// Why a search found nothing: for [`RuleError::NeverFires`].
    pub(crate) fn why_nothing(&self, after: Option<DateTime<Utc>>, capped: bool) -> String {
        let r = &self.rule;
        if capped {
            return format!("no occurrence found within the search limit of {MAX_STEPS} candidate times");
        }
        if let Some(until) = r.until.filter(|until| *until < r.start.date()) {
            return format!("until ({until}) is before the start ({})", r.start.date());
        }
        let days = || r.allowed_days.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ");
        if matches!(self.shape, Shape::Once) {
            if !r.allowed_days.is_empty() && !r.allowed_days.contains(&r.start.weekday()) {
                return format!(
                    "a once rule fires only at its start, {} {}, and Allowed Days ({}) exclude that weekday",
                    r.start.weekday(),
                    r.start,
                    days()
                );
            }
            if let Some(after) = after {
                return format!("a once rule fires only at its start ({}), which is not after {after}", r.start);
            }
        }
        if let (Some(until), Some(until_wall)) = (r.until, self.until) {
            if let Some(after) = after.filter(|after| zone::wall_clock(self.tz, *after) > until_wall) {
                return format!("the rule has ended: its last day ({until}) is before {after}");
            }
            let mut open = self.clone();
            open.until = None;
            open.rule.until = None;
            if let Some(first) = open.find(after, 1).occurrences.first() {
                return format!("its next occurrence ({}) falls after until ({until})", first.local);
            }
        }
        let fixed_date = matches!(r.trigger, Trigger::Monthly | Trigger::Yearly) && r.occurrence.is_none();
        if fixed_date && !r.allowed_days.is_empty() {
            return format!(
                "Allowed Days ({}) exclude every day this fixed-date rule lands on (day {} of the month)",
                days(),
                r.start.day()
            );
        }
        match after {
            Some(after) => format!("no occurrence after {after}"),
            None => {
                "no date on or after the start matches the rule (check the day, month, allowed days and occurrence)"
                    .to_string()
            }
        }
    }
}
