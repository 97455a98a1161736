//! Interactions: the workspace's event history (offers sent, viewed, completed; transactions)
//! behind the built-in "Offer performance" and "Channel effectiveness" sources.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{FieldError, InteractionId, ValidationErrors, WorkspaceId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InteractionKind {
    Received,
    Viewed,
    Completed,
    Transaction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferKind {
    Bogo,
    Discount,
    Informational,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Mobile,
    Social,
    Web,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    pub id: InteractionId,
    pub workspace_id: WorkspaceId,
    pub customer_id: String,
    #[serde(rename = "type")]
    pub kind: InteractionKind,
    pub offer_id: Option<String>,
    pub offer_kind: Option<OfferKind>,
    pub channel: Option<Channel>,
    /// Money spent, for transactions and completed offers' rewards.
    pub amount: Option<f64>,
    pub occurred_at: DateTime<Utc>,
    /// When Herald received it; exports checkpoint on this.
    pub created_at: DateTime<Utc>,
}

impl Interaction {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = Vec::new();
        if self.customer_id.trim().is_empty() || self.customer_id.len() > 128 {
            errors.push(FieldError::new("customer_id", "must be 1 to 128 characters"));
        }
        if self.amount.is_some_and(|a| !a.is_finite() || a < 0.0) {
            errors.push(FieldError::new("amount", "must be a non-negative number"));
        }
        let offer_event =
            matches!(self.kind, InteractionKind::Received | InteractionKind::Viewed | InteractionKind::Completed);
        if offer_event && self.offer_id.is_none() {
            errors.push(FieldError::new("offer_id", "is required for offer events"));
        }
        ValidationErrors::into_result(errors)
    }
}
