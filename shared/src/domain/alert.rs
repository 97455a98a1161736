//! Alert rules: a source's rows, reduced to a number per group (a metric), compared with a
//! condition on every evaluation; each group is an [`AlertInstance`] with its own state.
//!
//! The state machine of an instance ([`AlertInstance::step`]), pure and clock-free (the time
//! of the evaluation is passed in):
//!
//! ```text
//!            breached                    pending_for elapsed
//!   Normal ───────────► Pending ───────────────────────────► Firing ◄──┐ breached
//!     ▲  ◄──────────────   │ clear                  clear │    │ ▲      │
//!     │                    ▼                              ▼    │ │ breached
//!     └──────────────── Normal          keep_firing_for ─ Recovering
//!            (Resolved)                     elapsed
//! ```
//!
//! - `pending_for` 0 goes straight to Firing; `keep_firing_for` 0 resolves at once.
//! - Entering Firing opens a firing *episode* (numbered) and notifies `firing`; while it stays
//!   firing, `repeat_every` (0: never) sends `repeat` notifications; leaving it notifies
//!   `resolved` with how long it fired. A notification's key is (instance, episode, kind,
//!   repeat number), so sending twice for one transition is impossible by construction.
//! - A `cooldown` after a resolution: an episode that starts within it fires silently until
//!   the cooldown ends, then notifies once if still firing (no flapping storms); an episode
//!   that never notified resolves silently.
//! - Hysteresis: a firing instance clears only past the `recovery_threshold` (for `>`/`>=`
//!   below it, for `<`/`<=` above it), so a value hovering at the threshold does not flap.
//! - No data (the group vanished, no numeric value) and Error (the source failed) follow the
//!   rule's policies: their own state (the episode stays open, nothing is sent), treated as
//!   firing, as normal, or keep the last state.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{
    AlertRuleId, DestinationId, FieldError, Name, SourceSpec, ValidationErrors, WorkspaceId, looks_like_email,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertRule {
    pub id: AlertRuleId,
    pub workspace_id: WorkspaceId,
    pub name: Name,
    #[serde(default)]
    pub description: Option<String>,
    pub enabled: bool,
    /// Where the rows come from (any source kind a report can use).
    pub source: SourceSpec,
    /// Values of the source's `{placeholders}` (besides `window_start`, `window_end`,
    /// `window_minutes` and `as_of`, which every evaluation sets).
    #[serde(default)]
    pub parameters: Map<String, Value>,
    pub metric: Metric,
    pub condition: AlertCondition,
    /// The period the source reads, ending at the evaluation.
    #[serde(default = "default_window")]
    pub window_minutes: u32,
    /// How often the rule is evaluated.
    #[serde(default = "default_window")]
    pub interval_minutes: u32,
    #[serde(default)]
    pub timing: AlertTiming,
    #[serde(default)]
    pub severity: Severity,
    #[serde(default)]
    pub no_data: StatePolicy,
    #[serde(default)]
    pub on_error: StatePolicy,
    /// Where notifications go.
    #[serde(default)]
    pub destinations: Vec<AlertTarget>,
    /// The notification's text; `{rule}`, `{instance}`, `{value}`, `{threshold}`, `{state}`,
    /// `{since}` are filled in. A sentence of Herald's own when absent.
    #[serde(default)]
    pub message: Option<String>,
    /// When the rule is next evaluated (enabled rules only; the tick finds due rules by it).
    #[serde(default)]
    pub next_evaluation_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_evaluated_at: Option<DateTime<Utc>>,
    /// Why the last evaluation failed.
    #[serde(default)]
    pub last_error: Option<String>,
    /// The evaluation slot a tick claimed and has not finished; while it is set,
    /// `next_evaluation_at` is when the claim's lease runs out (a crashed evaluation is then
    /// claimed again: nothing sticks "working").
    #[serde(default)]
    pub pending_slot: Option<DateTime<Utc>>,
    /// Changes with every edit of what is evaluated; instances of an older generation start
    /// over in Normal (editing a rule's condition resets its instances).
    #[serde(default)]
    pub generation: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub version: u64,
}

fn default_window() -> u32 {
    5
}

/// A destination an alert notifies, with the addresses of an email destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertTarget {
    pub destination_id: DestinationId,
    /// Recipients (email destinations only).
    #[serde(default)]
    pub to: Vec<String>,
}

/// One state change of one instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertEvent {
    pub rule_id: AlertRuleId,
    pub workspace_id: WorkspaceId,
    pub instance: String,
    pub from: AlertState,
    pub to: AlertState,
    pub value: Option<f64>,
    #[serde(default)]
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

/// How a notification's sending went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationStatus {
    Pending,
    Sent,
    Failed,
}

/// One notification to one destination, recorded before it is sent: its key (instance,
/// episode, kind, repeat, destination) exists once, so a transition notifies once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertNotification {
    pub rule_id: AlertRuleId,
    pub workspace_id: WorkspaceId,
    pub instance: String,
    /// The notice's key (`3-firing`).
    pub key: String,
    pub kind: NotificationKind,
    pub episode: u32,
    /// Position of the destination in the rule's list.
    pub index: u32,
    pub destination_id: DestinationId,
    pub to: Vec<String>,
    pub state: AlertState,
    pub value: Option<f64>,
    /// How long the episode fired (resolved notifications), in seconds.
    #[serde(default)]
    pub fired_for_seconds: Option<i64>,
    pub status: NotificationStatus,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    pub provider_message_id: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub sent_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub version: u64,
}

/// A number per group of rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    pub aggregate: MetricAggregate,
    /// The column aggregated (not needed for `count`).
    #[serde(default)]
    pub column: Option<String>,
    /// Each value of this column is its own instance (one per offer, per channel).
    #[serde(default)]
    pub group_by: Option<String>,
    /// For `change` conditions: a column holding the previous window's value (the analytics
    /// sources have `previous_completed` and the like). Without it the source is read a second
    /// time for the window before.
    #[serde(default)]
    pub previous_column: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MetricAggregate {
    Count,
    Sum,
    Avg,
    Min,
    Max,
    /// The value in the last row.
    Latest,
}

/// When an instance's value is breached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "op")]
pub enum AlertCondition {
    #[serde(rename = ">")]
    Above { threshold: f64, recovery_threshold: Option<f64> },
    #[serde(rename = ">=")]
    AtLeast { threshold: f64, recovery_threshold: Option<f64> },
    #[serde(rename = "<")]
    Below { threshold: f64, recovery_threshold: Option<f64> },
    #[serde(rename = "<=")]
    AtMost { threshold: f64, recovery_threshold: Option<f64> },
    #[serde(rename = "==")]
    Equal { threshold: f64 },
    #[serde(rename = "!=")]
    NotEqual { threshold: f64 },
    #[serde(rename = "inside")]
    Inside { low: f64, high: f64 },
    #[serde(rename = "outside")]
    Outside { low: f64, high: f64 },
    /// The value moved from the previous window's by more than `threshold` (percent of the
    /// previous value, or absolute) in `direction`.
    #[serde(rename = "change")]
    Change { by: ChangeMeasure, direction: Direction, threshold: f64 },
    #[serde(rename = "has_rows")]
    HasRows,
    #[serde(rename = "has_no_rows")]
    HasNoRows,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeMeasure {
    Percent,
    Absolute,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Up,
    Down,
    Either,
}

/// How long things last, in minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AlertTiming {
    /// A breach must last this long before it fires (0: at once).
    #[schema(minimum = 0, maximum = 43200)]
    pub pending_for_minutes: u32,
    /// A firing instance stays firing this long after its condition clears (0: resolves at once).
    #[schema(minimum = 0, maximum = 43200)]
    pub keep_firing_for_minutes: u32,
    /// While firing, notify again this often (0: never).
    #[schema(minimum = 0, maximum = 43200)]
    pub repeat_every_minutes: u32,
    /// After a resolution, a new episode notifies no sooner than this.
    #[schema(minimum = 0, maximum = 43200)]
    pub cooldown_minutes: u32,
}

