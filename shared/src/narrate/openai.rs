//! The OpenAI-compatible narrator: `POST {base_url}/v1/chat/completions`, for OpenAI and the
//! servers that speak its protocol (Ollama, vLLM, llama.cpp). The structured answer is asked
//! for with `response_format` (a strict JSON schema) or, for servers without it, a forced
//! function call. An answer cut at the token limit (`finish_reason: length`), filtered, or
//! refused (`refusal`) is a failure, never a summary.

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::http::ModelServer;
use super::prompt::{
    MAX_TOKENS, SYSTEM_PROMPT, TEMPERATURE, TOOL_NAME, answer_schema, json_object_in, narration_in, user_message,
};
use super::{Figures, NarrateError, Narration, Narrator};
use crate::domain::{StructuredOutput, TokenLimitParameter};

pub struct OpenAiNarrator {
    pub server: ModelServer,
    pub model: String,
    pub token_limit: TokenLimitParameter,
    pub structured: StructuredOutput,
}

impl OpenAiNarrator {
    /// The request body for `figures`.
    pub fn request(&self, figures: &Figures, prompt_addendum: Option<&str>) -> Value {
        let mut body = json!({
            "model": self.model,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": user_message(figures, prompt_addendum)}
            ],
            "temperature": TEMPERATURE,
        });
        let limit = match self.token_limit {
            TokenLimitParameter::MaxTokens => "max_tokens",
            TokenLimitParameter::MaxCompletionTokens => "max_completion_tokens",
        };
        body[limit] = json!(MAX_TOKENS);
        match self.structured {
            StructuredOutput::JsonSchema => {
                body["response_format"] = json!({
                    "type": "json_schema",
                    "json_schema": {"name": TOOL_NAME, "strict": true, "schema": answer_schema()}
                });
            }
            StructuredOutput::Tool => {
                body["tools"] = json!([{
                    "type": "function",
                    "function": {
                        "name": TOOL_NAME,
                        "description": "Record the report's executive summary and key takeaways.",
                        "parameters": answer_schema()
                    }
                }]);
                body["tool_choice"] = json!({"type": "function", "function": {"name": TOOL_NAME}});
            }
        }
        body
    }
}

#[async_trait]
impl Narrator for OpenAiNarrator {
    fn name(&self) -> &'static str {
        "openai_compatible"
    }

    async fn narrate(&self, figures: &Figures, prompt_addendum: Option<&str>) -> Result<Narration, NarrateError> {
        let answer = self.server.post(&self.request(figures, prompt_addendum)).await?;
        parse(&answer)
    }
}

/// The narration in a chat completion: the forced call's arguments, else the message's JSON.
pub fn parse(answer: &Value) -> Result<Narration, NarrateError> {
    let choice =
        answer.pointer("/choices/0").ok_or_else(|| NarrateError::Malformed("the answer has no choices".into()))?;
    let message = &choice["message"];
    if let Some(refusal) = message["refusal"].as_str().filter(|r| !r.trim().is_empty()) {
        return Err(NarrateError::Unavailable(format!("the model refused: {}", super::prompt::excerpt(refusal))));
    }
    match choice["finish_reason"].as_str() {
        Some("length") => return Err(NarrateError::Malformed("the answer was cut off at the token limit".into())),
        Some("content_filter") => {
            return Err(NarrateError::Unavailable("the server's content filter stopped the answer".into()));
        }
        _ => {}
    }
    let arguments = message.pointer("/tool_calls/0/function/arguments").and_then(Value::as_str);
    let text = arguments.or_else(|| message["content"].as_str()).unwrap_or_default();
    let object: Map<String, Value> = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => object,
        _ => json_object_in(text).ok_or_else(|| {
            NarrateError::Malformed(format!("the answer holds no JSON object: \"{}\"", super::prompt::excerpt(text)))
        })?,
    };
    narration_in(&object)
}
