//! Route handlers, one module per resource.

pub mod blobs;
pub mod cron;
pub mod datasets;
pub mod destinations;
pub mod interactions;
pub mod maintenance;
pub mod preview;
pub mod reports;
pub mod runs;
pub mod schedules;
pub mod suppressions;
pub mod system;
pub mod tokens;
pub mod workspaces;
