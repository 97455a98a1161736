//! Function start-up: what a Lambda function does before it can take its first event — read
//! the configuration from the environment and build the context (the AWS SDK configuration,
//! the DynamoDB, S3 and SQS adapters, the senders, the narrators, the outbound client). Printed
//! as cold (first in the process) and warm (later) figures; the target is under 50 ms cold.
//! The Lambda runtime's own bootstrap and the process start (a few ms for a static binary)
//! come on top. Run by `make bench` with the emulator's environment, as on AWS.

use std::time::{Duration, Instant};

use herald_core::config::Config;
use herald_core::context::Context;

/// The environment of a function as `template.yaml` sets it (names only; the emulator's
/// endpoint and credentials come from the environment `make bench` exports).
fn lambda_env(name: &str) -> Option<String> {
    let value = match name {
        "HERALD_STORE" => "dynamodb:herald-bench-init",
        "HERALD_BLOBS" => "s3:herald-bench-init",
        "HERALD_QUEUE" => "sqs",
        "HERALD_RENDER_QUEUE_URL" => "http://127.0.0.1:1/000000000000/render",
        "HERALD_DELIVER_QUEUE_URL" => "http://127.0.0.1:1/000000000000/deliver",
        "HERALD_EMAIL_SENDER" => "reports@example.com",
        "HERALD_LOG_FORMAT" => "json",
        "CRON_SECRET" => "bench-secret",
        _ => return std::env::var(name).ok(),
    };
    Some(value.to_owned())
}

async fn start() -> Duration {
    let started = Instant::now();
    let config = Config::from_lookup(lambda_env).expect("config");
    let ctx = Context::from_config(config).await.expect("context");
    let took = started.elapsed();
    drop(ctx);
    took
}

fn main() {
    if std::env::var("AWS_ENDPOINT_URL").is_err() {
        // Without credentials the SDK's provider chain would probe instance metadata.
        eprintln!("init bench: set AWS_ENDPOINT_URL and credentials (make bench does) to measure AWS start-up");
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let cold = runtime.block_on(start());
    let mut warm: Vec<Duration> = (0..50).map(|_| runtime.block_on(start())).collect();
    warm.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("function init (config + context with DynamoDB, S3, SQS, SES, Bedrock adapters)");
    println!("  cold: {:>7.2} ms   (target < 50 ms)", ms(cold));
    println!(
        "  warm: {:>7.2} ms p50, {:.2} ms p99 over {} starts",
        ms(warm[warm.len() / 2]),
        ms(warm[warm.len() * 99 / 100]),
        warm.len()
    );
}
