//! Reports (templates) of a workspace: create, list, read by id or code, change, delete.
//! Every field is validated together; deliveries must name destinations of the workspace.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use crate::context::Context;
use crate::domain::{
    Access, Area, Code, DeliverySpec, FieldError, Format, IncludedReport, Name, Narrative, PageSetup, Parameter,
    Report, ReportId, Section, SourceKind, SourceSpec, ValidationErrors, keep_masked,
};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{ApiQuery, JsonBody, PageParams, list, object};
use crate::http::openapi::{ConflictErrors, ReadErrors, WorkspacePath, WriteErrors, views};
use crate::pipeline::PipelineError;
use crate::pipeline::schedules::{self, ScheduleInput};
use crate::store::StoreError;

/// The API shape of a report (header secrets serialize as `********`, see [`crate::domain::Secret`]).
pub fn view(report: &Report) -> Value {
    object("report", report)
}

/// The writable fields of a report; all optional so one shape serves create and change.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportBody {
    pub code: Option<Code>,
    pub name: Option<Name>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    pub parameters: Option<Vec<Parameter>>,
    /// An HTTP source sent back with its `header_secret` as read (`********`) keeps the secret
    /// saved under the same source name.
    pub sources: Option<Vec<SourceSpec>>,
    pub sections: Option<Vec<Section>>,
    pub formats: Option<Vec<Format>>,
    pub page: Option<PageSetup>,
    pub narrative: Option<Narrative>,
    pub deliveries: Option<Vec<DeliverySpec>>,
    /// Whether the report's schedules fire (off: it runs only when asked).
    pub scheduled: Option<bool>,
    pub hold_for_review: Option<bool>,
    /// Other saved reports each entry also runs, in order, with their parameters bound.
    pub includes: Option<Vec<IncludedReport>>,
    /// Only when creating: the report's first schedule (`name` and `rule` required), created
    /// with it in one step, both or neither (seed `001`'s Save as Report). A report's
    /// schedules change under `/reports/{report}/schedules`.
    pub schedule: Option<ScheduleInput>,
    /// The version the change is based on; a newer stored version is a conflict.
    #[serde(default, deserialize_with = "crate::http::extract::version")]
    #[schema(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    pub version: Option<u64>,
}

impl ReportBody {
    /// Refuses a `schedule` where only a report's own fields make sense (a change, a preview).
    pub(crate) fn without_schedule(&self, field: &str) -> ApiResult<()> {
        match self.schedule {
            None => Ok(()),
            Some(_) => Err(ValidationErrors(vec![FieldError::new(
                field,
                "only a new report takes its first schedule here; a report's schedules change under /reports/{report}/schedules",
            )])
            .into()),
        }
    }

    pub(crate) fn apply(self, r: &mut Report) {
        macro_rules! set {
            ($($field:ident),+) => {$( if let Some(v) = self.$field { r.$field = v; } )+};
        }
        set!(
            code,
            name,
            enabled,
            parameters,
            sources,
            sections,
            formats,
            page,
            narrative,
            deliveries,
            scheduled,
            hold_for_review,
            includes
        );
        if self.description.is_some() {
            r.description = self.description.filter(|d| !d.trim().is_empty());
        }
    }
}

/// Sources sent back as they were read (a header secret of `********`, or none) keep the
/// secret saved under the same source name, so a client can change a report without knowing
/// its secrets, but only while the secret goes where it went: the same URL origin and header
/// name. Otherwise the secret must be given again.
pub(crate) fn keep_saved_secrets(sources: &mut [SourceSpec], saved: &[SourceSpec]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (i, SourceSpec { name, kind, .. }) in sources.iter_mut().enumerate() {
        let SourceKind::Http { url, header_name, header_secret, .. } = kind else { continue };
        if header_name.is_none() && header_secret.is_none() {
            continue;
        }
        let stored = saved.iter().find(|s| &s.name == name).and_then(|s| match &s.kind {
            SourceKind::Http { url, header_name, header_secret: Some(secret), .. } => Some((url, header_name, secret)),
            _ => None,
        });
        let same_target = stored.is_some_and(|(was_url, was_header, _)| {
            let same_header = match (header_name.as_deref(), was_header.as_deref()) {
                (Some(a), Some(b)) => a.trim().eq_ignore_ascii_case(b.trim()),
                _ => false,
            };
            same_header && crate::net::same_origin(url, was_url)
        });
        let field = format!("sources[{i}].header_secret");
        if let Err(error) = keep_masked(&field, header_secret, stored.map(|(_, _, secret)| secret), same_target) {
            errors.push(error);
        }
    }
    errors
}

