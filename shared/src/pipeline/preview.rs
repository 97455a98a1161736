//! Preview: render a report (saved or not) transiently, with run-time parameters and data,
//! without recording a run — the seed's one-off "Export" path and the editor's preview pane.
//! A report with a repeating source previews its first row.

use serde::Serialize;
use serde_json::{Map, Value};

use super::PipelineError;
use super::render_entry::{build, narrate, render_files, scope};
use super::start_run::{bind_row_parameters, resolve_parameters, unbound};
use crate::context::Context;
use crate::domain::{
    Format, NarrativeOutput, Report, Run, RunId, RunInputs, RunTime, RunTrigger, SourceRole, Workspace,
};
use crate::render::RenderedFile;
use crate::render::compose::SectionSummary;
use crate::source::{SourceContext, fetch};

/// A transient render.
#[derive(Debug, Clone)]
pub struct PreviewRequest {
    pub report: Report,
    /// Parameter values over the report's defaults.
    pub overrides: Map<String, Value>,
    pub data: Value,
}

/// What the preview pane shows.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PreviewSummary {
    pub title: String,
    pub subtitle: Option<String>,
    pub narrative: Option<NarrativeOutput>,
    pub sections: Vec<SectionSummary>,
    /// Entries a run would produce (rows of the repeating source; 1 without one).
    pub entries: usize,
}

pub struct Preview {
    pub summary: PreviewSummary,
    composed: crate::render::compose::Composed,
    report: Report,
}

impl Preview {
    /// Renders the previewed report in `format`.
    pub async fn render(self, format: Format) -> Result<Vec<RenderedFile>, PipelineError> {
        let mut report = self.report;
        report.formats = vec![format];
        let files =
            render_files(&report, self.composed, self.summary.narrative).await.map_err(PipelineError::Generation)?;
        Ok(files.into_iter().map(|(_, file)| file).collect())
    }
}

/// Fetches, composes and narrates `request.report` in `workspace`.
pub async fn preview(ctx: &Context, workspace: &Workspace, request: PreviewRequest) -> Result<Preview, PipelineError> {
    let report = request.report;
    report.validate()?;
    let now = ctx.clock.now();
    let time = RunTime::new(now, workspace.settings.zone());
    let (mut parameters, missing) = resolve_parameters(&report, &request.overrides, time)?;
    let missing = unbound(&report, missing);
    if !missing.is_empty() {
        return Err(super::start_run::missing_parameters(&missing).into());
    }

    let (row, entries) = match report.sources.iter().find(|s| s.role == SourceRole::Repeating) {
        None => (None, 1),
        Some(spec) => {
            let sources = SourceContext {
                store: &ctx.store,
                blobs: ctx.blobs.as_ref(),
                http: &ctx.outbound,
                databases: &ctx.databases,
                workspace,
                parameters: &parameters,
                data: &request.data,
                time,
            };
            let rows = fetch(&sources, spec)
                .await
                .map_err(|e| PipelineError::Generation(format!("source `{}`: {e}", spec.name)))?;
            (rows.row_object(0), rows.len())
        }
    };
    // Parameters bound to a column take the previewed (first) row's values.
    if report.parameters.iter().any(|p| p.from_row.is_some()) {
        bind_row_parameters(&report, row.as_ref(), 0, &mut parameters).map_err(|reason| {
            let reason = if row.is_none() { "the repeating source has no rows to preview".to_string() } else { reason };
            PipelineError::Generation(reason)
        })?;
    }
    // A stand-in run gives templates the same `run` they see in a real one.
    let inputs = RunInputs {
        report: report.clone(),
        parameters: parameters.clone(),
        data: request.data.clone(),
        included: vec![],
        day: Some(time.day()),
        timezone: Some(time.zone.name().to_string()),
    };
    let run = Run::started(RunId::generate(now), inputs, RunTrigger::Manual, now);
    let scope = scope(&report, &parameters, (row.as_ref(), None), &request.data, &run);
    let composed = build(ctx, workspace, &report, &parameters, row.as_ref(), &request.data, &scope, (now, time))
        .await
        .map_err(PipelineError::Generation)?;
    let narrative = narrate(ctx, workspace, &report, &composed).await;
    let summary = PreviewSummary {
        title: composed.document.title.clone(),
        subtitle: composed.document.subtitle.clone(),
        narrative,
        sections: composed.sections.clone(),
        entries,
    };
    Ok(Preview { summary, composed, report })
}
