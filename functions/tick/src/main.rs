//! The tick Lambda: invoked by EventBridge Scheduler with `{"task": …}` (the tick every minute
//! and the maintenance tasks on their own schedules).

use std::sync::Arc;

use herald_core::config::Config;
use herald_core::context::Context;
use herald_core::lambda::{TickEvent, handle_tick};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    herald_core::telemetry::init(config.log_format);
    let ctx = Arc::new(Context::from_config(config).await?);
    let handler = service_fn(move |event: LambdaEvent<TickEvent>| {
        let ctx = ctx.clone();
        async move { handle_tick(&ctx, event.payload).await.map_err(lambda_runtime::Error::from) }
    });
    lambda_runtime::run(handler).await.map_err(|e| anyhow::anyhow!(e))
}
