//! Any RFC 5545 recurrence written as text: `DTSTART` (with a `TZID`, or in UTC), one `RRULE`
//! with every part the RFC defines for minute-or-coarser rules (`FREQ` up to `MINUTELY`,
//! `INTERVAL`, `COUNT`, `UNTIL`, `BYMONTH`, `BYWEEKNO`, `BYYEARDAY`, `BYMONTHDAY` including
//! negative days, `BYDAY` with or without ordinals, `BYHOUR`, `BYMINUTE`, `BYSECOND`,
//! `BYSETPOS` lists, `WKST`), and any number of `RDATE` and `EXDATE` lines. The structured rule
//! ([`super::recurrence`]) is the friendly subset the builder draws; a rule it cannot express is
//! kept as its text and evaluated here, never refused or rewritten.
//!
//! Evaluation is the structured rule's ([`super::recurrence`]): `rrule` on floating wall-clock
//! time, each occurrence pinned in the zone with the same DST semantics (RFC 5545 §3.3.5), and
//! DTSTART re-anchored near the searched time — whole periods after DTSTART, weeks from the
//! rule's `WKST` — with every part the rule takes from DTSTART written out, so the cost does not
//! grow with the rule's age. A rule with `COUNT` counts from its real DTSTART, so it is always
//! read from there (at most [`super::recurrence::MAX_STEPS`] candidates per search).
//!
//! `UNTIL` in UTC (as the RFC asks with a `TZID`) is the wall-clock time in the rule's zone at
//! that instant; a floating one is read in the zone; a date means through the end of that day.
//! An `RDATE`/`EXDATE` takes the zone of its own `TZID`, of `Z`, or else the rule's; a date
//! alone (`VALUE=DATE`) is at DTSTART's time. An `EXDATE` removes an occurrence whose wall-clock
//! time it names exactly.

use chrono::{DateTime, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use rrule::{Frequency, RRule, RRuleSet, RRuleSetIter, Unvalidated, Validated};

use super::recurrence::{
    ANCHOR_MARGIN, ContentLine, Found, LAST_SECOND, MAX_STEPS, anchor_before, collect, content_lines, invalid,
    parse_basic_date, parse_basic_datetime, parse_dtstart,
};
use super::{RuleError, zone};

/// Most `RDATE` plus `EXDATE` values one rule may list.
const MAX_DATES: usize = 1_000;

/// A parsed RFC 5545 recurrence, ready to evaluate in its zone.
#[derive(Debug, Clone)]
pub struct TextRule {
    /// The zone's name as the text gives it (`UTC` for a DTSTART in `Z`).
    pub timezone: String,
    tz: Tz,
    start: NaiveDateTime,
    /// The RRULE with every part it takes from DTSTART written out (wall-clock UNTIL).
    rule: RRule<Validated>,
    rdates: Vec<NaiveDateTime>,
    exdates: Vec<NaiveDateTime>,
    /// BYHOUR of a MINUTELY rule, applied here to `rrule`'s output: `rrule` moves to the next
    /// allowed hour in whole hours, off the rule's grid of minutes (RFC 5545 and dateutil keep
    /// adding INTERVAL minutes).
    minutely_hours: Vec<u8>,
}

fn floating(wall: NaiveDateTime) -> DateTime<rrule::Tz> {
    rrule::Tz::UTC.from_utc_datetime(&wall)
}

/// The wall-clock time in `tz` of a date-time value of an RDATE/EXDATE line or UNTIL: `Z` is
/// an instant, a `TZID` another zone's wall clock, neither the rule's own.
fn wall_in(
    tz: Tz,
    value: &str,
    zone_of_value: Option<Tz>,
    start: NaiveDateTime,
    what: &str,
) -> Result<NaiveDateTime, RuleError> {
    let bad = || invalid(format!("{what} `{value}` is not a date (20261231) or date-time (20261231T090000)"));
    if let Some(digits) = value.strip_suffix(['Z', 'z']) {
        let instant = parse_basic_datetime(digits).ok_or_else(bad)?.and_utc();
        return Ok(zone::wall_clock(tz, instant));
    }
    let wall = match parse_basic_date(value) {
        Some(date) => date.and_time(start.time()),
        None => parse_basic_datetime(value).ok_or_else(bad)?,
    };
    match zone_of_value.filter(|other| *other != tz) {
        None => Ok(wall),
        Some(other) => {
            let at = zone::resolve(other, wall).ok_or_else(|| invalid(format!("{what} `{value}` is out of range")))?.at;
            Ok(zone::wall_clock(tz, at))
        }
    }
}

/// The `TZID` and `VALUE` parameters of an RDATE or EXDATE line.
fn date_params<'a>(name: &str, params: impl Iterator<Item = &'a str>) -> Result<Option<Tz>, RuleError> {
    let mut zone = None;
    for param in params {
        let (key, value) =
            param.split_once('=').ok_or_else(|| invalid(format!("{name} parameter `{param}` has no `=`")))?;
        let value = value.trim().trim_matches('"');
        match key.trim().to_ascii_uppercase().as_str() {
            "TZID" => zone = Some(value.parse::<Tz>().map_err(|_| RuleError::InvalidTimezone(value.to_string()))?),
            "VALUE" if value.eq_ignore_ascii_case("DATE-TIME") || value.eq_ignore_ascii_case("DATE") => {}
            "VALUE" => {
                return Err(invalid(format!("{name};VALUE={value} is not supported (dates and date-times are)")));
            }
            other => return Err(invalid(format!("{name} parameter `{other}` is not supported"))),
        }
    }
    Ok(zone)
}

