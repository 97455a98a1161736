//! Starting a run: resolve parameters (run overrides over saved defaults), record the run with
//! its entries, and hand the entries to the render queue. Manual, API and scheduled runs all
//! start here. A run bursts into one entry per row of the report's repeating source (one entry
//! when it has none). A required parameter without a value, or a failing repeating source,
//! fails the run at once, on the record.

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
use crate::source::{SourceContext, fetch};
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

/// The rows a run bursts into: one entry per row of the report's repeating source, or a single
/// entry (no row) when it has none. A failing repeating source fails the run, with the reason.
async fn repeating_rows(
    ctx: &Context,
    report: &Report,
    parameters: &Map<String, Value>,
    data: &Value,
    now: DateTime<Utc>,
) -> Result<Vec<Option<Map<String, Value>>>, String> {
    let Some(spec) = report.repeating_source() else {
        return Ok(vec![None]);
    };
    let workspace = ctx.store.get_workspace(report.workspace_id).await.map_err(|e| e.to_string())?;
    let sources = SourceContext {
        store: &ctx.store,
        blobs: ctx.blobs.as_ref(),
        http: &ctx.outbound,
        workspace: &workspace,
        parameters,
        data,
        now,
    };
    let set = fetch(&sources, spec).await.map_err(|e| format!("repeating source `{}`: {e}", spec.name))?;
    Ok((0..set.len()).map(|i| set.row_object(i)).collect())
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
    let rows = if missing.is_empty() {
        repeating_rows(ctx, &request.report, &parameters, &run.inputs.data, now).await
    } else {
        let names = missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ");
        Err(format!("required parameter {names} has no value"))
    };
    let entries: Vec<Entry> = match rows {
        Ok(rows) => EntryId::sequence(now, rows.len())
            .into_iter()
            .zip(rows)
            .enumerate()
            .map(|(seq, (entry_id, row))| Entry {
                id: entry_id,
                run_id: id,
                workspace_id: run.workspace_id,
                seq: seq as u32,
                status: EntryStatus::Queued,
                row,
                parameters: parameters.clone(),
                artifacts: vec![],
                error: None,
                review: None,
                attempts: 0,
                lease_until: Some(now + PICKUP_DEADLINE),
                created_at: now,
                updated_at: now,
                version: 0,
            })
            .collect(),
        Err(reason) => {
            run.status = RunStatus::Failed;
            run.finished_at = Some(now);
            run.error = Some(reason);
            vec![]
        }
    };
    if entries.is_empty() && run.status == RunStatus::Running {
        // A repeating source with no rows: nothing to generate.
        run.status = RunStatus::Finished;
        run.finished_at = Some(now);
    }
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
