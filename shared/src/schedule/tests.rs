//! The schedule suite: real 2026 DST transitions (read from chrono-tz, not assumed), the seed
//! examples, presets, cron syntax and errors, RFC 5545 text.

use chrono::{DateTime, Duration, FixedOffset, LocalResult, NaiveDateTime, Offset, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;

use super::recurrence::{canonical, from_rfc5545, to_rfc5545};
use super::*;
use crate::domain::{RecurrenceRule, Trigger};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn wall(text: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S").unwrap()
}

fn cron(expression: &str, timezone: &str) -> CompiledRule {
    CompiledRule::compile(&ScheduleRule::Cron { expression: expression.to_string() }, timezone).unwrap()
}

/// The reason a rule that compiles never fires (its preview is empty).
fn never_fires(rule: Result<CompiledRule, RuleError>) -> String {
    let rule = rule.unwrap();
    assert!(rule.preview(utc("1990-01-01T00:00:00Z"), 5).is_empty());
    assert_eq!(rule.next_after(utc("1990-01-01T00:00:00Z")), None);
    match rule.ensure_fires(utc("1990-01-01T00:00:00Z")) {
        Err(RuleError::NeverFires(reason)) => reason,
        other => panic!("NeverFires expected, got {other:?}"),
    }
}

fn cron_error(expression: &str) -> RuleError {
    CompiledRule::compile(&ScheduleRule::Cron { expression: expression.to_string() }, "UTC").unwrap_err()
}

fn rec(trigger: Trigger, start: &str) -> RecurrenceRule {
    RecurrenceRule {
        trigger,
        every: 1,
        start: wall(start),
        until: None,
        allowed_days: Vec::new(),
        month: None,
        occurrence: None,
        count_from_end: false,
    }
}

fn compile_rec(rule: &RecurrenceRule, timezone: &str) -> Result<CompiledRule, RuleError> {
    CompiledRule::compile(&ScheduleRule::Recurrence(rule.clone()), timezone)
}

/// Local times with their offsets, for readable assertions.
fn locals(occurrences: &[Occurrence]) -> Vec<String> {
    occurrences.iter().map(|o| o.local.to_rfc3339()).collect()
}

const WEEKDAYS: [Weekday; 5] = [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri];

/// One UTC offset change of a zone.
#[derive(Debug, Clone, Copy)]
struct Transition {
    at: DateTime<Utc>,
    before: FixedOffset,
    after: FixedOffset,
}

impl Transition {
    /// The wall clock just reaching the change (read with the old offset).
    fn wall_before(&self) -> NaiveDateTime {
        self.at.naive_utc() + Duration::seconds(i64::from(self.before.local_minus_utc()))
    }
    /// The wall clock right after the change.
    fn wall_after(&self) -> NaiveDateTime {
        self.at.naive_utc() + Duration::seconds(i64::from(self.after.local_minus_utc()))
    }
    fn is_gap(&self) -> bool {
        self.after.local_minus_utc() > self.before.local_minus_utc()
    }
}

/// Every 2026 offset change of `tz`, found by reading chrono-tz every 15 minutes (all offsets of
/// the zones tested are multiples of 15 minutes) and confirmed to the second.
fn transitions_2026(tz: Tz) -> Vec<Transition> {
    let offset = |t: DateTime<Utc>| tz.offset_from_utc_datetime(&t.naive_utc()).fix();
    let mut found = Vec::new();
    let mut t = utc("2026-01-01T00:00:00Z");
    while t < utc("2027-01-01T00:00:00Z") {
        let next = t + Duration::minutes(15);
        if offset(next) != offset(t) {
            assert_eq!(offset(next - Duration::seconds(1)), offset(t), "a change inside a 15-minute step");
            found.push(Transition { at: next, before: offset(t), after: offset(next) });
        }
        t = next;
    }
    found
}

/// A zone with its 2026 spring-forward gap and fall-back overlap.
struct Zone {
    name: &'static str,
    tz: Tz,
    gap: Transition,
    overlap: Transition,
}

impl Zone {
    /// Reads the transitions from chrono-tz and checks they are the expected wall-clock jumps.
    fn new(name: &'static str, gap: (&str, &str), overlap: (&str, &str)) -> Self {
        let tz: Tz = name.parse().unwrap();
        let all = transitions_2026(tz);
        assert_eq!(all.len(), 2, "{name}: {all:?}");
        let find = |want_gap: bool| *all.iter().find(|t| t.is_gap() == want_gap).unwrap();
        let zone = Self { name, tz, gap: find(true), overlap: find(false) };
        assert_eq!((zone.gap.wall_before(), zone.gap.wall_after()), (wall(gap.0), wall(gap.1)), "{name} gap");
        assert_eq!(
            (zone.overlap.wall_before(), zone.overlap.wall_after()),
            (wall(overlap.0), wall(overlap.1)),
            "{name} overlap"
        );
        zone
    }

    /// A local time in the middle of the skipped range.
    fn skipped_time(&self) -> NaiveDateTime {
        let (from, to) = (self.gap.wall_before(), self.gap.wall_after());
        from + (to - from) / 2
    }

    /// A local time in the middle of the repeated range.
    fn repeated_time(&self) -> NaiveDateTime {
        let (from, to) = (self.overlap.wall_after(), self.overlap.wall_before());
        from + (to - from) / 2
    }

    /// The first instant of a repeated local time.
    fn first_pass(&self, local: NaiveDateTime) -> DateTime<Utc> {
        self.tz.from_local_datetime(&local).earliest().unwrap().with_timezone(&Utc)
    }
}

fn fixed_cron_at(time: NaiveDateTime) -> String {
    format!("{} {} * * *", time.minute(), time.hour())
}

fn daily_at(time: NaiveDateTime, days_before: i64) -> RecurrenceRule {
    let mut rule = rec(Trigger::Daily, "2026-01-01T00:00:00");
    rule.start = time - Duration::days(days_before);
    rule
}

// ---------------------------------------------------------------------------------------------
// DST: the same checks in every zone
// ---------------------------------------------------------------------------------------------

fn a_fixed_time_cron_in_the_gap_runs_once_right_after_the_gap(zone: &Zone) {
    let skipped = zone.skipped_time();
    let rule = cron(&fixed_cron_at(skipped), zone.name);
    let got = rule.preview(zone.gap.at - Duration::hours(12), 2);
    assert_eq!(got[0].at, zone.gap.at, "{}: runs at the first instant after the gap", zone.name);
    assert_eq!(got[0].local.naive_local(), zone.gap.wall_after());
    assert!(got[0].dst_shifted);
    assert_eq!(got[1].local.naive_local(), skipped + Duration::days(1), "next day as usual, not twice");
    assert!(!got[1].dst_shifted);
}

fn a_fixed_time_cron_in_the_overlap_runs_once_in_the_first_pass(zone: &Zone) {
    let repeated = zone.repeated_time();
    let rule = cron(&fixed_cron_at(repeated), zone.name);
    let got = rule.preview(zone.overlap.at - Duration::hours(12), 2);
    assert_eq!(got[0].at, zone.first_pass(repeated), "{}", zone.name);
    assert_eq!(got[0].local.offset().fix(), zone.overlap.before, "the earlier offset");
    assert!(!got[0].dst_shifted);
    assert_eq!(got[1].local.naive_local(), repeated + Duration::days(1), "the second pass does not run");
    // Asked from inside the overlap, after the first pass: the second pass still does not run.
    let inside = rule.next_after(got[0].at + Duration::minutes(1)).unwrap();
    assert_eq!(inside.local.naive_local(), repeated + Duration::days(1));
}

/// `*/30` fires on every instant whose local time is on the hour or half hour: none in the gap,
/// both passes of the overlap. The expectation is built by reading every 15-minute instant.
fn an_every_30_minutes_cron_follows_the_wall_clock_across_both_transitions(zone: &Zone) {
    let rule = cron("*/30 * * * *", zone.name);
    for transition in [zone.gap, zone.overlap] {
        let (from, to) = (transition.at - Duration::hours(3), transition.at + Duration::hours(3));
        let mut expected = Vec::new();
        let mut t = from + Duration::minutes(15);
        while t <= to {
            if t.with_timezone(&zone.tz).minute().is_multiple_of(30) {
                expected.push(t);
            }
            t += Duration::minutes(15);
        }
        let got = rule.preview(from, expected.len());
        assert_eq!(got.iter().map(|o| o.at).collect::<Vec<_>>(), expected, "{} {transition:?}", zone.name);
        assert!(got.iter().all(|o| !o.dst_shifted));
    }
    // The repeated half hour runs twice, the skipped one never.
    let repeated = zone.repeated_time().with_minute(zone.repeated_time().minute() / 30 * 30).unwrap();
    let around_overlap = rule.preview(zone.overlap.at - Duration::hours(3), 16);
    assert!(matches!(zone.tz.from_local_datetime(&repeated), LocalResult::Ambiguous(..)), "{repeated}");
    let repeated_runs = around_overlap.iter().filter(|o| o.local.naive_local() == repeated).count();
    assert_eq!(repeated_runs, 2, "{} {repeated}", zone.name);
    let skipped = zone.skipped_time().with_minute(zone.skipped_time().minute() / 30 * 30).unwrap();
    assert!(matches!(zone.tz.from_local_datetime(&skipped), LocalResult::None), "{skipped}");
    let around_gap = rule.preview(zone.gap.at - Duration::hours(3), 16);
    assert!(around_gap.iter().all(|o| o.local.naive_local() != skipped
        && o.local.naive_local() != skipped.date().and_time(zone.gap.wall_before().time())));
}

fn a_daily_recurrence_at_a_skipped_time_takes_the_pre_gap_offset(zone: &Zone) {
    let skipped = zone.skipped_time();
    let rule = compile_rec(&daily_at(skipped, 5), zone.name).unwrap();
    let got = rule.preview(zone.gap.at - Duration::hours(30), 3);
    let pre_gap = (skipped - Duration::seconds(i64::from(zone.gap.before.local_minus_utc()))).and_utc();
    assert_eq!(got[0].local.naive_local(), skipped - Duration::days(1), "{}", zone.name);
    assert_eq!(got[1].at, pre_gap, "{}: the skipped time read with the offset before the gap", zone.name);
    assert_eq!(got[1].local.naive_local(), skipped + (zone.gap.wall_after() - zone.gap.wall_before()));
    assert!(got[1].dst_shifted);
    assert_eq!(got[2].local.naive_local(), skipped + Duration::days(1));
    assert!(!got[0].dst_shifted && !got[2].dst_shifted);
}

fn a_daily_recurrence_at_a_repeated_time_fires_once_at_its_first_occurrence(zone: &Zone) {
    let repeated = zone.repeated_time();
    let rule = compile_rec(&daily_at(repeated, 5), zone.name).unwrap();
    let got = rule.preview(zone.overlap.at - Duration::hours(30), 3);
    assert_eq!(got[1].at, zone.first_pass(repeated), "{}", zone.name);
    assert_eq!(got[1].local.naive_local(), repeated);
    assert!(!got[1].dst_shifted);
    assert_eq!(got[2].local.naive_local(), repeated + Duration::days(1), "once, not once per pass");
}

fn a_recurrence_starting_inside_the_gap_compiles_and_fires_shifted(zone: &Zone) {
    let skipped = zone.skipped_time();
    for trigger in [Trigger::Daily, Trigger::Weekly, Trigger::Once] {
        let mut rule = rec(trigger, "2026-01-01T00:00:00");
        rule.start = skipped;
        let compiled = compile_rec(&rule, zone.name).unwrap();
        let first = compiled.next_after(zone.gap.at - Duration::days(3)).unwrap();
        assert!(first.dst_shifted, "{} {trigger:?}", zone.name);
        assert_eq!(first.local.naive_local(), skipped + (zone.gap.wall_after() - zone.gap.wall_before()));
        assert_eq!(from_rfc5545(&to_rfc5545(&rule, zone.name)).unwrap(), (rule.clone(), zone.name.to_string()));
    }
}

fn a_recurrence_starting_inside_the_overlap_compiles_and_fires_in_the_first_pass(zone: &Zone) {
    let repeated = zone.repeated_time();
    for trigger in [Trigger::Daily, Trigger::Monthly, Trigger::Once] {
        let mut rule = rec(trigger, "2026-01-01T00:00:00");
        rule.start = repeated;
        let compiled = compile_rec(&rule, zone.name).unwrap();
        let first = compiled.next_after(zone.overlap.at - Duration::days(3)).unwrap();
        assert_eq!(first.at, zone.first_pass(repeated), "{} {trigger:?}", zone.name);
        assert!(!first.dst_shifted);
        assert_eq!(from_rfc5545(&to_rfc5545(&rule, zone.name)).unwrap(), (rule.clone(), zone.name.to_string()));
    }
}

macro_rules! dst_suite {
    ($module:ident, $zone:expr, gap: $gap_from:expr => $gap_to:expr, overlap: $ov_from:expr => $ov_to:expr) => {
        mod $module {
            use super::*;

            fn zone() -> Zone {
                Zone::new($zone, ($gap_from, $gap_to), ($ov_from, $ov_to))
            }

            #[test]
            fn its_2026_transitions_are_the_expected_wall_clock_jumps() {
                zone();
            }

            #[test]
            fn a_fixed_time_cron_in_the_gap_runs_once_right_after_the_gap() {
                super::a_fixed_time_cron_in_the_gap_runs_once_right_after_the_gap(&zone());
            }

            #[test]
            fn a_fixed_time_cron_in_the_overlap_runs_once_in_the_first_pass() {
                super::a_fixed_time_cron_in_the_overlap_runs_once_in_the_first_pass(&zone());
            }

            #[test]
            fn an_every_30_minutes_cron_follows_the_wall_clock_across_both_transitions() {
                super::an_every_30_minutes_cron_follows_the_wall_clock_across_both_transitions(&zone());
            }

            #[test]
            fn a_daily_recurrence_at_a_skipped_time_takes_the_pre_gap_offset() {
                super::a_daily_recurrence_at_a_skipped_time_takes_the_pre_gap_offset(&zone());
            }

            #[test]
            fn a_daily_recurrence_at_a_repeated_time_fires_once_at_its_first_occurrence() {
                super::a_daily_recurrence_at_a_repeated_time_fires_once_at_its_first_occurrence(&zone());
            }

            #[test]
            fn a_recurrence_starting_inside_the_gap_compiles_and_fires_shifted() {
                super::a_recurrence_starting_inside_the_gap_compiles_and_fires_shifted(&zone());
            }

            #[test]
            fn a_recurrence_starting_inside_the_overlap_compiles_and_fires_in_the_first_pass() {
                super::a_recurrence_starting_inside_the_overlap_compiles_and_fires_in_the_first_pass(&zone());
            }
        }
    };
}

dst_suite!(new_york, "America/New_York",
    gap: "2026-03-08T02:00:00" => "2026-03-08T03:00:00",
    overlap: "2026-11-01T02:00:00" => "2026-11-01T01:00:00");
dst_suite!(london, "Europe/London",
    gap: "2026-03-29T01:00:00" => "2026-03-29T02:00:00",
    overlap: "2026-10-25T02:00:00" => "2026-10-25T01:00:00");
dst_suite!(lord_howe, "Australia/Lord_Howe",
    gap: "2026-10-04T02:00:00" => "2026-10-04T02:30:00",
    overlap: "2026-04-05T02:00:00" => "2026-04-05T01:30:00");
dst_suite!(chatham, "Pacific/Chatham",
    gap: "2026-09-27T02:45:00" => "2026-09-27T03:45:00",
    overlap: "2026-04-05T03:45:00" => "2026-04-05T02:45:00");
dst_suite!(santiago, "America/Santiago",
    gap: "2026-09-06T00:00:00" => "2026-09-06T01:00:00",
    overlap: "2026-04-05T00:00:00" => "2026-04-04T23:00:00");

// ---------------------------------------------------------------------------------------------
// DST: specific cases
// ---------------------------------------------------------------------------------------------

#[test]
fn new_york_0230_cron_runs_at_0300_edt_on_spring_forward_day() {
    let got = cron("30 2 * * *", "America/New_York").preview(utc("2026-03-07T12:00:00Z"), 2);
    assert_eq!(locals(&got), ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"]);
    assert_eq!((got[0].dst_shifted, got[1].dst_shifted), (true, false));
}

#[test]
fn new_york_0230_recurrence_runs_at_0330_edt_on_spring_forward_day() {
    let rule = compile_rec(&rec(Trigger::Daily, "2026-03-01T02:30:00"), "America/New_York").unwrap();
    let got = rule.preview(utc("2026-03-07T12:00:00Z"), 2);
    assert_eq!(locals(&got), ["2026-03-08T03:30:00-04:00", "2026-03-09T02:30:00-04:00"]);
    assert!(got[0].dst_shifted);
}

#[test]
fn santiago_daily_recurrence_at_0030_keeps_the_day_whose_midnight_is_skipped() {
    let rule = compile_rec(&rec(Trigger::Daily, "2026-09-01T00:30:00"), "America/Santiago").unwrap();
    let got = rule.preview(utc("2026-09-05T00:00:00Z"), 3);
    assert_eq!(locals(&got), ["2026-09-05T00:30:00-04:00", "2026-09-06T01:30:00-03:00", "2026-09-07T00:30:00-03:00"]);
    assert_eq!(got.iter().map(|o| o.dst_shifted).collect::<Vec<_>>(), [false, true, false]);
}

#[test]
fn santiago_midnight_cron_runs_at_0100_on_the_day_its_midnight_is_skipped() {
    let got = cron("0 0 * * *", "America/Santiago").preview(utc("2026-09-05T12:00:00Z"), 2);
    assert_eq!(locals(&got), ["2026-09-06T01:00:00-03:00", "2026-09-07T00:00:00-03:00"]);
    assert!(got[0].dst_shifted);
}

#[test]
fn an_hourly_recurrence_fires_each_instant_once_across_both_new_york_transitions() {
    let rule = compile_rec(&rec(Trigger::Hourly, "2026-01-01T00:00:00"), "America/New_York").unwrap();
    // Spring: the skipped 02:00 reads as 03:00 EDT, the same instant as 03:00: one slot.
    let spring = rule.preview(utc("2026-03-08T05:30:00Z"), 3);
    assert_eq!(
        locals(&spring),
        ["2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"]
    );
    // Fall: wall-clock hours, a repeated hour means its first pass.
    let fall = rule.preview(utc("2026-11-01T03:30:00Z"), 3);
    assert_eq!(locals(&fall), ["2026-11-01T00:00:00-04:00", "2026-11-01T01:00:00-04:00", "2026-11-01T02:00:00-05:00"]);
}

#[test]
fn skipped_times_in_a_zone_without_dst_do_not_exist_and_nothing_shifts() {
    let rule = compile_rec(&rec(Trigger::Daily, "2026-03-01T02:30:00"), "UTC").unwrap();
    assert!(rule.preview(utc("2026-03-01T00:00:00Z"), 60).iter().all(|o| !o.dst_shifted));
}

// ---------------------------------------------------------------------------------------------
// Seed 003 worked examples and seed 001 presets
// ---------------------------------------------------------------------------------------------

#[test]
fn the_first_monday_of_every_month_at_9am_fires_on_first_mondays() {
    let mut rule = rec(Trigger::Monthly, "2026-01-01T09:00:00");
    rule.allowed_days = vec![Weekday::Mon];
    rule.occurrence = Some(1);
    let got = compile_rec(&rule, "America/New_York").unwrap().preview(utc("2025-12-01T00:00:00Z"), 6);
    assert_eq!(
        locals(&got),
        [
            "2026-01-05T09:00:00-05:00",
            "2026-02-02T09:00:00-05:00",
            "2026-03-02T09:00:00-05:00",
            "2026-04-06T09:00:00-04:00",
            "2026-05-04T09:00:00-04:00",
            "2026-06-01T09:00:00-04:00",
        ]
    );
}

#[test]
fn the_last_business_day_of_every_quarter_at_6pm_fires_on_quarter_ends() {
    let mut rule = rec(Trigger::Monthly, "2026-03-01T18:00:00");
    rule.every = 3;
    rule.allowed_days = WEEKDAYS.to_vec();
    rule.occurrence = Some(1);
    rule.count_from_end = true;
    let got = compile_rec(&rule, "America/New_York").unwrap().preview(utc("2026-01-01T00:00:00Z"), 8);
    assert_eq!(
        locals(&got),
        [
            "2026-03-31T18:00:00-04:00",
            "2026-06-30T18:00:00-04:00",
            "2026-09-30T18:00:00-04:00",
            "2026-12-31T18:00:00-05:00",
            "2027-03-31T18:00:00-04:00",
            "2027-06-30T18:00:00-04:00",
            "2027-09-30T18:00:00-04:00",
            "2027-12-31T18:00:00-05:00",
        ]
    );
    // A quarter whose last day is a weekend: 2028-09-30 is a Saturday.
    let later = compile_rec(&rule, "America/New_York").unwrap().next_after(utc("2028-07-01T00:00:00Z")).unwrap();
    assert_eq!(later.local.to_rfc3339(), "2028-09-29T18:00:00-04:00");
}

#[test]
fn every_weekday_at_7am_skips_weekends() {
    let mut rule = rec(Trigger::Daily, "2026-01-02T07:00:00");
    rule.allowed_days = WEEKDAYS.to_vec();
    let got = compile_rec(&rule, "Europe/London").unwrap().preview(utc("2026-01-01T00:00:00Z"), 7);
    assert_eq!(
        locals(&got),
        [
            "2026-01-02T07:00:00+00:00",
            "2026-01-05T07:00:00+00:00",
            "2026-01-06T07:00:00+00:00",
            "2026-01-07T07:00:00+00:00",
            "2026-01-08T07:00:00+00:00",
            "2026-01-09T07:00:00+00:00",
            "2026-01-12T07:00:00+00:00",
        ]
    );
}

#[test]
fn the_walkthrough_monthly_rule_fires_on_the_1st_at_7am() {
    let got = compile_rec(&rec(Trigger::Monthly, "2026-12-01T07:00:00"), "America/New_York")
        .unwrap()
        .preview(utc("2026-11-01T00:00:00Z"), 3);
    assert_eq!(locals(&got), ["2026-12-01T07:00:00-05:00", "2027-01-01T07:00:00-05:00", "2027-02-01T07:00:00-05:00"]);
}

#[test]
fn the_presets_are_the_three_cron_rules_of_seed_001() {
    let presets = presets();
    let expected = [("Daily 8am", "0 8 * * *"), ("Weekly Mon 8am", "0 8 * * 1"), ("Monthly 1st 8am", "0 8 1 * *")];
    assert_eq!(presets.len(), 3);
    for ((name, rule), (want_name, want_expression)) in presets.iter().zip(expected) {
        assert_eq!(*name, want_name);
        assert_eq!(*rule, ScheduleRule::Cron { expression: want_expression.to_string() });
    }
    let after = utc("2026-01-01T12:00:00Z"); // a Thursday
    let next = |i: usize| CompiledRule::compile(&presets[i].1, "UTC").unwrap().next_after(after).unwrap().at;
    assert_eq!(next(0), utc("2026-01-02T08:00:00Z"));
    assert_eq!(next(1), utc("2026-01-05T08:00:00Z"));
    assert_eq!(next(2), utc("2026-02-01T08:00:00Z"));
}

// ---------------------------------------------------------------------------------------------
// Cron syntax and errors
// ---------------------------------------------------------------------------------------------

#[test]
fn a_cron_that_names_a_date_that_never_exists_never_fires() {
    for expression in ["0 0 30 2 *", "0 0 31 4,6,9,11 *"] {
        let rule = CompiledRule::compile(&ScheduleRule::Cron { expression: expression.to_string() }, "UTC");
        let reason = never_fires(rule);
        assert!(reason.contains("never matches"), "{reason}");
        assert!(reason.contains(expression), "{reason}");
    }
}

#[test]
fn six_and_seven_field_crons_are_rejected_as_seconds_or_years() {
    for expression in ["0 0 8 * * *", "0 0 8 * * * 2026"] {
        let RuleError::InvalidCron { expression: given, reason } = cron_error(expression) else { panic!() };
        assert_eq!(given, expression);
        assert!(reason.contains("exactly 5") && reason.contains("seconds and years"), "{reason}");
    }
    let RuleError::InvalidCron { reason, .. } = cron_error("0 8 * *") else { panic!() };
    assert!(reason.contains("4 fields"), "{reason}");
}

#[test]
fn malformed_crons_are_rejected_with_croners_reason() {
    for expression in ["60 8 * * *", "0 8 * * XYZ", "0/5 8 * * *", "", "@reboot"] {
        assert!(matches!(cron_error(expression), RuleError::InvalidCron { .. }), "{expression}");
    }
}

#[test]
fn nicknames_are_accepted_and_mean_their_5_field_forms() {
    let after = utc("2026-01-01T12:00:00Z"); // a Thursday
    let next = |expression: &str| cron(expression, "UTC").next_after(after).unwrap().at;
    assert_eq!(next("@daily"), utc("2026-01-02T00:00:00Z"));
    assert_eq!(next("@midnight"), utc("2026-01-02T00:00:00Z"));
    assert_eq!(next("@hourly"), utc("2026-01-01T13:00:00Z"));
    assert_eq!(next("@weekly"), utc("2026-01-04T00:00:00Z"));
    assert_eq!(next("@monthly"), utc("2026-02-01T00:00:00Z"));
    assert_eq!(next("@yearly"), utc("2027-01-01T00:00:00Z"));
    assert_eq!(next("@ANNUALLY"), utc("2027-01-01T00:00:00Z"));
}

#[test]
fn a_restricted_day_of_month_and_day_of_week_match_either_posix_style() {
    let got = cron("0 9 13 * FRI", "UTC").preview(utc("2026-04-01T00:00:00Z"), 9);
    let days: Vec<String> = got.iter().map(|o| o.local.format("%m-%d %a").to_string()).collect();
    assert_eq!(
        days,
        [
            "04-03 Fri",
            "04-10 Fri",
            "04-13 Mon",
            "04-17 Fri",
            "04-24 Fri",
            "05-01 Fri",
            "05-08 Fri",
            "05-13 Wed",
            "05-15 Fri"
        ]
    );
    // croner's `+` switch to AND is refused.
    let RuleError::InvalidCron { reason, .. } = cron_error("0 9 13 * +FRI") else { panic!() };
    assert!(reason.contains("POSIX"), "{reason}");
}

#[test]
fn last_nth_weekday_and_nearest_weekday_forms_work() {
    let days = |expression: &str, n: usize| -> Vec<String> {
        let got = cron(expression, "UTC").preview(utc("2026-02-01T00:00:00Z"), n);
        got.iter().map(|o| o.local.format("%Y-%m-%d").to_string()).collect()
    };
    assert_eq!(days("0 9 L * *", 3), ["2026-02-28", "2026-03-31", "2026-04-30"]);
    assert_eq!(days("0 9 * * MON#2", 3), ["2026-02-09", "2026-03-09", "2026-04-13"]);
    assert_eq!(days("0 9 * * 5L", 2), ["2026-02-27", "2026-03-27"]);
    // The 15th of February and March 2026 is a Sunday, of August a Saturday.
    assert_eq!(days("0 9 15W * *", 7)[..3], ["2026-02-16", "2026-03-16", "2026-04-15"]);
    assert_eq!(days("0 9 15W * *", 7)[6], "2026-08-14");
    assert_eq!(days("0 9 * jan,Feb mon-wed", 2), ["2026-02-02", "2026-02-03"]);
}

#[test]
fn preview_is_strictly_after_the_given_instant() {
    let at_8 = utc("2026-01-01T08:00:00Z");
    let got = cron("0 8 * * *", "UTC").preview(at_8, 1);
    assert_eq!(got[0].at, utc("2026-01-02T08:00:00Z"));
    let rule = compile_rec(&rec(Trigger::Daily, "2026-01-01T08:00:00"), "UTC").unwrap();
    assert_eq!(rule.preview(at_8, 1)[0].at, utc("2026-01-02T08:00:00Z"));
    assert_eq!(rule.preview(at_8 - Duration::seconds(1), 1)[0].at, at_8);
    assert_eq!(rule.next_after(at_8).unwrap().at, utc("2026-01-02T08:00:00Z"));
}

#[test]
fn preview_is_capped_at_500_ascending_and_without_duplicates() {
    for rule in [
        cron("* * * * *", "America/New_York"),
        compile_rec(&rec(Trigger::Hourly, "2026-01-01T00:00:00"), "America/New_York").unwrap(),
    ] {
        let got = rule.preview(utc("2026-03-07T00:00:00Z"), 10_000);
        assert_eq!(got.len(), MAX_PREVIEW);
        assert!(got.windows(2).all(|w| w[0].at < w[1].at));
    }
    assert!(cron("* * * * *", "UTC").preview(utc("2026-03-07T00:00:00Z"), 0).is_empty());
}

#[test]
fn an_unknown_timezone_is_rejected_by_name() {
    let error = CompiledRule::compile(&presets()[0].1, "Mars/Olympus").unwrap_err();
    assert_eq!(error, RuleError::InvalidTimezone("Mars/Olympus".to_string()));
    assert_eq!(error.to_string(), "`Mars/Olympus` is not an IANA timezone");
    assert_eq!(cron("0 8 * * *", "Asia/Tokyo").timezone(), chrono_tz::Asia::Tokyo);
}

#[test]
fn a_cron_rule_always_fires_after_now() {
    cron("0 0 29 2 *", "UTC").ensure_fires(utc("2026-03-01T00:00:00Z")).unwrap();
    let next = cron("0 0 29 2 *", "UTC").next_after(utc("2026-03-01T00:00:00Z")).unwrap();
    assert_eq!(next.at, utc("2028-02-29T00:00:00Z"));
}

#[test]
fn an_occurrence_serializes_with_utc_and_local_times() {
    let occurrence = cron("30 2 * * *", "America/New_York").next_after(utc("2026-03-07T12:00:00Z")).unwrap();
    assert_eq!(
        serde_json::to_value(&occurrence).unwrap(),
        serde_json::json!({"at": "2026-03-08T07:00:00Z", "local": "2026-03-08T03:00:00-04:00", "dst_shifted": true})
    );
}

// ---------------------------------------------------------------------------------------------
// Recurrence semantics
// ---------------------------------------------------------------------------------------------

#[test]
fn a_once_rule_fires_exactly_once() {
    let rule = compile_rec(&rec(Trigger::Once, "2026-06-15T10:00:00"), "Europe/London").unwrap();
    let got = rule.preview(utc("2020-01-01T00:00:00Z"), 10);
    assert_eq!(locals(&got), ["2026-06-15T10:00:00+01:00"]);
    assert_eq!(rule.next_after(got[0].at), None);
    rule.ensure_fires(got[0].at - Duration::seconds(1)).unwrap();
    let RuleError::NeverFires(reason) = rule.ensure_fires(got[0].at).unwrap_err() else { panic!() };
    assert!(reason.contains("once rule"), "{reason}");
}

#[test]
fn a_once_rule_whose_allowed_days_exclude_its_date_never_fires() {
    let mut rule = rec(Trigger::Once, "2026-01-10T09:00:00"); // a Saturday
    rule.allowed_days = WEEKDAYS.to_vec();
    let reason = never_fires(compile_rec(&rule, "UTC"));
    assert!(reason.contains("Allowed Days"), "{reason}");
    rule.allowed_days.push(Weekday::Sat);
    assert_eq!(compile_rec(&rule, "UTC").unwrap().preview(utc("2026-01-01T00:00:00Z"), 5).len(), 1);
}

#[test]
fn an_until_before_the_first_occurrence_never_fires() {
    let mut rule = rec(Trigger::Monthly, "2026-01-10T09:00:00");
    rule.allowed_days = vec![Weekday::Mon];
    rule.occurrence = Some(1);
    rule.until = NaiveDateTime::parse_from_str("2026-01-20T00:00:00", "%Y-%m-%dT%H:%M:%S").ok().map(|d| d.date());
    let reason = never_fires(compile_rec(&rule, "UTC"));
    assert!(reason.contains("2026-02-02") && reason.contains("until"), "{reason}");
    rule.until = Some(wall("2025-12-31T00:00:00").date());
    let reason = never_fires(compile_rec(&rule, "UTC"));
    assert!(reason.contains("before the start"), "{reason}");
}

#[test]
fn until_includes_its_whole_local_day_and_then_the_rule_has_ended() {
    let mut rule = rec(Trigger::Daily, "2026-01-01T23:30:00");
    rule.until = Some(wall("2026-01-03T00:00:00").date());
    let compiled = compile_rec(&rule, "Pacific/Chatham").unwrap();
    let got = compiled.preview(utc("2025-12-01T00:00:00Z"), 10);
    assert_eq!(locals(&got), ["2026-01-01T23:30:00+13:45", "2026-01-02T23:30:00+13:45", "2026-01-03T23:30:00+13:45"]);
    assert_eq!(compiled.next_after(got[2].at), None);
    let RuleError::NeverFires(reason) = compiled.ensure_fires(got[2].at + Duration::days(2)).unwrap_err() else {
        panic!()
    };
    assert!(reason.contains("ended"), "{reason}");
}

#[test]
fn occurrences_before_the_start_never_fire() {
    let mut rule = rec(Trigger::Weekly, "2026-01-07T09:00:00"); // a Wednesday
    rule.allowed_days = vec![Weekday::Mon, Weekday::Wed, Weekday::Fri];
    let got = compile_rec(&rule, "UTC").unwrap().preview(utc("2025-01-01T00:00:00Z"), 3);
    assert_eq!(locals(&got), ["2026-01-07T09:00:00+00:00", "2026-01-09T09:00:00+00:00", "2026-01-12T09:00:00+00:00"]);
}

#[test]
fn a_weekly_rule_without_allowed_days_fires_on_its_start_weekday_every_n_weeks() {
    let mut rule = rec(Trigger::Weekly, "2026-01-07T09:00:00");
    rule.every = 2;
    let got = compile_rec(&rule, "UTC").unwrap().preview(utc("2026-03-01T00:00:00Z"), 3);
    assert_eq!(locals(&got), ["2026-03-04T09:00:00+00:00", "2026-03-18T09:00:00+00:00", "2026-04-01T09:00:00+00:00"]);
}

#[test]
fn a_fixed_date_monthly_rule_skips_dates_on_disallowed_days_and_months_without_the_day() {
    let mut rule = rec(Trigger::Monthly, "2026-01-01T09:00:00");
    rule.allowed_days = WEEKDAYS.to_vec();
    let got = compile_rec(&rule, "UTC").unwrap().preview(utc("2025-12-01T00:00:00Z"), 5);
    let days: Vec<String> = got.iter().map(|o| o.local.format("%Y-%m-%d").to_string()).collect();
    assert_eq!(days, ["2026-01-01", "2026-04-01", "2026-05-01", "2026-06-01", "2026-07-01"]);
    let the_31st = compile_rec(&rec(Trigger::Monthly, "2026-01-31T09:00:00"), "UTC").unwrap();
    let days: Vec<String> =
        the_31st.preview(utc("2026-01-01T00:00:00Z"), 3).iter().map(|o| o.local.format("%m-%d").to_string()).collect();
    assert_eq!(days, ["01-31", "03-31", "05-31"]);
}

#[test]
fn the_last_day_of_every_month_is_occurrence_1_from_the_end_without_allowed_days() {
    let mut rule = rec(Trigger::Monthly, "2026-01-01T09:00:00");
    rule.occurrence = Some(1);
    rule.count_from_end = true;
    let got = compile_rec(&rule, "UTC").unwrap().preview(utc("2026-01-01T00:00:00Z"), 3);
    assert_eq!(locals(&got), ["2026-01-31T09:00:00+00:00", "2026-02-28T09:00:00+00:00", "2026-03-31T09:00:00+00:00"]);
}

#[test]
fn a_yearly_rule_anchors_on_its_month() {
    let mut rule = rec(Trigger::Yearly, "2026-01-15T09:00:00");
    rule.month = Some(3);
    let got = compile_rec(&rule, "UTC").unwrap().preview(utc("2026-01-01T00:00:00Z"), 2);
    assert_eq!(locals(&got), ["2026-03-15T09:00:00+00:00", "2027-03-15T09:00:00+00:00"]);
    // Thanksgiving: the 4th Thursday of November.
    let mut rule = rec(Trigger::Yearly, "2026-01-01T12:00:00");
    rule.month = Some(11);
    rule.allowed_days = vec![Weekday::Thu];
    rule.occurrence = Some(4);
    let got = compile_rec(&rule, "America/New_York").unwrap().preview(utc("2026-01-01T00:00:00Z"), 2);
    assert_eq!(locals(&got), ["2026-11-26T12:00:00-05:00", "2027-11-25T12:00:00-05:00"]);
}

#[test]
fn a_recurrence_that_selects_no_date_never_fires() {
    let mut rule = rec(Trigger::Weekly, "2026-01-01T09:00:00");
    rule.allowed_days = vec![Weekday::Mon, Weekday::Tue];
    rule.occurrence = Some(5);
    never_fires(compile_rec(&rule, "UTC"));
    let mut feb_30 = rec(Trigger::Yearly, "2026-01-30T09:00:00");
    feb_30.month = Some(2);
    never_fires(compile_rec(&feb_30, "UTC"));
}

#[test]
fn out_of_range_recurrence_fields_are_invalid() {
    let mut rule = rec(Trigger::Daily, "2026-01-01T09:00:00");
    rule.every = 0;
    assert!(matches!(compile_rec(&rule, "UTC"), Err(RuleError::InvalidRecurrence(m)) if m.contains("every")));
    let mut rule = rec(Trigger::Yearly, "2026-01-01T09:00:00");
    rule.month = Some(13);
    assert!(matches!(compile_rec(&rule, "UTC"), Err(RuleError::InvalidRecurrence(m)) if m.contains("month")));
    let mut rule = rec(Trigger::Monthly, "2026-01-01T09:00:00");
    rule.occurrence = Some(6);
    assert!(matches!(compile_rec(&rule, "UTC"), Err(RuleError::InvalidRecurrence(m)) if m.contains("occurrence")));
}

/// Re-anchoring DTSTART near the searched time keeps the interval's phase: compare with `rrule`
/// iterating the same text from the original, decades-old start.
#[test]
fn searches_far_from_an_old_start_agree_with_iterating_from_the_start() {
    let mut rules = Vec::new();
    let mut hourly = rec(Trigger::Hourly, "1990-01-01T00:17:00");
    hourly.every = 5;
    hourly.allowed_days = vec![Weekday::Tue, Weekday::Sat];
    rules.push(hourly);
    let mut daily = rec(Trigger::Daily, "1990-03-03T06:00:00");
    daily.every = 3;
    rules.push(daily);
    let mut weekly = rec(Trigger::Weekly, "1999-12-30T08:00:00");
    weekly.every = 3;
    weekly.allowed_days = vec![Weekday::Mon, Weekday::Sun];
    rules.push(weekly);
    let mut monthly = rec(Trigger::Monthly, "1950-05-31T10:00:00");
    monthly.every = 5;
    rules.push(monthly);
    let mut quarterly = rec(Trigger::Monthly, "1960-02-10T18:00:00");
    quarterly.every = 3;
    quarterly.allowed_days = WEEKDAYS.to_vec();
    quarterly.occurrence = Some(2);
    quarterly.count_from_end = true;
    rules.push(quarterly);
    let mut leap = rec(Trigger::Yearly, "1904-02-29T12:00:00");
    leap.every = 3;
    rules.push(leap);

    let after = utc("2026-05-17T13:00:00Z");
    for rule in rules {
        let text = to_rfc5545(&rule, "UTC");
        let set: rrule::RRuleSet = text.parse().unwrap();
        let expected: Vec<DateTime<Utc>> =
            (&set).into_iter().map(|d| d.with_timezone(&Utc)).skip_while(|d| *d <= after).take(6).collect();
        let got: Vec<DateTime<Utc>> =
            compile_rec(&rule, "UTC").unwrap().preview(after, 6).iter().map(|o| o.at).collect();
        assert_eq!(got, expected, "{text}");
    }
}

// ---------------------------------------------------------------------------------------------
// RFC 5545 text
// ---------------------------------------------------------------------------------------------

#[test]
fn the_first_monday_rule_is_written_as_the_cli_example() {
    let mut rule = rec(Trigger::Monthly, "2026-01-05T09:00:00");
    rule.allowed_days = vec![Weekday::Mon];
    rule.occurrence = Some(1);
    assert_eq!(
        to_rfc5545(&rule, "America/New_York"),
        "DTSTART;TZID=America/New_York:20260105T090000\nRRULE:FREQ=MONTHLY;BYDAY=MO;BYSETPOS=1"
    );
    assert_eq!(
        to_rfc5545(&rec(Trigger::Daily, "2026-01-05T09:00:00"), "UTC"),
        "DTSTART:20260105T090000Z\nRRULE:FREQ=DAILY"
    );
}

#[test]
fn the_cli_example_parses_with_a_real_or_a_typed_newline() {
    let typed = r"DTSTART;TZID=America/New_York:20260105T090000\nRRULE:FREQ=MONTHLY;BYDAY=MO;BYSETPOS=1";
    let real = typed.replace("\\n", "\n");
    for text in [typed.to_string(), real.clone(), real.replace('\n', "\r\n"), format!("{real}\n")] {
        let (rule, timezone) = from_rfc5545(&text).unwrap();
        assert_eq!(timezone, "America/New_York");
        assert_eq!(rule.trigger, Trigger::Monthly);
        assert_eq!(rule.every, 1);
        assert_eq!(rule.start, wall("2026-01-05T09:00:00"));
        assert_eq!(rule.allowed_days, [Weekday::Mon]);
        assert_eq!((rule.occurrence, rule.count_from_end, rule.until, rule.month), (Some(1), false, None, None));
        let got = compile_rec(&rule, &timezone).unwrap().preview(utc("2026-01-01T00:00:00Z"), 2);
        assert_eq!(locals(&got), ["2026-01-05T09:00:00-05:00", "2026-02-02T09:00:00-05:00"]);
    }
}

#[test]
fn every_trigger_round_trips_through_rfc_5545() {
    let date = |text: &str| Some(wall(&format!("{text}T00:00:00")).date());
    let mut rules = Vec::new();
    rules.push(rec(Trigger::Once, "2026-06-15T10:00:00"));
    let mut once_on_weekdays = rec(Trigger::Once, "2026-03-08T02:30:00");
    once_on_weekdays.allowed_days = vec![Weekday::Sun];
    once_on_weekdays.every = 4;
    rules.push(once_on_weekdays);
    let mut hourly = rec(Trigger::Hourly, "2026-01-01T00:15:00");
    hourly.every = 6;
    hourly.allowed_days = WEEKDAYS.to_vec();
    hourly.until = date("2026-12-31");
    rules.push(hourly);
    let mut daily = rec(Trigger::Daily, "2026-01-02T07:00:00");
    daily.allowed_days = WEEKDAYS.to_vec();
    daily.until = date("2026-11-01");
    rules.push(daily);
    let mut weekly = rec(Trigger::Weekly, "2026-01-07T09:30:15");
    weekly.every = 2;
    weekly.allowed_days = vec![Weekday::Mon, Weekday::Thu];
    rules.push(weekly);
    rules.push(rec(Trigger::Weekly, "2026-01-07T09:00:00"));
    let mut weekly_first = rec(Trigger::Weekly, "2026-01-07T09:00:00");
    weekly_first.allowed_days = vec![Weekday::Tue, Weekday::Fri];
    weekly_first.occurrence = Some(1);
    rules.push(weekly_first);
    rules.push(rec(Trigger::Monthly, "2026-01-31T09:00:00"));
    let mut monthly_filtered = rec(Trigger::Monthly, "2026-01-01T09:00:00");
    monthly_filtered.allowed_days = WEEKDAYS.to_vec();
    monthly_filtered.until = date("2027-06-30");
    rules.push(monthly_filtered);
    let mut quarter_end = rec(Trigger::Monthly, "2026-03-01T18:00:00");
    quarter_end.every = 3;
    quarter_end.allowed_days = WEEKDAYS.to_vec();
    quarter_end.occurrence = Some(1);
    quarter_end.count_from_end = true;
    rules.push(quarter_end);
    let mut yearly = rec(Trigger::Yearly, "2026-01-15T09:00:00");
    yearly.month = Some(3);
    rules.push(yearly);
    let mut yearly_nth = rec(Trigger::Yearly, "2026-01-01T12:00:00");
    yearly_nth.month = Some(11);
    yearly_nth.allowed_days = vec![Weekday::Thu];
    yearly_nth.occurrence = Some(4);
    rules.push(yearly_nth);
    let mut yearly_filtered = rec(Trigger::Yearly, "2026-07-04T12:00:00");
    yearly_filtered.every = 2;
    yearly_filtered.month = Some(7);
    yearly_filtered.allowed_days = vec![Weekday::Sat, Weekday::Sun];
    rules.push(yearly_filtered);

    for timezone in ["UTC", "America/New_York", "America/Santiago", "Australia/Lord_Howe", "Pacific/Chatham"] {
        for rule in &rules {
            assert_eq!(canonical(rule), *rule, "the test rules are canonical");
            let text = to_rfc5545(rule, timezone);
            assert_eq!(from_rfc5545(&text), Ok((rule.clone(), timezone.to_string())), "{text}");
            compile_rec(rule, timezone).unwrap();
        }
    }
}

#[test]
fn a_non_canonical_rule_round_trips_to_its_canonical_form() {
    let mut rule = rec(Trigger::Daily, "2026-01-01T09:00:00");
    rule.allowed_days = vec![Weekday::Fri, Weekday::Mon, Weekday::Fri];
    rule.month = Some(4);
    rule.occurrence = Some(2);
    rule.count_from_end = true;
    let (parsed, _) = from_rfc5545(&to_rfc5545(&rule, "Europe/London")).unwrap();
    assert_eq!(parsed, canonical(&rule));
    assert_eq!(parsed.allowed_days, [Weekday::Mon, Weekday::Fri]);
    assert_eq!((parsed.month, parsed.occurrence, parsed.count_from_end), (None, None, false));
    let mut yearly = rec(Trigger::Yearly, "2026-05-20T09:00:00");
    yearly.month = None;
    assert_eq!(from_rfc5545(&to_rfc5545(&yearly, "UTC")).unwrap().0.month, Some(5));
}

#[test]
fn until_is_written_as_the_utc_end_of_its_local_day() {
    let mut rule = rec(Trigger::Daily, "2026-01-01T09:00:00");
    rule.until = Some(wall("2026-07-04T00:00:00").date());
    assert_eq!(
        to_rfc5545(&rule, "America/New_York"),
        "DTSTART;TZID=America/New_York:20260101T090000\nRRULE:FREQ=DAILY;UNTIL=20260705T035959Z"
    );
}

#[test]
fn other_rfc_5545_spellings_map_to_the_structured_form() {
    let parse = |rrule: &str| from_rfc5545(&format!("DTSTART;TZID=Europe/London:20260105T090000\nRRULE:{rrule}"));
    let (rule, _) = parse("FREQ=MONTHLY;BYDAY=-1FR").unwrap();
    assert_eq!((rule.allowed_days, rule.occurrence, rule.count_from_end), (vec![Weekday::Fri], Some(1), true));
    let (rule, _) = parse("freq=weekly;interval=2;wkst=MO;byday=MO,TU").unwrap();
    assert_eq!((rule.trigger, rule.every, rule.allowed_days), (Trigger::Weekly, 2, vec![Weekday::Mon, Weekday::Tue]));
    let (rule, _) = parse("FREQ=DAILY;UNTIL=20260110").unwrap();
    assert_eq!(rule.until, Some(wall("2026-01-10T00:00:00").date()));
    // An UNTIL before the day's firing time ends the rule the day before.
    let (rule, _) = parse("FREQ=DAILY;UNTIL=20260110T080000Z").unwrap();
    assert_eq!(rule.until, Some(wall("2026-01-09T00:00:00").date()));
    let (rule, _) = parse("FREQ=YEARLY;COUNT=1").unwrap();
    assert_eq!(rule.trigger, Trigger::Once);
    let (rule, timezone) = from_rfc5545("RRULE:FREQ=DAILY\nDTSTART;TZID=UTC:20260105T090000").unwrap();
    assert_eq!((rule.trigger, timezone.as_str()), (Trigger::Daily, "UTC"));
}

#[test]
fn malformed_or_unsupported_rfc_5545_text_is_an_invalid_recurrence() {
    let start = "DTSTART;TZID=America/New_York:20260105T090000";
    let cases = [
        String::new(),
        "RRULE:FREQ=DAILY".to_string(),
        start.to_string(),
        format!("{start}\nRRULE:FREQ=SOMETIMES"),
        format!("{start}\nRRULE:INTERVAL=2"),
        format!("{start}\nRRULE:FREQ=MINUTELY"),
        format!("{start}\nRRULE:FREQ=DAILY;BYHOUR=9"),
        format!("{start}\nRRULE:FREQ=DAILY;COUNT=5"),
        format!("{start}\nRRULE:FREQ=DAILY;COUNT=1;UNTIL=20260110"),
        format!("{start}\nRRULE:FREQ=DAILY;INTERVAL=0"),
        format!("{start}\nRRULE:FREQ=DAILY;FREQ=DAILY"),
        format!("{start}\nRRULE:FREQ=MONTHLY;BYDAY=MO"),
        format!("{start}\nRRULE:FREQ=MONTHLY;BYMONTHDAY=6"),
        format!("{start}\nRRULE:FREQ=MONTHLY;BYMONTHDAY=1,15"),
        format!("{start}\nRRULE:FREQ=YEARLY;BYDAY=MO;BYSETPOS=1"),
        format!("{start}\nRRULE:FREQ=DAILY;BYDAY=XX"),
        format!("{start}\nRRULE:FREQ=DAILY;BYSETPOS=1;BYDAY=MO"),
        format!("{start}\nRRULE:FREQ=WEEKLY;WKST=SU"),
        format!("{start}\nRRULE:FREQ=HOURLY;UNTIL=20260110T120000Z"),
        format!("{start}\nRRULE:FREQ=DAILY\nRRULE:FREQ=WEEKLY"),
        format!("{start}\nRRULE:FREQ=DAILY\nEXDATE;TZID=America/New_York:20260106T090000"),
        "DTSTART:20260105T090000\nRRULE:FREQ=DAILY".to_string(),
        "DTSTART;VALUE=DATE:20260105\nRRULE:FREQ=DAILY".to_string(),
        "DTSTART;TZID=America/New_York:2026-01-05T09:00\nRRULE:FREQ=DAILY".to_string(),
        "DTSTART;TZID=America/New_York:20260105T090000Z\nRRULE:FREQ=DAILY".to_string(),
        "not a rule at all".to_string(),
    ];
    for text in cases {
        match from_rfc5545(&text) {
            Err(RuleError::InvalidRecurrence(message)) => assert!(!message.is_empty()),
            other => panic!("{text:?} gave {other:?}"),
        }
    }
    assert_eq!(
        from_rfc5545("DTSTART;TZID=Mars/Olympus:20260105T090000\nRRULE:FREQ=DAILY"),
        Err(RuleError::InvalidTimezone("Mars/Olympus".to_string()))
    );
    let Err(RuleError::InvalidRecurrence(message)) = from_rfc5545(&format!("{start}\nRRULE:FREQ=DAILY;BYHOUR=9"))
    else {
        panic!()
    };
    assert!(message.contains("BYHOUR"), "{message}");
}

/// Our evaluation of a structured rule and `rrule`'s own reading of its RFC 5545 text agree
/// (in UTC, where no DST resolution differs).
#[test]
fn evaluation_agrees_with_rrule_reading_the_written_text() {
    let mut rules = vec![rec(Trigger::Monthly, "2026-01-31T09:00:00"), rec(Trigger::Hourly, "2026-01-01T00:45:00")];
    let mut filtered = rec(Trigger::Monthly, "2026-01-13T09:00:00");
    filtered.allowed_days = vec![Weekday::Fri];
    rules.push(filtered);
    let mut last_weekend_day = rec(Trigger::Monthly, "2026-01-01T09:00:00");
    last_weekend_day.allowed_days = vec![Weekday::Sat, Weekday::Sun];
    last_weekend_day.occurrence = Some(1);
    last_weekend_day.count_from_end = true;
    rules.push(last_weekend_day);
    let mut second_day_of_week = rec(Trigger::Weekly, "2026-01-01T09:00:00");
    second_day_of_week.occurrence = Some(2);
    rules.push(second_day_of_week);
    let mut until = rec(Trigger::Daily, "2026-01-01T09:00:00");
    until.until = Some(wall("2026-01-04T00:00:00").date());
    rules.push(until);
    for rule in rules {
        let text = to_rfc5545(&rule, "UTC");
        let set: rrule::RRuleSet = text.parse().unwrap();
        let expected: Vec<DateTime<Utc>> = set.all(8).dates.iter().map(|d| d.with_timezone(&Utc)).collect();
        let got: Vec<DateTime<Utc>> =
            compile_rec(&rule, "UTC").unwrap().preview(utc("2025-01-01T00:00:00Z"), 8).iter().map(|o| o.at).collect();
        assert_eq!(got, expected, "{text}");
    }
}

#[test]
fn searches_at_the_ends_of_time_neither_panic_nor_loop() {
    let rules = [
        cron("0 8 * * *", "Pacific/Kiritimati"),
        compile_rec(&rec(Trigger::Hourly, "2026-01-01T00:00:00"), "Pacific/Kiritimati").unwrap(),
    ];
    for rule in &rules {
        assert_eq!(rule.next_after(DateTime::<Utc>::MAX_UTC), None);
        assert!(rule.preview(DateTime::<Utc>::MAX_UTC, 3).is_empty());
        assert!(matches!(rule.ensure_fires(DateTime::<Utc>::MAX_UTC), Err(RuleError::NeverFires(_))));
        assert!(rule.next_after(DateTime::<Utc>::MIN_UTC).is_some());
    }
    // croner searches up to the year 5000; recurrence rules run to the end of 9998.
    assert_eq!(rules[0].preview(utc("4998-12-31T00:00:00Z"), 100).len(), 100);
    assert_eq!(rules[0].next_after(utc("5001-01-01T00:00:00Z")), None);
    assert_eq!(rules[1].preview(utc("9998-12-31T00:00:00Z"), 100).len(), 100);
}

#[test]
fn compiled_rules_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync::<CompiledRule>();
    assert_send_sync::<RuleError>();
    assert_send_sync::<Occurrence>();
}

#[test]
fn a_cron_with_several_hours_or_minutes_skips_its_slot_in_the_gap() {
    let after = utc("2026-03-08T05:00:00Z"); // midnight EST on the spring-forward day
    let got = cron("30 2,14 * * *", "America/New_York").preview(after, 2);
    assert_eq!(locals(&got), ["2026-03-08T14:30:00-04:00", "2026-03-09T02:30:00-04:00"]);
    let got = cron("0,30 2 * * *", "America/New_York").preview(after, 2);
    assert_eq!(locals(&got), ["2026-03-09T02:00:00-04:00", "2026-03-09T02:30:00-04:00"]);
}

/// Why recurrence rules run `rrule` on floating time: in a real zone the crate refuses a DTSTART
/// in a gap or an overlap, and loses a day whose local midnight does not exist.
#[test]
fn the_rrule_crate_alone_refuses_gap_and_overlap_starts_and_drops_santiagos_day() {
    for text in [
        "DTSTART;TZID=America/New_York:20260308T023000\nRRULE:FREQ=DAILY;COUNT=3",
        "DTSTART;TZID=America/New_York:20261101T013000\nRRULE:FREQ=DAILY;COUNT=3",
    ] {
        assert!(text.parse::<rrule::RRuleSet>().is_err(), "{text}");
    }
    let set: rrule::RRuleSet =
        "DTSTART;TZID=America/Santiago:20260905T003000\nRRULE:FREQ=DAILY;COUNT=2".parse().unwrap();
    let days: Vec<String> = set.all(2).dates.iter().map(|d| d.format("%m-%d").to_string()).collect();
    assert_eq!(days, ["09-05", "09-07"]);
}