/// The most a report definition may take stored: three quarters of what any store keeps in
/// one record, so each run, which keeps a copy of its report, has room for its data too.
/// Larger data belongs in a dataset.
pub const MAX_REPORT_BYTES: usize = crate::store::table::MAX_ITEM_BYTES / 4 * 3;

/// Checks a report about to be saved, adding its problems to `errors` (found earlier) and
/// reporting them all at once.
async fn check(ctx: &Context, report: &Report, mut errors: Vec<FieldError>) -> ApiResult<()> {
    let bytes = ctx.store.stored_size(report)?;
    if bytes > MAX_REPORT_BYTES {
        let mut error = ApiError::too_large("the report", bytes, MAX_REPORT_BYTES);
        error.message.push_str("; keep large data in a dataset (`/datasets`) and read it with a `dataset` source");
        return Err(error);
    }
    crate::domain::add_unreported(&mut errors, report.validate().err().into_iter().flat_map(|e| e.0));
    for (i, d) in report.deliveries.iter().enumerate() {
        if let Some(Err(e)) = d.condition.as_deref().map(crate::deliver::condition::check) {
            errors.push(FieldError::new(format!("deliveries[{i}].condition"), e.to_string()));
        }
        match ctx.store.get_destination(report.workspace_id, d.destination_id).await {
            Ok(_) => {}
            Err(StoreError::NotFound { .. }) => errors.push(FieldError::new(
                format!("deliveries[{i}].destination_id"),
                "no destination with this id in the workspace",
            )),
            Err(e) => return Err(e.into()),
        }
    }
    let sources: Vec<(String, &SourceSpec)> =
        report.sources.iter().enumerate().map(|(i, source)| (format!("sources[{i}]"), source)).collect();
    errors.extend(unknown_connections(ctx, report.workspace_id, &sources).await?);
    for (i, include) in report.includes.iter().enumerate() {
        match ctx.store.resolve_report(report.workspace_id, &include.report).await {
            Ok(other) => {
                for name in include.bindings.keys() {
                    if !other.parameters.iter().any(|p| p.name.as_str() == name) {
                        let message = format!("report `{}` has no parameter `{name}`", other.code);
                        errors.push(FieldError::new(format!("includes[{i}].bindings.{name}"), message));
                    }
                }
            }
            Err(StoreError::NotFound { .. }) => errors.push(FieldError::new(
                format!("includes[{i}].report"),
                "no report with this id or code in the workspace",
            )),
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(cycle) = include_cycle(ctx, report).await? {
        errors.push(cycle);
    }
    Ok(ValidationErrors::into_result(errors)?)
}

/// The sources (each with the field it is at) whose `sql` connection the workspace lacks.
pub(crate) async fn unknown_connections(
    ctx: &Context,
    ws: crate::domain::WorkspaceId,
    sources: &[(String, &SourceSpec)],
) -> ApiResult<Vec<FieldError>> {
    let mut errors = Vec::new();
    for (field, source) in sources {
        let SourceKind::Sql { connection, .. } = &source.kind else { continue };
        if connection == crate::domain::DATASETS_CONNECTION || connection.trim().is_empty() {
            continue;
        }
        match ctx.store.resolve_connection(ws, connection).await {
            Ok(_) => {}
            Err(StoreError::NotFound { .. }) => errors.push(FieldError::new(
                format!("{field}.connection"),
                format!("no connection named `{connection}` in the workspace (`datasets`: the uploaded datasets)"),
            )),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(errors)
}

/// Whether the report's includes lead back to itself at any depth (`a` includes `b`, which
/// includes `a`): the first such include, with the path it closes.
async fn include_cycle(ctx: &Context, report: &Report) -> ApiResult<Option<FieldError>> {
    for (i, include) in report.includes.iter().enumerate() {
        let mut seen = std::collections::HashSet::new();
        let mut stack = vec![(vec![report.code.to_string()], include.report.clone())];
        while let Some((path, name)) = stack.pop() {
            let other = match ctx.store.resolve_report(report.workspace_id, &name).await {
                Ok(other) => other,
                Err(StoreError::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            let mut path = path;
            path.push(other.code.to_string());
            if other.id == report.id {
                let message = format!("would make a cycle of includes: {}", path.join(" → "));
                return Ok(Some(FieldError::new(format!("includes[{i}].report"), message)));
            }
            if seen.insert(other.id) {
                stack.extend(other.includes.iter().map(|next| (path.clone(), next.report.clone())));
            }
        }
    }
    Ok(None)
}

/// Creates a report; `code`, `name` and `formats` are required.
#[utoipa::path(
    post,
    path = "/api/v1/ws/{workspace}/reports",
    operation_id = "create_report",
    tag = "reports",
    security(("personal_access_token" = [])),
    params(WorkspacePath),
    request_body = ReportBody,
    responses(
        (status = 201, description = "The report", body = views::ReportView),
        WriteErrors,
        ConflictErrors,
    )
)]
pub async fn create(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    body: JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(Area::Reports, Access::Write)?;
    let mut body: ReportBody = body.parse()?;
    let secrets = body.sources.as_mut().map(|sources| keep_saved_secrets(sources, &[])).unwrap_or_default();
    let (Some(code), Some(name), Some(_)) = (body.code.clone(), body.name.clone(), body.formats.as_ref()) else {
        let missing =
            [("code", body.code.is_none()), ("name", body.name.is_none()), ("formats", body.formats.is_none())]
                .into_iter()
                .filter(|(_, absent)| *absent)
                .map(|(field, _)| FieldError::new(field, "is required"))
                .collect();
        return Err(ValidationErrors(missing).into());
    };
    let now = ctx.clock.now();
    let schedule = body.schedule.take();
    let mut report = Report::new(ReportId::generate(now), caller.workspace.id, code, name, now);
    body.apply(&mut report);
    check(&ctx, &report, secrets).await?;
    let Some(input) = schedule else {
        let report = ctx.store.create_report(&report).await?;
        return Ok((StatusCode::CREATED, Json(view(&report))));
    };
    caller.require(Area::Schedules, Access::Write)?;
    let schedule = match schedules::new_schedule(&ctx, &report, input).await {
        Err(PipelineError::Invalid(errors)) => return Err(errors.prefixed("schedule").into()),
        other => other?,
    };
    let (report, schedule) = ctx.store.create_report_with_schedule(&report, &schedule).await?;
    let mut answer = view(&report);
    answer["schedule"] = super::schedules::view(&schedule);
    Ok((StatusCode::CREATED, Json(answer)))
}

/// Lists the reports of the workspace.
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}/reports",
    operation_id = "list_reports",
    tag = "reports",
    security(("personal_access_token" = [])),
    params(WorkspacePath, PageParams),
    responses(
        (status = 200, description = "A page of reports", body = views::List<views::ReportView>),
        ReadErrors,
    )
)]
pub async fn list_reports(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Reports, Access::Read)?;
    let listing = ctx.store.list_reports(caller.workspace.id, &params.page()?).await?;
    Ok(Json(list(listing, view)))
}

