//! Use-cases that move work along: the tick and the recovery sweep (rendering, delivery and
//! maintenance tasks join here as they are built). Each step is idempotent and guarded by a
//! conditional transition in the store, so a repeated message or a second worker does nothing.

pub mod admin;
pub mod cancel;
pub mod deliver_entry;
pub mod demo_data;
pub mod maintenance;
pub mod preview;
pub mod recovery;
pub mod render_entry;
pub mod review;
pub mod review_document;
pub mod schedules;
pub mod start_run;
pub mod tick;
pub mod workers;

use crate::queue::QueueError;
use crate::store::StoreError;

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
