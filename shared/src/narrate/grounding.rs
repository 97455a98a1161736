//! The grounding check: every number a narrative quotes must be traceable to the figures it was
//! written from. The summary is split into sentences and each takeaway is taken whole; a
//! sentence or takeaway that quotes a number no figure accounts for is dropped and recorded
//! with the offending numbers as written.
//!
//! # What counts as a number
//!
//! A run of digits with its sign, thousands separators and decimals, with what qualifies it:
//! a currency symbol or code (`$1,234.50`, `CHF 3.20`, `1,234.50 USD`), a scale suffix (`1.2k`,
//! `$3.4M`, `2 million`), a percent sign or word (`15.3%`, `15 %`, `15 percent`, `2.1 pp`) or a
//! multiplier (`2.5x`).
//!
//! Not figures, and so never checked:
//! - digits glued to letters (`fafdcd66`, `Q3`, `B2B`, `5G`, `24h`): identifiers and units;
//! - ordinals (`1st`, `22nd`);
//! - dates and times: `2026-11-22`, `11/22/2026`, `07:00`, a day (1–31) or a year (1900–2100)
//!   next to a month name (`22 Nov 2026`, `Nov 22, 2026`), a year after a quarter (`Q3 2026`);
//! - counts of the things the figures list: a bare whole number from 1 up to the number of
//!   facts or of movements (whichever is larger), followed by a word (`3 offers dropped`). A
//!   narrative may count what it was given; any larger count must be a figure.
//!
//! # What a number may match
//!
//! A number matches a figure when the figure, rounded to the precision written, reads the same:
//! `1,235` matches `1234.6`, `15.3%` matches `15.34`, `$1.2k` matches `1,234`, `1.2M` matches
//! `1,204,000` (half a unit of the last written digit, after the scale suffix). The figures are
//! the facts' values; each movement's current and previous values, their difference and the
//! change ratio; every other number the document shows; and any number written in the report's
//! texts (its name, period, labels, subjects, metrics), which the narrative may repeat.
//! Percentages match any of those as written or times 100 (ratios are stored as ratios:
//! `15.3%` is `0.153` or `15.3`). Multipliers also match current ÷ previous. An unsigned number
//! matches the figure's magnitude (`fell 15.3%` for a change of `-0.153`); an explicit sign must
//! agree with the figure's.

use crate::domain::DroppedSentence;

use super::{Figures, Narration};

/// Keeps the sentences and takeaways of `narration` whose numbers all come from `figures`;
/// returns what is left and what was dropped. A narration with nothing to drop comes back
/// unchanged.
pub fn ground(narration: Narration, figures: &Figures) -> (Narration, Vec<DroppedSentence>) {
    let pool = Pool::new(figures);
    let context = Context { max_count: figures.facts.len().max(figures.movements.len()) };
    let mut dropped = Vec::new();

    let summary = ground_summary(&narration.summary, &pool, &context, &mut dropped);
    let mut takeaways = Vec::with_capacity(narration.takeaways.len());
    for takeaway in narration.takeaways {
        let ungrounded = ungrounded(&takeaway, &pool, &context);
        if ungrounded.is_empty() {
            takeaways.push(takeaway);
        } else {
            dropped.push(DroppedSentence { sentence: takeaway.trim().to_string(), ungrounded });
        }
    }
    (Narration { summary, takeaways }, dropped)
}

/// Every number written in `text` (dates, ordinals and identifiers left out), signed and
/// scaled, percentages as written (`15%` → `15`). Numbers in a report author's instructions
/// (a threshold) may be quoted back.
pub(crate) fn numbers_in(text: &str) -> Vec<f64> {
    written_numbers(text).into_iter().map(|n| n.signed_value()).collect()
}

