//! Route handlers, one module per resource.

pub mod alerts;
pub mod blobs;
pub mod connections;
pub mod cron;
pub mod datasets;
pub mod destinations;
pub mod interactions;
pub mod jobs;
pub mod maintenance;
pub mod preview;
pub mod reports;
pub mod review;
pub mod runs;
pub mod scheduled_reports;
pub mod schedules;
pub mod suppressions;
pub mod system;
pub mod temporary_files;
pub mod tokens;
pub mod workspaces;
