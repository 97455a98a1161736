//! Amazon SQS adapter of the work queue, used by the Lambda deployment (the render and deliver
//! queues, each with a dead-letter queue configured in `template.yaml`).
//!
//! - A message body is the JSON of a [`Job`] ([`super::job_body`] / [`super::parse_body`]).
//! - `send` uses SendMessageBatch, 10 messages per call; entries that fail are retried once,
//!   then the call fails naming how many jobs were not sent.
//! - `receive` uses ReceiveMessage with long polling (`wait` in whole seconds, at most 20) and
//!   at most 10 messages; `receive_count` is SQS's `ApproximateReceiveCount`. A message whose
//!   body is not a job is deleted (and logged) rather than returned, so a poison message
//!   cannot loop until it reaches the dead-letter queue.
//! - `ack` is DeleteMessage; `retry_later` is ChangeMessageVisibility (whole seconds, rounded
//!   up, at most 12 hours).
//!
//! SQS may deliver a message more than once; every job is idempotent, so that is harmless.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_sqs::types::{MessageSystemAttributeName, SendMessageBatchRequestEntry};

use super::{Job, Queue, QueueError, Received, job_body, parse_body};

/// Most messages SQS accepts in one SendMessageBatch or returns from one ReceiveMessage.
const MAX_BATCH: usize = 10;
/// Longest long-poll SQS allows, in seconds.
const MAX_WAIT_SECONDS: u64 = 20;
/// Longest visibility timeout SQS allows, in seconds (12 hours).
const MAX_VISIBILITY_SECONDS: u64 = 43_200;

/// Error codes meaning "this receipt handle is not (or no longer) valid".
const RECEIPT_ERROR_CODES: &[&str] = &[
    "ReceiptHandleIsInvalid",
    "AWS.SimpleQueueService.ReceiptHandleIsInvalid",
    "InvalidIdFormat",
    "MessageNotInflight",
    "AWS.SimpleQueueService.MessageNotInflight",
];

/// A work queue backed by one SQS standard queue.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
}

impl SqsQueue {
    /// A queue adapter for the SQS queue at `queue_url`.
    pub fn new(client: Client, queue_url: String) -> Self {
        Self { client, queue_url }
    }

    /// The URL of the SQS queue.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Sends the bodies at `pending` (indexes into `bodies`) in one SendMessageBatch and
    /// returns the indexes that failed, each with its error.
    async fn send_batch(&self, bodies: &[String], pending: &[usize]) -> Result<Vec<(usize, String)>, QueueError> {
        let mut entries = Vec::with_capacity(pending.len());
        for &index in pending {
            let entry = SendMessageBatchRequestEntry::builder()
                .id(index.to_string())
                .message_body(&bodies[index])
                .build()
                .map_err(|err| backend("SendMessageBatch", &err))?;
            entries.push(entry);
        }
        let output = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|err| backend("SendMessageBatch", &err))?;