/// A number as written, with where it sits in the text (byte offsets).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Written {
    /// The number with its sign, currency, suffix and percent sign, as written.
    pub text: String,
    /// The digits' value, unsigned and unscaled (`$1.2k` → `1.2`).
    pub magnitude: f64,
    /// Decimals written.
    pub decimals: u32,
    /// `1e3` for `k`, `1e6` for `M`…
    pub scale: f64,
    pub sign: Sign,
    pub kind: Kind,
    /// Written as plain digits: no sign, separators, decimals, currency, suffix or unit.
    pub bare_integer: bool,
    /// Followed by a space and a word (`3 offers`).
    pub before_word: bool,
    pub start: usize,
    pub end: usize,
}

impl Written {
    pub fn signed_value(&self) -> f64 {
        let value = self.magnitude * self.scale;
        if self.sign == Sign::Minus { -value } else { value }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sign {
    None,
    Plus,
    Minus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A quantity or an amount of money.
    Level,
    Percent,
    /// `2.5x`.
    Multiple,
}

struct Context {
    max_count: usize,
}

/// The values a written number may stand for.
struct Pool {
    levels: Vec<f64>,
    multiples: Vec<f64>,
}

impl Pool {
    fn new(figures: &Figures) -> Pool {
        let mut levels: Vec<f64> = Vec::new();
        let mut multiples = Vec::new();
        for fact in &figures.facts {
            levels.push(fact.value);
            levels.extend(numbers_in(&fact.label));
            levels.extend(numbers_in(&fact.display));
        }
        for movement in figures.movements.iter().chain(&figures.overall) {
            levels.extend([movement.current, movement.previous, movement.current - movement.previous]);
            levels.extend(movement.change);
            levels.extend(numbers_in(&movement.subject));
            levels.extend(numbers_in(&movement.metric));
            if movement.previous != 0.0 {
                multiples.push(movement.current / movement.previous);
            }
        }
        levels.extend(figures.other_numbers.iter().copied());
        levels.extend(numbers_in(&figures.report));
        if let Some(period) = &figures.period {
            levels.extend(numbers_in(period));
        }
        levels.retain(|v| v.is_finite());
        multiples.retain(|v: &f64| v.is_finite());
        Pool { levels, multiples }
    }

    fn accounts_for(&self, number: &Written) -> bool {
        let fits = |candidate: f64| matches_at_written_precision(number, candidate);
        match number.kind {
            Kind::Level => self.levels.iter().any(|&v| fits(v)),
            Kind::Percent => self.levels.iter().any(|&v| fits(v) || fits(v * 100.0)),
            Kind::Multiple => self.multiples.iter().chain(&self.levels).any(|&v| fits(v)),
        }
    }
}

/// Whether `candidate`, rounded to what `number` shows, reads as `number`.
fn matches_at_written_precision(number: &Written, candidate: f64) -> bool {
    match number.sign {
        Sign::Minus if candidate > 0.0 => return false,
        Sign::Plus if candidate < 0.0 => return false,
        _ => {}
    }
    let scaled = candidate.abs() / number.scale;
    let half_unit = 0.5 * 10f64.powi(-(number.decimals.min(12) as i32));
    (scaled - number.magnitude).abs() <= half_unit + 1e-9 * number.magnitude.max(1.0)
}

/// The numbers in `text` that no figure accounts for, as written.
fn ungrounded(text: &str, pool: &Pool, context: &Context) -> Vec<String> {
    written_numbers(text)
        .into_iter()
        .filter(|n| !is_count(n, context) && !pool.accounts_for(n))
        .map(|n| n.text)
        .collect()
}

fn is_count(number: &Written, context: &Context) -> bool {
    number.bare_integer && number.before_word && number.magnitude >= 1.0 && number.magnitude <= context.max_count as f64
}

fn ground_summary(summary: &str, pool: &Pool, context: &Context, dropped: &mut Vec<DroppedSentence>) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut changed = false;
    for line in summary.lines() {
        let sentences = sentences(line);
        if sentences.is_empty() {
            lines.push(String::new());
            continue;
        }
        let mut kept = Vec::new();
        for sentence in sentences {
            let ungrounded = ungrounded(sentence, pool, context);
            if ungrounded.is_empty() {
                kept.push(sentence);
            } else {
                changed = true;
                dropped.push(DroppedSentence { sentence: sentence.to_string(), ungrounded });
            }
        }
        if !kept.is_empty() {
            lines.push(kept.join(" "));
        }
    }
    if !changed {
        return summary.to_string();
    }
    // Paragraphs stay apart; the blank lines a dropped paragraph leaves collapse into one.
    let mut out = String::with_capacity(summary.len());
    let mut blank = false;
    for line in lines {
        if line.is_empty() {
            blank = !out.is_empty();
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank { "\n\n" } else { "\n" });
        }
        blank = false;
        out.push_str(&line);
    }
    out
}

