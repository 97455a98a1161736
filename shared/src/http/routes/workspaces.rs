//! The workspace of the path, as its tokens see it, and its settings: retention per data kind,
//! legal hold, SMTP server, AI narration and the network allow-list. Settings change by
//! partial update; the SMTP password is write-only (views show it redacted, and sending the
//! redacted text back keeps the stored one).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::context::Context;
use crate::domain::{
    Access, AiSettings, Area, FieldError, NarratorKind, NetworkSettings, SmtpSettings, ValidationErrors, Workspace,
    WorkspaceSettings, keep_masked,
};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{JsonBody, object};
use crate::http::openapi::{ConflictErrors, ReadErrors, WorkspacePath, WriteErrors, views};

/// The API shape of a workspace (the SMTP password serializes as `********`, see [`crate::domain::Secret`]).
pub fn view(ws: &Workspace) -> Value {
    object("workspace", ws)
}

/// The API shape of a workspace's settings.
pub fn settings_view(ws: &Workspace) -> Value {
    let mut v = object("workspace_settings", &ws.settings);
    v["workspace_id"] = Value::String(ws.id.to_string());
    v["version"] = Value::from(ws.version);
    v
}

/// The workspace of the path, by id or code.
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}",
    operation_id = "get_workspace",
    tag = "workspaces",
    security(("personal_access_token" = [])),
    params(WorkspacePath),
    responses(
        (status = 200, description = "The workspace", body = views::WorkspaceView),
        ReadErrors,
    )
)]
pub async fn get(caller: Caller) -> Json<Value> {
    Json(view(&caller.workspace))
}

/// Who the bearer token is and which workspace it acts in.
///
/// The console signs in with this: a token alone names its workspace.
#[utoipa::path(
    get,
    path = "/api/v1/session",
    operation_id = "get_session",
    tag = "workspaces",
    security(("personal_access_token" = [])),
    responses(
        (status = 200, description = "The token and its workspace", body = views::SessionView),
        ReadErrors,
    )
)]
pub async fn session(caller: Caller) -> Json<Value> {
    Json(serde_json::json!({
        "object": "session",
        "token": super::tokens::view(&caller.token),
        "workspace": view(&caller.workspace),
    }))
}

/// Reads the workspace's settings (the SMTP password redacted).
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}/settings",
    operation_id = "get_settings",
    tag = "workspaces",
    security(("personal_access_token" = [])),
    params(WorkspacePath),
    responses(
        (status = 200, description = "The settings", body = views::WorkspaceSettingsView),
        ReadErrors,
    )
)]
pub async fn get_settings(caller: Caller) -> ApiResult<Json<Value>> {
    caller.require(Area::Settings, Access::Read)?;
    Ok(Json(settings_view(&caller.workspace)))
}

/// A partial change of the settings: absent fields stay as they are; `smtp: null` removes the
/// SMTP server.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    pub retention: Option<RetentionChange>,
    pub legal_hold: Option<bool>,
    /// The SMTP server; `null` removes it; a password of `********` keeps the stored one.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<SmtpSettings>)]
    pub smtp: Option<Option<SmtpSettings>>,
    pub ai: Option<AiSettings>,
    pub network: Option<NetworkSettings>,
    /// The IANA timezone runs started by hand and previews count days in; `null` is UTC.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "Europe/London")]
    pub timezone: Option<Option<String>>,
    /// The version the change is based on; a newer stored version is a conflict.
    #[serde(default, deserialize_with = "crate::http::extract::version")]
    #[schema(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    pub version: Option<u64>,
}

/// Retention days to change; the others keep their values.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionChange {
    pub history_days: Option<u32>,
    pub summary_days: Option<u32>,
    pub run_days: Option<u32>,
}

/// Tells a field given as `null` (`Some(None)`) from an absent one (`None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

