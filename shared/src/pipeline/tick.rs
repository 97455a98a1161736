//! The tick, run every minute (EventBridge Scheduler → tick Lambda, `POST /api/cron/tick`,
//! `herald tick`, and the ticker inside `herald serve`). It walks the due-schedule index (cost
//! grows with the due set, not with all schedules) and gives every due schedule exactly one
//! outcome per slot:
//!
//! - **ran**: the latest due slot fires. The run's id is derived from (schedule, slot) and the
//!   run is recorded before the schedule is advanced with a conditional write, so concurrent or
//!   repeated ticks, or a crash between the two steps, still make exactly one run per slot.
//! - **missed**: the latest slot is older than the catch-up window (Herald was down); older
//!   slots passed over are counted as missed too. Never a burst.
//! - **skipped_overlap** / deferred: the previous run is still going; `skip` passes the slot,
//!   `buffer_one` keeps it waiting (the schedule stays due) and fires it once the previous run
//!   finishes, `allow` fires anyway.
//! - **paused**: the report is disabled or the workspace inactive.
//! - **failed**: the rule no longer compiles or the report was deleted; the schedule stops
//!   (`next_run_at` cleared) with `last_error` saying why, until it is edited.
//!
//! The same pass evaluates due alert rules (`pipeline::alerts`): each due rule's slot is
//! claimed with a conditional write; the first few are evaluated here (so a tick called by hand
//! answers what fired), the rest go through the render queue, so a thousand rules never run
//! in one tick's Lambda.
//!
//! One schedule's or rule's failure never stops the others; errors are collected in the
//! report, which has the fields of seed `002` (`ok`, `reportsEvaluated`, `reportsRan`,
//! `alertsEvaluated`, `alertsFiring`, `alertsNotified`, `errors`).

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;
use serde::Serialize;

use super::recovery::{RecoveryReport, recover_stale_work};
use super::start_run::{RunRequest, start_run};
use super::{PipelineError, alerts};
use crate::context::Context;
use crate::domain::{AlertRule, AlertRuleId, RunId, Schedule, ScheduleId, SlotStatus, WorkspaceId};
use crate::queue::Job;
use crate::schedule::CompiledRule;
use crate::store::{PageRequest, RunCreation, StoreError};

/// Due schedules read per page.
const PAGE: usize = 200;
/// Schedules handled at the same time.
const CONCURRENCY: usize = 16;
/// Alert rules one tick evaluates itself; the others go through the render queue.
const INLINE_ALERTS: usize = 16;
/// Most slots walked to find the latest due one (a minutely rule down for ~70 days).
const MAX_SLOTS_WALKED: usize = 100_000;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TickReport {
    /// True when `errors` is empty.
    pub ok: bool,
    /// Due schedules looked at.
    pub reports_evaluated: usize,
    /// Runs this tick created.
    pub reports_ran: usize,
    /// Slots recorded as missed (outside the catch-up window).
    pub missed: usize,
    pub skipped_overlap: usize,
    /// Slots waiting for the previous run to finish (`buffer_one`).
    pub deferred: usize,
    pub paused: usize,
    /// Schedules stopped because their rule or report is broken.
    pub failed: usize,
    /// Due alert rules whose slot this tick claimed.
    pub alerts_evaluated: usize,
    /// Evaluations sent to the queue rather than run here.
    pub alerts_queued: usize,
    /// Instances firing after the evaluations run here.
    pub alerts_firing: usize,
    /// Notifications the evaluations run here sent.
    pub alerts_notified: usize,
    pub errors: Vec<TickError>,
    pub recovery: RecoveryReport,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TickError {
    pub workspace_id: WorkspaceId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_id: Option<ScheduleId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert_rule_id: Option<AlertRuleId>,
    pub message: String,
}

/// What happened to one due schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ran {
        created: bool,
    },
    Missed {
        slots: usize,
    },
    SkippedOverlap,
    Deferred,
    Paused,
    Failed,
    /// Another tick (or an edit) got there first.
    Lost,
}

