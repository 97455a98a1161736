//! Lambda handlers for the event-driven functions, kept here so `herald invoke`, the local
//! workers and the tests run exactly what AWS runs. Event shapes match `template.yaml`:
//! EventBridge Scheduler delivers the schedule's `Input` as is (`{"task": "tick"}`), and SQS
//! batches report their failed records so only those are retried ([`events`], with the `aws`
//! feature).

#[cfg(feature = "aws")]
mod events;
#[cfg(feature = "aws")]
pub use events::{Function, InvokeError, handle_sqs, invoke};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::context::Context;
use crate::pipeline::{PipelineError, deliver_entry, maintenance, render_entry, review, review_document, tick};
use crate::queue::Job;

/// What a scheduled invocation of the tick function asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    Tick,
    ExportInteractions,
    Cleanup,
    ApprovalsExpire,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TickEvent {
    pub task: Task,
}

/// The tick function: runs the task and returns its report.
pub async fn handle_tick(ctx: &Context, event: TickEvent) -> Result<Value, PipelineError> {
    let report = match event.task {
        Task::Tick => serde_json::to_value(tick::tick(ctx).await?),
        Task::ExportInteractions => serde_json::to_value(maintenance::export::export_interactions(ctx).await?),
        Task::Cleanup => serde_json::to_value(maintenance::cleanup::cleanup(ctx).await?),
        Task::ApprovalsExpire => serde_json::to_value(review::expire_approvals(ctx, ctx.clock.now()).await?),
    };
    Ok(report.unwrap_or(Value::Null))
}

/// Which queue a function consumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worker {
    Render,
    Deliver,
}

/// Runs one job of a worker.
pub async fn run_job(ctx: &Context, worker: Worker, job: &Job) -> Result<(), PipelineError> {
    match (worker, job) {
        (Worker::Render, Job::Render { workspace_id, run_id, entry_id }) => {
            // Boxed: the pipeline futures are large, and the handler stays small to lay out.
            Box::pin(render_entry::render_entry(ctx, *workspace_id, *run_id, *entry_id)).await.map(|_| ())
        }
        (Worker::Render, Job::ReviewDocument { workspace_id, file_id }) => {
            Box::pin(review_document::make_review_document(ctx, *workspace_id, *file_id)).await
        }
        (Worker::Render, Job::EvaluateAlert { workspace_id, rule_id, slot }) => {
            Box::pin(crate::pipeline::alerts::evaluate_claimed(ctx, *workspace_id, *rule_id, *slot)).await.map(|_| ())
        }
        (Worker::Deliver, Job::Deliver { workspace_id, run_id, entry_id, delivery_id }) => {
            let job = deliver_entry::deliver_entry(ctx, *workspace_id, (*run_id, *entry_id), *delivery_id);
            Box::pin(job).await.map(|_| ())
        }
        _ => Err(PipelineError::Queue(crate::queue::QueueError::Malformed(format!(
            "a {worker:?} worker cannot run {job:?}"
        )))),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// A sample event of `events/`.
    pub(super) fn event(name: &str) -> String {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events").join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn every_scheduler_event_in_events_names_a_task() {
        for (file, task) in [
            ("tick.json", Task::Tick),
            ("maintenance-export-interactions.json", Task::ExportInteractions),
            ("maintenance-cleanup.json", Task::Cleanup),
            ("maintenance-approvals-expire.json", Task::ApprovalsExpire),
        ] {
            let parsed: TickEvent = serde_json::from_str(&event(file)).unwrap();
            assert_eq!(parsed.task, task, "{file}");
        }
    }

    #[test]
    fn an_unknown_task_is_refused_when_the_event_is_read() {
        assert!(serde_json::from_str::<TickEvent>(r#"{"task":"reboot"}"#).is_err());
    }
}
