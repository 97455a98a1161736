//! Herald's core: everything that is not a binary. The Lambda functions, the `herald` CLI and
//! the black-box tests all run this crate's code, so the local server and AWS behave alike.

pub mod aws;
pub mod blob;
pub mod clock;
pub mod domain;
pub mod queue;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
