//! Derived dates and times for date and datetime parameters (seed `003`: "default to the
//! current month start"): a default such as `start_of_month` is not a value but a rule, worked
//! out when each run starts from the [`RunTime`] the run stands for (a scheduled run's slot in
//! its schedule's timezone, so a catch-up run computes the period of the slot it replaces; the
//! workspace's timezone for a run started by hand) and recorded on the run as the concrete
//! value it gave.
//!
//! | rule | date |
//! |---|---|
//! | `today`, `yesterday` | the run's day, the day before |
//! | `N_days_ago` | N days before the run's day (`0_days_ago` is today; N up to 36,600) |
//! | `start_of_day`, `end_of_day` | the run's day (the same as `today`) |
//! | `start_of_week`, `end_of_week` | Monday, Sunday of the run's week (ISO weeks) |
//! | `start_of_month`, `end_of_month` | first, last day of the run's month |
//! | `start_of_quarter`, `end_of_quarter` | first, last day of the run's calendar quarter |
//! | `start_of_year`, `end_of_year` | 1 January, 31 December of the run's year |
//! | `start_of_previous_…`, `end_of_previous_…` | the same of the day, week, month, quarter or year before |
//!
//! A datetime parameter takes the same rules, plus `now` (the instant the run stands for): a
//! rule gives the first instant of its date in the run's timezone (midnight, or the end of a
//! DST gap that skips midnight), and an `end_of_…` rule the last second of its date
//! (23:59:59). Values are recorded in RFC 3339 with the zone's offset of that instant.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Days, Duration, Months, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Utc};
use chrono_tz::Tz;

use crate::schedule::zone;

/// The longest look-back of `N_days_ago`: a century.
const MAX_DAYS_AGO: u32 = 36_600;

/// A calendar span a derived date starts or ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl Span {
    const ALL: [Span; 5] = [Span::Day, Span::Week, Span::Month, Span::Quarter, Span::Year];

    fn name(self) -> &'static str {
        match self {
            Span::Day => "day",
            Span::Week => "week",
            Span::Month => "month",
            Span::Quarter => "quarter",
            Span::Year => "year",
        }
    }

    /// The first day of the span holding `day`.
    fn start(self, day: NaiveDate) -> NaiveDate {
        let first_of = |month: u32| NaiveDate::from_ymd_opt(day.year(), month, 1).unwrap_or(day);
        match self {
            Span::Day => day,
            Span::Week => day
                .checked_sub_days(Days::new(u64::from(day.weekday().num_days_from_monday())))
                .unwrap_or(NaiveDate::MIN),
            Span::Month => first_of(day.month()),
            Span::Quarter => first_of((day.month0() / 3) * 3 + 1),
            Span::Year => first_of(1),
        }
    }

    /// The first day of the next span.
    fn next_start(self, day: NaiveDate) -> NaiveDate {
        let start = self.start(day);
        let later = match self {
            Span::Day => start.succ_opt(),
            Span::Week => start.checked_add_days(Days::new(7)),
            Span::Month => start.checked_add_months(Months::new(1)),
            Span::Quarter => start.checked_add_months(Months::new(3)),
            Span::Year => start.checked_add_months(Months::new(12)),
        };
        later.unwrap_or(NaiveDate::MAX)
    }

    /// A day of the span before the one holding `day`.
    fn previous(self, day: NaiveDate) -> NaiveDate {
        self.start(day).pred_opt().unwrap_or(NaiveDate::MIN)
    }
}

/// A date worked out from the run's day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelativeDate {
    DaysAgo(u32),
    Start { span: Span, previous: bool },
    End { span: Span, previous: bool },
}

impl RelativeDate {
    /// The date this rule gives on `day`.
    pub fn on(self, day: NaiveDate) -> NaiveDate {
        match self {
            RelativeDate::DaysAgo(n) => day.checked_sub_days(Days::new(u64::from(n))).unwrap_or(NaiveDate::MIN),
            RelativeDate::Start { span, previous } => span.start(if previous { span.previous(day) } else { day }),
            RelativeDate::End { span, previous } => {
                let within = if previous { span.previous(day) } else { day };
                span.next_start(within).pred_opt().unwrap_or(NaiveDate::MIN)
            }
        }
    }

