//! Delivery conditions and per-row recipients.
//!
//! A delivery condition is a short JavaScript-like expression evaluated once per entry: when it
//! is false the entry's delivery is skipped, when it is true the delivery goes ahead, and
//! anything else (a non-boolean result, a type mistake) fails that delivery with a message
//! meant for the report's author. Empty or whitespace-only text means "always deliver".
//!
//! ```text
//! condition  = or
//! or         = and { "||" and }
//! and        = comparison { "&&" comparison }
//! comparison = unary [ ( "==" | "!=" | "<" | "<=" | ">" | ">=" ) unary ]   (not chained)
//! unary      = ( "!" | "-" ) unary | primary
//! primary    = "null" | "true" | "false" | number | string | "{" path "}"
//!            | function "(" [ or { "," or } ] ")" | "(" or ")"
//! number     = digits [ "." digits ] [ ( "e" | "E" ) [ "+" | "-" ] digits ]
//! string     = '…' | "…"   with \n \t \r \b \f \v \0 \\ \' \" \/ \uXXXX escapes
//! ```
//!
//! `===` and `!==` are accepted as `==` and `!=`. A `{path}` is the same placeholder the
//! report's text templates use (see [`template`]): its dotted path is looked up in the entry's
//! scope, whose top-level keys are the data source names (the repeating row bound to its
//! source's name); a path that leads nowhere is `null`. A bare name such as `row.email` is an
//! error asking for braces, since it would otherwise silently mean nothing.
//!
//! Values are null, booleans, numbers, strings, lists and objects. There is no coercion:
//! `==` and `!=` compare values of the same type (different types are simply not equal), the
//! ordering operators compare two numbers or two strings (by code point) and reject anything
//! else, and `!`, `&&` and `||` need booleans. `&&` and `||` stop at the first operand that
//! decides the result, so `{x} != null && {x} > 1` never compares a missing `x`.
//!
//! Functions: `len(x)` (characters of a string, items of a list, keys of an object),
//! `lower(x)`, `upper(x)`, `trim(x)` (a string, or null passed through), `contains(a, b)`
//! (substring of a string, or an item of a list equal to `b`; false when `a` is null),
//! `startsWith(a, b)` and `endsWith(a, b)` (two strings; false when `a` is null) and
//! `isEmpty(x)` (true for null, `""`, an empty list or object).
//!
//! Cost is bounded: at most [`MAX_CHARS`] characters, [`MAX_TOKENS`] tokens and [`MAX_DEPTH`]
//! levels of nesting (parentheses, `!`, `-` and function arguments); evaluation is one walk of
//! the parsed tree. Error columns count characters from 1.

use std::borrow::Cow;
use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::render::format;
use crate::template::{self, Piece};

/// The longest condition text, in characters.
pub const MAX_CHARS: usize = 2_000;
/// The most tokens (values, names, operators, punctuation) in a condition.
pub const MAX_TOKENS: usize = 500;
/// The deepest nesting of parentheses, `!`, `-` and function arguments.
pub const MAX_DEPTH: usize = 32;

/// Why a condition could not be parsed or evaluated. The text is shown to the report's author.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConditionError {
    /// The text is not a valid expression.
    #[error("condition: {message} at column {column}")]
    Syntax { message: String, column: usize },
    /// A name without braces, which is never looked up in the data.
    #[error(
        "condition: `{name}` at column {column} is not looked up in the data; wrap the path in braces: `{{{name}}}`"
    )]
    BareIdentifier { name: String, column: usize },
    /// The text is longer than [`MAX_CHARS`].
    #[error("condition: too long ({chars} characters; the limit is {} characters)", MAX_CHARS)]
    TooLong { chars: usize },
    /// The text has more than [`MAX_TOKENS`] tokens.
    #[error("condition: too many tokens (the limit is {} tokens)", MAX_TOKENS)]
    TooManyTokens,
    /// The expression nests deeper than [`MAX_DEPTH`].
    #[error("condition: nested too deeply at column {column} (the limit is {} levels)", MAX_DEPTH)]
    TooDeep { column: usize },
    /// A type mistake while evaluating, e.g. ordering a string against a number.
    #[error("condition: {message} at column {column}")]
    Runtime { message: String, column: usize },
    /// The whole expression gave something other than true or false.
    #[error("condition must evaluate to true or false, got {got}")]
    NotBoolean { got: &'static str },
}

/// A parsed delivery condition, ready to be evaluated against each entry's scope.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// `None` for an empty condition, which always holds.
    expr: Option<Expr>,
}

/// Parses `text`; empty or whitespace-only text gives a condition that always holds.
pub fn parse(text: &str) -> Result<Condition, ConditionError> {
    let chars = text.chars().count();
    if chars > MAX_CHARS {
        return Err(ConditionError::TooLong { chars });
    }
    let tokens = lex(text)?;
    if tokens.is_empty() {
        return Ok(Condition { expr: None });
    }
    let mut parser = Parser { tokens, pos: 0, depth: 0, end_column: chars + 1 };
    let expr = parser.parse_or()?;
    if let Some(token) = parser.peek() {
        return Err(syntax(format!("unexpected {}", describe(&token.tok)), token.column));
    }
    Ok(Condition { expr: Some(expr) })
}

/// Checks that `text` is a valid condition, for when a report is saved.
pub fn check(text: &str) -> Result<(), ConditionError> {
    parse(text).map(|_| ())
}

impl Condition {
    /// Evaluates the condition against one entry's scope (data source names at the top level).
    pub fn evaluate(&self, scope: &Value) -> Result<bool, ConditionError> {
        let Some(expr) = &self.expr else {
            return Ok(true);
        };
        match eval(expr, scope)? {
            Val::Bool(b) => Ok(b),
            other => Err(ConditionError::NotBoolean { got: other.type_name() }),
        }
    }
}

