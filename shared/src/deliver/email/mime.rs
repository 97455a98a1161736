//! The email itself: one RFC 5322 message per [`Outgoing`], built with lettre. The body is a
//! `multipart/mixed` of a `multipart/alternative` (plain text and HTML saying the same thing)
//! and one attachment per file. The body holds the author's message, the executive summary and
//! key takeaways of the narrative, the list of files and a link to the run. Files that do not
//! fit in the attachment size limit are linked (their signed download URL) instead of attached.
//! Bcc recipients are only in the envelope, never in a header.

use std::fmt::Write as _;

use lettre::Message;
use lettre::address::{Address, Envelope};
use lettre::message::header::{ContentDisposition, ContentTransferEncoding, ContentType};
use lettre::message::{Mailbox, MultiPart, SinglePart};

use crate::deliver::{Outgoing, OutgoingFile, SendError};
use crate::render::html::escape;

/// Most bytes of files attached to one email (before base64); larger sets are partly linked.
pub const DEFAULT_ATTACHMENT_LIMIT: usize = 10 * 1024 * 1024;

/// Longest idempotency-key part kept in a Message-ID.
const MAX_ID_LEN: usize = 200;

const FONT: &str = "-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif";
const INK: &str = "#1f2933";
const MUTED: &str = "#5f6b7a";
const ACCENT: &str = "#1f4e79";
const RULE: &str = "#e1e5ea";

/// A message ready for any transport.
#[derive(Debug, Clone)]
pub struct BuiltEmail {
    /// The whole message (headers and body), CRLF line endings.
    pub raw: Vec<u8>,
    /// SMTP envelope: the sender and every recipient (To, Cc and Bcc).
    pub envelope: Envelope,
    /// The `Message-ID` header value, with its angle brackets.
    pub message_id: String,
    /// The recipients by kind, as given (SES wants them apart).
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
}

/// Builds the message for `outgoing`. The sender is `outgoing.from` when set, else `from`
/// (the transport's default). Files are attached in order while their total size stays within
/// `limit` bytes; the rest are linked from the body.
///
/// Fails with [`SendError::Permanent`] when an address does not parse (the error names it) or
/// when there is no recipient at all.
pub fn build(outgoing: &Outgoing, from: &str, limit: usize) -> Result<BuiltEmail, SendError> {
    let sender = mailbox("from", outgoing.from.as_deref().unwrap_or(from))?;
    let recipients = &outgoing.recipients;
    let to = mailboxes("to", &recipients.to)?;
    let cc = mailboxes("cc", &recipients.cc)?;
    let bcc = mailboxes("bcc", &recipients.bcc)?;
    if to.is_empty() && cc.is_empty() && bcc.is_empty() {
        return Err(SendError::Permanent("no recipient: the email has no To, Cc or Bcc address".into()));
    }
    let envelope_to: Vec<Address> = to.iter().chain(&cc).chain(&bcc).map(|m| m.email.clone()).collect();
    let envelope = Envelope::new(Some(sender.email.clone()), envelope_to)
        .map_err(|e| SendError::Permanent(format!("invalid envelope: {e}")))?;
    let message_id = message_id(&outgoing.idempotency_key);

    let mut builder = Message::builder()
        .from(sender)
        .subject(outgoing.subject.trim())
        .message_id(Some(message_id.clone()))
        .envelope(envelope.clone());
    if let Some(reply_to) = outgoing.reply_to.as_deref().filter(|r| !r.trim().is_empty()) {
        builder = builder.reply_to(mailbox("reply_to", reply_to)?);
    }
    for m in &to {
        builder = builder.to(m.clone());
    }
    for m in &cc {
        builder = builder.cc(m.clone());
    }

    let attached = choose_attachments(&outgoing.files, limit);
    let body = Body { outgoing, attached: &attached };
    let alternative = MultiPart::alternative()
        .singlepart(text_part(ContentType::TEXT_PLAIN, body.plain()))
        .singlepart(text_part(ContentType::TEXT_HTML, body.html()));
    let mut mixed = MultiPart::mixed().multipart(alternative);
    for (file, attach) in outgoing.files.iter().zip(&attached) {
        if *attach {
            mixed = mixed.singlepart(attachment(file));
        }
    }
    let message = builder.multipart(mixed).map_err(|e| SendError::Permanent(format!("invalid email: {e}")))?;
    Ok(BuiltEmail {
        raw: message.formatted(),
        envelope,
        message_id,
        to: to.iter().map(|m| m.email.to_string()).collect(),
        cc: cc.iter().map(|m| m.email.to_string()).collect(),
        bcc: bcc.iter().map(|m| m.email.to_string()).collect(),
    })
}

