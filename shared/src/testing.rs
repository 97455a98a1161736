//! Test support shared by the contract suites and the black-box tests: access to the local
//! AWS emulator, which must be running (`make test` starts it) unless AWS tests are skipped
//! on purpose.

use aws_config::SdkConfig;

/// The SDK configuration for the local AWS emulator named by `AWS_ENDPOINT_URL`.
///
/// Returns `None` (and says so on stderr) only when `HERALD_SKIP_AWS_TESTS=1`; without an
/// endpoint otherwise it panics, so a missing emulator is a failure and never a silent pass.
pub async fn emulator() -> Option<SdkConfig> {
    if std::env::var("HERALD_SKIP_AWS_TESTS").is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED: AWS emulator tests (HERALD_SKIP_AWS_TESTS=1)");
        return None;
    }
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    assert!(
        endpoint.starts_with("http://127.0.0.1") || endpoint.starts_with("http://localhost"),
        "AWS_ENDPOINT_URL must name the local AWS emulator (got `{endpoint}`): run `make test`, \
         or set HERALD_SKIP_AWS_TESTS=1 to skip the AWS contract tests explicitly"
    );
    Some(crate::aws::load_sdk_config().await)
}

/// A resource name unique to this test process and call, for tests sharing one emulator.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