const ABBREVIATIONS: &[&str] = &[
    "e.g", "i.e", "etc", "vs", "approx", "incl", "excl", "nr", "nos", "mr", "mrs", "ms", "dr", "inc", "ltd", "corp",
    "dept", "fig", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "avg", "yr",
    "wk",
];

/// The sentences of one line, trimmed. A sentence ends at `.`, `!`, `?` or `…` (with any
/// closing quotes or brackets) followed by a space or the end of the line; a full stop after
/// an abbreviation (`e.g.`, `vs.`, `Nov.`), an initial or before a lowercase word does not end
/// one, and decimals never do (`12.5` has no space after its point).
pub(crate) fn sentences(line: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < chars.len() {
        let (_, c) = chars[i];
        if matches!(c, '.' | '!' | '?' | '…') {
            let mut end = i + 1;
            while end < chars.len() && matches!(chars[end].1, '.' | '!' | '?' | ')' | ']' | '"' | '\'' | '”' | '’')
            {
                end += 1;
            }
            let at_break = end == chars.len() || chars[end].1.is_whitespace();
            if at_break && !(c == '.' && continues_after_full_stop(&chars, i, end)) {
                let byte_end = chars.get(end).map_or(line.len(), |&(b, _)| b);
                push_trimmed(&mut out, &line[start..byte_end]);
                start = byte_end;
            }
            i = end;
        } else {
            i += 1;
        }
    }
    push_trimmed(&mut out, &line[start..]);
    out
}

fn push_trimmed<'a>(out: &mut Vec<&'a str>, piece: &'a str) {
    let piece = piece.trim();
    if !piece.is_empty() {
        out.push(piece);
    }
}

/// Whether the full stop at `dot` belongs to an abbreviation or initial, or the text goes on
/// in lowercase after it.
fn continues_after_full_stop(chars: &[(usize, char)], dot: usize, after: usize) -> bool {
    let mut word_start = dot;
    while word_start > 0 && (chars[word_start - 1].1.is_alphanumeric() || chars[word_start - 1].1 == '.') {
        word_start -= 1;
    }
    let word: String = chars[word_start..dot].iter().map(|&(_, c)| c.to_ascii_lowercase()).collect();
    let letters_only = !word.is_empty() && word.chars().all(|c| c.is_alphabetic() || c == '.');
    let is_abbreviation =
        letters_only && (word.contains('.') || word.chars().count() == 1 || ABBREVIATIONS.contains(&word.as_str()));
    let next = chars[after..].iter().map(|&(_, c)| c).find(|c| !c.is_whitespace());
    is_abbreviation || next.is_some_and(char::is_lowercase)
}

const MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
];

const CURRENCY_CODES: &[&str] = &[
    "USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "NZD", "INR", "KRW", "CNY", "SEK", "NOK", "DKK", "PLN", "BRL",
    "MXN", "ZAR", "SGD", "HKD", "ISK", "CLP", "VND",
];

const CURRENCY_SYMBOLS: &[char] = &['$', '€', '£', '¥', '₹', '₩'];

fn is_month(word: &str) -> bool {
    let word = word.trim_end_matches('.').to_lowercase();
    MONTHS.contains(&word.as_str())
}

fn is_period_label(word: &str) -> bool {
    let upper = word.to_ascii_uppercase();
    matches!(upper.as_str(), "Q1" | "Q2" | "Q3" | "Q4" | "H1" | "H2" | "FY")
}