/// Reads a report by id or code.
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}/reports/{report}",
    operation_id = "get_report",
    tag = "reports",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("report" = String, Path, description = "The report's id or code")),
    responses(
        (status = 200, description = "The report", body = views::ReportView),
        ReadErrors,
    )
)]
pub async fn get(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, report)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Reports, Access::Read)?;
    Ok(Json(view(&ctx.store.resolve_report(caller.workspace.id, &report).await?)))
}

/// Changes the given fields of a report; `version` guards against lost updates.
#[utoipa::path(
    patch,
    path = "/api/v1/ws/{workspace}/reports/{report}",
    operation_id = "update_report",
    tag = "reports",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("report" = String, Path, description = "The report's id or code")),
    request_body = ReportBody,
    responses(
        (status = 200, description = "The changed report", body = views::ReportView),
        WriteErrors,
        ConflictErrors,
    )
)]
pub async fn update(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, report)): Path<(String, String)>,
    body: JsonBody,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Reports, Access::Write)?;
    let mut body: ReportBody = body.parse()?;
    body.without_schedule("schedule")?;
    let mut current = ctx.store.resolve_report(caller.workspace.id, &report).await?;
    if let Some(version) = body.version
        && version != current.version
    {
        return Err(ApiError::conflict(format!(
            "the report is at version {}, not {version}; reload and retry",
            current.version
        )));
    }
    let secrets =
        body.sources.as_mut().map(|sources| keep_saved_secrets(sources, &current.sources)).unwrap_or_default();
    body.apply(&mut current);
    current.updated_at = ctx.clock.now();
    check(&ctx, &current, secrets).await?;
    Ok(Json(view(&ctx.store.update_report(&current).await?)))
}

