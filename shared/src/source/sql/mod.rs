//! SQL sources: `{"type": "sql", "connection": "<name or id>", "query": "…"}` runs one
//! read-only statement and returns its rows, on a workspace's [`Connection`] (PostgreSQL,
//! MySQL/MariaDB) or on the built-in connection `datasets`, which needs no server: the
//! workspace's uploaded datasets that the query names become tables of a private in-memory
//! SQLite database, whatever store Herald itself runs on ([`datasets`]).
//!
//! Safety is in the protocol and the engine, never in a parser of the query:
//! - `{name}` placeholders (run parameters, a repeating row's columns, `{data.field}`) become
//!   bound parameters (`?1`, `$1`, `?`), so a value is data and never SQL; text inside quotes
//!   and comments is left alone; `[[ … ]]` is an optional clause, left out when a placeholder
//!   in it has no value;
//! - one statement only: the query is prepared (PostgreSQL's extended protocol, MySQL's binary
//!   protocol, SQLite's prepare), which refuses a second;
//! - a read-only transaction (and for `datasets` an authorizer that allows reading only);
//! - a time limit the server enforces, and a cancel sent from here when it does not;
//! - a row cap that stops reading one row past it (a PostgreSQL portal's row limit, MySQL's
//!   `sql_select_limit`) rather than rewriting the query, and a size cap.
//!
//! Column types map to typed rows: integers and floats are numbers; `numeric`/`decimal` keep
//! their exact digits as [`ColumnType::Decimal`] text; dates, timestamps (in UTC), booleans,
//! text and nulls keep their kind. Errors are the database's own words (with the position for
//! PostgreSQL), never a connection string.
//!
//! [`Connection`]: crate::domain::Connection

#[cfg(feature = "aws")]
pub mod athena;
#[cfg(test)]
mod contract;
pub mod datasets;
pub mod mysql;
pub mod pools;
pub mod postgres;

use serde_json::Value;

#[cfg(doc)]
use super::ColumnType;
use super::SourceError;
use super::template::{Bindings, TemplateError};
pub use crate::domain::DATASETS_CONNECTION;
pub use pools::{ConnectionCheck, Databases};

/// How a database spells its bound parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    /// `?1`, `?2` (SQLite).
    Numbered,
    /// `$1`, `$2` (PostgreSQL).
    Dollar,
    /// `?` in order (MySQL, MariaDB, Athena).
    Question,
}

impl Placeholder {
    fn push(self, sql: &mut String, n: usize) {
        match self {
            Placeholder::Numbered => sql.push_str(&format!("?{n}")),
            Placeholder::Dollar => sql.push_str(&format!("${n}")),
            Placeholder::Question => sql.push('?'),
        }
    }
}

/// A query with its placeholders turned into bound parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    pub sql: String,
    pub values: Vec<Value>,
}

#[derive(Clone, Copy, PartialEq)]
enum Lexeme {
    Code,
    Quoted(char),
    LineComment,
    BlockComment,
}

/// Where a parameter goes in an optional clause until the clause is kept.
const PARAMETER_MARK: char = '\u{0}';

