//! Seed `004`'s scheduled reports: a report's schedule made in one call from a `frequency`
//! (or any rule Herald takes), shown in the seed's shape, with up to [`MAX_CONFIGURATIONS`]
//! configurations — named parameter sets, each with its own narrative prompt addendum. Every
//! slot of the schedule, and every execution asked for, makes one run with one entry per
//! active configuration (one plain entry when none is active), so each configuration gets its
//! own files, narrative and deliveries.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::PipelineError;
use super::schedules::{RuleInput, ScheduleInput, create_schedule, update_schedule};
use super::start_run::{RunRequest, start_run};
use crate::context::Context;
use crate::domain::{
    Configuration, ConfigurationId, DestinationId, FieldError, MAX_CONFIGURATIONS, Name, Report, ReportId, RunOutcome,
    RunTrigger, Schedule, ScheduleId, ScheduleRule, SlotStatus, ValidationErrors,
};
use crate::store::{RunCreation, StoreError};

/// Longest prompt addendum a configuration may carry, as a report's.
const MAX_ADDENDUM: usize = 2_000;

/// How often a scheduled report runs, as seed `004` names it: at 09:00 in the schedule's
/// timezone every day, every Monday, or on the 1st of every month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Frequency {
    Daily,
    Weekly,
    Monthly,
}

impl Frequency {
    const ALL: [Frequency; 3] = [Frequency::Daily, Frequency::Weekly, Frequency::Monthly];

    fn cron(self) -> &'static str {
        match self {
            Frequency::Daily => "0 9 * * *",
            Frequency::Weekly => "0 9 * * 1",
            Frequency::Monthly => "0 9 1 * *",
        }
    }

    /// The frequency a rule is, if it is one of them.
    fn of(rule: &ScheduleRule) -> Option<Self> {
        match rule {
            ScheduleRule::Cron { expression } => Self::ALL.into_iter().find(|f| f.cron() == expression.trim()),
            ScheduleRule::Recurrence(_) | ScheduleRule::Rrule { .. } => None,
        }
    }
}

/// The writable fields of a scheduled report; all optional so one shape serves create and
/// change. `report`, `name` and one of `frequency` or `rule` are required to create one.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduledReportInput {
    /// The report to run (id or code); it cannot change later.
    pub report: Option<String>,
    pub name: Option<Name>,
    pub frequency: Option<Frequency>,
    /// Any rule a schedule takes (cron, recurrence, RFC 5545 text, preset), instead of a frequency.
    pub rule: Option<RuleInput>,
    /// IANA timezone the rule is read in (UTC when none is given).
    pub timezone: Option<String>,
    pub destinations: Option<Vec<DestinationId>>,
    /// Whether the schedule runs on its next tick.
    pub is_active: Option<bool>,
    /// The version a change is based on; a newer stored version is a conflict.
    pub version: Option<u64>,
}

impl ScheduledReportInput {
    fn into_schedule_input(self) -> Result<ScheduleInput, ValidationErrors> {
        let rule = match (self.frequency, self.rule) {
            (Some(_), Some(_)) => {
                return Err(ValidationErrors(vec![FieldError::new(
                    "frequency",
                    "give `frequency` or `rule`, not both",
                )]));
            }
            (Some(frequency), None) => Some(RuleInput::Cron { expression: frequency.cron().into() }),
            (None, rule) => rule,
        };
        Ok(ScheduleInput {
            name: self.name,
            rule,
            timezone: self.timezone,
            enabled: self.is_active,
            destinations: self.destinations,
            catch_up_minutes: None,
            overlap: None,
            version: self.version,
        })
    }
}

/// A scheduled report as seed `004` shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScheduledReportView {
    /// Always `scheduled_report`.
    #[schema(example = "scheduled_report")]
    pub object: &'static str,
    pub id: ScheduleId,
    pub report_id: ReportId,
    pub name: Name,
    /// The frequency the rule is, or null for another rule.
    pub frequency: Option<Frequency>,
    pub rule: ScheduleRule,
    pub timezone: String,
    pub is_active: bool,
    pub next_run_at: Option<DateTime<Utc>>,
    pub last_run_at: Option<DateTime<Utc>>,
    /// `completed`, `completed_with_errors`, `failed`, `cancelled` (how the last run ended),
    /// `running` (it has not ended), or `missed`, `skipped`, `paused` (no run for the last slot).
    pub last_run_status: Option<String>,
    /// Why the last run or slot failed.
    pub last_error_message: Option<String>,
    pub destinations: Vec<DestinationId>,
    pub configurations: Vec<Configuration>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