/// `<{key}@herald>`, with every character of the key outside `[A-Za-z0-9._+-]` replaced by `-`.
pub fn message_id(idempotency_key: &str) -> String {
    format!("<{}@herald>", sanitize(idempotency_key))
}

/// The key restricted to characters safe in a Message-ID and a file name, at most 200 long.
pub(crate) fn sanitize(key: &str) -> String {
    let cleaned: String = key
        .trim()
        .chars()
        .take(MAX_ID_LEN)
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-') { c } else { '-' })
        .collect();
    let cleaned = cleaned.trim_matches('.');
    if cleaned.is_empty() { "message".to_owned() } else { cleaned.to_owned() }
}

fn mailbox(field: &str, value: &str) -> Result<Mailbox, SendError> {
    value.trim().parse::<Mailbox>().map_err(|_| SendError::Permanent(format!("invalid {field} address `{value}`")))
}

fn mailboxes(field: &str, values: &[String]) -> Result<Vec<Mailbox>, SendError> {
    values.iter().filter(|v| !v.trim().is_empty()).map(|v| mailbox(field, v)).collect()
}

/// For each file, whether it is attached: in order, while the running total stays within `limit`.
fn choose_attachments(files: &[OutgoingFile], limit: usize) -> Vec<bool> {
    let mut total: usize = 0;
    files
        .iter()
        .map(|file| {
            let size = file.bytes.len();
            match total.checked_add(size) {
                Some(next) if next <= limit => {
                    total = next;
                    true
                }
                _ => false,
            }
        })
        .collect()
}

fn text_part(content_type: ContentType, text: String) -> SinglePart {
    SinglePart::builder().header(content_type).header(ContentTransferEncoding::Base64).body(text)
}

fn attachment(file: &OutgoingFile) -> SinglePart {
    let content_type = ContentType::parse(&file.content_type)
        .or_else(|_| ContentType::parse("application/octet-stream"))
        .unwrap_or(ContentType::TEXT_PLAIN);
    SinglePart::builder()
        .header(content_type)
        .header(ContentDisposition::attachment(&file.file_name))
        .header(ContentTransferEncoding::Base64)
        .body(file.bytes.to_vec())
}

/// A size for people: `512 B`, `12.3 KB`, `4.5 MB`.
fn human_size(bytes: u64) -> String {
    const KB: f64 = 1024.0;
    let b = bytes as f64;
    if b < KB {
        format!("{bytes} B")
    } else if b < KB * KB {
        format!("{:.1} KB", b / KB)
    } else {
        format!("{:.1} MB", b / (KB * KB))
    }
}

/// The body's content, written once as plain text and once as HTML.
struct Body<'a> {
    outgoing: &'a Outgoing,
    attached: &'a [bool],
}

impl Body<'_> {
    fn summary(&self) -> Option<&str> {
        self.outgoing.narrative.as_ref().map(|n| n.summary.trim()).filter(|s| !s.is_empty())
    }

    fn takeaways(&self) -> Vec<&str> {
        self.outgoing
            .narrative
            .as_ref()
            .map(|n| n.takeaways.iter().map(|t| t.trim()).filter(|t| !t.is_empty()).collect())
            .unwrap_or_default()
    }

    fn files(&self) -> impl Iterator<Item = (&OutgoingFile, bool)> {
        self.outgoing.files.iter().zip(self.attached.iter().copied())
    }

    fn plain(&self) -> String {
        let mut out = String::new();
        let message = self.outgoing.message.trim();
        if !message.is_empty() {
            out.push_str(message);
            out.push_str("\n\n");
        }
        if let Some(summary) = self.summary() {
            let _ = write!(out, "Executive summary\n\n{summary}\n\n");
        }
        let takeaways = self.takeaways();
        if !takeaways.is_empty() {
            out.push_str("Key takeaways\n\n");
            for t in takeaways {
                let _ = writeln!(out, "- {t}");
            }
            out.push('\n');
        }
        if !self.outgoing.files.is_empty() {
            out.push_str("Files\n\n");
            for (file, attached) in self.files() {
                let size = human_size(file.size);
                if attached {
                    let _ = writeln!(out, "- {} ({size}), attached", file.file_name);
                } else {
                    let _ = writeln!(out, "- {} ({size}), too large to attach: {}", file.file_name, file.download_url);
                }
            }
            out.push('\n');
        }
        if let Some(view_url) = &self.outgoing.view_url {
            let _ = writeln!(out, "{}: {view_url}", self.outgoing.view_label().replace("View", "View the"));
        }
        out
    }

    fn html(&self) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head>\n\
             <body style=\"margin:0;padding:24px;background:#ffffff;color:{INK};font-family:{FONT};\
             font-size:15px;line-height:1.5;\">\n<div style=\"max-width:640px;\">\n",
            escape(self.outgoing.subject.trim())
        );
        let message = self.outgoing.message.trim();
        for paragraph in message.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
            let _ = writeln!(out, "<p style=\"margin:0 0 12px;\">{}</p>", escape(paragraph).replace('\n', "<br>\n"));
        }
        if let Some(summary) = self.summary() {
            heading(&mut out, "Executive summary");
            let _ = writeln!(out, "<p style=\"margin:0 0 12px;\">{}</p>", escape(summary).replace('\n', "<br>\n"));
        }
        let takeaways = self.takeaways();
        if !takeaways.is_empty() {
            heading(&mut out, "Key takeaways");
            out.push_str("<ul style=\"margin:0 0 12px;padding-left:20px;\">\n");
            for t in takeaways {
                let _ = writeln!(out, "<li style=\"margin:0 0 4px;\">{}</li>", escape(t));
            }
            out.push_str("</ul>\n");
        }
        if !self.outgoing.files.is_empty() {
            heading(&mut out, "Files");
            out.push_str("<ul style=\"margin:0 0 12px;padding-left:20px;\">\n");
            for (file, attached) in self.files() {
                let name = escape(&file.file_name);
                let size = human_size(file.size);
                if attached {
                    let _ = writeln!(out, "<li>{name} <span style=\"color:{MUTED};\">({size}), attached</span></li>");
                } else {
                    let _ = writeln!(
                        out,
                        "<li><a href=\"{}\" style=\"color:{ACCENT};\">{name}</a> \
                         <span style=\"color:{MUTED};\">({size}), too large to attach</span></li>",
                        escape(&file.download_url)
                    );
                }
            }
            out.push_str("</ul>\n");
        }
        if let Some(view_url) = &self.outgoing.view_url {
            let _ = writeln!(
                out,
                "<p style=\"margin:20px 0 0;padding-top:12px;border-top:1px solid {RULE};\">\
                 <a href=\"{}\" style=\"color:{ACCENT};\">{}</a></p>",
                escape(view_url),
                self.outgoing.view_label().replace("View", "View the")
            );
        }
        out.push_str("</div>\n</body></html>\n");
        out
    }
}