impl Default for AlertTiming {
    fn default() -> Self {
        Self { pending_for_minutes: 0, keep_firing_for_minutes: 0, repeat_every_minutes: 240, cooldown_minutes: 60 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    #[default]
    Warning,
    Critical,
}

/// What no data (or an error) means for an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatePolicy {
    /// Its own state (`no_data` / `error`); an open episode stays open, nothing is sent.
    #[default]
    OwnState,
    /// As if the condition were breached.
    Firing,
    /// As if the condition were clear.
    Normal,
    /// Nothing changes.
    KeepLast,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    #[default]
    Normal,
    Pending,
    Firing,
    Recovering,
    NoData,
    Error,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Normal => "normal",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Recovering => "recovering",
            AlertState::NoData => "no_data",
            AlertState::Error => "error",
        }
    }

    /// Firing or about to stop firing: the condition is judged against the recovery threshold.
    pub fn is_active(self) -> bool {
        matches!(self, AlertState::Firing | AlertState::Recovering)
    }
}

/// What one evaluation found for one instance.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    Breached,
    Clear,
    NoData,
    Error(String),
}

/// The state of one group of one rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertInstance {
    pub rule_id: AlertRuleId,
    pub workspace_id: WorkspaceId,
    /// The group's value (`""` for a rule without `group_by`).
    pub key: String,
    pub state: AlertState,
    /// When the instance entered its state.
    pub since: DateTime<Utc>,
    /// The rule generation it belongs to.
    #[serde(default)]
    pub generation: u32,
    #[serde(default)]
    pub value: Option<f64>,
    #[serde(default)]
    pub error: Option<String>,
    /// The evaluation slot last applied (an evaluation of an older slot changes nothing).
    #[serde(default)]
    pub last_slot: Option<DateTime<Utc>>,
    /// Firing episodes so far; the current one while firing.
    #[serde(default)]
    pub episode: u32,
    /// When the current episode started firing.
    #[serde(default)]
    pub fired_at: Option<DateTime<Utc>>,
    /// Whether the current episode has notified `firing` (a silent one resolves silently).
    #[serde(default)]
    pub notified: bool,
    /// Repeats sent in the current episode.
    #[serde(default)]
    pub repeats: u32,
    #[serde(default)]
    pub last_notified_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub resolved_at: Option<DateTime<Utc>>,
    /// The values of the last evaluations, oldest first (at most [`RECENT_VALUES`]).
    #[serde(default)]
    pub recent: Vec<f64>,
    #[serde(default)]
    pub version: u64,
}

/// How many recent values an instance keeps (for charts).
pub const RECENT_VALUES: usize = 24;

/// Which notification a step asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    Firing,
    Repeat,
    Resolved,
}

/// A notification one step asks for; `key` is unique per transition.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub kind: NotificationKind,
    pub episode: u32,
    /// `{episode}-firing`, `{episode}-repeat-{n}`, `{episode}-resolved`.
    pub key: String,
    /// How long the episode fired (resolved notices).
    pub fired_for: Option<Duration>,
}

/// What one step did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Step {
    /// The state before, when the state changed.
    pub changed_from: Option<AlertState>,
    pub notice: Option<Notice>,
}

impl AlertInstance {
    pub fn new(rule: &AlertRule, key: String, now: DateTime<Utc>) -> Self {
        Self {
            rule_id: rule.id,
            workspace_id: rule.workspace_id,
            key,
            state: AlertState::Normal,
            since: now,
            generation: rule.generation,
            value: None,
            error: None,
            last_slot: None,
            episode: 0,
            fired_at: None,
            notified: false,
            repeats: 0,
            last_notified_at: None,
            resolved_at: None,
            recent: Vec::new(),
            version: 0,
        }
    }

    /// Records an evaluation's value (none: nothing to chart).
    pub fn observe(&mut self, value: Option<f64>) {
        self.value = value;
        if let Some(v) = value.filter(|v| v.is_finite()) {
            self.recent.push(v);
            let extra = self.recent.len().saturating_sub(RECENT_VALUES);
            self.recent.drain(..extra);
        }
    }

    /// Applies one evaluation's observation at `now` under `timing` and the rule's policies.
    pub fn step(
        &mut self,
        observation: Observation,
        timing: &AlertTiming,
        no_data: StatePolicy,
        on_error: StatePolicy,
        now: DateTime<Utc>,
    ) -> Step {
        let before = self.state;
        let observation = match observation {
            Observation::NoData => self.by_policy(no_data, AlertState::NoData, None),
            Observation::Error(message) => self.by_policy(on_error, AlertState::Error, Some(message)),
            other => Some(other),
        };
        let mut notice = None;
        match observation {
            None => {}
            Some(Observation::Breached) => {
                self.error = None;
                notice = self.breached(timing, now);
            }
            Some(Observation::Clear) => {
                self.error = None;
                notice = self.clear(timing, now);
            }
            Some(Observation::NoData) => {
                self.error = None;
                self.enter(AlertState::NoData, now);
            }
            Some(Observation::Error(message)) => {
                self.error = Some(message);
                self.enter(AlertState::Error, now);
            }
        }
        if let Some(notice) = &notice {
            self.last_notified_at = Some(now);
            if notice.kind == NotificationKind::Firing {
                self.notified = true;
            }
        }
        Step { changed_from: (self.state != before).then_some(before), notice }
    }

    /// The observation a policy turns no data or an error into (`None`: keep the last state).
    fn by_policy(&self, policy: StatePolicy, own: AlertState, message: Option<String>) -> Option<Observation> {
        match policy {
            StatePolicy::OwnState if own == AlertState::Error => Some(Observation::Error(message.unwrap_or_default())),
            StatePolicy::OwnState => Some(Observation::NoData),
            StatePolicy::Firing => Some(Observation::Breached),
            StatePolicy::Normal => Some(Observation::Clear),
            StatePolicy::KeepLast => None,
        }
    }

    fn enter(&mut self, state: AlertState, now: DateTime<Utc>) {
        if self.state != state {
            self.state = state;
            self.since = now;
        }
    }

    /// Whether an episode is open (fired, not resolved), whatever the state: a firing
    /// instance, or one left in NoData or Error. Its condition is judged against the recovery
    /// threshold.
    pub fn episode_open(&self) -> bool {
        self.fired_at.is_some()
    }

    fn breached(&mut self, timing: &AlertTiming, now: DateTime<Utc>) -> Option<Notice> {
        let pending_for = minutes(timing.pending_for_minutes);
        match self.state {
            AlertState::Firing => self.while_firing(timing, now),
            AlertState::Recovering => {
                self.enter(AlertState::Firing, now);
                self.while_firing(timing, now)
            }
            // An episode left open by no data or an error goes on.
            AlertState::NoData | AlertState::Error if self.episode_open() => {
                self.enter(AlertState::Firing, now);
                self.while_firing(timing, now)
            }
            AlertState::Pending if now - self.since >= pending_for => self.start_firing(timing, now),
            AlertState::Pending => None,
            AlertState::Normal | AlertState::NoData | AlertState::Error if pending_for.is_zero() => {
                self.start_firing(timing, now)
            }
            AlertState::Normal | AlertState::NoData | AlertState::Error => {
                self.enter(AlertState::Pending, now);
                None
            }
        }
    }

    fn start_firing(&mut self, timing: &AlertTiming, now: DateTime<Utc>) -> Option<Notice> {
        self.enter(AlertState::Firing, now);
        self.episode += 1;
        self.fired_at = Some(now);
        self.notified = false;
        self.repeats = 0;
        self.firing_notice(timing, now)
    }

