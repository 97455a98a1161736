//! Rendering one entry: claim it (queued → in progress, so a repeated message or a second
//! worker does nothing), fetch its sources, compose the document, narrate it (once per run),
//! render every requested format and store the files with their size and sha256. A report
//! that cannot be generated marks the entry `GenerationFailed` with the reason; failures of
//! the store or the blob store are returned, so the message is retried and, failing that, the
//! recovery sweep hands the entry out again.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};
use tracing::Instrument;

use super::PipelineError;
use super::deliver_entry::deliver_rendered;
use super::recovery::PICKUP_DEADLINE;
use crate::context::Context;
use crate::domain::{
    Artifact, Entry, EntryConfiguration, EntryId, EntryStatus, NarrativeOutput, Report, Run, RunId, RunStatus, RunTime,
    SourceRole, Workspace, WorkspaceId,
};
use crate::queue::Job;
use crate::render::compose::{Composed, compose};
use crate::render::{self, RenderedFile};
use crate::source::{RowSet, SourceContext, fetch};
use crate::store::StoreError;

/// How long a worker holds an entry while rendering it.
pub const RENDER_LEASE: Duration = Duration::minutes(10);

/// What became of a render job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderOutcome {
    /// Rendered; the entry moved to this status.
    Rendered(EntryStatus),
    /// The report could not be generated; the entry records why.
    Failed(String),
    /// Nothing to do: another worker has it, it is done, or its run is gone.
    Skipped,
}

/// Renders entry `entry_id` of run `run_id` (of workspace `workspace_id`).
pub async fn render_entry(
    ctx: &Context,
    workspace_id: WorkspaceId,
    run_id: RunId,
    entry_id: EntryId,
) -> Result<RenderOutcome, PipelineError> {
    let now = ctx.clock.now();
    // One read for the entry, its run and its workspace; the claim is conditioned on the entry
    // as read. One that is not queued (or gone) is someone else's or done.
    let (entry, run, workspace) = match ctx.store.entry_with_context(workspace_id, run_id, entry_id).await {
        Ok(found) => found,
        Err(StoreError::NotFound { .. }) => return Ok(RenderOutcome::Skipped),
        Err(e) => return Err(e.into()),
    };
    if entry.status != EntryStatus::Queued {
        return Ok(RenderOutcome::Skipped);
    }
    let claimed = ctx
        .store
        .transition_held_entry(&entry, EntryStatus::InProgress, now, |e| {
            e.lease_until = Some(now + RENDER_LEASE);
            e.attempts += 1;
        })
        .await;
    let entry = match claimed {
        Ok(entry) => entry,
        Err(StoreError::Conflict(_) | StoreError::NotFound { .. }) => return Ok(RenderOutcome::Skipped),
        Err(e) => return Err(e.into()),
    };
    if run.status == RunStatus::Cancelled {
        ctx.store.transition_held_entry(&entry, EntryStatus::Cancelled, now, |e| e.lease_until = None).await?;
        return Ok(RenderOutcome::Skipped);
    }
    let span = tracing::info_span!("render", run = %run_id, entry = %entry_id, tenant = %workspace.code);
    render_claimed(ctx, &Arc::new(workspace), &Arc::new(run), &entry, now).instrument(span).await
}

