//! Starting a run: resolve parameters (run overrides over saved defaults), make the entries
//! (one, or one per row of the repeating source, read once here), record the run with them,
//! and hand the entries to the render queue. Manual, API and scheduled runs all start here.
//! A required parameter without a value is refused to a caller (nothing is recorded) and
//! fails a scheduled run at once, on the record, as a repeating source that cannot be read
//! fails any run; a repeating source without rows makes a finished run with no
//! entries and a note saying why. Parameters bound to a column of the repeating row take
//! each entry's value from its row; a row without a usable value fails only its entry.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};

use super::PipelineError;
use super::recovery::PICKUP_DEADLINE;
use crate::context::Context;
use crate::domain::{
    Configuration, Entry, EntryId, EntryStatus, FieldError, ParamType, Report, Run, RunId, RunInputs, RunStatus,
    RunTime, RunTrigger, ScheduleId, ValidationErrors,
};
use crate::queue::Job;
use crate::source::{SourceContext, fetch};
use crate::store::table::MAX_ITEM_BYTES;
use crate::store::{RunCreation, StoreError};

/// What to run and why.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub report: Report,
    pub trigger: RunTrigger,
    /// The schedule and nominal slot of a scheduled run (its id is derived from them).
    pub slot: Option<(ScheduleId, DateTime<Utc>)>,
    /// The schedule an execution asked for outside its slots runs for (seed `004`).
    pub execution_of: Option<ScheduleId>,
    /// The zone whose calendar gives the run's day: the schedule's, or the workspace's for a run
    /// started by hand (UTC in [`RunRequest::now`] until the caller sets it).
    pub timezone: Tz,
    /// The active configurations of the schedule the run is for (seed `004`): one entry each,
    /// with its values over the run's. None: one entry, or one per repeating row.
    pub configurations: Vec<Configuration>,
    /// Parameter values for this run only (manual and API runs).
    pub overrides: Map<String, Value>,
    pub data: Value,
    pub idempotency_key: Option<String>,
}

impl RunRequest {
    pub fn scheduled(report: Report, schedule: ScheduleId, slot: DateTime<Utc>, timezone: Tz) -> Self {
        Self {
            report,
            trigger: RunTrigger::Schedule,
            slot: Some((schedule, slot)),
            execution_of: None,
            timezone,
            configurations: vec![],
            overrides: Map::new(),
            data: Value::Null,
            idempotency_key: None,
        }
    }

    /// A run of `report` started by a person or a caller now, with `overrides`.
    pub fn now(report: Report, trigger: RunTrigger, overrides: Map<String, Value>) -> Self {
        Self {
            report,
            trigger,
            slot: None,
            execution_of: None,
            timezone: Tz::UTC,
            configurations: vec![],
            overrides,
            data: Value::Null,
            idempotency_key: None,
        }
    }

    /// The instant the run stands for (its slot, or else `now`) in its timezone.
    pub fn time(&self, now: DateTime<Utc>) -> RunTime {
        RunTime::new(self.slot.map_or(now, |(_, at)| at), self.timezone)
    }
}

