//! Schedules as users manage them. A rule arrives as cron, a structured recurrence rule, RFC
//! 5545 text or a preset; it is validated (an invalid or never-firing rule is refused with the
//! reason) and `next_run_at` is recomputed from now on every change, so edits and resumes
//! never fire retroactively.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::PipelineError;
use crate::context::Context;
use crate::domain::{
    DestinationId, FieldError, Name, OverlapPolicy, RecurrenceRule, Report, Schedule, ScheduleId, ScheduleRule,
    ValidationErrors,
};
use crate::schedule::rfc5545::TextRule;
use crate::schedule::{CompiledRule, Occurrence, presets, recurrence};
use crate::store::StoreError;

/// Most fire times one preview returns.
pub const MAX_PREVIEW: usize = 100;

/// A rule as a caller may write it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RuleInput {
    /// Five-field cron (`0 8 * * 1`) or a nickname (`@daily`).
    Cron { expression: String },
    /// The structured recurrence rule.
    Recurrence(RecurrenceRule),
    /// RFC 5545 text (`DTSTART;TZID=…:…` and an `RRULE:` line); its TZID is the timezone.
    Rrule { text: String },
    /// A preset by name: `Daily 8am`, `Weekly Mon 8am`, `Monthly 1st 8am`.
    Preset { name: String },
}

fn invalid(field: &str, message: impl Into<String>) -> ValidationErrors {
    ValidationErrors(vec![FieldError::new(field, message)])
}

impl RuleInput {
    /// The stored form of the rule and its timezone (`UTC` when none is given).
    pub fn resolve(self, timezone: Option<&str>) -> Result<(ScheduleRule, String), ValidationErrors> {
        let tz = timezone.unwrap_or("UTC").to_string();
        match self {
            RuleInput::Cron { expression } => Ok((ScheduleRule::Cron { expression }, tz)),
            RuleInput::Recurrence(rule) => Ok((ScheduleRule::Recurrence(rule), tz)),
            RuleInput::Rrule { text } => {
                // The builder's form when it can draw the rule; the text as written otherwise.
                let (rule, rule_tz) = match recurrence::from_rfc5545(&text) {
                    Ok((rule, rule_tz)) => (ScheduleRule::Recurrence(rule), rule_tz),
                    Err(_) => {
                        let text = text.replace("\\n", "\n").trim().to_string();
                        let parsed = TextRule::parse(&text).map_err(|e| invalid("rule.text", e.to_string()))?;
                        (ScheduleRule::Rrule { text }, parsed.timezone)
                    }
                };
                match timezone {
                    Some(given) if given != rule_tz => Err(invalid(
                        "timezone",
                        format!("`{given}` differs from the rule's TZID `{rule_tz}`; give one of them"),
                    )),
                    _ => Ok((rule, rule_tz)),
                }
            }
            RuleInput::Preset { name } => {
                let wanted = name.trim().to_lowercase().replace(['-', '_'], " ");
                presets()
                    .into_iter()
                    .find(|(preset, _)| preset.to_lowercase() == wanted)
                    .map(|(_, rule)| (rule, tz))
                    .ok_or_else(|| {
                        let names: Vec<_> = presets().into_iter().map(|(n, _)| format!("`{n}`")).collect();
                        invalid("rule.name", format!("unknown preset; choose one of {}", names.join(", ")))
                    })
            }
        }
    }
}

/// The next fire times of a rule.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Preview {
    pub object: &'static str,
    pub timezone: String,
    /// The rule as RFC 5545 text (recurrence rules only).
    pub rrule: Option<String>,
    pub occurrences: Vec<Occurrence>,
}

/// Compiles a rule and checks that it fires after `now`.
pub fn compile(rule: &ScheduleRule, timezone: &str, now: DateTime<Utc>) -> Result<CompiledRule, ValidationErrors> {
    let compiled = CompiledRule::compile(rule, timezone).map_err(|e| match e {
        crate::schedule::RuleError::InvalidTimezone(_) => invalid("timezone", e.to_string()),
        other => invalid("rule", other.to_string()),
    })?;
    compiled.ensure_fires(now).map_err(|e| invalid("rule", e.to_string()))?;
    Ok(compiled)
}

pub fn preview(
    rule: &ScheduleRule,
    timezone: &str,
    after: DateTime<Utc>,
    count: usize,
) -> Result<Preview, ValidationErrors> {
    if !(1..=MAX_PREVIEW).contains(&count) {
        return Err(invalid("count", format!("must be between 1 and {MAX_PREVIEW}")));
    }
    let compiled = compile(rule, timezone, after)?;
    let rrule = crate::schedule::as_rfc5545(rule, timezone);
    Ok(Preview {
        object: "schedule_preview",
        timezone: timezone.into(),
        rrule,
        occurrences: compiled.preview(after, count),
    })
}