/// Splits off UNTIL (read here, in the rule's zone) from the RRULE's other parts (read by `rrule`).
fn split_until(value: &str) -> (Option<String>, String) {
    let mut until = None;
    let mut rest = Vec::new();
    for part in value.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some((key, v)) if key.trim().eq_ignore_ascii_case("UNTIL") => until = Some(v.trim().to_string()),
            _ => rest.push(part),
        }
    }
    (until, rest.join(";"))
}

impl TextRule {
    /// Parses and checks the text (lines separated by line breaks or a literal `\n`).
    pub fn parse(text: &str) -> Result<Self, RuleError> {
        let mut dtstart = None;
        let mut rrule_line: Option<String> = None;
        let mut date_lines: Vec<(bool, Option<Tz>, String)> = Vec::new();
        for ContentLine { name, params, value } in content_lines(text)? {
            let mut params = params.iter().map(String::as_str);
            match name.as_str() {
                "DTSTART" if dtstart.is_some() => return Err(invalid("more than one DTSTART line")),
                "DTSTART" => dtstart = Some(parse_dtstart(params, &value)?),
                "RRULE" if rrule_line.is_some() => {
                    return Err(invalid("more than one RRULE line; one is supported (add dates with RDATE)"));
                }
                "RRULE" if params.next().is_some() => return Err(invalid("RRULE takes no parameters")),
                "RRULE" => rrule_line = Some(value),
                "RDATE" | "EXDATE" => {
                    let zone = date_params(&name, params)?;
                    for item in value.split(',').map(str::trim).filter(|v| !v.is_empty()) {
                        date_lines.push((name == "EXDATE", zone, item.to_string()));
                    }
                }
                "EXRULE" => return Err(invalid("EXRULE is not supported (RFC 5545 removed it); list EXDATE values")),
                _ => return Err(invalid(format!("unknown line `{name}`; expected DTSTART, RRULE, RDATE or EXDATE"))),
            }
        }
        let (start, timezone, tz) = dtstart.ok_or_else(|| invalid("missing DTSTART line"))?;
        if !(1900..=9999).contains(&chrono::Datelike::year(&start)) {
            return Err(invalid("DTSTART must lie between the years 1900 and 9999"));
        }
        let rrule_line = rrule_line.ok_or_else(|| invalid("missing RRULE line"))?;
        if date_lines.len() > MAX_DATES {
            return Err(invalid(format!("at most {MAX_DATES} RDATE and EXDATE values")));
        }
        let (until, rest) = split_until(&rrule_line);
        let mut rule: RRule<Unvalidated> = rest.parse().map_err(|e| invalid(format!("RRULE: {e}")))?;
        if rule.get_freq() == Frequency::Secondly {
            return Err(invalid("FREQ=SECONDLY is not supported: the finest schedule is every minute"));
        }
        if rule.get_count().is_some_and(|n| n as usize > MAX_STEPS) {
            return Err(invalid(format!("COUNT must be at most {MAX_STEPS}")));
        }
        let mut minutely_hours = Vec::new();
        if rule.get_freq() == Frequency::Minutely && !rule.get_by_hour().is_empty() {
            minutely_hours = rule.get_by_hour().to_vec();
            rule = rule.by_hour(Vec::new());
        }
        if let Some(until) = until {
            let wall = match parse_basic_date(&until) {
                Some(date) => date.and_time(LAST_SECOND),
                None => wall_in(tz, &until, None, start, "UNTIL")?,
            };
            rule = rule.until(floating(wall));
        }
        let rule = rule.validate(floating(start)).map_err(|e| invalid(format!("RRULE: {e}")))?;
        let mut rdates = Vec::new();
        let mut exdates = Vec::new();
        for (excluded, zone, value) in date_lines {
            let name = if excluded { "EXDATE" } else { "RDATE" };
            let wall = wall_in(tz, &value, zone, start, name)?;
            if excluded { exdates.push(wall) } else { rdates.push(wall) }
        }
        rdates.sort_unstable();
        rdates.dedup();
        Ok(Self { timezone, tz, start, rule, rdates, exdates, minutely_hours })
    }

    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// Up to `count` occurrences strictly after `after` (from DTSTART when `None`), ascending,
    /// identical instants once.
    pub(crate) fn find(&self, after: Option<DateTime<Utc>>, count: usize) -> Found {
        let anchor = match after {
            Some(after) if self.rule.get_count().is_none() => {
                match zone::wall_clock(self.tz, after).checked_sub_signed(ANCHOR_MARGIN) {
                    Some(target) => anchor_before(
                        self.start,
                        self.rule.get_freq(),
                        self.rule.get_interval(),
                        self.rule.get_week_start(),
                        target,
                    ),
                    None => return Found::default(),
                }
            }
            _ => self.start,
        };
        // Candidates an hour filter drops count towards the search's cap too.
        let walls = self.walls(anchor).take(MAX_STEPS).map(|dt| dt.naive_utc());
        let hours = &self.minutely_hours;
        let allowed = |wall: &NaiveDateTime| hours.is_empty() || hours.iter().any(|h| u32::from(*h) == wall.hour());
        collect(walls.filter(allowed), self.tz, after, count)
    }

