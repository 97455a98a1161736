//! `{path}` placeholders in report text, subjects and file names, filled from a JSON scope
//! (`{customers.name}`, `{period}`, `{row.email}`). `{{` and `}}` write literal braces. A path
//! that leads nowhere expands to nothing, so a missing column blanks a field rather than
//! failing a statement.

use serde_json::Value;

use crate::render::format;

/// A piece of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'t> {
    /// Text written as is (`{{` and `}}` come through as one brace each).
    Text(&'t str),
    /// A `{path}` placeholder: its name and byte range in the template.
    Placeholder { name: &'t str, start: usize, end: usize },
}

/// Splits `template` into text and placeholders. A `{` that does not open a well-formed
/// `{path}` is text.
pub fn pieces(template: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let (mut i, mut text_from) = (0, 0);
    let bytes = template.as_bytes();
    while i < bytes.len() {
        let doubled = (bytes[i] == b'{' || bytes[i] == b'}') && bytes.get(i + 1) == Some(&bytes[i]);
        if doubled {
            out.push(Piece::Text(&template[text_from..=i]));
            i += 2;
            text_from = i;
            continue;
        }
        if bytes[i] == b'{'
            && let Some(len) = template[i + 1..].find('}')
            && is_path(&template[i + 1..i + 1 + len])
        {
            if text_from < i {
                out.push(Piece::Text(&template[text_from..i]));
            }
            out.push(Piece::Placeholder { name: &template[i + 1..i + 1 + len], start: i, end: i + len + 2 });
            i += len + 2;
            text_from = i;
            continue;
        }
        i += 1;
    }
    if text_from < template.len() {
        out.push(Piece::Text(&template[text_from..]));
    }
    out
}

/// Expands every `{path}` in `text` against `scope`; a path that leads nowhere gives nothing.
pub fn expand(text: &str, scope: &Value) -> String {
    if !text.contains(['{', '}']) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    for piece in pieces(text) {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Placeholder { name, .. } => {
                if let Some(value) = lookup(scope, name) {
                    out.push_str(&format::plain(value));
                }
            }
        }
    }
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

/// `name` or `name.part…`: the first part starts with a letter or `_`; parts are letters,
/// digits, `_` and `-`.
fn is_path(s: &str) -> bool {
    s.len() <= 200
        && s.split('.').enumerate().all(|(i, part)| {
            let mut chars = part.chars();
            chars.next().is_some_and(|c| c.is_alphanumeric() || c == '_' && (i > 0 || !c.is_ascii_digit()))
                && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-'))
        })
        && s.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
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
        assert_eq!(expand("{1abc} {a}}}", &scope), "{1abc} 1}");
    }

    #[test]
    fn pieces_give_each_placeholder_with_its_range() {
        assert_eq!(
            pieces("a {b.c} {{d}}"),
            vec![
                Piece::Text("a "),
                Piece::Placeholder { name: "b.c", start: 2, end: 7 },
                Piece::Text(" {"),
                Piece::Text("d}"),
            ]
        );
    }
}
