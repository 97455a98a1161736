//! Herald's core: everything that is not a binary. The Lambda functions, the `herald` CLI and
//! the black-box tests all run this crate's code, so the local server and AWS behave alike.

// The AWS adapters (and the SDKs they need) are compiled only with the `aws` feature: the Lambda
// functions turn it on, the local `herald` binary runs without it unless built with it. A
// configuration that asks for AWS in a build without it is refused with
// [`config::WITHOUT_AWS`].

// A panic on one entry's content (a renderer, a narrator, a PDF merge) is caught where the
// entry is worked on and fails that entry alone; with `panic = "abort"` it would end the
// process (the API with it, or the Lambda sandbox, whose queue would then redeliver the
// poison message until the dead-letter queue). Refuse such a build outright.
#[cfg(panic = "abort")]
compile_error!(
    "herald-core isolates panics per entry by unwinding: build with `panic = \"unwind\"` (the default), \
     not `panic = \"abort\"`"
);

#[cfg(feature = "aws")]
pub mod aws;
pub mod blob;
pub mod clock;
pub mod config;
pub mod context;
pub mod deliver;
pub mod demo;
pub mod domain;
pub mod google;
pub mod http;
pub mod lambda;
pub mod narrate;
pub mod net;
pub mod pipeline;
pub mod queue;
pub mod render;
pub mod schedule;
pub mod source;
pub mod store;
pub mod telemetry;
pub mod template;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod wiring;
