//! The consolidated review document of a run: one PDF with a cover page listing the entries
//! (position, row, status) followed by every entry's PDF artifacts in entry order, so a
//! reviewer reads a long held run in one file. Asking for it records a pending temporary
//! file and queues a job; a render worker makes the PDF, stores it in the blob store and
//! marks the file ready (or failed, with the reason). A repeated job finds the file settled
//! and does nothing.

use chrono::Duration;
use serde_json::{Map, Value};

use super::PipelineError;
use super::review::all_entries;
use crate::context::Context;
use crate::domain::{
    Entry, Format, PageSetup, Run, TemporaryFile, TemporaryFileId, TemporaryFileStatus, ValueFormat, WorkspaceId,
};
use crate::queue::Job;
use crate::render::merge::merge_pdfs;
use crate::render::model::{Align, Block, Document, TableBlock, TableColumn, TextBlock, TextPart};
use crate::store::StoreError;

/// Row fields that name an entry best, in order of preference.
const LABEL_FIELDS: [&str; 8] = ["name", "label", "title", "customer", "code", "key", "email", "id"];

/// Longest row label shown on the cover.
const MAX_LABEL_CHARS: usize = 80;

/// Records a pending review document for `run` and queues its making.
pub async fn request_review_document(ctx: &Context, run: &Run) -> Result<TemporaryFile, PipelineError> {
    let now = ctx.clock.now();
    let file = TemporaryFile {
        id: TemporaryFileId::generate(now),
        workspace_id: run.workspace_id,
        run_id: run.id,
        status: TemporaryFileStatus::Pending,
        key: None,
        file_name: format!("review-{}.pdf", run.id),
        content_type: "application/pdf".to_string(),
        size: None,
        sha256: None,
        error: None,
        created_at: now,
        expires_at: now + Duration::hours(i64::from(ctx.config.temporary_file_hours)),
        version: 0,
    };
    let file = ctx.store.create_temporary_file(&file).await?;
    let job = Job::ReviewDocument { workspace_id: run.workspace_id, file_id: file.id };
    if let Err(error) = ctx.render_queue.send(&[job]).await {
        let reason = "the review document could not be queued; ask for it again";
        let settled = ctx.store.settle_temporary_file(file.workspace_id, file.id, TemporaryFileStatus::Failed, |f| {
            f.error = Some(reason.to_string());
        });
        if let Err(store_error) = settled.await {
            tracing::warn!(%store_error, "could not record the failed review document");
        }
        return Err(error.into());
    }
    Ok(file)
}

