//! Alert evaluation: read a rule's source for its window, reduce the rows to a value per
//! group, judge each group's instance, record what changed and notify.
//!
//! - **Claimed, never stuck**: the tick claims a due rule's slot by a conditional write that
//!   records the slot as pending and moves `next_evaluation_at` to the end of a lease. An
//!   evaluation that finishes clears the slot and sets the next one; one that crashed leaves
//!   the rule due again when the lease runs out, and the next tick claims the same slot again.
//!   Nothing is a "working" flag that can stick.
//! - **Exactly once per transition**: an instance remembers the last slot applied to it (an
//!   older or repeated slot changes nothing), and its new state, its state change and its
//!   notifications are written in one transaction conditioned on the version read; a
//!   notification's key (instance, episode, kind, repeat, destination) can be created once.
//!   Concurrent ticks and redelivered jobs therefore never notify twice or skip a transition.
//! - **Dry run**: `evaluate now` computes the same verdicts and says what would be sent,
//!   writing and sending nothing.

use std::collections::HashMap;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;

use super::PipelineError;
use crate::context::Context;
use crate::deliver::{About, AlertInfo, Outgoing, Recipients};
use crate::domain::{
    AlertCondition, AlertEvent, AlertInstance, AlertNotification, AlertRule, AlertRuleId, AlertState, MetricAggregate,
    NotificationKind, NotificationStatus, Observation, RunTime, Workspace, WorkspaceId,
};
use crate::source::{RowSet, SourceContext, fetch};
use crate::store::StoreError;

/// How long a claimed evaluation may take before another tick claims its slot again.
pub const LEASE: Duration = Duration::minutes(5);

/// What a group of rows measured.
#[derive(Debug, Clone, PartialEq)]
struct Measure {
    key: String,
    value: Option<f64>,
    previous: Option<f64>,
    rows: usize,
}

/// One instance's verdict in an evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct InstanceVerdict {
    /// The group (empty for a rule without `group_by`).
    pub instance: String,
    pub value: Option<f64>,
    /// The previous window's value (`change` conditions).
    pub previous: Option<f64>,
    pub rows: usize,
    /// Whether the condition is breached; none when no verdict could be reached (no data).
    pub breached: Option<bool>,
    pub state_before: AlertState,
    pub state_after: AlertState,
    /// The notification this evaluation sends (or would send, in a dry run).
    pub notification: Option<NotificationKind>,
    /// Its text.
    pub message: Option<String>,
}

/// What one evaluation found.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Evaluation {
    /// Always `alert_evaluation`.
    #[schema(example = "alert_evaluation")]
    pub object: &'static str,
    pub rule_id: AlertRuleId,
    /// The instant evaluated (the end of the window).
    pub evaluated_at: DateTime<Utc>,
    /// Nothing was written or sent.
    pub dry_run: bool,
    /// Why the source could not be read (every instance is then judged an error).
    pub error: Option<String>,
    pub instances: Vec<InstanceVerdict>,
    /// Notifications sent now.
    pub notified: usize,
    /// Instances firing after the evaluation.
    pub firing: usize,
}

/// Whether an evaluation writes and sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    DryRun,
    Apply,
}

