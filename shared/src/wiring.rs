//! Is anything ticking? Schedules only fire when a tick comes (EventBridge Scheduler on AWS,
//! the minute ticker of `herald serve` locally). This port reports the state of that tick so
//! that "the schedule was created but never fires" is visible rather than silent.

use async_trait::async_trait;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TickState {
    Enabled,
    Disabled,
    /// No tick is configured, or the configured schedule does not exist.
    Missing,
    /// The tick's state could not be read (permissions, network); see `detail`.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TickWiring {
    /// `eventbridge_scheduler`, `local` or `none`.
    pub kind: &'static str,
    pub name: Option<String>,
    pub state: TickState,
    /// The schedule expression, e.g. `rate(1 minute)`.
    pub expression: Option<String>,
    /// What to do about it, when something is off.
    pub detail: Option<String>,
}

#[async_trait]
pub trait TickSource: Send + Sync {
    async fn status(&self) -> TickWiring;
}

/// The tick of a SAM deployment: an EventBridge Scheduler schedule, `[group/]name`.
pub struct EventBridgeTick {
    client: aws_sdk_scheduler::Client,
    group: String,
    name: String,
}

impl EventBridgeTick {
    /// `schedule` is `name` (in the `default` group) or `group/name`.
    pub fn new(client: aws_sdk_scheduler::Client, schedule: &str) -> Self {
        let (group, name) = schedule.split_once('/').unwrap_or(("default", schedule));
        Self { client, group: group.to_string(), name: name.to_string() }
    }
}

#[async_trait]
impl TickSource for EventBridgeTick {
    async fn status(&self) -> TickWiring {
        let mut wiring = TickWiring {
            kind: "eventbridge_scheduler",
            name: Some(format!("{}/{}", self.group, self.name)),
            state: TickState::Unknown,
            expression: None,
            detail: None,
        };
        match self.client.get_schedule().group_name(&self.group).name(&self.name).send().await {
            Ok(schedule) => {
                wiring.expression = schedule.schedule_expression().map(str::to_string);
                let enabled = schedule.state().is_some_and(|s| s.as_str() == "ENABLED");
                wiring.state = if enabled { TickState::Enabled } else { TickState::Disabled };
                if !enabled {
                    wiring.detail = Some("the tick schedule is disabled: deploy with TickEnabled=true".into());
                }
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => {
                wiring.state = TickState::Missing;
                wiring.detail = Some(
                    "the tick schedule does not exist: deploy template.yaml, or call POST /api/cron/tick on a cadence"
                        .into(),
                );
            }
            Err(e) => {
                wiring.detail = Some(format!(
                    "could not read the tick schedule: {}",
                    aws_sdk_scheduler::error::DisplayErrorContext(&e)
                ));
            }
        }
        wiring
    }
}

/// The minute ticker of `herald serve`.
pub struct LocalTick;

#[async_trait]
impl TickSource for LocalTick {
    async fn status(&self) -> TickWiring {
        TickWiring {
            kind: "local",
            name: Some("herald serve".into()),
            state: TickState::Enabled,
            expression: Some("rate(1 minute)".into()),
            detail: None,
        }
    }
}

/// No tick configured: only `POST /api/cron/tick` callers make schedules fire.
pub struct NoTick;

#[async_trait]
impl TickSource for NoTick {
    async fn status(&self) -> TickWiring {
        TickWiring {
            kind: "none",
            name: None,
            state: TickState::Missing,
            expression: None,
            detail: Some(
                "no tick is configured (HERALD_TICK_SCHEDULE is unset): schedules fire only when something \
                 calls POST /api/cron/tick"
                    .into(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_scheduler::types::{FlexibleTimeWindow, FlexibleTimeWindowMode, ScheduleState, Target};

    use super::*;

    async fn create(client: &aws_sdk_scheduler::Client, name: &str, state: ScheduleState) {
        client
            .create_schedule()
            .name(name)
            .schedule_expression("rate(1 minute)")
            .state(state)
            .flexible_time_window(FlexibleTimeWindow::builder().mode(FlexibleTimeWindowMode::Off).build().unwrap())
            .target(
                Target::builder()
                    .arn("arn:aws:lambda:us-east-1:123456789012:function:tick")
                    .role_arn("arn:aws:iam::123456789012:role/scheduler")
                    .input(r#"{"task":"tick"}"#)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn the_eventbridge_tick_reports_missing_enabled_and_disabled_schedules() {
        let Some(sdk) = crate::testing::emulator().await else { return };
        let client = aws_sdk_scheduler::Client::new(&sdk);
        let name = crate::testing::unique_name("herald-tick");
        let missing = EventBridgeTick::new(client.clone(), &name).status().await;
        assert_eq!(missing.state, TickState::Missing, "{missing:?}");

        create(&client, &name, ScheduleState::Enabled).await;
        let enabled = EventBridgeTick::new(client.clone(), &format!("default/{name}")).status().await;
        assert_eq!((enabled.state, enabled.expression.as_deref()), (TickState::Enabled, Some("rate(1 minute)")));
        assert_eq!(enabled.name.as_deref(), Some(format!("default/{name}").as_str()));

        let paused = crate::testing::unique_name("herald-tick-off");
        create(&client, &paused, ScheduleState::Disabled).await;
        let disabled = EventBridgeTick::new(client, &paused).status().await;
        assert_eq!(disabled.state, TickState::Disabled);
        assert!(disabled.detail.unwrap().contains("TickEnabled"));
    }

    #[tokio::test]
    async fn without_a_tick_the_status_says_how_schedules_can_fire() {
        let none = NoTick.status().await;
        assert_eq!(none.state, TickState::Missing);
        assert!(none.detail.unwrap().contains("POST /api/cron/tick"));
        assert_eq!(LocalTick.status().await.state, TickState::Enabled);
    }
}