/// Makes the review document `file_id` of workspace `ws` (the render worker's job).
pub async fn make_review_document(
    ctx: &Context,
    ws: WorkspaceId,
    file_id: TemporaryFileId,
) -> Result<(), PipelineError> {
    let now = ctx.clock.now();
    let file = match ctx.store.get_temporary_file(ws, file_id, now).await {
        Ok(file) if file.status == TemporaryFileStatus::Pending => file,
        // Settled by an earlier delivery of this job, or expired: nothing to do.
        Ok(_) | Err(StoreError::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let run = ctx.store.get_run_in(ws, file.run_id).await?;
    let entries = all_entries(ctx, run.id).await?;
    let mut pdfs = Vec::new();
    for entry in &entries {
        for artifact in entry.artifacts.iter().filter(|a| a.format == Format::Pdf) {
            pdfs.push(ctx.blobs.get(&artifact.key).await?);
        }
    }
    let cover = cover(&run, &entries, now);
    let made = tokio::task::spawn_blocking(move || {
        let cover = crate::render::pdf::render_pdf(&cover).map_err(|e| format!("the cover page: {e}"))?;
        let mut files: Vec<&[u8]> = vec![&cover];
        files.extend(pdfs.iter().map(|p| p.as_ref()));
        merge_pdfs(&files).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| format!("making the review document stopped unexpectedly: {e}"))
    .and_then(|made| made);
    let settled = match made {
        Ok(bytes) => {
            // Under `tmp/`, which the bucket's lifecycle rule clears on its own.
            let key = format!("tmp/review/{ws}/{}/{}", file.id, file.file_name);
            let meta = ctx.blobs.put(&key, bytes.into(), "application/pdf").await?;
            ctx.store
                .settle_temporary_file(ws, file.id, TemporaryFileStatus::Ready, |f| {
                    f.key = Some(key.clone());
                    f.size = Some(meta.size);
                    f.sha256 = Some(meta.sha256.clone());
                })
                .await
        }
        Err(reason) => {
            tracing::warn!(run_id = %run.id, %reason, "the review document could not be made");
            ctx.store
                .settle_temporary_file(ws, file.id, TemporaryFileStatus::Failed, |f| f.error = Some(reason.clone()))
                .await
        }
    };
    match settled {
        Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// How an entry is named on the cover: a naming field of its row, else its fields in short
/// (in the row's own column order).
pub fn row_label(row: Option<&Map<String, Value>>) -> String {
    let Some(row) = row else { return "—".to_string() };
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let label = LABEL_FIELDS
        .iter()
        .find_map(|field| row.get(*field).filter(|v| !v.is_null()).map(text))
        .unwrap_or_else(|| row.iter().map(|(k, v)| format!("{k}: {}", text(v))).collect::<Vec<_>>().join(", "));
    if label.chars().count() > MAX_LABEL_CHARS {
        format!("{}…", label.chars().take(MAX_LABEL_CHARS - 1).collect::<String>())
    } else {
        label
    }
}

/// The cover page: the report, the run, and one line per entry.
fn cover(run: &Run, entries: &[Entry], now: chrono::DateTime<chrono::Utc>) -> Document {
    let column = |key: &str, label: &str| TableColumn {
        key: key.to_string(),
        label: label.to_string(),
        format: ValueFormat::Text,
        align: Align::Left,
    };
    let rows = entries
        .iter()
        .map(|e| {
            let pdfs = e.artifacts.iter().filter(|a| a.format == Format::Pdf).count();
            vec![
                Value::from(e.seq + 1),
                Value::String(row_label(e.row.as_ref())),
                Value::String(e.status.as_str().to_string()),
                Value::from(pdfs),
            ]
        })
        .collect();
    let summary = format!(
        "Run {} of {}: {} entries, {} held for review. The entries' PDFs follow in this order.",
        run.id,
        run.inputs.report.name,
        entries.len(),
        entries.iter().filter(|e| e.status == crate::domain::EntryStatus::PendingReview).count()
    );
    Document {
        title: format!("Review document: {}", run.inputs.report.name),
        subtitle: Some(format!("Run {}", run.id)),
        generated_at: now,
        page: PageSetup::default(),
        narrative: None,
        blocks: vec![
            Block::Text(TextBlock { title: None, parts: vec![TextPart::Paragraph(summary)] }),
            Block::Table(TableBlock {
                title: Some("Entries".to_string()),
                name: "entries".to_string(),
                columns: vec![
                    column("seq", "#"),
                    column("entry", "Entry"),
                    column("status", "Status"),
                    column("pdfs", "PDFs"),
                ],
                rows,
                totals: None,
            }),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_entry_is_labelled_by_its_naming_field_or_its_fields_in_short() {
        let row = |v: Value| v.as_object().cloned();
        assert_eq!(row_label(row(json!({"balance": 10, "name": "Ada"})).as_ref()), "Ada");
        assert_eq!(row_label(row(json!({"id": 7, "email": "a@b.test"})).as_ref()), "a@b.test");
        assert_eq!(row_label(row(json!({"region": "North", "orders": 3})).as_ref()), "region: North, orders: 3");
        assert_eq!(row_label(None), "—");
        let long = row_label(row(json!({"name": "x".repeat(200)})).as_ref());
        assert_eq!(long.chars().count(), MAX_LABEL_CHARS);
    }
}