pub async fn tick(ctx: &Context) -> Result<TickReport, PipelineError> {
    let now = ctx.clock.now();
    let mut report = TickReport::default();
    let mut seen = HashSet::new();
    let mut page = PageRequest::first(PAGE);
    loop {
        let due = ctx.store.due_schedules(now, &page).await?;
        let fresh: Vec<Schedule> = due.items.into_iter().filter(|s| seen.insert(s.id)).collect();
        report.reports_evaluated += fresh.len();
        let outcomes: Vec<_> = futures::stream::iter(fresh)
            .map(|schedule| async move {
                let (ws, id) = (schedule.workspace_id, schedule.id);
                (ws, id, fire(ctx, schedule, now).await)
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for (workspace_id, schedule_id, outcome) in outcomes {
            match outcome {
                Ok(Outcome::Ran { created }) => report.reports_ran += usize::from(created),
                Ok(Outcome::Missed { slots }) => report.missed += slots,
                Ok(Outcome::SkippedOverlap) => report.skipped_overlap += 1,
                Ok(Outcome::Deferred) => report.deferred += 1,
                Ok(Outcome::Paused) => report.paused += 1,
                Ok(Outcome::Failed) => report.failed += 1,
                Ok(Outcome::Lost) => {}
                Err(e) => {
                    tracing::error!(workspace = %workspace_id, schedule = %schedule_id, error = %e, "schedule failed");
                    let message = e.to_string();
                    report.errors.push(TickError {
                        workspace_id,
                        schedule_id: Some(schedule_id),
                        alert_rule_id: None,
                        message,
                    });
                }
            }
        }
        match due.cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => break,
        }
    }
    evaluate_alerts(ctx, now, &mut report).await?;
    report.recovery = recover_stale_work(ctx, now).await?;
    if let Err(error) = ctx.store.record_tick(now).await {
        tracing::warn!(%error, "could not record the tick");
    }
    report.ok = report.errors.is_empty() && report.recovery.errors.is_empty();
    if report.reports_evaluated > 0 {
        tracing::info!(evaluated = report.reports_evaluated, ran = report.reports_ran, "tick");
    }
    Ok(report)
}

/// Claims every due alert rule's slot; evaluates the first [`INLINE_ALERTS`] here and queues
/// the rest.
async fn evaluate_alerts(ctx: &Context, now: DateTime<Utc>, report: &mut TickReport) -> Result<(), PipelineError> {
    let mut seen = HashSet::new();
    let mut page = PageRequest::first(PAGE);
    loop {
        let due = ctx.store.due_alert_rules(now, &page).await?;
        let fresh: Vec<AlertRule> = due.items.into_iter().filter(|r| seen.insert(r.id)).collect();
        let claims: Vec<_> = futures::stream::iter(fresh)
            .map(|rule| async move { (rule.workspace_id, rule.id, alerts::claim(ctx, &rule, now).await) })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let (mut here, mut queued) = (Vec::new(), Vec::new());
        for (workspace_id, rule_id, claim) in claims {
            match claim {
                Ok(Some(slot)) => {
                    report.alerts_evaluated += 1;
                    if report.alerts_evaluated <= INLINE_ALERTS {
                        here.push((workspace_id, rule_id, slot));
                    } else {
                        queued.push(Job::EvaluateAlert { workspace_id, rule_id, slot });
                    }
                }
                Ok(None) => {}
                Err(e) => report.errors.push(alert_error(workspace_id, rule_id, e.to_string())),
            }
        }
        if !queued.is_empty() {
            ctx.render_queue.send(&queued).await?;
            report.alerts_queued += queued.len();
        }
        let evaluations: Vec<_> = futures::stream::iter(here)
            .map(|(workspace_id, rule_id, slot)| async move {
                (workspace_id, rule_id, alerts::evaluate_claimed(ctx, workspace_id, rule_id, slot).await)
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for (workspace_id, rule_id, evaluation) in evaluations {
            match evaluation {
                Ok(Some(evaluation)) => {
                    report.alerts_firing += evaluation.firing;
                    report.alerts_notified += evaluation.notified;
                    if let Some(message) = evaluation.error {
                        report.errors.push(alert_error(workspace_id, rule_id, message));
                    }
                }
                Ok(None) => {}
                Err(e) => report.errors.push(alert_error(workspace_id, rule_id, e.to_string())),
            }
        }
        match due.cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => return Ok(()),
        }
    }
}

fn alert_error(workspace_id: WorkspaceId, rule_id: AlertRuleId, message: String) -> TickError {
    tracing::error!(workspace = %workspace_id, rule = %rule_id, error = %message, "alert rule failed");
    TickError { workspace_id, schedule_id: None, alert_rule_id: Some(rule_id), message }
}

/// The latest slot at or before `now`, starting from the stored one, and how many earlier
/// slots it passes over.
fn latest_slot(rule: &CompiledRule, first: DateTime<Utc>, now: DateTime<Utc>) -> (DateTime<Utc>, usize) {
    let (mut latest, mut passed) = (first, 0);
    for _ in 0..MAX_SLOTS_WALKED {
        match rule.next_after(latest) {
            Some(next) if next.at <= now => {
                latest = next.at;
                passed += 1;
            }
            _ => break,
        }
    }
    (latest, passed)
}

async fn fire(ctx: &Context, schedule: Schedule, now: DateTime<Utc>) -> Result<Outcome, PipelineError> {
    let Some(slot) = schedule.next_run_at else { return Ok(Outcome::Lost) };
    let rule = match CompiledRule::compile(&schedule.rule, &schedule.timezone) {
        Ok(rule) => rule,
        Err(e) => return stop(ctx, schedule, now, format!("the schedule's rule is invalid: {e}")).await,
    };
    let report = match ctx.store.get_report(schedule.workspace_id, schedule.report_id).await {
        Ok(report) => report,
        Err(StoreError::NotFound { .. }) => {
            return stop(ctx, schedule, now, "the report of this schedule was deleted".into()).await;
        }
        Err(e) => return Err(e.into()),
    };
    let (latest, passed_over) = latest_slot(&rule, slot, now);
    let next = rule.next_after(now).map(|o| o.at);

    if !report.enabled {
        return advance(ctx, &schedule, next, now, SlotRecord::of(SlotStatus::Paused, None), Outcome::Paused).await;
    }
    if !report.scheduled {
        let note = Some("scheduled generation is off for this report".to_string());
        return advance(ctx, &schedule, next, now, SlotRecord::of(SlotStatus::Paused, note), Outcome::Paused).await;
    }
    if !ctx.store.get_workspace(schedule.workspace_id).await?.active {
        let note = Some("the workspace is inactive".to_string());
        return advance(ctx, &schedule, next, now, SlotRecord::of(SlotStatus::Paused, note), Outcome::Paused).await;
    }

    // The previous run still going?
    let mut late_since = latest;
    if let Some(previous) = schedule.last_run_id {
        match ctx.store.get_run(previous).await {
            Ok(run) if run.is_working() => match schedule.overlap {
                crate::domain::OverlapPolicy::Skip => {
                    let note = Some(format!("the run of {} was still going", run.id));
                    let record = SlotRecord::of(SlotStatus::SkippedOverlap, note);
                    return advance(ctx, &schedule, next, now, record, Outcome::SkippedOverlap).await;
                }
                crate::domain::OverlapPolicy::BufferOne => return Ok(Outcome::Deferred),
                crate::domain::OverlapPolicy::Allow => {}
            },
            // A buffered slot counts as late only from when the previous run let it go.
            Ok(run) if schedule.overlap == crate::domain::OverlapPolicy::BufferOne => {
                late_since = run.ended_at().map_or(latest, |done| done.max(latest));
            }
            Ok(_) | Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }

    let window = Duration::minutes(i64::from(schedule.catch_up_minutes));
    if now - late_since > window {
        let note = Some(format!(
            "the slot of {} was missed (more than {} minutes late)",
            latest.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            schedule.catch_up_minutes
        ));
        let outcome = Outcome::Missed { slots: passed_over + 1 };
        return advance(ctx, &schedule, next, now, SlotRecord::of(SlotStatus::Missed, note), outcome).await;
    }

    // A tick that comes second finds the slot's run and only helps advance the schedule.
    let run_id = RunId::for_slot(schedule.id, latest);
    let created = match ctx.store.get_run(run_id).await {
        Ok(_) => None,
        Err(StoreError::NotFound { .. }) => {
            let zone = schedule.timezone.parse().unwrap_or(chrono_tz::Tz::UTC);
            let mut report = report;
            report.deliveries = schedule.deliveries_of(&report);
            let mut request = RunRequest::scheduled(report, schedule.id, latest, zone);
            request.configurations = schedule.active_configurations();
            match start_run(ctx, request).await? {
                RunCreation::Created(run) => Some(run),
                RunCreation::Existing(_) => None,
            }
        }
        Err(e) => return Err(e.into()),
    };
    let outcome = advance(
        ctx,
        &schedule,
        next,
        now,
        SlotRecord { status: SlotStatus::Ran, note: None, run: Some(run_id) },
        Outcome::Ran { created: created.is_some() },
    )
    .await?;
    if passed_over > 0 {
        tracing::info!(schedule = %schedule.id, missed = passed_over, "older slots were missed");
    }
    // A run that failed as it started (a required parameter without a value) ended before
    // the schedule named it: record its outcome now.
    if let Some(run) = created.as_deref().filter(|run| run.outcome().is_some()) {
        ctx.store.record_run_outcome(run).await?;
    }
    // A run this tick created counts even if an edit won the race to advance the schedule.
    Ok(if created.is_some() { Outcome::Ran { created: true } } else { outcome })
}

/// What a tick records about one slot on its schedule.
struct SlotRecord {
    status: SlotStatus,
    note: Option<String>,
    run: Option<RunId>,
}

impl SlotRecord {
    fn of(status: SlotStatus, note: Option<String>) -> Self {
        Self { status, note, run: None }
    }
}

/// Moves the schedule to its next slot, recording what happened to this one. `Lost` when
/// another tick or an edit changed the schedule first.
async fn advance(
    ctx: &Context,
    schedule: &Schedule,
    next: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    record: SlotRecord,
    outcome: Outcome,
) -> Result<Outcome, PipelineError> {
    let mut advanced = schedule.clone();
    advanced.next_run_at = next;
    advanced.last_status = Some(record.status);
    advanced.last_error = record.note;
    advanced.updated_at = now;
    if let Some(run) = record.run {
        advanced.last_run_at = Some(now);
        advanced.last_run_id = Some(run);
        advanced.last_run_status = None;
    }
    Ok(if ctx.store.claim_schedule_slot(&advanced).await? { outcome } else { Outcome::Lost })
}

/// Stops a schedule that cannot fire, saying why.
async fn stop(ctx: &Context, schedule: Schedule, now: DateTime<Utc>, why: String) -> Result<Outcome, PipelineError> {
    tracing::warn!(schedule = %schedule.id, reason = %why, "schedule stopped");
    advance(ctx, &schedule, None, now, SlotRecord::of(SlotStatus::Failed, Some(why)), Outcome::Failed).await
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeZone;

    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::domain::{DestinationId, EntryStatus, OverlapPolicy, RunStatus, RunTrigger, ScheduleRule, Workspace};
    use crate::store::Store;
    use crate::store::sqlite::SqliteTable;
    use crate::testing::fixtures;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, h, m, 0).unwrap()
    }

    struct World {
        ctx: Context,
        clock: Arc<ManualClock>,
        ws: Workspace,
        _dir: tempfile::TempDir,
    }

    async fn world(now: DateTime<Utc>) -> World {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::config::Config::from_lookup(|_| None).unwrap();
        config.blobs = crate::config::BlobConfig::Fs(dir.path().join("blobs"));
        let mut ctx = Context::from_config(config).await.unwrap();
        ctx.store = Store::new(Arc::new(SqliteTable::in_memory().unwrap()));
        let clock = Arc::new(ManualClock::new(now));
        ctx.clock = clock.clone();
        let ws = ctx.store.create_workspace(&fixtures::workspace("tick", now)).await.unwrap();
        World { ctx, clock, ws, _dir: dir }
    }

    /// An hourly schedule (`0 * * * *`) of a new report whose next slot is `next`.
    async fn hourly(w: &World, code: &str, next: DateTime<Utc>) -> (crate::domain::Report, Schedule) {
        let now = w.clock.now();
        let report = w.ctx.store.create_report(&fixtures::report(&w.ws, code, now)).await.unwrap();
        let mut s = fixtures::schedule(&report, Some(next), now);
        s.rule = ScheduleRule::Cron { expression: "0 * * * *".into() };
        (report.clone(), w.ctx.store.create_schedule(&s).await.unwrap())
    }

    async fn runs_of(w: &World, report: &crate::domain::Report) -> Vec<crate::domain::Run> {
        w.ctx.store.list_runs(w.ws.id, Some(report.id), &PageRequest::first(100)).await.unwrap().items
    }

    #[tokio::test]
    async fn a_due_schedule_runs_once_for_its_slot_however_often_the_tick_comes() {
        let w = world(at(8, 0)).await;
        let (report, schedule) = hourly(&w, "r", at(8, 0)).await;
        let first = tick(&w.ctx).await.unwrap();
        assert_eq!((first.reports_evaluated, first.reports_ran, first.ok), (1, 1, true));
        let again = tick(&w.ctx).await.unwrap();
        assert_eq!((again.reports_evaluated, again.reports_ran), (0, 0));

        let runs = runs_of(&w, &report).await;
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].id, RunId::for_slot(schedule.id, at(8, 0)));
        assert_eq!((runs[0].trigger, runs[0].scheduled_for), (RunTrigger::Schedule, Some(at(8, 0))));
        let stored = w.ctx.store.get_schedule(w.ws.id, schedule.id).await.unwrap();
        assert_eq!(stored.next_run_at, Some(at(9, 0)));
        assert_eq!((stored.last_status, stored.last_run_at), (Some(SlotStatus::Ran), Some(at(8, 0))));
        assert_eq!(stored.last_run_id, Some(runs[0].id));
    }

    #[tokio::test]
    async fn after_downtime_only_the_latest_slot_inside_the_window_runs() {
        let w = world(at(11, 20)).await;
        let (report, schedule) = hourly(&w, "r", at(8, 0)).await;
        let outcome = tick(&w.ctx).await.unwrap();
        assert_eq!((outcome.reports_ran, outcome.missed), (1, 0));
        let runs = runs_of(&w, &report).await;
        assert_eq!(runs.len(), 1, "never a burst");
        assert_eq!(runs[0].scheduled_for, Some(at(11, 0)), "the run carries its nominal slot");
        let stored = w.ctx.store.get_schedule(w.ws.id, schedule.id).await.unwrap();
        assert_eq!(stored.next_run_at, Some(at(12, 0)));
    }

    /// A report with derived date parameters, scheduled at `next` by `cron` in `timezone`.
    async fn with_derived_dates(w: &World, cron: &str, timezone: &str, next: DateTime<Utc>) -> crate::domain::Report {
        let now = w.clock.now();
        let mut report = fixtures::report(&w.ws, "derived", now);
        report.parameters = serde_json::from_value(serde_json::json!([
            {"name": "period", "type": "date", "default": "start_of_month"},
            {"name": "last_quarter_end", "type": "date", "default": "end_of_previous_quarter"},
            {"name": "fixed", "type": "date", "default": "2026-05-01"}
        ]))
        .unwrap();
        let report = w.ctx.store.create_report(&report).await.unwrap();
        let mut s = fixtures::schedule(&report, Some(next), now);
        s.rule = ScheduleRule::Cron { expression: cron.into() };
        s.timezone = timezone.into();
        w.ctx.store.create_schedule(&s).await.unwrap();
        report
    }

    fn dates(run: &crate::domain::Run) -> (String, String, String, Option<chrono::NaiveDate>) {
        let p = &run.inputs.parameters;
        let text = |name: &str| p[name].as_str().unwrap().to_string();
        (text("period"), text("last_quarter_end"), text("fixed"), run.inputs.day)
    }

    #[tokio::test]
    async fn a_scheduled_run_works_out_derived_dates_on_its_slots_day_in_the_schedules_zone() {
        // 23:30 on 31 December in New York is already 1 January in UTC.
        let slot = Utc.with_ymd_and_hms(2027, 1, 1, 4, 30, 0).unwrap();
        let w = world(slot + Duration::minutes(2)).await;
        let report = with_derived_dates(&w, "30 23 * * *", "America/New_York", slot).await;
        assert_eq!(tick(&w.ctx).await.unwrap().reports_ran, 1);
        let run = runs_of(&w, &report).await.remove(0);
        let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 31);
        assert_eq!(dates(&run), ("2026-12-01".into(), "2026-09-30".into(), "2026-05-01".into(), day));
    }

    #[tokio::test]
    async fn a_schedule_naming_destinations_delivers_there_with_the_reports_settings_for_them() {
        let w = world(at(8, 0)).await;
        let now = w.clock.now();
        let (mail, chat, archive) =
            (DestinationId::generate(now), DestinationId::generate(now), DestinationId::generate(now));
        let mut report = fixtures::report(&w.ws, "delivered", now);
        report.deliveries = serde_json::from_value(serde_json::json!([
            {"destination_id": mail, "to": ["ops@acme.test"]},
            {"destination_id": chat, "subject": "Digest {run.date}"}
        ]))
        .unwrap();
        let report = w.ctx.store.create_report(&report).await.unwrap();
        let mut s = fixtures::schedule(&report, Some(at(8, 0)), now);
        s.rule = ScheduleRule::Cron { expression: "0 * * * *".into() };
        s.destinations = vec![chat, archive];
        w.ctx.store.create_schedule(&s).await.unwrap();
        assert_eq!(tick(&w.ctx).await.unwrap().reports_ran, 1);
        let run = runs_of(&w, &report).await.remove(0);
        let delivered: Vec<_> =
            run.inputs.report.deliveries.iter().map(|d| (d.destination_id, d.subject.clone())).collect();
        assert_eq!(delivered, [(chat, Some("Digest {run.date}".to_string())), (archive, None)], "not to mail");
    }

    #[tokio::test]
    async fn summer_time_moves_a_slot_into_the_next_local_day_and_month() {
        // 00:30 on 1 April in London is British Summer Time: 23:30 on 31 March in UTC. In
        // winter the same local time is also the UTC time, so only the zone's offset on the
        // slot's day decides which month the run is for.
        let slot = Utc.with_ymd_and_hms(2026, 3, 31, 23, 30, 0).unwrap();
        let w = world(slot + Duration::minutes(1)).await;
        let report = with_derived_dates(&w, "30 0 * * *", "Europe/London", slot).await;
        assert_eq!(tick(&w.ctx).await.unwrap().reports_ran, 1);
        let run = runs_of(&w, &report).await.remove(0);
        let day = chrono::NaiveDate::from_ymd_opt(2026, 4, 1);
        assert_eq!(dates(&run), ("2026-04-01".into(), "2026-03-31".into(), "2026-05-01".into(), day));
    }

    #[tokio::test]
    async fn a_catch_up_run_works_out_the_dates_of_the_slot_it_stands_for_not_of_the_day_it_runs() {
        // The 23:00 slot of 31 March runs 40 minutes late, on 1 April.
        let slot = Utc.with_ymd_and_hms(2026, 3, 31, 23, 0, 0).unwrap();
        let w = world(slot + Duration::minutes(40)).await;
        let report = with_derived_dates(&w, "0 23 * * *", "UTC", slot).await;
        assert_eq!(tick(&w.ctx).await.unwrap().reports_ran, 1);
        let run = runs_of(&w, &report).await.remove(0);
        assert_eq!(run.scheduled_for, Some(slot));
        let day = chrono::NaiveDate::from_ymd_opt(2026, 3, 31);
        assert_eq!(dates(&run), ("2026-03-01".into(), "2025-12-31".into(), "2026-05-01".into(), day));
    }

    #[tokio::test]
    async fn a_manual_run_works_out_derived_dates_on_the_day_it_starts_and_a_given_value_wins() {
        let now = Utc.with_ymd_and_hms(2026, 4, 1, 0, 30, 0).unwrap();
        let w = world(now).await;
        let report = with_derived_dates(&w, "0 23 * * *", "UTC", now + Duration::days(1)).await;
        let overrides = serde_json::json!({"fixed": "start_of_previous_month", "period": "2026-02-01"});
        let request = RunRequest::now(report.clone(), RunTrigger::Manual, overrides.as_object().cloned().unwrap());
        start_run(&w.ctx, request).await.unwrap();
        let run = runs_of(&w, &report).await.remove(0);
        let day = chrono::NaiveDate::from_ymd_opt(2026, 4, 1);
        assert_eq!(dates(&run), ("2026-02-01".into(), "2026-03-31".into(), "2026-03-01".into(), day));
    }

    #[tokio::test]
    async fn slots_older_than_the_catch_up_window_are_recorded_as_missed() {
        let w = world(at(11, 20)).await;
        let (report, schedule) = hourly(&w, "r", at(8, 0)).await;
        let mut narrow = schedule.clone();
        narrow.catch_up_minutes = 10;
        w.ctx.store.update_schedule(&narrow).await.unwrap();
        let outcome = tick(&w.ctx).await.unwrap();
        assert_eq!((outcome.reports_ran, outcome.missed), (0, 4));
        assert!(runs_of(&w, &report).await.is_empty());
        let stored = w.ctx.store.get_schedule(w.ws.id, schedule.id).await.unwrap();
        assert_eq!(stored.last_status, Some(SlotStatus::Missed));
        assert!(stored.last_error.as_deref().unwrap().contains("2026-11-23T11:00:00Z"), "{:?}", stored.last_error);
        assert_eq!(stored.next_run_at, Some(at(12, 0)));
    }

    async fn with_overlap(policy: OverlapPolicy) -> (World, crate::domain::Report, Schedule, TickReport) {
        let w = world(at(8, 0)).await;
        let (report, schedule) = hourly(&w, "r", at(8, 0)).await;
        let mut s = schedule.clone();
        s.overlap = policy;
        w.ctx.store.update_schedule(&s).await.unwrap();
        tick(&w.ctx).await.unwrap();
        // The 08:00 run is still going at 09:00.
        w.clock.set(at(9, 0));
        let second = tick(&w.ctx).await.unwrap();
        (w, report, schedule, second)
    }

    #[tokio::test]
    async fn skip_passes_a_slot_while_the_previous_run_is_going() {
        let (w, report, schedule, second) = with_overlap(OverlapPolicy::Skip).await;
        assert_eq!((second.reports_ran, second.skipped_overlap), (0, 1));
        assert_eq!(runs_of(&w, &report).await.len(), 1);
        let stored = w.ctx.store.get_schedule(w.ws.id, schedule.id).await.unwrap();
        assert_eq!((stored.last_status, stored.next_run_at), (Some(SlotStatus::SkippedOverlap), Some(at(10, 0))));
    }

    #[tokio::test]
    async fn allow_starts_a_second_run_beside_the_first() {
        let (w, report, _, second) = with_overlap(OverlapPolicy::Allow).await;
        assert_eq!(second.reports_ran, 1);
        assert_eq!(runs_of(&w, &report).await.len(), 2);
    }

    #[tokio::test]
    async fn buffer_one_waits_for_the_previous_run_and_then_fires_once() {
        let (w, report, schedule, second) = with_overlap(OverlapPolicy::BufferOne).await;
        assert_eq!((second.reports_ran, second.deferred), (0, 1));
        // Still waiting at 10:30; the 09:00 and 10:00 slots collapse into one.
        w.clock.set(at(10, 30));
        assert_eq!(tick(&w.ctx).await.unwrap().deferred, 1);
        // The first run finishes; the next tick fires the latest slot once.
        let first = runs_of(&w, &report).await.remove(0);
        let entries = w.ctx.store.list_entries(first.id, &PageRequest::first(10)).await.unwrap().items;
        let now = w.clock.now();
        for e in entries {
            w.ctx
                .store
                .transition_entry(first.id, e.id, EntryStatus::Queued, EntryStatus::Cancelled, now, |_| {})
                .await
                .unwrap();
        }
        assert_eq!(w.ctx.store.get_run(first.id).await.unwrap().status, RunStatus::Finished);
        let third = tick(&w.ctx).await.unwrap();
        assert_eq!(third.reports_ran, 1);
        let runs = runs_of(&w, &report).await;
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].scheduled_for, Some(at(10, 0)));
        let stored = w.ctx.store.get_schedule(w.ws.id, schedule.id).await.unwrap();
        assert_eq!(stored.next_run_at, Some(at(11, 0)));
    }

    #[tokio::test]
    async fn a_broken_schedule_stops_with_a_reason_and_the_others_still_run() {
        let w = world(at(8, 0)).await;
        let (gone, orphan) = hourly(&w, "gone", at(8, 0)).await;
        let (_, bad_rule) = hourly(&w, "bad", at(8, 0)).await;
        let (healthy, _) = hourly(&w, "ok", at(8, 0)).await;
        w.ctx.store.delete_report(w.ws.id, gone.id).await.unwrap();
        let mut broken = bad_rule.clone();
        broken.rule = ScheduleRule::Cron { expression: "61 * * * *".into() };
        w.ctx.store.update_schedule(&broken).await.unwrap();

        let outcome = tick(&w.ctx).await.unwrap();
        assert_eq!((outcome.reports_evaluated, outcome.reports_ran, outcome.failed), (3, 1, 2));
        assert_eq!(runs_of(&w, &healthy).await.len(), 1);
        let orphan = w.ctx.store.get_schedule(w.ws.id, orphan.id).await.unwrap();
        assert_eq!(orphan.last_status, Some(SlotStatus::Failed));
        assert_eq!(orphan.last_error.as_deref(), Some("the report of this schedule was deleted"));
        assert_eq!(orphan.next_run_at, None);
        let broken = w.ctx.store.get_schedule(w.ws.id, bad_rule.id).await.unwrap();
        assert!(broken.last_error.as_deref().unwrap().starts_with("the schedule's rule is invalid"), "{broken:?}");
        // Stopped schedules leave the due index: the next tick does not look at them again.
        assert_eq!(tick(&w.ctx).await.unwrap().reports_evaluated, 0);
    }

    #[tokio::test]
    async fn a_disabled_report_pauses_its_schedule_without_a_run() {
        let w = world(at(8, 0)).await;
        let (report, schedule) = hourly(&w, "r", at(8, 0)).await;
        let mut off = report.clone();
        off.enabled = false;
        w.ctx.store.update_report(&off).await.unwrap();
        let outcome = tick(&w.ctx).await.unwrap();
        assert_eq!((outcome.reports_ran, outcome.paused), (0, 1));
        let stored = w.ctx.store.get_schedule(w.ws.id, schedule.id).await.unwrap();
        assert_eq!((stored.last_status, stored.next_run_at), (Some(SlotStatus::Paused), Some(at(9, 0))));
    }

    #[tokio::test]
    async fn a_report_with_scheduled_generation_off_pauses_its_schedule_saying_why() {
        let w = world(at(8, 0)).await;
        let (report, schedule) = hourly(&w, "r", at(8, 0)).await;
        let mut manual = report.clone();
        manual.scheduled = false;
        let mut manual = w.ctx.store.update_report(&manual).await.unwrap();
        let outcome = tick(&w.ctx).await.unwrap();
        assert_eq!((outcome.reports_ran, outcome.paused), (0, 1));
        assert!(runs_of(&w, &report).await.is_empty());
        let stored = w.ctx.store.get_schedule(w.ws.id, schedule.id).await.unwrap();
        assert_eq!((stored.last_status, stored.next_run_at), (Some(SlotStatus::Paused), Some(at(9, 0))));
        assert_eq!(stored.last_error.as_deref(), Some("scheduled generation is off for this report"));

        // Switched on again, the next slot runs.
        manual.scheduled = true;
        w.ctx.store.update_report(&manual).await.unwrap();
        w.clock.set(at(9, 0));
        assert_eq!(tick(&w.ctx).await.unwrap().reports_ran, 1);
    }

    #[tokio::test]
    async fn an_inactive_workspace_pauses_its_schedules_without_a_run() {
        let w = world(at(8, 0)).await;
        let (report, schedule) = hourly(&w, "r", at(8, 0)).await;
        let mut inactive = w.ctx.store.get_workspace(w.ws.id).await.unwrap();
        inactive.active = false;
        w.ctx.store.update_workspace(&inactive).await.unwrap();
        let outcome = tick(&w.ctx).await.unwrap();
        assert_eq!((outcome.reports_ran, outcome.paused), (0, 1));
        assert!(runs_of(&w, &report).await.is_empty());
        let stored = w.ctx.store.get_schedule(w.ws.id, schedule.id).await.unwrap();
        assert_eq!(stored.last_error.as_deref(), Some("the workspace is inactive"));
    }
}
