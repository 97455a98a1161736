//! Which narrator a workspace gets: none when its AI settings are off, the built-in one by
//! default, Bedrock with the workspace's model (or the deployment's `HERALD_BEDROCK_MODEL_ID`),
//! or a model server speaking the OpenAI or Anthropic protocol, reached through the outbound
//! client under the workspace's network policy. A build without the `aws` feature has no
//! Bedrock: a workspace that chose it gets narrations that fail with the reason.

use std::sync::Arc;

use async_trait::async_trait;

use std::time::Duration;

use super::anthropic::{API_VERSION, AnthropicNarrator};
use super::http::{ModelServer, Retry};
use super::openai::OpenAiNarrator;
use super::{BuiltinNarrator, Figures, NarrateError, Narration, Narrator};
use crate::domain::{NarratorKind, Workspace};
use crate::net::{NetworkPolicy, OutboundHttp};

/// The narrators a process can hand out, built once with the context.
pub struct Narrators {
    builtin: Arc<dyn Narrator>,
    http: Arc<OutboundHttp>,
    #[cfg(feature = "aws")]
    bedrock: Option<Bedrock>,
}

/// Bedrock's client and the deployment's default model (`HERALD_BEDROCK_MODEL_ID`).
#[cfg(feature = "aws")]
struct Bedrock {
    client: aws_sdk_bedrockruntime::Client,
    default_model: Option<String>,
}

impl Narrators {
    /// The built-in narrator and the HTTP model servers, called through `http`.
    pub fn new(http: Arc<OutboundHttp>) -> Self {
        Self {
            builtin: Arc::new(BuiltinNarrator::new()),
            http,
            #[cfg(feature = "aws")]
            bedrock: None,
        }
    }

    /// Adds Bedrock, with the deployment's default model.
    #[cfg(feature = "aws")]
    pub fn with_bedrock(mut self, sdk: &aws_config::SdkConfig, default_model: Option<String>) -> Self {
        self.bedrock = Some(Bedrock {
            client: aws_sdk_bedrockruntime::Client::new(sdk),
            default_model: default_model.filter(|m| !m.trim().is_empty()),
        });
        self
    }

    /// The Bedrock narrator of `workspace`, or one that fails with the reason there is none.
    fn bedrock(&self, workspace: &Workspace) -> Arc<dyn Narrator> {
        #[cfg(feature = "aws")]
        if let Some(bedrock) = &self.bedrock {
            let ai = &workspace.settings.ai;
            return match ai.model_id.clone().or_else(|| bedrock.default_model.clone()) {
                Some(model) => Arc::new(
                    super::BedrockNarrator::new(bedrock.client.clone(), model)
                        .with_timeout(Duration::from_secs(ai.timeout_seconds.into())),
                ),
                None => Arc::new(Unusable(
                    "no Bedrock model is configured (set the workspace's AI model or HERALD_BEDROCK_MODEL_ID)",
                )),
            };
        }
        let _ = workspace;
        Arc::new(Unusable(if crate::config::AWS { "Bedrock is not configured" } else { crate::config::WITHOUT_AWS }))
    }

    /// The built-in narrator (what a failed model falls back to).
    pub fn builtin(&self) -> Arc<dyn Narrator> {
        self.builtin.clone()
    }

    /// The model server of an OpenAI-compatible or Anthropic narrator.
    fn server(&self, workspace: &Workspace, path: &str, headers: Vec<(&'static str, String)>) -> ModelServer {
        let ai = &workspace.settings.ai;
        ModelServer {
            http: self.http.clone(),
            policy: NetworkPolicy::of(&workspace.settings.network),
            url: format!("{}{path}", ai.server()),
            headers,
            timeout: Duration::from_secs(ai.timeout_seconds.into()),
            retry: Retry::default(),
            provider: if ai.narrator == NarratorKind::Anthropic { "Anthropic" } else { "the OpenAI-compatible server" },
        }
    }

    /// The workspace's narrator; `None` when it turned narration off.
    pub fn for_workspace(&self, workspace: &Workspace) -> Option<Arc<dyn Narrator>> {
        let ai = &workspace.settings.ai;
        if !ai.enabled {
            return None;
        }
        Some(match ai.narrator {
            NarratorKind::Builtin => self.builtin.clone(),
            NarratorKind::Bedrock => self.bedrock(workspace),
            NarratorKind::OpenaiCompatible => {
                let key = ai.api_key.as_ref().filter(|k| !k.is_empty());
                let headers = key.map(|k| ("authorization", format!("Bearer {}", k.expose()))).into_iter().collect();
                Arc::new(OpenAiNarrator {
                    server: self.server(workspace, "/v1/chat/completions", headers),
                    model: ai.model_id.clone().unwrap_or_default(),
                    token_limit: ai.token_limit_parameter,
                    structured: ai.structured_output,
                })
            }
            NarratorKind::Anthropic => {
                let mut headers = vec![("anthropic-version", API_VERSION.to_string())];
                headers.extend(
                    ai.api_key.as_ref().filter(|k| !k.is_empty()).map(|k| ("x-api-key", k.expose().to_string())),
                );
                Arc::new(AnthropicNarrator {
                    server: self.server(workspace, "/v1/messages", headers),
                    model: ai.model_id.clone().unwrap_or_default(),
                })
            }
        })
    }
}

/// Bedrock chosen where it cannot be called (no model, or a build without AWS): every
/// narration fails with the reason, which the run records (its artifacts are still produced).
struct Unusable(&'static str);

#[async_trait]
impl Narrator for Unusable {
    fn name(&self) -> &'static str {
        "bedrock"
    }

    async fn narrate(&self, _: &Figures, _: Option<&str>) -> Result<Narration, NarrateError> {
        Err(NarrateError::Unavailable(self.0.into()))
    }
}
