//! Alert rules, their instances, state changes and notifications in the store (keys in
//! `entities.rs`). An evaluation's result for one instance (its new state, its state change,
//! its notifications) is written in one transaction conditioned on the instance's version, and
//! notifications are created only if their key is new: a transition is recorded, and
//! notifies, exactly once however many evaluations race for it.

use chrono::{DateTime, Utc};

use super::entities::{Entity, alert_pk, alert_rule_key, time_key, workspace_pk};
use super::maintenance::Purged;
use super::repository::{Listing, PageRequest, Store, StoreError, from_item, rewrite, to_item};
use super::table::{Condition, Index, Query, SkRange, TableError, Write};
use crate::domain::{AlertEvent, AlertInstance, AlertNotification, AlertRule, AlertRuleId, WorkspaceId};

/// Items deleted per transaction when a rule goes.
const DELETE_BATCH: usize = 25;

impl Store {
    pub async fn create_alert_rule(&self, rule: &AlertRule) -> Result<AlertRule, StoreError> {
        let mut item = to_item(rule)?;
        item.version = 1;
        match self.write(vec![Write::Put { item, condition: Condition::NotExists }]).await {
            Ok(()) => {}
            Err(TableError::ConditionFailed { .. }) => {
                return Err(StoreError::Conflict("alert rule already exists".into()));
            }
            Err(e) => return Err(e.into()),
        }
        let mut stored = from_item::<AlertRule>(&to_item(rule)?)?;
        stored.set_version(1);
        Ok(stored)
    }

    pub async fn get_alert_rule(&self, ws: WorkspaceId, id: AlertRuleId) -> Result<AlertRule, StoreError> {
        self.fetch_or_404(&alert_rule_key(ws, id), id).await
    }

    pub async fn list_alert_rules(
        &self,
        ws: WorkspaceId,
        page: &PageRequest,
    ) -> Result<Listing<AlertRule>, StoreError> {
        self.list(page.apply(Query::table(workspace_pk(ws), SkRange::Prefix("ALERT#".into())))).await
    }

    /// Saves a rule read at `rule.version` (a tick's claim, an edit, the end of an
    /// evaluation); `Conflict` when someone else wrote it first.
    pub async fn update_alert_rule(&self, rule: &AlertRule) -> Result<AlertRule, StoreError> {
        let write =
            Write::Update { key: rule.key(), condition: Condition::Version(rule.version), update: rewrite(rule)? };
        match self.write(vec![write]).await {
            Ok(()) => {}
            Err(TableError::ConditionFailed { .. }) => {
                return Err(StoreError::Conflict(format!(
                    "alert rule was changed since it was read (version {}); reload and retry",
                    rule.version
                )));
            }
            Err(e) => return Err(e.into()),
        }
        let mut saved = from_item::<AlertRule>(&to_item(rule)?)?;
        saved.set_version(rule.version + 1);
        Ok(saved)
    }

