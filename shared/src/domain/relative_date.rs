//! Derived dates for date parameters (seed `003`: "default to the current month start"): a
//! default such as `start_of_month` is not a value but a rule, worked out when each run starts
//! from the day the run stands for (a scheduled run's slot in its schedule's timezone, so a
//! catch-up run computes the period of the slot it replaces) and recorded on the run as the
//! concrete date it gave.
//!
//! | rule | date |
//! |---|---|
//! | `today`, `yesterday` | the run's day, the day before |
//! | `N_days_ago` | N days before the run's day (`0_days_ago` is today; N up to 36,600) |
//! | `start_of_week`, `end_of_week` | Monday, Sunday of the run's week (ISO weeks) |
//! | `start_of_month`, `end_of_month` | first, last day of the run's month |
//! | `start_of_quarter`, `end_of_quarter` | first, last day of the run's calendar quarter |
//! | `start_of_year`, `end_of_year` | 1 January, 31 December of the run's year |
//! | `start_of_previous_…`, `end_of_previous_…` | the same of the week, month, quarter or year before |

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Days, Months, NaiveDate};

/// The longest look-back of `N_days_ago`: a century.
const MAX_DAYS_AGO: u32 = 36_600;

/// A calendar span a derived date starts or ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    Week,
    Month,
    Quarter,
    Year,
}

impl Span {
    const ALL: [Span; 4] = [Span::Week, Span::Month, Span::Quarter, Span::Year];

    fn name(self) -> &'static str {
        match self {
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
    }

    #[test]
    fn rules_at_the_ends_of_the_calendar_do_not_panic() {
        for name in RelativeDate::names().iter().map(|n| n.replace('N', "36600")) {
            let rule: RelativeDate = name.parse().unwrap();
            rule.on(NaiveDate::MIN);
            rule.on(NaiveDate::MAX);
        }
    }
}
