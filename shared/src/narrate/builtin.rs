//! The built-in narrator: a deterministic summary written from the figures alone, with no
//! external calls. It states the headline figures and the period, names the biggest movers up
//! and down, and flags every drop beyond a threshold taken from the report's prompt addendum
//! ("Flag any offer with >15% week-over-week drop.") or [`DEFAULT_DROP_THRESHOLD`]. Every
//! number it writes is a figure printed through [`crate::render::format`], so it passes the
//! grounding check as written.

use async_trait::async_trait;
use serde_json::Value;

use super::{Figures, Movement, NarrateError, Narration, Narrator, grounding};
use crate::domain::ValueFormat;
use crate::render::format;

/// Drops larger than this (as a ratio) are flagged when the addendum names no threshold.
pub const DEFAULT_DROP_THRESHOLD: f64 = 0.20;

/// How many facts the summary's first sentence quotes.
const HEADLINE_FACTS: usize = 3;
/// How many flagged drops the takeaways list.
const MAX_FLAG_TAKEAWAYS: usize = 5;

#[derive(Debug, Clone, Copy, Default)]
pub struct BuiltinNarrator;

impl BuiltinNarrator {
    pub fn new() -> Self {
        BuiltinNarrator
    }

    /// The narration of `figures`, following the drop threshold of `prompt_addendum`.
    pub fn write(&self, figures: &Figures, prompt_addendum: Option<&str>) -> Narration {
        write(figures, prompt_addendum.and_then(drop_threshold))
    }
}

#[async_trait]
impl Narrator for BuiltinNarrator {
    fn name(&self) -> &'static str {
        "builtin"
    }

    async fn narrate(&self, figures: &Figures, prompt_addendum: Option<&str>) -> Result<Narration, NarrateError> {
        Ok(self.write(figures, prompt_addendum))
    }
}

/// The drop threshold (a ratio) an addendum asks for: the first percentage in a clause that
/// speaks of a drop (`>15% week-over-week drop`, `down more than 15 %`), or of flagging
/// without speaking of a rise (`flag anything beyond 15%`).
pub fn drop_threshold(addendum: &str) -> Option<f64> {
    grounding::written_numbers(addendum)
        .into_iter()
        .filter(|n| n.kind == grounding::Kind::Percent && n.magnitude > 0.0)
        .find(|n| {
            let clause = clause_around(addendum, n.start, n.end).to_lowercase();
            mentions(&clause, DROP_WORDS) || (!mentions(&clause, RISE_WORDS) && mentions(&clause, FLAG_WORDS))
        })
        .map(|n| n.magnitude * n.scale / 100.0)
}

const DROP_WORDS: &[&str] =
    &["drop", "declin", "decreas", "fall", "fell", "dip", "down", "lose", "loss", "shrink", "shrank", "slump", "plung"];
const RISE_WORDS: &[&str] = &["rise", "rose", "increas", "grow", "grew", "gain", "jump", "up", "climb", "surg"];
const FLAG_WORDS: &[&str] = &["flag", "alert", "warn", "highlight", "call"];

/// Whether a word of `text` is one of `stems` (short stems whole, longer ones as prefixes).
fn mentions(text: &str, stems: &[&str]) -> bool {
    text.split(|c: char| !c.is_alphabetic())
        .any(|word| stems.iter().any(|stem| word == *stem || (stem.len() >= 4 && word.starts_with(stem))))
}

/// The clause of `text` around bytes `start..end`: up to `;`, `!`, `?`, a line break or a
/// full stop followed by a space.
fn clause_around(text: &str, start: usize, end: usize) -> &str {
    let is_break = |i: usize, c: char| {
        matches!(c, ';' | '!' | '?' | '\n')
            || (c == '.' && text[i + 1..].chars().next().is_none_or(char::is_whitespace))
    };
    let from = text[..start].char_indices().rev().find(|&(i, c)| is_break(i, c)).map_or(0, |(i, c)| i + c.len_utf8());
    let to = text[end..].char_indices().find(|&(i, c)| is_break(end + i, c)).map_or(text.len(), |(i, _)| end + i);
    &text[from..to]
}

/// Flagged drops named in the summary; the rest are counted.
const MAX_FLAGS_IN_SUMMARY: usize = 3;

