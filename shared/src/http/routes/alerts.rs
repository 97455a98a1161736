//! Alert rules of a workspace: create, list (with each rule's current state), read, change,
//! delete, enable/disable (`enabled`), evaluate now (a dry run, or for real with
//! `{"notify": true}`), and the history of state changes and notifications. Alert rules are
//! report content: `reports:read` sees them, `reports:write` changes them.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::context::Context;
use crate::domain::{
    Access, AlertCondition, AlertEvent, AlertInstance, AlertNotification, AlertRule, AlertRuleId, AlertState,
    AlertTarget, AlertTiming, Area, FieldError, Metric, Name, Severity, SourceSpec, StatePolicy, ValidationErrors,
};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{ApiQuery, JsonBody, PageParams, list};
use crate::http::openapi::views::List;
use crate::http::openapi::{ConflictErrors, ReadErrors, WorkspacePath, WriteErrors};
use crate::pipeline::alerts::{self, Evaluation, Mode};
use crate::store::StoreError;

/// A rule as the API shows it: the rule, its instances and its overall state.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertRuleView {
    /// Always `alert_rule`.
    #[schema(example = "alert_rule")]
    pub object: &'static str,
    #[serde(flatten)]
    pub rule: AlertRule,
    /// The most pressing state of its instances (firing, pending, recovering, error,
    /// no_data, normal).
    pub state: AlertState,
    pub instances: Vec<AlertInstance>,
}

/// The most pressing of `states`.
fn overall(instances: &[AlertInstance]) -> AlertState {
    let rank = |s: AlertState| match s {
        AlertState::Firing => 5,
        AlertState::Pending => 4,
        AlertState::Recovering => 3,
        AlertState::Error => 2,
        AlertState::NoData => 1,
        AlertState::Normal => 0,
    };
    instances.iter().map(|i| i.state).max_by_key(|s| rank(*s)).unwrap_or(AlertState::Normal)
}

async fn view(ctx: &Context, rule: AlertRule) -> ApiResult<AlertRuleView> {
    let instances = alerts::instances(ctx, &rule).await?;
    Ok(AlertRuleView { object: "alert_rule", state: overall(&instances), instances, rule })
}

/// A rule's fields. Creating needs `name`, `source`, `metric` and `condition`; a change sends
/// only what changes.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertRuleBody {
    pub name: Option<Name>,
    pub description: Option<String>,
    /// Evaluated by the tick (default true).
    pub enabled: Option<bool>,
    pub source: Option<SourceSpec>,
    pub parameters: Option<Map<String, Value>>,
    pub metric: Option<Metric>,
    pub condition: Option<AlertCondition>,
    #[schema(minimum = 1, maximum = 527040)]
    pub window_minutes: Option<u32>,
    #[schema(minimum = 1, maximum = 10080)]
    pub interval_minutes: Option<u32>,
    pub timing: Option<AlertTiming>,
    pub severity: Option<Severity>,
    pub no_data: Option<StatePolicy>,
    pub on_error: Option<StatePolicy>,
    pub destinations: Option<Vec<AlertTarget>>,
    pub message: Option<String>,
    /// The version the change is based on; a newer stored version is a conflict.
    #[serde(default, deserialize_with = "crate::http::extract::version")]
    #[schema(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    pub version: Option<u64>,
}

fn parse_id(id: &str) -> ApiResult<AlertRuleId> {
    id.parse().map_err(|_| ApiError::not_found("alert rule"))
}

/// Checks a rule about to be saved: its own fields, and that its destinations and its
/// source's connection exist.
async fn check(ctx: &Context, rule: &AlertRule) -> ApiResult<()> {
    let mut errors: Vec<FieldError> = rule.validate().err().map(|e| e.0).unwrap_or_default();
    for (i, target) in rule.destinations.iter().enumerate() {
        match ctx.store.get_destination(rule.workspace_id, target.destination_id).await {
            Ok(destination) => {
                let email = matches!(destination.config, crate::domain::DestinationConfig::Email { .. });
                if email && target.to.is_empty() {
                    errors.push(FieldError::new(
                        format!("destinations[{i}].to"),
                        "an email destination needs recipients",
                    ));
                }
            }
            Err(StoreError::NotFound { .. }) => errors.push(FieldError::new(
                format!("destinations[{i}].destination_id"),
                "no destination with this id in the workspace",
            )),
            Err(e) => return Err(e.into()),
        }
    }
    let sources = [("source".to_string(), &rule.source)];
    errors.extend(super::reports::unknown_connections(ctx, rule.workspace_id, &sources).await?);
    Ok(ValidationErrors::into_result(errors)?)
}

/// A source sent back as it was read (its header secret `********`) keeps the saved secret,
/// while the secret goes where it went; the same rule as reports' sources.
fn keep_saved_secret(rule: &mut AlertRule, saved: Option<&SourceSpec>) -> ApiResult<()> {
    let saved = saved.map(std::slice::from_ref).unwrap_or_default();
    let errors = super::reports::keep_saved_secrets(std::slice::from_mut(&mut rule.source), saved);
    let errors = errors.into_iter().map(|e| FieldError::new(e.field.replacen("sources[0]", "source", 1), e.message));
    Ok(ValidationErrors::into_result(errors.collect())?)
}

