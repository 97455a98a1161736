//! AWS SDK configuration shared by every AWS adapter: region, credentials and endpoint come
//! from the standard environment (`AWS_REGION`, `AWS_ENDPOINT_URL`, …), loaded once.

use aws_config::{BehaviorVersion, SdkConfig};

/// Loads the SDK configuration from the environment.
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// An S3 client. With a custom endpoint (a local emulator) requests use path-style addressing,
/// because `bucket.localhost` does not resolve.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let path_style = config.endpoint_url().is_some();
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(config).force_path_style(path_style).build())
}