/// Turns `{name}` placeholders into bound parameters spelled as `style` says, and keeps or
/// drops `[[ … ]]` clauses.
pub fn bind(query: &str, bindings: &Bindings<'_>, style: Placeholder) -> Result<Bound, SourceError> {
    if query.contains(PARAMETER_MARK) {
        return Err(SourceError::Sql("the query holds a NUL character".into()));
    }
    let mut sql = String::with_capacity(query.len());
    let mut values = Vec::new();
    // The optional clause being read: its text, its values, and whether one was missing.
    let mut clause: Option<(String, Vec<Value>, bool)> = None;
    let mut lexeme = Lexeme::Code;
    let chars: Vec<char> = query.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let (c, next) = (chars[i], chars.get(i + 1).copied());
        let out = match &mut clause {
            Some((text, _, _)) => text,
            None => &mut sql,
        };
        match lexeme {
            Lexeme::Quoted(q) if c == q => lexeme = Lexeme::Code,
            Lexeme::LineComment if c == '\n' => lexeme = Lexeme::Code,
            Lexeme::BlockComment if c == '*' && next == Some('/') => {
                out.push_str("*/");
                lexeme = Lexeme::Code;
                i += 2;
                continue;
            }
            Lexeme::Quoted(_) | Lexeme::LineComment | Lexeme::BlockComment => {}
            Lexeme::Code => match c {
                '\'' | '"' | '`' => lexeme = Lexeme::Quoted(c),
                '-' if next == Some('-') => lexeme = Lexeme::LineComment,
                '/' if next == Some('*') => {
                    out.push_str("/*");
                    lexeme = Lexeme::BlockComment;
                    i += 2;
                    continue;
                }
                '[' if next == Some('[') => {
                    if clause.is_some() {
                        return Err(SourceError::Sql("`[[ … ]]` clauses cannot be nested".into()));
                    }
                    clause = Some((String::new(), Vec::new(), false));
                    i += 2;
                    continue;
                }
                ']' if next == Some(']') && clause.is_some() => {
                    if let Some((text, clause_values, missing)) = clause.take()
                        && !missing
                    {
                        // Each marker left in the clause's text is its next value's parameter.
                        let mut pending = clause_values.into_iter();
                        for ch in text.chars() {
                            match (ch, ch == PARAMETER_MARK) {
                                (_, true) => {
                                    values.extend(pending.next());
                                    style.push(&mut sql, values.len());
                                }
                                (ch, false) => sql.push(ch),
                            }
                        }
                    }
                    i += 2;
                    continue;
                }
                '{' => {
                    let name: String = chars[i + 1..].iter().take_while(|c| **c != '}').collect();
                    let closed = chars.get(i + 1 + name.len()) == Some(&'}');
                    let well_formed =
                        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
                    if closed && well_formed {
                        let value = match bindings.lookup(&name) {
                            Ok(value) => Some(value.clone()),
                            Err(TemplateError::UnknownParameter(_) | TemplateError::UnknownData(_)) => None,
                        };
                        match (&mut clause, value) {
                            (Some((text, clause_values, missing)), value) => match value.filter(|v| !v.is_null()) {
                                Some(value) => {
                                    clause_values.push(value);
                                    text.push(PARAMETER_MARK);
                                }
                                None => *missing = true,
                            },
                            (None, Some(value)) => {
                                values.push(value);
                                style.push(&mut sql, values.len());
                            }
                            (None, None) => {
                                return Err(SourceError::Template {
                                    field: "query",
                                    source: TemplateError::UnknownParameter(name),
                                });
                            }
                        }
                        i += name.len() + 2;
                        continue;
                    }
                }
                _ => {}
            },
        }
        match &mut clause {
            Some((text, _, _)) => text.push(c),
            None => sql.push(c),
        }
        i += 1;
    }
    if clause.is_some() {
        return Err(SourceError::Sql("a `[[` clause is not closed with `]]`".into()));
    }
    Ok(Bound { sql, values })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn bound(query: &str, parameters: Value) -> Result<Bound, SourceError> {
        let parameters = parameters.as_object().cloned().unwrap_or_default();
        bind(query, &Bindings { parameters: &parameters, data: &Value::Null }, Placeholder::Numbered)
    }

    #[test]
    fn placeholders_become_bound_parameters_and_quotes_and_comments_are_left_alone() {
        let b = bound(
            "SELECT '{tier}' AS t, \"{x}\" -- {ignored}\nFROM customers WHERE tier = {tier} /* {no} */ AND n > {min}",
            json!({"tier": "gold", "min": 3}),
        )
        .unwrap();
        assert_eq!(
            b.sql,
            "SELECT '{tier}' AS t, \"{x}\" -- {ignored}\nFROM customers WHERE tier = ?1 /* {no} */ AND n > ?2"
        );
        assert_eq!(b.values, [json!("gold"), json!(3)]);
        assert!(matches!(bound("SELECT {nope}", json!({})), Err(SourceError::Template { .. })));
    }

    #[test]
    fn an_optional_clause_drops_out_when_a_parameter_in_it_has_no_value() {
        let sql = "SELECT * FROM customers WHERE 1 = 1 [[AND tier = {tier}]] [[AND joined >= {since}]]";
        let both = bound(sql, json!({"tier": "gold", "since": "2026-02-01"})).unwrap();
        assert_eq!(both.sql, "SELECT * FROM customers WHERE 1 = 1 AND tier = ?1 AND joined >= ?2");
        assert_eq!(both.values, [json!("gold"), json!("2026-02-01")]);
        let one = bound(sql, json!({"since": "2026-02-01", "tier": null})).unwrap();
        assert_eq!(one.sql, "SELECT * FROM customers WHERE 1 = 1  AND joined >= ?1");
        assert_eq!(one.values, [json!("2026-02-01")]);
    }

    #[test]
    fn each_engine_gets_its_own_parameter_marks() {
        let parameters = json!({"a": 1, "b": "x"}).as_object().cloned().unwrap();
        let bindings = Bindings { parameters: &parameters, data: &Value::Null };
        let query = "SELECT * FROM t WHERE a = {a} [[AND b = {b}]] AND c = {a}";
        let marks = |style| bind(query, &bindings, style).unwrap().sql;
        assert_eq!(marks(Placeholder::Dollar), "SELECT * FROM t WHERE a = $1 AND b = $2 AND c = $3");
        assert_eq!(marks(Placeholder::Question), "SELECT * FROM t WHERE a = ? AND b = ? AND c = ?");
    }
}