/// Applies `body` to `rule`.
fn apply(rule: &mut AlertRule, body: AlertRuleBody) {
    macro_rules! set {
        ($($field:ident),*) => {$(if let Some(value) = body.$field { rule.$field = value; })*};
    }
    set!(name, enabled, source, parameters, metric, condition, window_minutes, interval_minutes, timing);
    set!(severity, no_data, on_error, destinations);
    if let Some(description) = body.description {
        rule.description = Some(description).filter(|d| !d.trim().is_empty());
    }
    if let Some(message) = body.message {
        rule.message = Some(message).filter(|m| !m.trim().is_empty());
    }
}

/// Creates an alert rule.
#[utoipa::path(
    post,
    path = "/api/v1/ws/{workspace}/alerts",
    operation_id = "create_alert_rule",
    tag = "alerts",
    security(("personal_access_token" = [])),
    params(WorkspacePath),
    request_body = AlertRuleBody,
    responses(
        (status = 201, description = "The rule", body = AlertRuleView),
        WriteErrors,
    )
)]
pub async fn create(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    body: JsonBody,
) -> ApiResult<(StatusCode, Json<AlertRuleView>)> {
    caller.require(Area::Reports, Access::Write)?;
    let body: AlertRuleBody = body.parse()?;
    let required = [
        ("name", body.name.is_none()),
        ("source", body.source.is_none()),
        ("metric", body.metric.is_none()),
        ("condition", body.condition.is_none()),
    ];
    let missing: Vec<FieldError> =
        required.into_iter().filter(|(_, absent)| *absent).map(|(f, _)| FieldError::new(f, "is required")).collect();
    ValidationErrors::into_result(missing)?;
    let (Some(name), Some(source), Some(metric), Some(condition)) =
        (body.name.clone(), body.source.clone(), body.metric.clone(), body.condition.clone())
    else {
        return Err(ApiError::internal());
    };
    let now = ctx.clock.now();
    let mut rule = AlertRule {
        id: AlertRuleId::generate(now),
        workspace_id: caller.workspace.id,
        name,
        description: None,
        enabled: true,
        source,
        parameters: Map::new(),
        metric,
        condition,
        window_minutes: 5,
        interval_minutes: 5,
        timing: AlertTiming::default(),
        severity: Severity::default(),
        no_data: StatePolicy::default(),
        on_error: StatePolicy::default(),
        destinations: vec![],
        message: None,
        next_evaluation_at: None,
        last_evaluated_at: None,
        last_error: None,
        pending_slot: None,
        generation: 0,
        created_at: now,
        updated_at: now,
        version: 0,
    };
    apply(&mut rule, body);
    keep_saved_secret(&mut rule, None)?;
    rule.next_evaluation_at = rule.enabled.then_some(now);
    check(&ctx, &rule).await?;
    let rule = ctx.store.create_alert_rule(&rule).await?;
    Ok((StatusCode::CREATED, Json(view(&ctx, rule).await?)))
}

/// Lists the workspace's alert rules with their current state.
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}/alerts",
    operation_id = "list_alert_rules",
    tag = "alerts",
    security(("personal_access_token" = [])),
    params(WorkspacePath, PageParams),
    responses(
        (status = 200, description = "A page of rules", body = List<AlertRuleView>),
        ReadErrors,
    )
)]
pub async fn list_rules(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Reports, Access::Read)?;
    let listing = ctx.store.list_alert_rules(caller.workspace.id, &params.page()?).await?;
    let mut views = Vec::with_capacity(listing.items.len());
    for rule in &listing.items {
        views.push(serde_json::to_value(view(&ctx, rule.clone()).await?).unwrap_or(Value::Null));
    }
    let mut page = list(listing, |_| Value::Null);
    page["data"] = Value::Array(views);
    Ok(Json(page))
}

