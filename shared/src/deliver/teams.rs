//! Microsoft Teams delivery: a run posted to a Teams incoming webhook or a Workflows ("Post to a
//! channel when a webhook request is received") URL, as a message with one Adaptive Card
//! (version 1.4): the report's name, the author's message, the narrative summary and key
//! takeaways, when and why the run happened, a button to the run and one to each file.

use std::time::Duration;

use serde_json::{Value, json};

use super::slack::{check_status, context_line, human_size, net_error, truncate};
use super::{Outgoing, Receipt, SendError};
use crate::net::{NetworkPolicy, OutboundHttp, RequestOptions};

/// The attachment content type of an Adaptive Card.
pub const ADAPTIVE_CARD: &str = "application/vnd.microsoft.card.adaptive";
/// Adaptive Card schema version Teams renders everywhere.
pub const CARD_VERSION: &str = "1.4";
/// Most characters kept of a text block (a Teams message is limited to about 28 KB).
const MAX_TEXT: usize = 3000;
/// Most characters kept of the title.
const MAX_TITLE: usize = 150;
/// Most takeaways and file buttons shown.
const MAX_TAKEAWAYS: usize = 20;
const MAX_FILES: usize = 20;

const TIMEOUT: Duration = Duration::from_secs(15);
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Builds the Teams message (one Adaptive Card attachment) for `outgoing`.
pub fn payload(outgoing: &Outgoing) -> Value {
    let run = &outgoing.run;
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": truncate(run.report_name.clone(), MAX_TITLE),
        "size": "Large",
        "weight": "Bolder",
        "wrap": true,
        "style": "heading",
    })];
    if !outgoing.subject.trim().is_empty() && outgoing.subject.trim() != run.report_name.trim() {
        body.push(json!({"type": "TextBlock", "text": truncate(outgoing.subject.clone(), MAX_TITLE), "weight": "Bolder", "wrap": true}));
    }
    if !outgoing.message.trim().is_empty() {
        body.push(text_block(&outgoing.message));
    }
    let narrative = outgoing.narrative.as_ref();
    if let Some(summary) = narrative.map(|n| n.summary.trim()).filter(|s| !s.is_empty()) {
        body.push(
            json!({"type": "TextBlock", "text": "Summary", "weight": "Bolder", "wrap": true, "spacing": "Medium"}),
        );
        body.push(text_block(summary));
    }
    let takeaways: Vec<&str> =
        narrative.map(|n| n.takeaways.iter().map(|t| t.trim()).filter(|t| !t.is_empty()).collect()).unwrap_or_default();
    if !takeaways.is_empty() {
        let bullets: Vec<String> =
            takeaways.iter().take(MAX_TAKEAWAYS).map(|t| format!("- {}", t.replace('\n', " "))).collect();
        body.push(json!({"type": "TextBlock", "text": "Key takeaways", "weight": "Bolder", "wrap": true, "spacing": "Medium"}));
        body.push(text_block(&bullets.join("\n")));
    }
    body.push(json!({
        "type": "TextBlock",
        "text": context_line(outgoing),
        "isSubtle": true,
        "size": "Small",
        "wrap": true,
    }));
    let file_actions: Vec<Value> = outgoing
        .files
        .iter()
        .filter(|f| !f.download_url.is_empty())
        .take(MAX_FILES)
        .map(|f| {
            json!({
                "type": "Action.OpenUrl",
                "title": truncate(format!("{} ({})", f.file_name, human_size(f.size)), MAX_TITLE),
                "url": f.download_url,
            })
        })
        .collect();
    if !file_actions.is_empty() {
        body.push(json!({"type": "TextBlock", "text": "Files", "weight": "Bolder", "wrap": true, "spacing": "Medium"}));
        body.push(json!({"type": "ActionSet", "actions": file_actions}));
        let left_out = outgoing.files.len().saturating_sub(MAX_FILES);
        if left_out > 0 {
            body.push(json!({"type": "TextBlock", "text": format!("…and {left_out} more; see the run"), "isSubtle": true, "wrap": true}));
        }
    }
    let card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "body": body,
        "actions": [{"type": "Action.OpenUrl", "title": "View run", "url": outgoing.run_url}],
    });
    json!({
        "type": "message",
        "attachments": [{"contentType": ADAPTIVE_CARD, "contentUrl": null, "content": card}],
    })
}

fn text_block(text: &str) -> Value {
    json!({"type": "TextBlock", "text": truncate(text.trim().to_string(), MAX_TEXT), "wrap": true})
}

/// Posts messages to Teams incoming webhooks and Workflows webhook URLs.
#[derive(Debug, Clone, Default)]
pub struct TeamsSender;

impl TeamsSender {
    pub fn new() -> Self {
        Self
    }

    /// Posts [`payload`] of `outgoing` to `webhook_url`. Incoming webhooks answer 200 and
    /// Workflows 202; 429, 5xx, timeouts and connection failures are [`SendError::Transient`],
    /// other answers [`SendError::Permanent`] with what Teams said.
    pub async fn send(
        &self,
        http: &OutboundHttp,
        policy: &NetworkPolicy,
        webhook_url: &str,
        outgoing: &Outgoing,
    ) -> Result<Receipt, SendError> {
        let options = RequestOptions::new(TIMEOUT, MAX_RESPONSE_BYTES);
        let response = http
            .post_json(policy, webhook_url, &payload(outgoing), &options)
            .await
            .map_err(|e| net_error("Teams", e))?;
        check_status("Teams", &response)?;
        Ok(Receipt { provider_message_id: None })
    }
}
