//! Narration: an executive summary and key takeaways written from a report's computed
//! figures. The [`Narrator`] port has a built-in, deterministic adapter and a Bedrock
//! (Converse API) adapter; whatever a narrator writes passes the grounding check, which drops
//! every sentence quoting a number the figures do not hold. A narrator that fails leaves the
//! narrative empty with the reason; the run still renders.

pub mod anthropic;
#[cfg(feature = "aws")]
pub mod bedrock;
pub mod builtin;
pub mod choice;
pub mod grounding;
pub mod http;
pub mod openai;
pub mod prompt;
#[cfg(test)]
mod wire_tests;

use std::panic::AssertUnwindSafe;

use async_trait::async_trait;
use futures::FutureExt;
use serde::Serialize;

#[cfg(feature = "aws")]
pub use bedrock::BedrockNarrator;
pub use builtin::BuiltinNarrator;
pub use choice::Narrators;
pub use grounding::ground;

use crate::domain::{NarrativeOutput, ValueFormat};

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
    /// Each compared metric's total against the previous period (all offers' completions); its
    /// `subject` says what the movements it sums are of (`offer`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overall: Vec<Movement>,
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

/// Runs `narrator` and keeps what the grounding check lets through. Numbers the report's
/// author wrote in the addendum (a threshold) count as figures: the narrative may quote them
/// back. Never fails: a narrator that errs or panics leaves the summary and takeaways empty
/// with the reason in `error`, and the run renders without them.
pub async fn narrate_grounded(
    narrator: &dyn Narrator,
    figures: &Figures,
    prompt_addendum: Option<&str>,
) -> NarrativeOutput {
    let name = narrator.name().to_string();
    let failed = |error: String| {
        tracing::warn!(narrator = %name, %error, "narration failed; the run renders without it");
        NarrativeOutput {
            summary: String::new(),
            takeaways: Vec::new(),
            narrator: name.clone(),
            dropped: Vec::new(),
            error: Some(error),
            provider: None,
            fallback_reason: None,
        }
    };
    let narration = match AssertUnwindSafe(narrator.narrate(figures, prompt_addendum)).catch_unwind().await {
        Ok(Ok(narration)) => narration,
        Ok(Err(err)) => return failed(err.to_string()),
        Err(_) => return failed("the narrator stopped unexpectedly".to_string()),
    };
    let checked = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let mut allowed = figures.clone();
        allowed.other_numbers.extend(prompt_addendum.map(grounding::numbers_in).unwrap_or_default());
        ground(narration, &allowed)
    }));
    match checked {
        Ok((narration, dropped)) => {
            if !dropped.is_empty() {
                let count = dropped.len();
                tracing::info!(narrator = %name, dropped = count, "dropped sentences quoting numbers no figure holds");
            }
            NarrativeOutput {
                summary: narration.summary,
                takeaways: narration.takeaways,
                narrator: name,
                dropped,
                error: None,
                provider: None,
                fallback_reason: None,
            }
        }
        Err(_) => failed("the grounding check stopped unexpectedly".to_string()),
    }
}

/// A narrator that is not called this time (its workspace's daily cap is reached): it fails
/// with the reason, so the built-in narrator writes and the run records why.
pub struct Refused {
    pub name: &'static str,
    pub reason: String,
}

#[async_trait]
impl Narrator for Refused {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn narrate(&self, _: &Figures, _: Option<&str>) -> Result<Narration, NarrateError> {
        Err(NarrateError::Unavailable(self.reason.clone()))
    }
}

/// A small weekly digest's figures, for testing a narrator without any report's data.
pub fn sample_figures() -> Figures {
    let number = ValueFormat::Number { decimals: 0 };
    let movement = |subject: &str, current: f64, previous: f64| Movement {
        subject: subject.into(),
        metric: "completions".into(),
        current,
        previous,
        change: Some((current - previous) / previous),
        format: number.clone(),
    };
    Figures {
        report: "Weekly digest (sample)".into(),
        period: Some("the last 7 days, against the 7 days before".into()),
        facts: vec![
            Fact { label: "Completions".into(), value: 1240.0, display: "1,240".into(), format: number.clone() },
            Fact { label: "Offers received".into(), value: 8650.0, display: "8,650".into(), format: number.clone() },
        ],
        movements: vec![
            movement("BOGO $10 · 7 days · web, email", 310.0, 405.0),
            movement("Discount $5 · 10 days · all channels", 520.0, 430.0),
        ],
        other_numbers: vec![],
        overall: vec![],
    }
}

