//! Microsoft Teams delivery: a run posted to a Teams incoming webhook or a Workflows ("Post to a
//! channel when a webhook request is received") URL, as a message with one Adaptive Card
//! (version 1.4): the report's name, the author's message, the narrative summary and key
//! takeaways, when and why the run happened, a button to the run and one to each file.

use serde_json::{Value, json};

use super::slack::{answer_text, human_size, post_chat, truncate};
use super::{Outgoing, Receipt, SendError};
use crate::net::{HttpResponse, NetworkPolicy, OutboundHttp};

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

/// Builds the Teams message (one Adaptive Card attachment) for `outgoing`.
pub fn payload(outgoing: &Outgoing) -> Value {
    let title = outgoing.title();
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": truncate(title.to_string(), MAX_TITLE),
        "size": "Large",
        "weight": "Bolder",
        "wrap": true,
        "style": "heading",
    })];
    if !outgoing.subject.trim().is_empty() && outgoing.subject.trim() != title.trim() {
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
        "text": outgoing.context_line(),
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
    let actions: Vec<Value> = outgoing
        .view_url
        .iter()
        .map(|url| json!({"type": "Action.OpenUrl", "title": outgoing.view_label(), "url": url}))
        .collect();
    let card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "body": body,
        "actions": actions,
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
        let response = post_chat(http, policy, webhook_url, "Teams", &payload(outgoing)).await?;
        connector_error(&response)?;
        Ok(Receipt { provider_message_id: None })
    }
}

/// Office 365 connector webhooks answer 200 even when Teams refused the message, with
/// `Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error
/// 429 …` as the body; such an answer is a failure, transient when Teams was throttling or
/// failing.
fn connector_error(response: &HttpResponse) -> Result<(), SendError> {
    let answer = answer_text(response);
    if !answer.contains("delivery failed") {
        return Ok(());
    }
    let message = format!("Teams: {answer}");
    let transient = ["HTTP error 429", "HTTP error 5"].iter().any(|marker| answer.contains(marker));
    Err(if transient { SendError::Transient(message) } else { SendError::Permanent(message) })
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

    #[test]
    fn the_message_is_one_adaptive_card_with_title_summary_takeaways_and_links() {
        let out = outgoing(now());
        let p = payload(&out);
        assert_eq!(p["type"], "message");
        let attachments = p["attachments"].as_array().unwrap();
        assert_eq!(attachments.len(), 1);
        assert_eq!(attachments[0]["contentType"], ADAPTIVE_CARD);
        let card = &attachments[0]["content"];
        assert_eq!(card["$schema"], "http://adaptivecards.io/schemas/adaptive-card.json");
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["version"], "1.4");
        let body = card["body"].as_array().unwrap();
        assert_eq!(body[0]["type"], "TextBlock");
        assert_eq!(body[0]["text"], "Weekly digest");
        let blocks: Vec<&Value> = body.iter().filter(|b| b["type"] == "TextBlock").collect();
        assert!(blocks.iter().all(|b| b["wrap"] == true));
        let text: Vec<&str> = blocks.iter().filter_map(|b| b["text"].as_str()).collect();
        assert!(text.contains(&"Revenue grew 12% to $1.2M; churn fell below 2%."), "{text:?}");
        assert!(text.contains(&"- Email beat SMS on conversion\n- Offer B > Offer A"), "{text:?}");
        assert!(text.iter().any(|t| t.contains("trigger: schedule")));
        assert_eq!(card["actions"][0], json!({"type": "Action.OpenUrl", "title": "View run", "url": out.view_url}));
        let set = body.iter().find(|b| b["type"] == "ActionSet").unwrap();
        let urls: Vec<&str> = set["actions"].as_array().unwrap().iter().map(|a| a["url"].as_str().unwrap()).collect();
        let expected: Vec<&str> = out.files.iter().map(|f| f.download_url.as_str()).collect();
        assert_eq!(urls, expected);
        assert!(set["actions"].as_array().unwrap().iter().all(|a| a["type"] == "Action.OpenUrl"));
    }

    #[test]
    fn long_texts_and_many_files_are_cut() {
        let mut out = outgoing(now());
        if let Some(n) = out.narrative.as_mut() {
            n.summary = "s".repeat(20_000);
        }
        out.files = (0..60).map(|i| file(&format!("part-{i}.csv"), "text/csv", b"x")).collect();
        let p = payload(&out);
        let body = p["attachments"][0]["content"]["body"].as_array().unwrap();
        assert!(body.iter().filter_map(|b| b["text"].as_str()).all(|t| t.chars().count() <= MAX_TEXT));
        let set = body.iter().find(|b| b["type"] == "ActionSet").unwrap();
        assert_eq!(set["actions"].as_array().unwrap().len(), MAX_FILES);
        assert!(body.iter().any(|b| b["text"].as_str().is_some_and(|t| t.contains("40 more"))));
    }

    #[tokio::test]
    async fn teams_accepts_200_and_202_and_the_card_is_posted() {
        for status in [200, 202] {
            let server = Recorder::start(vec![Reply::new(status, "1")]).await;
            let out = outgoing(now());
            TeamsSender::new().send(&OutboundHttp::new(), &loopback_policy(), &server.url("/wf"), &out).await.unwrap();
            assert_eq!(server.requests()[0].json(), payload(&out));
        }
    }

    #[tokio::test]
    async fn a_connector_failure_reported_with_200_is_not_a_success() {
        let http = OutboundHttp::new();
        for (code, transient) in [("429", true), ("413", false)] {
            let body = format!(
                "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error {code} with ContextId x"
            );
            let server = Recorder::start(vec![Reply::new(200, &body)]).await;
            let err = TeamsSender::new()
                .send(&http, &loopback_policy(), &server.url("/"), &outgoing(now()))
                .await
                .unwrap_err();
            assert_eq!(err.is_transient(), transient, "{err}");
            assert!(err.to_string().contains(code));
        }
    }

    #[tokio::test]
    async fn teams_errors_are_classified_by_status() {
        let http = OutboundHttp::new();
        for (status, transient) in [(429, true), (502, true), (400, false), (403, false), (302, false)] {
            let server = Recorder::start(vec![Reply::new(status, "nope")]).await;
            let err = TeamsSender::new()
                .send(&http, &loopback_policy(), &server.url("/"), &outgoing(now()))
                .await
                .unwrap_err();
            assert_eq!(err.is_transient(), transient, "{status}: {err}");
        }
    }
}
