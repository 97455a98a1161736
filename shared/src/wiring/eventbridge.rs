//! The tick of a SAM deployment as a [`TickSource`]: the state of its EventBridge Scheduler
//! schedule.

use async_trait::async_trait;

use super::{TickSource, TickState, TickWiring};

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
}