/// Every number in `text` that may be a figure, in order.
pub(crate) fn written_numbers(text: &str) -> Vec<Written> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let n = chars.len();
    let ch = |i: usize| chars.get(i).map(|&(_, c)| c);
    let byte = |i: usize| chars.get(i).map_or(text.len(), |&(b, _)| b);
    let digit_at = |i: usize| ch(i).is_some_and(|c| c.is_ascii_digit());
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        let c = chars[i].1;
        let leading_point = c == '.' && digit_at(i + 1) && (i == 0 || !ch(i - 1).is_some_and(|p| p.is_alphanumeric()));
        if !(c.is_ascii_digit() || leading_point) {
            i += 1;
            continue;
        }
        // Digits glued to letters are identifiers or units (`fafdcd66`, `Q3`, `B2B`).
        if i > 0 && ch(i - 1).is_some_and(|p| p.is_alphanumeric() || p == '_') {
            i = skip_word(&chars, i);
            continue;
        }

        // The digits: whole part, thousands groups, decimals.
        let start = i;
        let mut j = i;
        while digit_at(j) {
            j += 1;
        }
        let whole_len = j - start;
        let mut grouped = false;
        if (1..=3).contains(&whole_len) {
            while ch(j) == Some(',') && (1..=3).all(|k| digit_at(j + k)) && !digit_at(j + 4) {
                grouped = true;
                j += 4;
            }
        }
        // Dates and times.
        if !grouped
            && whole_len >= 1
            && let Some(end) = date_or_time_end(&chars, start, j)
        {
            i = end;
            continue;
        }
        let mut decimals = 0u32;
        if ch(j) == Some('.') && digit_at(j + 1) {
            j += 1;
            while digit_at(j) {
                j += 1;
                decimals += 1;
            }
        }
        let digits: String = chars[start..j].iter().map(|&(_, c)| c).filter(|&c| c != ',').collect();
        let Ok(magnitude) = digits.parse::<f64>() else {
            i = j.max(i + 1);
            continue;
        };

        // What follows: a glued suffix, a percent sign, a unit word.
        let mut end = j;
        let mut scale = 1.0;
        let mut kind = Kind::Level;
        let mut unit = false;
        let suffix_end = skip_letters(&chars, j);
        if suffix_end > j {
            let suffix: String = chars[j..suffix_end].iter().map(|&(_, c)| c).collect();
            match suffix.as_str() {
                "st" | "nd" | "rd" | "th" => {
                    i = suffix_end;
                    continue;
                }
                "k" | "K" => scale = 1e3,
                "m" | "M" | "mn" | "MM" => scale = 1e6,
                "b" | "B" | "bn" | "BN" => scale = 1e9,
                "x" | "X" => kind = Kind::Multiple,
                // A unit or an identifier (`24h`, `5G`, `3D`).
                _ => {
                    i = skip_word(&chars, suffix_end);
                    continue;
                }
            }
            unit = true;
            end = suffix_end;
        } else if ch(j) == Some('×') {
            kind = Kind::Multiple;
            unit = true;
            end = j + 1;
        }
        if ch(end) == Some('%') {
            kind = Kind::Percent;
            unit = true;
            end += 1;
        } else if ch(end) == Some(' ') && ch(end + 1) == Some('%') {
            kind = Kind::Percent;
            unit = true;
            end += 2;
        }
        let (next_word, next_word_end) = word_after(&chars, end);
        let next_lower = next_word.to_lowercase();
        if kind == Kind::Level && scale == 1.0 {
            match next_lower.as_str() {
                "percent" | "pct" | "pp" | "percentage" => {
                    kind = Kind::Percent;
                    unit = true;
                    end = next_word_end;
                }
                "per" if word_after(&chars, next_word_end).0.eq_ignore_ascii_case("cent") => {
                    kind = Kind::Percent;
                    unit = true;
                    end = word_after(&chars, next_word_end).1;
                }
                "thousand" => (scale, unit, end) = (1e3, true, next_word_end),
                "million" => (scale, unit, end) = (1e6, true, next_word_end),
                "billion" => (scale, unit, end) = (1e9, true, next_word_end),
                _ => {}
            }
        }

        // What precedes: a currency symbol or code, a sign.
        let mut first = start;
        let mut currency = false;
        if start > 0 && ch(start - 1).is_some_and(|p| CURRENCY_SYMBOLS.contains(&p)) {
            currency = true;
            first = start - 1;
            let mut letters = 0;
            while first > 0 && letters < 3 && ch(first - 1).is_some_and(|p| p.is_ascii_uppercase()) {
                first -= 1;
                letters += 1;
            }
            if first > 0 && ch(first - 1).is_some_and(char::is_alphanumeric) {
                first = start - 1;
            }
        } else if start >= 4 && ch(start - 1) == Some(' ') {
            let code: String = chars[start - 4..start - 1].iter().map(|&(_, c)| c).collect();
            let standalone = start == 4 || !ch(start - 5).is_some_and(char::is_alphanumeric);
            if standalone && CURRENCY_CODES.contains(&code.as_str()) {
                currency = true;
                first = start - 4;
            }
        }
        if kind == Kind::Level && !currency && CURRENCY_CODES.contains(&next_word.as_str()) && ch(end) == Some(' ') {
            currency = true;
            end = next_word_end;
        }
        let mut sign = Sign::None;
        if first > 0 {
            let before_sign = first.checked_sub(2).and_then(ch);
            let sign_can_stand =
                before_sign.is_none_or(|b| b.is_whitespace() || matches!(b, '(' | '[' | '"' | '“' | ':'));
            match ch(first - 1) {
                Some('-' | '−' | '–') if sign_can_stand => sign = Sign::Minus,
                Some('+') if sign_can_stand => sign = Sign::Plus,
                _ => {}
            }
            if sign != Sign::None {
                first -= 1;
            }
        }

        let bare_integer = !grouped && decimals == 0 && !unit && !currency && sign == Sign::None && !leading_point;
        let (word_after_end, _) = word_after(&chars, end);
        let before_word = ch(end) == Some(' ') && word_after_end.chars().next().is_some_and(char::is_alphabetic);

        // A day or a year next to a month name, a year after a quarter.
        if bare_integer && is_calendar_number(&chars, first, end, magnitude) {
            i = end;
            continue;
        }

        out.push(Written {
            text: text[byte(first)..byte(end)].to_string(),
            magnitude,
            decimals,
            scale,
            sign,
            kind,
            bare_integer,
            before_word,
            start: byte(first),
            end: byte(end),
        });
        i = end.max(i + 1);
    }
    out
}

