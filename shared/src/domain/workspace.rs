//! Workspaces (tenants) and their settings: retention per data kind, legal hold, SMTP, AI, and
//! the private addresses outbound requests may reach.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Code, FieldError, Name, Secret, ValidationErrors, WorkspaceId};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub code: Code,
    pub name: Name,
    /// Inactive workspaces are skipped by the tick and maintenance tasks.
    #[serde(default = "super::values::default_true")]
    pub active: bool,
    #[serde(default)]
    pub settings: WorkspaceSettings,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version, bumped by every write.
    #[serde(default)]
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct WorkspaceSettings {
    pub retention: Retention,
    /// Under legal hold nothing of the workspace is purged by retention cleanup.
    pub legal_hold: bool,
    pub smtp: Option<SmtpSettings>,
    pub ai: AiSettings,
    pub network: NetworkSettings,
    /// The IANA timezone whose calendar runs started by hand and previews count days in
    /// (derived dates, the analytics periods); UTC when unset. A scheduled run counts in its
    /// schedule's timezone.
    #[schema(example = "Europe/London")]
    pub timezone: Option<String>,
}

impl WorkspaceSettings {
    /// The zone of [`WorkspaceSettings::timezone`] (UTC when unset).
    pub fn zone(&self) -> chrono_tz::Tz {
        self.timezone.as_deref().and_then(|name| name.parse().ok()).unwrap_or(chrono_tz::Tz::UTC)
    }

    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = self.retention.check();
        if let Some(name) = self.timezone.as_deref().filter(|name| name.parse::<chrono_tz::Tz>().is_err()) {
            errors.push(FieldError::new("timezone", format!("`{name}` is not an IANA timezone")));
        }
        if let Some(smtp) = &self.smtp {
            errors.extend(smtp.check());
        }
        errors.extend(self.ai.check());
        errors.extend(self.network.check());
        ValidationErrors::into_result(errors)
    }
}

/// How long each kind of data is kept, in days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Retention {
    /// Raw interaction history.
    pub history_days: u32,
    /// Daily/weekly/monthly/all-time interaction summaries.
    pub summary_days: u32,
    /// Runs, entries, deliveries and their artifacts.
    pub run_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Self { history_days: 365, summary_days: 730, run_days: 365 }
    }
}

impl Retention {
    fn check(&self) -> Vec<FieldError> {
        [("history_days", self.history_days), ("summary_days", self.summary_days), ("run_days", self.run_days)]
            .into_iter()
            .filter(|(_, days)| !(1..=36_500).contains(days))
            .map(|(field, _)| {
                FieldError::new(format!("settings.retention.{field}"), "must be between 1 and 36500 days")
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption; only for a relay on a trusted network.
    None,
}

/// The workspace's SMTP server (seed `003`, "SMTP settings").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SmtpSettings {
    pub host: String,
    #[schema(minimum = 1, maximum = 65535)]
    pub port: u16,
    #[serde(default)]
    pub security: SmtpSecurity,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    pub from: String,
    #[serde(default)]
    pub reply_to: Option<String>,
}

impl SmtpSettings {
    /// Whether the password would go to the same server, the same way, as under `other`.
    pub fn same_server(&self, other: &SmtpSettings) -> bool {
        self.host.trim().eq_ignore_ascii_case(other.host.trim())
            && self.port == other.port
            && self.security == other.security
            && self.username == other.username
    }

    fn check(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.host.trim().is_empty() {
            errors.push(FieldError::new("settings.smtp.host", "must not be blank"));
        }
        if self.port == 0 {
            errors.push(FieldError::new("settings.smtp.port", "must be a port number"));
        }
        if !looks_like_email(&self.from) {
            errors.push(FieldError::new("settings.smtp.from", "must be an email address"));
        }
        if self.reply_to.as_deref().is_some_and(|r| !looks_like_email(r)) {
            errors.push(FieldError::new("settings.smtp.reply_to", "must be an email address"));
        }
        errors
    }
}

/// A light structural check (`local@domain.tld`); the mail server has the final word.
pub fn looks_like_email(value: &str) -> bool {
    let Some((local, domain)) = value.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !value.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Where outbound requests (HTTP sources, Slack, Teams, webhooks) may go. Public addresses are
/// always reachable; private, loopback, link-local and other reserved ones only when listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct NetworkSettings {
    /// IP addresses or CIDR ranges (`10.0.0.5`, `10.1.0.0/16`, `fd00::/8`) allowed although
    /// they are not public.
    pub allowed_addresses: Vec<String>,
}

impl NetworkSettings {
    /// Most entries the allow-list may hold.
    pub const MAX_ALLOWED: usize = 100;

    fn check(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.allowed_addresses.len() > Self::MAX_ALLOWED {
            errors.push(FieldError::new("settings.network.allowed_addresses", "at most 100 entries"));
        }
        for (i, entry) in self.allowed_addresses.iter().enumerate() {
            if let Err(message) = crate::net::AddressRange::parse(entry) {
                errors.push(FieldError::new(format!("settings.network.allowed_addresses[{i}]"), message));
            }
        }
        errors
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NarratorKind {
    /// Deterministic narrator built into Herald (no external calls).
    #[default]
    Builtin,
    /// Amazon Bedrock (Converse API).
    Bedrock,
    /// OpenAI, or any server speaking its chat completions protocol (Ollama, vLLM, llama.cpp).
    OpenaiCompatible,
    /// Anthropic's Messages API.
    Anthropic,
}

impl NarratorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NarratorKind::Builtin => "builtin",
            NarratorKind::Bedrock => "bedrock",
            NarratorKind::OpenaiCompatible => "openai_compatible",
            NarratorKind::Anthropic => "anthropic",
        }
    }

    /// Whether the narrator is a model server reached over HTTP.
    pub fn is_http(self) -> bool {
        matches!(self, NarratorKind::OpenaiCompatible | NarratorKind::Anthropic)
    }
}

/// Which parameter an OpenAI-compatible server takes for the answer's token limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenLimitParameter {
    /// `max_tokens` (Ollama, vLLM, llama.cpp, older OpenAI models).
    #[default]
    MaxTokens,
    /// `max_completion_tokens` (current OpenAI models).
    MaxCompletionTokens,
}