    /// Deletes a rule with its instances, state changes and notifications.
    pub async fn delete_alert_rule(&self, ws: WorkspaceId, id: AlertRuleId) -> Result<(), StoreError> {
        let rule = self.get_alert_rule(ws, id).await?;
        let mut page = PageRequest::first(200);
        loop {
            let found = self.table.query(&page.apply(Query::table(alert_pk(id), SkRange::All))).await?;
            for chunk in found.items.chunks(DELETE_BATCH) {
                let writes = chunk
                    .iter()
                    .map(|item| Write::Delete { key: item.key.clone(), condition: Condition::Always })
                    .collect();
                self.write(writes).await?;
            }
            match found.cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => break,
            }
        }
        let write = Write::Delete { key: rule.key(), condition: Condition::Exists };
        match self.write(vec![write]).await {
            Err(TableError::ConditionFailed { .. }) => Err(StoreError::not_found("alert rule", id)),
            other => Ok(other?),
        }
    }

    /// Enabled rules due at `now`, earliest first.
    pub async fn due_alert_rules(
        &self,
        now: DateTime<Utc>,
        page: &PageRequest,
    ) -> Result<Listing<AlertRule>, StoreError> {
        let due = SkRange::AtMost(format!("{}#~", time_key(now)));
        self.list(page.apply(Query::index(Index::Gsi1, "ALERTDUE", due))).await
    }

    /// Every instance of a rule.
    pub async fn alert_instances(&self, rule: AlertRuleId) -> Result<Vec<AlertInstance>, StoreError> {
        let mut all = Vec::new();
        let mut page = PageRequest::first(200);
        loop {
            let listing = self
                .list::<AlertInstance>(page.apply(Query::table(alert_pk(rule), SkRange::Prefix("INST#".into()))))
                .await?;
            all.extend(listing.items);
            match listing.cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => return Ok(all),
            }
        }
    }

    /// Saves one instance's evaluation: the instance (created when new, else only if still at
    /// the version read), its state change and its notifications (only if their keys are
    /// new), together. `Ok(false)`: another evaluation got there first; nothing was written.
    pub async fn record_alert_step(
        &self,
        instance: &AlertInstance,
        event: Option<&AlertEvent>,
        notifications: &[AlertNotification],
    ) -> Result<bool, StoreError> {
        let mut writes = Vec::with_capacity(2 + notifications.len());
        let mut item = to_item(instance)?;
        if instance.version == 0 {
            item.version = 1;
            writes.push(Write::Put { item, condition: Condition::NotExists });
        } else {
            writes.push(Write::Update {
                key: instance.key(),
                condition: Condition::Version(instance.version),
                update: rewrite(instance)?,
            });
        }
        if let Some(event) = event {
            writes.push(Write::Put { item: to_item(event)?, condition: Condition::NotExists });
        }
        for notification in notifications {
            let mut item = to_item(notification)?;
            item.version = 1;
            writes.push(Write::Put { item, condition: Condition::NotExists });
        }
        match self.write(writes).await {
            Ok(()) => Ok(true),
            Err(TableError::ConditionFailed { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Saves a notification's outcome (read at `notification.version`).
    pub async fn update_alert_notification(&self, notification: &AlertNotification) -> Result<(), StoreError> {
        let write = Write::Update {
            key: notification.key(),
            condition: Condition::Version(notification.version),
            update: rewrite(notification)?,
        };
        match self.write(vec![write]).await {
            Ok(()) => Ok(()),
            Err(TableError::ConditionFailed { .. }) => {
                Err(StoreError::Conflict("the notification was updated by someone else".into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A rule's notifications (all instances), in key order.
    pub async fn alert_notifications(
        &self,
        rule: AlertRuleId,
        page: &PageRequest,
    ) -> Result<Listing<AlertNotification>, StoreError> {
        self.list(page.apply(Query::table(alert_pk(rule), SkRange::Prefix("NOTE#".into())))).await
    }

    /// A rule's state changes, newest first.
    pub async fn alert_events(&self, rule: AlertRuleId, page: &PageRequest) -> Result<Listing<AlertEvent>, StoreError> {
        self.list(page.apply(Query::table(alert_pk(rule), SkRange::Prefix("EVT#".into())).descending())).await
    }

    /// Deletes up to `limit` of a workspace's alert state changes from before `cutoff`, and the
    /// notifications of its rules created before it (retention).
    pub async fn purge_alert_history(
        &self,
        ws: WorkspaceId,
        cutoff: DateTime<Utc>,
        limit: usize,
    ) -> Result<Purged, StoreError> {
        let range = SkRange::AtMost(format!("{}#~", time_key(cutoff)));
        let query = Query::index(Index::Gsi1, format!("WS#{ws}#ALERTEVENTS"), range).limit(limit + 1);
        let mut purged = self.purge_page(&query, limit).await?;
        let mut rules = PageRequest::first(200);
        loop {
            let listing = self.list_alert_rules(ws, &rules).await?;
            for rule in &listing.items {
                let mut page = PageRequest::first(200);
                loop {
                    let notes = self.alert_notifications(rule.id, &page).await?;
                    let old: Vec<_> = notes.items.iter().filter(|n| n.created_at < cutoff).map(Entity::key).collect();
                    let room = limit.saturating_sub(purged.items);
                    purged.more |= old.len() > room;
                    purged.items += old.len().min(room);
                    self.table.delete_all(old.into_iter().take(room).collect()).await?;
                    match notes.cursor {
                        Some(cursor) if room > 0 => page.cursor = Some(cursor),
                        _ => break,
                    }
                }
            }
            match listing.cursor {
                Some(cursor) => rules.cursor = Some(cursor),
                None => return Ok(purged),
            }
        }
    }

    /// A workspace's alert state changes, newest first.
    pub async fn workspace_alert_events(
        &self,
        ws: WorkspaceId,
        page: &PageRequest,
    ) -> Result<Listing<AlertEvent>, StoreError> {
        let query = Query::index(Index::Gsi1, format!("WS#{ws}#ALERTEVENTS"), SkRange::All).descending();
        self.list(page.apply(query)).await
    }
}
