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
    use sha2::{Digest, Sha256};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    use super::*;
    use crate::deliver::email::{DEFAULT_ATTACHMENT_LIMIT, EmailRoute, EmailSender, build, fixtures};
    use crate::domain::EmailTransport;
    use crate::testing::{SmtpSink, mail};

    fn plain_settings(host: &str, port: u16) -> SmtpSettings {
        SmtpSettings {
            host: host.into(),
            port,
            security: SmtpSecurity::None,
            username: None,
            password: None,
            from: "Workspace <reports@workspace.example.com>".into(),
            reply_to: None,
        }
    }

    /// A one-connection SMTP server on loopback that answers `RCPT TO` with `rcpt_answer`.
    async fn refusing_server(rcpt_answer: &'static str) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let Ok((stream, _)) = listener.accept().await else { return };
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            let _ = write.write_all(b"220 test ESMTP\r\n").await;
            while let Ok(Some(line)) = lines.next_line().await {
                let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                let answer = match verb.as_str() {
                    "EHLO" | "HELO" => "250 test\r\n",
                    "RCPT" => rcpt_answer,
                    "QUIT" => "221 bye\r\n",
                    _ => "250 ok\r\n",
                };
                if write.write_all(answer.as_bytes()).await.is_err() || verb == "QUIT" {
                    break;
                }
            }
        });
        port
    }

    #[test]
    fn the_queue_id_is_read_from_the_servers_answer() {
        assert_eq!(queue_id("2.0.0 Ok: queued as 4F3K2QZ"), Some("4F3K2QZ"));
        assert_eq!(queue_id("OK"), None);
    }

    #[tokio::test]
    async fn an_email_sent_to_the_smtp_sink_arrives_with_every_recipient_and_attachment() {
        let Some(sink) = SmtpSink::from_env() else { return };
        let key = crate::testing::unique_name("smtp-delivery");
        let outgoing = fixtures::outgoing(&key);
        let sender = EmailSender::new("reports@herald.example.com");
        let settings = plain_settings(&sink.host, sink.port);
        let route = EmailRoute { transport: EmailTransport::Smtp, configuration_set: None, smtp: Some(&settings) };

        let receipt = sender.send(route, &outgoing).await.unwrap();
        let message_id = super::super::mime::message_id(&key);
        assert_eq!(receipt.provider_message_id.as_deref(), Some(message_id.as_str()));

        let delivered = sink.messages_containing(&message_id);
        assert_eq!(delivered.len(), 1, "one message with {message_id} in the maildir");
        let message = mail::parse(&delivered[0]);
        assert_eq!(message.header("from"), Some("Workspace <reports@workspace.example.com>"));
        assert_eq!(message.header("x-mailfrom"), Some("reports@workspace.example.com"));
        let rcpt = message.header("x-rcptto").unwrap_or_default();
        for to in ["ops@example.com", "lead@example.com", "audit@example.com"] {
            assert!(rcpt.contains(to), "{to} not in X-RcptTo: {rcpt}");
        }
        assert!(message.header("bcc").is_none());
        let attachments: Vec<_> = message.parts[1..].iter().collect();
        assert_eq!(attachments.len(), outgoing.files.len());
        for (part, file) in attachments.iter().zip(&outgoing.files) {
            assert_eq!(part.file_name().as_deref(), Some(file.file_name.as_str()));
            assert_eq!(hex::encode(Sha256::digest(&part.body)), file.sha256);
        }
    }

    #[tokio::test]
    async fn a_refused_connection_is_transient() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let email = build(&fixtures::outgoing("k"), "reports@herald.example.com", DEFAULT_ATTACHMENT_LIMIT).unwrap();
        let sender = SmtpSender::new(&plain_settings("127.0.0.1", port), Duration::from_secs(5)).unwrap();
        let err = sender.send(&email).await.unwrap_err();
        assert!(err.is_transient(), "{err:?}");
        assert!(err.to_string().contains(&format!("127.0.0.1:{port}")), "{err}");
    }

    #[tokio::test]
    async fn a_rejected_recipient_is_permanent_with_the_servers_text() {
        let port = refusing_server("550 5.1.1 mailbox unavailable\r\n").await;
        let email = build(&fixtures::outgoing("k"), "reports@herald.example.com", DEFAULT_ATTACHMENT_LIMIT).unwrap();
        let sender = SmtpSender::new(&plain_settings("127.0.0.1", port), Duration::from_secs(5)).unwrap();
        let err = sender.send(&email).await.unwrap_err();
        assert!(!err.is_transient(), "{err:?}");
        assert!(err.to_string().contains("mailbox unavailable"), "{err}");
    }

    #[tokio::test]
    async fn a_4xx_answer_is_transient() {
        let port = refusing_server("451 4.3.0 try again later\r\n").await;
        let email = build(&fixtures::outgoing("k"), "reports@herald.example.com", DEFAULT_ATTACHMENT_LIMIT).unwrap();
        let sender = SmtpSender::new(&plain_settings("127.0.0.1", port), Duration::from_secs(5)).unwrap();
        let err = sender.send(&email).await.unwrap_err();
        assert!(err.is_transient(), "{err:?}");
        assert!(err.to_string().contains("try again later"), "{err}");
    }

    #[tokio::test]
    async fn smtp_without_workspace_settings_is_permanent() {
        let sender = EmailSender::new("reports@herald.example.com");
        let route = EmailRoute { transport: EmailTransport::Smtp, configuration_set: None, smtp: None };
        let err = sender.send(route, &fixtures::outgoing("k")).await.unwrap_err();
        assert_eq!(err, SendError::Permanent("the workspace has no SMTP settings".into()));
    }
}
