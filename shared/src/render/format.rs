//! Display text of cell values: grouped numbers, currencies, percentages (stored as ratios)
//! and dates. Every renderer and the narrator print figures through here, so a figure reads
//! the same in the PDF, the email and the summary.

use serde_json::Value;

use crate::domain::ValueFormat;

/// Display text of `value` under `format`. Values of the wrong kind for the format (text in
/// a currency column) are shown as they are rather than refused.
pub fn display(value: &Value, format: &ValueFormat) -> String {
    match (format, value) {
        (_, Value::Null) => String::new(),
        (ValueFormat::Number { decimals }, Value::Number(n)) => number(n.as_f64().unwrap_or(0.0), *decimals),
        (ValueFormat::Currency { code }, Value::Number(n)) => currency(n.as_f64().unwrap_or(0.0), code),
        (ValueFormat::Percent { decimals }, Value::Number(n)) => percent(n.as_f64().unwrap_or(0.0), *decimals),
        // Exact decimals (a database's numeric columns) are rounded on their digits, not as floats.
        (ValueFormat::Number { decimals }, Value::String(s)) if rounded(s, *decimals).is_some() => {
            signed(rounded(s, *decimals).unwrap_or_default())
        }
        (ValueFormat::Currency { code }, Value::String(s)) if rounded(s, currency_decimals(code)).is_some() => {
            let (negative, amount) = rounded(s, currency_decimals(code)).unwrap_or_default();
            with_symbol(negative, &amount, code)
        }
        (ValueFormat::Percent { decimals }, Value::String(s)) if rounded(s, 0).is_some() => {
            percent(s.parse().unwrap_or(f64::NAN), *decimals)
        }
        (ValueFormat::Date, Value::String(s)) => date(s),
        (_, value) => plain(value),
    }
}

