//! Work queue port: messages carry ids only (the store is the source of truth), so a lost
//! or repeated message is harmless. Adapters: in-process (local server) and SQS.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{DeliveryId, EntryId, RunId, WorkspaceId};

/// A unit of work for a worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum Job {
    /// Render one entry's reports.
    Render {
        workspace_id: WorkspaceId,
        run_id: RunId,
        entry_id: EntryId,
    },
    /// Deliver one entry (all its deliveries, or one when `delivery_id` is set).
    Deliver {
        workspace_id: WorkspaceId,
        run_id: RunId,
        entry_id: EntryId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delivery_id: Option<DeliveryId>,
    },
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