/// How an OpenAI-compatible server is asked for the structured answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StructuredOutput {
    /// `response_format` with a JSON schema.
    #[default]
    JsonSchema,
    /// A forced function call (for servers without `response_format`).
    Tool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct AiSettings {
    pub enabled: bool,
    pub narrator: NarratorKind,
    /// The model: a Bedrock model id (the deployment's default when absent), or the model an
    /// OpenAI-compatible or Anthropic server runs (required for those).
    pub model_id: Option<String>,
    /// The server of an OpenAI-compatible or Anthropic narrator (`https://api.openai.com`,
    /// `https://api.anthropic.com`, `http://10.0.0.7:11434`); the provider's own when absent.
    pub base_url: Option<String>,
    /// The provider's API key: write-only; kept on a change only while the narrator and the
    /// server's origin stay the same.
    pub api_key: Option<Secret>,
    pub token_limit_parameter: TokenLimitParameter,
    pub structured_output: StructuredOutput,
    /// How long a narration may take (5 to 300 seconds).
    #[schema(minimum = 5, maximum = 300)]
    pub timeout_seconds: u32,
    /// Most model calls a day (UTC) for this workspace (Bedrock, OpenAI-compatible, Anthropic);
    /// past it the built-in narrator writes, and the run says why. No cap when absent.
    #[schema(minimum = 0, maximum = 1000000)]
    pub daily_call_cap: Option<u32>,
}

impl Default for AiSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            narrator: NarratorKind::Builtin,
            model_id: None,
            base_url: None,
            api_key: None,
            token_limit_parameter: TokenLimitParameter::default(),
            structured_output: StructuredOutput::default(),
            timeout_seconds: 60,
            daily_call_cap: None,
        }
    }
}

impl AiSettings {
    /// The server an HTTP narrator calls: the configured one, else the provider's own.
    /// A base URL given with the protocol's `/v1` (as providers print it) is taken without it.
    pub fn server(&self) -> &str {
        match (self.base_url.as_deref(), self.narrator) {
            (Some(url), _) => {
                let url = url.trim_end_matches('/');
                url.strip_suffix("/v1").unwrap_or(url)
            }
            (None, NarratorKind::Anthropic) => "https://api.anthropic.com",
            (None, _) => "https://api.openai.com",
        }
    }

    fn check(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.narrator.is_http() && self.model_id.as_deref().is_none_or(|m| m.trim().is_empty()) {
            errors.push(FieldError::new("settings.ai.model_id", "name the model the server runs"));
        }
        if let Some(url) = &self.base_url
            && let Err(reason) = crate::net::check_http_url(url)
        {
            errors.push(FieldError::new("settings.ai.base_url", reason));
        }
        if self.model_id.as_deref().is_some_and(|m| m.chars().count() > 200 || m.chars().any(char::is_control)) {
            errors.push(FieldError::new("settings.ai.model_id", "must be at most 200 characters"));
        }
        if self.api_key.as_ref().is_some_and(|k| k.expose().len() > 4096 || k.expose().chars().any(char::is_control)) {
            errors
                .push(FieldError::new("settings.ai.api_key", "must be at most 4096 characters, no control characters"));
        }
        if self.daily_call_cap.is_some_and(|cap| cap > 1_000_000) {
            errors.push(FieldError::new("settings.ai.daily_call_cap", "must be at most 1000000"));
        }
        if !(5..=300).contains(&self.timeout_seconds) {
            errors.push(FieldError::new("settings.ai.timeout_seconds", "must be between 5 and 300"));
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_settings_are_valid() {
        assert!(WorkspaceSettings::default().validate().is_ok());
    }

    #[test]
    fn every_settings_problem_is_reported_at_once() {
        let settings = WorkspaceSettings {
            retention: Retention { history_days: 0, summary_days: 10, run_days: 0 },
            smtp: Some(SmtpSettings {
                host: " ".into(),
                port: 0,
                security: SmtpSecurity::Starttls,
                username: None,
                password: None,
                from: "nobody".into(),
                reply_to: None,
            }),
            ..Default::default()
        };
        let fields: Vec<_> = settings.validate().unwrap_err().0.into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "settings.retention.history_days",
                "settings.retention.run_days",
                "settings.smtp.host",
                "settings.smtp.port",
                "settings.smtp.from"
            ]
        );
    }

    #[test]
    fn email_check_accepts_addresses_and_rejects_obvious_garbage() {
        assert!(looks_like_email("ops@example.com"));
        for bad in ["", "ops", "ops@", "@example.com", "ops@example", "o ps@example.com"] {
            assert!(!looks_like_email(bad), "{bad:?}");
        }
    }

    #[test]
    fn allowed_addresses_must_be_ips_or_cidr_ranges() {
        let settings = WorkspaceSettings {
            network: NetworkSettings {
                allowed_addresses: vec!["10.0.0.5".into(), "fd00::/8".into(), "intranet".into(), "10.0.0.0/33".into()],
            },
            ..Default::default()
        };
        let fields: Vec<_> = settings.validate().unwrap_err().0.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["settings.network.allowed_addresses[2]", "settings.network.allowed_addresses[3]"]);
    }
}
