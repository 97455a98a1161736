//! Loads the demo data of [`crate::demo`] into a workspace: the interaction history (once —
//! a workspace that already has history keeps it), the `customers`, `transactions` and
//! `offers` datasets (replaced), the example reports (created when missing) and, for the
//! statements job, an email destination writing to the local outbox (created when missing).

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Value};

use super::PipelineError;
use crate::context::Context;
use crate::demo;
use crate::domain::{
    AlertRule, AlertRuleId, Code, DatasetFormat, Destination, DestinationConfig, DestinationId, EmailTransport,
    FieldError, Name, Report, ReportId, ValidationErrors, Workspace, parse_interaction,
};
use crate::source::RowSet;
use crate::source::dataset::{self, DatasetError, Upload};
use crate::store::{PageRequest, StoreError};

/// Seed of the demo data: the same seed and day always give the same data.
pub const SEED: u64 = 2016;

/// What the demo load did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DemoLoad {
    pub customers: usize,
    /// Interactions stored now (zero when the workspace already had history).
    pub interactions: usize,
    pub transactions: usize,
    /// Codes of the reports created now.
    pub reports_created: Vec<String>,
    /// Alert rules created now (the example rule, disabled).
    pub alert_rules_created: usize,
}

/// Loads `customers` customers and `days` days of history ending now into `workspace`.
pub async fn load(
    ctx: &Context,
    workspace: &Workspace,
    customers: usize,
    days: i64,
) -> Result<DemoLoad, PipelineError> {
    let now = ctx.clock.now();
    let people = demo::customers(customers, SEED);
    let history = demo::history(&people, now.date_naive(), days, SEED);
    let mut load =
        DemoLoad { customers: people.len(), transactions: history.transactions.len(), ..DemoLoad::default() };

    let has_history =
        !ctx.store.interactions_received(workspace.id, None, &PageRequest::first(1)).await?.items.is_empty();
    if !has_history {
        let mut batch = Vec::with_capacity(history.interactions.len());
        for (i, event) in history.interactions.iter().enumerate() {
            let interaction = parse_interaction(event, &format!("demo[{i}]"), workspace.id, now)
                .map_err(|errors| PipelineError::Invalid(ValidationErrors(errors)))?;
            // The last day's history stops at the present.
            if interaction.occurred_at <= now {
                batch.push(interaction);
            }
        }
        for chunk in batch.chunks(2_000) {
            load.interactions += ctx.store.ingest_interactions(chunk).await?.accepted;
        }
    }

    save_dataset(ctx, workspace, "customers", people.clone()).await?;
    save_dataset(ctx, workspace, "transactions", history.transactions).await?;
    save_dataset(ctx, workspace, "offers", demo::offer_catalogue()).await?;

    let first = people.first().and_then(|c| c.get("id")).and_then(Value::as_str).unwrap_or_default();
    let outbox = outbox_destination(ctx, workspace).await?;
    let mut bodies = demo::reports(first);
    bodies.push(demo::statements_job(&outbox.id.to_string()));
    bodies.push(demo::statements_job_sql(&outbox.id.to_string()));
    for body in bodies {
        let report = report(workspace, body, now)?;
        match ctx.store.resolve_report(workspace.id, report.code.as_str()).await {
            Ok(_) => {}
            Err(StoreError::NotFound { .. }) => {
                ctx.store.create_report(&report).await?;
                load.reports_created.push(report.code.to_string());
            }
            Err(e) => return Err(e.into()),
        }
    }
    let alert = demo::offer_drop_alert(&outbox.id.to_string());
    let rules = ctx.store.list_alert_rules(workspace.id, &PageRequest::first(200)).await?.items;
    if !rules.iter().any(|r| Some(r.name.as_str()) == alert["name"].as_str()) {
        ctx.store.create_alert_rule(&alert_rule(workspace, alert, now)?).await?;
        load.alert_rules_created += 1;
    }
    Ok(load)
}

/// An alert rule from its API body (every field given), checked.
fn alert_rule(
    workspace: &Workspace,
    body: Value,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<AlertRule, PipelineError> {
    let mut value = body;
    value["id"] = serde_json::json!(AlertRuleId::generate(now));
    value["workspace_id"] = serde_json::json!(workspace.id);
    value["created_at"] = serde_json::json!(now);
    value["updated_at"] = serde_json::json!(now);
    let rule: AlertRule = serde_json::from_value(value)
        .map_err(|e| PipelineError::Invalid(ValidationErrors(vec![FieldError::new("alert rule", e.to_string())])))?;
    rule.validate()?;
    Ok(rule)
}

/// Name of the demo's email destination.
const OUTBOX_DESTINATION: &str = "Demo outbox";

/// The demo's email destination (`.eml` files in the outbox folder), created when missing.
async fn outbox_destination(ctx: &Context, workspace: &Workspace) -> Result<Destination, PipelineError> {
    let existing = ctx.store.list_destinations(workspace.id, &PageRequest::first(200)).await?.items;
    if let Some(found) = existing.into_iter().find(|d| d.name.as_str() == OUTBOX_DESTINATION) {
        return Ok(found);
    }
    let now = ctx.clock.now();
    let invalid = |m: String| PipelineError::Invalid(ValidationErrors(vec![FieldError::new("destination", m)]));
    let destination = Destination {
        id: DestinationId::generate(now),
        workspace_id: workspace.id,
        name: Name::parse(OUTBOX_DESTINATION).map_err(invalid)?,
        config: DestinationConfig::Email {
            transport: EmailTransport::Outbox,
            from: None,
            reply_to: None,
            configuration_set: None,
        },
        created_at: now,
        updated_at: now,
        version: 0,
    };
    Ok(ctx.store.create_destination(&destination).await?)
}

async fn save_dataset(
    ctx: &Context,
    workspace: &Workspace,
    code: &str,
    rows: Vec<Map<String, Value>>,
) -> Result<(), PipelineError> {
    let invalid = |m: String| PipelineError::Invalid(ValidationErrors(vec![FieldError::new("dataset", m)]));
    let code = Code::parse(code).map_err(invalid)?;
    let body = Bytes::from(serde_json::to_vec(&rows).map_err(|e| invalid(e.to_string()))?);
    let upload = Upload { rows: RowSet::from_objects(rows), format: DatasetFormat::Json, body };
    dataset::save(&ctx.store, ctx.blobs.as_ref(), workspace.id, &code, upload, ctx.clock.now()).await.map_err(|e| {
        match e {
            DatasetError::Invalid(errors) => PipelineError::Invalid(errors),
            DatasetError::Store(e) => PipelineError::Store(e),
            DatasetError::Blob(e) => PipelineError::Blob(e),
            other => PipelineError::Generation(other.to_string()),
        }
    })?;
    Ok(())
}

fn report(workspace: &Workspace, body: Value, now: chrono::DateTime<chrono::Utc>) -> Result<Report, PipelineError> {
    let mut value = body;
    value["id"] = serde_json::json!(ReportId::generate(now));
    value["workspace_id"] = serde_json::json!(workspace.id);
    value["created_at"] = serde_json::json!(now);
    value["updated_at"] = serde_json::json!(now);
    let report: Report = serde_json::from_value(value)
        .map_err(|e| PipelineError::Invalid(ValidationErrors(vec![FieldError::new("report", e.to_string())])))?;
    report.validate()?;
    Ok(report)
}