    /// The `firing` notice of the current episode, unless a cooldown holds it back.
    fn firing_notice(&self, timing: &AlertTiming, now: DateTime<Utc>) -> Option<Notice> {
        let cooling = self.resolved_at.is_some_and(|at| now - at < minutes(timing.cooldown_minutes));
        (!cooling).then(|| Notice {
            kind: NotificationKind::Firing,
            episode: self.episode,
            key: format!("{}-firing", self.episode),
            fired_for: None,
        })
    }

    fn while_firing(&mut self, timing: &AlertTiming, now: DateTime<Utc>) -> Option<Notice> {
        if !self.notified {
            return self.firing_notice(timing, now);
        }
        let every = minutes(timing.repeat_every_minutes);
        let due = self.last_notified_at.is_none_or(|at| now - at >= every);
        if every.is_zero() || !due {
            return None;
        }
        self.repeats += 1;
        Some(Notice {
            kind: NotificationKind::Repeat,
            episode: self.episode,
            key: format!("{}-repeat-{}", self.episode, self.repeats),
            fired_for: None,
        })
    }

    fn clear(&mut self, timing: &AlertTiming, now: DateTime<Utc>) -> Option<Notice> {
        let keep_firing_for = minutes(timing.keep_firing_for_minutes);
        match self.state {
            AlertState::Firing if !keep_firing_for.is_zero() => {
                self.enter(AlertState::Recovering, now);
                None
            }
            AlertState::Recovering if now - self.since < keep_firing_for => None,
            AlertState::Firing | AlertState::Recovering => self.resolve(now),
            AlertState::NoData | AlertState::Error if self.episode_open() => self.resolve(now),
            AlertState::Normal | AlertState::Pending | AlertState::NoData | AlertState::Error => {
                self.enter(AlertState::Normal, now);
                None
            }
        }
    }

    fn resolve(&mut self, now: DateTime<Utc>) -> Option<Notice> {
        self.enter(AlertState::Normal, now);
        let fired_at = self.fired_at.take();
        self.resolved_at = Some(now);
        let notified = std::mem::take(&mut self.notified);
        notified.then(|| Notice {
            kind: NotificationKind::Resolved,
            episode: self.episode,
            key: format!("{}-resolved", self.episode),
            fired_for: fired_at.map(|at| now - at),
        })
    }
}

fn minutes(m: u32) -> Duration {
    Duration::minutes(m.into())
}

impl AlertCondition {
    /// Whether `value` (with the previous window's for `change`, and the row count for
    /// `has_rows`) breaches the condition; `active` judges a firing instance against the
    /// recovery threshold. `None`: no verdict can be reached (no value, no previous value).
    pub fn breached(&self, value: Option<f64>, previous: Option<f64>, rows: usize, active: bool) -> Option<bool> {
        let hysteresis =
            |threshold: f64, recovery: Option<f64>| if active { recovery.unwrap_or(threshold) } else { threshold };
        Some(match *self {
            AlertCondition::HasRows => rows > 0,
            AlertCondition::HasNoRows => rows == 0,
            AlertCondition::Above { threshold, recovery_threshold } => {
                let v = value?;
                if active && recovery_threshold.is_some() {
                    v >= hysteresis(threshold, recovery_threshold)
                } else {
                    v > threshold
                }
            }
            AlertCondition::AtLeast { threshold, recovery_threshold } => {
                value? >= hysteresis(threshold, recovery_threshold)
            }
            AlertCondition::Below { threshold, recovery_threshold } => {
                let v = value?;
                if active && recovery_threshold.is_some() {
                    v <= hysteresis(threshold, recovery_threshold)
                } else {
                    v < threshold
                }
            }
            AlertCondition::AtMost { threshold, recovery_threshold } => {
                value? <= hysteresis(threshold, recovery_threshold)
            }
            AlertCondition::Equal { threshold } => value? == threshold,
            AlertCondition::NotEqual { threshold } => value? != threshold,
            AlertCondition::Inside { low, high } => (low..=high).contains(&value?),
            AlertCondition::Outside { low, high } => !(low..=high).contains(&value?),
            AlertCondition::Change { by, direction, threshold } => {
                let (now, before) = (value?, previous?);
                let moved = match by {
                    ChangeMeasure::Absolute => now - before,
                    ChangeMeasure::Percent if before == 0.0 => return None,
                    ChangeMeasure::Percent => (now - before) / before.abs() * 100.0,
                };
                match direction {
                    Direction::Up => moved > threshold,
                    Direction::Down => -moved > threshold,
                    Direction::Either => moved.abs() > threshold,
                }
            }
        })
    }

    /// The threshold in words, for notifications (`> 100`, `down more than 15%`).
    pub fn describe(&self) -> String {
        let with_recovery = |op: &str, t: f64, r: Option<f64>| match r {
            Some(r) => format!("{op} {t} (clears past {r})"),
            None => format!("{op} {t}"),
        };
        match *self {
            AlertCondition::Above { threshold, recovery_threshold } => {
                with_recovery(">", threshold, recovery_threshold)
            }
            AlertCondition::AtLeast { threshold, recovery_threshold } => {
                with_recovery(">=", threshold, recovery_threshold)
            }
            AlertCondition::Below { threshold, recovery_threshold } => {
                with_recovery("<", threshold, recovery_threshold)
            }
            AlertCondition::AtMost { threshold, recovery_threshold } => {
                with_recovery("<=", threshold, recovery_threshold)
            }
            AlertCondition::Equal { threshold } => format!("== {threshold}"),
            AlertCondition::NotEqual { threshold } => format!("!= {threshold}"),
            AlertCondition::Inside { low, high } => format!("inside {low} to {high}"),
            AlertCondition::Outside { low, high } => format!("outside {low} to {high}"),
            AlertCondition::Change { by, direction, threshold } => {
                let unit = if by == ChangeMeasure::Percent { "%" } else { "" };
                let way = match direction {
                    Direction::Up => "up",
                    Direction::Down => "down",
                    Direction::Either => "up or down",
                };
                format!("{way} more than {threshold}{unit} on the previous window")
            }
            AlertCondition::HasRows => "has rows".into(),
            AlertCondition::HasNoRows => "has no rows".into(),
        }
    }

    fn check(&self, errors: &mut Vec<FieldError>) {
        let finite = |field: &str, v: f64, errors: &mut Vec<FieldError>| {
            if !v.is_finite() {
                errors.push(FieldError::new(format!("condition.{field}"), "must be a finite number"));
            }
        };
        match *self {
            AlertCondition::Above { threshold, recovery_threshold }
            | AlertCondition::AtLeast { threshold, recovery_threshold } => {
                finite("threshold", threshold, errors);
                if recovery_threshold.is_some_and(|r| !(r.is_finite() && r <= threshold)) {
                    errors.push(FieldError::new("condition.recovery_threshold", "must be at most the threshold"));
                }
            }
            AlertCondition::Below { threshold, recovery_threshold }
            | AlertCondition::AtMost { threshold, recovery_threshold } => {
                finite("threshold", threshold, errors);
                if recovery_threshold.is_some_and(|r| !(r.is_finite() && r >= threshold)) {
                    errors.push(FieldError::new("condition.recovery_threshold", "must be at least the threshold"));
                }
            }
            AlertCondition::Equal { threshold } | AlertCondition::NotEqual { threshold } => {
                finite("threshold", threshold, errors)
            }
            AlertCondition::Inside { low, high } | AlertCondition::Outside { low, high } => {
                finite("low", low, errors);
                finite("high", high, errors);
                if low > high {
                    errors.push(FieldError::new("condition.high", "must be at least `low`"));
                }
            }
            AlertCondition::Change { threshold, .. } => {
                if !(threshold.is_finite() && threshold >= 0.0) {
                    errors.push(FieldError::new("condition.threshold", "must be a number of at least 0"));
                }
            }
            AlertCondition::HasRows | AlertCondition::HasNoRows => {}
        }
    }
}