        let failed = pending
            .iter()
            .filter(|index| {
                let id = index.to_string();
                !output.successful().iter().any(|ok| ok.id() == id)
            })
            .map(|&index| {
                let id = index.to_string();
                let reason = output.failed().iter().find(|entry| entry.id() == id).map_or_else(
                    || "not reported as sent".to_owned(),
                    |entry| match entry.message() {
                        Some(message) => format!("{}: {message}", entry.code()),
                        None => entry.code().to_owned(),
                    },
                );
                (index, reason)
            })
            .collect();
        Ok(failed)
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, jobs: &[Job]) -> Result<(), QueueError> {
        let mut sent = 0usize;
        let mut not_sent = 0usize;
        let mut first_reason: Option<String> = None;
        for chunk in jobs.chunks(MAX_BATCH) {
            let bodies = chunk.iter().map(job_body).collect::<Result<Vec<_>, _>>()?;
            let all: Vec<usize> = (0..bodies.len()).collect();
            let failed = self.send_batch(&bodies, &all).await.map_err(|err| {
                QueueError::Backend(format!("{err} ({sent} of {} jobs were sent before)", jobs.len()))
            })?;
            let failed = if failed.is_empty() {
                failed
            } else {
                let retry: Vec<usize> = failed.iter().map(|(index, _)| *index).collect();
                self.send_batch(&bodies, &retry).await.map_err(|err| {
                    QueueError::Backend(format!(
                        "{err} (retrying {} failed entries; {sent} of {} jobs were sent before)",
                        retry.len(),
                        jobs.len()
                    ))
                })?
            };
            sent += bodies.len() - failed.len();
            not_sent += failed.len();
            if first_reason.is_none() {
                first_reason = failed.into_iter().next().map(|(_, reason)| reason);
            }
        }
        match not_sent {
            0 => Ok(()),
            _ => Err(QueueError::Backend(format!(
                "{not_sent} of {} jobs could not be sent to SQS (after one retry): {}",
                jobs.len(),
                first_reason.unwrap_or_default()
            ))),
        }
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>, QueueError> {
        let max = max.min(MAX_BATCH);
        if max == 0 {
            return Ok(Vec::new());
        }
        let wait_seconds = wait.as_secs().min(MAX_WAIT_SECONDS);
        let output = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(i32::try_from(max).unwrap_or(10))
            .wait_time_seconds(i32::try_from(wait_seconds).unwrap_or(20))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|err| backend("ReceiveMessage", &err))?;

        let mut received = Vec::with_capacity(output.messages().len());
        for message in output.messages() {
            let message_id = message.message_id().unwrap_or("?");
            let Some(receipt) = message.receipt_handle() else {
                tracing::warn!(message_id, "SQS message without a receipt handle ignored");
                continue;
            };
            match parse_body(message.body().unwrap_or_default()) {
                Ok(job) => {
                    let receive_count = message
                        .attributes()
                        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                        .and_then(|count| count.parse().ok())
                        .unwrap_or(1);
                    received.push(Received { job, receipt: receipt.to_owned(), receive_count });
                }
                Err(err) => {
                    // A poison message would otherwise come back until it reaches the DLQ,
                    // failing every time: drop it now.
                    tracing::warn!(
                        message_id,
                        queue_url = %self.queue_url,
                        error = %err,
                        "deleting an SQS message that is not a Herald job"
                    );
                    if let Err(delete_err) = self.ack(receipt).await {
                        tracing::warn!(
                            message_id,
                            error = %delete_err,
                            "could not delete a malformed SQS message"
                        );
                    }
                }
            }
        }
        Ok(received)
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .send()
            .await
            .map(|_| ())
            .map_err(|err| receipt_error("DeleteMessage", &err))
    }

    async fn retry_later(&self, receipt: &str, delay: Duration) -> Result<(), QueueError> {
        let mut seconds = delay.as_secs();
        if delay.subsec_nanos() > 0 {
            seconds += 1;
        }
        let seconds = seconds.min(MAX_VISIBILITY_SECONDS);
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(i32::try_from(seconds).unwrap_or(43_200))
            .send()
            .await
            .map(|_| ())
            .map_err(|err| receipt_error("ChangeMessageVisibility", &err))
    }
}

/// A backend error naming the operation, with the SDK's full error context.
fn backend(operation: &str, err: &(dyn std::error::Error + 'static)) -> QueueError {
    QueueError::Backend(format!("SQS {operation}: {}", DisplayErrorContext(err)))
}

/// [`QueueError::UnknownReceipt`] when SQS rejected the receipt handle, otherwise a backend
/// error.
fn receipt_error<E>(operation: &str, err: &E) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = err.code().unwrap_or_default();
    let message = err.message().unwrap_or_default();
    // Real SQS reports a receipt of a message that is gone as InvalidParameterValue.
    let receipt_rejected =
        RECEIPT_ERROR_CODES.contains(&code) || (code == "InvalidParameterValue" && message.contains("ReceiptHandle"));
    if receipt_rejected { QueueError::UnknownReceipt } else { backend(operation, err) }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! A fresh SQS queue on the local emulator per test.

    use std::time::Duration;

    use aws_sdk_sqs::types::QueueAttributeName;

    use super::SqsQueue;

    /// Visibility timeout of the queues the contract suite runs on.
    pub const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(1);

    pub async fn client() -> Option<aws_sdk_sqs::Client> {
        let config = crate::testing::emulator().await?;
        Some(aws_sdk_sqs::Client::new(&config))
    }

    /// Creates a queue with a unique name and the given extra attributes; returns its URL.
    pub async fn create_queue(client: &aws_sdk_sqs::Client, attributes: &[(QueueAttributeName, String)]) -> String {
        let mut request = client
            .create_queue()
            .queue_name(crate::testing::unique_name("herald-q"))
            .attributes(QueueAttributeName::VisibilityTimeout, VISIBILITY_TIMEOUT.as_secs().to_string());
        for (name, value) in attributes {
            request = request.attributes(name.clone(), value);
        }
        let output = request.send().await.unwrap();
        output.queue_url().unwrap().to_owned()
    }

    pub async fn fixture() -> Option<(SqsQueue, Duration)> {
        let client = client().await?;
        let url = create_queue(&client, &[]).await;
        Some((SqsQueue::new(client, url), VISIBILITY_TIMEOUT))
    }
}

#[cfg(test)]
mod tests {
    //! SQS-only behaviour that production relies on, checked against the emulator.