fn write(figures: &Figures, threshold_from_addendum: Option<f64>) -> Narration {
    let report = match figures.report.trim() {
        "" => "This report",
        name => name,
    };
    let period = figures.period.as_deref().map(|p| p.trim().trim_end_matches('.')).filter(|p| !p.is_empty());
    // A figure shown twice (a KPI tile and its table's total) is said once.
    let mut facts: Vec<&super::Fact> = Vec::new();
    for fact in figures.facts.iter().filter(|f| !f.display.trim().is_empty()) {
        let said =
            facts.iter().any(|f| f.label.trim().eq_ignore_ascii_case(fact.label.trim()) && f.display == fact.display);
        if !said {
            facts.push(fact);
        }
    }

    if facts.is_empty() && figures.movements.is_empty() {
        let summary = match period {
            Some(period) => format!("{report} shows no activity for {period}."),
            None => format!("{report} shows no activity in this period."),
        };
        return Narration { summary, takeaways: Vec::new() };
    }

    let mut summary = Vec::new();
    let mut takeaways = Vec::new();

    // What matters most first: the total's change, and the subject that moved it most.
    let lead = figures.overall.iter().find_map(|total| Some((total, total.change.filter(|c| c.is_finite())?)));
    let driver = lead.and_then(|(total, change)| driver_of(total, change, &figures.movements));
    if let Some((total, change)) = lead {
        let metric = capitalized(&total.metric);
        summary.push(match (shows(change), driver) {
            (false, _) => format!("{metric} held level against the previous period."),
            (true, driver) => {
                let (verb, size) = if change > 0.0 { ("rose", change) } else { ("fell", -change) };
                let mut sentence = format!("{metric} {verb} {} against the previous period", format::percent(size, 1));
                if let Some(m) = driver {
                    sentence.push_str(&format!(", driven most by {} ({})", m.subject, moved(m)));
                }
                sentence + "."
            }
        });
    }
    let is_driver = |m: &Movement| driver.is_some_and(|d| std::ptr::eq(d, m));

    if !facts.is_empty() {
        let list = facts
            .iter()
            .take(HEADLINE_FACTS)
            .map(|f| format!("{} {}", f.label.trim(), f.display.trim()))
            .collect::<Vec<_>>()
            .join("; ");
        summary.push(match period {
            Some(period) => format!("{report}, {period}: {list}."),
            None => format!("{report}: {list}."),
        });
    }

    // Movements whose change shows at one decimal.
    let changed: Vec<(&Movement, f64)> = figures
        .movements
        .iter()
        .filter_map(|m| m.change.filter(|c| c.is_finite() && shows(*c)).map(|c| (m, c)))
        .collect();
    let top_gain = changed.iter().filter(|(_, c)| *c > 0.0).max_by(|a, b| a.1.total_cmp(&b.1)).copied();
    let top_drop = changed.iter().filter(|(_, c)| *c < 0.0).min_by(|a, b| a.1.total_cmp(&b.1)).copied();
    let threshold = threshold_from_addendum.unwrap_or(DEFAULT_DROP_THRESHOLD);
    let mut flagged: Vec<(&Movement, f64)> = changed.iter().filter(|(_, c)| -c > threshold).copied().collect();
    flagged.sort_by(|a, b| a.1.total_cmp(&b.1));

    if let Some((m, c)) = top_gain.filter(|(m, _)| !is_driver(m)) {
        summary.push(format!(
            "The biggest gain was {} for {}: up {} to {} from {}.",
            m.metric,
            m.subject,
            format::percent(c, 1),
            amount(m.current, &m.format),
            amount(m.previous, &m.format)
        ));
    }
    let is_flagged = |m: &Movement| flagged.iter().any(|(f, _)| std::ptr::eq(*f, m));
    if let Some((m, c)) = top_drop.filter(|(m, _)| !is_driver(m) && !is_flagged(m)) {
        summary.push(format!(
            "The biggest drop was {} for {}: down {} to {} from {}.",
            m.metric,
            m.subject,
            format::percent(-c, 1),
            amount(m.current, &m.format),
            amount(m.previous, &m.format)
        ));
    }
    if !figures.movements.is_empty() && changed.is_empty() {
        summary.push("Nothing moved against the previous period.".to_string());
    }

    // The threshold is quoted only when the report's author set it: that number is theirs.
    let limit = threshold_from_addendum.map(|t| format::percent(t, if (t * 100.0).fract() == 0.0 { 0 } else { 1 }));
    // A driver the lead named is not listed again.
    let driver_flagged = flagged.iter().any(|(m, _)| is_driver(m));
    let others: Vec<(&Movement, f64)> = flagged.iter().filter(|(m, _)| !is_driver(m)).copied().collect();
    if !others.is_empty() {
        let mut items = others
            .iter()
            .take(MAX_FLAGS_IN_SUMMARY)
            .map(|(m, c)| format!("{} for {} ({})", m.metric, m.subject, format::signed_percent(*c, 1)))
            .collect::<Vec<_>>()
            .join("; ");
        // Say exactly where the others are: the takeaways list the next few, the tables all.
        let more = others.len().saturating_sub(MAX_FLAGS_IN_SUMMARY);
        let in_takeaways = |m: &Movement| flagged.iter().take(MAX_FLAG_TAKEAWAYS).any(|(f, _)| std::ptr::eq(*f, m));
        let listed = others.iter().skip(MAX_FLAGS_IN_SUMMARY).filter(|(m, _)| in_takeaways(m)).count();
        match (more, listed) {
            (0, _) => {}
            (more, 0) => items.push_str(&format!(", and {more} more in the tables")),
            (more, listed) if listed == more => items.push_str(&format!(", and {more} more in the takeaways")),
            (more, listed) => {
                items.push_str(&format!(", and {more} more ({listed} in the takeaways, all in the tables)"))
            }
        }
        let also = if driver_flagged { "Also flagged" } else { "Flagged" };
        summary.push(match &limit {
            Some(limit) => format!("{also} for a drop of more than {limit}: {items}."),
            None => format!("{also} for a drop beyond the alert threshold: {items}."),
        });
    } else if driver_flagged {
        summary.push(match &limit {
            Some(limit) => format!("It is the only drop of more than {limit}."),
            None => "It is the only drop beyond the alert threshold.".to_string(),
        });
    } else if !changed.is_empty() {
        summary.push(match &limit {
            Some(limit) => format!("No drop exceeded {limit}."),
            None => "No drop exceeded the alert threshold.".to_string(),
        });
    }

    for (m, c) in flagged.iter().take(MAX_FLAG_TAKEAWAYS) {
        takeaways.push(format!(
            "Flag: {} for {} down {} to {} (from {}).",
            m.metric,
            m.subject,
            format::percent(-c, 1),
            amount(m.current, &m.format),
            amount(m.previous, &m.format)
        ));
    }
    if let Some((m, c)) = top_drop.filter(|(m, _)| !is_flagged(m)) {
        takeaways.push(format!(
            "Biggest drop: {} for {}, down {} to {}.",
            m.metric,
            m.subject,
            format::percent(-c, 1),
            amount(m.current, &m.format)
        ));
    }
    if let Some((m, c)) = top_gain {
        takeaways.push(format!(
            "Biggest gain: {} for {}, up {} to {}.",
            m.metric,
            m.subject,
            format::percent(c, 1),
            amount(m.current, &m.format)
        ));
    }
    if let Some(best) = best_performer(&figures.movements) {
        takeaways.push(format!(
            "Best performer: {}, with {} {}.",
            best.subject,
            amount(best.current, &best.format),
            best.metric
        ));
    }
    if figures.movements.is_empty() {
        takeaways
            .extend(facts.iter().take(HEADLINE_FACTS).map(|f| format!("{}: {}.", f.label.trim(), f.display.trim())));
    }

    Narration { summary: summary.join(" "), takeaways }
}

