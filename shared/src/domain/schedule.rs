//! Schedules: when a report runs. A rule is a 5-field cron expression or a structured
//! recurrence rule (seed `003`), evaluated in an IANA timezone; the store keeps the next fire
//! time in UTC so the tick finds due schedules by index.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc, Weekday};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{
    ConfigurationId, DestinationId, FieldError, Name, ReportId, RunId, ScheduleId, ValidationErrors, WorkspaceId,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Schedule {
    pub id: ScheduleId,
    pub workspace_id: WorkspaceId,
    pub report_id: ReportId,
    pub name: Name,
    pub rule: ScheduleRule,
    /// IANA timezone the rule is evaluated in.
    pub timezone: String,
    pub enabled: bool,
    #[serde(default)]
    pub overlap: OverlapPolicy,
    /// A missed slot younger than this still fires once (never a burst).
    #[serde(default = "default_catch_up_minutes")]
    pub catch_up_minutes: u32,
    /// Destinations this schedule delivers to; empty means the report's own deliveries.
    #[serde(default)]
    pub destinations: Vec<DestinationId>,
    pub next_run_at: Option<DateTime<Utc>>,
    pub last_run_at: Option<DateTime<Utc>>,
    /// What became of the last slot (ran, missed, skipped_overlap, paused, failed).
    pub last_status: Option<SlotStatus>,
    /// Why the last slot or the run it started failed.
    pub last_error: Option<String>,
    /// The run the last fired slot created (for the overlap policy).
    #[serde(default)]
    pub last_run_id: Option<RunId>,
    /// How that run ended (`failed` when the report could not be generated); none while it
    /// works or waits for review. `last_error` then says why it failed.
    #[serde(default)]
    pub last_run_status: Option<super::RunOutcome>,
    /// Named parameter sets (seed `004`'s region configs): when any is active, each slot (and
    /// each execution asked for) makes one run with one entry per active configuration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub configurations: Vec<Configuration>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub version: u64,
}

fn default_catch_up_minutes() -> u32 {
    60
}

/// Longest RFC 5545 text a rule may be.
pub const MAX_RULE_TEXT: usize = 20_000;

/// Most configurations one schedule carries (seed `004`: "max 20 configs per schedule").
pub const MAX_CONFIGURATIONS: usize = 20;

/// One named parameter set of a schedule: the values its entry runs with, and what the
/// narrative is asked to mind for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Configuration {
    pub id: ConfigurationId,
    pub name: Name,
    /// Inactive configurations are kept but make no entry.
    #[serde(default = "super::values::default_true")]
    pub active: bool,
    /// Values of the report's parameters for this configuration (over the run's own).
    #[serde(default)]
    pub parameters: Map<String, Value>,
    /// Replaces the report's narrative prompt addendum for this configuration's entry.
    #[serde(default)]
    pub prompt_addendum: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Configuration {
    /// What an entry made for this configuration keeps of it.
    pub fn for_entry(&self) -> EntryConfiguration {
        EntryConfiguration { id: self.id, name: self.name.clone(), prompt_addendum: self.prompt_addendum.clone() }
    }
}

/// The configuration an entry was made for (`{configuration.name}` in its text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EntryConfiguration {
    pub id: ConfigurationId,
    pub name: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_addendum: Option<String>,
}

impl Schedule {
    /// The deliveries of a run of `report` this schedule starts: with destinations named, the
    /// report's own delivery to each (its recipients, subject, condition), or a plain one where
    /// the report has none, and none elsewhere; without, the report's own.
    pub fn deliveries_of(&self, report: &super::Report) -> Vec<super::DeliverySpec> {
        if self.destinations.is_empty() {
            return report.deliveries.clone();
        }
        let mut deliveries: Vec<super::DeliverySpec> =
            report.deliveries.iter().filter(|d| self.destinations.contains(&d.destination_id)).cloned().collect();
        for destination in &self.destinations {
            if !deliveries.iter().any(|d| d.destination_id == *destination) {
                deliveries.push(super::DeliverySpec {
                    destination_id: *destination,
                    to: vec![],
                    cc: vec![],
                    bcc: vec![],
                    subject: None,
                    message: None,
                    naming_pattern: None,
                    condition: None,
                });
            }
        }
        deliveries
    }

    /// The configurations each slot makes an entry for.
    pub fn active_configurations(&self) -> Vec<Configuration> {
        self.configurations.iter().filter(|c| c.active).cloned().collect()
    }

