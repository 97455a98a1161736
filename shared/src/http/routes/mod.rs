//! Route handlers, one module per resource.

pub mod blobs;
pub mod runs;
pub mod system;
pub mod tokens;
pub mod workspaces;