    /// Every rule's name but `N_days_ago`, for messages and the API document.
    pub fn names() -> Vec<String> {
        let mut names = vec!["today".to_string(), "yesterday".to_string(), "N_days_ago".to_string()];
        for edge in ["start", "end"] {
            for previous in ["", "previous_"] {
                names.extend(Span::ALL.iter().map(|s| format!("{edge}_of_{previous}{}", s.name())));
            }
        }
        names
    }
}

/// The rule names a date parameter accepts, for its error message.
pub fn expected() -> String {
    format!("a date (YYYY-MM-DD) or a derived date: {}", RelativeDate::names().join(", "))
}

impl FromStr for RelativeDate {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        match text {
            "today" => return Ok(RelativeDate::DaysAgo(0)),
            "yesterday" => return Ok(RelativeDate::DaysAgo(1)),
            _ => {}
        }
        if let Some(n) = text.strip_suffix("_days_ago") {
            let digits = !n.is_empty() && n.len() <= 5 && n.bytes().all(|b| b.is_ascii_digit());
            return match n.parse::<u32>() {
                Ok(n) if digits && n <= MAX_DAYS_AGO => Ok(RelativeDate::DaysAgo(n)),
                _ => Err(()),
            };
        }
        let (start, rest) = match (text.strip_prefix("start_of_"), text.strip_prefix("end_of_")) {
            (Some(rest), _) => (true, rest),
            (_, Some(rest)) => (false, rest),
            _ => return Err(()),
        };
        let (previous, span) = match rest.strip_prefix("previous_") {
            Some(span) => (true, span),
            None => (false, rest),
        };
        let span = Span::ALL.into_iter().find(|s| s.name() == span).ok_or(())?;
        Ok(if start { RelativeDate::Start { span, previous } } else { RelativeDate::End { span, previous } })
    }
}

impl fmt::Display for RelativeDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (edge, span, previous) = match *self {
            RelativeDate::DaysAgo(0) => return f.write_str("today"),
            RelativeDate::DaysAgo(1) => return f.write_str("yesterday"),
            RelativeDate::DaysAgo(n) => return write!(f, "{n}_days_ago"),
            RelativeDate::Start { span, previous } => ("start", span, previous),
            RelativeDate::End { span, previous } => ("end", span, previous),
        };
        write!(f, "{edge}_of_{}{}", if previous { "previous_" } else { "" }, span.name())
    }
}

/// When a run happens, as its derived values and analytics periods see it: the instant it
/// stands for (a scheduled run's slot, else when it started) and the zone whose calendar
/// reads that instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunTime {
    pub at: DateTime<Utc>,
    pub zone: Tz,
}

impl RunTime {
    pub fn new(at: DateTime<Utc>, zone: Tz) -> Self {
        Self { at, zone }
    }

    /// The run's day: its instant's date in its zone.
    pub fn day(&self) -> NaiveDate {
        self.at.with_timezone(&self.zone).date_naive()
    }

    /// The first instant of `day` in the run's zone: midnight, or the end of a DST gap that
    /// skips midnight (as in Santiago or Havana).
    pub fn start_of(&self, day: NaiveDate) -> DateTime<Utc> {
        day_start(self.zone, day)
    }

    /// `at` in RFC 3339 with the zone's offset at that instant (`Z` in UTC).
    pub fn format(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.zone).to_rfc3339_opts(SecondsFormat::Secs, true)
    }
}

/// A wall-clock time of `zone` pinned to an instant (a skipped time is read with the offset
/// before the gap, a repeated one is its first occurrence).
fn pin(zone: Tz, wall: NaiveDateTime) -> DateTime<Utc> {
    zone::resolve(zone, wall).map_or_else(|| wall.and_utc(), |r| r.at)
}

/// The first instant of `day` in `zone`: midnight, or the end of a DST gap that skips midnight.
pub fn day_start(zone: Tz, day: NaiveDate) -> DateTime<Utc> {
    pin(zone, day.and_time(NaiveTime::MIN))
}

/// A derived instant for a datetime parameter: `now`, or a date rule read as the start of its
/// date (the last second for `end_of_…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelativeTime {
    Now,
    Date(RelativeDate),
}

impl RelativeTime {
    /// The instant this rule gives for a run at `time`.
    pub fn at(self, time: RunTime) -> DateTime<Utc> {
        match self {
            RelativeTime::Now => time.at,
            RelativeTime::Date(rule @ RelativeDate::End { .. }) => {
                let next = rule.on(time.day()).succ_opt().unwrap_or(NaiveDate::MAX);
                time.start_of(next) - Duration::seconds(1)
            }
            RelativeTime::Date(rule) => time.start_of(rule.on(time.day())),
        }
    }
}

