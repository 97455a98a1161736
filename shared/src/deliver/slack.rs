//! Slack delivery: a run posted to a Slack incoming webhook as a Block Kit message with the
//! report's name, the author's message, the narrative summary and key takeaways, when and why
//! the run happened, a button to the run and a link to each file.
//!
//! Slack refuses a message that breaks a Block Kit limit (50 blocks, 3000 characters in a
//! section, 150 in a header, 75 in a button label), so long texts are shortened and files past
//! the block budget are counted instead of linked.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Outgoing, OutgoingFile, Receipt, SendError};
use crate::net::{HttpResponse, NetError, NetworkPolicy, OutboundHttp, RequestOptions};

/// Most blocks Slack accepts in one message.
pub const MAX_BLOCKS: usize = 50;
/// Most characters in a section's text (and in the fallback text we send).
pub const MAX_TEXT: usize = 3000;
/// Most characters in a header block.
pub const MAX_HEADER: usize = 150;
/// Most characters in a button label.
const MAX_BUTTON_LABEL: usize = 75;
/// Most characters in a button URL.
const MAX_URL: usize = 3000;
/// Most characters of a provider's answer kept in an error message.
const MAX_ANSWER: usize = 300;

/// How long one request to Slack may take, and how much of its answer is read.
const TIMEOUT: Duration = Duration::from_secs(15);
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Builds the Block Kit message for `outgoing`.
pub fn payload(outgoing: &Outgoing) -> Value {
    let title = if outgoing.subject.trim().is_empty() { outgoing.title() } else { outgoing.subject.as_str() };
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(plain_line(outgoing.title()), MAX_HEADER), "emoji": true},
    })];
    if !outgoing.message.trim().is_empty() {
        blocks.push(section(&escape(&outgoing.message)));
    }
    let narrative = outgoing.narrative.as_ref();
    if let Some(summary) = narrative.map(|n| n.summary.trim()).filter(|s| !s.is_empty()) {
        blocks.push(section(&format!("*Summary*\n{}", escape(summary))));
    }
    let takeaways: Vec<&str> =
        narrative.map(|n| n.takeaways.iter().map(|t| t.trim()).filter(|t| !t.is_empty()).collect()).unwrap_or_default();
    if !takeaways.is_empty() {
        let bullets: Vec<String> = takeaways.iter().map(|t| format!("• {}", escape(t))).collect();
        blocks.push(section(&format!("*Key takeaways*\n{}", bullets.join("\n"))));
    }
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(escape(&outgoing.context_line()), MAX_TEXT)}]}));
    if let Some(view_url) = outgoing.view_url.as_deref().filter(|url| url.chars().count() <= MAX_URL) {
        blocks.push(json!({
            "type": "actions",
            "elements": [{
                "type": "button",
                "text": {"type": "plain_text", "text": truncate(outgoing.view_label().into(), MAX_BUTTON_LABEL)},
                "url": view_url,
                "action_id": "view_run",
                "style": "primary",
            }],
        }));
    }
    append_files(&mut blocks, &outgoing.files);

    let fallback = match narrative.map(|n| n.summary.trim()).filter(|s| !s.is_empty()) {
        Some(summary) => format!("{title}: {summary}"),
        None => title.to_string(),
    };
    json!({"text": truncate(escape(&fallback), MAX_TEXT), "blocks": blocks})
}

/// One section per file, linking its download URL; past the block budget, a last block says
/// how many files were left out.
fn append_files(blocks: &mut Vec<Value>, files: &[OutgoingFile]) {
    if files.is_empty() {
        return;
    }
    let room = MAX_BLOCKS.saturating_sub(blocks.len());
    let linked = if files.len() <= room { files.len() } else { room.saturating_sub(1) };
    for file in &files[..linked] {
        let name = escape(&plain_line(&file.file_name)).replace('|', "¦");
        let link = if file.download_url.is_empty() || file.download_url.chars().count() > MAX_URL {
            format!("*{name}*")
        } else {
            format!("<{}|{name}>", file.download_url.replace('|', "%7C").replace('>', "%3E"))
        };
        blocks.push(section(&format!(":page_facing_up: {link} ({})", human_size(file.size))));
    }
    let left_out = files.len() - linked;
    if left_out > 0 && blocks.len() < MAX_BLOCKS {
        let text = format!("…and {left_out} more file{}; see the run", if left_out == 1 { "" } else { "s" });
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}));
    }
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(text.to_string(), MAX_TEXT)}})
}