/// Reads an alert rule with its instances.
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}/alerts/{id}",
    operation_id = "get_alert_rule",
    tag = "alerts",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("id" = String, Path, description = "The rule's id")),
    responses(
        (status = 200, description = "The rule", body = AlertRuleView),
        ReadErrors,
    )
)]
pub async fn get(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<AlertRuleView>> {
    caller.require(Area::Reports, Access::Read)?;
    let rule = ctx.store.get_alert_rule(caller.workspace.id, parse_id(&id)?).await?;
    Ok(Json(view(&ctx, rule).await?))
}

/// Changes an alert rule. Changing what is evaluated (source, parameters, metric, condition,
/// window) starts its instances over; enabling it evaluates it at the next tick.
#[utoipa::path(
    patch,
    path = "/api/v1/ws/{workspace}/alerts/{id}",
    operation_id = "update_alert_rule",
    tag = "alerts",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("id" = String, Path, description = "The rule's id")),
    request_body = AlertRuleBody,
    responses(
        (status = 200, description = "The changed rule", body = AlertRuleView),
        WriteErrors,
        ConflictErrors,
    )
)]
pub async fn update(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    body: JsonBody,
) -> ApiResult<Json<AlertRuleView>> {
    caller.require(Area::Reports, Access::Write)?;
    let id = parse_id(&id)?;
    let body: AlertRuleBody = body.parse()?;
    let stored = ctx.store.get_alert_rule(caller.workspace.id, id).await?;
    if body.version.is_some_and(|v| v != stored.version) {
        return Err(ApiError::conflict("the alert rule changed since that version; read it again"));
    }
    let mut rule = stored.clone();
    apply(&mut rule, body);
    keep_saved_secret(&mut rule, Some(&stored.source))?;
    let now = ctx.clock.now();
    if !rule.same_evaluation(&stored) {
        rule.generation += 1;
    }
    rule.next_evaluation_at = match (rule.enabled, stored.enabled) {
        (false, _) => None,
        (true, false) => Some(now),
        (true, true) => stored.next_evaluation_at.or(Some(now)),
    };
    if !rule.enabled {
        rule.pending_slot = None;
    }
    rule.updated_at = now;
    check(&ctx, &rule).await?;
    let rule = ctx.store.update_alert_rule(&rule).await?;
    Ok(Json(view(&ctx, rule).await?))
}

/// Deletes an alert rule with its history.
#[utoipa::path(
    delete,
    path = "/api/v1/ws/{workspace}/alerts/{id}",
    operation_id = "delete_alert_rule",
    tag = "alerts",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("id" = String, Path, description = "The rule's id")),
    responses(
        (status = 204, description = "Deleted"),
        ReadErrors,
        ConflictErrors,
    )
)]
pub async fn delete(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(Area::Reports, Access::Write)?;
    ctx.store.delete_alert_rule(caller.workspace.id, parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Evaluate now.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluateBody {
    /// Apply the verdicts and send what they call for; without it nothing is written or sent.
    #[serde(default)]
    pub notify: bool,
}

/// Evaluate now: the value per instance, the verdict, the state it would move to and what
/// would be sent — a dry run that writes and sends nothing, unless `notify` is true. Needs no
/// scheduler.
#[utoipa::path(
    post,
    path = "/api/v1/ws/{workspace}/alerts/{id}/evaluate",
    operation_id = "evaluate_alert_rule",
    tag = "alerts",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("id" = String, Path, description = "The rule's id")),
    request_body = Option<EvaluateBody>,
    responses(
        (status = 200, description = "What the evaluation found", body = Evaluation),
        WriteErrors,
    )
)]
pub async fn evaluate(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    body: JsonBody,
) -> ApiResult<Json<Evaluation>> {
    caller.require(Area::Reports, Access::Write)?;
    let rule = ctx.store.get_alert_rule(caller.workspace.id, parse_id(&id)?).await?;
    let body: EvaluateBody = body.parse_or_default()?;
    let mode = if body.notify { Mode::Apply } else { Mode::DryRun };
    let evaluation = alerts::evaluate(&ctx, &caller.workspace, &rule, ctx.clock.now(), mode).await?;
    if mode == Mode::Apply {
        alerts::record_evaluation(&ctx, &rule, evaluation.evaluated_at, evaluation.error.clone()).await?;
    }
    Ok(Json(evaluation))
}

/// A rule's state changes, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}/alerts/{id}/events",
    operation_id = "list_alert_rule_events",
    tag = "alerts",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("id" = String, Path, description = "The rule's id"), PageParams),
    responses(
        (status = 200, description = "A page of state changes", body = List<AlertEvent>),
        ReadErrors,
    )
)]
pub async fn events(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Reports, Access::Read)?;
    let rule = ctx.store.get_alert_rule(caller.workspace.id, parse_id(&id)?).await?;
    let listing = ctx.store.alert_events(rule.id, &params.page()?).await?;
    Ok(Json(list(listing, |e| crate::http::extract::object("alert_event", e))))
}

/// The workspace's alert state changes, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}/alert-events",
    operation_id = "list_alert_events",
    tag = "alerts",
    security(("personal_access_token" = [])),
    params(WorkspacePath, PageParams),
    responses(
        (status = 200, description = "A page of state changes", body = List<AlertEvent>),
        ReadErrors,
    )
)]
pub async fn workspace_events(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Reports, Access::Read)?;
    let listing = ctx.store.workspace_alert_events(caller.workspace.id, &params.page()?).await?;
    Ok(Json(list(listing, |e| crate::http::extract::object("alert_event", e))))
}

/// A rule's notifications and how each was sent.
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}/alerts/{id}/notifications",
    operation_id = "list_alert_rule_notifications",
    tag = "alerts",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("id" = String, Path, description = "The rule's id"), PageParams),
    responses(
        (status = 200, description = "A page of notifications", body = List<AlertNotification>),
        ReadErrors,
    )
)]
pub async fn notifications(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Reports, Access::Read)?;
    let rule = ctx.store.get_alert_rule(caller.workspace.id, parse_id(&id)?).await?;
    let listing = ctx.store.alert_notifications(rule.id, &params.page()?).await?;
    Ok(Json(list(listing, |n| crate::http::extract::object("alert_notification", n))))
}