fn skip_word(chars: &[(usize, char)], mut i: usize) -> usize {
    while i < chars.len() {
        let c = chars[i].1;
        let joins = matches!(c, '.' | ',' | '-' | '/') && chars.get(i + 1).is_some_and(|&(_, n)| n.is_alphanumeric());
        if c.is_alphanumeric() || c == '_' || joins {
            i += 1;
        } else {
            break;
        }
    }
    i
}

fn skip_letters(chars: &[(usize, char)], mut i: usize) -> usize {
    while i < chars.len() && chars[i].1.is_alphabetic() {
        i += 1;
    }
    // Letters followed by more digits are an identifier (`12ab34`), not a suffix.
    if chars.get(i).is_some_and(|&(_, c)| c.is_ascii_digit() || c == '_') {
        return skip_word(chars, i).max(i + 1);
    }
    i
}

/// The word after position `i` (past one run of spaces), and where it ends.
fn word_after(chars: &[(usize, char)], i: usize) -> (String, usize) {
    let mut j = i;
    while j < chars.len() && chars[j].1 == ' ' {
        j += 1;
    }
    if j == i {
        return (String::new(), i);
    }
    let start = j;
    while j < chars.len() && chars[j].1.is_alphanumeric() {
        j += 1;
    }
    (chars[start..j].iter().map(|&(_, c)| c).collect(), j)
}