/// Evaluates `rule` at `at`.
pub async fn evaluate(
    ctx: &Context,
    workspace: &Workspace,
    rule: &AlertRule,
    at: DateTime<Utc>,
    mode: Mode,
) -> Result<Evaluation, PipelineError> {
    let measured = measure(ctx, workspace, rule, at).await;
    let mut instances: HashMap<String, AlertInstance> =
        ctx.store.alert_instances(rule.id).await?.into_iter().map(|i| (i.key.clone(), i)).collect();
    let mut evaluation = Evaluation {
        object: "alert_evaluation",
        rule_id: rule.id,
        evaluated_at: at,
        dry_run: mode == Mode::DryRun,
        error: measured.as_ref().err().cloned(),
        instances: Vec::new(),
        notified: 0,
        firing: 0,
    };
    // Every group measured, then every known instance that was not (no data for it now).
    let mut judged: Vec<(Option<Measure>, String)> = match &measured {
        Ok(measures) => measures.iter().map(|m| (Some(m.clone()), m.key.clone())).collect(),
        Err(_) if instances.is_empty() => vec![(None, String::new())],
        Err(_) => Vec::new(),
    };
    let mut missing: Vec<String> =
        instances.keys().filter(|key| !judged.iter().any(|(_, k)| k == *key)).cloned().collect();
    missing.sort();
    judged.extend(missing.into_iter().map(|key| (None, key)));

    let mut created = Vec::new();
    for (measure, key) in judged {
        let stored = instances.remove(&key);
        let mut instance = match stored {
            // An edit of what is evaluated starts the instances over (keeping the stored version).
            Some(old) if old.generation != rule.generation => {
                AlertInstance { version: old.version, ..AlertInstance::new(rule, key.clone(), at) }
            }
            Some(old) => old,
            None => AlertInstance::new(rule, key.clone(), at),
        };
        if mode == Mode::Apply && instance.last_slot.is_some_and(|slot| slot >= at) {
            continue; // this slot was applied already
        }
        let state_before = instance.state;
        let (observation, breached) = match (&measured, &measure) {
            (Err(message), _) => (Observation::Error(message.clone()), None),
            (Ok(_), None) => (Observation::NoData, None),
            (Ok(_), Some(m)) => {
                let breached = rule.condition.breached(m.value, m.previous, m.rows, instance.episode_open());
                let observation = match breached {
                    Some(true) => Observation::Breached,
                    Some(false) => Observation::Clear,
                    None => Observation::NoData,
                };
                (observation, breached)
            }
        };
        let step = instance.step(observation, &rule.timing, rule.no_data, rule.on_error, at);
        instance.observe(measure.as_ref().and_then(|m| m.value));
        instance.last_slot = Some(at);
        let message = step.notice.as_ref().map(|notice| text(rule, &instance, notice.kind, notice.fired_for));
        evaluation.instances.push(InstanceVerdict {
            instance: key.clone(),
            value: instance.value,
            previous: measure.as_ref().and_then(|m| m.previous),
            rows: measure.as_ref().map_or(0, |m| m.rows),
            breached,
            state_before,
            state_after: instance.state,
            notification: step.notice.as_ref().map(|n| n.kind),
            message: message.clone(),
        });
        if instance.state == AlertState::Firing {
            evaluation.firing += 1;
        }
        if mode == Mode::DryRun {
            continue;
        }
        let event = step.changed_from.map(|from| AlertEvent {
            rule_id: rule.id,
            workspace_id: rule.workspace_id,
            instance: key.clone(),
            from,
            to: instance.state,
            value: instance.value,
            error: instance.error.clone(),
            at,
        });
        let notifications: Vec<AlertNotification> = match &step.notice {
            None => vec![],
            Some(notice) => rule
                .destinations
                .iter()
                .enumerate()
                .map(|(index, target)| AlertNotification {
                    rule_id: rule.id,
                    workspace_id: rule.workspace_id,
                    instance: key.clone(),
                    key: notice.key.clone(),
                    kind: notice.kind,
                    episode: notice.episode,
                    index: index as u32,
                    destination_id: target.destination_id,
                    to: target.to.clone(),
                    state: instance.state,
                    value: instance.value,
                    fired_for_seconds: notice.fired_for.map(|d| d.num_seconds()),
                    status: NotificationStatus::Pending,
                    attempts: 0,
                    provider_message_id: None,
                    error: None,
                    created_at: at,
                    sent_at: None,
                    version: 1,
                })
                .collect(),
        };
        if ctx.store.record_alert_step(&instance, event.as_ref(), &notifications).await? {
            created.extend(notifications.into_iter().map(|n| (n, instance.clone())));
        }
    }
    for (notification, instance) in created {
        if send(ctx, workspace, rule, &instance, notification, at).await? {
            evaluation.notified += 1;
        }
    }
    Ok(evaluation)
}