/// The writable fields of a schedule; all optional so one shape serves create and change.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    pub name: Option<Name>,
    pub rule: Option<RuleInput>,
    pub timezone: Option<String>,
    pub enabled: Option<bool>,
    pub destinations: Option<Vec<DestinationId>>,
    pub catch_up_minutes: Option<u32>,
    pub overlap: Option<OverlapPolicy>,
    /// The version a change is based on; a newer stored version is a conflict.
    pub version: Option<u64>,
}

impl ScheduleInput {
    fn apply(self, s: &mut Schedule) -> Result<(), ValidationErrors> {
        match self.rule {
            Some(rule) => {
                // RFC 5545 text names its zone; other rules keep the schedule's unless given.
                let names_zone = matches!(rule, RuleInput::Rrule { .. });
                let given = self.timezone.as_deref().or((!names_zone).then_some(s.timezone.as_str()));
                let (rule, timezone) = rule.resolve(given)?;
                s.rule = rule;
                s.timezone = timezone;
            }
            None => {
                if let Some(tz) = self.timezone {
                    s.timezone = tz;
                }
            }
        }
        if let Some(name) = self.name {
            s.name = name;
        }
        if let Some(enabled) = self.enabled {
            s.enabled = enabled;
        }
        if let Some(destinations) = self.destinations {
            s.destinations = destinations;
        }
        if let Some(minutes) = self.catch_up_minutes {
            s.catch_up_minutes = minutes;
        }
        if let Some(overlap) = self.overlap {
            s.overlap = overlap;
        }
        Ok(())
    }
}

/// Validates everything about a schedule and recomputes its next run from now.
async fn prepare(ctx: &Context, s: &mut Schedule, now: DateTime<Utc>) -> Result<(), PipelineError> {
    let mut errors = s.validate().err().map(|e| e.0).unwrap_or_default();
    if errors.is_empty() {
        match compile(&s.rule, &s.timezone, now) {
            Ok(compiled) => s.next_run_at = compiled.next_after(now).map(|o| o.at),
            Err(e) => errors.extend(e.0),
        }
    }
    for (i, d) in s.destinations.iter().enumerate() {
        match ctx.store.get_destination(s.workspace_id, *d).await {
            Ok(_) => {}
            Err(StoreError::NotFound { .. }) => errors
                .push(FieldError::new(format!("destinations[{i}]"), "no destination with this id in the workspace")),
            Err(e) => return Err(e.into()),
        }
    }
    ValidationErrors::into_result(errors)?;
    s.updated_at = now;
    // A changed schedule starts afresh: its last outcome no longer describes it.
    if s.last_status == Some(crate::domain::SlotStatus::Failed) {
        s.last_status = None;
        s.last_error = None;
    }
    Ok(())
}

pub async fn create_schedule(ctx: &Context, report: &Report, input: ScheduleInput) -> Result<Schedule, PipelineError> {
    let schedule = new_schedule(ctx, report, input).await?;
    Ok(ctx.store.create_schedule(&schedule).await?)
}

/// A new schedule of `report` from `input`, checked and with its next run, not stored yet.
pub async fn new_schedule(ctx: &Context, report: &Report, input: ScheduleInput) -> Result<Schedule, PipelineError> {
    let now = ctx.clock.now();
    let (Some(name), Some(_)) = (input.name.clone(), input.rule.as_ref()) else {
        let missing = [("name", input.name.is_none()), ("rule", input.rule.is_none())]
            .into_iter()
            .filter(|(_, absent)| *absent)
            .map(|(field, _)| FieldError::new(field, "is required"))
            .collect();
        return Err(ValidationErrors(missing).into());
    };
    let mut schedule = Schedule {
        id: ScheduleId::generate(now),
        workspace_id: report.workspace_id,
        report_id: report.id,
        name,
        rule: ScheduleRule::Cron { expression: String::new() },
        timezone: "UTC".into(),
        enabled: true,
        overlap: OverlapPolicy::default(),
        catch_up_minutes: 60,
        destinations: vec![],
        next_run_at: None,
        last_run_at: None,
        last_status: None,
        last_error: None,
        last_run_id: None,
        last_run_status: None,
        configurations: vec![],
        created_at: now,
        updated_at: now,
        version: 0,
    };
    input.apply(&mut schedule)?;
    prepare(ctx, &mut schedule, now).await?;
    Ok(schedule)
}

pub async fn update_schedule(
    ctx: &Context,
    mut current: Schedule,
    input: ScheduleInput,
) -> Result<Schedule, PipelineError> {
    if let Some(version) = input.version
        && version != current.version
    {
        return Err(StoreError::Conflict(format!(
            "the schedule is at version {}, not {version}; reload and retry",
            current.version
        ))
        .into());
    }
    input.apply(&mut current)?;
    prepare(ctx, &mut current, ctx.clock.now()).await?;
    Ok(ctx.store.update_schedule(&current).await?)
}
