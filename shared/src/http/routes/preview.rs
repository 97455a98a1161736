//! `POST /api/v1/reports/preview` (and under `/api/v1/ws/{workspace}`): renders a report
//! transiently — a saved one by id or code, or an unsaved definition — with run-time
//! parameters and data. `format` `json` (the default) answers the preview pane's summary
//! (narrative and rows per section); `pdf`, `csv`, `markdown` or `html` answers the file (the
//! seed's one-off Export). Nothing is recorded.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::reports::ReportBody;
use crate::context::Context;
use crate::domain::{Access, Area, Code, FieldError, Format, Name, Report, ReportId, ValidationErrors};
use crate::http::auth::Caller;
use crate::http::error::ApiResult;
use crate::http::extract::{JsonBody, object};
use crate::http::openapi::{WorkspacePath, WriteErrors, views};
use crate::pipeline::preview::{PreviewRequest, preview as run_preview};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PreviewFormat {
    #[default]
    Json,
    Pdf,
    Csv,
    Markdown,
    Html,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewBody {
    /// A saved report (id or code) ...
    pub report_id: Option<String>,
    /// ... or a definition (the fields of a report; code, name and formats optional).
    pub report: Option<ReportBody>,
    #[serde(default)]
    pub params: Map<String, Value>,
    #[serde(default)]
    pub data: Value,
    #[serde(default)]
    pub format: PreviewFormat,
    /// Which table a CSV export returns (a table section's title or name); the first when absent.
    pub table: Option<String>,
}

/// Preview a report.
///
/// Renders a report transiently (a saved one or an unsaved definition): the summary, or the file in one format.
/// Nothing is recorded.
#[utoipa::path(
    post,
    path = "/api/v1/ws/{workspace}/reports/preview",
    operation_id = "preview_report",
    tag = "reports",
    security(("personal_access_token" = [])),
    params(WorkspacePath),
    request_body = PreviewBody,
    responses(
        (status = 200, description = "The summary (`format` `json`) or the rendered file",
            content(
                (views::ReportPreviewView = "application/json"),
                (views::FileBody = "application/pdf"),
                (views::FileBody = "text/csv"),
                (views::FileBody = "text/markdown"),
                (views::FileBody = "text/html"),
            )
        ),
        WriteErrors,
    )
)]
pub async fn preview(State(ctx): State<Arc<Context>>, caller: Caller, body: JsonBody) -> ApiResult<Response> {
    caller.require(Area::Reports, Access::Read)?;
    let body: PreviewBody = body.parse()?;
    let now = ctx.clock.now();
    let report = match (body.report_id, body.report) {
        (Some(id), None) => ctx.store.resolve_report(caller.workspace.id, &id).await?,
        (None, Some(definition)) => {
            definition.without_schedule("report.schedule")?;
            let code = Code::parse("preview").map_err(|e| ValidationErrors(vec![FieldError::new("report.code", e)]))?;
            let name = Name::parse("Preview").map_err(|e| ValidationErrors(vec![FieldError::new("report.name", e)]))?;
            let mut report = Report::new(ReportId::generate(now), caller.workspace.id, code, name, now);
            definition.apply(&mut report);
            report
        }
        _ => {
            let error = FieldError::new("report", "give either `report_id` or a `report` definition");
            return Err(ValidationErrors(vec![error]).into());
        }
    };
    let request = PreviewRequest { report, overrides: body.params, data: body.data };
    let preview = run_preview(&ctx, &caller.workspace, request).await?;
    let format = match body.format {
        PreviewFormat::Json => return Ok(Json(object("report_preview", &preview.summary)).into_response()),
        PreviewFormat::Pdf => Format::Pdf,
        PreviewFormat::Csv => Format::Csv,
        PreviewFormat::Markdown => Format::Markdown,
        PreviewFormat::Html => Format::Html,
    };
    let files = preview.render(format).await?;
    let wanted = body.table.as_deref().map(crate::render::compose::slug);
    let file = files.into_iter().find(|f| wanted.as_ref().is_none_or(|t| f.file_name == format!("{t}.csv")));
    let Some(file) = file else {
        let message = match wanted {
            Some(table) => format!("the report has no table `{table}`"),
            None => "the report has no table to export as CSV".to_owned(),
        };
        return Err(ValidationErrors(vec![FieldError::new("table", message)]).into());
    };
    let disposition = format!("attachment; filename=\"{}\"", file.file_name);
    let mut response = file.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(file.content_type));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// Preview a report in the token's workspace.
///
/// Renders a report transiently in the token's own workspace (the seed's path).
#[utoipa::path(
    post,
    path = "/api/v1/reports/preview",
    operation_id = "preview_report_in_own_workspace",
    tag = "reports",
    security(("personal_access_token" = [])),
    request_body = PreviewBody,
    responses(
        (status = 200, description = "The summary (`format` `json`) or the rendered file",
            content(
                (views::ReportPreviewView = "application/json"),
                (views::FileBody = "application/pdf"),
                (views::FileBody = "text/csv"),
                (views::FileBody = "text/markdown"),
                (views::FileBody = "text/html"),
            )
        ),
        WriteErrors,
    )
)]
pub async fn preview_in_own_workspace(
    state: State<Arc<Context>>,
    caller: Caller,
    body: JsonBody,
) -> ApiResult<Response> {
    preview(state, caller, body).await
}