/// Reads the rule's source for its window ending at `at` and measures each group.
async fn measure(
    ctx: &Context,
    workspace: &Workspace,
    rule: &AlertRule,
    at: DateTime<Utc>,
) -> Result<Vec<Measure>, String> {
    let window = Duration::minutes(rule.window_minutes.into());
    let rows = read(ctx, workspace, rule, at - window, at).await?;
    let mut measures = groups(rule, &rows)?;
    let needs_previous =
        matches!(rule.condition, AlertCondition::Change { .. }) && rule.metric.previous_column.is_none();
    if needs_previous {
        let before = groups(rule, &read(ctx, workspace, rule, at - window - window, at - window).await?)?;
        for measure in &mut measures {
            measure.previous = before.iter().find(|b| b.key == measure.key).and_then(|b| b.value);
        }
    }
    Ok(measures)
}

/// The source's rows for the window from `start` to `end`.
async fn read(
    ctx: &Context,
    workspace: &Workspace,
    rule: &AlertRule,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<RowSet, String> {
    let mut parameters = rule.parameters.clone();
    let instant = |t: DateTime<Utc>| Value::String(t.to_rfc3339_opts(SecondsFormat::Secs, true));
    parameters.insert("window_start".into(), instant(start));
    parameters.insert("window_end".into(), instant(end));
    parameters.insert("window_minutes".into(), Value::from(rule.window_minutes));
    let time = RunTime::new(end, workspace.settings.zone());
    parameters.insert("as_of".into(), Value::String(time.day().format("%Y-%m-%d").to_string()));
    let sources = SourceContext {
        store: &ctx.store,
        blobs: ctx.blobs.as_ref(),
        http: &ctx.outbound,
        databases: &ctx.databases,
        workspace,
        parameters: &parameters,
        data: &Value::Null,
        time,
    };
    fetch(&sources, &rule.source).await.map_err(|e| format!("source `{}`: {e}", rule.source.name))
}

/// The rows' groups (one, or one per value of `group_by`, in first-seen order), measured.
fn groups(rule: &AlertRule, rows: &RowSet) -> Result<Vec<Measure>, String> {
    let column = |name: &str| {
        rows.column(name).ok_or_else(|| {
            let known: Vec<&str> = rows.columns.iter().map(|c| c.name.as_str()).collect();
            format!("the source has no column `{name}` (its columns: {})", known.join(", "))
        })
    };
    let metric = &rule.metric;
    let value_at = metric.column.as_deref().map(column).transpose()?;
    let previous_at = metric.previous_column.as_deref().map(column).transpose()?;
    let mut order: Vec<String> = Vec::new();
    let mut members: HashMap<String, Vec<usize>> = HashMap::new();
    match metric.group_by.as_deref() {
        None => {
            order.push(String::new());
            members.insert(String::new(), (0..rows.len()).collect());
        }
        Some(by) => {
            let j = column(by)?;
            for (i, row) in rows.rows.iter().enumerate() {
                let key = match &row[j] {
                    Value::Null => "(none)".to_string(),
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                if !members.contains_key(&key) {
                    order.push(key.clone());
                }
                members.entry(key).or_default().push(i);
            }
        }
    }
    Ok(order
        .into_iter()
        .map(|key| {
            let group = &members[&key];
            Measure {
                value: aggregate(rows, group, value_at, metric.aggregate),
                previous: previous_at.and_then(|j| aggregate(rows, group, Some(j), metric.aggregate)),
                rows: group.len(),
                key,
            }
        })
        .collect())
}

/// The aggregate of column `j` over the rows `group` (numbers only; exact decimals read as
/// numbers); `None` when there is nothing to aggregate.
fn aggregate(rows: &RowSet, group: &[usize], j: Option<usize>, how: MetricAggregate) -> Option<f64> {
    let Some(j) = j else { return (how == MetricAggregate::Count).then_some(group.len() as f64) };
    let numbers: Vec<f64> = group
        .iter()
        .filter_map(|&i| match &rows.rows[i][j] {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            _ => None,
        })
        .collect();
    match how {
        MetricAggregate::Count => Some(group.iter().filter(|&&i| !rows.rows[i][j].is_null()).count() as f64),
        _ if numbers.is_empty() => None,
        MetricAggregate::Sum => Some(numbers.iter().sum()),
        MetricAggregate::Avg => Some(numbers.iter().sum::<f64>() / numbers.len() as f64),
        MetricAggregate::Min => numbers.iter().copied().reduce(f64::min),
        MetricAggregate::Max => numbers.iter().copied().reduce(f64::max),
        MetricAggregate::Latest => numbers.last().copied(),
    }
}

/// The text of a notification: the rule's template, or a sentence of Herald's own.
fn text(rule: &AlertRule, instance: &AlertInstance, kind: NotificationKind, fired_for: Option<Duration>) -> String {
    let value = instance.value.map_or_else(|| "no value".to_string(), number);
    let since = instance.fired_at.map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default();
    let what =
        if instance.key.is_empty() { rule.name.to_string() } else { format!("{} ({})", rule.name, instance.key) };
    if let Some(template) = &rule.message {
        return template
            .replace("{rule}", rule.name.as_str())
            .replace("{instance}", &instance.key)
            .replace("{value}", &value)
            .replace("{threshold}", &rule.condition.describe())
            .replace("{state}", instance.state.as_str())
            .replace("{since}", &since);
    }
    let condition = rule.condition.describe();
    let sentence = match kind {
        NotificationKind::Firing => format!("{what} is firing: the value is {value}, {condition}."),
        NotificationKind::Repeat => format!("{what} is still firing since {since}: the value is {value}, {condition}."),
        NotificationKind::Resolved => {
            let lasted = fired_for.map(duration).unwrap_or_default();
            format!("{what} is resolved after firing for {lasted}: the value is {value}.")
        }
    };
    match sparkline(&instance.recent) {
        Some(chart) => format!("{sentence}\nLast {} evaluations: {chart}", instance.recent.len()),
        None => sentence,
    }
}

/// The values as a line of block characters (`▁▃▅█`), the chart every channel can show.
fn sparkline(values: &[f64]) -> Option<String> {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    if values.len() < 2 {
        return None;
    }
    let (low, high) = values.iter().fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
    let span = high - low;
    Some(
        values
            .iter()
            .map(|v| if span > 0.0 { BARS[(((v - low) / span) * 7.0).round() as usize] } else { BARS[3] })
            .collect(),
    )
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{v:.0}") } else { format!("{v:.2}") }
}

/// `2 h 5 min`, `45 min`, `30 s`.
fn duration(d: Duration) -> String {
    let minutes = d.num_minutes();
    match (minutes / 60, minutes % 60) {
        (0, 0) => format!("{} s", d.num_seconds().max(0)),
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// Sends one recorded notification and records how it went; whether it was sent.
async fn send(
    ctx: &Context,
    workspace: &Workspace,
    rule: &AlertRule,
    instance: &AlertInstance,
    mut notification: AlertNotification,
    at: DateTime<Utc>,
) -> Result<bool, PipelineError> {
    let now = ctx.clock.now();
    let outcome = match ctx.store.get_destination(workspace.id, notification.destination_id).await {
        Ok(destination) => {
            let base = ctx.config.public_base_url();
            let headline = match notification.kind {
                NotificationKind::Firing => "FIRING",
                NotificationKind::Repeat => "STILL FIRING",
                NotificationKind::Resolved => "RESOLVED",
            };
            let subject = match instance.key.as_str() {
                "" => format!("[{headline}] {}", rule.name),
                key => format!("[{headline}] {} — {key}", rule.name),
            };
            let outgoing = Outgoing {
                idempotency_key: format!(
                    "alert-{}-{}-{}-{}",
                    rule.id,
                    crate::store::entities::instance_hash(&instance.key),
                    notification.key,
                    notification.index
                ),
                about: About::Alert {
                    alert: AlertInfo {
                        rule_id: rule.id,
                        workspace_id: workspace.id,
                        rule_name: rule.name.to_string(),
                        instance: instance.key.clone(),
                        kind: notification.kind,
                        state: instance.state,
                        severity: rule.severity,
                        value: instance.value,
                        condition: rule.condition.describe(),
                        since: instance.fired_at,
                        fired_for_seconds: notification.fired_for_seconds,
                        episode: notification.episode,
                        evaluated_at: at,
                        recent: instance.recent.clone(),
                    },
                },
                recipients: Recipients { to: notification.to.clone(), cc: vec![], bcc: vec![] },
                from: None,
                reply_to: None,
                subject,
                message: text(rule, instance, notification.kind, notification.fired_for_seconds.map(Duration::seconds)),
                narrative: None,
                run_url: format!("{base}/api/v1/ws/{}/alerts/{}", workspace.code, rule.id),
                view_url: Some(format!("{base}/console#/alerts/{}", rule.id)),
                files: vec![],
            };
            ctx.senders.send(workspace, &destination, outgoing, now).await.map_err(|e| e.to_string())
        }
        Err(StoreError::NotFound { .. }) => Err("the destination was deleted".to_string()),
        Err(e) => return Err(e.into()),
    };
    notification.attempts += 1;
    let sent = outcome.is_ok();
    match outcome {
        Ok(receipt) => {
            notification.status = NotificationStatus::Sent;
            notification.provider_message_id = receipt.provider_message_id;
            notification.sent_at = Some(now);
            notification.error = None;
        }
        Err(error) => {
            tracing::warn!(rule = %rule.id, instance = %instance.key, %error, "alert notification failed");
            notification.status = NotificationStatus::Failed;
            notification.error = Some(error);
        }
    }
    ctx.store.update_alert_notification(&notification).await?;
    Ok(sent)
}

/// The latest slot at or before `now` of a rule whose slots start at `first`, every
/// `interval` minutes.
pub fn latest_slot(first: DateTime<Utc>, interval_minutes: u32, now: DateTime<Utc>) -> DateTime<Utc> {
    let interval = Duration::minutes(i64::from(interval_minutes.max(1)));
    if now <= first {
        return first;
    }
    let passed = (now - first).num_seconds() / interval.num_seconds();
    first + interval * passed as i32
}

/// Claims a due rule's slot for this tick: `Some(slot)` when this caller got it.
pub async fn claim(
    ctx: &Context,
    rule: &AlertRule,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, PipelineError> {
    let slot = match (rule.pending_slot, rule.next_evaluation_at) {
        (Some(pending), _) => pending, // its lease ran out: evaluate that slot again
        (None, Some(first)) => latest_slot(first, rule.interval_minutes, now),
        (None, None) => return Ok(None),
    };
    let mut claimed = rule.clone();
    claimed.pending_slot = Some(slot);
    claimed.next_evaluation_at = Some(now + LEASE);
    match ctx.store.update_alert_rule(&claimed).await {
        Ok(_) => Ok(Some(slot)),
        Err(StoreError::Conflict(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Evaluates a claimed slot (from the tick, or a queued job) and releases the claim; a slot
/// already finished does nothing.
pub async fn evaluate_claimed(
    ctx: &Context,
    workspace_id: WorkspaceId,
    rule_id: AlertRuleId,
    slot: DateTime<Utc>,
) -> Result<Option<Evaluation>, PipelineError> {
    let rule = match ctx.store.get_alert_rule(workspace_id, rule_id).await {
        Ok(rule) => rule,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if rule.pending_slot != Some(slot) {
        return Ok(None);
    }
    let workspace = ctx.store.get_workspace(workspace_id).await?;
    let evaluation = if workspace.active && rule.enabled {
        Some(evaluate(ctx, &workspace, &rule, slot, Mode::Apply).await?)
    } else {
        None
    };
    let error = evaluation.as_ref().and_then(|e| e.error.clone());
    finish(ctx, workspace_id, rule_id, slot, error).await?;
    Ok(evaluation)
}

/// Releases a finished slot: the next slot after now, the outcome.
async fn finish(
    ctx: &Context,
    workspace_id: WorkspaceId,
    rule_id: AlertRuleId,
    slot: DateTime<Utc>,
    error: Option<String>,
) -> Result<(), PipelineError> {
    let released = change_rule(ctx, workspace_id, rule_id, |rule| {
        if rule.pending_slot != Some(slot) {
            return false;
        }
        let interval = Duration::minutes(rule.interval_minutes.max(1).into());
        rule.pending_slot = None;
        rule.last_evaluated_at = Some(slot);
        rule.last_error = error.clone();
        rule.next_evaluation_at = Some(latest_slot(slot, rule.interval_minutes, ctx.clock.now()) + interval);
        true
    })
    .await;
    match released {
        Err(StoreError::NotFound { .. }) => Ok(()),
        other => Ok(other?),
    }
}

/// Records an evaluation made on demand (`evaluate` with `notify`) on the rule: when, and how
/// its source read. Leaves the tick's schedule alone.
pub async fn record_evaluation(
    ctx: &Context,
    rule: &AlertRule,
    at: DateTime<Utc>,
    error: Option<String>,
) -> Result<(), PipelineError> {
    Ok(change_rule(ctx, rule.workspace_id, rule.id, |current| {
        current.last_evaluated_at = Some(current.last_evaluated_at.map_or(at, |was| was.max(at)));
        current.last_error = error.clone();
        true
    })
    .await?)
}

/// Reads the rule, lets `change` edit it (`false`: nothing to write), and writes it back if
/// nobody wrote in between; reads again and retries a few times when someone did.
async fn change_rule(
    ctx: &Context,
    workspace_id: WorkspaceId,
    rule_id: AlertRuleId,
    mut change: impl FnMut(&mut AlertRule) -> bool,
) -> Result<(), StoreError> {
    for _ in 0..5 {
        let mut rule = ctx.store.get_alert_rule(workspace_id, rule_id).await?;
        if !change(&mut rule) {
            return Ok(());
        }
        match ctx.store.update_alert_rule(&rule).await {
            Ok(_) => return Ok(()),
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Conflict("the alert rule is being changed concurrently".into()))
}

/// A rule's state: its instances (the API's view).
pub async fn instances(ctx: &Context, rule: &AlertRule) -> Result<Vec<AlertInstance>, PipelineError> {
    let mut all = ctx.store.alert_instances(rule.id).await?;
    all.retain(|i| i.generation == rule.generation);
    all.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparkline_spans_the_lowest_to_the_highest_value() {
        assert_eq!(sparkline(&[1.0, 8.0, 4.5]).as_deref(), Some("▁█▅"));
        assert_eq!(sparkline(&[3.0, 3.0]).as_deref(), Some("▄▄"));
        assert_eq!(sparkline(&[3.0]), None);
    }

    #[test]
    fn durations_read_in_hours_and_minutes() {
        assert_eq!(duration(Duration::minutes(125)), "2 h 5 min");
        assert_eq!(duration(Duration::minutes(45)), "45 min");
        assert_eq!(duration(Duration::seconds(30)), "30 s");
        assert_eq!(duration(Duration::minutes(60)), "1 h");
    }
}