/// Renders an entry this worker has claimed, and records what became of it.
async fn render_claimed(
    ctx: &Context,
    workspace: &Arc<Workspace>,
    run: &Arc<Run>,
    entry: &Entry,
    now: DateTime<Utc>,
) -> Result<RenderOutcome, PipelineError> {
    let run_id = run.id;
    // A panic on this entry's content fails this entry alone.
    let produced = match super::isolated(produce(ctx, workspace, run, entry, now)).await {
        Ok(produced) => produced?,
        Err(panicked) => Err(panicked),
    };
    match produced {
        Ok(Generated { files: StoredFiles { artifacts, bytes }, narrative, failures }) => {
            // The run as its deliveries see it: with the narrative this entry wrote, if any.
            let mut run = run.clone();
            if let Some(narrative) = &narrative
                && entry.seq == 0
            {
                run = Arc::new(ctx.store.record_narrative(run_id, narrative).await?);
            }
            let report = &run.inputs.report;
            let next = if report.hold_for_review {
                EntryStatus::PendingReview
            } else if !report.deliveries.is_empty() {
                EntryStatus::InProgress
            } else if failures.is_empty() {
                EntryStatus::Completed
            } else {
                EntryStatus::CompletedWithErrors
            };
            if next == EntryStatus::InProgress {
                // Delivering: the stored artifacts mark the entry as rendered for recovery.
                let rendered = ctx
                    .store
                    .update_held_entry(entry, |e| {
                        e.artifacts = artifacts.clone();
                        e.generation_errors = failures.clone();
                        e.lease_until = Some(now + PICKUP_DEADLINE);
                    })
                    .await?;
                hand_over(ctx, workspace, &run, rendered, bytes).await;
            } else {
                ctx.store
                    .transition_held_entry(entry, next, now, |e| {
                        e.artifacts = artifacts.clone();
                        e.generation_errors = failures.clone();
                        e.error = (!failures.is_empty()).then(|| failures.join("; "));
                        e.lease_until = None;
                    })
                    .await?;
            }
            tracing::info!(status = next.as_str(), files = artifacts.len(), "entry rendered");
            Ok(RenderOutcome::Rendered(next))
        }
        Err(reason) => {
            tracing::warn!(%reason, "entry generation failed");
            ctx.store
                .transition_held_entry(entry, EntryStatus::GenerationFailed, now, |e| {
                    e.error = Some(reason.clone());
                    e.lease_until = None;
                })
                .await?;
            Ok(RenderOutcome::Failed(reason))
        }
    }
}

/// Passes a rendered entry on to its deliveries: to a task of this process when it delivers
/// too (falling back to the deliver queue, which retries, when that fails), else through the
/// deliver queue. A job that is lost on the way is the recovery sweep's.
async fn hand_over(ctx: &Context, workspace: &Arc<Workspace>, run: &Arc<Run>, entry: Entry, bytes: Vec<Bytes>) {
    let Some(handoff) = &ctx.handoff else { return enqueue_delivery(ctx, run, entry.id).await };
    let (ctx, workspace, run) = (ctx.clone(), workspace.clone(), run.clone());
    // Its own task, so its own root span (not inside the render's).
    let span = tracing::info_span!(parent: None, "deliver", run = %run.id, entry = %entry.id, tenant = %workspace.code);
    let delivering = async move {
        let now = ctx.clock.now();
        if let Err(error) = deliver_rendered(&ctx, &workspace, &run, &entry, (None, Some(bytes)), now).await {
            tracing::warn!(%error, "delivering failed; the deliver queue will try again");
            enqueue_delivery(&ctx, &run, entry.id).await;
        }
    };
    handoff.spawn(delivering.instrument(span)).await;
}

async fn enqueue_delivery(ctx: &Context, run: &Run, entry_id: EntryId) {
    let job = Job::Deliver { workspace_id: run.workspace_id, run_id: run.id, entry_id, delivery_id: None };
    if let Err(error) = ctx.deliver_queue.send(&[job]).await {
        tracing::warn!(%error, "could not enqueue the deliveries; recovery will");
    }
}

/// What rendering an entry made: its files, the run's narrative (first entry), and the
/// reports that failed while others did not.
struct Generated {
    files: StoredFiles,
    narrative: Option<NarrativeOutput>,
    failures: Vec<String>,
}

/// Files stored for an entry: their records, and their bytes for the deliveries that follow.
#[derive(Default)]
struct StoredFiles {
    artifacts: Vec<Artifact>,
    bytes: Vec<Bytes>,
}

impl StoredFiles {
    fn push(&mut self, artifact: Artifact, bytes: Bytes) {
        self.artifacts.push(artifact);
        self.bytes.push(bytes);
    }

    fn append(&mut self, mut other: StoredFiles) {
        self.artifacts.append(&mut other.artifacts);
        self.bytes.append(&mut other.bytes);
    }
}

/// The generated files, or why nothing could be generated (the outer error is infrastructure
/// trouble worth a retry).
type Produced = Result<Generated, String>;