    /// The rule's wall-clock occurrences from `anchor` on (RDATEs included, EXDATEs removed).
    fn walls(&self, anchor: NaiveDateTime) -> RRuleSetIter {
        let mut set = RRuleSet::new(floating(anchor)).rrule(self.rule.clone());
        for rdate in self.rdates.iter().filter(|d| **d >= anchor) {
            set = set.rdate(floating(*rdate));
        }
        for exdate in &self.exdates {
            set = set.exdate(floating(*exdate));
        }
        (&set.limit()).into_iter()
    }

    /// Why a search found nothing: for [`RuleError::NeverFires`].
    pub(crate) fn why_nothing(&self, after: Option<DateTime<Utc>>, capped: bool) -> String {
        if capped {
            return format!("no occurrence found within the search limit of {MAX_STEPS} candidate times");
        }
        match (after, self.rule.get_until(), self.rule.get_count()) {
            (Some(after), Some(until), _) if until.naive_utc() < zone::wall_clock(self.tz, after) => {
                format!("the rule has ended: its UNTIL ({}) is before {after}", until.naive_utc())
            }
            (Some(after), _, Some(n)) => format!("the rule has ended: its {n} occurrences (COUNT) are before {after}"),
            (Some(after), _, None) => format!("no occurrence after {after} (check UNTIL and EXDATE)"),
            (None, _, _) => {
                "no date on or after DTSTART matches the rule (check its BY… parts, UNTIL and EXDATE)".into()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    /// The local wall-clock times of the first `n` occurrences, as `YYYY-MM-DD HH:MM`.
    fn first(text: &str, n: usize) -> Vec<String> {
        let rule = TextRule::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        rule.find(None, n).occurrences.iter().map(|o| o.local.format("%Y-%m-%d %H:%M").to_string()).collect()
    }

    #[test]
    fn the_rfcs_wkst_example_depends_on_the_week_start() {
        // RFC 5545 §3.3.10: every other week on Tuesday and Sunday.
        let sunday =
            "DTSTART;TZID=America/New_York:19970805T090000\nRRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU";
        assert_eq!(first(sunday, 10), ["1997-08-05 09:00", "1997-08-17 09:00", "1997-08-19 09:00", "1997-08-31 09:00"]);
        let monday = sunday.replace("WKST=SU", "WKST=MO");
        assert_eq!(
            first(&monday, 10),
            ["1997-08-05 09:00", "1997-08-10 09:00", "1997-08-19 09:00", "1997-08-24 09:00"]
        );
    }

    #[test]
    fn the_last_day_of_every_month_and_the_third_of_several_weekdays() {
        let month_end = "DTSTART;TZID=Europe/London:20260115T180000\nRRULE:FREQ=MONTHLY;BYMONTHDAY=-1";
        assert_eq!(first(month_end, 3), ["2026-01-31 18:00", "2026-02-28 18:00", "2026-03-31 18:00"]);
        let third =
            "DTSTART;TZID=America/New_York:19970904T090000\nRRULE:FREQ=MONTHLY;COUNT=3;BYDAY=TU,WE,TH;BYSETPOS=3";
        assert_eq!(first(third, 5), ["1997-09-04 09:00", "1997-10-07 09:00", "1997-11-06 09:00"]);
    }

    #[test]
    fn rdate_adds_and_exdate_removes_wall_clock_times() {
        let text = "DTSTART;TZID=Europe/Paris:20261201T080000\nRRULE:FREQ=DAILY;BYHOUR=8,17;BYMINUTE=30\n\
                    EXDATE;TZID=Europe/Paris:20261201T173000,20261202T083000\nRDATE:20261201T120000Z";
        assert_eq!(first(text, 4), ["2026-12-01 08:30", "2026-12-01 13:00", "2026-12-02 17:30", "2026-12-03 08:30"]);
    }

    #[test]
    fn a_search_long_after_the_start_finds_the_next_occurrence_without_reading_every_one_before() {
        let text = "DTSTART;TZID=UTC:19000101T000000\nRRULE:FREQ=MINUTELY;INTERVAL=7";
        let rule = TextRule::parse(text).unwrap();
        let after = Utc.with_ymd_and_hms(2026, 12, 7, 10, 0, 0).unwrap();
        let found = rule.find(Some(after), 2);
        assert!(!found.capped);
        let minutes =
            |o: &crate::schedule::Occurrence| (o.at - Utc.with_ymd_and_hms(1900, 1, 1, 0, 0, 0).unwrap()).num_minutes();
        assert!(found.occurrences.iter().all(|o| o.at > after && minutes(o) % 7 == 0), "{found:?}");
        assert_eq!(found.occurrences[1].at - found.occurrences[0].at, chrono::Duration::minutes(7));
    }

    #[test]
    fn a_rule_with_nothing_left_says_whether_until_or_count_ended_it() {
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap();
        let never = |text: &str| {
            let rule = crate::domain::ScheduleRule::Rrule { text: text.into() };
            let compiled = crate::schedule::CompiledRule::compile(&rule, "Europe/Paris").unwrap();
            compiled.ensure_fires(now).unwrap_err().to_string()
        };
        let start = "DTSTART;TZID=Europe/Paris:20260101T090000\nRRULE:FREQ=MONTHLY;BYMONTHDAY=-1";
        assert!(never(&format!("{start};UNTIL=20260601T000000Z")).contains("its UNTIL (2026-06-01 02:00:00)"));
        assert!(never(&format!("{start};COUNT=3")).contains("its 3 occurrences (COUNT)"));
    }

    #[test]
    fn what_the_rfc_does_not_allow_or_a_schedule_cannot_do_is_refused_with_the_reason() {
        let refused = |text: &str| TextRule::parse(text).unwrap_err().to_string();
        let start = "DTSTART;TZID=UTC:20260101T090000\n";
        assert!(refused(&format!("{start}RRULE:FREQ=SECONDLY")).contains("SECONDLY"));
        assert!(refused(&format!("{start}RRULE:FREQ=WEEKLY;BYMONTHDAY=3")).contains("RRULE"));
        assert!(refused(&format!("{start}RRULE:FREQ=DAILY;BYHOUR=25")).contains("RRULE"));
        assert!(refused(&format!("{start}RRULE:FREQ=DAILY\nEXRULE:FREQ=WEEKLY")).contains("EXRULE"));
        assert!(refused("RRULE:FREQ=DAILY").contains("DTSTART"));
        assert!(
            refused(&format!("{start}RDATE;VALUE=PERIOD:20260101T090000/PT1H\nRRULE:FREQ=DAILY")).contains("PERIOD")
        );
        assert!(refused(&format!("{start}RRULE:FREQ=DAILY;COUNT=100001")).contains("COUNT"));
    }
}