impl ScheduledReportView {
    pub fn of(s: Schedule) -> Self {
        let last_run_status = match (s.last_run_status, s.last_status) {
            (Some(RunOutcome::Succeeded), _) => Some("completed"),
            (Some(RunOutcome::CompletedWithErrors), _) => Some("completed_with_errors"),
            (Some(RunOutcome::Failed), _) | (None, Some(SlotStatus::Failed)) => Some("failed"),
            (Some(RunOutcome::Cancelled), _) => Some("cancelled"),
            (None, Some(SlotStatus::Ran)) => Some("running"),
            (None, Some(SlotStatus::Missed)) => Some("missed"),
            (None, Some(SlotStatus::SkippedOverlap)) => Some("skipped"),
            (None, Some(SlotStatus::Paused)) => Some("paused"),
            (None, None) => None,
        };
        ScheduledReportView {
            object: "scheduled_report",
            id: s.id,
            report_id: s.report_id,
            frequency: Frequency::of(&s.rule),
            name: s.name,
            rule: s.rule,
            timezone: s.timezone,
            is_active: s.enabled,
            next_run_at: s.next_run_at,
            last_run_at: s.last_run_at,
            last_run_status: last_run_status.map(String::from),
            last_error_message: s.last_error,
            destinations: s.destinations,
            configurations: s.configurations,
            created_at: s.created_at,
            updated_at: s.updated_at,
            version: s.version,
        }
    }
}

/// Creates the schedule of `report` a scheduled report stands for (active, its next run
/// computed from now).
pub async fn create(ctx: &Context, report: &Report, input: ScheduledReportInput) -> Result<Schedule, PipelineError> {
    let mut errors = Vec::new();
    if input.frequency.is_none() && input.rule.is_none() {
        errors.push(FieldError::new("frequency", "is required (daily, weekly or monthly), or give a `rule`"));
    }
    if input.name.is_none() {
        errors.push(FieldError::new("name", "is required"));
    }
    ValidationErrors::into_result(errors)?;
    create_schedule(ctx, report, input.into_schedule_input()?).await
}

/// Changes a scheduled report; its report cannot change.
pub async fn update(ctx: &Context, current: Schedule, input: ScheduledReportInput) -> Result<Schedule, PipelineError> {
    if input.report.is_some() {
        return Err(ValidationErrors(vec![FieldError::new(
            "report",
            "cannot change; create another scheduled report",
        )])
        .into());
    }
    update_schedule(ctx, current, input.into_schedule_input()?).await
}

/// The writable fields of a configuration; `name` is required to create one.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigurationInput {
    pub name: Option<Name>,
    /// Inactive configurations are kept but make no entry (active when created unless given).
    pub active: Option<bool>,
    /// Values of the report's parameters for this configuration (derived dates allowed).
    pub parameters: Option<Map<String, Value>>,
    /// Replaces the report's narrative prompt addendum for this configuration's entry; an
    /// empty text removes it.
    pub prompt_addendum: Option<String>,
}

impl ConfigurationInput {
    fn apply(self, c: &mut Configuration, report: &Report, now: DateTime<Utc>) -> Result<(), ValidationErrors> {
        let mut errors = Vec::new();
        if let Some(parameters) = &self.parameters {
            for (name, value) in parameters {
                match report.parameters.iter().find(|p| p.name.as_str() == name) {
                    None => {
                        errors.push(FieldError::new(format!("parameters.{name}"), "is not a parameter of the report"))
                    }
                    Some(p) if p.from_row.is_some() => errors.push(FieldError::new(
                        format!("parameters.{name}"),
                        "takes its value from the repeating row, not from a configuration",
                    )),
                    Some(p) => {
                        if let Err(message) = p.kind.check(value) {
                            errors.push(FieldError::new(format!("parameters.{name}"), message));
                        }
                    }
                }
            }
        }
        if self.prompt_addendum.as_ref().is_some_and(|a| a.chars().count() > MAX_ADDENDUM) {
            errors.push(FieldError::new("prompt_addendum", format!("must be at most {MAX_ADDENDUM} characters")));
        }
        ValidationErrors::into_result(errors)?;
        if let Some(name) = self.name {
            c.name = name;
        }
        if let Some(active) = self.active {
            c.active = active;
        }
        if let Some(parameters) = self.parameters {
            c.parameters = parameters;
        }
        if let Some(addendum) = self.prompt_addendum {
            c.prompt_addendum = Some(addendum).filter(|a| !a.trim().is_empty());
        }
        c.updated_at = now;
        Ok(())
    }
}

/// Attaches a new configuration to `schedule` (of `report`); the 21st is refused.
pub async fn add_configuration(
    ctx: &Context,
    mut schedule: Schedule,
    report: &Report,
    input: ConfigurationInput,
) -> Result<(Schedule, Configuration), PipelineError> {
    let now = ctx.clock.now();
    if schedule.configurations.len() >= MAX_CONFIGURATIONS {
        let message =
            format!("a scheduled report carries at most {MAX_CONFIGURATIONS} configurations; remove one first");
        return Err(ValidationErrors(vec![FieldError::new("configurations", message)]).into());
    }
    let Some(name) = input.name.clone() else {
        return Err(ValidationErrors(vec![FieldError::new("name", "is required")]).into());
    };
    let mut configuration = Configuration {
        id: ConfigurationId::generate(now),
        name,
        active: true,
        parameters: Map::new(),
        prompt_addendum: None,
        created_at: now,
        updated_at: now,
    };
    input.apply(&mut configuration, report, now)?;
    schedule.configurations.push(configuration.clone());
    schedule.updated_at = now;
    Ok((ctx.store.update_schedule(&schedule).await?, configuration))
}