/// The subject whose move contributed most to a total's `change` (`total.subject` names what
/// the subjects are: `offer`): the largest difference in the same direction.
fn driver_of<'a>(total: &Movement, change: f64, movements: &'a [Movement]) -> Option<&'a Movement> {
    let prefix = format!("{} ", total.subject);
    movements
        .iter()
        .filter(|m| m.metric == total.metric && m.subject.starts_with(&prefix))
        .map(|m| (m, m.current - m.previous))
        .filter(|(_, delta)| delta.is_finite() && *delta != 0.0 && (*delta > 0.0) == (change > 0.0))
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        .map(|(m, _)| m)
}

/// How a subject moved: `down 88.9%, to 4 from 36`, or `up to 12 from 0` when it had none.
fn moved(m: &Movement) -> String {
    let direction = if m.current > m.previous { "up" } else { "down" };
    let (now, before) = (amount(m.current, &m.format), amount(m.previous, &m.format));
    match m.change.filter(|c| c.is_finite()) {
        Some(c) => format!("{direction} {}, to {now} from {before}", format::percent(c.abs(), 1)),
        None => format!("{direction} to {now} from {before}"),
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.trim().chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// The subject with the highest current value of the first movement's metric, when at least
/// two subjects share it.
fn best_performer(movements: &[Movement]) -> Option<&Movement> {
    let metric = &movements.first()?.metric;
    let peers: Vec<&Movement> = movements.iter().filter(|m| &m.metric == metric && m.current.is_finite()).collect();
    if peers.len() < 2 {
        return None;
    }
    peers.into_iter().max_by(|a, b| a.current.total_cmp(&b.current))
}

/// Whether a change reads as non-zero at one decimal.
fn shows(change: f64) -> bool {
    format::percent(change.abs(), 1).bytes().any(|b| matches!(b, b'1'..=b'9'))
}

/// A movement's value as the document prints it; unformatted numbers are grouped, with two
/// decimals when they have a fraction.
pub(crate) fn amount(value: f64, value_format: &ValueFormat) -> String {
    match value_format {
        ValueFormat::Number { .. } | ValueFormat::Currency { .. } | ValueFormat::Percent { .. }
            if value.is_finite() =>
        {
            format::display(&Value::from(value), value_format)
        }
        _ => format::number(value, if value.fract() == 0.0 { 0 } else { 2 }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::narrate::Fact;

    fn movement(subject: &str, current: f64, previous: f64) -> Movement {
        Movement {
            subject: subject.into(),
            metric: "completions".into(),
            current,
            previous,
            change: format::change_ratio(current, previous),
            format: ValueFormat::Number { decimals: 0 },
        }
    }

    fn figures() -> Figures {
        Figures {
            report: "Weekly digest".into(),
            period: Some("7 days to 21 Nov 2026".into()),
            facts: vec![
                Fact {
                    label: "Completions".into(),
                    value: 12_345.0,
                    display: "12,345".into(),
                    format: ValueFormat::Number { decimals: 0 },
                },
                Fact {
                    label: "Revenue".into(),
                    value: 1234.5,
                    display: "$1,234.50".into(),
                    format: ValueFormat::Currency { code: "USD".into() },
                },
            ],
            movements: vec![
                movement("offer fafdcd66 (discount)", 82.0, 100.0),
                movement("offer 2b8e (bogo)", 900.0, 1000.0),
                movement("channel email", 1500.0, 1200.0),
            ],
            other_numbers: vec![],
            overall: vec![],
        }
    }

    #[test]
    fn the_summary_states_the_headline_figures_and_the_period() {
        let narration = BuiltinNarrator.write(&figures(), None);
        assert!(
            narration
                .summary
                .starts_with("Weekly digest, 7 days to 21 Nov 2026: Completions 12,345; Revenue $1,234.50."),
            "{}",
            narration.summary
        );
    }

    #[test]
    fn the_biggest_movers_up_and_down_are_named() {
        let narration = BuiltinNarrator.write(&figures(), None);
        assert!(
            narration
                .summary
                .contains("The biggest gain was completions for channel email: up 25.0% to 1,500 from 1,200.")
        );
        assert!(
            narration
                .summary
                .contains("The biggest drop was completions for offer fafdcd66 (discount): down 18.0% to 82 from 100.")
        );
        assert!(
            narration
                .takeaways
                .contains(&"Biggest gain: completions for channel email, up 25.0% to 1,500.".to_string())
        );
        assert!(narration.takeaways.contains(&"Best performer: channel email, with 1,500 completions.".to_string()));
    }

    #[test]
    fn drops_beyond_the_addendum_threshold_are_flagged() {
        let narration = BuiltinNarrator.write(&figures(), Some("Flag any offer with >15% week-over-week drop."));
        assert!(
            narration
                .summary
                .contains("Flagged for a drop of more than 15%: completions for offer fafdcd66 (discount) (-18.0%)."),
            "{}",
            narration.summary
        );
        assert_eq!(
            narration.takeaways[0],
            "Flag: completions for offer fafdcd66 (discount) down 18.0% to 82 (from 100)."
        );
        assert!(!narration.takeaways.iter().any(|t| t.starts_with("Biggest drop")), "a flagged drop is listed once");
    }

    #[test]
    fn without_a_threshold_in_the_addendum_drops_of_more_than_twenty_percent_are_flagged() {
        let narration = BuiltinNarrator.write(&figures(), None);
        assert!(narration.summary.contains("No drop exceeded the alert threshold."), "{}", narration.summary);
        let mut steep = figures();
        steep.movements.push(movement("offer 77 (free shipping)", 50.0, 100.0));
        let narration = BuiltinNarrator.write(&steep, Some("Keep it short."));
        assert!(narration.summary.contains("Flagged for a drop beyond the alert threshold: completions for offer 77"));
        assert!(!narration.summary.contains("fafdcd66 (discount) (-18.0%)"));
    }

    #[test]
    fn thresholds_are_read_from_the_ways_people_write_them() {
        assert_eq!(drop_threshold("Flag any offer with >15% week-over-week drop."), Some(0.15));
        assert_eq!(drop_threshold("Call out channels down more than 12.5 % on the week."), Some(0.125));
        assert_eq!(drop_threshold("A 10% drop is worth a mention."), Some(0.10));
        assert_eq!(drop_threshold("Flag anything beyond 30 percent."), Some(0.30));
        assert_eq!(drop_threshold("Celebrate any offer up more than 50%; flag drops over 5%."), Some(0.05));
        assert_eq!(drop_threshold("Mention growth above 40%."), None);
        assert_eq!(drop_threshold("Keep it to 3 bullets."), None);
    }

    #[test]
    fn empty_figures_say_there_was_no_activity() {
        let empty = Figures {
            report: "Weekly digest".into(),
            period: Some("the 7 days to 21 Nov 2026".into()),
            ..Default::default()
        };
        let narration = BuiltinNarrator.write(&empty, None);
        assert_eq!(narration.summary, "Weekly digest shows no activity for the 7 days to 21 Nov 2026.");
        assert!(narration.takeaways.is_empty());
        let nameless = BuiltinNarrator.write(&Figures::default(), None);
        assert_eq!(nameless.summary, "This report shows no activity in this period.");
    }

    #[test]
    fn facts_alone_become_the_takeaways() {
        let facts_only = Figures { movements: vec![], ..figures() };
        let narration = BuiltinNarrator.write(&facts_only, None);
        assert_eq!(narration.takeaways, vec!["Completions: 12,345.", "Revenue: $1,234.50."]);
        assert!(!narration.summary.contains("alert threshold"));
    }

    #[test]
    fn everything_it_writes_passes_the_grounding_check() {
        let mut figures = figures();
        figures.movements.push(movement("offer 77 (free shipping)", 50.0, 100.0));
        figures.movements.push(movement("channel sms", 3.0, 0.0));
        for addendum in [None, Some("Flag any offer with >15% week-over-week drop.")] {
            let narration = BuiltinNarrator.write(&figures, addendum);
            let mut allowed = figures.clone();
            allowed.other_numbers.extend(addendum.map(grounding::numbers_in).unwrap_or_default());
            let (grounded, dropped) = grounding::ground(narration.clone(), &allowed);
            assert!(dropped.is_empty(), "{dropped:?}");
            assert_eq!(grounded, narration);
        }
    }

    #[test]
    fn a_figure_shown_twice_is_said_once() {
        let mut figures = figures();
        figures.facts.insert(1, figures.facts[0].clone());
        let summary = BuiltinNarrator::new().write(&figures, None).summary;
        assert_eq!(summary.matches("Completions 12,345").count(), 1, "{summary}");
    }

    fn with_total(mut figures: Figures) -> Figures {
        let metric = |m: &&Movement| m.subject.starts_with("offer ");
        let (now, before) =
            figures.movements.iter().filter(metric).fold((0.0, 0.0), |(n, b), m| (n + m.current, b + m.previous));
        figures.overall = vec![Movement { subject: "offer".into(), ..movement("", now, before) }];
        figures
    }

    #[test]
    fn the_summary_leads_with_the_total_change_and_the_subject_that_drove_it() {
        let mut figures = figures();
        figures.movements.push(movement("offer 77 (free shipping)", 50.0, 100.0));
        let figures = with_total(figures);
        let narration = BuiltinNarrator.write(&figures, None);
        let summary = &narration.summary;
        // Offers: 1,032 from 1,200 (-14.0%); the 2b8e offer lost the most (100), though 77 fell further.
        assert!(
            summary.starts_with(
                "Completions fell 14.0% against the previous period, driven most by offer 2b8e (bogo) \
                 (down 10.0%, to 900 from 1,000). Weekly digest, 7 days to 21 Nov 2026: Completions 12,345;"
            ),
            "{summary}"
        );
        // The biggest drop is flagged, so it is said once, among the flags.
        assert!(!summary.contains("The biggest drop"), "{summary}");
        assert!(
            summary.ends_with(
                "Flagged for a drop beyond the alert threshold: completions for offer 77 (free shipping) (-50.0%)."
            ),
            "{summary}"
        );
        assert_eq!(summary.matches("900").count(), 1, "the driver is not described twice: {summary}");
        let (grounded, dropped) = grounding::ground(narration.clone(), &figures);
        assert!(dropped.is_empty(), "{dropped:?}");
        assert_eq!(grounded, narration);
    }

    #[test]
    fn a_flagged_driver_is_named_once_and_the_other_flags_are_also_flagged() {
        let mut figures = figures();
        figures.movements = vec![movement("offer a", 10.0, 100.0), movement("offer b", 45.0, 50.0)];
        let alone = BuiltinNarrator.write(&with_total(figures.clone()), Some("Flag drops over 15%."));
        assert!(alone.summary.starts_with("Completions fell 63.3% against the previous period, driven most by offer a (down 90.0%, to 10 from 100)."), "{}", alone.summary);
        assert!(alone.summary.contains("It is the only drop of more than 15%."), "{}", alone.summary);
        assert_eq!(alone.summary.matches("offer a").count(), 1, "{}", alone.summary);

        figures.movements.push(movement("offer c", 1.0, 20.0));
        let more = BuiltinNarrator.write(&with_total(figures), Some("Flag drops over 15%."));
        assert!(
            more.summary.contains("Also flagged for a drop of more than 15%: completions for offer c (-95.0%)."),
            "{}",
            more.summary
        );
        assert!(!more.summary.contains("offer b"), "b fell 10%, less than the threshold: {}", more.summary);
    }

    #[test]
    fn an_unchanged_total_is_said_to_hold_level() {
        let mut figures = figures();
        figures.movements = vec![movement("offer a", 110.0, 100.0), movement("offer b", 90.0, 100.0)];
        let narration = BuiltinNarrator.write(&with_total(figures), None);
        assert!(
            narration.summary.starts_with("Completions held level against the previous period. Weekly digest"),
            "{}",
            narration.summary
        );
    }

    #[test]
    fn the_count_of_further_flags_says_where_they_are_listed() {
        let mut figures = figures();
        figures.movements = (0..9).map(|i| movement(&format!("offer o{i}"), 10.0, 100.0 + f64::from(i))).collect();
        let narration = BuiltinNarrator::new().write(&figures, Some("Flag drops over 15%."));
        assert!(
            narration.summary.contains("and 6 more (2 in the takeaways, all in the tables)"),
            "{}",
            narration.summary
        );
        let flags = narration.takeaways.iter().filter(|t| t.starts_with("Flag:")).count();
        assert_eq!(flags, MAX_FLAG_TAKEAWAYS, "the takeaways hold the three of the summary and the two it counts");
    }

    #[test]
    fn a_flagged_driver_named_in_the_lead_is_not_counted_among_the_further_flags() {
        let mut figures = figures();
        figures.movements = (0..9).map(|i| movement(&format!("offer o{i}"), 10.0, 100.0 + f64::from(i))).collect();
        let narration = BuiltinNarrator::new().write(&with_total(figures), Some("Flag drops over 15%."));
        // Nine flags: the driver in the lead, three more listed, five left; the takeaways hold the
        // driver, the three and one of the five.
        assert!(narration.summary.contains("driven most by offer o8"), "{}", narration.summary);
        assert!(
            narration.summary.contains("and 5 more (1 in the takeaways, all in the tables)"),
            "{}",
            narration.summary
        );
    }
}