/// Escapes the three characters Slack's mrkdwn reserves.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The text on one line (headers and link labels cannot hold line breaks).
fn plain_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` cut to at most `max` characters, ending with `…` when cut, and never in the middle
/// of an `&amp;`-style escape.
pub(crate) fn truncate(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    if let Some(amp) = cut.rfind('&')
        && !cut[amp..].contains(';')
    {
        cut.truncate(amp);
    }
    cut.push('…');
    cut
}

/// `512 B`, `12.3 KB`, `4.0 MB`.
pub(crate) fn human_size(size: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if size < 1024 {
        return format!("{size} B");
    }
    let mut value = size as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Posts messages to Slack incoming webhooks.
#[derive(Debug, Clone, Default)]
pub struct SlackSender;

impl SlackSender {
    pub fn new() -> Self {
        Self
    }

    /// Posts [`payload`] of `outgoing` to `webhook_url`. Slack answers `200 ok`; 429, 5xx,
    /// timeouts and connection failures are [`SendError::Transient`], anything else (such as
    /// `400 invalid_payload` or `404 no_service`) is [`SendError::Permanent`] with Slack's answer.
    pub async fn send(
        &self,
        http: &OutboundHttp,
        policy: &NetworkPolicy,
        webhook_url: &str,
        outgoing: &Outgoing,
    ) -> Result<Receipt, SendError> {
        post_chat(http, policy, webhook_url, "Slack", &payload(outgoing)).await?;
        Ok(Receipt { provider_message_id: None })
    }
}

/// Posts a chat message and checks the answer's status (Slack and Teams alike).
pub(crate) async fn post_chat(
    http: &OutboundHttp,
    policy: &NetworkPolicy,
    url: &str,
    provider: &str,
    body: &serde_json::Value,
) -> Result<HttpResponse, SendError> {
    let options = RequestOptions::new(TIMEOUT, MAX_RESPONSE_BYTES);
    let response = http.post_json(policy, url, body, &options).await.map_err(|e| net_error(provider, e))?;
    check_status(provider, &response)?;
    Ok(response)
}

/// What a failed request means for a delivery: problems of the target's address or of the
/// request itself will not go away, network trouble may.
pub(crate) fn net_error(provider: &str, error: NetError) -> SendError {
    let message = format!("{provider}: {error}");
    match error {
        NetError::Timeout { .. } | NetError::Connect { .. } | NetError::Resolve { .. } | NetError::Request { .. } => {
            SendError::Transient(message)
        }
        NetError::InvalidUrl(_)
        | NetError::UnsupportedScheme(_)
        | NetError::Blocked { .. }
        | NetError::TooLarge { .. }
        | NetError::InvalidHeader(_)
        | NetError::Setup(_) => SendError::Permanent(message),
    }
}

/// `Ok` for a 2xx answer; otherwise what the status means for a delivery.
pub(crate) fn check_status(provider: &str, response: &HttpResponse) -> Result<(), SendError> {
    let status = response.status;
    if response.is_success() {
        return Ok(());
    }
    if response.is_redirect() {
        return Err(SendError::Permanent(format!(
            "{provider} answered HTTP {status} (a redirect); redirects are not followed, configure the final URL"
        )));
    }
    let answer = answer_text(response);
    let message = if answer.is_empty() {
        format!("{provider} answered HTTP {status}")
    } else {
        format!("{provider} answered HTTP {status}: {answer}")
    };
    if status == 429 || status >= 500 || status == 408 {
        Err(SendError::Transient(message))
    } else {
        Err(SendError::Permanent(message))
    }
}

/// The start of a response body, on one line, for an error message.
pub(crate) fn answer_text(response: &HttpResponse) -> String {
    truncate(plain_line(&String::from_utf8_lossy(&response.body)), MAX_ANSWER)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::testing::outgoing::{file, outgoing};
    use crate::testing::recorder::{Recorder, Reply, loopback_policy};

    fn now() -> chrono::DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap()
    }

    fn texts(payload: &Value) -> Vec<String> {
        let mut found = Vec::new();
        for block in payload["blocks"].as_array().unwrap() {
            if let Some(text) = block["text"]["text"].as_str() {
                found.push(text.to_string());
            }
            for element in block["elements"].as_array().into_iter().flatten() {
                if let Some(text) = element["text"].as_str() {
                    found.push(text.to_string());
                }
            }
        }
        found
    }

    #[test]
    fn the_message_has_a_header_summary_takeaways_context_run_button_and_file_links() {
        let out = outgoing(now());
        let p = payload(&out);
        assert!(p["text"].as_str().unwrap().starts_with("Weekly digest for ACME: Revenue grew 12%"));
        let blocks = p["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(blocks[0]["text"], json!({"type": "plain_text", "text": "Weekly digest", "emoji": true}));
        let all = texts(&p).join("\n");
        assert!(all.contains("Numbers for &lt;ACME&gt; &amp; partners"), "{all}");
        assert!(all.contains("*Summary*\nRevenue grew 12% to $1.2M; churn fell below 2%."));
        assert!(all.contains("*Key takeaways*\n• Email beat SMS on conversion\n• Offer B &gt; Offer A"));
        assert!(all.contains("Run at 2026-11-23 08:00 UTC · trigger: schedule"), "{all}");
        let actions = blocks.iter().find(|b| b["type"] == "actions").unwrap();
        assert_eq!(actions["elements"][0]["type"], "button");
        assert_eq!(actions["elements"][0]["url"], out.view_url.as_deref().unwrap());
        assert!(out.view_url.as_deref().unwrap().contains("/console#/runs/"));
        for f in &out.files {
            let link = format!("<{}|{}>", f.download_url, f.file_name);
            assert!(all.contains(&link), "{link} missing from {all}");
        }
    }

    #[test]
    fn long_texts_and_many_files_are_cut_to_block_kit_limits() {
        let mut out = outgoing(now());
        if let crate::deliver::About::Run { run, .. } = &mut out.about {
            run.report_name = "R".repeat(400);
        }
        out.message = "<&>".repeat(2000);
        if let Some(n) = out.narrative.as_mut() {
            n.summary = "s".repeat(10_000);
            n.takeaways = (0..500).map(|i| format!("takeaway {i} {}", "t".repeat(50))).collect();
        }
        out.files = (0..80).map(|i| file(&format!("part-{i}.csv"), "text/csv", b"x")).collect();
        let p = payload(&out);
        let blocks = p["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), MAX_BLOCKS);
        assert_eq!(blocks[0]["text"]["text"].as_str().unwrap().chars().count(), MAX_HEADER);
        for text in texts(&p) {
            assert!(text.chars().count() <= MAX_TEXT, "{} chars", text.chars().count());
            assert!(!text.contains("&am…") && !text.contains("&l…"), "an escape was cut");
        }
        assert!(p["text"].as_str().unwrap().chars().count() <= MAX_TEXT);
        let last = blocks.last().unwrap();
        assert_eq!(last["type"], "context");
        assert!(last["elements"][0]["text"].as_str().unwrap().contains("more files"));
        // The run button survives the cut.
        assert!(blocks.iter().any(|b| b["type"] == "actions"));
    }

    #[test]
    fn a_run_without_narrative_still_has_a_fallback_text_and_the_run_link() {
        let mut out = outgoing(now());
        out.narrative = None;
        out.message.clear();
        out.files.clear();
        let p = payload(&out);
        assert_eq!(p["text"], "Weekly digest for ACME");
        let types: Vec<&str> = p["blocks"].as_array().unwrap().iter().map(|b| b["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["header", "context", "actions"]);
    }

    #[tokio::test]
    async fn a_slack_ok_is_a_receipt_and_the_payload_is_posted() {
        let server = Recorder::start(vec![Reply::new(200, "ok")]).await;
        let out = outgoing(now());
        let receipt = SlackSender::new()
            .send(&OutboundHttp::new(), &loopback_policy(), &server.url("/hook"), &out)
            .await
            .unwrap();
        assert_eq!(receipt, Receipt::default());
        let requests = server.requests();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].path, "/hook");
        assert_eq!(requests[0].json(), payload(&out));
    }

    #[tokio::test]
    async fn slack_errors_are_transient_for_429_and_5xx_and_permanent_for_other_4xx() {
        let http = OutboundHttp::new();
        let out = outgoing(now());
        for (status, body, transient) in
            [(429, "rate_limited", true), (503, "", true), (400, "invalid_payload", false), (404, "no_service", false)]
        {
            let server = Recorder::start(vec![Reply::new(status, body)]).await;
            let err = SlackSender::new().send(&http, &loopback_policy(), &server.url("/"), &out).await.unwrap_err();
            assert_eq!(err.is_transient(), transient, "{status}: {err}");
            assert!(err.to_string().contains(&status.to_string()) && err.to_string().contains(body), "{err}");
        }
    }

    #[tokio::test]
    async fn a_loopback_webhook_url_is_refused_without_the_allow_list() {
        let server = Recorder::start(vec![Reply::new(200, "ok")]).await;
        let err = SlackSender::new()
            .send(&OutboundHttp::new(), &NetworkPolicy::public_only(), &server.url("/"), &outgoing(now()))
            .await
            .unwrap_err();
        assert!(matches!(&err, SendError::Permanent(m) if m.contains("not a public address")), "{err:?}");
        assert!(server.requests().is_empty());
    }

    #[test]
    fn truncation_never_leaves_half_an_escape() {
        assert_eq!(truncate("a&amp;b".into(), 4), "a…");
        assert_eq!(truncate("abc".into(), 3), "abc");
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(2048), "2.0 KB");
    }
}