    /// Checks what can be checked without evaluating the rule (the scheduler evaluates it).
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = Vec::new();
        if self.timezone.parse::<chrono_tz::Tz>().is_err() {
            errors.push(FieldError::new("timezone", format!("`{}` is not an IANA timezone", self.timezone)));
        }
        if self.catch_up_minutes > 7 * 24 * 60 {
            errors.push(FieldError::new("catch_up_minutes", "must be at most 10080 (one week)"));
        }
        if self.configurations.len() > MAX_CONFIGURATIONS {
            errors.push(FieldError::new(
                "configurations",
                format!("a schedule carries at most {MAX_CONFIGURATIONS} configurations"),
            ));
        }
        match &self.rule {
            ScheduleRule::Cron { expression } if expression.trim().is_empty() => {
                errors.push(FieldError::new("rule.expression", "must not be blank"));
            }
            ScheduleRule::Recurrence(rule) => errors.extend(rule.check()),
            ScheduleRule::Rrule { text } if text.len() > MAX_RULE_TEXT => {
                errors.push(FieldError::new("rule.text", format!("must be at most {MAX_RULE_TEXT} characters")));
            }
            ScheduleRule::Cron { .. } | ScheduleRule::Rrule { .. } => {}
        }
        ValidationErrors::into_result(errors)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ScheduleRule {
    /// Strict 5-field cron (`0 8 * * 1`) or a nickname (`@daily`).
    Cron {
        expression: String,
    },
    Recurrence(RecurrenceRule),
    /// RFC 5545 text the structured rule cannot express (`DTSTART`, one `RRULE` with any of the
    /// RFC's parts, `RDATE` and `EXDATE` lines), kept as written.
    Rrule {
        text: String,
    },
}

/// The recurrence rule of seed `003`, step 5.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecurrenceRule {
    pub trigger: Trigger,
    #[serde(default = "one")]
    pub every: u32,
    /// Local wall-clock start (no offset: the schedule's timezone applies); earlier slots are
    /// never back-filled. The document's pattern admits exactly the Gregorian calendar's dates.
    #[schema(
        value_type = String,
        pattern = r"^(?:\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|02-(?:0[1-9]|1\d|2[0-8]))|(?:\d\d(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,9})?$",
        example = "2026-01-05T09:00:00"
    )]
    pub start: NaiveDateTime,
    /// Last day (inclusive) a slot may fall on; forever when absent.
    #[serde(default)]
    #[schema(
        value_type = Option<String>,
        format = Date,
        pattern = r"^(?:\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|02-(?:0[1-9]|1\d|2[0-8]))|(?:\d\d(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)$"
    )]
    pub until: Option<NaiveDate>,
    #[serde(default)]
    #[schema(value_type = Vec<DayName>, example = json!(["Mon", "Thu"]))]
    pub allowed_days: Vec<Weekday>,
    /// Month (1–12) a yearly rule anchors on.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 12)]
    pub month: Option<u8>,
    /// The Nth possible occurrence of an allowed weekday in the period.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 5)]
    pub occurrence: Option<u8>,
    /// "Start at the end and count backwards": occurrence 1 means the last.
    #[serde(default)]
    pub count_from_end: bool,
}

fn one() -> u32 {
    1
}

/// A day of the week by its short name (the full name is accepted too).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // describes `chrono::Weekday` in the document; never built
enum DayName {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl RecurrenceRule {
    fn check(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if !(1..=1000).contains(&self.every) {
            errors.push(FieldError::new("rule.every", "must be between 1 and 1000"));
        }
        if self.month.is_some_and(|m| !(1..=12).contains(&m)) {
            errors.push(FieldError::new("rule.month", "must be between 1 and 12"));
        }
        if self.occurrence.is_some_and(|n| !(1..=5).contains(&n)) {
            errors.push(FieldError::new("rule.occurrence", "must be between 1 and 5"));
        }
        if self.until.is_some_and(|until| until < self.start.date()) {
            errors.push(FieldError::new("rule.until", "must not be before the start date"));
        }
        errors
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Yearly,
    Monthly,
    Weekly,
    Daily,
    Hourly,
    Once,
}

/// What happens to a slot whose time comes while the previous run is still going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OverlapPolicy {
    /// Start when the previous run finishes (at most one waiting).
    #[default]
    BufferOne,
    Skip,
    Allow,
}

/// The recorded outcome of one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SlotStatus {
    Ran,
    SkippedOverlap,
    Missed,
    Paused,
    Failed,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schedule(rule: serde_json::Value, timezone: &str) -> Schedule {
        serde_json::from_value(json!({
            "id": "01JD0000000000000000000000",
            "workspace_id": "01JD0000000000000000000001",
            "report_id": "01JD0000000000000000000002",
            "name": "Daily 8am UTC",
            "rule": rule,
            "timezone": timezone,
            "enabled": true,
            "next_run_at": null, "last_run_at": null, "last_status": null, "last_error": null,
            "created_at": "2026-11-01T00:00:00Z",
            "updated_at": "2026-11-01T00:00:00Z"
        }))
        .unwrap()
    }

    #[test]
    fn a_cron_schedule_in_a_real_timezone_is_valid() {
        let s = schedule(json!({"type": "cron", "expression": "0 8 * * *"}), "Europe/London");
        s.validate().unwrap();
        assert_eq!(s.overlap, OverlapPolicy::BufferOne);
        assert_eq!(s.catch_up_minutes, 60);
    }

    #[test]
    fn an_unknown_timezone_is_rejected_by_name() {
        let s = schedule(json!({"type": "cron", "expression": "0 8 * * *"}), "Mars/Olympus");
        let err = s.validate().unwrap_err();
        assert_eq!(err.0[0].message, "`Mars/Olympus` is not an IANA timezone");
    }

    #[test]
    fn the_seed_003_monthly_rule_deserializes_with_defaults() {
        let s = schedule(
            json!({"type": "recurrence", "trigger": "monthly", "start": "2026-12-01T07:00:00",
                   "allowed_days": ["Mon"], "occurrence": 1}),
            "America/New_York",
        );
        s.validate().unwrap();
        let ScheduleRule::Recurrence(rule) = s.rule else { panic!("recurrence expected") };
        assert_eq!(rule.every, 1);
        assert_eq!(rule.allowed_days, [Weekday::Mon]);
    }

    #[test]
    fn recurrence_fields_out_of_range_are_each_reported() {
        let s = schedule(
            json!({"type": "recurrence", "trigger": "yearly", "every": 0, "start": "2026-12-01T07:00:00",
                   "until": "2026-01-01", "month": 13, "occurrence": 6}),
            "UTC",
        );
        assert_eq!(s.validate().unwrap_err().0.len(), 4);
    }
}
