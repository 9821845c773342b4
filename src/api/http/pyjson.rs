//! JSON text exactly as Python's `json.dumps(obj, indent=4, sort_keys=True)`
//! writes it (the reference's JSON frontend): ASCII only with `\uXXXX`
//! escapes, four-space indents, `", "`-free separators at line ends.

use crate::config::value::Value;

/// A JSON value with object keys kept sorted.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Str(String),
    Bool(bool),
    Int(i64),
    List(Vec<Json>),
    Object(Vec<(String, Json)>),
    /// Text already laid out for its place in the document, pasted verbatim.
    Raw(String),
}

impl Json {
    /// An object from pairs; keys are sorted as Python sorts strings (by code point).
    pub fn object(mut pairs: Vec<(String, Json)>) -> Json {
        pairs.sort_by(|a, b| a.0.chars().cmp(b.0.chars()));
        Json::Object(pairs)
    }

    pub fn str(s: impl Into<String>) -> Json {
        Json::Str(s.into())
    }

    /// Text with four-space indents (the JSON frontend's layout).
    pub fn to_text(&self) -> String {
        self.to_text_indented(4)
    }

    /// Text with `width`-space indents.
    pub fn to_text_indented(&self, width: usize) -> String {
        self.to_text_at(0, width)
    }

    /// Text laid out as if nested `level` deep (for pasting into a larger document).
    pub fn to_text_at(&self, level: usize, width: usize) -> String {
        let mut out = String::with_capacity(1024);
        self.write(&mut out, level, width);
        out
    }

    fn write(&self, out: &mut String, level: usize, width: usize) {
        match self {
            Json::Str(s) => write_str(out, s),
            Json::Raw(s) => out.push_str(s),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(i) => out.push_str(&i.to_string()),
            Json::List(items) if items.is_empty() => out.push_str("[]"),
            Json::Object(items) if items.is_empty() => out.push_str("{}"),
            Json::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    out.push_str(if i == 0 { "\n" } else { ",\n" });
                    indent(out, level + 1, width);
                    item.write(out, level + 1, width);
                }
                out.push('\n');
                indent(out, level, width);
                out.push(']');
            }
            Json::Object(items) => {
                out.push('{');
                for (i, (k, v)) in items.iter().enumerate() {
                    out.push_str(if i == 0 { "\n" } else { ",\n" });
                    indent(out, level + 1, width);
                    write_str(out, k);
                    out.push_str(": ");
                    v.write(out, level + 1, width);
                }
                out.push('\n');
                indent(out, level, width);
                out.push('}');
            }
        }
    }
}

impl From<&Value> for Json {
    fn from(v: &Value) -> Self {
        match v {
            Value::Str(s) => Json::Str(s.clone()),
            Value::Bool(b) => Json::Bool(*b),
            Value::Int(i) => Json::Int(*i),
            Value::List(l) => Json::List(l.iter().map(|s| Json::Str(s.clone())).collect()),
        }
    }
}

fn indent(out: &mut String, level: usize, width: usize) {
    for _ in 0..level * width {
        out.push(' ');
    }
}

/// A JSON string literal as Python writes it.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{:04x}", u));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_python_layout() {
        let j = Json::object(vec![
            ("task".into(), Json::str("x")),
            ("b".into(), Json::List(vec![Json::Int(1), Json::Bool(true)])),
            ("a".into(), Json::object(vec![])),
            ("e".into(), Json::List(vec![])),
        ]);
        assert_eq!(
            j.to_text(),
            "{\n    \"a\": {},\n    \"b\": [\n        1,\n        true\n    ],\n    \"e\": [],\n    \"task\": \"x\"\n}"
        );
    }

    #[test]
    fn escapes_like_python() {
        assert_eq!(
            Json::str("é\u{1F600}\"\\\u{1}\u{7f}").to_text(),
            "\"\\u00e9\\ud83d\\ude00\\\"\\\\\\u0001\\u007f\""
        );
    }
}