/// The addresses in To, CC or BCC fields: each field is expanded against the entry's scope
/// (a placeholder holding a list gives each of its items), then split on commas, semicolons and
/// whitespace; empty parts are dropped and repeats (ignoring case) keep their first spelling.
/// A field whose placeholder is missing or empty gives no address.
pub fn recipients(fields: &[String], scope: &Value) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for field in fields {
        let text = expand_listing(field, scope);
        for part in text.split(|c: char| c == ',' || c == ';' || c.is_whitespace()) {
            let part = part.trim();
            if !part.is_empty() && seen.insert(part.to_lowercase()) {
                out.push(part.to_owned());
            }
        }
    }
    out
}

/// Like [`template::expand`], but a list value is written as its items separated by commas.
fn expand_listing(text: &str, scope: &Value) -> String {
    let mut out = String::with_capacity(text.len());
    for piece in template::pieces(text) {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Placeholder { name, .. } => match template::lookup(scope, name) {
                Some(Value::Array(items)) => {
                    for item in items {
                        out.push_str(&format::plain(item));
                        out.push(',');
                    }
                }
                Some(value) => out.push_str(&format::plain(value)),
                None => {}
            },
        }
    }
    out
}

fn syntax(message: impl Into<String>, column: usize) -> ConditionError {
    ConditionError::Syntax { message: message.into(), column }
}

fn runtime(message: impl Into<String>, column: usize) -> ConditionError {
    ConditionError::Runtime { message: message.into(), column }
}

// ---------------------------------------------------------------------------------------------
// Tokens

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Null,
    True,
    False,
    Num(f64),
    Str(String),
    Ref(String),
    Ident(String),
    LParen,
    RParen,
    Comma,
    Not,
    Minus,
    Cmp(CmpOp),
    And,
    Or,
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    tok: Tok,
    column: usize,
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Null => "`null`".into(),
        Tok::True => "`true`".into(),
        Tok::False => "`false`".into(),
        Tok::Num(_) => "a number".into(),
        Tok::Str(_) => "a string".into(),
        Tok::Ref(name) => format!("`{{{name}}}`"),
        Tok::Ident(name) => format!("`{name}`"),
        Tok::LParen => "`(`".into(),
        Tok::RParen => "`)`".into(),
        Tok::Comma => "`,`".into(),
        Tok::Not => "`!`".into(),
        Tok::Minus => "`-`".into(),
        Tok::Cmp(op) => format!("`{}`", op.symbol()),
        Tok::And => "`&&`".into(),
        Tok::Or => "`||`".into(),
    }
}

/// Splits `text` into tokens; each token's column is its first character's, counted from 1.
fn lex(text: &str) -> Result<Vec<Token>, ConditionError> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&(byte, c)) = chars.get(i) {
        let column = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if tokens.len() >= MAX_TOKENS {
            return Err(ConditionError::TooManyTokens);
        }
        let next = at(i + 1);
        let (tok, width) = match c {
            '(' => (Tok::LParen, 1),
            ')' => (Tok::RParen, 1),
            ',' => (Tok::Comma, 1),
            '-' => (Tok::Minus, 1),
            '!' if next == Some('=') => (Tok::Cmp(CmpOp::Ne), if at(i + 2) == Some('=') { 3 } else { 2 }),
            '!' => (Tok::Not, 1),
            '=' if next == Some('=') => (Tok::Cmp(CmpOp::Eq), if at(i + 2) == Some('=') { 3 } else { 2 }),
            '=' => return Err(syntax("`=` assigns; use `==` to compare", column)),
            '<' if next == Some('=') => (Tok::Cmp(CmpOp::Le), 2),
            '<' => (Tok::Cmp(CmpOp::Lt), 1),
            '>' if next == Some('=') => (Tok::Cmp(CmpOp::Ge), 2),
            '>' => (Tok::Cmp(CmpOp::Gt), 1),
            '&' if next == Some('&') => (Tok::And, 2),
            '&' => return Err(syntax("use `&&` for \"and\"", column)),
            '|' if next == Some('|') => (Tok::Or, 2),
            '|' => return Err(syntax("use `||` for \"or\"", column)),
            '{' => lex_ref(text, byte, column)?,
            '}' => return Err(syntax("unexpected `}`", column)),
            '\'' | '"' => lex_string(&chars, i)?,
            '0'..='9' => lex_number(&chars, i)?,
            c if c.is_alphabetic() || c == '_' || c == '$' => {
                let width = chars
                    .get(i..)
                    .unwrap_or_default()
                    .iter()
                    .take_while(|&&(_, c)| c.is_alphanumeric() || matches!(c, '_' | '$' | '.'))
                    .count();
                let name: String = chars.get(i..i + width).unwrap_or_default().iter().map(|&(_, c)| c).collect();
                let tok = match name.as_str() {
                    "null" => Tok::Null,
                    "true" => Tok::True,
                    "false" => Tok::False,
                    _ => Tok::Ident(name),
                };
                (tok, width)
            }
            other => return Err(syntax(format!("unexpected character `{other}`"), column)),
        };
        tokens.push(Token { tok, column });
        i += width;
    }
    Ok(tokens)
}

