//! Amazon SES v2: the built message sent as raw MIME with `SendEmail`. The SES MessageId is the
//! receipt. Throttling, server errors, timeouts and connection failures are transient; rejected
//! messages, unverified senders, suspended accounts and invalid requests are permanent.

use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};

use super::mime::BuiltEmail;
use crate::deliver::{Receipt, SendError};

/// Sends through one SES v2 client.
#[derive(Debug, Clone)]
pub struct SesSender {
    client: aws_sdk_sesv2::Client,
}

impl SesSender {
    pub fn new(client: aws_sdk_sesv2::Client) -> Self {
        Self { client }
    }

    /// Sends `email` as raw MIME, under `configuration_set` when given (event publishing).
    pub async fn send(&self, email: &BuiltEmail, configuration_set: Option<&str>) -> Result<Receipt, SendError> {
        let raw = RawMessage::builder()
            .data(Blob::new(email.raw.clone()))
            .build()
            .map_err(|e| SendError::Permanent(format!("SES: invalid message: {e}")))?;
        let destination = Destination::builder()
            .set_to_addresses(Some(email.to.clone()))
            .set_cc_addresses(Some(email.cc.clone()))
            .set_bcc_addresses(Some(email.bcc.clone()))
            .build();
        let from = email.envelope.from().map(ToString::to_string);
        let output = self
            .client
            .send_email()
            .set_from_email_address(from)
            .destination(destination)
            .content(EmailContent::builder().raw(raw).build())
            .set_configuration_set_name(configuration_set.map(str::to_owned))
            .send()
            .await
            .map_err(classify)?;
        Ok(Receipt { provider_message_id: output.message_id().map(str::to_owned) })
    }
}

/// Transient or permanent, keeping what SES said.
fn classify(error: SdkError<SendEmailError>) -> SendError {
    let status = error.raw_response().map(|r| r.status().as_u16());
    match &error {
        SdkError::TimeoutError(_) => SendError::Transient("SES: request timed out".into()),
        SdkError::DispatchFailure(failure) => SendError::Transient(format!("SES: cannot reach the service: {failure:?}")),
        SdkError::ResponseError(_) => SendError::Transient(format!("SES: unreadable response: {error}")),
        SdkError::ConstructionFailure(_) => SendError::Permanent(format!("SES: invalid request: {error}")),
        SdkError::ServiceError(context) => {
            let err = context.err();
            let code = err.code().unwrap_or("unknown");
            let text = format!("SES {code}: {}", err.message().unwrap_or("no message"));
            match err {
                SendEmailError::TooManyRequestsException(_) | SendEmailError::LimitExceededException(_) => {
                    SendError::Transient(text)
                }
                SendEmailError::MessageRejected(_)
                | SendEmailError::MailFromDomainNotVerifiedException(_)
                | SendEmailError::AccountSuspendedException(_)
                | SendEmailError::SendingPausedException(_)
                | SendEmailError::BadRequestException(_)
                | SendEmailError::NotFoundException(_) => SendError::Permanent(text),
                _ if matches!(code, "Throttling" | "ThrottlingException" | "RequestTimeout" | "ServiceUnavailable")
                    || status.is_some_and(|s| s == 429 || s >= 500) =>
                {
                    SendError::Transient(text)
                }
                _ => SendError::Permanent(text),
            }
        }
        _ => SendError::Transient(format!("SES: {error}")),
    }
}
