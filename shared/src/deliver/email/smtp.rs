//! The workspace's SMTP server, through lettre's async transport: STARTTLS, implicit TLS, or a
//! plain connection only when the settings ask for it (a relay on a trusted network, a local
//! sink). SMTP 4xx answers, timeouts and connection failures are transient; 5xx answers (a
//! refused recipient, refused credentials) and TLS failures are permanent, with the server's text.

use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::mime::BuiltEmail;
use crate::deliver::{Receipt, SendError};
use crate::domain::{SmtpSecurity, SmtpSettings};

/// How long one SMTP command may take before the send counts as timed out.
pub const DEFAULT_SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends through one SMTP server.
#[derive(Clone)]
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    server: String,
}

impl std::fmt::Debug for SmtpSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSender").field("server", &self.server).finish_non_exhaustive()
    }
}

impl SmtpSender {
    /// A sender for `settings`; fails (permanently) when the host is not usable for TLS.
    pub fn new(settings: &SmtpSettings, timeout: Duration) -> Result<Self, SendError> {
        let host = settings.host.trim();
        let server = format!("{host}:{}", settings.port);
        let builder = match settings.security {
            SmtpSecurity::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host),
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
            SmtpSecurity::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)),
        }
        .map_err(|e| SendError::Permanent(format!("SMTP {server}: invalid settings: {e}")))?;
        let mut builder = builder.port(settings.port).timeout(Some(timeout));
        if let Some(username) = settings.username.as_deref().filter(|u| !u.is_empty()) {
            let password = settings.password.as_ref().map(|p| p.expose().to_owned()).unwrap_or_default();
            builder = builder.credentials(Credentials::new(username.to_owned(), password));
        }
        Ok(Self { transport: builder.build(), server })
    }

    /// Sends `email` with its envelope. The receipt holds the server's queue id when its answer
    /// names one (`250 2.0.0 Ok: queued as 4F3K2`), else the email's Message-ID.
    pub async fn send(&self, email: &BuiltEmail) -> Result<Receipt, SendError> {
        let response = self.transport.send_raw(&email.envelope, &email.raw).await.map_err(|e| self.classify(e))?;
        let text = response.message().collect::<Vec<_>>().join(" ");
        let id = queue_id(&text).unwrap_or(&email.message_id).to_owned();
        Ok(Receipt { provider_message_id: Some(id) })
    }

    fn classify(&self, error: lettre::transport::smtp::Error) -> SendError {
        let text = format!("SMTP {}: {error}", self.server);
        if error.is_permanent() || error.is_tls() || error.is_client() {
            SendError::Permanent(text)
        } else {
            // 4xx answers, timeouts, network and connection failures, a dropped connection.
            SendError::Transient(text)
        }
    }
}

/// The id after `queued as` in a server's answer.
fn queue_id(answer: &str) -> Option<&str> {
    let lower = answer.to_ascii_lowercase();
    let at = lower.find("queued as ")? + "queued as ".len();
    let id = answer[at..].split_whitespace().next()?.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    (!id.is_empty()).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::queue_id;

    #[test]
    fn the_queue_id_is_read_from_the_servers_answer() {
        assert_eq!(queue_id("2.0.0 Ok: queued as 4F3K2QZ"), Some("4F3K2QZ"));
        assert_eq!(queue_id("OK"), None);
    }
}