impl SettingsBody {
    /// The settings after this change, checked (every problem at once). An SMTP password sent
    /// back as `********` (or left out) keeps the stored one only while the server it is sent
    /// to is the same.
    fn apply(self, current: &WorkspaceSettings) -> Result<WorkspaceSettings, ValidationErrors> {
        let mut next = current.clone();
        let mut errors = Vec::new();
        if let Some(r) = self.retention {
            let kept = current.retention;
            next.retention.history_days = r.history_days.unwrap_or(kept.history_days);
            next.retention.summary_days = r.summary_days.unwrap_or(kept.summary_days);
            next.retention.run_days = r.run_days.unwrap_or(kept.run_days);
        }
        if let Some(hold) = self.legal_hold {
            next.legal_hold = hold;
        }
        if let Some(timezone) = self.timezone {
            next.timezone = timezone.map(|name| name.trim().to_string()).filter(|name| !name.is_empty());
        }
        if let Some(smtp) = self.smtp {
            next.smtp = match smtp {
                Some(mut smtp) => {
                    let stored = current.smtp.as_ref();
                    let same = stored.is_some_and(|stored| stored.same_server(&smtp));
                    let password = stored.and_then(|stored| stored.password.as_ref());
                    errors.extend(keep_masked("smtp.password", &mut smtp.password, password, same).err());
                    Some(smtp)
                }
                None => None,
            };
        }
        if let Some(mut ai) = self.ai {
            // Checked here rather than with the settings, so that a workspace that chose
            // Bedrock in another build can still change its other settings.
            if ai.narrator == NarratorKind::Bedrock && !crate::config::AWS {
                errors.push(FieldError::new("settings.ai.narrator", crate::config::WITHOUT_AWS));
            }
            if ai.narrator.is_http() {
                // The key goes only where it went: the same provider at the same origin.
                let stored = &current.ai;
                let same = stored.narrator == ai.narrator && crate::net::same_origin(stored.server(), ai.server());
                errors.extend(keep_masked("ai.api_key", &mut ai.api_key, stored.api_key.as_ref(), same).err());
            } else {
                // Bedrock and the built-in narrator use no key: a stored one is dropped.
                ai.api_key = None;
            }
            // An empty key is none: how a client removes one.
            ai.api_key = ai.api_key.filter(|key| !key.is_empty());
            next.ai = ai;
        }
        if let Some(network) = self.network {
            next.network = network;
        }
        errors.extend(next.validate().err().into_iter().flat_map(|e| e.0));
        ValidationErrors::into_result(errors).map(|()| next)
    }
}

/// Changes the workspace's settings field by field (admins only).
#[utoipa::path(
    patch,
    path = "/api/v1/ws/{workspace}/settings",
    operation_id = "update_settings",
    tag = "workspaces",
    security(("personal_access_token" = [])),
    params(WorkspacePath),
    request_body = SettingsBody,
    responses(
        (status = 200, description = "The changed settings", body = views::WorkspaceSettingsView),
        WriteErrors,
        ConflictErrors,
    )
)]
pub async fn update_settings(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    body: JsonBody,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Settings, Access::Write)?;
    let body: SettingsBody = body.parse()?;
    let mut ws = ctx.store.get_workspace(caller.workspace.id).await?;
    if body.version.is_some_and(|v| v != ws.version) {
        return Err(ApiError::conflict("the settings changed since that version; read them again"));
    }
    let settings = body.apply(&ws.settings)?;
    ws.settings = settings;
    ws.updated_at = ctx.clock.now();
    Ok(Json(settings_view(&ctx.store.update_workspace(&ws).await?)))
}

/// What the AI test found.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AiTestView {
    /// Always `ai_test`.
    #[schema(example = "ai_test")]
    pub object: &'static str,
    /// The narrator the settings choose.
    pub narrator: String,
    /// Whether it answered with a usable summary.
    pub ok: bool,
    pub summary: String,
    pub takeaways: Vec<String>,
    /// Sentences the grounding check dropped: they quoted numbers the sample does not hold.
    pub dropped: Vec<crate::domain::DroppedSentence>,
    /// Why it failed (unreachable, refused, cut off, malformed).
    pub error: Option<String>,
    pub elapsed_ms: u64,
}

