//! Narration: an executive summary and key takeaways written from a report's computed
//! figures. The [`Narrator`] port has a built-in, deterministic adapter and a Bedrock
//! (Converse API) adapter; whatever a narrator writes passes the grounding check, which drops
//! every sentence quoting a number the figures do not hold. A narrator that fails leaves the
//! narrative empty with the reason; the run still renders.

use async_trait::async_trait;
use serde::Serialize;

use crate::domain::ValueFormat;

/// What a narrator may talk about: the document's headline figures and movers, plus every
/// other number it shows (which a narrative may quote but is not asked to).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    /// The report's name.
    pub report: String,
    /// What the figures cover, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    /// Headline figures: KPI tiles, table totals, source totals.
    pub facts: Vec<Fact>,
    /// Current-versus-previous figures per subject (an offer, a channel).
    pub movements: Vec<Movement>,
    /// Every other number the document shows: table cells, chart points, row counts.
    #[serde(skip)]
    pub other_numbers: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fact {
    pub label: String,
    pub value: f64,
    /// The value as the document prints it.
    pub display: String,
    #[serde(skip)]
    pub format: ValueFormat,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Movement {
    /// Who moved (`offer fafdcd66 (discount)`, `channel email`).
    pub subject: String,
    /// What moved (`completions`).
    pub metric: String,
    pub current: f64,
    pub previous: f64,
    /// `(current - previous) / |previous|`; none when previous is zero.
    pub change: Option<f64>,
    #[serde(skip)]
    pub format: ValueFormat,
}

/// What a narrator writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Narration {
    pub summary: String,
    pub takeaways: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum NarrateError {
    /// The model could not be reached or refused the request.
    #[error("narrator unavailable: {0}")]
    Unavailable(String),
    /// The model answered something that is not the structure asked for.
    #[error("narrator answered in an unexpected shape: {0}")]
    Malformed(String),
}

#[async_trait]
pub trait Narrator: Send + Sync {
    /// Short name recorded on the run (`builtin`, `bedrock`).
    fn name(&self) -> &'static str;
    /// Writes a summary and takeaways from `figures`, following the report's addendum.
    async fn narrate(&self, figures: &Figures, prompt_addendum: Option<&str>) -> Result<Narration, NarrateError>;
}
