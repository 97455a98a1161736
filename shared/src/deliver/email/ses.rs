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
        SdkError::DispatchFailure(failure) => {
            SendError::Transient(format!("SES: cannot reach the service: {failure:?}"))
        }
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

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use aws_sdk_sesv2::error::ErrorMetadata;
    use aws_sdk_sesv2::types::error::{MessageRejected, TooManyRequestsException};

    use super::*;
    use crate::deliver::email::{EmailRoute, EmailSender, fixtures, mime};
    use crate::domain::EmailTransport;
    use crate::testing::{emulator, mail, moto_sent_raw_messages, unique_name};

    fn service_error(err: SendEmailError, status: u16) -> SdkError<SendEmailError> {
        let status = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_REQUEST);
        SdkError::service_error(
            err,
            aws_sdk_sesv2::config::http::HttpResponse::new(status.into(), String::new().into()),
        )
    }

    fn meta(code: &str, message: &str) -> ErrorMetadata {
        ErrorMetadata::builder().code(code).message(message).build()
    }

    #[test]
    fn ses_errors_are_transient_or_permanent_and_keep_the_providers_text() {
        let rejected = MessageRejected::builder()
            .message("Email address is not verified.")
            .meta(meta("MessageRejected", "Email address is not verified."))
            .build();
        let err = classify(service_error(SendEmailError::MessageRejected(rejected), 400));
        assert_eq!(err, SendError::Permanent("SES MessageRejected: Email address is not verified.".into()));

        let throttled = TooManyRequestsException::builder().meta(meta("TooManyRequestsException", "slow down")).build();
        assert!(classify(service_error(SendEmailError::TooManyRequestsException(throttled), 429)).is_transient());

        let cases = [("Throttling", 400, true), ("InternalFailure", 500, true), ("AccessDeniedException", 403, false)];
        for (code, status, transient) in cases {
            let err = classify(service_error(SendEmailError::generic(meta(code, "x")), status));
            assert_eq!(err.is_transient(), transient, "{code} {status}: {err:?}");
            assert!(err.to_string().contains(code), "{err}");
        }
        assert!(classify(SdkError::timeout_error("slow")).is_transient());
        assert!(!classify(SdkError::construction_failure("bad input")).is_transient());
    }

    #[tokio::test]
    async fn ses_sends_the_raw_message_from_a_verified_sender_and_rejects_an_unverified_one() {
        let Some(config) = emulator().await else { return };
        let client = aws_sdk_sesv2::Client::new(&config);
        let domain = format!("{}.example.com", unique_name("herald-ses"));
        let sender = EmailSender::new(format!("reports@{domain}")).with_ses(SesSender::new(client.clone()));
        let route = EmailRoute { transport: EmailTransport::Ses, configuration_set: None, smtp: None };
        let key = unique_name("ses-delivery");
        let outgoing = fixtures::outgoing(&key);

        let err = sender.send(route, &outgoing).await.unwrap_err();
        assert!(!err.is_transient(), "{err:?}");
        assert!(err.to_string().contains("MessageRejected"), "{err}");

        client.create_email_identity().email_identity(&domain).send().await.unwrap();
        let receipt = sender.send(route, &outgoing).await.unwrap();
        let id = receipt.provider_message_id.expect("an SES MessageId");

        let message_id = mime::message_id(&key);
        let sent = moto_sent_raw_messages().await;
        let sent = sent
            .iter()
            .find(|m| m["raw_data"].as_str().is_some_and(|raw| raw.contains(&message_id)))
            .expect("the raw message in moto's data.json");
        assert_eq!(sent["id"].as_str(), Some(id.as_str()));
        let destinations = sent["destinations"].to_string();
        assert!(destinations.contains("audit@example.com"), "Bcc in the destination: {destinations}");
        let message = mail::parse(sent["raw_data"].as_str().unwrap_or_default().as_bytes());
        assert!(message.header("bcc").is_none());
        for (part, file) in message.parts[1..].iter().zip(&outgoing.files) {
            assert_eq!(part.file_name().as_deref(), Some(file.file_name.as_str()));
            assert_eq!(hex::encode(Sha256::digest(&part.body)), file.sha256);
        }
    }

    #[tokio::test]
    async fn ses_unavailable_when_no_client_is_configured() {
        let sender = EmailSender::new("reports@herald.example.com");
        let route = EmailRoute { transport: EmailTransport::Ses, configuration_set: None, smtp: None };
        let err = sender.send(route, &fixtures::outgoing("k")).await.unwrap_err();
        assert_eq!(err, SendError::Permanent("SES is not configured".into()));
    }
}
