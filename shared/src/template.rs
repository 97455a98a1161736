//! `{path}` placeholders in report text, subjects and file names, filled from a JSON scope
//! (`{customers.name}`, `{period}`, `{row.email}`). `{{` and `}}` write literal braces. A path
//! that leads nowhere expands to nothing, so a missing column blanks a field rather than
//! failing a statement.

use serde_json::Value;

use crate::render::format;

/// Expands every `{path}` in `text` against `scope`.
pub fn expand(text: &str, scope: &Value) -> String {
    if !text.contains(['{', '}']) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("{{").or_else(|| tail.strip_prefix("}}")) {
            out.push_str(&tail[..1]);
            rest = after;
        } else if let Some(body) = tail.strip_prefix('{')
            && let Some(end) = body.find('}')
            && is_path(&body[..end])
        {
            if let Some(value) = lookup(scope, body[..end].trim()) {
                out.push_str(&format::plain(value));
            }
            rest = &body[end + 1..];
        } else {
            out.push_str(&tail[..1]);
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// The value at a dotted path (`customers.address.city`); array elements by index.
pub fn lookup<'a>(scope: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(scope, |value, key| match value {
        Value::Object(map) => map.get(key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

fn is_path(s: &str) -> bool {
    let s = s.trim();
    !s.is_empty() && s.len() <= 200 && s.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn placeholders_are_filled_from_the_scope() {
        let scope = json!({"customers": {"name": "Zoë", "balance": 12.5}, "period": "2026-05-01", "n": 3});
        assert_eq!(
            expand("Dear {customers.name}, your balance on {period} is {customers.balance} ({n} items).", &scope),
            "Dear Zoë, your balance on 2026-05-01 is 12.5 (3 items)."
        );
    }

    #[test]
    fn unknown_paths_expand_to_nothing_and_braces_can_be_escaped() {
        let scope = json!({"a": 1});
        assert_eq!(expand("[{missing.path}] {{literal}} {a}", &scope), "[] {literal} 1");
        assert_eq!(expand("not a {placeholder here} or { a", &scope), "not a {placeholder here} or { a");
    }
}
