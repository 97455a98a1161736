//! Interaction ingest: `POST /api/v1/ws/{workspace}/interactions` with a JSON array, an
//! `{"interactions": [...]}` object, or NDJSON (`Content-Type: application/x-ndjson`, one
//! interaction per line). The whole batch is checked first and any problem refuses it with
//! every problem's path (`interactions[3].offer_id`, `line 4.type`) and nothing stored; then it
//! is written, interactions with an already stored `id` counting as duplicates.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::context::Context;
use crate::domain::{
    Access, Area, FieldError, IngestTally, Interaction, MAX_INGEST_BATCH, ValidationErrors, WorkspaceId,
    parse_interaction,
};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, ApiResult, ErrorCode};
use crate::http::openapi::{WorkspacePath, WriteErrors, views};

/// Most problems listed in one answer.
const MAX_REPORTED: usize = 100;

/// The media type of a request (`text/csv`), lowercase, without parameters; empty when absent.
pub(crate) fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// A body that could not be read (too large, or cut off).
pub(crate) fn body_rejection(rejection: BytesRejection) -> ApiError {
    let status = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        StatusCode::PAYLOAD_TOO_LARGE
    } else {
        StatusCode::BAD_REQUEST
    };
    ApiError::new(status, ErrorCode::BodyValidationError, "The request body could not be read")
        .with_details(json!({ "reason": rejection.body_text() }))
}

pub(crate) fn unsupported_media_type(expected: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorCode::BodyValidationError,
        format!("Content-Type must be {expected}"),
    )
}

fn malformed(reason: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorCode::BodyValidationError,
        "Request body did not match the expected schema",
    )
    .with_details(json!({ "reason": reason.into() }))
}

fn too_many(count: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::ValidationError,
        format!("A batch holds at most {MAX_INGEST_BATCH} interactions, this one has {count}; split it"),
    )
}

/// Collects the interactions and the problems of a batch.
struct Batch {
    workspace: WorkspaceId,
    now: DateTime<Utc>,
    interactions: Vec<Interaction>,
    errors: Vec<FieldError>,
    unreported: usize,
}

impl Batch {
    fn new(workspace: WorkspaceId, now: DateTime<Utc>) -> Self {
        Self { workspace, now, interactions: Vec::new(), errors: Vec::new(), unreported: 0 }
    }

    fn problems(&mut self, problems: Vec<FieldError>) {
        for problem in problems {
            if self.errors.len() < MAX_REPORTED {
                self.errors.push(problem);
            } else {
                self.unreported += 1;
            }
        }
    }

    fn read(&mut self, value: &Value, path: &str) {
        match parse_interaction(value, path, self.workspace, self.now) {
            Ok(interaction) => self.interactions.push(interaction),
            Err(problems) => self.problems(problems),
        }
    }

    fn finish(mut self) -> Result<Vec<Interaction>, ApiError> {
        if self.unreported > 0 {
            self.errors.push(FieldError::new("body", format!("and {} more problems", self.unreported)));
        }
        if self.errors.is_empty() && self.interactions.is_empty() {
            return Err(malformed("the batch holds no interactions"));
        }
        ValidationErrors::into_result(self.errors)?;
        Ok(self.interactions)
    }
}

fn read_json(body: &[u8], batch: &mut Batch) -> Result<(), ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| malformed(format!("the body is not JSON: {e}")))?;
    let items = match value {
        Value::Array(items) => items,
        Value::Object(mut object) => match object.remove("interactions") {
            Some(Value::Array(items)) if object.is_empty() => items,
            _ => return Err(malformed("expected an array of interactions or {\"interactions\": [...]}")),
        },
        _ => return Err(malformed("expected an array of interactions or {\"interactions\": [...]}")),
    };
    if items.len() > MAX_INGEST_BATCH {
        return Err(too_many(items.len()));
    }
    for (i, item) in items.iter().enumerate() {
        batch.read(item, &format!("interactions[{i}]"));
    }
    Ok(())
}

fn read_ndjson(body: &[u8], batch: &mut Batch) -> Result<(), ApiError> {
    let text = std::str::from_utf8(body).map_err(|_| malformed("NDJSON must be UTF-8 text"))?;
    let lines: Vec<(usize, &str)> =
        text.lines().enumerate().map(|(i, line)| (i + 1, line.trim())).filter(|(_, line)| !line.is_empty()).collect();
    if lines.len() > MAX_INGEST_BATCH {
        return Err(too_many(lines.len()));
    }
    for (number, line) in lines {
        let path = format!("line {number}");
        match serde_json::from_str::<Value>(line) {
            Ok(value) => batch.read(&value, &path),
            Err(e) => batch.problems(vec![FieldError::new(path, format!("is not valid JSON: {e}"))]),
        }
    }
    Ok(())
}

/// The interactions of a batch, or why it is refused whole.
fn read_batch(
    workspace: WorkspaceId,
    now: DateTime<Utc>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Vec<Interaction>, ApiError> {
    let body = body.map_err(body_rejection)?;
    let mut batch = Batch::new(workspace, now);
    match media_type(headers).as_str() {
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" | "application/x-jsonlines" => {
            read_ndjson(&body, &mut batch)?
        }
        "" | "application/json" => read_json(&body, &mut batch)?,
        _ => return Err(unsupported_media_type("application/json or application/x-ndjson")),
    }
    batch.finish()
}

/// Ingest a batch of interactions.
///
/// Ingests a batch of interactions (JSON array, `{"interactions": [...]}`, or NDJSON); any
/// problem refuses the whole batch.
#[utoipa::path(
    post,
    path = "/api/v1/ws/{workspace}/interactions",
    operation_id = "ingest_interactions",
    tag = "interactions",
    security(("personal_access_token" = [])),
    params(WorkspacePath),
    request_body(
        description = "A JSON array, `{\"interactions\": [...]}`, or NDJSON (one interaction per line)",
        content((views::InteractionBatch = "application/json"), (String = "application/x-ndjson"))
    ),
    responses(
        (status = 200,
            description = "How many were stored and how many were duplicates",
            body = views::InteractionIngestView
        ),
        WriteErrors,
    )
)]
pub async fn ingest(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Interactions, Access::Write)?;
    let now = ctx.clock.now();
    let interactions = match read_batch(caller.workspace.id, now, &headers, body) {
        Ok(interactions) => interactions,
        Err(refused) => {
            if let Err(e) = ctx.store.log_ingest(caller.workspace.id, now, &IngestTally::refused()).await {
                tracing::warn!(error = %e, "cannot count a refused batch in the ingest log");
            }
            return Err(refused);
        }
    };
    let outcome = ctx.store.ingest_interactions(&interactions).await?;
    let tally = IngestTally::stored(outcome.accepted, outcome.duplicates, outcome.late);
    if let Err(e) = ctx.store.log_ingest(caller.workspace.id, now, &tally).await {
        tracing::warn!(error = %e, "cannot count a batch in the ingest log");
    }
    tracing::info!(
        workspace = %caller.workspace.id,
        accepted = outcome.accepted,
        duplicates = outcome.duplicates,
        late = outcome.late,
        "interactions ingested"
    );
    Ok(Json(json!({
        "object": "interaction_ingest",
        "accepted": outcome.accepted,
        "duplicates": outcome.duplicates,
        "late": outcome.late,
    })))
}