/// Runs the workspace's `narrator`; when it fails (unreachable, refused, cut off, malformed,
/// or everything it wrote was dropped as ungrounded) the built-in `fallback` writes the
/// narrative instead, and the output records which narrator failed and why. A report is never
/// blocked by a model.
pub async fn narrate_or_fall_back(
    narrator: &dyn Narrator,
    fallback: &dyn Narrator,
    figures: &Figures,
    prompt_addendum: Option<&str>,
) -> NarrativeOutput {
    let chosen = narrate_grounded(narrator, figures, prompt_addendum).await;
    let reason = match (&chosen.error, chosen.summary.trim().is_empty()) {
        (Some(error), _) => error.clone(),
        (None, true) => "every sentence of the summary quoted numbers the figures do not hold".to_string(),
        (None, false) => return chosen,
    };
    if narrator.name() == fallback.name() {
        return chosen;
    }
    let mut written = narrate_grounded(fallback, figures, prompt_addendum).await;
    written.provider = Some(narrator.name().to_string());
    written.fallback_reason = Some(reason);
    written.dropped.splice(0..0, chosen.dropped);
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Failing;

    #[async_trait]
    impl Narrator for Failing {
        fn name(&self) -> &'static str {
            "failing"
        }

        async fn narrate(&self, _: &Figures, _: Option<&str>) -> Result<Narration, NarrateError> {
            Err(NarrateError::Unavailable("no credentials".into()))
        }
    }

    struct Panicking;

    #[async_trait]
    impl Narrator for Panicking {
        fn name(&self) -> &'static str {
            "panicking"
        }

        async fn narrate(&self, _: &Figures, _: Option<&str>) -> Result<Narration, NarrateError> {
            panic!("the model answered something nobody expected")
        }
    }

    fn figures() -> Figures {
        Figures {
            report: "Weekly digest".into(),
            period: Some("7 days to 21 Nov 2026".into()),
            facts: vec![Fact {
                label: "Completions".into(),
                value: 1234.0,
                display: "1,234".into(),
                format: ValueFormat::Number { decimals: 0 },
            }],
            movements: vec![Movement {
                subject: "offer fafdcd66 (discount)".into(),
                metric: "completions".into(),
                current: 80.0,
                previous: 100.0,
                change: Some(-0.2),
                format: ValueFormat::Number { decimals: 0 },
            }],
            other_numbers: vec![],
            overall: vec![],
        }
    }

    #[tokio::test]
    async fn the_builtin_narration_comes_through_grounding_whole() {
        let addendum = "Flag any offer with >15% week-over-week drop.";
        let narrative = narrate_grounded(&BuiltinNarrator, &figures(), Some(addendum)).await;
        assert_eq!(narrative.narrator, "builtin");
        assert_eq!(narrative.error, None);
        assert!(narrative.dropped.is_empty(), "{:?}", narrative.dropped);
        assert!(narrative.summary.contains("Flagged for a drop of more than 15%"), "{}", narrative.summary);
        assert_eq!(
            narrative.takeaways[0],
            "Flag: completions for offer fafdcd66 (discount) down 20.0% to 80 (from 100)."
        );
    }

    #[tokio::test]
    async fn a_failing_narrator_leaves_an_empty_narrative_with_the_reason() {
        let narrative = narrate_grounded(&Failing, &figures(), None).await;
        assert_eq!(narrative.summary, "");
        assert!(narrative.takeaways.is_empty());
        assert_eq!(narrative.narrator, "failing");
        assert_eq!(narrative.error.as_deref(), Some("narrator unavailable: no credentials"));
    }

    #[tokio::test]
    async fn a_panicking_narrator_is_recorded_not_propagated() {
        let narrative = narrate_grounded(&Panicking, &figures(), None).await;
        assert_eq!(narrative.summary, "");
        assert_eq!(narrative.error.as_deref(), Some("the narrator stopped unexpectedly"));
    }

    #[tokio::test]
    async fn numbers_from_the_addendum_may_be_quoted_back_but_others_may_not() {
        struct Quoting;

        #[async_trait]
        impl Narrator for Quoting {
            fn name(&self) -> &'static str {
                "quoting"
            }

            async fn narrate(&self, _: &Figures, _: Option<&str>) -> Result<Narration, NarrateError> {
                Ok(Narration {
                    summary: "The discount offer fell 20.0%, past the 15% threshold. It will recover 40%.".into(),
                    takeaways: vec![],
                })
            }
        }
        let narrative = narrate_grounded(&Quoting, &figures(), Some("Flag drops over 15%.")).await;
        assert_eq!(narrative.summary, "The discount offer fell 20.0%, past the 15% threshold.");
        assert_eq!(narrative.dropped[0].ungrounded, vec!["40%"]);
    }
}