/// A `{path}` reference starting at byte `byte`, recognised by the template scanner.
fn lex_ref(text: &str, byte: usize, column: usize) -> Result<(Tok, usize), ConditionError> {
    let rest = text.get(byte..).unwrap_or_default();
    let Some(close) = rest.find('}') else {
        return Err(syntax("`{` is never closed", column));
    };
    let inside = rest.get(..=close).unwrap_or_default();
    match template::pieces(inside).first() {
        Some(Piece::Placeholder { name, start: 0, end }) if *end == inside.len() => {
            Ok((Tok::Ref((*name).to_owned()), inside.chars().count()))
        }
        _ => Err(syntax("braces must hold a path such as `{row.email}`", column)),
    }
}

/// A quoted string starting at character `start`; gives the token and its width in characters.
fn lex_string(chars: &[(usize, char)], start: usize) -> Result<(Tok, usize), ConditionError> {
    let at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let quote = at(start);
    let mut out = String::new();
    let mut i = start + 1;
    loop {
        let Some(c) = at(i) else {
            return Err(syntax("string is never closed", start + 1));
        };
        if Some(c) == quote {
            return Ok((Tok::Str(out), i + 1 - start));
        }
        if c != '\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let escape_column = i + 1;
        let escaped = match at(i + 1) {
            Some('n') => '\n',
            Some('t') => '\t',
            Some('r') => '\r',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('v') => '\u{b}',
            Some('0') => '\0',
            Some(c @ ('\\' | '\'' | '"' | '/')) => c,
            Some('u') => {
                let (c, width) = unicode_escape(chars, i).ok_or_else(|| syntax("bad `\\u` escape", escape_column))?;
                out.push(c);
                i += width;
                continue;
            }
            Some(other) => return Err(syntax(format!("unknown escape `\\{other}`"), escape_column)),
            None => return Err(syntax("string is never closed", start + 1)),
        };
        out.push(escaped);
        i += 2;
    }
}

/// `\uXXXX` at character `i` (the backslash), or a surrogate pair `\uD83D\uDE00`.
fn unicode_escape(chars: &[(usize, char)], i: usize) -> Option<(char, usize)> {
    let hex = |from: usize| -> Option<u32> {
        let digits = chars.get(from..from + 4)?;
        digits.iter().try_fold(0u32, |acc, &(_, c)| Some(acc * 16 + c.to_digit(16)?))
    };
    let at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let first = hex(i + 2)?;
    if (0xD800..0xDC00).contains(&first) && at(i + 6) == Some('\\') && at(i + 7) == Some('u') {
        let second = hex(i + 8)?;
        if (0xDC00..0xE000).contains(&second) {
            let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
            return char::from_u32(code).map(|c| (c, 12));
        }
    }
    char::from_u32(first).map(|c| (c, 6))
}

