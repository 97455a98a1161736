//! Use-cases that move work along: the tick and the recovery sweep (rendering, delivery and
//! maintenance tasks join here as they are built). Each step is idempotent and guarded by a
//! conditional transition in the store, so a repeated message or a second worker does nothing.

pub mod admin;
pub mod alerts;
pub mod cancel;
pub mod deliver_entry;
pub mod demo_data;
pub mod maintenance;
pub mod preview;
pub mod recovery;
pub mod render_entry;
pub mod review;
pub mod review_document;
pub mod scheduled_reports;
pub mod schedules;
pub mod start_run;
pub mod tick;
pub mod workers;

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;

use crate::queue::QueueError;
use crate::store::StoreError;

/// Runs one entry's work so that a panic in it (a renderer or a narrator meeting content it
/// cannot handle) comes back as `Err(reason)` instead of unwinding into the worker, which
/// goes on with the other entries. Release builds unwind (see the crate root), so this holds
/// in the binaries users run.
pub(crate) async fn isolated<T>(work: impl Future<Output = T>) -> Result<T, String> {
    AssertUnwindSafe(work).catch_unwind().await.map_err(|panic| {
        let reason = panic_message(panic.as_ref());
        tracing::error!(%reason, "a panic was contained to its entry");
        reason
    })
}

/// What a caught panic said, for the entry's record.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    let said = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into());
    format!("stopped unexpectedly (an internal error: {said})")
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Invalid(#[from] crate::domain::ValidationErrors),
    #[error(transparent)]
    Blob(#[from] crate::blob::BlobError),
    /// The report cannot be generated as it stands (a source failed, a section names a
    /// column its source lacks); the message says why.
    #[error("{0}")]
    Generation(String),
    /// The capability this job needs is not part of this build yet.
    #[error("{0} is not available in this version of Herald")]
    NotAvailable(&'static str),
}
