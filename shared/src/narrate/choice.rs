//! Which narrator a workspace gets: none when its AI settings are off, the built-in one by
//! default, or Bedrock with the workspace's model (or the deployment's `HERALD_BEDROCK_MODEL_ID`).

use std::sync::Arc;

use async_trait::async_trait;

use super::{BedrockNarrator, BuiltinNarrator, Figures, NarrateError, Narration, Narrator};
use crate::domain::{NarratorKind, Workspace};

/// The narrators a process can hand out, built once with the context.
pub struct Narrators {
    builtin: Arc<dyn Narrator>,
    bedrock: aws_sdk_bedrockruntime::Client,
    default_model: Option<String>,
}

impl Narrators {
    pub fn new(sdk: &aws_config::SdkConfig, default_model: Option<String>) -> Self {
        Self {
            builtin: Arc::new(BuiltinNarrator::new()),
            bedrock: aws_sdk_bedrockruntime::Client::new(sdk),
            default_model: default_model.filter(|m| !m.trim().is_empty()),
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
            NarratorKind::Bedrock => match ai.model_id.clone().or_else(|| self.default_model.clone()) {
                Some(model) => Arc::new(BedrockNarrator::new(self.bedrock.clone(), model)),
                None => Arc::new(Unconfigured),
            },
        })
    }
}

/// Bedrock chosen without a model to call: every narration fails with the reason, which the
/// run records (its artifacts are still produced).
struct Unconfigured;

#[async_trait]
impl Narrator for Unconfigured {
    fn name(&self) -> &'static str {
        "bedrock"
    }

    async fn narrate(&self, _: &Figures, _: Option<&str>) -> Result<Narration, NarrateError> {
        Err(NarrateError::Unavailable(
            "no Bedrock model is configured (set the workspace's AI model or HERALD_BEDROCK_MODEL_ID)".into(),
        ))
    }
}