/// Renders the report's own document (unless it only bundles included reports) and then each
/// included report, in order; one failing does not stop the others.
async fn produce(
    ctx: &Context,
    workspace: &Workspace,
    run: &Run,
    entry: &Entry,
    now: DateTime<Utc>,
) -> Result<Produced, PipelineError> {
    let included = &run.inputs.included;
    // A configuration's own prompt addendum replaces the report's for its entry.
    let configured;
    let report = match entry.configuration.as_ref().and_then(|c| c.prompt_addendum.as_ref()) {
        Some(addendum) => {
            let mut report = run.inputs.report.clone();
            report.narrative.prompt_addendum = Some(addendum.clone());
            configured = report;
            &configured
        }
        None => &run.inputs.report,
    };
    let mut generated = Generated { files: StoredFiles::default(), narrative: None, failures: Vec::new() };
    if !report.sections.is_empty() || included.is_empty() {
        // Narrate once per run: the first entry speaks for the run's shared figures.
        let narrate_here = entry.seq == 0 || report.repeating_source().is_none();
        match document(ctx, workspace, run, entry, report, &entry.parameters, narrate_here, now).await? {
            Ok((files, narrative)) => {
                generated.files = files;
                generated.narrative = narrative;
            }
            Err(reason) if included.is_empty() => return Ok(Err(reason)),
            Err(reason) => generated.failures.push(format!("report `{}`: {reason}", report.code)),
        }
    }
    for (include, other) in report.includes.iter().zip(included) {
        let bound: Map<String, Value> = include
            .bindings
            .iter()
            .filter_map(|(name, binding)| Some((name.clone(), binding.resolve(&entry.parameters, entry.row.as_ref())?)))
            .collect();
        let parameters = match crate::pipeline::start_run::resolve_parameters(other, &bound, run.time()) {
            Ok((values, missing)) if missing.is_empty() => values,
            Ok((_, missing)) => {
                let reason = format!("required parameter `{}` has no value", missing.join("`, `"));
                generated.failures.push(format!("report `{}`: {reason}", other.code));
                continue;
            }
            Err(errors) => {
                generated.failures.push(format!("report `{}`: {errors}", other.code));
                continue;
            }
        };
        match document(ctx, workspace, run, entry, other, &parameters, false, now).await? {
            Ok((files, _)) => generated.files.append(files),
            Err(reason) => generated.failures.push(format!("report `{}`: {reason}", other.code)),
        }
    }
    if generated.files.artifacts.is_empty() && !generated.failures.is_empty() {
        return Ok(Err(generated.failures.join("; ")));
    }
    Ok(Ok(generated))
}

/// One report's files for the entry (and its narrative when `narrate` says so), stored in
/// the blob store; the inner error says why the report could not be generated.
#[allow(clippy::too_many_arguments)]
async fn document(
    ctx: &Context,
    workspace: &Workspace,
    run: &Run,
    entry: &Entry,
    report: &Report,
    parameters: &Map<String, Value>,
    narrate_here: bool,
    now: DateTime<Utc>,
) -> Result<Result<(StoredFiles, Option<NarrativeOutput>), String>, PipelineError> {
    let scope = scope(report, parameters, (entry.row.as_ref(), entry.configuration.as_ref()), &run.inputs.data, run);
    let composed = match build(
        ctx,
        workspace,
        report,
        parameters,
        entry.row.as_ref(),
        &run.inputs.data,
        &scope,
        (now, run.time()),
    )
    .await
    {
        Ok(composed) => composed,
        Err(reason) => return Ok(Err(reason)),
    };
    let narrative = if narrate_here { narrate(ctx, workspace, report, &composed).await } else { None };
    let files = match render_files(report, composed, narrative.clone()).await {
        Ok(files) => files,
        Err(reason) => return Ok(Err(reason)),
    };
    // The report's own files are named after the entry, in the run's folder (no folder per
    // entry: creating ten thousand folders costs a run more than writing its files);
    // included reports' go in a folder of the entry and their code.
    let folder = if report.id == run.inputs.report.id { String::new() } else { format!("{}/", report.code) };
    let mut stored = StoredFiles::default();
    for (format, file) in files {
        let key = format!("ws/{}/runs/{}/{}-{folder}{}", run.workspace_id, run.id, entry.id, file.file_name);
        let bytes = Bytes::from(file.bytes);
        let meta = ctx.blobs.put(&key, bytes.clone(), file.content_type).await?;
        let artifact = Artifact {
            report_id: report.id,
            format,
            key,
            file_name: file.file_name,
            content_type: file.content_type.to_owned(),
            size: meta.size,
            sha256: meta.sha256,
        };
        stored.push(artifact, bytes);
    }
    Ok(Ok((stored, narrative)))
}