/// A value with no format: text as is, whole numbers without decimals, booleans as Yes/No.
pub fn plain(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(true) => "Yes".into(),
        Value::Bool(false) => "No".into(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// `1234567.891` with 2 decimals → `1,234,567.89`.
pub fn number(value: f64, decimals: u8) -> String {
    if !value.is_finite() {
        return "–".into();
    }
    let decimals = usize::from(decimals.min(10));
    signed((value < 0.0, format!("{:.*}", decimals, value.abs())))
}

/// `(negative, "1234567.89")` → `-1,234,567.89` (no sign on a zero).
fn signed((negative, text): (bool, String)) -> String {
    let (whole, fraction) = text.split_once('.').map_or((text.as_str(), None), |(w, f)| (w, Some(f)));
    let mut out = String::with_capacity(text.len() + whole.len() / 3 + 1);
    if negative && text.bytes().any(|b| matches!(b, b'1'..=b'9')) {
        out.push('-');
    }
    group_thousands(whole, &mut out);
    if let Some(fraction) = fraction {
        out.push('.');
        out.push_str(fraction);
    }
    out
}

/// Exact decimal text (`-1234.5650`) rounded half away from zero to `decimals` places, as its
/// sign and its digits (`(true, "1234.57")`); `None` for anything but a plain decimal.
pub fn rounded(text: &str, decimals: u8) -> Option<(bool, String)> {
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = body.split_once('.').unwrap_or((body, ""));
    if whole.is_empty() && fraction.is_empty() || !whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let decimals = usize::from(decimals.min(10));
    let mut digits: Vec<u8> =
        whole.bytes().chain(fraction.bytes().chain(std::iter::repeat(b'0')).take(decimals)).collect();
    digits.insert(0, b'0');
    if fraction.as_bytes().get(decimals).is_some_and(|d| *d >= b'5') {
        for digit in digits.iter_mut().rev() {
            if *digit == b'9' {
                *digit = b'0';
            } else {
                *digit += 1;
                break;
            }
        }
    }
    let split = digits.len() - decimals;
    let whole: String = String::from_utf8_lossy(&digits[..split]).trim_start_matches('0').to_string();
    let whole = if whole.is_empty() { "0".to_string() } else { whole };
    let text = match decimals {
        0 => whole,
        _ => format!("{whole}.{}", String::from_utf8_lossy(&digits[split..])),
    };
    Some((negative, text))
}

fn group_thousands(digits: &str, out: &mut String) {
    let len = digits.len();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (len - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
}

/// `-1234.5` in `USD` → `-$1,234.50`; codes without a symbol print as `CHF 1,234.50`.
pub fn currency(value: f64, code: &str) -> String {
    let amount = format!("{:.*}", usize::from(currency_decimals(code)), value.abs());
    with_symbol(value < 0.0, &amount, code)
}

/// The decimals a currency is shown with (none for the yen, the won and a few others).
fn currency_decimals(code: &str) -> u8 {
    let code = code.trim().to_ascii_uppercase();
    if matches!(code.as_str(), "JPY" | "KRW" | "ISK" | "CLP" | "VND") { 0 } else { 2 }
}

/// `(true, "1234.50")` in `USD` → `-$1,234.50`.
fn with_symbol(negative: bool, amount: &str, code: &str) -> String {
    let code = code.trim().to_ascii_uppercase();
    let amount = signed((false, amount.to_string()));
    let sign = if negative && amount.bytes().any(|b| matches!(b, b'1'..=b'9')) { "-" } else { "" };
    match symbol(&code) {
        Some(symbol) => format!("{sign}{symbol}{amount}"),
        None => format!("{sign}{code} {amount}"),
    }
}

fn symbol(code: &str) -> Option<&'static str> {
    Some(match code {
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "JPY" => "¥",
        "INR" => "₹",
        "KRW" => "₩",
        "AUD" => "A$",
        "CAD" => "C$",
        "NZD" => "NZ$",
        _ => return None,
    })
}

/// A ratio as a percentage: `0.1534` with 1 decimal → `15.3%`.
pub fn percent(ratio: f64, decimals: u8) -> String {
    if !ratio.is_finite() {
        return "–".into();
    }
    format!("{}%", number(ratio * 100.0, decimals))
}

/// A signed change as a percentage: `-0.153` → `-15.3%`, `0.02` → `+2.0%`.
pub fn signed_percent(ratio: f64, decimals: u8) -> String {
    let text = percent(ratio, decimals);
    if ratio > 0.0 && text.bytes().any(|b| matches!(b, b'1'..=b'9')) { format!("+{text}") } else { text }
}

/// Relative change from `previous` to `current`; none when there is no base to compare with.
pub fn change_ratio(current: f64, previous: f64) -> Option<f64> {
    (previous != 0.0 && previous.is_finite() && current.is_finite()).then(|| (current - previous) / previous.abs())
}

/// Dates as `YYYY-MM-DD`, timestamps as `YYYY-MM-DD HH:MM UTC`; other text as is.
fn date(s: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(s) {
        Ok(at) => at.with_timezone(&chrono::Utc).format("%Y-%m-%d %H:%M UTC").to_string(),
        Err(_) => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn exact_decimals_round_on_their_digits() {
        assert_eq!(rounded("1234567890123456.1234", 2), Some((false, "1234567890123456.12".into())));
        assert_eq!(rounded("-0.005", 2), Some((true, "0.01".into())));
        assert_eq!(rounded("9.995", 2), Some((false, "10.00".into())));
        assert_eq!(rounded("12", 0), Some((false, "12".into())));
        assert_eq!(rounded("0.4", 0), Some((false, "0".into())));
        for bad in ["", "-", "1e5", "1.2.3", "abc", "."] {
            assert_eq!(rounded(bad, 2), None, "{bad}");
        }
        let money = ValueFormat::Currency { code: "USD".into() };
        assert_eq!(display(&json!("-1234567890123456.565"), &money), "-$1,234,567,890,123,456.57");
        assert_eq!(display(&json!("-0.001"), &money), "$0.00");
        assert_eq!(display(&json!("1234.5"), &ValueFormat::Number { decimals: 1 }), "1,234.5");
        assert_eq!(display(&json!("n/a"), &money), "n/a");
    }

    #[test]
    fn numbers_are_grouped_and_rounded() {
        assert_eq!(number(1_234_567.891, 2), "1,234,567.89");
        assert_eq!(number(999.5, 0), "1,000");
        assert_eq!(number(-0.004, 2), "0.00");
        assert_eq!(number(-12.0, 1), "-12.0");
        assert_eq!(number(f64::NAN, 1), "–");
    }

    #[test]
    fn currencies_use_their_symbol_and_minor_units() {
        assert_eq!(currency(-1234.5, "usd"), "-$1,234.50");
        assert_eq!(currency(1500.0, "JPY"), "¥1,500");
        assert_eq!(currency(3.2, "CHF"), "CHF 3.20");
    }

    #[test]
    fn percentages_are_ratios() {
        assert_eq!(percent(0.1534, 1), "15.3%");
        assert_eq!(signed_percent(0.02, 1), "+2.0%");
        assert_eq!(signed_percent(-0.153, 1), "-15.3%");
        assert_eq!(change_ratio(85.0, 100.0), Some(-0.15));
        assert_eq!(change_ratio(5.0, 0.0), None);
    }

    #[test]
    fn values_display_through_their_format() {
        assert_eq!(display(&json!(12.5), &ValueFormat::Currency { code: "EUR".into() }), "€12.50");
        assert_eq!(display(&json!("n/a"), &ValueFormat::Number { decimals: 0 }), "n/a");
        assert_eq!(display(&json!(3.0), &ValueFormat::Text), "3");
        assert_eq!(display(&json!(true), &ValueFormat::Text), "Yes");
        assert_eq!(display(&Value::Null, &ValueFormat::Percent { decimals: 1 }), "");
        assert_eq!(display(&json!("2026-05-01T07:00:00Z"), &ValueFormat::Date), "2026-05-01 07:00 UTC");
    }
}