fn heading(out: &mut String, title: &str) {
    let _ = writeln!(out, "<h2 style=\"margin:20px 0 8px;font-size:17px;color:{ACCENT};\">{}</h2>", escape(title));
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::deliver::email::fixtures;
    use crate::testing::mail;

    fn sha(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    #[test]
    fn the_email_has_its_headers_both_alternatives_and_every_attachment_byte_for_byte() {
        let outgoing = fixtures::outgoing("run-1/entry-0/delivery-0");
        let built = build(&outgoing, "Herald <reports@herald.example.com>", DEFAULT_ATTACHMENT_LIMIT).unwrap();
        let message = mail::parse(&built.raw);

        assert_eq!(message.header("from"), Some("Herald <reports@herald.example.com>"));
        assert_eq!(message.header("reply-to"), Some("support@example.com"));
        assert_eq!(message.header("to"), Some("\"Ops Team\" <ops@example.com>"));
        assert_eq!(message.header("cc"), Some("lead@example.com"));
        assert!(message.header("bcc").is_none(), "Bcc must not be a header");
        assert!(!String::from_utf8_lossy(&built.raw).contains("audit@example.com"));
        assert_eq!(message.header("message-id"), Some("<run-1-entry-0-delivery-0@herald>"));
        assert_eq!(built.message_id, "<run-1-entry-0-delivery-0@herald>");
        assert_eq!(mail::decode_words(message.header("subject").unwrap()), "Rapport quotidien — Zürich ✓");
        assert!(message.header("subject").unwrap().is_ascii());

        let envelope: Vec<String> = built.envelope.to().iter().map(ToString::to_string).collect();
        assert_eq!(envelope, ["ops@example.com", "lead@example.com", "audit@example.com"]);
        assert_eq!(built.envelope.from().map(ToString::to_string).as_deref(), Some("reports@herald.example.com"));

        assert_eq!(message.content_type(), "multipart/mixed");
        assert_eq!(message.parts.len(), 3);
        let alternative = &message.parts[0];
        assert_eq!(alternative.content_type(), "multipart/alternative");
        let plain = alternative.parts[0].text();
        let html = alternative.parts[1].text();
        assert_eq!(alternative.parts[0].content_type(), "text/plain");
        assert_eq!(alternative.parts[1].content_type(), "text/html");
        for text in ["Hello team,", "Executive summary", "Key takeaways", "Backlog is flat", "ops-daily.pdf"] {
            assert!(plain.contains(text), "plain text lacks {text:?}:\n{plain}");
            assert!(html.contains(text), "HTML lacks {text:?}:\n{html}");
        }
        assert!(plain.contains("Here is <today's> report & numbers."));
        assert!(plain.contains("- First response time improved to 2h"));
        assert!(plain.contains("View the run: https://herald.example.com/api/v1/reports/runs/01JD?x=1&y=2"));
        assert!(html.contains("Here is &lt;today&#39;s&gt; report &amp; numbers."));
        assert!(html.contains("while &lt;b&gt;backlog&lt;/b&gt; held steady"));
        assert!(html.contains("<li style=\"margin:0 0 4px;\">Backlog is flat</li>"));
        assert!(html.contains("href=\"https://herald.example.com/api/v1/reports/runs/01JD?x=1&amp;y=2\""));
        assert!(!html.contains("<script") && !html.contains("<b>"));

        let attachments: Vec<_> = message.parts[1..].iter().collect();
        for (part, file) in attachments.iter().zip(&outgoing.files) {
            assert_eq!(part.file_name().as_deref(), Some(file.file_name.as_str()));
            assert_eq!(part.content_type(), file.content_type);
            assert_eq!(sha(&part.body), file.sha256, "{}", file.file_name);
        }
        assert!(message.header("date").is_some());
    }

    #[test]
    fn a_file_past_the_attachment_limit_becomes_a_signed_link() {
        let outgoing = fixtures::outgoing("k");
        let built = build(&outgoing, "reports@herald.example.com", 1_000).unwrap();
        let message = mail::parse(&built.raw);
        assert_eq!(message.parts.len(), 2, "only the small CSV is attached");
        assert_eq!(message.parts[1].file_name().as_deref(), Some("tickets-é.csv"));
        let plain = message.parts[0].parts[0].text();
        let html = message.parts[0].parts[1].text();
        let url = &outgoing.files[0].download_url;
        assert!(plain.contains(&format!("ops-daily.pdf (39.1 KB), too large to attach: {url}")), "{plain}");
        assert!(plain.contains("tickets-é.csv (25 B), attached"), "{plain}");
        assert!(html.contains(&format!("<a href=\"{}\"", escape(url))), "{html}");
    }

    #[test]
    fn the_delivery_sender_wins_over_the_default_and_non_ascii_names_are_encoded() {
        let mut outgoing = fixtures::outgoing("k");
        outgoing.from = Some("Zoë Ops <zoe@example.com>".into());
        let built = build(&outgoing, "reports@herald.example.com", DEFAULT_ATTACHMENT_LIMIT).unwrap();
        let message = mail::parse(&built.raw);
        let from = message.header("from").unwrap();
        assert!(from.is_ascii(), "{from}");
        assert_eq!(mail::decode_words(from), "Zoë Ops <zoe@example.com>");
        assert_eq!(built.envelope.from().map(ToString::to_string).as_deref(), Some("zoe@example.com"));
    }

    #[test]
    fn an_invalid_address_is_a_permanent_error_naming_it() {
        let mut outgoing = fixtures::outgoing("k");
        outgoing.recipients.cc = vec!["not an address".into()];
        let err = build(&outgoing, "reports@herald.example.com", DEFAULT_ATTACHMENT_LIMIT).unwrap_err();
        assert_eq!(err, SendError::Permanent("invalid cc address `not an address`".into()));
        let err = build(&fixtures::outgoing("k"), "nobody", DEFAULT_ATTACHMENT_LIMIT).unwrap_err();
        assert!(matches!(&err, SendError::Permanent(m) if m.contains("`nobody`")), "{err:?}");
    }

    #[test]
    fn an_email_without_recipients_is_a_permanent_error() {
        let mut outgoing = fixtures::outgoing("k");
        outgoing.recipients = Default::default();
        outgoing.recipients.to = vec!["  ".into()];
        let err = build(&outgoing, "reports@herald.example.com", DEFAULT_ATTACHMENT_LIMIT).unwrap_err();
        assert!(matches!(&err, SendError::Permanent(m) if m.starts_with("no recipient")), "{err:?}");
    }

    #[test]
    fn message_ids_keep_only_safe_characters() {
        assert_eq!(message_id("run 1/entry:0 <x>"), "<run-1-entry-0--x-@herald>");
        assert_eq!(message_id("..."), "<message@herald>");
        assert_eq!(message_id(&"a".repeat(500)).len(), 200 + "<@herald>".len());
    }

    #[test]
    fn an_email_without_narrative_or_message_still_lists_files_and_the_run() {
        let mut outgoing = fixtures::outgoing("k");
        outgoing.narrative = None;
        outgoing.message = String::new();
        let built = build(&outgoing, "reports@herald.example.com", DEFAULT_ATTACHMENT_LIMIT).unwrap();
        let plain = mail::parse(&built.raw).parts[0].parts[0].text();
        assert!(!plain.contains("Executive summary") && !plain.contains("Key takeaways"));
        assert!(plain.starts_with("Files"), "{plain}");
        assert!(plain.contains("View the run:"));
    }
}
