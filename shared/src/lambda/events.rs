//! The AWS side of the functions: SQS batches for the render and deliver functions, and
//! `herald invoke`, which runs any function's handler on one sample event (API Gateway
//! requests included).

use std::sync::Arc;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use serde_json::Value;

use super::{TickEvent, Worker, handle_tick, run_job};
use crate::context::Context;
use crate::pipeline::PipelineError;
use crate::queue::parse_body;

/// The render and deliver functions: every record is a job; records that fail (including
/// malformed ones, which then reach the dead-letter queue) are reported for retry.
pub async fn handle_sqs(ctx: &Context, worker: Worker, event: SqsEvent) -> SqsBatchResponse {
    let mut failures = Vec::new();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let outcome = match parse_body(record.body.as_deref().unwrap_or_default()) {
            Ok(job) => run_job(ctx, worker, &job).await,
            Err(e) => Err(e.into()),
        };
        if let Err(error) = outcome {
            tracing::error!(message_id = %id, %error, "job failed");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failures.push(failure);
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}

/// One of the four functions, by the name `template.yaml` and `events/` use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Api,
    Tick,
    Render,
    Deliver,
}

impl std::str::FromStr for Function {
    type Err = InvokeError;

    fn from_str(name: &str) -> Result<Self, InvokeError> {
        match name {
            "api" => Ok(Function::Api),
            "tick" => Ok(Function::Tick),
            "render" => Ok(Function::Render),
            "deliver" => Ok(Function::Deliver),
            other => Err(InvokeError::UnknownFunction(other.to_owned())),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("unknown function `{0}`: use api, tick, render or deliver")]
    UnknownFunction(String),
    #[error("the event is not what the {function} function receives: {message}")]
    Event { function: &'static str, message: String },
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
}

/// Runs `function`'s real handler on one event (the JSON a Lambda invocation receives) and
/// returns what the function would answer: the local stand-in for `sam local invoke`.
pub async fn invoke(ctx: Arc<Context>, function: Function, event: &str) -> Result<Value, InvokeError> {
    let bad =
        |function: &'static str, e: &dyn std::fmt::Display| InvokeError::Event { function, message: e.to_string() };
    match function {
        Function::Tick => {
            let event: TickEvent = serde_json::from_str(event).map_err(|e| bad("tick", &e))?;
            Ok(handle_tick(&ctx, event).await?)
        }
        Function::Render | Function::Deliver => {
            let (name, worker) =
                if function == Function::Render { ("render", Worker::Render) } else { ("deliver", Worker::Deliver) };
            let event: SqsEvent = serde_json::from_str(event).map_err(|e| bad(name, &e))?;
            let response = handle_sqs(&ctx, worker, event).await;
            serde_json::to_value(response).map_err(|e| bad(name, &e))
        }
        Function::Api => {
            use tower::ServiceExt;
            let request = lambda_http::request::from_str(event).map_err(|e| bad("api", &e))?;
            let (parts, body) = request.into_parts();
            let request = http::Request::from_parts(parts, axum::body::Body::from(body.to_vec()));
            let response = match crate::http::router(ctx).oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await.map_err(|e| bad("api", &e))?;
            let headers: serde_json::Map<String, Value> = parts
                .headers
                .iter()
                .filter_map(|(k, v)| Some((k.to_string(), Value::String(v.to_str().ok()?.to_owned()))))
                .collect();
            let (body, base64) = match std::str::from_utf8(&bytes) {
                Ok(text) => (text.to_owned(), false),
                Err(_) => {
                    use base64::Engine;
                    (base64::engine::general_purpose::STANDARD.encode(&bytes), true)
                }
            };
            Ok(serde_json::json!({
                "statusCode": parts.status.as_u16(),
                "headers": headers,
                "body": body,
                "isBase64Encoded": base64,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lambda::tests::event;
    use crate::queue::Job;

    #[test]
    fn the_sample_sqs_batches_carry_jobs_for_their_worker() {
        for (file, render) in [("sqs-render.json", true), ("sqs-deliver.json", false)] {
            let batch: SqsEvent = serde_json::from_str(&event(file)).unwrap();
            assert!(!batch.records.is_empty());
            for record in batch.records {
                let job = parse_body(record.body.as_deref().unwrap()).unwrap();
                assert_eq!(matches!(job, Job::Render { .. }), render, "{file}");
            }
        }
    }
}
