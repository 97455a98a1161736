//! The Bedrock narrator: an LLM on Amazon Bedrock writes the summary through the Converse API.
//! The model gets the figures as JSON (every number as the document prints it) and the
//! report's prompt addendum, and must answer by calling one tool, `write_narrative`, whose
//! input is `{summary, takeaways}`. A JSON object in a text answer is accepted too; anything
//! else is [`NarrateError::Malformed`]. Requests are bounded in tokens and time, and what the
//! model writes still goes through the grounding check.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::operation::converse::ConverseOutput;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message, SpecificToolChoice, StopReason,
    SystemContentBlock, Tool, ToolChoice, ToolConfiguration, ToolInputSchema, ToolSpecification,
};
use serde_json::Value;

use super::prompt::{
    DEFAULT_TIMEOUT, MAX_TOKENS, SYSTEM_PROMPT, TEMPERATURE, TOOL_NAME, answer_schema, excerpt, json_object_in,
    narration, narration_in, takeaways_from_text, user_message,
};
use super::{Figures, NarrateError, Narration, Narrator};

pub struct BedrockNarrator {
    client: Client,
    model_id: String,
    timeout: Duration,
}

impl BedrockNarrator {
    pub fn new(client: Client, model_id: String) -> Self {
        Self { client, model_id, timeout: DEFAULT_TIMEOUT }
    }

    /// A narrator on the shared SDK configuration (region, credentials, endpoint overrides such
    /// as `AWS_ENDPOINT_URL`).
    pub fn from_sdk_config(config: &aws_config::SdkConfig, model_id: impl Into<String>) -> Self {
        Self::new(Client::new(config), model_id.into())
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn model_id(&self) -> &str {
        &self.model_id
    }
}

#[async_trait]
impl Narrator for BedrockNarrator {
    fn name(&self) -> &'static str {
        "bedrock"
    }

    async fn narrate(&self, figures: &Figures, prompt_addendum: Option<&str>) -> Result<Narration, NarrateError> {
        let request = self
            .client
            .converse()
            .model_id(&self.model_id)
            .system(SystemContentBlock::Text(SYSTEM_PROMPT.to_string()))
            .messages(
                Message::builder()
                    .role(ConversationRole::User)
                    .content(ContentBlock::Text(user_message(figures, prompt_addendum)))
                    .build()
                    .map_err(request_error)?,
            )
            .inference_config(InferenceConfiguration::builder().max_tokens(MAX_TOKENS).temperature(TEMPERATURE).build())
            .tool_config(tool_config()?);
        let answer = tokio::time::timeout(self.timeout, request.send())
            .await
            .map_err(|_| {
                NarrateError::Unavailable(format!("Bedrock did not answer within {} s", self.timeout.as_secs()))
            })?
            .map_err(unavailable)?;
        parse_answer(&answer)
    }
}

fn tool_config() -> Result<ToolConfiguration, NarrateError> {
    let schema = answer_schema();
    let spec = ToolSpecification::builder()
        .name(TOOL_NAME)
        .description("Record the report's executive summary and key takeaways.")
        .input_schema(ToolInputSchema::Json(document(&schema)))
        .build()
        .map_err(request_error)?;
    ToolConfiguration::builder()
        .tools(Tool::ToolSpec(spec))
        .tool_choice(ToolChoice::Tool(SpecificToolChoice::builder().name(TOOL_NAME).build().map_err(request_error)?))
        .build()
        .map_err(request_error)
}