impl FromStr for RelativeTime {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        if text == "now" { Ok(RelativeTime::Now) } else { text.parse().map(RelativeTime::Date) }
    }
}

/// The wall-clock forms a datetime parameter accepts without an offset (read in the run's zone).
const WALL_CLOCK_FORMATS: [&str; 4] = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"];

/// A datetime parameter's literal value: an RFC 3339 instant, or a wall-clock time of the run's
/// zone. `None` when it is neither.
pub fn parse_instant(text: &str, time: RunTime) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.to_utc());
    }
    WALL_CLOCK_FORMATS
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|wall| pin(time.zone, wall))
}

/// What a datetime parameter accepts, for its error message.
pub fn expected_instant() -> String {
    format!(
        "an instant (RFC 3339 such as 2026-12-07T09:00:00+01:00, or YYYY-MM-DDTHH:MM in the run's timezone) or a \
         derived time: now, {}",
        RelativeDate::names().join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn on(rule: &str, today: &str) -> String {
        rule.parse::<RelativeDate>().unwrap_or_else(|()| panic!("{rule}")).on(day(today)).to_string()
    }

    #[test]
    fn every_rule_named_in_the_list_parses_and_prints_back_as_itself() {
        for name in RelativeDate::names().iter().map(|n| n.replace('N', "7")) {
            let rule: RelativeDate = name.parse().unwrap_or_else(|()| panic!("{name}"));
            assert_eq!(rule.to_string(), name);
        }
        assert_eq!("0_days_ago".parse::<RelativeDate>(), Ok(RelativeDate::DaysAgo(0)));
    }

    #[test]
    fn unknown_rules_and_out_of_range_look_backs_are_refused() {
        for text in [
            "",
            "tomorrow",
            "start_of_decade",
            "end_of_",
            "start_of_previous_",
            "-1_days_ago",
            "_days_ago",
            "+3_days_ago",
            "36601_days_ago",
            "99999999999_days_ago",
            "start_of_Month",
            "2026-11-01",
        ] {
            assert_eq!(text.parse::<RelativeDate>(), Err(()), "{text}");
        }
    }

    #[test]
    fn month_rules_cross_year_ends_and_leap_february() {
        assert_eq!(on("start_of_month", "2026-12-07"), "2026-12-01");
        assert_eq!(on("end_of_month", "2028-02-10"), "2028-02-29");
        assert_eq!(on("start_of_previous_month", "2027-01-01"), "2026-12-01");
        assert_eq!(on("end_of_previous_month", "2027-03-31"), "2027-02-28");
        assert_eq!(on("end_of_previous_month", "2026-01-15"), "2025-12-31");
    }

    #[test]
    fn quarter_rules_take_calendar_quarters() {
        assert_eq!(on("start_of_quarter", "2026-12-07"), "2026-10-01");
        assert_eq!(on("end_of_quarter", "2026-05-01"), "2026-06-30");
        assert_eq!(on("start_of_previous_quarter", "2026-01-01"), "2025-10-01");
        assert_eq!(on("end_of_previous_quarter", "2026-04-01"), "2026-03-31");
    }

    #[test]
    fn week_rules_run_monday_to_sunday() {
        // 7 December 2026 is a Monday; 6 December a Sunday.
        assert_eq!(on("start_of_week", "2026-12-07"), "2026-12-07");
        assert_eq!(on("start_of_week", "2026-12-06"), "2026-11-30");
        assert_eq!(on("end_of_week", "2026-12-06"), "2026-12-06");
        assert_eq!(on("start_of_previous_week", "2027-01-01"), "2026-12-21");
        assert_eq!(on("end_of_previous_week", "2027-01-01"), "2026-12-27");
    }

    #[test]
    fn year_and_day_rules() {
        assert_eq!(on("start_of_year", "2026-12-07"), "2026-01-01");
        assert_eq!(on("end_of_previous_year", "2026-12-07"), "2025-12-31");
        assert_eq!(on("start_of_previous_year", "2026-01-01"), "2025-01-01");
        assert_eq!(on("today", "2026-03-01"), "2026-03-01");
        assert_eq!(on("yesterday", "2028-03-01"), "2028-02-29");
        assert_eq!(on("30_days_ago", "2026-03-01"), "2026-01-30");
        assert_eq!(on("start_of_day", "2026-03-01"), "2026-03-01");
        assert_eq!(on("end_of_previous_day", "2026-03-01"), "2026-02-28");
    }

    fn run_at(at: &str, zone: Tz) -> RunTime {
        RunTime::new(at.parse().unwrap(), zone)
    }

    fn instant(rule: &str, time: RunTime) -> String {
        time.format(rule.parse::<RelativeTime>().unwrap_or_else(|()| panic!("{rule}")).at(time))
    }

    #[test]
    fn derived_times_are_read_on_the_calendar_of_the_run_zone() {
        // 06:30 UTC on 1 December is still 30 November in New York.
        let time = run_at("2026-12-01T03:30:00Z", chrono_tz::America::New_York);
        assert_eq!(instant("now", time), "2026-11-30T22:30:00-05:00");
        assert_eq!(instant("start_of_day", time), "2026-11-30T00:00:00-05:00");
        assert_eq!(instant("start_of_month", time), "2026-11-01T00:00:00-04:00", "before the clocks went back");
        assert_eq!(instant("end_of_month", time), "2026-11-30T23:59:59-05:00");
        assert_eq!(instant("end_of_previous_day", time), "2026-11-29T23:59:59-05:00");
        assert_eq!(instant("start_of_quarter", time), "2026-10-01T00:00:00-04:00");
        assert_eq!(instant("start_of_day", RunTime::new(time.at, Tz::UTC)), "2026-12-01T00:00:00Z");
    }

    #[test]
    fn a_day_whose_midnight_is_skipped_starts_when_the_gap_ends_and_a_long_day_ends_an_hour_later() {
        // Santiago springs forward at midnight: 6 September 2026 begins at 01:00 (-03).
        let santiago = run_at("2026-09-06T15:00:00Z", chrono_tz::America::Santiago);
        assert_eq!(instant("start_of_day", santiago), "2026-09-06T01:00:00-03:00");
        assert_eq!(santiago.start_of(santiago.day()), "2026-09-06T04:00:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(instant("end_of_previous_day", santiago), "2026-09-05T23:59:59-04:00");
        // New York's 1 November 2026 lasts 25 hours.
        let new_york = run_at("2026-11-01T12:00:00Z", chrono_tz::America::New_York);
        let (start, end) =
            (RelativeTime::Date(RelativeDate::DaysAgo(0)), "end_of_day".parse::<RelativeTime>().unwrap());
        assert_eq!(end.at(new_york) - start.at(new_york), Duration::hours(25) - Duration::seconds(1));
    }

    #[test]
    fn wall_clock_instants_are_pinned_in_the_run_zone_and_rfc3339_keeps_its_offset() {
        let time = run_at("2026-03-08T12:00:00Z", chrono_tz::America::New_York);
        let pinned = |text: &str| parse_instant(text, time).map(|at| time.format(at));
        assert_eq!(pinned("2026-03-07T09:00").as_deref(), Some("2026-03-07T09:00:00-05:00"));
        assert_eq!(pinned("2026-03-08 02:30:00").as_deref(), Some("2026-03-08T03:30:00-04:00"), "skipped: RFC 5545");
        assert_eq!(pinned("2026-03-08T09:00:00+01:00").as_deref(), Some("2026-03-08T04:00:00-04:00"));
        assert_eq!(pinned("2026-03-08T12:00:00Z").as_deref(), Some("2026-03-08T08:00:00-04:00"));
        for bad in ["2026-03-08", "09:00", "2026-02-30T09:00", "yesterday at nine", "now "] {
            assert_eq!(pinned(bad), None, "{bad}");
        }
        assert_eq!("now ".parse::<RelativeTime>(), Err(()));
    }

    #[test]
    fn rules_at_the_ends_of_the_calendar_do_not_panic() {
        for name in RelativeDate::names().iter().map(|n| n.replace('N', "36600")) {
            let rule: RelativeDate = name.parse().unwrap();
            rule.on(NaiveDate::MIN);
            rule.on(NaiveDate::MAX);
            // The earliest and latest instants a four-digit year can write, in the zones
            // furthest ahead of and behind UTC.
            for at in ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"] {
                for zone in [chrono_tz::Pacific::Kiritimati, chrono_tz::Pacific::Pago_Pago] {
                    let time = RunTime::new(at.parse().unwrap(), zone);
                    time.format(RelativeTime::Date(rule).at(time));
                }
            }
        }
    }
}
