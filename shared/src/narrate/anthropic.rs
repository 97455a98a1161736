//! The Anthropic narrator: `POST {base_url}/v1/messages` with `x-api-key` and
//! `anthropic-version`, the structured answer asked for as a forced `tool_use` of
//! `write_narrative`. An answer cut at the token limit (`stop_reason: max_tokens`) or refused
//! (`refusal`) is a failure, never a summary.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::http::ModelServer;
use super::prompt::{
    MAX_TOKENS, SYSTEM_PROMPT, TEMPERATURE, TOOL_NAME, answer_schema, excerpt, narration_in, user_message,
};
use super::{Figures, NarrateError, Narration, Narrator};

/// The API version the requests are written for.
pub const API_VERSION: &str = "2023-06-01";

pub struct AnthropicNarrator {
    pub server: ModelServer,
    pub model: String,
}

impl AnthropicNarrator {
    /// The request body for `figures`.
    pub fn request(&self, figures: &Figures, prompt_addendum: Option<&str>) -> Value {
        json!({
            "model": self.model,
            "max_tokens": MAX_TOKENS,
            "temperature": TEMPERATURE,
            "system": SYSTEM_PROMPT,
            "messages": [{"role": "user", "content": user_message(figures, prompt_addendum)}],
            "tools": [{
                "name": TOOL_NAME,
                "description": "Record the report's executive summary and key takeaways.",
                "input_schema": answer_schema()
            }],
            "tool_choice": {"type": "tool", "name": TOOL_NAME}
        })
    }
}

#[async_trait]
impl Narrator for AnthropicNarrator {
    fn name(&self) -> &'static str {
        "anthropic"
    }

    async fn narrate(&self, figures: &Figures, prompt_addendum: Option<&str>) -> Result<Narration, NarrateError> {
        let answer = self.server.post(&self.request(figures, prompt_addendum)).await?;
        parse(&answer)
    }
}

/// The narration in a Messages answer: the input of its `write_narrative` tool use.
pub fn parse(answer: &Value) -> Result<Narration, NarrateError> {
    match answer["stop_reason"].as_str() {
        Some("max_tokens") => return Err(NarrateError::Malformed("the answer was cut off at the token limit".into())),
        Some("refusal") => return Err(NarrateError::Unavailable("the model refused to answer".into())),
        _ => {}
    }
    let content = answer["content"].as_array().map(Vec::as_slice).unwrap_or_default();
    let call = content.iter().find(|block| block["type"] == "tool_use" && block["name"] == TOOL_NAME);
    match call.map(|c| &c["input"]) {
        Some(Value::Object(input)) => narration_in(input),
        Some(_) => Err(NarrateError::Malformed(format!("the {TOOL_NAME} input is not an object"))),
        None => {
            let text: String = content.iter().filter_map(|b| b["text"].as_str()).collect();
            Err(NarrateError::Malformed(format!("the answer has no {TOOL_NAME} call: \"{}\"", excerpt(&text))))
        }
    }
}
