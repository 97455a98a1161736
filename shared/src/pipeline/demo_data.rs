//! Loads the demo data of [`crate::demo`] into a workspace: the interaction history (once —
//! a workspace that already has history keeps it — as an hourly feed would have sent it), the `customers`, `transactions` and
//! `offers` datasets (replaced), the example reports (created when missing) and, for the
//! statements job, an email destination writing to the local outbox (created when missing).

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, Duration, DurationRound, Utc};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use serde_json::{Map, Value};

use super::PipelineError;
use crate::context::Context;
use crate::demo;
use crate::domain::{
    AlertRule, AlertRuleId, Code, DatasetFormat, Destination, DestinationConfig, DestinationId, EmailTransport,
    FieldError, IngestTally, Interaction, Name, Report, ReportId, ValidationErrors, Workspace, parse_interaction,
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

/// Every how many demo interactions one arrives a day late.
const LATE_EVERY: usize = 400;

/// Gives the demo's history the receipt times of a feed sending each hour's interactions at
/// the end of the hour, one in [`LATE_EVERY`] a day late, none after `now`; returns the
/// batches that feed sent, for the ingest log.
fn arrive_in_hourly_batches(
    interactions: &mut [Interaction],
    now: DateTime<Utc>,
) -> BTreeMap<DateTime<Utc>, IngestTally> {
    let mut batches: BTreeMap<DateTime<Utc>, (usize, usize)> = BTreeMap::new();
    for (i, interaction) in interactions.iter_mut().enumerate() {
        let hour = interaction.occurred_at.duration_trunc(Duration::hours(1)).unwrap_or(interaction.occurred_at);
        let delay = if i % LATE_EVERY == LATE_EVERY - 1 { Duration::hours(25) } else { Duration::hours(1) };
        interaction.created_at = (hour + delay).min(now);
        let (received, late) = batches.entry(interaction.created_at).or_default();
        *received += 1;
        *late += usize::from(interaction.is_late());
    }
    batches.into_iter().map(|(at, (received, late))| (at, IngestTally::stored(received, 0, late))).collect()
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
        let log = arrive_in_hourly_batches(&mut batch, now);
        for chunk in batch.chunks(2_000) {
            load.interactions += ctx.store.ingest_interactions(chunk).await?.accepted;
        }
        futures::stream::iter(log)
            .map(|(at, tally)| async move { ctx.store.log_ingest(workspace.id, at, &tally).await })
            .buffer_unordered(16)
            .try_collect::<Vec<()>>()
            .await?;
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

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::WorkspaceId;

    #[test]
    fn the_demo_feed_sends_each_hour_at_its_end_and_a_few_interactions_a_day_late() {
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 10, 20, 0).unwrap();
        let ws = WorkspaceId::generate(now);
        let history = demo::history(&demo::customers(200, SEED), now.date_naive(), 14, SEED);
        let mut interactions: Vec<Interaction> = history
            .interactions
            .iter()
            .map(|event| parse_interaction(event, "demo", ws, now).unwrap())
            .filter(|i| i.occurred_at <= now)
            .collect();
        let log = arrive_in_hourly_batches(&mut interactions, now);

        let late = interactions.iter().filter(|i| i.is_late()).count();
        assert_eq!(late, interactions.len() / LATE_EVERY, "only the chosen ones are late");
        assert!(late > 0, "{} interactions", interactions.len());
        for i in &interactions {
            assert!(i.occurred_at <= i.created_at && i.created_at <= now, "{i:?}");
        }
        let mut total = IngestTally::default();
        for (at, tally) in &log {
            assert!(*at == now || (at.timestamp() % 3600 == 0), "batches go at the end of an hour: {at}");
            total.add(tally);
        }
        assert_eq!(total.received as usize, interactions.len());
        assert_eq!(total.late as usize, late);
        assert_eq!(total.batches as usize, log.len());
        assert!(total.late_batches > 0 && total.late_batches <= total.late);
    }
}