/// JSON as the SDK's document type, built through its `From` conversions (the Bedrock crate
/// does not re-export the type itself).
fn document<D>(value: &Value) -> D
where
    D: From<bool> + From<String> + From<f64> + From<i64> + From<u64> + From<Option<bool>>,
    D: From<Vec<D>> + From<HashMap<String, D>>,
{
    match value {
        Value::Null => D::from(None::<bool>),
        Value::Bool(b) => D::from(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => D::from(u),
            (None, Some(i)) => D::from(i),
            _ => D::from(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => D::from(s.clone()),
        Value::Array(items) => D::from(items.iter().map(document::<D>).collect::<Vec<D>>()),
        Value::Object(fields) => {
            D::from(fields.iter().map(|(k, v)| (k.clone(), document::<D>(v))).collect::<HashMap<String, D>>())
        }
    }
}

/// The narration in the model's answer: the `write_narrative` call, else a JSON object in a
/// text block.
fn parse_answer(answer: &ConverseOutput) -> Result<Narration, NarrateError> {
    let content = answer.output().and_then(|o| o.as_message().ok()).map(|m| m.content()).unwrap_or_default();
    for block in content {
        if let ContentBlock::ToolUse(call) = block {
            if call.name() != TOOL_NAME {
                continue;
            }
            let Some(fields) = call.input().as_object() else {
                return Err(NarrateError::Malformed(format!("the {TOOL_NAME} input is not an object")));
            };
            let summary = fields.get("summary").and_then(|d| d.as_string()).map(str::to_owned);
            let takeaways = match fields.get("takeaways") {
                None => None,
                Some(d) => match (d.as_array(), d.as_string()) {
                    (Some(items), _) => Some(items.iter().map(|i| i.as_string().map(str::to_owned)).collect()),
                    (None, Some(text)) => Some(Some(takeaways_from_text(text))),
                    (None, None) => Some(None),
                },
            };
            return narration(summary, takeaways);
        }
    }
    let text: String =
        content.iter().filter_map(|b| b.as_text().ok()).map(String::as_str).collect::<Vec<_>>().join("\n");
    if let Some(object) = json_object_in(&text) {
        return narration_in(&object);
    }
    let why = match answer.stop_reason() {
        StopReason::MaxTokens => "the answer was cut off at the token limit".to_string(),
        _ if text.trim().is_empty() => format!("the answer has no {TOOL_NAME} call and no text"),
        _ => format!("the answer has no {TOOL_NAME} call and no JSON object: \"{}\"", excerpt(&text)),
    };
    Err(NarrateError::Malformed(why))
}

fn request_error(err: aws_sdk_bedrockruntime::error::BuildError) -> NarrateError {
    NarrateError::Unavailable(format!("could not build the Bedrock request: {err}"))
}

/// A failed call, with the service's code and message or the transport's reason.
fn unavailable<R>(err: SdkError<aws_sdk_bedrockruntime::operation::converse::ConverseError, R>) -> NarrateError
where
    R: std::fmt::Debug,
{
    let message = match &err {
        SdkError::ServiceError(service) => {
            let cause = service.err();
            match (cause.code(), cause.message()) {
                (Some(code), Some(message)) => format!("Bedrock refused the request: {code}: {message}"),
                (Some(code), None) => format!("Bedrock refused the request: {code}"),
                _ => format!("Bedrock refused the request: {}", DisplayErrorContext(cause)),
            }
        }
        other => format!("could not reach Bedrock: {}", DisplayErrorContext(other)),
    };
    NarrateError::Unavailable(message)
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};

    use aws_config::SdkConfig;
    use aws_sdk_bedrockruntime::config::retry::RetryConfig;
    use aws_sdk_bedrockruntime::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::{Path, State};
    use axum::http::{HeaderValue, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::routing::post;

    use serde_json::json;

    use super::*;
    use crate::domain::{DroppedSentence, NarrativeOutput, ValueFormat};
    use crate::narrate::{Fact, Movement, narrate_grounded};

    const MODEL: &str = "anthropic.claude-3-5-haiku-20241022-v1:0";
    const ADDENDUM: &str = "Flag any offer with >15% week-over-week drop.";

    /// A Converse endpoint that answers every request the same way and records what it got.
    #[derive(Clone)]
    struct FakeBedrock {
        status: StatusCode,
        error_type: Option<&'static str>,
        body: Value,
        seen: Arc<Mutex<Vec<(String, Value)>>>,
    }

    impl FakeBedrock {
        fn answering(body: Value) -> Self {
            Self { status: StatusCode::OK, error_type: None, body, seen: Arc::default() }
        }

        fn failing(status: StatusCode, error_type: &'static str, message: &str) -> Self {
            Self { status, error_type: Some(error_type), body: json!({"message": message}), seen: Arc::default() }
        }

        fn requests(&self) -> Vec<(String, Value)> {
            self.seen.lock().expect("the recorded requests").clone()
        }

        async fn start(&self) -> SocketAddr {
            let app = Router::new().route("/model/{model_id}/converse", post(converse)).with_state(self.clone());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a local port");
            let addr = listener.local_addr().expect("the local address");
            tokio::spawn(async move { axum::serve(listener, app).await });
            addr
        }
    }

    async fn converse(State(fake): State<FakeBedrock>, Path(model_id): Path<String>, body: Bytes) -> Response {
        let request = serde_json::from_slice(&body).unwrap_or(Value::Null);
        fake.seen.lock().expect("the recorded requests").push((model_id, request));
        let mut response = (fake.status, axum::Json(fake.body)).into_response();
        if let Some(error_type) = fake.error_type {
            response.headers_mut().insert("x-amzn-errortype", HeaderValue::from_static(error_type));
        }
        response
    }

    /// A Converse response whose message holds `content`.
    fn converse_response(content: Value, stop_reason: &str) -> Value {
        json!({
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop_reason,
            "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
            "metrics": {"latencyMs": 1}
        })
    }

    fn tool_answer(input: Value) -> Value {
        converse_response(json!([{"toolUse": {"toolUseId": "t1", "name": TOOL_NAME, "input": input}}]), "tool_use")
    }

    fn text_answer(text: &str) -> Value {
        converse_response(json!([{"text": text}]), "end_turn")
    }

    fn sdk_config(addr: SocketAddr) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "AKIDEXAMPLE",
                "test-secret",
                None,
                None,
                "test",
            )))
            .endpoint_url(format!("http://{addr}"))
            .retry_config(RetryConfig::disabled())
            .build()
    }

    async fn narrate_with(fake: &FakeBedrock) -> NarrativeOutput {
        let addr = fake.start().await;
        let narrator = BedrockNarrator::from_sdk_config(&sdk_config(addr), MODEL);
        narrate_grounded(&narrator, &figures(), Some(ADDENDUM)).await
    }

    fn figures() -> Figures {
        Figures {
            report: "Weekly digest".into(),
            period: Some("7 days to 21 Nov 2026".into()),
            facts: vec![Fact {
                label: "Completions".into(),
                value: 1234.6,
                display: "1,235".into(),
                format: ValueFormat::Number { decimals: 0 },
            }],
            movements: vec![
                Movement {
                    subject: "offer fafdcd66 (discount)".into(),
                    metric: "completions".into(),
                    current: 82.0,
                    previous: 100.0,
                    change: Some(-0.18),
                    format: ValueFormat::Number { decimals: 0 },
                },
                Movement {
                    subject: "channel email".into(),
                    metric: "completions".into(),
                    current: 1500.0,
                    previous: 1200.0,
                    change: Some(0.25),
                    format: ValueFormat::Number { decimals: 0 },
                },
            ],
            other_numbers: vec![],
            overall: vec![],
        }
    }

    #[tokio::test]
    async fn a_good_answer_is_kept_and_the_request_carries_the_figures_addendum_and_forced_tool() {
        let fake = FakeBedrock::answering(tool_answer(json!({
            "summary": "Completions reached 1,235 over the 7 days to 21 Nov 2026. Email rose 25.0% to 1,500.",
            "takeaways": [
                "- Discount offer completions fell 18.0% to 82, past the 15% threshold.",
                "Email led with 1,500."
            ]
        })));
        let narrative = narrate_with(&fake).await;

        assert_eq!(narrative.error, None);
        assert_eq!(narrative.narrator, "bedrock");
        assert_eq!(
            narrative.summary,
            "Completions reached 1,235 over the 7 days to 21 Nov 2026. Email rose 25.0% to 1,500."
        );
        assert_eq!(
            narrative.takeaways,
            vec!["Discount offer completions fell 18.0% to 82, past the 15% threshold.", "Email led with 1,500."]
        );
        assert!(narrative.dropped.is_empty(), "{:?}", narrative.dropped);

        let requests = fake.requests();
        assert_eq!(requests.len(), 1);
        let (model_id, request) = &requests[0];
        assert_eq!(model_id, MODEL);
        let message = request["messages"][0]["content"][0]["text"].as_str().expect("a user message");
        assert_eq!(request["messages"][0]["role"], "user");
        for expected in
            ["\"Completions\"", "\"1,235\"", "offer fafdcd66 (discount)", "\"-18.0%\"", "\"+25.0%\"", ADDENDUM]
        {
            assert!(message.contains(expected), "{expected} missing from {message}");
        }
        assert!(request["system"][0]["text"].as_str().is_some_and(|s| s.contains("Use only the figures given")));
        assert_eq!(request["toolConfig"]["toolChoice"], json!({"tool": {"name": TOOL_NAME}}));
        let spec = &request["toolConfig"]["tools"][0]["toolSpec"];
        assert_eq!(spec["name"], TOOL_NAME);
        assert_eq!(spec["inputSchema"]["json"]["required"], json!(["summary", "takeaways"]));
        assert_eq!(spec["inputSchema"]["json"]["properties"]["takeaways"]["items"], json!({"type": "string"}));
        assert_eq!(request["inferenceConfig"]["maxTokens"], MAX_TOKENS);
    }

    #[tokio::test]
    async fn a_sentence_quoting_a_figure_the_report_does_not_hold_is_dropped_and_the_rest_kept() {
        let fake = FakeBedrock::answering(tool_answer(json!({
            "summary": "Completions reached 1,235. Revenue rose 87.2% on the week. Email rose 25.0% to 1,500.",
            "takeaways": ["Email led with 1,500.", "Revenue is up 87.2%."]
        })));
        let narrative = narrate_with(&fake).await;

        assert_eq!(narrative.error, None);
        assert_eq!(narrative.summary, "Completions reached 1,235. Email rose 25.0% to 1,500.");
        assert_eq!(narrative.takeaways, vec!["Email led with 1,500."]);
        assert_eq!(
            narrative.dropped,
            vec![
                DroppedSentence {
                    sentence: "Revenue rose 87.2% on the week.".into(),
                    ungrounded: vec!["87.2%".into()]
                },
                DroppedSentence { sentence: "Revenue is up 87.2%.".into(), ungrounded: vec!["87.2%".into()] },
            ]
        );
    }

    #[tokio::test]
    async fn a_json_object_in_a_text_answer_is_accepted() {
        let fake = FakeBedrock::answering(text_answer(
            "Here it is:\n```json\n{\"summary\": \"Completions reached 1,235.\", \"takeaways\": [\"Email led.\"]}\n```",
        ));
        let narrative = narrate_with(&fake).await;
        assert_eq!(narrative.error, None);
        assert_eq!(narrative.summary, "Completions reached 1,235.");
        assert_eq!(narrative.takeaways, vec!["Email led."]);
    }

    #[tokio::test]
    async fn a_text_answer_that_is_not_json_leaves_the_narrative_empty_with_the_reason() {
        let fake = FakeBedrock::answering(text_answer("Sure! Completions were strong this week."));
        let narrative = narrate_with(&fake).await;
        assert_eq!(narrative.summary, "");
        assert!(narrative.takeaways.is_empty());
        let error = narrative.error.expect("the reason");
        assert!(error.contains("unexpected shape") && error.contains("Completions were strong"), "{error}");
    }

    #[tokio::test]
    async fn a_tool_call_missing_its_fields_leaves_the_narrative_empty_with_the_reason() {
        let fake = FakeBedrock::answering(tool_answer(json!({"summary": "Completions reached 1,235."})));
        let narrative = narrate_with(&fake).await;
        assert_eq!(narrative.summary, "");
        assert_eq!(
            narrative.error.as_deref(),
            Some("narrator answered in an unexpected shape: the answer has no `takeaways`")
        );

        let fake = FakeBedrock::answering(tool_answer(json!({"text": "Completions reached 1,235."})));
        let narrative = narrate_with(&fake).await;
        assert!(narrative.error.is_some_and(|e| e.contains("no `summary`")));
    }

    #[tokio::test]
    async fn a_throttled_request_is_recorded_as_unavailable() {
        let fake = FakeBedrock::failing(
            StatusCode::TOO_MANY_REQUESTS,
            "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/",
            "Too many requests, please wait before trying again.",
        );
        let narrative = narrate_with(&fake).await;
        assert_eq!(narrative.summary, "");
        assert_eq!(
            narrative.error.as_deref(),
            Some(
                "narrator unavailable: Bedrock refused the request: ThrottlingException: Too many requests, please \
                 wait before trying again."
            )
        );
    }

    #[tokio::test]
    async fn a_server_error_is_recorded_as_unavailable() {
        let fake =
            FakeBedrock::failing(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerException", "Something went wrong.");
        let narrative = narrate_with(&fake).await;
        assert_eq!(narrative.summary, "");
        assert!(
            narrative.error.as_deref().is_some_and(|e| e.contains("InternalServerException: Something went wrong.")),
            "{:?}",
            narrative.error
        );
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_recorded_as_unavailable() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a local port");
        let addr = listener.local_addr().expect("the local address");
        drop(listener);
        let narrator = BedrockNarrator::from_sdk_config(&sdk_config(addr), MODEL);
        let narrative = narrate_grounded(&narrator, &figures(), None).await;
        assert!(narrative.error.is_some_and(|e| e.starts_with("narrator unavailable: could not reach Bedrock")));
    }

    #[tokio::test]
    async fn a_narrator_can_be_built_from_a_client() {
        let fake =
            FakeBedrock::answering(tool_answer(json!({"summary": "Completions reached 1,235.", "takeaways": []})));
        let addr = fake.start().await;
        let config = aws_sdk_bedrockruntime::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("AKIDEXAMPLE", "test-secret", None, None, "test"))
            .endpoint_url(format!("http://{addr}"))
            .build();
        let narrator = BedrockNarrator::new(Client::from_conf(config), MODEL.to_string());
        let narration = narrator.narrate(&figures(), None).await.expect("a narration");
        assert_eq!(narration, Narration { summary: "Completions reached 1,235.".into(), takeaways: vec![] });
        let (_, request) = &fake.requests()[0];
        let message = request["messages"][0]["content"][0]["text"].as_str().unwrap_or_default();
        assert!(!message.contains("Instructions from the report's author"));
    }
}
