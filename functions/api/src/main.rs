//! The API Lambda: the whole HTTP API behind API Gateway (HTTP API, payload v2).

use std::sync::Arc;

use herald_core::config::Config;
use herald_core::context::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    herald_core::telemetry::init(config.log_format);
    let ctx = Arc::new(Context::from_config(config).await?);
    lambda_http::run(herald_core::http::router(ctx)).await.map_err(|e| anyhow::anyhow!(e))
}