impl AlertRule {
    /// Checks what can be checked without the source's rows, reporting every problem at once.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = Vec::new();
        if let Err(e) = self.source.validate_alone("source") {
            errors.extend(e.0);
        }
        if self.metric.aggregate != MetricAggregate::Count && self.metric.column.as_deref().is_none_or(str::is_empty) {
            errors.push(FieldError::new("metric.column", "is required for every aggregate but `count`"));
        }
        self.condition.check(&mut errors);
        for (field, value, max) in [
            ("window_minutes", self.window_minutes, 366 * 24 * 60),
            ("interval_minutes", self.interval_minutes, 7 * 24 * 60),
        ] {
            if value == 0 || value > max {
                errors.push(FieldError::new(field, format!("must be between 1 and {max}")));
            }
        }
        for (field, value) in [
            ("timing.pending_for_minutes", self.timing.pending_for_minutes),
            ("timing.keep_firing_for_minutes", self.timing.keep_firing_for_minutes),
            ("timing.repeat_every_minutes", self.timing.repeat_every_minutes),
            ("timing.cooldown_minutes", self.timing.cooldown_minutes),
        ] {
            if value > 30 * 24 * 60 {
                errors.push(FieldError::new(field, "must be at most 43200 (30 days)"));
            }
        }
        if self.destinations.len() > 20 {
            errors.push(FieldError::new("destinations", "at most 20 destinations"));
        }
        for (i, target) in self.destinations.iter().enumerate() {
            for (j, to) in target.to.iter().enumerate() {
                if !looks_like_email(to) {
                    errors.push(FieldError::new(format!("destinations[{i}].to[{j}]"), "must be an email address"));
                }
            }
        }
        if self.message.as_deref().is_some_and(|m| m.chars().count() > 4000) {
            errors.push(FieldError::new("message", "must be at most 4000 characters"));
        }
        if self.description.as_deref().is_some_and(|m| m.chars().count() > 2000) {
            errors.push(FieldError::new("description", "must be at most 2000 characters"));
        }
        ValidationErrors::into_result(errors)
    }

    /// Whether `other` evaluates the same thing (same source, metric, condition, window):
    /// when not, the instances start over.
    pub fn same_evaluation(&self, other: &AlertRule) -> bool {
        self.source == other.source
            && self.parameters == other.parameters
            && self.metric == other.metric
            && self.condition == other.condition
            && self.window_minutes == other.window_minutes
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    /// The minute every sequence counts from.
    fn at(minute: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap() + Duration::minutes(minute)
    }

    fn timing(pending: u32, keep_firing: u32, repeat_every: u32, cooldown: u32) -> AlertTiming {
        AlertTiming {
            pending_for_minutes: pending,
            keep_firing_for_minutes: keep_firing,
            repeat_every_minutes: repeat_every,
            cooldown_minutes: cooldown,
        }
    }

    /// `> 100, recovery 90`, averaging `conversion` per offer.
    fn rule() -> AlertRule {
        serde_json::from_value(json!({
            "id": "01JD8X0Q6V4W7ZB9N3K2M5P8RT",
            "workspace_id": "01JD8X0Q6V4W7ZB9N3K2M5P8RV",
            "name": "Conversion too high",
            "enabled": true,
            "source": { "name": "offers", "type": "offer_performance" },
            "metric": { "aggregate": "avg", "column": "conversion", "group_by": "offer" },
            "condition": { "op": ">", "threshold": 100.0, "recovery_threshold": 90.0 },
            "created_at": "2026-03-02T09:00:00Z",
            "updated_at": "2026-03-02T09:00:00Z"
        }))
        .unwrap()
    }

    fn observation(code: &str) -> Observation {
        match code {
            "B" => Observation::Breached,
            "C" => Observation::Clear,
            "N" => Observation::NoData,
            "E" => Observation::Error("boom".into()),
            other => panic!("unknown observation `{other}`"),
        }
    }

    /// Runs `steps` (`minute:observation`, minutes after [`at`]`(0)`; observations `B`reached,
    /// `C`lear, `N`o data, `E`rror) on a fresh instance; each step gives the state after it and
    /// what it did. Checks on every step that `changed_from` is the state before exactly when
    /// the state changed, and that a notice's key starts with its episode.
    fn run(
        timing: AlertTiming,
        no_data: StatePolicy,
        on_error: StatePolicy,
        steps: &str,
    ) -> (AlertInstance, Vec<(AlertState, Step)>) {
        let mut instance = AlertInstance::new(&rule(), String::new(), at(0));
        let mut out = Vec::new();
        for token in steps.split_whitespace() {
            let (minute, code) = token.split_once(':').expect("steps are `minute:observation`");
            let before = instance.state;
            let step = instance.step(observation(code), &timing, no_data, on_error, at(minute.parse().unwrap()));
            assert_eq!(step.changed_from, (instance.state != before).then_some(before), "changed_from at {token}");
            if let Some(notice) = &step.notice {
                assert!(notice.key.starts_with(&format!("{}-", notice.episode)), "{notice:?} at {token}");
            }
            out.push((instance.state, step));
        }
        (instance, out)
    }

    /// The state after each step, as `state:notice-key` when the step gave a notice.
    fn trace(timing: AlertTiming, no_data: StatePolicy, on_error: StatePolicy, steps: &str) -> String {
        let (_, steps) = run(timing, no_data, on_error, steps);
        let shown = steps.iter().map(|(state, step)| match &step.notice {
            Some(notice) => format!("{}:{}", state.as_str(), notice.key),
            None => state.as_str().to_owned(),
        });
        shown.collect::<Vec<_>>().join(" ")
    }

    /// Each case: timing, steps, the expected trace (no data and errors in their own states).
    fn check_all(cases: &[(AlertTiming, &str, &str)]) {
        for (timing, steps, expected) in cases {
            let got = trace(*timing, StatePolicy::OwnState, StatePolicy::OwnState, steps);
            assert_eq!(got, *expected, "{steps} under {timing:?}");
        }
    }

    #[test]
    fn every_transition_of_the_state_machine_goes_where_the_diagram_says() {
        let t = timing(10, 10, 0, 0);
        let at_once = timing(0, 0, 0, 0);
        #[rustfmt::skip]
        let cases = [
            // normal stays normal while clear
            (t,       "0:C 5:C",                         "normal normal"),
            // normal + breached: straight to firing without pending_for, else pending
            (at_once, "0:B",                             "firing:1-firing"),
            (t,       "0:B",                             "pending"),
            // pending + breached: fires once pending_for elapsed since entering pending
            (t,       "0:B 5:B 9:B",                     "pending pending pending"),
            (t,       "0:B 5:B 10:B",                    "pending pending firing:1-firing"),
            (t,       "0:B 30:B",                        "pending firing:1-firing"),
            // pending + clear: back to normal, and the wait starts over
            (t,       "0:B 5:C",                         "pending normal"),
            (t,       "0:B 5:C 7:B 12:B 17:B",           "pending normal pending pending firing:1-firing"),
            // firing + breached stays firing, without notices when repeat_every is 0
            (t,       "0:B 10:B 20:B 500:B",             "pending firing:1-firing firing firing"),
            // firing + clear: resolves at once without keep_firing_for, else recovering
            (at_once, "0:B 5:C",                         "firing:1-firing normal:1-resolved"),
            (t,       "0:B 10:B 15:C",                   "pending firing:1-firing recovering"),
            // recovering + clear: resolves once keep_firing_for elapsed since entering recovering
            (t,       "0:B 10:B 15:C 24:C",              "pending firing:1-firing recovering recovering"),
            (t,       "0:B 10:B 15:C 20:C 25:C",         "pending firing:1-firing recovering recovering normal:1-resolved"),
            // recovering + breached: firing again, same episode, no new notice
            (t,       "0:B 10:B 15:C 20:B",              "pending firing:1-firing recovering firing"),
            (t,       "0:B 10:B 15:C 20:B 22:C 30:C 32:C",
                "pending firing:1-firing recovering firing recovering recovering normal:1-resolved"),
            // after a resolution, the next breach opens the next episode
            (at_once, "0:B 5:C 10:B 15:C",               "firing:1-firing normal:1-resolved firing:2-firing normal:2-resolved"),
            (at_once, "0:B 5:C 10:C",                    "firing:1-firing normal:1-resolved normal"),
        ];
        check_all(&cases);
    }

    #[test]
    fn changed_from_names_the_previous_state_exactly_when_the_state_changed() {
        use AlertState::*;
        let own = StatePolicy::OwnState;
        let steps = "0:C 5:B 10:B 15:B 20:C 25:B 30:C 40:C 45:N 50:N 55:E 60:C";
        let (_, steps) = run(timing(10, 10, 0, 0), own, own, steps);
        let changed: Vec<_> = steps.iter().map(|(_, step)| step.changed_from).collect();
        #[rustfmt::skip]
        let expected = [
            None, Some(Normal), None, Some(Pending), Some(Firing), Some(Recovering), Some(Firing),
            Some(Recovering), Some(Normal), None, Some(NoData), Some(Error),
        ];
        assert_eq!(changed, expected);
    }

    #[test]
    fn since_moves_only_when_the_state_changes() {
        let t = timing(10, 10, 0, 0);
        let own = StatePolicy::OwnState;
        for (steps, state, since) in [
            ("0:B 5:B", AlertState::Pending, 0),
            ("0:B 10:B 20:B 30:B", AlertState::Firing, 10),
            ("0:B 10:B 15:N 20:N", AlertState::NoData, 15),
            ("0:B 10:B 15:C 20:E 25:E", AlertState::Error, 20),
        ] {
            let (instance, _) = run(t, own, own, steps);
            assert_eq!((instance.state, instance.since), (state, at(since)), "{steps}");
        }
    }

    #[test]
    fn repeats_come_every_repeat_every_minutes_while_firing_and_notified() {
        #[rustfmt::skip]
        let cases = [
            // due repeat_every after the last notice, numbered 1, 2, …
            (timing(0, 0, 30, 0),  "0:B 29:B 30:B 45:B 60:B 100:B",
                "firing:1-firing firing firing:1-repeat-1 firing firing:1-repeat-2 firing:1-repeat-3"),
            // repeat_every 0: never
            (timing(0, 0, 0, 0),   "0:B 30:B 1000:B 100000:B",  "firing:1-firing firing firing firing"),
            // not while recovering
            (timing(0, 60, 30, 0), "0:B 10:C 40:C 50:C 70:C",   "firing:1-firing recovering recovering recovering normal:1-resolved"),
            // firing again from recovering: a repeat when one is due, none before
            (timing(0, 60, 30, 0), "0:B 10:C 40:B",             "firing:1-firing recovering firing:1-repeat-1"),
            (timing(0, 60, 30, 0), "0:B 10:C 20:B 30:B",        "firing:1-firing recovering firing firing:1-repeat-1"),
            // numbered per episode
            (timing(0, 0, 30, 0),  "0:B 30:B 35:C 100:B 130:B",
                "firing:1-firing firing:1-repeat-1 normal:1-resolved firing:2-firing firing:2-repeat-1"),
            // the first counts from the firing notice, not from entering pending
            (timing(10, 0, 30, 0), "0:B 10:B 35:B 40:B",        "pending firing:1-firing firing firing:1-repeat-1"),
        ];
        check_all(&cases);
    }

    #[test]
    fn a_cooldown_holds_back_a_new_episodes_notices_until_it_has_passed() {
        let t = timing(0, 0, 0, 60);
        #[rustfmt::skip]
        let cases = [
            // the first episode has no resolution to cool down from
            (t, "0:B",                                "firing:1-firing"),
            // within the cooldown: fires silently, notifies on the first evaluation after it
            (t, "0:B 10:C 20:B 69:B 70:B 80:B",       "firing:1-firing normal:1-resolved firing firing firing:2-firing firing"),
            // after the cooldown: notifies at once
            (t, "0:B 10:C 70:B",                      "firing:1-firing normal:1-resolved firing:2-firing"),
            // an episode that never notified resolves silently, and its resolution cools down too
            (t, "0:B 10:C 20:B 30:C",                 "firing:1-firing normal:1-resolved firing normal"),
            (t, "0:B 10:C 20:B 30:C 75:B 89:B 90:B",
                "firing:1-firing normal:1-resolved firing normal firing firing firing:3-firing"),
            // a silent episode does not repeat; repeats count from its late firing notice
            (timing(0, 0, 30, 60), "0:B 10:C 20:B 60:B 70:B 99:B 100:B",
                "firing:1-firing normal:1-resolved firing firing firing:2-firing firing firing:2-repeat-1"),
            // the cooldown counts from the resolution, not from the pending wait
            (timing(10, 0, 0, 60), "0:B 10:B 20:C 30:B 40:B 79:B 80:B",
                "pending firing:1-firing normal:1-resolved pending firing firing firing:2-firing"),
            // recovering when the cooldown passes: the notice comes on firing again
            (timing(0, 20, 0, 60), "0:B 5:C 25:C 30:B 80:C 90:C 95:B",
                "firing:1-firing recovering normal:1-resolved firing recovering recovering firing:2-firing"),
            // a silent episode recovering to normal stays silent
            (timing(0, 20, 0, 60), "0:B 5:C 25:C 30:B 35:C 55:C",
                "firing:1-firing recovering normal:1-resolved firing recovering normal"),
        ];
        check_all(&cases);
    }

    #[test]
    fn every_wait_is_over_exactly_when_its_minutes_have_passed() {
        #[rustfmt::skip]
        let cases = [
            // pending_for, one minute short and on the minute
            (timing(15, 0, 0, 0), "0:B 14:B",     "pending pending"),
            (timing(15, 0, 0, 0), "0:B 15:B",     "pending firing:1-firing"),
            // keep_firing_for
            (timing(0, 15, 0, 0), "0:B 5:C 19:C", "firing:1-firing recovering recovering"),
            (timing(0, 15, 0, 0), "0:B 5:C 20:C", "firing:1-firing recovering normal:1-resolved"),
            // repeat_every
            (timing(0, 0, 15, 0), "0:B 14:B",     "firing:1-firing firing"),
            (timing(0, 0, 15, 0), "0:B 15:B",     "firing:1-firing firing:1-repeat-1"),
            // cooldown
            (timing(0, 0, 0, 15), "0:B 5:C 19:B", "firing:1-firing normal:1-resolved firing"),
            (timing(0, 0, 0, 15), "0:B 5:C 20:B", "firing:1-firing normal:1-resolved firing:2-firing"),
        ];
        check_all(&cases);
    }

    #[test]
    fn notices_carry_their_kind_episode_key_and_how_long_the_episode_fired() {
        let own = StatePolicy::OwnState;
        let (instance, steps) = run(timing(10, 10, 30, 0), own, own, "0:B 10:B 40:B 45:C 55:C");
        let notices: Vec<_> = steps.into_iter().filter_map(|(_, step)| step.notice).collect();
        let notice = |kind, key: &str, fired_for| Notice { kind, episode: 1, key: key.into(), fired_for };
        assert_eq!(
            notices,
            [
                notice(NotificationKind::Firing, "1-firing", None),
                notice(NotificationKind::Repeat, "1-repeat-1", None),
                notice(NotificationKind::Resolved, "1-resolved", Some(Duration::minutes(45))),
            ]
        );
        assert_eq!(instance.state, AlertState::Normal);
        assert_eq!(instance.episode, 1);
        assert_eq!(instance.fired_at, None);
        assert_eq!(instance.resolved_at, Some(at(55)));
        assert_eq!(instance.last_notified_at, Some(at(55)));
        assert!(!instance.notified);
    }

    #[test]
    fn fired_for_counts_from_entering_firing_even_when_the_notice_came_late_or_data_went_missing() {
        let own = StatePolicy::OwnState;
        let resolved_after = |t, steps: &str| {
            let (_, done) = run(t, own, own, steps);
            let notice = done.into_iter().filter_map(|(_, step)| step.notice).next_back().unwrap();
            assert_eq!(notice.kind, NotificationKind::Resolved, "{steps}");
            notice.fired_for.unwrap().num_minutes()
        };
        // episode 2 fires silently at 20, notifies at 70 and resolves at 100
        assert_eq!(resolved_after(timing(0, 0, 0, 60), "0:B 10:C 20:B 70:B 100:C"), 80);
        // fired at 0, no data from 10, cleared at 30
        assert_eq!(resolved_after(timing(0, 0, 0, 0), "0:B 10:N 30:C"), 30);
        // fired at 0, recovering from 10, firing again at 15, recovering from 20, resolved at 30
        assert_eq!(resolved_after(timing(0, 10, 0, 0), "0:B 10:C 15:B 20:C 30:C"), 30);
    }

    #[test]
    fn every_notice_key_of_a_long_sequence_is_unique() {
        let t = timing(0, 0, 30, 60);
        let steps = "0:B 30:B 60:B 70:C 80:B 100:B 130:B 150:B 160:B 170:C 240:B 250:N 280:B 290:C";
        // firing, two repeats, resolved; a silent episode in the cooldown notifying late, a
        // repeat, resolved; a third episode through no data, a repeat, resolved
        let expected = "firing:1-firing firing:1-repeat-1 firing:1-repeat-2 normal:1-resolved \
                        firing firing firing:2-firing firing firing:2-repeat-1 normal:2-resolved \
                        firing:3-firing no_data firing:3-repeat-1 normal:3-resolved";
        let own = StatePolicy::OwnState;
        assert_eq!(trace(t, own, own, steps), expected);
        let (_, steps) = run(t, own, own, steps);
        let keys: Vec<_> = steps.into_iter().filter_map(|(_, step)| step.notice.map(|n| n.key)).collect();
        assert_eq!(keys.len(), 10);
        assert_eq!(keys.iter().collect::<HashSet<_>>().len(), keys.len(), "{keys:?}");
    }

    /// Each case: a policy, timing, the steps with `X` for the missing value and the expected
    /// trace with `own` for the policy's own state. Runs once as no data (under the policy, with
    /// errors kept last) and once as an error (the other way round).
    fn check_policy(cases: &[(StatePolicy, AlertTiming, &str, &str)]) {
        for (policy, timing, steps, expected) in cases {
            for (code, own) in [("N", "no_data"), ("E", "error")] {
                let (no_data, on_error) =
                    if code == "N" { (*policy, StatePolicy::KeepLast) } else { (StatePolicy::KeepLast, *policy) };
                let steps = steps.replace('X', code);
                let expected = expected.replace("own", own);
                assert_eq!(trace(*timing, no_data, on_error, &steps), expected, "{policy:?}: {steps}");
            }
        }
    }

    #[test]
    fn no_data_and_errors_in_their_own_state_keep_an_open_episode_open_and_quiet() {
        use StatePolicy::OwnState as Own;
        let t = timing(10, 10, 0, 0);
        let (at_once, repeating, cooling) = (timing(0, 0, 0, 0), timing(0, 0, 30, 0), timing(0, 0, 0, 60));
        #[rustfmt::skip]
        let cases = [
            // without an episode: its own state, which clears to normal or breaches anew
            (Own, t,         "0:X",                     "own"),
            (Own, t,         "0:X 5:X",                 "own own"),
            (Own, t,         "0:X 5:C",                 "own normal"),
            (Own, t,         "0:X 5:B 15:B",            "own pending firing:1-firing"),
            (Own, at_once,   "0:X 5:B",                 "own firing:1-firing"),
            (Own, t,         "0:B 5:X 10:B 15:B 20:B",  "pending own pending pending firing:1-firing"),
            // firing: nothing sent; a breach goes on firing (no pending), a clear resolves at once
            (Own, t,         "0:B 10:B 15:X",           "pending firing:1-firing own"),
            (Own, t,         "0:B 10:B 15:X 20:B",      "pending firing:1-firing own firing"),
            (Own, t,         "0:B 10:B 15:X 20:C",      "pending firing:1-firing own normal:1-resolved"),
            // recovering: likewise
            (Own, t,         "0:B 10:B 15:C 18:X",      "pending firing:1-firing recovering own"),
            (Own, t,         "0:B 10:B 15:C 18:X 20:B", "pending firing:1-firing recovering own firing"),
            (Own, t,         "0:B 10:B 15:C 18:X 20:C", "pending firing:1-firing recovering own normal:1-resolved"),
            // no repeats in its own state; firing again repeats when one is due
            (Own, repeating, "0:B 10:X 40:X",           "firing:1-firing own own"),
            (Own, repeating, "0:B 10:X 20:B",           "firing:1-firing own firing"),
            (Own, repeating, "0:B 10:X 30:B",           "firing:1-firing own firing:1-repeat-1"),
            // a silent episode: still silent in the cooldown, notifies after it, resolves silently
            (Own, cooling,   "0:B 10:C 20:B 30:X 40:B", "firing:1-firing normal:1-resolved firing own firing"),
            (Own, cooling,   "0:B 10:C 20:B 30:X 90:B", "firing:1-firing normal:1-resolved firing own firing:2-firing"),
            (Own, cooling,   "0:B 10:C 20:B 30:X 90:C", "firing:1-firing normal:1-resolved firing own normal"),
        ];
        check_policy(&cases);
    }

    #[test]
    fn no_data_and_errors_treated_as_firing_act_as_a_breach() {
        use StatePolicy::Firing;
        let t = timing(10, 10, 0, 0);
        #[rustfmt::skip]
        let cases = [
            (Firing, t,                    "0:X",                "pending"),
            (Firing, t,                    "0:X 5:X 10:X",       "pending pending firing:1-firing"),
            (Firing, timing(0, 0, 0, 0),   "0:X",                "firing:1-firing"),
            (Firing, t,                    "0:B 5:X 10:B",       "pending pending firing:1-firing"),
            (Firing, t,                    "0:B 10:B 15:X 20:X", "pending firing:1-firing firing firing"),
            (Firing, t,                    "0:B 10:B 15:C 18:X", "pending firing:1-firing recovering firing"),
            (Firing, timing(0, 0, 30, 0),  "0:B 30:X",           "firing:1-firing firing:1-repeat-1"),
        ];
        check_policy(&cases);
    }

    #[test]
    fn no_data_and_errors_treated_as_normal_act_as_a_clear() {
        use StatePolicy::Normal;
        let t = timing(10, 10, 0, 0);
        #[rustfmt::skip]
        let cases = [
            (Normal, t,                  "0:X",                "normal"),
            (Normal, t,                  "0:B 5:X 10:B",       "pending normal pending"),
            (Normal, t,                  "0:B 10:B 15:X",      "pending firing:1-firing recovering"),
            (Normal, t,                  "0:B 10:B 15:X 25:X", "pending firing:1-firing recovering normal:1-resolved"),
            (Normal, t,                  "0:B 10:B 15:X 20:B", "pending firing:1-firing recovering firing"),
            (Normal, timing(0, 0, 0, 0), "0:B 5:X",            "firing:1-firing normal:1-resolved"),
        ];
        check_policy(&cases);
    }

    #[test]
    fn no_data_and_errors_keeping_the_last_state_change_nothing() {
        use StatePolicy::KeepLast;
        let t = timing(10, 10, 0, 0);
        #[rustfmt::skip]
        let cases = [
            // the pending wait, the repeat timer and the keep_firing wait all run on
            (KeepLast, t,                   "0:X",                     "normal"),
            (KeepLast, t,                   "0:B 5:X 10:B",            "pending pending firing:1-firing"),
            (KeepLast, timing(0, 0, 30, 0), "0:B 40:X 45:B",           "firing:1-firing firing firing:1-repeat-1"),
            (KeepLast, t,                   "0:B 10:B 15:C 20:X 25:C", "pending firing:1-firing recovering recovering normal:1-resolved"),
        ];
        check_policy(&cases);

        // the instance is left exactly as it was, whatever its state
        let t = timing(10, 10, 30, 60);
        let own = StatePolicy::OwnState;
        for steps in ["", "0:B", "0:B 10:B", "0:B 10:B 15:C", "0:N", "0:E", "0:B 10:B 15:E"] {
            let (mut instance, _) = run(t, own, own, steps);
            let before = instance.clone();
            for observation in [Observation::NoData, Observation::Error("later".into())] {
                let step = instance.step(observation, &t, KeepLast, KeepLast, at(500));
                assert_eq!(step, Step::default(), "after {steps:?}");
                assert_eq!(instance, before, "after {steps:?}");
            }
        }
    }

    #[test]
    fn no_data_and_errors_follow_their_own_policies_independently() {
        use StatePolicy::{Firing, Normal, OwnState};
        let t = timing(0, 0, 0, 0);
        assert_eq!(trace(t, Firing, Normal, "0:B 5:N 10:E"), "firing:1-firing firing normal:1-resolved");
        assert_eq!(trace(t, Normal, Firing, "0:B 5:E 10:N"), "firing:1-firing firing normal:1-resolved");
        assert_eq!(trace(t, OwnState, Firing, "0:N 5:E"), "no_data firing:1-firing");
        assert_eq!(trace(t, Firing, OwnState, "0:E 5:N"), "error firing:1-firing");
    }

    #[test]
    fn an_error_in_its_own_state_keeps_its_message_until_a_verdict_is_reached() {
        let t = timing(0, 0, 0, 0);
        let own = StatePolicy::OwnState;
        let mut instance = AlertInstance::new(&rule(), "offer-1".into(), at(0));
        instance.step(Observation::Error("timed out".into()), &t, own, own, at(0));
        assert_eq!((instance.state, instance.error.as_deref()), (AlertState::Error, Some("timed out")));
        let step = instance.step(Observation::Error("refused".into()), &t, own, own, at(5));
        assert_eq!(step, Step::default());
        assert_eq!((instance.state, instance.error.as_deref()), (AlertState::Error, Some("refused")));
        instance.step(Observation::Clear, &t, own, own, at(10));
        assert_eq!((instance.state, instance.error.as_deref()), (AlertState::Normal, None));

        instance.step(Observation::Error("timed out".into()), &t, own, own, at(15));
        instance.step(Observation::Breached, &t, own, own, at(20));
        assert_eq!((instance.state, instance.error.as_deref()), (AlertState::Firing, None));

        // an error treated as firing records no message
        let step = instance.step(Observation::Error("timed out".into()), &t, own, StatePolicy::Firing, at(25));
        assert_eq!((instance.state, instance.error.as_deref(), step.changed_from), (AlertState::Firing, None, None));
    }

    #[test]
    fn a_value_hovering_at_the_threshold_does_not_flap() {
        let condition = rule().condition; // > 100, clears below 90
        let t = timing(0, 0, 0, 0);
        let own = StatePolicy::OwnState;
        let mut instance = AlertInstance::new(&rule(), String::new(), at(0));
        let values = [99.0, 101.0, 99.0, 100.5, 90.0, 89.0, 95.0, 101.0];
        let mut seen = Vec::new();
        for (i, value) in (0..).zip(values) {
            let breached = condition.breached(Some(value), None, 1, instance.state.is_active()).unwrap();
            let observation = if breached { Observation::Breached } else { Observation::Clear };
            instance.step(observation, &t, own, own, at(5 * i));
            seen.push(instance.state.as_str());
        }
        assert_eq!(seen, ["normal", "firing", "firing", "firing", "firing", "normal", "normal", "firing"]);
    }

    #[test]
    fn only_firing_and_recovering_are_judged_against_the_recovery_threshold() {
        use AlertState::*;
        for state in [Normal, Pending, Firing, Recovering, NoData, Error] {
            assert_eq!(state.is_active(), matches!(state, Firing | Recovering), "{state:?}");
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
        }
    }

    #[test]
    fn thresholds_compare_the_value_and_a_firing_instance_clears_only_past_the_recovery_threshold() {
        use AlertCondition::*;
        let above = Above { threshold: 100.0, recovery_threshold: Some(90.0) };
        let at_least = AtLeast { threshold: 100.0, recovery_threshold: Some(90.0) };
        let below = Below { threshold: 10.0, recovery_threshold: Some(20.0) };
        let at_most = AtMost { threshold: 10.0, recovery_threshold: Some(20.0) };
        let plain_above = Above { threshold: 100.0, recovery_threshold: None };
        let plain_below = Below { threshold: 10.0, recovery_threshold: None };
        let (equal, not_equal) = (Equal { threshold: 5.0 }, NotEqual { threshold: 5.0 });
        let (inside, outside) = (Inside { low: 1.0, high: 3.0 }, Outside { low: 1.0, high: 3.0 });
        let (idle, active) = (false, true);
        #[rustfmt::skip]
        let cases = [
            // condition, value, active, breached
            (&above,       100.0, idle,   false),
            (&above,       100.5, idle,   true),
            (&above,       95.0,  idle,   false),
            (&above,       101.0, active, true),
            (&above,       95.0,  active, true),
            (&above,       90.0,  active, true),
            (&above,       89.0,  active, false),
            (&plain_above, 95.0,  active, false),
            (&plain_above, 100.0, active, false),
            (&plain_above, 101.0, active, true),
            (&at_least,    100.0, idle,   true),
            (&at_least,    99.0,  idle,   false),
            (&at_least,    90.0,  active, true),
            (&at_least,    89.9,  active, false),
            (&below,       10.0,  idle,   false),
            (&below,       9.0,   idle,   true),
            (&below,       15.0,  idle,   false),
            (&below,       15.0,  active, true),
            (&below,       20.0,  active, true),
            (&below,       21.0,  active, false),
            (&plain_below, 15.0,  active, false),
            (&plain_below, 9.0,   active, true),
            (&at_most,     10.0,  idle,   true),
            (&at_most,     11.0,  idle,   false),
            (&at_most,     20.0,  active, true),
            (&at_most,     20.1,  active, false),
            (&equal,       5.0,   idle,   true),
            (&equal,       4.0,   idle,   false),
            (&not_equal,   4.0,   idle,   true),
            (&not_equal,   5.0,   active, false),
            (&inside,      1.0,   idle,   true),
            (&inside,      3.0,   idle,   true),
            (&inside,      3.5,   idle,   false),
            (&outside,     0.5,   idle,   true),
            (&outside,     2.0,   active, false),
        ];
        for (condition, value, active, expected) in cases {
            let got = condition.breached(Some(value), None, 1, active);
            assert_eq!(got, Some(expected), "{condition:?} at {value}, active {active}");
        }
    }

    #[test]
    fn change_conditions_compare_with_the_previous_window_strictly_beyond_the_threshold() {
        use ChangeMeasure::{Absolute, Percent};
        use Direction::{Down, Either, Up};
        #[rustfmt::skip]
        let cases = [
            // by, direction, threshold, value, previous, breached
            (Percent,  Up,     10.0, Some(111.0), Some(100.0), Some(true)),
            (Percent,  Up,     10.0, Some(110.0), Some(100.0), Some(false)),
            (Percent,  Up,     10.0, Some(80.0),  Some(100.0), Some(false)),
            (Percent,  Down,   10.0, Some(89.0),  Some(100.0), Some(true)),
            (Percent,  Down,   10.0, Some(90.0),  Some(100.0), Some(false)),
            (Percent,  Down,   10.0, Some(120.0), Some(100.0), Some(false)),
            (Percent,  Either, 10.0, Some(89.0),  Some(100.0), Some(true)),
            (Percent,  Either, 10.0, Some(111.0), Some(100.0), Some(true)),
            (Percent,  Either, 10.0, Some(105.0), Some(100.0), Some(false)),
            (Percent,  Up,     10.0, Some(5.0),   Some(0.0),   None),
            (Percent,  Either, 10.0, Some(0.0),   Some(0.0),   None),
            (Absolute, Up,     5.0,  Some(106.0), Some(100.0), Some(true)),
            (Absolute, Up,     5.0,  Some(105.0), Some(100.0), Some(false)),
            (Absolute, Up,     5.0,  Some(6.0),   Some(0.0),   Some(true)),
            (Absolute, Down,   5.0,  Some(94.0),  Some(100.0), Some(true)),
            (Absolute, Down,   5.0,  Some(95.0),  Some(100.0), Some(false)),
            (Absolute, Down,   5.0,  Some(106.0), Some(100.0), Some(false)),
            (Absolute, Either, 5.0,  Some(94.0),  Some(100.0), Some(true)),
            (Absolute, Either, 5.0,  Some(106.0), Some(100.0), Some(true)),
            (Absolute, Either, 0.0,  Some(100.0), Some(100.0), Some(false)),
            (Absolute, Up,     5.0,  Some(106.0), None,        None),
            (Absolute, Up,     5.0,  None,        Some(100.0), None),
            (Percent,  Down,   10.0, None,        Some(100.0), None),
        ];
        for (by, direction, threshold, value, previous, expected) in cases {
            let condition = AlertCondition::Change { by, direction, threshold };
            for active in [false, true] {
                let got = condition.breached(value, previous, 1, active);
                assert_eq!(got, expected, "{condition:?} at {value:?} after {previous:?}");
            }
        }
    }

    #[test]
    fn row_conditions_count_rows_and_a_missing_value_gives_no_verdict() {
        use AlertCondition::*;
        assert_eq!(HasRows.breached(None, None, 0, false), Some(false));
        assert_eq!(HasRows.breached(None, None, 3, false), Some(true));
        assert_eq!(HasNoRows.breached(None, None, 0, true), Some(true));
        assert_eq!(HasNoRows.breached(Some(1.0), None, 3, false), Some(false));
        for condition in [
            Above { threshold: 1.0, recovery_threshold: Some(0.0) },
            AtLeast { threshold: 1.0, recovery_threshold: None },
            Below { threshold: 1.0, recovery_threshold: Some(2.0) },
            AtMost { threshold: 1.0, recovery_threshold: None },
            Equal { threshold: 1.0 },
            NotEqual { threshold: 1.0 },
            Inside { low: 0.0, high: 1.0 },
            Outside { low: 0.0, high: 1.0 },
        ] {
            for active in [false, true] {
                assert_eq!(condition.breached(None, Some(1.0), 5, active), None, "{condition:?}");
            }
        }
    }

    /// The fields `validate` finds fault with, in order.
    fn invalid_fields(rule: &AlertRule) -> Vec<String> {
        match rule.validate() {
            Ok(()) => Vec::new(),
            Err(errors) => errors.0.into_iter().map(|e| e.field).collect(),
        }
    }

    #[test]
    fn validate_accepts_a_sound_rule_and_names_each_broken_field() {
        use AlertCondition::*;
        fn with(change: impl Fn(&mut AlertRule)) -> AlertRule {
            let mut rule = rule();
            change(&mut rule);
            rule
        }
        fn condition(condition: AlertCondition) -> AlertRule {
            with(|r| r.condition = condition.clone())
        }
        let count = Metric { aggregate: MetricAggregate::Count, column: None, group_by: None, previous_column: None };
        let up = |threshold| Change { by: ChangeMeasure::Percent, direction: Direction::Up, threshold };
        #[rustfmt::skip]
        let cases: [(AlertRule, &[&str]); 21] = [
            (rule(),                                                                   &[]),
            // the metric column: needed by every aggregate but count
            (with(|r| r.metric = count.clone()),                                       &[]),
            (with(|r| r.metric.column = None),                                         &["metric.column"]),
            (with(|r| { r.metric.aggregate = MetricAggregate::Sum; r.metric.column = Some(String::new()) }),
                                                                                       &["metric.column"]),
            // the recovery threshold: at or past the threshold on the clearing side
            (condition(Above { threshold: 100.0, recovery_threshold: Some(110.0) }),   &["condition.recovery_threshold"]),
            (condition(Above { threshold: 100.0, recovery_threshold: Some(100.0) }),   &[]),
            (condition(AtLeast { threshold: 100.0, recovery_threshold: Some(101.0) }), &["condition.recovery_threshold"]),
            (condition(Below { threshold: 10.0, recovery_threshold: Some(5.0) }),      &["condition.recovery_threshold"]),
            (condition(Below { threshold: 10.0, recovery_threshold: Some(20.0) }),     &[]),
            (condition(AtMost { threshold: 10.0, recovery_threshold: Some(9.0) }),     &["condition.recovery_threshold"]),
            (condition(Above { threshold: 100.0, recovery_threshold: Some(f64::NAN) }), &["condition.recovery_threshold"]),
            (condition(Equal { threshold: f64::INFINITY }),                            &["condition.threshold"]),
            (condition(up(-1.0)),                                                      &["condition.threshold"]),
            // ranges: low at most high
            (condition(Inside { low: 10.0, high: 5.0 }),                               &["condition.high"]),
            (condition(Outside { low: 10.0, high: 5.0 }),                              &["condition.high"]),
            (condition(Inside { low: 5.0, high: 5.0 }),                                &[]),
            // windows and intervals of at least a minute, timings of at most 30 days
            (with(|r| r.window_minutes = 0),                                           &["window_minutes"]),
            (with(|r| r.interval_minutes = 0),                                         &["interval_minutes"]),
            (with(|r| r.timing.pending_for_minutes = 30 * 24 * 60 + 1),                &["timing.pending_for_minutes"]),
            (with(|r| r.timing.cooldown_minutes = 30 * 24 * 60),                       &[]),
            // every problem at once
            (with(|r| { r.metric.column = None; r.window_minutes = 0; r.condition = Outside { low: 2.0, high: 1.0 } }),
                &["metric.column", "condition.high", "window_minutes"]),
        ];
        for (rule, expected) in cases {
            assert_eq!(invalid_fields(&rule), expected, "{:?} {:?}", rule.metric, rule.condition);
        }
    }

    #[test]
    fn conditions_read_the_op_tag_with_an_optional_recovery_threshold() {
        let condition: AlertCondition = serde_json::from_value(json!({ "op": "<=", "threshold": 3 })).unwrap();
        assert_eq!(condition, AlertCondition::AtMost { threshold: 3.0, recovery_threshold: None });
        assert_eq!(rule().condition, AlertCondition::Above { threshold: 100.0, recovery_threshold: Some(90.0) });
        assert_eq!(rule().timing, AlertTiming::default());
    }

    #[test]
    fn no_data_after_an_error_keeps_no_stale_message_and_an_open_episode_judges_by_the_recovery_threshold() {
        let own = StatePolicy::OwnState;
        let (instance, _) = run(timing(0, 0, 0, 0), own, own, "0:B 5:E 10:N");
        assert_eq!((instance.state, instance.error.as_deref()), (AlertState::NoData, None));
        assert!(instance.episode_open(), "the episode that fired at 0 is still open");
        // `> 100, recovery 90`: a 95 after the gap keeps an open episode breached.
        assert_eq!(rule().condition.breached(Some(95.0), None, 1, instance.episode_open()), Some(true));
        let (resolved, _) = run(timing(0, 0, 0, 0), own, own, "0:B 5:C");
        assert!(!resolved.episode_open());
    }
}