/// The words before position `i`, nearest first, skipping spaces and commas.
fn words_before(chars: &[(usize, char)], i: usize, count: usize) -> Vec<String> {
    let mut words = Vec::with_capacity(count);
    let mut j = i;
    while words.len() < count {
        while j > 0 && matches!(chars[j - 1].1, ' ' | ',') {
            j -= 1;
        }
        let end = j;
        while j > 0 && (chars[j - 1].1.is_alphanumeric() || chars[j - 1].1 == '.') {
            j -= 1;
        }
        if j == end {
            break;
        }
        words.push(chars[j..end].iter().map(|&(_, c)| c).collect());
    }
    words
}

fn is_calendar_number(chars: &[(usize, char)], start: usize, end: usize, value: f64) -> bool {
    let before = words_before(chars, start, 2);
    let (after, _) = word_after(chars, end);
    let month_before = before.first().is_some_and(|w| is_month(w));
    let month_after = is_month(&after);
    let is_day = (1.0..=31.0).contains(&value) && (month_before || month_after);
    let is_year = (1900.0..=2100.0).contains(&value)
        && (month_before
            || month_after
            || before.get(1).is_some_and(|w| is_month(w))
            || before.first().is_some_and(|w| is_period_label(w)));
    is_day || is_year
}

/// Where a date or time starting at `start` ends (`2026-11-22`, `2026-11-22T07:00Z`, `07:00`,
/// `11/22/2026`), when the digits from `start` to `digits_end` begin one.
fn date_or_time_end(chars: &[(usize, char)], start: usize, digits_end: usize) -> Option<usize> {
    let ch = |i: usize| chars.get(i).map(|&(_, c)| c);
    let digits = |from: usize| (from..).take_while(|&k| ch(k).is_some_and(|c| c.is_ascii_digit())).count();
    let whole = digits_end - start;
    let mut j = digits_end;
    if whole == 4 && ch(j) == Some('-') && digits(j + 1) == 2 && ch(j + 3) == Some('-') && digits(j + 4) == 2 {
        j += 6;
        if matches!(ch(j), Some('T' | ' ')) && digits(j + 1) == 2 && ch(j + 3) == Some(':') {
            j = time_end(chars, j + 1);
        }
        return Some(j);
    }
    if whole <= 2 && ch(j) == Some(':') && digits(j + 1) == 2 {
        return Some(time_end(chars, start));
    }
    if whole <= 4 && ch(j) == Some('/') && (1..=2).contains(&digits(j + 1)) {
        j += 1 + digits(j + 1);
        if ch(j) == Some('/') && matches!(digits(j + 1), 2 | 4) {
            j += 1 + digits(j + 1);
        }
        return Some(j);
    }
    None
}

