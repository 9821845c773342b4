//! Typed configuration values and the reference's coercion rules: the type
//! of a key is the type of its built-in default (strings otherwise).

use std::fmt;

/// The type a key is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Bool,
    Int,
    List,
}

/// A configuration value after coercion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Str(String),
    Bool(bool),
    Int(i64),
    List(Vec<String>),
}

/// The literal the reference uses to drop a key from a profile.
pub const NOT_SET: &str = "not-set";

impl Value {
    pub fn kind(&self) -> Kind {
        match self {
            Value::Str(_) => Kind::Str,
            Value::Bool(_) => Kind::Bool,
            Value::Int(_) => Kind::Int,
            Value::List(_) => Kind::List,
        }
    }

    pub fn is_not_set(&self) -> bool {
        matches!(self, Value::Str(s) if s == NOT_SET)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[String]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// Truthiness as Python sees it (used where the reference writes `if value:`).
    pub fn truthy(&self) -> bool {
        match self {
            Value::Str(s) => !s.is_empty(),
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::List(l) => !l.is_empty(),
        }
    }
}

impl fmt::Display for Value {
    /// The plain protocol's rendering: booleans as 1/0, lists joined by ','.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::Bool(b) => f.write_str(if *b { "1" } else { "0" }),
            Value::Int(i) => write!(f, "{i}"),
            Value::List(l) => f.write_str(&l.join(",")),
        }
    }
}

/// A value that does not read as its key's type; the text says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

/// Read `raw` as `kind`. Scalars may be `not-set` (kept as that string).
pub fn coerce(kind: Kind, raw: &str) -> Result<Value, InvalidValue> {
    match kind {
        Kind::Str => Ok(Value::Str(raw.to_string())),
        Kind::Bool => {
            if raw == NOT_SET {
                return Ok(Value::Str(NOT_SET.into()));
            }
            parse_bool(raw).map(Value::Bool).ok_or_else(|| {
                InvalidValue(format!(
                    "not a boolean: {raw:?} (use true/false, yes/no, on/off, 1/0)"
                ))
            })
        }
        Kind::Int => {
            if raw == NOT_SET {
                return Ok(Value::Str(NOT_SET.into()));
            }
            parse_int(raw)
                .map(Value::Int)
                .ok_or_else(|| InvalidValue(format!("not an integer: {raw:?}")))
        }
        Kind::List => parse_list(raw).map(Value::List),
    }
}

/// configparser's boolean words, case-insensitive.
pub fn parse_bool(raw: &str) -> Option<bool> {
    match raw.to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

/// Python's `int()` on a decimal string: sign, digits, single underscores between digits.
pub fn parse_int(raw: &str) -> Option<i64> {
    let s = raw.trim();
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    let mut clean = String::with_capacity(s.len());
    if neg {
        clean.push('-');
    }
    clean.extend(digits.chars().filter(|c| *c != '_'));
    clean.parse().ok()
}

/// A list: `[ 'a', "b" ]` (a Python list literal of strings), `a, b`, or one item.
pub fn parse_list(raw: &str) -> Result<Vec<String>, InvalidValue> {
    let v = raw.trim();
    if v.starts_with('[') && v.ends_with(']') {
        return parse_list_literal(&v[1..v.len() - 1])
            .ok_or_else(|| InvalidValue(format!("not a list of quoted strings: {v:?}")));
    }
    if v.contains(',') {
        Ok(v.split(',').map(|s| s.trim().to_string()).collect())
    } else {
        Ok(vec![v.to_string()])
    }
}

fn parse_list_literal(inner: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = inner.trim().chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(q) = chars.next() else {
            return Some(out);
        };
        if q != '\'' && q != '"' {
            return None;
        }
        let mut item = String::new();
        loop {
            match chars.next()? {
                '\\' => item.push(chars.next()?),
                c if c == q => break,
                c => item.push(c),
            }
        }
        out.push(item);
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => return Some(out),
            Some(',') => continue,
            Some(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn booleans_and_ints() {
        assert_eq!(coerce(Kind::Bool, "Yes"), Ok(Value::Bool(true)));
        assert_eq!(coerce(Kind::Bool, "off"), Ok(Value::Bool(false)));
        assert!(coerce(Kind::Bool, "maybe").is_err());
        assert_eq!(coerce(Kind::Int, "1_000"), Ok(Value::Int(1000)));
        assert_eq!(coerce(Kind::Int, "-5"), Ok(Value::Int(-5)));
        assert!(coerce(Kind::Int, "5x").is_err());
        assert!(coerce(Kind::Int, "1__0").is_err());
        assert_eq!(
            coerce(Kind::Int, "not-set"),
            Ok(Value::Str("not-set".into()))
        );
    }

    #[test]
    fn lists() {
        assert_eq!(parse_list("a, b ,c").unwrap(), vec!["a", "b", "c"]);
        assert_eq!(parse_list("single").unwrap(), vec!["single"]);
        assert_eq!(parse_list("").unwrap(), vec![""]);
        assert_eq!(parse_list("['a', \"b c\"]").unwrap(), vec!["a", "b c"]);
        assert_eq!(parse_list("[]").unwrap(), Vec::<String>::new());
        assert!(parse_list("[a]").is_err());
    }

    #[test]
    fn plain_rendering() {
        assert_eq!(Value::Bool(true).to_string(), "1");
        assert_eq!(Value::List(vec!["a".into(), "b".into()]).to_string(), "a,b");
    }

    proptest! {
        #[test]
        fn int_roundtrip(i in any::<i64>()) {
            prop_assert_eq!(parse_int(&i.to_string()), Some(i));
        }

        #[test]
        fn comma_lists_roundtrip(items in proptest::collection::vec("[a-z0-9.()-]{1,10}", 2..6)) {
            let joined = items.join(", ");
            prop_assert_eq!(parse_list(&joined).unwrap(), items);
        }

        #[test]
        fn coercion_never_panics(kind in prop_oneof![Just(Kind::Str), Just(Kind::Bool), Just(Kind::Int), Just(Kind::List)], raw in ".{0,40}") {
            let _ = coerce(kind, &raw);
        }
    }
}
