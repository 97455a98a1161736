//! The deliver Lambda: consumes the deliver queue (SQS batches, failed records reported back).

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use herald_core::config::Config;
use herald_core::context::Context;
use herald_core::lambda::{Worker, handle_sqs};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    herald_core::telemetry::init(config.log_format);
    let ctx = Arc::new(Context::from_config(config).await?);
    let handler = service_fn(move |event: LambdaEvent<SqsEvent>| {
        let ctx = ctx.clone();
        async move { Ok::<_, lambda_runtime::Error>(handle_sqs(&ctx, Worker::Deliver, event.payload).await) }
    });
    lambda_runtime::run(handler).await.map_err(|e| anyhow::anyhow!(e))
}
