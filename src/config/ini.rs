//! INI reader with the semantics of Python's `configparser.RawConfigParser`
//! as the reference broker configures it (case-sensitive keys, `=` or `:`
//! delimiters, full-line `#`/`;` comments, indented continuation lines,
//! strict duplicate detection, no interpolation).
//!
//! Unlike the reference, every error names the file, the line and the key.

use super::ConfigError;

/// One `key = value` entry with the line it started on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// One `[section]` with its entries in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub line: usize,
    pub entries: Vec<Entry>,
}

impl Section {
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

/// A parsed INI document: the `[DEFAULT]` section apart, the others in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IniDocument {
    pub defaults: Vec<Entry>,
    pub sections: Vec<Section>,
}

impl IniDocument {
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }
}

const DEFAULT_SECTION: &str = "DEFAULT";

struct Pending {
    /// Index into the current section's entries (or defaults) of the value being built.
    idx: usize,
    lines: Vec<String>,
}

/// Parse `text` (the contents of `file`, used for error messages).
pub fn parse(file: &str, text: &str) -> Result<IniDocument, ConfigError> {
    let mut doc = IniDocument::default();
    // None: before any section; Some(None): DEFAULT; Some(Some(i)): sections[i].
    let mut current: Option<Option<usize>> = None;
    let mut pending: Option<Pending> = None;
    let mut indent_level = usize::MAX;
    let err = |line: usize, key: Option<&str>, message: String| {
        let e = ConfigError::at(file, line, message);
        match key {
            Some(k) => e.key(k, None),
            None => e,
        }
    };

    fn entries(doc: &mut IniDocument, cur: Option<usize>) -> &mut Vec<Entry> {
        match cur {
            None => &mut doc.defaults,
            Some(i) => &mut doc.sections[i].entries,
        }
    }
    fn finish(doc: &mut IniDocument, cur: Option<Option<usize>>, p: Option<Pending>) {
        if let (Some(cur), Some(p)) = (cur, p) {
            let v = p.lines.join("\n");
            entries(doc, cur)[p.idx].value = v.trim_end().to_string();
        }
    }

    for (n, raw) in text.split('\n').enumerate() {
        let lineno = n + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let stripped = line.trim();
        let is_comment = stripped.starts_with('#') || stripped.starts_with(';');
        if stripped.is_empty() || is_comment {
            // Blank lines (not comments) belong to a multi-line value in progress.
            if !is_comment {
                if let Some(p) = pending.as_mut() {
                    p.lines.push(String::new());
                }
            }
            continue;
        }
        let cur_indent = line.len() - line.trim_start().len();
        if pending.is_some() && current.is_some() && cur_indent > indent_level {
            if let Some(p) = pending.as_mut() {
                p.lines.push(stripped.to_string());
            }
            continue;
        }
        indent_level = cur_indent;
        if let Some(header) = section_header(stripped) {
            finish(&mut doc, current, pending.take());
            if header == DEFAULT_SECTION {
                current = Some(None);
            } else {
                if doc.sections.iter().any(|s| s.name == header) {
                    return Err(err(
                        lineno,
                        None,
                        format!("section '{header}' already exists"),
                    ));
                }
                doc.sections.push(Section {
                    name: header.to_string(),
                    line: lineno,
                    entries: Vec::new(),
                });
                current = Some(Some(doc.sections.len() - 1));
            }
            continue;
        }
        let Some(cur) = current else {
            return Err(err(
                lineno,
                None,
                "file contains no section headers before this line".into(),
            ));
        };
        let Some((key, value)) = split_option(stripped) else {
            return Err(err(
                lineno,
                None,
                format!("line is neither a [section] nor a key=value pair: {stripped:?}"),
            ));
        };
        finish(&mut doc, current, pending.take());
        let list = entries(&mut doc, cur);
        if list.iter().any(|e| e.key == key) {
            return Err(err(
                lineno,
                Some(key),
                "option given twice in the same section".into(),
            ));
        }
        list.push(Entry {
            key: key.to_string(),
            value: String::new(),
            line: lineno,
        });
        pending = Some(Pending {
            idx: list.len() - 1,
            lines: vec![value.to_string()],
        });
    }
    finish(&mut doc, current, pending.take());
    Ok(doc)
}

/// `[name]` at the start of a line; like configparser, the header runs to
/// the last `]` and anything after it is ignored.
fn section_header(s: &str) -> Option<&str> {
    let rest = s.strip_prefix('[')?;
    let end = rest.rfind(']')?;
    if end == 0 {
        return None;
    }
    Some(&rest[..end])
}

/// `key = value` or `key: value`, split at the first delimiter.
fn split_option(s: &str) -> Option<(&str, &str)> {
    let pos = s.find(['=', ':'])?;
    let key = s[..pos].trim_end();
    if key.is_empty() {
        return None;
    }
    Some((key, s[pos + 1..].trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_defaults_and_continuations() {
        let doc = parse(
            "t.conf",
            "# c\n[DEFAULT]\nA = 1\n[s1]\nkey: v\nmulti = a\n  b\n\n  c\n; x\nnext=2\n[s2]\n",
        )
        .unwrap();
        assert_eq!(doc.defaults[0].key, "A");
        assert_eq!(doc.sections.len(), 2);
        let s1 = &doc.sections[0];
        assert_eq!(s1.get("key").unwrap().value, "v");
        assert_eq!(s1.get("multi").unwrap().value, "a\nb\n\nc");
        assert_eq!(s1.get("next").unwrap().value, "2");
        assert_eq!(s1.get("next").unwrap().line, 11);
    }

    #[test]
    fn header_takes_last_bracket() {
        let doc = parse("t", "[a]b]\nk=v\n").unwrap();
        assert_eq!(doc.sections[0].name, "a]b");
    }

    #[test]
    fn errors_name_line_and_key() {
        let e = parse("p.conf", "[a]\nk=1\nk=2\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("k")));
        assert!(e.to_string().starts_with("p.conf:3: key 'k'"));
        let e = parse("p.conf", "k=1\n").unwrap_err();
        assert_eq!(e.line, Some(1));
        let e = parse("p.conf", "[a]\n[a]\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        let e = parse("p.conf", "[a]\nnovalue\n").unwrap_err();
        assert_eq!(e.line, Some(2));
    }

    #[test]
    fn case_is_kept_and_value_split_at_first_delimiter() {
        let doc = parse("t", "[S]\nKey = a=b:c\nurl: http://x\n").unwrap();
        assert_eq!(doc.sections[0].entries[0].key, "Key");
        assert_eq!(doc.sections[0].entries[0].value, "a=b:c");
        assert_eq!(doc.sections[0].entries[1].value, "http://x");
    }
}