/// Fetches the report's sources and composes its document. The repeating source of an
/// entry is the entry's own row; text may name the first row of any source.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn build(
    ctx: &Context,
    workspace: &Workspace,
    report: &Report,
    parameters: &Map<String, Value>,
    row: Option<&Map<String, Value>>,
    data: &Value,
    scope: &Value,
    (now, time): (DateTime<Utc>, RunTime),
) -> Result<Composed, String> {
    let sources = SourceContext {
        store: &ctx.store,
        blobs: ctx.blobs.as_ref(),
        http: &ctx.outbound,
        databases: &ctx.databases,
        workspace,
        parameters,
        data,
        time,
    };
    let mut rows = BTreeMap::new();
    for spec in &report.sources {
        let set = match (spec.role, row) {
            (SourceRole::Repeating, Some(row)) => RowSet::from_objects(vec![row.clone()]),
            _ => fetch(&sources, spec).await.map_err(|e| format!("source `{}`: {e}", spec.name))?,
        };
        rows.insert(spec.name.to_string(), set);
    }
    // Text can name a source's first row (`{customers.name}`, a branding source's address).
    let mut scope = scope.clone();
    if let Value::Object(names) = &mut scope {
        for (name, set) in &rows {
            if let (false, Some(first)) = (names.contains_key(name), set.row_object(0)) {
                names.insert(name.clone(), Value::Object(first));
            }
        }
    }
    compose(report, &rows, &scope, now).map_err(|e| e.to_string())
}

/// The narrative for a composed report, when the report and the workspace ask for one.
pub(crate) async fn narrate(
    ctx: &Context,
    workspace: &Workspace,
    report: &Report,
    composed: &Composed,
) -> Option<NarrativeOutput> {
    if !report.narrative.enabled {
        return None;
    }
    let mut narrator = ctx.narrators.for_workspace(workspace)?;
    let fallback = ctx.narrators.builtin();
    // A model call counts against the workspace's daily cap; past it, the built-in narrator writes.
    if let (Some(cap), true) = (workspace.settings.ai.daily_call_cap, narrator.name() != fallback.name()) {
        let day = ctx.clock.now().date_naive();
        let refusal = match ctx.store.take_ai_call(workspace.id, day, cap).await {
            Ok(true) => None,
            Ok(false) => Some(format!("the workspace's daily cap of {cap} model calls is reached")),
            Err(e) => Some(format!("the model calls of the day could not be counted: {e}")),
        };
        if let Some(reason) = refusal {
            narrator = Arc::new(crate::narrate::Refused { name: narrator.name(), reason });
        }
    }
    let addendum = report.narrative.prompt_addendum.as_deref();
    Some(crate::narrate::narrate_or_fall_back(narrator.as_ref(), fallback.as_ref(), &composed.figures, addendum).await)
}

/// Renders every format of the report off the async threads (rendering is CPU work).
pub(crate) async fn render_files(
    report: &Report,
    composed: Composed,
    narrative: Option<NarrativeOutput>,
) -> Result<Vec<(crate::domain::Format, RenderedFile)>, String> {
    let formats = report.formats.clone();
    let base = report.code.to_string();
    let mut document = composed.document;
    document.narrative = narrative.filter(|n| !n.summary.is_empty() || !n.takeaways.is_empty());
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for format in formats {
            for file in render::render(&document, format, &base).map_err(|e| e.to_string())? {
                out.push((format, file));
            }
        }
        Ok(out)
    })
    .await
    .map_err(|e| match e.try_into_panic() {
        Ok(panic) => format!("rendering {}", super::panic_message(panic.as_ref())),
        Err(e) => format!("rendering stopped unexpectedly: {e}"),
    })?
}

/// What `{…}` placeholders in the report's text can name: parameters (also at the top
/// level), the entry's row (as `row` and under the repeating source's name), the schedule
/// configuration it was made for (`{configuration.name}`), the run's data payload and the run
/// itself.
pub(crate) fn scope(
    report: &Report,
    parameters: &Map<String, Value>,
    (row, configuration): (Option<&Map<String, Value>>, Option<&EntryConfiguration>),
    data: &Value,
    run: &Run,
) -> Value {
    let mut scope = parameters.clone();
    scope.insert("params".into(), Value::Object(parameters.clone()));
    if let Some(configuration) = configuration {
        scope.insert("configuration".into(), json!({"id": configuration.id, "name": configuration.name}));
    }
    if let Some(row) = row {
        scope.insert("row".into(), Value::Object(row.clone()));
        if let Some(source) = report.repeating_source() {
            scope.insert(source.name.to_string(), Value::Object(row.clone()));
        }
    }
    scope.insert("data".into(), data.clone());
    let at = run.scheduled_for.or(run.started_at).unwrap_or(run.created_at);
    scope.insert("run".into(), json!({"id": run.id, "date": at.format("%Y-%m-%d").to_string()}));
    Value::Object(scope)
}