/// Changes configuration `id` of `schedule`.
pub async fn change_configuration(
    ctx: &Context,
    mut schedule: Schedule,
    report: &Report,
    id: ConfigurationId,
    input: ConfigurationInput,
) -> Result<(Schedule, Configuration), PipelineError> {
    let now = ctx.clock.now();
    let found = schedule
        .configurations
        .iter_mut()
        .find(|c| c.id == id)
        .ok_or_else(|| StoreError::not_found("configuration", id.to_string()))?;
    input.apply(found, report, now)?;
    let changed = found.clone();
    schedule.updated_at = now;
    Ok((ctx.store.update_schedule(&schedule).await?, changed))
}

/// Detaches configuration `id` from `schedule`.
pub async fn remove_configuration(
    ctx: &Context,
    mut schedule: Schedule,
    id: ConfigurationId,
) -> Result<Schedule, PipelineError> {
    let before = schedule.configurations.len();
    schedule.configurations.retain(|c| c.id != id);
    if schedule.configurations.len() == before {
        return Err(StoreError::not_found("configuration", id.to_string()).into());
    }
    schedule.updated_at = ctx.clock.now();
    Ok(ctx.store.update_schedule(&schedule).await?)
}

/// Runs the scheduled report now, as a slot would: one entry per active configuration, its
/// derived dates worked out on today in the schedule's timezone. The schedule records the run
/// as its last (its status and error follow the run's outcome).
pub async fn execute(
    ctx: &Context,
    schedule: &Schedule,
    mut report: Report,
    overrides: Map<String, Value>,
    data: Value,
) -> Result<RunCreation, PipelineError> {
    report.deliveries = schedule.deliveries_of(&report);
    let mut request = RunRequest::now(report, RunTrigger::Api, overrides);
    request.data = data;
    request.timezone = schedule.timezone.parse().unwrap_or(chrono_tz::Tz::UTC);
    request.configurations = schedule.active_configurations();
    request.execution_of = Some(schedule.id);
    let creation = start_run(ctx, request).await?;
    if let RunCreation::Created(run) = &creation {
        let recorded = ctx
            .store
            .modify_schedule(schedule.workspace_id, schedule.id, |s| {
                s.last_run_id = Some(run.id);
                s.last_run_at = Some(run.created_at);
                s.last_status = Some(SlotStatus::Ran);
                s.last_run_status = None;
                s.last_error = None;
                Ok(())
            })
            .await;
        match recorded {
            Ok(_) | Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        // A run that ended before the schedule named it (as it started, or already rendered)
        // has its outcome recorded now.
        let current = ctx.store.get_run(run.id).await?;
        if current.outcome().is_some() {
            ctx.store.record_run_outcome(&current).await?;
        }
    }
    Ok(creation)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::testing::fixtures;

    fn schedule(rule: &str) -> Schedule {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
        let workspace = fixtures::workspace("sr", now);
        let report = fixtures::report(&workspace, "r", now);
        let mut s = fixtures::schedule(&report, None, now);
        s.rule = ScheduleRule::Cron { expression: rule.into() };
        s
    }

    #[test]
    fn a_frequency_is_a_cron_at_nine_and_reads_back_from_its_rule() {
        for frequency in Frequency::ALL {
            let view = ScheduledReportView::of(schedule(frequency.cron()));
            assert_eq!(view.frequency, Some(frequency));
        }
        assert_eq!(ScheduledReportView::of(schedule("0 8 * * *")).frequency, None, "another rule has none");
    }

    #[test]
    fn the_last_run_status_says_how_the_run_ended_or_what_became_of_the_slot() {
        let status = |run: Option<RunOutcome>, slot: Option<SlotStatus>| {
            let mut s = schedule("0 9 * * *");
            (s.last_run_status, s.last_status) = (run, slot);
            ScheduledReportView::of(s).last_run_status
        };
        assert_eq!(status(Some(RunOutcome::Succeeded), Some(SlotStatus::Ran)).as_deref(), Some("completed"));
        assert_eq!(status(Some(RunOutcome::Failed), Some(SlotStatus::Ran)).as_deref(), Some("failed"));
        assert_eq!(status(None, Some(SlotStatus::Failed)).as_deref(), Some("failed"), "a slot that could not run");
        assert_eq!(status(None, Some(SlotStatus::Ran)).as_deref(), Some("running"));
        assert_eq!(status(None, Some(SlotStatus::Paused)).as_deref(), Some("paused"));
        assert_eq!(status(None, None), None);
    }

    #[test]
    fn frequency_and_rule_together_are_refused() {
        let input = ScheduledReportInput {
            frequency: Some(Frequency::Daily),
            rule: Some(RuleInput::Cron { expression: "0 8 * * *".into() }),
            ..ScheduledReportInput::default()
        };
        let errors = input.into_schedule_input().unwrap_err();
        assert_eq!(errors.0[0].field, "frequency");
    }
}