    use std::time::{Duration, Instant};

    use aws_sdk_sqs::types::QueueAttributeName;

    use super::test_support::{VISIBILITY_TIMEOUT, client, create_queue};
    use super::*;
    use crate::testing::fixtures::render_job as job;

    async fn queue_arn(client: &Client, url: &str) -> String {
        let attributes = client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap();
        attributes.attributes().unwrap().get(&QueueAttributeName::QueueArn).unwrap().clone()
    }

    /// Visible + in-flight messages, as SQS counts them.
    async fn message_count(client: &Client, url: &str) -> u64 {
        let output = client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap();
        let attributes = output.attributes().unwrap();
        [QueueAttributeName::ApproximateNumberOfMessages, QueueAttributeName::ApproximateNumberOfMessagesNotVisible]
            .iter()
            .map(|name| attributes[name].parse::<u64>().unwrap())
            .sum()
    }

    /// Receives until one job arrives or `within` passes.
    async fn receive_one(queue: &SqsQueue, within: Duration) -> Option<Received> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(r) = queue.receive(1, Duration::from_secs(1)).await.unwrap().pop() {
                return Some(r);
            }
        }
        None
    }

    #[tokio::test]
    async fn a_message_unacked_more_often_than_max_receive_count_moves_to_the_dead_letter_queue() {
        let Some(client) = client().await else {
            return;
        };
        let dlq_url = create_queue(&client, &[]).await;
        let dlq_arn = queue_arn(&client, &dlq_url).await;
        let policy = format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"1"}}"#);
        let url = create_queue(&client, &[(QueueAttributeName::RedrivePolicy, policy)]).await;
        let queue = SqsQueue::new(client.clone(), url.clone());
        let dlq = SqsQueue::new(client.clone(), dlq_url.clone());

        let sent = job();
        queue.send(std::slice::from_ref(&sent)).await.unwrap();
        let first = receive_one(&queue, Duration::from_secs(5)).await.unwrap();
        assert_eq!(first.receive_count, 1);
        // Not acked: once the visibility timeout passes, the next receive moves it to the DLQ
        // instead of handing it out a second time.
        tokio::time::sleep(VISIBILITY_TIMEOUT + Duration::from_millis(200)).await;
        let second = queue.receive(10, Duration::from_secs(1)).await.unwrap();
        assert!(second.is_empty(), "redelivered instead of dead-lettered: {second:?}");

        let dead = receive_one(&dlq, Duration::from_secs(5)).await.unwrap();
        assert_eq!(dead.job, sent, "the same message, body intact");
        assert_eq!(message_count(&client, &url).await, 0);
        dlq.ack(&dead.receipt).await.unwrap();
    }

    #[tokio::test]
    async fn a_message_that_is_not_a_job_is_deleted_and_not_returned() {
        let Some(client) = client().await else {
            return;
        };
        let url = create_queue(&client, &[]).await;
        let queue = SqsQueue::new(client.clone(), url.clone());
        client.send_message().queue_url(&url).message_body(r#"{"hello":"world"}"#).send().await.unwrap();
        let good = job();
        queue.send(std::slice::from_ref(&good)).await.unwrap();

        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while got.is_empty() && Instant::now() < deadline {
            got = queue.receive(10, Duration::from_secs(1)).await.unwrap();
        }
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].job, good);
        queue.ack(&got[0].receipt).await.unwrap();

        // The poison message was deleted, not merely hidden.
        tokio::time::sleep(VISIBILITY_TIMEOUT + Duration::from_millis(200)).await;
        assert_eq!(message_count(&client, &url).await, 0);
        assert!(queue.receive(10, Duration::from_secs(1)).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_acked_receipt_can_be_acked_again_without_error() {
        // SQS treats deleting an already deleted message as success; the pipeline may ack a
        // redelivered job's old receipt, and that must not surface as a failure.
        let Some(client) = client().await else {
            return;
        };
        let url = create_queue(&client, &[]).await;
        let queue = SqsQueue::new(client, url);
        queue.send(&[job()]).await.unwrap();
        let got = receive_one(&queue, Duration::from_secs(5)).await.unwrap();
        queue.ack(&got.receipt).await.unwrap();
        queue.ack(&got.receipt).await.unwrap();
    }

    #[tokio::test]
    async fn sending_to_a_missing_queue_is_a_backend_error() {
        let Some(client) = client().await else {
            return;
        };
        let url = create_queue(&client, &[]).await;
        client.delete_queue().queue_url(&url).send().await.unwrap();
        let queue = SqsQueue::new(client, url);
        let err = queue.send(&[job()]).await.unwrap_err();
        assert!(matches!(err, QueueError::Backend(_)), "{err:?}");
    }
}