/// Test the AI configuration: the workspace's narrator writes about a small sample of figures
/// (no report data is sent), and the answer shows its summary, what the grounding check
/// dropped, or why it failed, and how long it took. With narration turned off it is a 409.
#[utoipa::path(
    post,
    path = "/api/v1/ws/{workspace}/settings/ai/test",
    operation_id = "test_ai_settings",
    tag = "workspaces",
    security(("personal_access_token" = [])),
    params(WorkspacePath),
    responses(
        (status = 200, description = "What the narrator wrote", body = AiTestView),
        WriteErrors,
        ConflictErrors,
    )
)]
pub async fn test_ai(State(ctx): State<Arc<Context>>, caller: Caller) -> ApiResult<Json<AiTestView>> {
    caller.require(Area::Settings, Access::Write)?;
    let Some(narrator) = ctx.narrators.for_workspace(&caller.workspace) else {
        return Err(ApiError::conflict("narration is turned off for this workspace"));
    };
    let started = std::time::Instant::now();
    let written = crate::narrate::narrate_grounded(narrator.as_ref(), &crate::narrate::sample_figures(), None).await;
    Ok(Json(AiTestView {
        object: "ai_test",
        narrator: written.narrator,
        ok: written.error.is_none() && !written.summary.trim().is_empty(),
        summary: written.summary,
        takeaways: written.takeaways,
        dropped: written.dropped,
        error: written.error,
        elapsed_ms: started.elapsed().as_millis() as u64,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Secret;
    use serde_json::json;

    fn smtp(password: Option<&str>) -> SmtpSettings {
        SmtpSettings {
            host: "mail.example.com".into(),
            port: 587,
            security: Default::default(),
            username: Some("reports".into()),
            password: password.map(Secret::new),
            from: "reports@example.com".into(),
            reply_to: None,
        }
    }

    fn change(body: Value) -> SettingsBody {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn the_timezone_is_an_iana_zone_and_null_or_blank_means_utc() {
        let current = WorkspaceSettings::default();
        assert_eq!(current.zone(), chrono_tz::Tz::UTC);
        let london = change(json!({"timezone": " Europe/London "})).apply(&current).unwrap();
        assert_eq!((london.timezone.as_deref(), london.zone()), (Some("Europe/London"), chrono_tz::Tz::Europe__London));
        let errors = change(json!({"timezone": "Mars/Olympus"})).apply(&current).unwrap_err();
        assert_eq!(errors.0[0].field, "timezone");
        for cleared in [json!({"timezone": null}), json!({"timezone": ""})] {
            assert_eq!(change(cleared).apply(&london).unwrap().timezone, None);
        }
        assert_eq!(change(json!({"legal_hold": true})).apply(&london).unwrap().timezone, london.timezone, "kept");
    }

    #[test]
    fn a_partial_retention_change_keeps_the_other_days() {
        let current = WorkspaceSettings::default();
        let next = change(json!({"retention": {"run_days": 30}})).apply(&current).unwrap();
        assert_eq!(next.retention.run_days, 30);
        assert_eq!(next.retention.history_days, current.retention.history_days);
        assert_eq!(next.retention.summary_days, current.retention.summary_days);
    }

    #[test]
    fn sending_the_redacted_smtp_password_back_keeps_the_stored_one_for_the_same_server() {
        let current = WorkspaceSettings { smtp: Some(smtp(Some("s3cret"))), ..Default::default() };
        let mut resent = serde_json::to_value(smtp(Some("s3cret"))).unwrap();
        assert_eq!(resent["password"], Secret::REDACTED);
        resent["from"] = json!("digest@example.com");
        let next = change(json!({"smtp": resent})).apply(&current).unwrap();
        let stored = next.smtp.unwrap();
        assert_eq!(stored.from, "digest@example.com");
        assert_eq!(stored.password.unwrap().expose(), "s3cret");
    }

    #[test]
    fn a_redacted_smtp_password_is_not_sent_to_another_server() {
        let current = WorkspaceSettings { smtp: Some(smtp(Some("s3cret"))), ..Default::default() };
        for (field, value) in [("host", json!("evil.example.net")), ("port", json!(2525)), ("username", json!("x"))] {
            let mut resent = serde_json::to_value(smtp(Some("s3cret"))).unwrap();
            resent[field] = value;
            let errors = change(json!({"smtp": resent})).apply(&current).unwrap_err().0;
            assert_eq!(errors[0].field, "smtp.password", "{field}");
        }
        let mut new_password = serde_json::to_value(smtp(None)).unwrap();
        new_password["host"] = json!("mail2.example.com");
        new_password["password"] = json!("fresh");
        let next = change(json!({"smtp": new_password})).apply(&current).unwrap();
        assert_eq!(next.smtp.unwrap().password.unwrap().expose(), "fresh");
    }

    #[test]
    fn smtp_null_removes_the_server_and_absent_smtp_keeps_it() {
        let current = WorkspaceSettings { smtp: Some(smtp(None)), ..Default::default() };
        assert!(change(json!({"smtp": null})).apply(&current).unwrap().smtp.is_none());
        assert!(change(json!({"legal_hold": true})).apply(&current).unwrap().smtp.is_some());
    }

    #[test]
    fn views_never_show_the_smtp_password() {
        let now = chrono::Utc::now();
        let mut ws = crate::testing::fixtures::workspace("acme", now);
        ws.settings.smtp = Some(smtp(Some("s3cret")));
        assert!(!settings_view(&ws).to_string().contains("s3cret"));
        assert!(!view(&ws).to_string().contains("s3cret"));
    }

    #[test]
    fn a_narrator_that_uses_no_key_drops_the_stored_one() {
        let ai = json!({"narrator": "openai_compatible", "base_url": "https://api.openai.com/v1", "model_id": "m",
                        "api_key": "sk-1"});
        let with_key = change(json!({"ai": ai})).apply(&WorkspaceSettings::default()).unwrap();
        assert_eq!(with_key.ai.api_key.as_ref().map(Secret::expose), Some("sk-1"));
        assert_eq!(with_key.ai.server(), "https://api.openai.com", "the protocol's /v1 is not doubled");
        let builtin = change(json!({"ai": {"narrator": "builtin"}})).apply(&with_key).unwrap();
        assert_eq!(builtin.ai.api_key, None);
        let emptied = change(json!({"ai": {"narrator": "openai_compatible", "model_id": "m", "api_key": ""}}))
            .apply(&with_key)
            .unwrap();
        assert_eq!(emptied.ai.api_key, None, "an empty key removes it");
    }
}
