//! Starting a run: resolve parameters (run overrides over saved defaults), record the run with
//! its entries, and hand the entries to the render queue. Manual, API and scheduled runs all
//! start here. A required parameter without a value fails the run at once, on the record.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::PipelineError;
use super::recovery::PICKUP_DEADLINE;
use crate::context::Context;
use crate::domain::{
    Entry, EntryId, EntryStatus, FieldError, Report, Run, RunId, RunInputs, RunStatus, RunTrigger, ScheduleId,
    ValidationErrors,
};
use crate::queue::Job;
use crate::store::RunCreation;

/// What to run and why.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub report: Report,
    pub trigger: RunTrigger,
    /// The schedule and nominal slot of a scheduled run (its id is derived from them).
    pub slot: Option<(ScheduleId, DateTime<Utc>)>,
    /// Parameter values for this run only (manual and API runs).
    pub overrides: Map<String, Value>,
    pub data: Value,
    pub idempotency_key: Option<String>,
}

impl RunRequest {
    pub fn scheduled(report: Report, schedule: ScheduleId, slot: DateTime<Utc>) -> Self {
        Self {
            report,
            trigger: RunTrigger::Schedule,
            slot: Some((schedule, slot)),
            overrides: Map::new(),
            data: Value::Null,
            idempotency_key: None,
        }
    }
}

/// Parameter values for a run: overrides (which must be declared and typed right) over
/// defaults. Missing required values are returned separately: they fail the run, not the call.
pub fn resolve_parameters(
    report: &Report,
    overrides: &Map<String, Value>,
) -> Result<(Map<String, Value>, Vec<String>), ValidationErrors> {
    let mut errors = Vec::new();
    for name in overrides.keys() {
        if !report.parameters.iter().any(|p| p.name.as_str() == name) {
            errors.push(FieldError::new(format!("params.{name}"), "is not a parameter of this report"));
        }
    }
    let mut values = Map::new();
    let mut missing = Vec::new();
    for p in &report.parameters {
        match overrides.get(p.name.as_str()).filter(|v| !v.is_null()).or(p.default.as_ref()) {
            Some(value) => match p.kind.check(value) {
                Ok(()) => {
                    values.insert(p.name.to_string(), value.clone());
                }
                Err(message) => errors.push(FieldError::new(format!("params.{}", p.name), message)),
            },
            None if p.required => missing.push(p.name.to_string()),
            None => {}
        }
    }
    ValidationErrors::into_result(errors)?;
    Ok((values, missing))
}

/// Records the run (or finds the one its slot or idempotency key already made) and enqueues
/// its entries.
pub async fn start_run(ctx: &Context, request: RunRequest) -> Result<RunCreation, PipelineError> {
    let now = ctx.clock.now();
    let (parameters, missing) = resolve_parameters(&request.report, &request.overrides)?;
    let id = match request.slot {
        Some((schedule, slot)) => RunId::for_slot(schedule, slot),
        None => RunId::generate(now),
    };
    let inputs = RunInputs { report: request.report.clone(), parameters: parameters.clone(), data: request.data };
    let mut run = Run::started(id, inputs, request.trigger, now);
    run.schedule_id = request.slot.map(|(s, _)| s);
    run.scheduled_for = request.slot.map(|(_, at)| at);
    run.idempotency_key = request.idempotency_key;
    let entries = if missing.is_empty() {
        vec![Entry {
            id: EntryId::generate(now),
            run_id: id,
            workspace_id: run.workspace_id,
            seq: 0,
            status: EntryStatus::Queued,
            row: None,
            parameters,
            artifacts: vec![],
            error: None,
            review: None,
            attempts: 0,
            lease_until: Some(now + PICKUP_DEADLINE),
            created_at: now,
            updated_at: now,
            version: 0,
        }]
    } else {
        let names = missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ");
        run.status = RunStatus::Failed;
        run.finished_at = Some(now);
        run.error = Some(format!("required parameter {names} has no value"));
        vec![]
    };
    let creation = ctx.store.create_run(&run, &entries, now).await?;
    if let RunCreation::Created(_) = &creation {
        let jobs: Vec<Job> = entries
            .iter()
            .map(|e| Job::Render { workspace_id: e.workspace_id, run_id: e.run_id, entry_id: e.id })
            .collect();
        // The entries are recorded: if the queue is unavailable now, the recovery sweep hands
        // them out once their pickup deadline passes.
        if let Err(error) = ctx.render_queue.send(&jobs).await {
            tracing::warn!(run = %id, %error, "could not enqueue the run's entries; recovery will");
        }
    }
    Ok(creation)
}
