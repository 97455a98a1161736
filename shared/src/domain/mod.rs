//! The domain model: entities, typed ids, validated values and state machines. No I/O here;
//! everything is plain data with serde in the API's snake_case shape.

mod alert;
mod connection;
mod dataset;
mod destination;
mod ids;
mod interaction;
mod maintenance;
pub mod relative_date;
mod report;
mod run;
mod schedule;
mod secret;
mod temporary_file;
mod token;
pub(crate) mod values;
mod workspace;

pub use alert::*;
pub use connection::*;
pub use dataset::*;
pub use destination::*;
pub use ids::*;
pub use interaction::*;
pub use maintenance::*;
pub use relative_date::RunTime;
pub use report::*;
pub use run::*;
pub use schedule::*;
pub use secret::*;
pub use temporary_file::*;
pub use token::*;
pub use values::*;
pub use workspace::*;