/// Parameter values for a run: overrides (which must be declared and typed right) over
/// defaults, derived dates and times worked out for the run's `time`. Missing required values are returned
/// separately: they fail the run, not the call.
pub fn resolve_parameters(
    report: &Report,
    overrides: &Map<String, Value>,
    time: RunTime,
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
                    values.insert(p.name.to_string(), p.kind.resolve(value, time));
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

/// A run keeps its inputs (the report, the reports it includes, the data payload) in its own
/// record, which every store limits to [`MAX_ITEM_BYTES`]. Over it, a caller is refused
/// (`TooLarge`) and nothing is recorded; a scheduled run, which has no caller, keeps only its
/// report and fails with the reason returned here.
fn inputs_over_limit(ctx: &Context, run: &mut Run) -> Result<Option<String>, PipelineError> {
    let bytes = ctx.store.stored_size(run)?;
    if bytes <= MAX_ITEM_BYTES {
        return Ok(None);
    }
    let what = "the run's inputs (its report, included reports and data)";
    if run.trigger != RunTrigger::Schedule {
        return Err(StoreError::TooLarge { kind: what, bytes, limit: MAX_ITEM_BYTES }.into());
    }
    run.inputs.included.clear();
    run.inputs.data = Value::Null;
    Ok(Some(format!("{what} would be {bytes} bytes stored, over the limit of {MAX_ITEM_BYTES} bytes")))
}

/// The error for required parameters that have no value (preview and run now alike).
pub fn missing_parameters(missing: &[String]) -> ValidationErrors {
    ValidationErrors(
        missing.iter().map(|m| FieldError::new(format!("params.{m}"), "is required and has no default")).collect(),
    )
}

/// The missing parameters that no column of the repeating row fills (those get their values
/// per entry).
pub fn unbound(report: &Report, mut missing: Vec<String>) -> Vec<String> {
    missing.retain(|name| !report.parameters.iter().any(|p| p.name.as_str() == name && p.from_row.is_some()));
    missing
}

/// Records the run (or finds the one its slot or idempotency key already made) and enqueues
/// its entries.
pub async fn start_run(ctx: &Context, request: RunRequest) -> Result<RunCreation, PipelineError> {
    let now = ctx.clock.now();
    let time = request.time(now);
    let (parameters, mut missing) = resolve_parameters(&request.report, &request.overrides, time)?;
    missing = unbound(&request.report, missing);
    // Each configuration's entry resolves its own values; one missing a value fails alone.
    if !request.configurations.is_empty() {
        missing.clear();
    }
    // A caller is told at once, as a preview tells it, and nothing is recorded; a scheduled
    // run has no caller, so its failure is recorded on the run and its schedule.
    if request.trigger != RunTrigger::Schedule && !missing.is_empty() {
        return Err(missing_parameters(&missing).into());
    }
    let id = match request.slot {
        Some((schedule, slot)) => RunId::for_slot(schedule, slot),
        None => RunId::generate(now),
    };
    let included = included_reports(ctx, &request.report).await?;
    let inputs = RunInputs {
        report: request.report.clone(),
        parameters: parameters.clone(),
        data: request.data.clone(),
        included: included.clone().unwrap_or_default(),
        day: Some(time.day()),
        timezone: Some(time.zone.name().to_string()),
    };
    let mut run = Run::started(id, inputs, request.trigger, now);
    run.schedule_id = request.slot.map(|(s, _)| s).or(request.execution_of);
    run.scheduled_for = request.slot.map(|(_, at)| at);
    run.idempotency_key = request.idempotency_key.clone();
    let oversized = inputs_over_limit(ctx, &mut run)?;
    let made = if let Err(reason) = included {
        Err(reason)
    } else if let Some(reason) = oversized {
        Err(reason)
    } else if missing.is_empty() {
        make_entries(ctx, &run, &parameters, &request, now).await?
    } else {
        let names = missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ");
        Err(format!("required parameter {names} has no value"))
    };
    let entries = match made {
        Ok(entries) => entries,
        Err(reason) => {
            run.status = RunStatus::Failed;
            run.finished_at = Some(now);
            run.error = Some(reason);
            vec![]
        }
    };
    if run.status == RunStatus::Running && !entries.iter().any(|e| e.status == EntryStatus::Queued) {
        run.status = RunStatus::Finished;
        run.finished_at = Some(now);
        if entries.is_empty()
            && let Some(source) = request.report.repeating_source()
        {
            run.note =
                Some(format!("the repeating source `{}` returned no rows, so the run has no entries", source.name));
        }
    }
    let creation = ctx.store.create_run(&run, &entries, now).await?;
    if let RunCreation::Created(_) = &creation {
        let jobs: Vec<Job> = entries
            .iter()
            .filter(|e| e.status == EntryStatus::Queued)
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

/// The saved reports `report` includes, in order (their own includes are not followed). The
/// inner error, naming a report that no longer exists, fails the run.
async fn included_reports(ctx: &Context, report: &Report) -> Result<Result<Vec<Report>, String>, PipelineError> {
    let mut included = Vec::with_capacity(report.includes.len());
    for include in &report.includes {
        match ctx.store.resolve_report(report.workspace_id, &include.report).await {
            Ok(found) => included.push(found),
            Err(StoreError::NotFound { .. }) => {
                return Ok(Err(format!("included report `{}` does not exist", include.report)));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Ok(included))
}

/// Most entries one run makes.
pub const MAX_ENTRIES: usize = 50_000;

/// The run's entries: one without a repeating source, else one per row it returns. The outer
/// error is trouble worth retrying; the inner one fails the run with its reason.
async fn make_entries(
    ctx: &Context,
    run: &Run,
    parameters: &Map<String, Value>,
    request: &RunRequest,
    now: DateTime<Utc>,
) -> Result<Result<Vec<Entry>, String>, PipelineError> {
    let report = &run.inputs.report;
    if !request.configurations.is_empty() {
        return Ok(configuration_entries(run, request, now));
    }
    let Some(source) = report.repeating_source() else {
        return Ok(Ok(vec![new_entry(run, 0, None, parameters.clone(), now)]));
    };
    let workspace = ctx.store.get_workspace(run.workspace_id).await?;
    let sources = SourceContext {
        store: &ctx.store,
        blobs: ctx.blobs.as_ref(),
        http: &ctx.outbound,
        databases: &ctx.databases,
        workspace: &workspace,
        parameters,
        data: &run.inputs.data,
        time: run.time(),
    };
    let rows = match fetch(&sources, source).await {
        Ok(rows) => rows,
        Err(e) => return Ok(Err(format!("repeating source `{}`: {e}", source.name))),
    };
    if rows.len() > MAX_ENTRIES {
        return Ok(Err(format!(
            "repeating source `{}` returned {} rows; a run makes at most {MAX_ENTRIES} entries",
            source.name,
            rows.len()
        )));
    }
    let ids = EntryId::sequence(now, rows.len());
    let mut entries = Vec::with_capacity(rows.len());
    for (seq, id) in ids.into_iter().enumerate() {
        let row = rows.row_object(seq).unwrap_or_default();
        let mut entry = new_entry(run, seq as u32, Some(row), parameters.clone(), now);
        entry.id = id;
        if let Err(reason) = bind_row_parameters(report, entry.row.as_ref(), entry.seq, &mut entry.parameters) {
            entry.status = EntryStatus::GenerationFailed;
            entry.error = Some(reason);
            entry.lease_until = None;
        }
        entries.push(entry);
    }
    Ok(Ok(entries))
}

/// One entry per configuration, each with the run's values and its own over them (derived
/// dates worked out for the run's time). A configuration whose values do not fit the report
/// fails only its entry, saying which.
fn configuration_entries(run: &Run, request: &RunRequest, now: DateTime<Utc>) -> Result<Vec<Entry>, String> {
    let report = &run.inputs.report;
    if let Some(source) = report.repeating_source() {
        return Err(format!(
            "the report makes one entry per row of `{}`; a run per configuration needs a report without a \
             repeating source",
            source.name
        ));
    }
    let ids = EntryId::sequence(now, request.configurations.len());
    let entries = request.configurations.iter().zip(ids).enumerate().map(|(seq, (configuration, id))| {
        let mut values = request.overrides.clone();
        values.extend(configuration.parameters.clone());
        let mut entry = new_entry(run, seq as u32, None, Map::new(), now);
        entry.id = id;
        entry.configuration = Some(configuration.for_entry());
        let failure = match resolve_parameters(report, &values, run.time()) {
            Ok((values, missing)) if missing.is_empty() => {
                entry.parameters = values;
                None
            }
            Ok((_, missing)) => Some(format!("required parameter `{}` has no value", missing.join("`, `"))),
            Err(errors) => Some(errors.to_string()),
        };
        if let Some(reason) = failure {
            entry.status = EntryStatus::GenerationFailed;
            entry.error = Some(format!("configuration `{}`: {reason}", configuration.name));
            entry.lease_until = None;
        }
        entry
    });
    Ok(entries.collect())
}

fn new_entry(
    run: &Run,
    seq: u32,
    row: Option<Map<String, Value>>,
    parameters: Map<String, Value>,
    now: DateTime<Utc>,
) -> Entry {
    Entry {
        id: EntryId::generate(now),
        run_id: run.id,
        workspace_id: run.workspace_id,
        seq,
        status: EntryStatus::Queued,
        row,
        parameters,
        configuration: None,
        artifacts: vec![],
        error: None,
        generation_errors: vec![],
        review: None,
        attempts: 0,
        lease_until: Some(now + PICKUP_DEADLINE),
        created_at: now,
        updated_at: now,
        version: 0,
    }
}

/// Sets the parameters bound to a column (`from_row`) from row `seq` of the repeating source.
/// Text parameters take numbers and booleans as text; anything else must have the parameter's
/// type. A required parameter with neither a value in the row nor one already set fails.
pub fn bind_row_parameters(
    report: &Report,
    row: Option<&Map<String, Value>>,
    seq: u32,
    parameters: &mut Map<String, Value>,
) -> Result<(), String> {
    for p in &report.parameters {
        let Some(column) = &p.from_row else { continue };
        let value = match row.and_then(|row| row.get(column.as_str())) {
            Some(Value::Number(n)) if p.kind == ParamType::String => Value::String(n.to_string()),
            Some(Value::Bool(b)) if p.kind == ParamType::String => Value::String(b.to_string()),
            Some(value) if !(value.is_null() || value.as_str() == Some("")) => value.clone(),
            _ if p.required && !parameters.contains_key(p.name.as_str()) => {
                return Err(format!("row {} has no `{column}` for parameter `{}`", seq + 1, p.name));
            }
            _ => continue,
        };
        p.kind.check(&value).map_err(|m| format!("row {}: `{column}` for parameter `{}` {m}", seq + 1, p.name))?;
        parameters.insert(p.name.to_string(), value);
    }
    Ok(())
}