/// Deletes a report.
#[utoipa::path(
    delete,
    path = "/api/v1/ws/{workspace}/reports/{report}",
    operation_id = "delete_report",
    tag = "reports",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("report" = String, Path, description = "The report's id or code")),
    responses(
        (status = 204, description = "Deleted"),
        ReadErrors,
        ConflictErrors,
    )
)]
pub async fn delete(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, report)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(Area::Reports, Access::Write)?;
    let report = ctx.store.resolve_report(caller.workspace.id, &report).await?;
    ctx.store.delete_report(caller.workspace.id, report.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Secret;
    use serde_json::json;

    fn sources(value: Value) -> Vec<SourceSpec> {
        serde_json::from_value(value).unwrap()
    }

    fn secret_of(source: &SourceSpec) -> Option<&str> {
        match &source.kind {
            SourceKind::Http { header_secret, .. } => header_secret.as_ref().map(Secret::expose),
            _ => None,
        }
    }

    #[test]
    fn a_source_sent_back_with_its_redacted_secret_keeps_the_saved_one() {
        let saved = sources(json!([
            {"name": "orders", "type": "http", "url": "https://example.com/a", "header_name": "X-Key", "header_secret": "s3cret"}
        ]));
        let mut incoming = sources(json!([
            {"name": "extra", "type": "inline", "rows": []},
            {"name": "orders", "type": "http", "url": "https://example.com/b", "header_name": "X-Key", "header_secret": "********"}
        ]));
        assert!(keep_saved_secrets(&mut incoming, &saved).is_empty());
        assert_eq!(secret_of(&incoming[1]), Some("s3cret"));
    }

    #[test]
    fn a_new_secret_replaces_the_saved_one_and_a_placeholder_without_one_is_refused() {
        let saved = sources(json!([
            {"name": "orders", "type": "http", "url": "https://example.com/a", "header_name": "X-Key", "header_secret": "old"}
        ]));
        let mut changed = sources(json!([
            {"name": "orders", "type": "http", "url": "https://example.com/a", "header_name": "X-Key", "header_secret": "new"}
        ]));
        assert!(keep_saved_secrets(&mut changed, &saved).is_empty());
        assert_eq!(secret_of(&changed[0]), Some("new"));

        let mut renamed = sources(json!([
            {"name": "other", "type": "http", "url": "https://example.com/a", "header_name": "X-Key", "header_secret": "********"}
        ]));
        let errors = keep_saved_secrets(&mut renamed, &saved);
        assert_eq!(errors[0].field, "sources[0].header_secret");
    }

    #[test]
    fn a_redacted_secret_is_not_kept_for_another_origin_or_header() {
        let saved = sources(json!([
            {"name": "orders", "type": "http", "url": "https://example.com/a", "header_name": "X-Key", "header_secret": "s3cret"}
        ]));
        for (url, header) in [
            ("https://attacker.example.net/a", "X-Key"),
            ("http://example.com/a", "X-Key"),
            ("https://example.com:8443/a", "X-Key"),
            ("https://example.com/a", "X-Other"),
        ] {
            for secret in [json!("********"), Value::Null] {
                let mut moved = sources(json!([
                    {"name": "orders", "type": "http", "url": url, "header_name": header, "header_secret": secret}
                ]));
                let errors = keep_saved_secrets(&mut moved, &saved);
                assert_eq!(errors[0].field, "sources[0].header_secret", "{url} {header}");
            }
        }
        let mut same = sources(json!([
            {"name": "orders", "type": "http", "url": "https://EXAMPLE.com:443/other?x=1", "header_name": "x-key"}
        ]));
        assert!(keep_saved_secrets(&mut same, &saved).is_empty());
        assert_eq!(secret_of(&same[0]), Some("s3cret"));
    }
}
