//! Work queue port: messages carry ids only (the store is the source of truth), so a lost
//! or repeated message is harmless. Adapters: in-process (local server) and SQS.
//!
//! Both adapters pass one contract suite (`contract.rs`), run per adapter as
//! `queue::tests::memory::…` and `queue::tests::sqs::…`.

pub mod memory;
#[cfg(feature = "aws")]
pub mod sqs;

#[cfg(test)]
mod contract;

pub use memory::MemoryQueue;
#[cfg(feature = "aws")]
pub use sqs::SqsQueue;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use chrono::{DateTime, Utc};

use crate::domain::{AlertRuleId, DeliveryId, EntryId, RunId, TemporaryFileId, WorkspaceId};

/// A unit of work for a worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum Job {
    /// Render one entry's reports.
    Render { workspace_id: WorkspaceId, run_id: RunId, entry_id: EntryId },
    /// Deliver one entry (all its deliveries, or one when `delivery_id` is set).
    Deliver {
        workspace_id: WorkspaceId,
        run_id: RunId,
        entry_id: EntryId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delivery_id: Option<DeliveryId>,
    },
    /// Make a run's consolidated review document (a render worker's job).
    ReviewDocument { workspace_id: WorkspaceId, file_id: TemporaryFileId },
    /// Evaluate an alert rule's claimed slot (a render worker's job).
    EvaluateAlert { workspace_id: WorkspaceId, rule_id: AlertRuleId, slot: DateTime<Utc> },
}

/// A received message: the job, a handle to acknowledge it with, and how often it was received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub job: Job,
    pub receipt: String,
    pub receive_count: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue message is not a Herald job: {0}")]
    Malformed(String),
    #[error("unknown or expired receipt")]
    UnknownReceipt,
    #[error("queue backend failed: {0}")]
    Backend(String),
}

/// Parses a queue message body (the JSON of a [`Job`]), as sent by the adapters and as found in
/// the records of an SQS event given to a Lambda function.
pub fn parse_body(body: &str) -> Result<Job, QueueError> {
    serde_json::from_str(body).map_err(|err| {
        let excerpt: String = body.chars().take(80).collect();
        let ellipsis = if body.chars().nth(80).is_some() { "…" } else { "" };
        QueueError::Malformed(format!("{err} (body: `{excerpt}{ellipsis}`)"))
    })
}

/// The message body for a job: its JSON. [`parse_body`] is the inverse.
pub fn job_body(job: &Job) -> Result<String, QueueError> {
    serde_json::to_string(job).map_err(|err| QueueError::Malformed(err.to_string()))
}

#[async_trait]
pub trait Queue: Send + Sync {
    /// Enqueues jobs (batched by the adapter).
    async fn send(&self, jobs: &[Job]) -> Result<(), QueueError>;
    /// Up to `max` jobs, waiting at most `wait` for the first. Received jobs are invisible to
    /// other receivers until acknowledged or until the visibility timeout passes.
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>, QueueError>;
    /// Removes a received job for good.
    async fn ack(&self, receipt: &str) -> Result<(), QueueError>;
    /// Makes a received job visible again after `delay`.
    async fn retry_later(&self, receipt: &str, delay: Duration) -> Result<(), QueueError>;
}

#[cfg(test)]
mod tests {
    //! The contract suite, instantiated once per adapter.

    use super::*;
    use chrono::Utc;

    /// Defines one test per contract case; `$fixture` is an async fn returning
    /// `Option<(impl Queue, Duration)>` (the queue and its visibility timeout; `None` skips).
    macro_rules! queue_contract_tests {
        ($fixture:path => $($case:ident),+ $(,)?) => {$(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some((queue, visibility_timeout)) = $fixture().await else {
                    return;
                };
                $crate::queue::contract::$case(&queue, visibility_timeout).await;
            }
        )+};
    }

    macro_rules! all_queue_contract_tests {
        ($fixture:path) => {
            queue_contract_tests!($fixture =>
                sent_jobs_are_received_with_their_exact_contents,
                acked_jobs_are_not_received_again,
                unacked_jobs_reappear_after_the_visibility_timeout,
                retried_jobs_become_visible_again_after_the_delay,
                receiving_from_an_empty_queue_returns_nothing_after_the_wait,
                a_waiting_receiver_gets_a_job_sent_during_the_wait,
                more_jobs_than_one_batch_are_each_delivered_exactly_once,
                concurrent_receivers_never_get_the_same_job,
                unknown_receipts_are_rejected,
            );
        };
    }

    mod memory {
        use super::*;

        async fn fixture() -> Option<(MemoryQueue, Duration)> {
            let visibility_timeout = Duration::from_millis(300);
            Some((MemoryQueue::new(visibility_timeout), visibility_timeout))
        }

        all_queue_contract_tests!(fixture);
    }

    mod sqs {
        async fn fixture() -> Option<(super::SqsQueue, super::Duration)> {
            crate::queue::sqs::test_support::fixture().await
        }

        all_queue_contract_tests!(fixture);
    }

    fn some_job() -> Job {
        let now = Utc::now();
        Job::Render {
            workspace_id: WorkspaceId::generate(now),
            run_id: RunId::generate(now),
            entry_id: EntryId::generate(now),
        }
    }

    #[test]
    fn a_job_body_parses_back_to_the_same_job() {
        let job = some_job();
        assert_eq!(parse_body(&job_body(&job).unwrap()).unwrap(), job);
    }

    #[test]
    fn a_body_that_is_not_a_job_is_malformed() {
        for body in ["", "not json", "{}", r#"{"job":"render"}"#, r#"{"job":"explode"}"#] {
            let err = parse_body(body).unwrap_err();
            assert!(matches!(err, QueueError::Malformed(_)), "{body}: {err:?}");
        }
    }

    #[test]
    fn a_malformed_error_quotes_only_the_start_of_a_long_body() {
        let body = "x".repeat(10_000);
        let QueueError::Malformed(message) = parse_body(&body).unwrap_err() else {
            panic!("expected Malformed");
        };
        assert!(message.len() < 300, "{message}");
    }

    #[test]
    fn the_wire_format_of_a_deliver_job_is_tagged_snake_case() {
        let now = Utc::now();
        let job = Job::Deliver {
            workspace_id: WorkspaceId::generate(now),
            run_id: RunId::generate(now),
            entry_id: EntryId::generate(now),
            delivery_id: None,
        };
        let body: serde_json::Value = serde_json::from_str(&job_body(&job).unwrap()).unwrap();
        assert_eq!(body["job"], "deliver");
        assert!(body.get("delivery_id").is_none());
    }
}