/// A number starting at character `start`.
fn lex_number(chars: &[(usize, char)], start: usize) -> Result<(Tok, usize), ConditionError> {
    let at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let digits_from = |mut i: usize| {
        while at(i).is_some_and(|c| c.is_ascii_digit()) {
            i += 1;
        }
        i
    };
    let mut end = digits_from(start);
    if at(end) == Some('.') && at(end + 1).is_some_and(|c| c.is_ascii_digit()) {
        end = digits_from(end + 1);
    }
    if matches!(at(end), Some('e' | 'E')) {
        let sign = usize::from(matches!(at(end + 1), Some('+' | '-')));
        let exponent_end = digits_from(end + 1 + sign);
        if exponent_end == end + 1 + sign {
            return Err(syntax("malformed number", start + 1));
        }
        end = exponent_end;
    }
    let text: String = chars.get(start..end).unwrap_or_default().iter().map(|&(_, c)| c).collect();
    match text.parse::<f64>() {
        Ok(n) if n.is_finite() => Ok((Tok::Num(n), end - start)),
        _ => Err(syntax("number is too large", start + 1)),
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Len,
    Lower,
    Upper,
    Trim,
    Contains,
    StartsWith,
    EndsWith,
    IsEmpty,
}

const FUNCTION_NAMES: &str = "len, lower, upper, trim, contains, startsWith, endsWith, isEmpty";

impl Func {
    fn named(name: &str) -> Option<Func> {
        Some(match name {
            "len" => Func::Len,
            "lower" => Func::Lower,
            "upper" => Func::Upper,
            "trim" => Func::Trim,
            "contains" => Func::Contains,
            "startsWith" => Func::StartsWith,
            "endsWith" => Func::EndsWith,
            "isEmpty" => Func::IsEmpty,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Func::Len => "len",
            Func::Lower => "lower",
            Func::Upper => "upper",
            Func::Trim => "trim",
            Func::Contains => "contains",
            Func::StartsWith => "startsWith",
            Func::EndsWith => "endsWith",
            Func::IsEmpty => "isEmpty",
        }
    }

    fn arity(self) -> usize {
        match self {
            Func::Contains | Func::StartsWith | Func::EndsWith => 2,
            _ => 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Lit {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
}

/// A parsed expression; columns point at the operator or function name for error messages.
#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Lit(Lit),
    Ref(String),
    Not(Box<Expr>, usize),
    Neg(Box<Expr>, usize),
    Cmp(CmpOp, Box<Expr>, Box<Expr>, usize),
    /// `a && b && …`, each operand with the column where it starts.
    All(Vec<(Expr, usize)>),
    /// `a || b || …`, each operand with the column where it starts.
    Any(Vec<(Expr, usize)>),
    Call(Func, Vec<Expr>, usize),
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    end_column: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn peek_tok(&self) -> Option<&Tok> {
        self.peek().map(|t| &t.tok)
    }

    fn column(&self) -> usize {
        self.peek().map_or(self.end_column, |t| t.column)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        if token.is_some() {
            self.pos += 1;
        }
        token
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        if self.peek_tok() == Some(tok) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn enter(&mut self, column: usize) -> Result<(), ConditionError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH { Err(ConditionError::TooDeep { column }) } else { Ok(()) }
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn expect(&mut self, tok: &Tok, what: &str) -> Result<(), ConditionError> {
        if self.eat(tok) {
            return Ok(());
        }
        let message = match self.peek_tok() {
            Some(found) => format!("expected {what}, found {}", describe(found)),
            None => format!("expected {what}"),
        };
        Err(syntax(message, self.column()))
    }

    fn parse_or(&mut self) -> Result<Expr, ConditionError> {
        self.parse_chain(&Tok::Or, Parser::parse_and, Expr::Any)
    }

    fn parse_and(&mut self) -> Result<Expr, ConditionError> {
        self.parse_chain(&Tok::And, Parser::parse_comparison, Expr::All)
    }

    fn parse_chain(
        &mut self,
        joiner: &Tok,
        operand: fn(&mut Parser) -> Result<Expr, ConditionError>,
        build: fn(Vec<(Expr, usize)>) -> Expr,
    ) -> Result<Expr, ConditionError> {
        let column = self.column();
        let first = operand(self)?;
        if self.peek_tok() != Some(joiner) {
            return Ok(first);
        }
        let mut items = vec![(first, column)];
        while self.eat(joiner) {
            let column = self.column();
            items.push((operand(self)?, column));
        }
        Ok(build(items))
    }

    fn parse_comparison(&mut self) -> Result<Expr, ConditionError> {
        let left = self.parse_unary()?;
        let Some(Token { tok: Tok::Cmp(op), column }) = self.peek().cloned() else {
            return Ok(left);
        };
        self.pos += 1;
        let right = self.parse_unary()?;
        if let Some(Token { tok: Tok::Cmp(_), column }) = self.peek() {
            return Err(syntax("comparisons cannot be chained; join them with `&&`", *column));
        }
        Ok(Expr::Cmp(op, Box::new(left), Box::new(right), column))
    }

    fn parse_unary(&mut self) -> Result<Expr, ConditionError> {
        let column = self.column();
        let build: fn(Box<Expr>, usize) -> Expr = match self.peek_tok() {
            Some(Tok::Not) => Expr::Not,
            Some(Tok::Minus) => Expr::Neg,
            _ => return self.parse_primary(),
        };
        self.pos += 1;
        self.enter(column)?;
        let inner = self.parse_unary()?;
        self.leave();
        Ok(build(Box::new(inner), column))
    }

    fn parse_primary(&mut self) -> Result<Expr, ConditionError> {
        let column = self.column();
        let Some(token) = self.next() else {
            return Err(syntax("expected a value", column));
        };
        Ok(match token.tok {
            Tok::Null => Expr::Lit(Lit::Null),
            Tok::True => Expr::Lit(Lit::Bool(true)),
            Tok::False => Expr::Lit(Lit::Bool(false)),
            Tok::Num(n) => Expr::Lit(Lit::Num(n)),
            Tok::Str(s) => Expr::Lit(Lit::Str(s)),
            Tok::Ref(path) => Expr::Ref(path),
            Tok::LParen => {
                self.enter(column)?;
                let inner = self.parse_or()?;
                self.expect(&Tok::RParen, "`)`")?;
                self.leave();
                inner
            }
            Tok::Ident(name) if self.peek_tok() == Some(&Tok::LParen) => self.parse_call(&name, column)?,
            Tok::Ident(name) if name == "undefined" => {
                return Err(syntax("use `null` rather than `undefined`", column));
            }
            Tok::Ident(name) => return Err(ConditionError::BareIdentifier { name, column }),
            other => return Err(syntax(format!("expected a value, found {}", describe(&other)), column)),
        })
    }

    fn parse_call(&mut self, name: &str, column: usize) -> Result<Expr, ConditionError> {
        let Some(func) = Func::named(name) else {
            return Err(syntax(format!("unknown function `{name}` (the functions are {FUNCTION_NAMES})"), column));
        };
        self.pos += 1; // the `(`
        self.enter(column)?;
        let mut args = Vec::new();
        if !self.eat(&Tok::RParen) {
            loop {
                args.push(self.parse_or()?);
                if self.eat(&Tok::Comma) {
                    continue;
                }
                self.expect(&Tok::RParen, "`,` or `)`")?;
                break;
            }
        }
        self.leave();
        if args.len() != func.arity() {
            let plural = if func.arity() == 1 { "argument" } else { "arguments" };
            return Err(syntax(
                format!("`{}` takes {} {plural}, got {}", func.name(), func.arity(), args.len()),
                column,
            ));
        }
        Ok(Expr::Call(func, args, column))
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// A value during evaluation, borrowing from the scope or the parsed text where it can.
#[derive(Debug, Clone, PartialEq)]
enum Val<'a> {
    Null,
    Bool(bool),
    Num(f64),
    Str(Cow<'a, str>),
    List(&'a [Value]),
    Object(&'a Map<String, Value>),
}

impl<'a> Val<'a> {
    fn from_json(value: &'a Value) -> Val<'a> {
        match value {
            Value::Null => Val::Null,
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) => n.as_f64().map_or(Val::Null, Val::Num),
            Value::String(s) => Val::Str(Cow::Borrowed(s)),
            Value::Array(items) => Val::List(items),
            Value::Object(map) => Val::Object(map),
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Val::Null => "null",
            Val::Bool(_) => "a boolean",
            Val::Num(_) => "a number",
            Val::Str(_) => "a string",
            Val::List(_) => "a list",
            Val::Object(_) => "an object",
        }
    }
}

fn eval<'a>(expr: &'a Expr, scope: &'a Value) -> Result<Val<'a>, ConditionError> {
    Ok(match expr {
        Expr::Lit(Lit::Null) => Val::Null,
        Expr::Lit(Lit::Bool(b)) => Val::Bool(*b),
        Expr::Lit(Lit::Num(n)) => Val::Num(*n),
        Expr::Lit(Lit::Str(s)) => Val::Str(Cow::Borrowed(s)),
        Expr::Ref(path) => template::lookup(scope, path).map_or(Val::Null, Val::from_json),
        Expr::Not(inner, column) => match eval(inner, scope)? {
            Val::Bool(b) => Val::Bool(!b),
            other => return Err(runtime(format!("`!` needs true or false, got {}", other.type_name()), *column)),
        },
        Expr::Neg(inner, column) => match eval(inner, scope)? {
            Val::Num(n) => Val::Num(-n),
            other => return Err(runtime(format!("`-` needs a number, got {}", other.type_name()), *column)),
        },
        Expr::All(items) => Val::Bool(logical(items, scope, false, "&&")?),
        Expr::Any(items) => Val::Bool(logical(items, scope, true, "||")?),
        Expr::Cmp(op, left, right, column) => {
            let (left, right) = (eval(left, scope)?, eval(right, scope)?);
            Val::Bool(compare(*op, &left, &right, *column)?)
        }
        Expr::Call(func, args, column) => {
            let args = args.iter().map(|arg| eval(arg, scope)).collect::<Result<Vec<_>, _>>()?;
            call(*func, args, *column)?
        }
    })
}

/// `&&` (stops at the first false) or `||` (stops at the first true).
fn logical(items: &[(Expr, usize)], scope: &Value, stop_at: bool, symbol: &str) -> Result<bool, ConditionError> {
    for (item, column) in items {
        match eval(item, scope)? {
            Val::Bool(b) if b == stop_at => return Ok(stop_at),
            Val::Bool(_) => {}
            other => {
                let message = format!("`{symbol}` needs true or false on each side, got {}", other.type_name());
                return Err(runtime(message, *column));
            }
        }
    }
    Ok(!stop_at)
}

fn equal(left: &Val, right: &Val) -> bool {
    match (left, right) {
        (Val::Null, Val::Null) => true,
        (Val::Bool(a), Val::Bool(b)) => a == b,
        (Val::Num(a), Val::Num(b)) => a == b,
        (Val::Str(a), Val::Str(b)) => a == b,
        (Val::List(a), Val::List(b)) => a == b,
        (Val::Object(a), Val::Object(b)) => a == b,
        _ => false,
    }
}

fn compare(op: CmpOp, left: &Val, right: &Val, column: usize) -> Result<bool, ConditionError> {
    let ordering = match (op, left, right) {
        (CmpOp::Eq, ..) => return Ok(equal(left, right)),
        (CmpOp::Ne, ..) => return Ok(!equal(left, right)),
        (_, Val::Num(a), Val::Num(b)) => a.partial_cmp(b),
        (_, Val::Str(a), Val::Str(b)) => Some(a.cmp(b)),
        _ => None,
    };
    let Some(ordering) = ordering else {
        let message = format!(
            "`{}` compares two numbers or two strings, got {} and {}",
            op.symbol(),
            left.type_name(),
            right.type_name()
        );
        return Err(runtime(message, column));
    };
    Ok(match op {
        CmpOp::Lt => ordering.is_lt(),
        CmpOp::Le => ordering.is_le(),
        CmpOp::Gt => ordering.is_gt(),
        _ => ordering.is_ge(),
    })
}

fn call<'a>(func: Func, args: Vec<Val<'a>>, column: usize) -> Result<Val<'a>, ConditionError> {
    let mut args = args.into_iter();
    let first = args.next().unwrap_or(Val::Null);
    let second = args.next().unwrap_or(Val::Null);
    let wrong = |needs: &str, got: String| runtime(format!("`{}` needs {needs}, got {got}", func.name()), column);
    Ok(match func {
        Func::Len => match first {
            Val::Str(s) => Val::Num(s.chars().count() as f64),
            Val::List(items) => Val::Num(items.len() as f64),
            Val::Object(map) => Val::Num(map.len() as f64),
            other => return Err(wrong("a string or a list", other.type_name().into())),
        },
        Func::Lower | Func::Upper | Func::Trim => match first {
            Val::Null => Val::Null,
            Val::Str(s) => Val::Str(match func {
                Func::Lower => Cow::Owned(s.to_lowercase()),
                Func::Upper => Cow::Owned(s.to_uppercase()),
                _ => match s {
                    Cow::Borrowed(s) => Cow::Borrowed(s.trim()),
                    Cow::Owned(s) => Cow::Owned(s.trim().to_owned()),
                },
            }),
            other => return Err(wrong("a string", other.type_name().into())),
        },
        Func::Contains => match (&first, &second) {
            (Val::Null, _) => Val::Bool(false),
            (Val::Str(a), Val::Str(b)) => Val::Bool(a.contains(b.as_ref())),
            (Val::List(items), item) => Val::Bool(items.iter().any(|v| equal(&Val::from_json(v), item))),
            (a, b) => {
                return Err(wrong(
                    "a string and a string, or a list",
                    format!("{} and {}", a.type_name(), b.type_name()),
                ));
            }
        },
        Func::StartsWith | Func::EndsWith => match (&first, &second) {
            (Val::Null, _) => Val::Bool(false),
            (Val::Str(a), Val::Str(b)) if func == Func::StartsWith => Val::Bool(a.starts_with(b.as_ref())),
            (Val::Str(a), Val::Str(b)) => Val::Bool(a.ends_with(b.as_ref())),
            (a, b) => return Err(wrong("two strings", format!("{} and {}", a.type_name(), b.type_name()))),
        },
        Func::IsEmpty => Val::Bool(match first {
            Val::Null => true,
            Val::Str(s) => s.is_empty(),
            Val::List(items) => items.is_empty(),
            Val::Object(map) => map.is_empty(),
            Val::Bool(_) | Val::Num(_) => false,
        }),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn eval_text(text: &str, scope: &Value) -> Result<bool, ConditionError> {
        parse(text)?.evaluate(scope)
    }

    fn holds(text: &str, scope: &Value) -> bool {
        match eval_text(text, scope) {
            Ok(b) => b,
            Err(e) => panic!("`{text}` failed: {e}"),
        }
    }

    fn message(text: &str, scope: &Value) -> String {
        match eval_text(text, scope) {
            Ok(b) => panic!("`{text}` gave {b}, expected an error"),
            Err(e) => e.to_string(),
        }
    }

    const SEED_EXAMPLE: &str = r#"{row.email} != null && {row.email} != """#;

    #[test]
    fn the_seed_example_delivers_only_rows_with_an_email() {
        assert!(holds(SEED_EXAMPLE, &json!({"row": {"email": "a@example.com"}})));
        assert!(!holds(SEED_EXAMPLE, &json!({"row": {"email": ""}})));
        assert!(!holds(SEED_EXAMPLE, &json!({"row": {"email": null}})));
        assert!(!holds(SEED_EXAMPLE, &json!({"row": {}})));
    }

    #[test]
    fn empty_or_whitespace_conditions_always_hold() {
        for text in ["", "   ", "\n\t "] {
            assert!(holds(text, &json!({})));
            assert_eq!(check(text), Ok(()));
        }
    }

    #[test]
    fn missing_paths_are_null() {
        let scope = json!({"customer": {"tier": "gold", "tags": ["a"]}});
        assert!(holds("{customer.missing} == null", &scope));
        assert!(holds("{nothing.at.all} == null", &scope));
        assert!(holds("{customer.tier.deeper} == null", &scope));
        assert!(holds("{customer.tags.5} == null", &scope));
        assert!(holds("{customer.tags.0} == 'a'", &scope));
    }

    #[test]
    fn literals_cover_null_booleans_numbers_and_both_quotes() {
        let scope = json!({});
        assert!(holds("true", &scope));
        assert!(!holds("false", &scope));
        assert!(holds("null == null", &scope));
        assert!(holds("1.5e3 == 1500", &scope));
        assert!(holds("2E-1 == 0.2", &scope));
        assert!(holds(r#"'it\'s' == "it's""#, &scope));
        assert!(holds(r#""a\"b\\c\/" == 'a"b\\c/'"#, &scope));
        assert!(holds(r#""\u00e9" == "é""#, &scope));
        assert!(holds(r#""\uD83D\uDE00" == "😀""#, &scope));
        assert!(holds(r#""a\n" != "a""#, &scope));
    }

    #[test]
    fn equality_compares_same_types_and_different_types_are_never_equal() {
        let scope = json!({"n": 3, "f": 3.0, "s": "3", "b": true, "l": [1, 2], "m": [1, 2], "o": {"k": 1}});
        assert!(holds("{n} == 3", &scope));
        assert!(holds("{n} == {f}", &scope));
        assert!(holds("{s} == '3'", &scope));
        assert!(!holds("{n} == {s}", &scope));
        assert!(holds("{n} != {s}", &scope));
        assert!(!holds("{b} == 1", &scope));
        assert!(holds("{b} == true", &scope));
        assert!(!holds("{s} == null", &scope));
        assert!(holds("{l} == {m}", &scope));
        assert!(!holds("{l} == {o}", &scope));
        assert!(holds("{o} == {o}", &scope));
        assert!(holds("1 === 1 && 1 !== 2", &scope));
    }

    #[test]
    fn ordering_compares_numbers_and_strings() {
        let scope = json!({"amount": 120.5, "name": "Bob"});
        assert!(holds("{amount} > 100", &scope));
        assert!(holds("{amount} >= 120.5", &scope));
        assert!(!holds("{amount} < 120.5", &scope));
        assert!(holds("{amount} <= 120.5", &scope));
        assert!(holds("-1 < 0", &scope));
        assert!(holds("--2 == 2", &scope));
        assert!(holds("{name} < 'Carol'", &scope));
        assert!(holds("{name} >= 'Bob'", &scope));
        assert!(holds("'B' < 'a'", &scope));
    }

    #[test]
    fn ordering_different_types_is_an_error_naming_both() {
        let scope = json!({"amount": "12", "nothing": null});
        assert_eq!(
            message("{amount} > 10", &scope),
            "condition: `>` compares two numbers or two strings, got a string and a number at column 10"
        );
        assert_eq!(
            message("{missing} <= 1", &scope),
            "condition: `<=` compares two numbers or two strings, got null and a number at column 11"
        );
        assert!(message("true < false", &scope).contains("got a boolean and a boolean"));
    }

    #[test]
    fn logic_operators_need_booleans() {
        let scope = json!({"s": "yes", "n": 1});
        assert!(holds("true && true", &scope));
        assert!(!holds("true && false", &scope));
        assert!(holds("false || true", &scope));
        assert!(!holds("false || false", &scope));
        assert!(holds("!false", &scope));
        assert!(holds("!!true", &scope));
        assert!(holds("false || false || true && true", &scope));
        assert!(!holds("(false || true) && false", &scope));
        assert_eq!(
            message("true && {s}", &scope),
            "condition: `&&` needs true or false on each side, got a string at column 9"
        );
        assert_eq!(
            message("{n} || true", &scope),
            "condition: `||` needs true or false on each side, got a number at column 1"
        );
        assert_eq!(message("!{s}", &scope), "condition: `!` needs true or false, got a string at column 1");
        assert_eq!(message("-{s} == 1", &scope), "condition: `-` needs a number, got a string at column 1");
    }

    #[test]
    fn and_and_or_stop_as_soon_as_the_result_is_known() {
        let scope = json!({"x": "text"});
        assert!(!holds("false && {x} > 1", &scope));
        assert!(holds("true || {x} > 1", &scope));
        assert!(!holds("{x} == null && {x} > 1", &scope));
        assert!(holds("{y} == null || {y} > 1", &scope));
        assert!(message("true && {x} > 1", &scope).contains("got a string and a number"));
    }

    #[test]
    fn functions_work_on_strings_and_lists() {
        let scope =
            json!({"row": {"email": "  Ann@Example.COM ", "tags": ["vip", "eu"], "blank": "", "none": null, "o": {}}});
        assert!(holds("lower(trim({row.email})) == 'ann@example.com'", &scope));
        assert!(holds("upper('ab') == 'AB'", &scope));
        assert!(holds("lower({row.missing}) == null", &scope));
        assert!(holds("len({row.tags}) == 2 && len('héllo') == 5 && len({row.o}) == 0", &scope));
        assert!(holds("contains({row.tags}, 'vip') && !contains({row.tags}, 'us')", &scope));
        assert!(holds("contains({row.email}, 'Example')", &scope));
        assert!(!holds("contains({row.missing}, 'x')", &scope));
        assert!(holds("startsWith(trim({row.email}), 'Ann') && endsWith({row.email}, 'COM ')", &scope));
        assert!(!holds("startsWith({row.missing}, 'a')", &scope));
        assert!(holds(
            "isEmpty({row.blank}) && isEmpty({row.none}) && isEmpty({row.missing}) && isEmpty({row.o})",
            &scope
        ));
        assert!(!holds("isEmpty({row.tags}) || isEmpty({row.email}) || isEmpty(0)", &scope));
    }

    #[test]
    fn functions_report_wrong_arguments() {
        let scope = json!({"n": 5});
        assert_eq!(
            message("len({n}) > 1", &scope),
            "condition: `len` needs a string or a list, got a number at column 1"
        );
        assert_eq!(message("lower({n}) == 'x'", &scope), "condition: `lower` needs a string, got a number at column 1");
        assert!(message("startsWith('a', {n})", &scope).contains("needs two strings, got a string and a number"));
        assert!(message("contains('abc', 1)", &scope).contains("got a string and a number"));
        assert_eq!(check("len('a', 'b')"), Err(syntax("`len` takes 1 argument, got 2", 1)));
        assert_eq!(check("true && contains('a')"), Err(syntax("`contains` takes 2 arguments, got 1", 9)));
        assert!(check("size('a') > 1").unwrap_err().to_string().contains("unknown function `size`"));
    }

    #[test]
    fn parse_errors_give_the_column() {
        assert_eq!(check("({row.email} == 1"), Err(syntax("expected `)`", 18)));
        assert_eq!(check("({row.email} == 1 true"), Err(syntax("expected `)`, found `true`", 19)));
        assert_eq!(check("{a} == "), Err(syntax("expected a value", 8)));
        assert_eq!(check("{a} == )"), Err(syntax("expected a value, found `)`", 8)));
        assert_eq!(check("{a} = 1"), Err(syntax("`=` assigns; use `==` to compare", 5)));
        assert_eq!(check("true & false"), Err(syntax("use `&&` for \"and\"", 6)));
        assert_eq!(check("true | false"), Err(syntax("use `||` for \"or\"", 6)));
        assert_eq!(check("'abc"), Err(syntax("string is never closed", 1)));
        assert_eq!(check("'a\\qb'"), Err(syntax("unknown escape `\\q`", 3)));
        assert_eq!(check("'\\u12'"), Err(syntax("bad `\\u` escape", 2)));
        assert_eq!(check("{row.email"), Err(syntax("`{` is never closed", 1)));
        assert_eq!(check("{row email} == 1"), Err(syntax("braces must hold a path such as `{row.email}`", 1)));
        assert_eq!(check("{{a}} == 1"), Err(syntax("braces must hold a path such as `{row.email}`", 1)));
        assert_eq!(check("true }"), Err(syntax("unexpected `}`", 6)));
        assert_eq!(check("true false"), Err(syntax("unexpected `false`", 6)));
        assert_eq!(check("1 < 2 < 3"), Err(syntax("comparisons cannot be chained; join them with `&&`", 7)));
        assert_eq!(check("1e"), Err(syntax("malformed number", 1)));
        assert_eq!(check("1e999 > 0"), Err(syntax("number is too large", 1)));
        assert_eq!(check("é == 1"), Err(ConditionError::BareIdentifier { name: "é".into(), column: 1 }));
        assert_eq!(check("1 # 1"), Err(syntax("unexpected character `#`", 3)));
        assert_eq!(check("{a} == undefined"), Err(syntax("use `null` rather than `undefined`", 8)));
        assert_eq!(
            check("(((((((((((((((((x").unwrap_err().to_string(),
            "condition: `x` at column 18 is not looked up in the data; wrap the path in braces: `{x}`"
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        assert_eq!(check("'héé' == 'é' )"), Err(syntax("unexpected `)`", 14)));
    }

    #[test]
    fn a_bare_identifier_asks_for_braces() {
        let error = check("row.email != null").unwrap_err();
        assert_eq!(error, ConditionError::BareIdentifier { name: "row.email".into(), column: 1 });
        assert_eq!(
            error.to_string(),
            "condition: `row.email` at column 1 is not looked up in the data; wrap the path in braces: `{row.email}`"
        );
    }

    #[test]
    fn a_non_boolean_result_fails_the_delivery() {
        let scope = json!({"row": {"email": "a@b.c", "n": 1, "l": []}});
        assert_eq!(message("{row.email}", &scope), "condition must evaluate to true or false, got a string");
        assert_eq!(message("{row.n}", &scope), "condition must evaluate to true or false, got a number");
        assert_eq!(message("{row.missing}", &scope), "condition must evaluate to true or false, got null");
        assert_eq!(message("{row.l}", &scope), "condition must evaluate to true or false, got a list");
        assert_eq!(message("{row}", &scope), "condition must evaluate to true or false, got an object");
        assert!(holds("{row.flag} == null", &scope));
    }

    #[test]
    fn limits_on_length_tokens_and_depth_are_named() {
        let long = format!("'{}' == ''", "a".repeat(MAX_CHARS));
        assert_eq!(check(&long), Err(ConditionError::TooLong { chars: MAX_CHARS + 8 }));
        assert!(check(&long).unwrap_err().to_string().contains("too long"));

        let many = vec!["true"; MAX_TOKENS / 2 + 1].join("&&");
        assert_eq!(check(&many), Err(ConditionError::TooManyTokens));
        let fits = vec!["true"; MAX_TOKENS / 2].join("&&");
        assert!(holds(&fits, &json!({})));

        let deep = format!("{}true{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
        assert_eq!(check(&deep), Err(ConditionError::TooDeep { column: MAX_DEPTH + 1 }));
        assert!(check(&deep).unwrap_err().to_string().contains("nested too deeply"));
        let nested = format!("{}true{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(holds(&nested, &json!({})));
        assert_eq!(check(&"!".repeat(MAX_DEPTH + 1)), Err(ConditionError::TooDeep { column: MAX_DEPTH + 1 }));
        assert_eq!(check(&format!("{}1", "-".repeat(40))), Err(ConditionError::TooDeep { column: MAX_DEPTH + 1 }));
        let calls = format!("{}'a'{} == 'a'", "lower(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
        assert!(matches!(check(&calls), Err(ConditionError::TooDeep { .. })));
    }

    #[test]
    fn recipients_are_split_trimmed_and_deduplicated() {
        let scope = json!({"customers": {"email": "Ann@Example.com", "cc": "x@y.z; ann@example.com,  b@c.d"}});
        let fields = vec![
            "{customers.email}".to_owned(),
            "{customers.cc}".to_owned(),
            " finance@corp.com , FINANCE@corp.com\tops@corp.com ".to_owned(),
        ];
        assert_eq!(
            recipients(&fields, &scope),
            vec!["Ann@Example.com", "x@y.z", "b@c.d", "finance@corp.com", "ops@corp.com"]
        );
    }

    #[test]
    fn an_empty_or_missing_email_gives_no_recipient() {
        let fields = vec!["{customers.email}".to_owned()];
        assert!(recipients(&fields, &json!({"customers": {"email": ""}})).is_empty());
        assert!(recipients(&fields, &json!({"customers": {}})).is_empty());
        assert!(recipients(&[" ; , ".to_owned()], &json!({})).is_empty());
    }

    #[test]
    fn a_list_of_addresses_gives_each_address() {
        let scope = json!({"row": {"emails": ["a@x.io", "b@x.io", "A@X.io"]}});
        assert_eq!(recipients(&["{row.emails}".to_owned()], &scope), vec!["a@x.io", "b@x.io"]);
    }

    /// A small deterministic generator (xorshift64*), so the fuzz test needs no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    #[test]
    fn random_input_never_panics() {
        let scope = json!({"row": {"email": "a@b.c", "n": 3, "tags": ["x", 1, null], "o": {"k": true}}, "x": "s"});
        let pieces = [
            "{row.email}",
            "{row.n}",
            "{row.tags}",
            "{row.o}",
            "{x}",
            "{missing}",
            "{",
            "}",
            "{{",
            "(",
            ")",
            ",",
            "!",
            "-",
            "==",
            "!=",
            "===",
            "<",
            "<=",
            ">",
            ">=",
            "&&",
            "||",
            "&",
            "|",
            "=",
            "null",
            "true",
            "false",
            "0",
            "1.5",
            "1e3",
            "1e",
            "'a'",
            "\"b\"",
            "'",
            "\"",
            "\\",
            "\\u",
            "\\uD83D",
            "len",
            "lower",
            "upper",
            "trim",
            "contains",
            "startsWith",
            "endsWith",
            "isEmpty",
            "row.email",
            "undefined",
            " ",
            "é",
            "😀",
            "\u{0}",
            "\n",
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..20_000 {
            let text: String = (0..rng.below(24)).map(|_| pieces[rng.below(pieces.len())]).collect();
            if let Ok(condition) = parse(&text) {
                let _ = condition.evaluate(&scope);
            }
        }
        for _ in 0..5_000 {
            let bytes: Vec<u8> = (0..rng.below(64)).map(|_| (rng.next() & 0xFF) as u8).collect();
            let text = String::from_utf8_lossy(&bytes);
            if let Ok(condition) = parse(&text) {
                let _ = condition.evaluate(&scope);
            }
            let _ = recipients(&[text.into_owned()], &scope);
        }
        let ascii: Vec<char> = (b' '..=b'~').map(char::from).collect();
        for _ in 0..10_000 {
            let text: String = (0..rng.below(40)).map(|_| ascii[rng.below(ascii.len())]).collect();
            if let Ok(condition) = parse(&text) {
                let _ = condition.evaluate(&scope);
            }
        }
    }
}