/// The end of `hh:mm[:ss[.fff]][Z]` starting at `i`.
fn time_end(chars: &[(usize, char)], mut i: usize) -> usize {
    let ch = |i: usize| chars.get(i).map(|&(_, c)| c);
    while ch(i).is_some_and(|c| c.is_ascii_digit() || c == ':')
        || (ch(i) == Some('.') && ch(i + 1).is_some_and(|c| c.is_ascii_digit()))
    {
        i += 1;
    }
    if ch(i) == Some('Z') {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ValueFormat;
    use crate::narrate::{Fact, Movement};

    fn figures() -> Figures {
        Figures {
            report: "Weekly digest".into(),
            period: Some("7 days to 21 Nov 2026, against the 7 days before".into()),
            facts: vec![
                Fact {
                    label: "Completions".into(),
                    value: 1234.6,
                    display: "1,235".into(),
                    format: ValueFormat::Number { decimals: 0 },
                },
                Fact {
                    label: "Revenue".into(),
                    value: 1234.5,
                    display: "$1,234.50".into(),
                    format: ValueFormat::Currency { code: "USD".into() },
                },
                Fact {
                    label: "Conversion rate".into(),
                    value: 0.1534,
                    display: "15.3%".into(),
                    format: ValueFormat::Percent { decimals: 1 },
                },
            ],
            movements: vec![
                Movement {
                    subject: "offer fafdcd66 (discount)".into(),
                    metric: "completions".into(),
                    current: 85.0,
                    previous: 100.0,
                    change: Some(-0.15),
                    format: ValueFormat::Number { decimals: 0 },
                },
                Movement {
                    subject: "channel email".into(),
                    metric: "completions".into(),
                    current: 1_204_000.0,
                    previous: 602_000.0,
                    change: Some(1.0),
                    format: ValueFormat::Number { decimals: 0 },
                },
            ],
            other_numbers: vec![42.0],
            overall: vec![],
        }
    }

    fn summary_only(summary: &str) -> (Narration, Vec<DroppedSentence>) {
        ground(Narration { summary: summary.into(), takeaways: vec![] }, &figures())
    }

    fn written(text: &str) -> Vec<String> {
        written_numbers(text).into_iter().map(|n| n.text).collect()
    }

    #[test]
    fn a_grounded_summary_comes_back_unchanged() {
        let summary = "Completions reached 1,235 and revenue $1,234.50.\n\nConversion held at 15.3%.";
        let (narration, dropped) = summary_only(summary);
        assert_eq!(narration.summary, summary);
        assert!(dropped.is_empty(), "{dropped:?}");
    }

    #[test]
    fn a_sentence_with_a_hallucinated_figure_is_dropped_and_recorded() {
        let (narration, dropped) =
            summary_only("Completions reached 1,235. Revenue rose 87.2% on the week. Email doubled to 1,204,000.");
        assert_eq!(narration.summary, "Completions reached 1,235. Email doubled to 1,204,000.");
        assert_eq!(
            dropped,
            vec![DroppedSentence {
                sentence: "Revenue rose 87.2% on the week.".into(),
                ungrounded: vec!["87.2%".into()]
            }]
        );
    }

    #[test]
    fn numbers_rounded_to_the_written_precision_are_accepted() {
        for sentence in
            ["Completions were 1,235.", "Completions were 1,234.6.", "Completions were 1.2k.", "About 1,230."]
        {
            let (_, dropped) = summary_only(sentence);
            let expected_kept = sentence != "About 1,230.";
            assert_eq!(dropped.is_empty(), expected_kept, "{sentence}: {dropped:?}");
        }
        let (_, dropped) = summary_only("Email reached 1.2M completions, up from 0.6M.");
        assert!(dropped.is_empty(), "{dropped:?}");
    }

    #[test]
    fn percentages_match_ratios_and_plain_values() {
        // 0.1534 as a ratio, 1.0 (a doubling) as a change, 42 from the other numbers.
        let (_, dropped) =
            summary_only("Conversion was 15.3% (15.34 %). Email grew 100%. Discount fell 15 percent. Share was 42%.");
        assert!(dropped.is_empty(), "{dropped:?}");
        let (_, dropped) = summary_only("Conversion was 15.4%.");
        assert_eq!(dropped[0].ungrounded, vec!["15.4%"]);
    }

    #[test]
    fn currency_amounts_are_read_with_their_symbol_or_code() {
        assert_eq!(
            written("Revenue $1,234.50, costs -€12.00, CHF 3.20 and 9.10 USD."),
            vec!["$1,234.50", "-€12.00", "CHF 3.20", "9.10 USD"]
        );
        let (_, dropped) = summary_only("Revenue was $1,234.50 (USD 1,234.50), or A$1.2k.");
        assert!(dropped.is_empty(), "{dropped:?}");
        let (_, dropped) = summary_only("Revenue was $1,334.50.");
        assert_eq!(dropped[0].ungrounded, vec!["$1,334.50"]);
    }

    #[test]
    fn thousands_separators_are_one_number_and_lists_are_several() {
        assert_eq!(written("1,204,000 and 1,2 and 3"), vec!["1,204,000", "1", "2", "3"]);
        assert_eq!(written_numbers("1,204,000")[0].magnitude, 1_204_000.0);
    }

    #[test]
    fn negative_changes_match_with_or_without_their_sign_but_not_with_the_wrong_one() {
        let (_, dropped) = summary_only("The discount offer fell 15.0% to 85 (-15%, a drop of 15).");
        assert!(dropped.is_empty(), "{dropped:?}");
        let (_, dropped) = summary_only("The discount offer moved +15.0%.");
        assert_eq!(dropped[0].ungrounded, vec!["+15.0%"]);
        let (_, dropped) = summary_only("Email moved -100%.");
        assert_eq!(dropped[0].ungrounded, vec!["-100%"]);
    }

    #[test]
    fn dates_times_ordinals_and_identifiers_are_not_figures() {
        let text = "On 2026-11-22 at 07:00 UTC (22 Nov 2026, or Nov. 22, 2026, Q3 2026, 11/22/2026), the 1st \
                    and 2nd offers fafdcd66 and B2B on 5G did fine.";
        assert_eq!(written(text), Vec::<String>::new());
        let (narration, dropped) = summary_only(text);
        assert_eq!(narration.summary, text);
        assert!(dropped.is_empty());
    }

    #[test]
    fn small_counts_of_listed_things_are_accepted_but_larger_ones_are_not() {
        let (_, dropped) = summary_only("2 channels moved and 3 headline figures are shown.");
        assert!(dropped.is_empty(), "{dropped:?}");
        let (_, dropped) = summary_only("Across 5 channels, completions rose.");
        assert_eq!(dropped[0].ungrounded, vec!["5"]);
    }

    #[test]
    fn numbers_from_the_period_and_labels_may_be_repeated() {
        let (_, dropped) = summary_only("Over the 7 days to 21 Nov 2026, offer fafdcd66 slowed.");
        assert!(dropped.is_empty(), "{dropped:?}");
    }

    #[test]
    fn sentences_split_at_their_ends_but_not_at_decimals_or_abbreviations() {
        assert_eq!(
            sentences("Revenue was $1,234.50, e.g. from email. It rose 12.5. Why? Ask Dr. Smith (see fig. 2.)"),
            vec!["Revenue was $1,234.50, e.g. from email.", "It rose 12.5.", "Why?", "Ask Dr. Smith (see fig. 2.)"]
        );
        assert_eq!(sentences("Costs fell vs. last week. Done"), vec!["Costs fell vs. last week.", "Done"]);
    }

    #[test]
    fn an_ungrounded_takeaway_is_dropped_whole() {
        let narration = Narration {
            summary: String::new(),
            takeaways: vec!["Discount offer down 15.0% to 85.".into(), "Email up 300% to 2.4M.".into()],
        };
        let (narration, dropped) = ground(narration, &figures());
        assert_eq!(narration.takeaways, vec!["Discount offer down 15.0% to 85."]);
        assert_eq!(dropped.len(), 1);
        assert_eq!(dropped[0].ungrounded, vec!["300%", "2.4M"]);
    }

    #[test]
    fn a_paragraph_whose_sentences_all_drop_leaves_no_gap() {
        let (narration, dropped) =
            summary_only("Completions were 1,235.\n\nRevenue hit $9,999.00.\n\nEmail grew 100%.");
        assert_eq!(narration.summary, "Completions were 1,235.\n\nEmail grew 100%.");
        assert_eq!(dropped.len(), 1);
    }

    #[test]
    fn multipliers_match_the_ratio_of_current_to_previous() {
        let (_, dropped) = summary_only("Email grew 2x, and 2.0× again.");
        assert!(dropped.is_empty(), "{dropped:?}");
        let (_, dropped) = summary_only("Email grew 3x.");
        assert_eq!(dropped[0].ungrounded, vec!["3x"]);
    }

    #[test]
    fn numbers_in_text_are_signed_and_scaled() {
        assert_eq!(numbers_in("Flag any offer with >15% week-over-week drop."), vec![15.0]);
        assert_eq!(numbers_in("below -2.5k or $3M"), vec![-2500.0, 3_000_000.0]);
    }
}
