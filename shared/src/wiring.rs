//! Is anything ticking? Schedules only fire when a tick comes (EventBridge Scheduler on AWS,
//! the minute ticker of `herald serve` locally). This port reports the state of that tick so
//! that "the schedule was created but never fires" is visible rather than silent.

#[cfg(feature = "aws")]
mod eventbridge;
#[cfg(feature = "aws")]
pub use eventbridge::EventBridgeTick;

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
    use super::*;

    #[tokio::test]
    async fn without_a_tick_the_status_says_how_schedules_can_fire() {
        let none = NoTick.status().await;
        assert_eq!(none.state, TickState::Missing);
        assert!(none.detail.unwrap().contains("POST /api/cron/tick"));
        assert_eq!(LocalTick.status().await.state, TickState::Enabled);
    }
}
