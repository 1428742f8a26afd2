//! YAML reading and writing with one set of rules for the whole project.
//!
//! Reading uses serde-saphyr with strict booleans (only `true`/`false` are
//! booleans, so `on`, `yes` and `y` stay strings) and legacy octal numbers
//! (`0644` is 420, as `kubectl` reads a `defaultMode`). `~` and `null` are
//! null. Writing quotes every string another YAML reader could take for a
//! number, boolean or null, so output round-trips through any parser.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::diagnostic::Diagnostic;

/// One YAML document cut out of a multi-document file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawDocument<'a> {
    /// 1-based position among the file's non-empty documents.
    pub index: usize,
    /// 1-based line of the file on which the document's text starts.
    pub start_line: usize,
    /// The document's text, without its `---` separator.
    pub text: &'a str,
}

/// The parser options every reader in Flotilla uses.
pub fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        strict_booleans: true,
        legacy_octal_numbers: true,
    }
}

/// Cuts a file into its documents at `---` and `...` marker lines. Documents
/// holding only blank lines and comments are dropped and not counted.
pub fn split_documents(text: &str) -> Vec<RawDocument<'_>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut docs = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1usize;
    let mut offset = 0usize;
    fn push<'t>(body: &'t str, line: usize, docs: &mut Vec<RawDocument<'t>>) {
        if !is_blank(body) {
            docs.push(RawDocument {
                index: docs.len() + 1,
                start_line: line,
                text: body,
            });
        }
    }
    for (line_no, line) in (1usize..).zip(text.split_inclusive('\n')) {
        let content = line.trim_end_matches(['\n', '\r']);
        let marker = if content == "---" || content == "..." {
            Some(line.len())
        } else if content.starts_with("--- ") || content.starts_with("---\t") {
            // `--- value` starts a document on the marker line itself.
            Some(3)
        } else {
            None
        };
        if let Some(skip) = marker {
            push(&text[start..offset], start_line, &mut docs);
            start = offset + skip;
            start_line = if skip == line.len() {
                line_no + 1
            } else {
                line_no
            };
        }
        offset += line.len();
    }
    push(&text[start..], start_line, &mut docs);
    docs
}

fn is_blank(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t.starts_with('%')
    })
}

/// Parses one document into `T`, turning a parser error into a diagnostic
/// that names `file`, the document and the line and column in the file.
pub fn parse<T: DeserializeOwned>(file: &str, doc: &RawDocument<'_>) -> Result<T, Diagnostic> {
    serde_saphyr::from_str_with_options(doc.text, options())
        .map_err(|e| diagnostic_from(file, doc, &e))
}

/// Parses a whole single-document file (like `fleet.yaml`) into `T`.
pub fn parse_file<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, Diagnostic> {
    let docs = split_documents(text);
    match docs.as_slice() {
        [] => Err(Diagnostic::new(file, "the file holds no YAML document")),
        [doc] => parse(file, doc),
        [_, second, ..] => Err(Diagnostic::new(
            file,
            "expected exactly one YAML document, found more",
        )
        .document(second.index)
        .at(second.start_line, None)),
    }
}

/// Converts a serde-saphyr error into a diagnostic positioned in the file.
pub fn diagnostic_from(file: &str, doc: &RawDocument<'_>, err: &serde_saphyr::Error) -> Diagnostic {
    let message = strip_location(&err.without_snippet().to_string());
    let d = Diagnostic::new(file, message).document(doc.index);
    match err.location() {
        Some(loc) if loc.line() > 0 => d.at(
            doc.start_line + loc.line() as usize - 1,
            Some(loc.column() as usize),
        ),
        _ => d.at(doc.start_line, None),
    }
}

/// Drops the `error: line N column M: ` prefix and the ` at line N, column M`
/// suffix serde-saphyr puts on messages: they count lines from the start of
/// the document, and the diagnostic carries the position in the file itself.
fn strip_location(message: &str) -> String {
    let mut m = message.strip_prefix("error: ").unwrap_or(message).trim();
    if let Some(rest) = m.strip_prefix("line ")
        && let Some(pos) = rest.find(": ")
        && rest[..pos].contains("column")
    {
        m = rest[pos + 2..].trim();
    }
    if let Some(pos) = m.rfind(" at line ")
        && m[pos..].contains(", column ")
    {
        m = &m[..pos];
    }
    m.to_string()
}

/// Serialises a value as a YAML document (no leading `---`).
pub fn to_string<T: Serialize>(value: &T) -> String {
    serde_saphyr::to_string(value).expect("serialising a JSON-like value as YAML cannot fail")
}

/// Appends `value` as a YAML document (no leading `---`) to `out`: byte for
/// byte what [`to_string`] writes, faster. Maps, lists, plain keys, integers,
/// booleans and short single-line strings are written here (a string that is
/// not plainly safe is quoted by serde-saphyr itself); any value holding
/// anything else (floats, empty maps or lists, lists of lists, long or
/// multi-line strings, keys needing quotes, null) is written by
/// serde-saphyr whole, so the output never depends on which path wrote it.
pub fn write_value(out: &mut String, value: &serde_json::Value) {
    let start = out.len();
    let written = match value {
        serde_json::Value::Object(map) if !map.is_empty() => fast::map(out, map, 0, false),
        _ => Err(fast::Unsupported),
    };
    if written.is_err() {
        out.truncate(start);
        out.push_str(&to_string(value));
    }
}

/// [`write_value`] into a new string.
pub fn value_to_string(value: &serde_json::Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

/// The emitter of [`write_value`]: serde-saphyr's block layout (two spaces a
/// level, a list's dashes at its key's column, a map in a list starting on
/// the dash's line) for the values it supports.
mod fast {
    use serde_json::{Map, Value};

    /// A value this emitter leaves to serde-saphyr.
    pub(super) struct Unsupported;

    type Result = std::result::Result<(), Unsupported>;

    /// The longest string written here: serde-saphyr folds longer ones.
    const MAX_STRING: usize = 80;

    fn indent(out: &mut String, column: usize) {
        for _ in 0..column {
            out.push(' ');
        }
    }

    /// A map's entries, keys at `column`; `inline` when the first key goes
    /// on the current line (after a list's dash).
    pub(super) fn map(
        out: &mut String,
        map: &Map<String, Value>,
        column: usize,
        inline: bool,
    ) -> Result {
        for (i, (key, value)) in map.iter().enumerate() {
            if i > 0 || !inline {
                indent(out, column);
            }
            plain_key(out, key)?;
            out.push(':');
            match value {
                Value::Object(m) if !m.is_empty() => {
                    out.push('\n');
                    self::map(out, m, column + 2, false)?;
                }
                Value::Array(items) if !items.is_empty() => {
                    out.push('\n');
                    list(out, items, column)?;
                }
                Value::String(s) if s.contains('\n') => {
                    out.push(' ');
                    literal(out, s, column + 2)?;
                }
                _ => {
                    out.push(' ');
                    scalar(out, value)?;
                    out.push('\n');
                }
            }
        }
        Ok(())
    }

    /// A multi-line string as a literal block (`|`, `|-` or `|+` by its
    /// trailing newlines), lines at `column`; empty lines stay empty.
    fn literal(out: &mut String, s: &str, column: usize) -> Result {
        let content = s.trim_end_matches('\n');
        let safe = s.chars().all(|c| {
            c == '\n'
                || (!matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}')
                    && matches!(c as u32, 0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFFFD | 0x10000..))
        });
        // A first line starting with a space needs an indentation
        // indicator: left to serde-saphyr, as is content it would quote.
        if !safe || content.is_empty() || content.starts_with([' ', '\n']) {
            return Err(Unsupported);
        }
        out.push('|');
        match s.len() - content.len() {
            0 => out.push('-'),
            1 => {}
            _ => out.push('+'),
        }
        out.push('\n');
        for line in content.split('\n') {
            if !line.is_empty() {
                indent(out, column);
                out.push_str(line);
            }
            out.push('\n');
        }
        for _ in 1..(s.len() - content.len()).max(1) {
            out.push('\n');
        }
        Ok(())
    }

    /// A list's items, dashes at `column`.
    fn list(out: &mut String, items: &[Value], column: usize) -> Result {
        for item in items {
            indent(out, column);
            out.push_str("- ");
            match item {
                Value::Object(m) if !m.is_empty() => map(out, m, column + 2, true)?,
                Value::Array(_) | Value::Object(_) => return Err(Unsupported),
                _ => {
                    scalar(out, item)?;
                    out.push('\n');
                }
            }
        }
        Ok(())
    }

    fn scalar(out: &mut String, value: &Value) -> Result {
        match value {
            Value::Bool(true) => out.push_str("true"),
            Value::Bool(false) => out.push_str("false"),
            Value::Number(n) if n.is_i64() || n.is_u64() => {
                use std::fmt::Write;
                let _ = write!(out, "{n}");
            }
            Value::String(s) => string(out, s)?,
            _ => return Err(Unsupported),
        }
        Ok(())
    }

    /// A short single-line string: plain when it plainly is, else as
    /// serde-saphyr writes it alone (quoted or plain; never a block).
    fn string(out: &mut String, s: &str) -> Result {
        if s.is_empty() || s.len() > MAX_STRING || s.contains(['\n', '\r']) {
            return Err(Unsupported);
        }
        if is_plain_value(s) {
            out.push_str(s);
            return Ok(());
        }
        let text = super::to_string(&s);
        match text.strip_suffix('\n') {
            Some(line) if !line.contains('\n') && !line.starts_with(['|', '>']) => {
                out.push_str(line);
                Ok(())
            }
            _ => Err(Unsupported),
        }
    }

    /// Keys no YAML reader takes for anything but a string, in a form
    /// serde-saphyr writes plain: a letter, then letters, digits and
    /// `. _ / -`, and none of YAML 1.1's boolean, null or float words.
    fn is_plain_key(s: &str) -> bool {
        let b = s.as_bytes();
        b.first().is_some_and(u8::is_ascii_alphabetic)
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'/' | b'-'))
            && !is_reserved_word(s)
    }

    /// Values written plain: a letter, `/`, or `-` before a letter or `-`
    /// (never a number, a document marker or an indicator), then letters,
    /// digits and `. _ / - : = , % + @`, not ending in `:`; none of the
    /// reserved words.
    fn is_plain_value(s: &str) -> bool {
        let b = s.as_bytes();
        let head = match b {
            [c, ..] if c.is_ascii_alphabetic() || *c == b'/' => true,
            [b'-', b'-', b'-', ..] => false,
            [b'-', c, ..] => c.is_ascii_alphabetic() || *c == b'-',
            _ => false,
        };
        head && b.iter().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    b'.' | b'_' | b'/' | b'-' | b':' | b'=' | b',' | b'%' | b'+' | b'@'
                )
        }) && b.last() != Some(&b':')
            && !is_reserved_word(s)
    }

    fn is_reserved_word(s: &str) -> bool {
        s.len() <= 5
            && [
                "y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf",
            ]
            .iter()
            .any(|w| s.eq_ignore_ascii_case(w))
    }

    fn plain_key(out: &mut String, key: &str) -> Result {
        if is_plain_key(key) {
            out.push_str(key);
            Ok(())
        } else {
            Err(Unsupported)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn check(input: &str, expected: Value) {
        let docs = split_documents(input);
        assert_eq!(docs.len(), 1, "{input:?}");
        let v: Value = parse("t.yaml", &docs[0]).unwrap();
        assert_eq!(v, expected, "{input:?}");
    }

    #[test]
    fn scalars_follow_strict_booleans_and_kubectl_octal() {
        check("a: on", json!({"a": "on"}));
        check("a: yes", json!({"a": "yes"}));
        check("a: y", json!({"a": "y"}));
        check("a: true", json!({"a": true}));
        check("a: 0777", json!({"a": 511}));
        check("a: 0644", json!({"a": 420}));
        check("a: '0777'", json!({"a": "0777"}));
        check("a: ~", json!({"a": null}));
        check("a: 1.5", json!({"a": 1.5}));
        check("a: 12:30", json!({"a": "12:30"}));
    }

    #[test]
    fn ambiguous_strings_are_quoted_on_output_and_round_trip() {
        let v = json!({"a": "on", "b": "yes", "c": "0777", "d": "~", "e": "true", "f": "y", "g": "1e3"});
        let text = to_string(&v);
        for s in [
            "\"on\"", "\"yes\"", "\"0777\"", "\"~\"", "\"true\"", "\"y\"", "\"1e3\"",
        ] {
            assert!(text.contains(s), "{s} not quoted in:\n{text}");
        }
        let back: Value = parse("t.yaml", &split_documents(&text)[0]).unwrap();
        assert_eq!(back, v);
    }

    /// A tiny deterministic generator (no randomness between runs).
    struct Gen(u64);

    impl Gen {
        fn next(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }

        fn string(&mut self) -> String {
            const WORDS: &[&str] = &[
                "app",
                "nginx",
                "on",
                "Yes",
                "n",
                "NULL",
                "~",
                "true",
                "0777",
                "8080",
                "1e3",
                "1.5",
                "12:30",
                "2024-01-02",
                "-",
                ".",
                "#",
                "--port=80",
                "-x",
                "- x",
                "a: b",
                "a:",
                "a:b",
                "ghcr.io/x/y:1.4.0",
                "100m",
                "128Mi",
                "25%",
                "/etc/app",
                "@at",
                "%p",
                "a #b",
                "a#b",
                "x,y",
                "[x]",
                "{y}",
                "*ref",
                "&a",
                "!tag",
                "|",
                ">",
                "'q'",
                "\"dq\"",
                "back\\slash",
                "tab\there",
                " lead",
                "trail ",
                "é-ü",
                "日本語",
                "emoji 🚀",
                "0x1F",
                "+1",
                ".inf",
                "-.5",
                "_",
                "<<",
                "=",
                "---",
                "...",
                "--- x",
                "k8s.cluster.name=a,cloud.region=b",
                "line\n",
                "two\nlines",
                "two\nlines\n",
                "keep\n\n",
                "\nfirst-empty",
                "  indented\nx",
                "cr\r\n",
                "x\n\ny\n",
                "with: colon\n# hash\n",
                "",
                "a b c",
                "0",
                "-1",
                "007",
                "Off",
                "nan",
                "INF",
                "y",
                "Y",
                "yes-no",
                "null-ish",
                "\u{feff}bom",
                "ctl\u{7}",
            ];
            match self.next(6) {
                0 => "word ".repeat(1 + self.next(30)).trim_end().to_string(),
                1 => {
                    let n = 1 + self.next(4);
                    (0..n)
                        .map(|_| WORDS[self.next(WORDS.len())])
                        .collect::<Vec<_>>()
                        .join("")
                }
                _ => WORDS[self.next(WORDS.len())].to_string(),
            }
        }

        fn key(&mut self) -> String {
            const KEYS: &[&str] = &[
                "name",
                "app.kubernetes.io/name",
                "on",
                "y",
                "1",
                "x-y",
                "a_b",
                "config.yaml",
                "a b",
                "",
                "-",
                "k:",
                "null",
                "Key",
                "é",
                "<<",
                "n",
            ];
            if self.next(3) == 0 {
                KEYS[self.next(KEYS.len())].to_string()
            } else {
                format!("k{}", self.next(50))
            }
        }

        fn value(&mut self, depth: usize) -> Value {
            let leaf = depth >= 4 || self.next(3) == 0;
            match if leaf { self.next(8) } else { 8 + self.next(3) } {
                0 => Value::Null,
                1 => Value::Bool(self.next(2) == 0),
                2 => json!(self.next(100_000) as i64 - 50_000),
                3 => json!(u64::MAX - self.next(10) as u64),
                4 => json!(self.next(1000) as f64 / 8.0),
                5..=7 => Value::String(self.string()),
                8 | 9 => {
                    let n = self.next(5);
                    let mut m = serde_json::Map::new();
                    for _ in 0..n {
                        m.insert(self.key(), self.value(depth + 1));
                    }
                    Value::Object(m)
                }
                _ => {
                    let n = self.next(4);
                    Value::Array((0..n).map(|_| self.value(depth + 1)).collect())
                }
            }
        }
    }

    #[test]
    fn the_fast_writer_writes_what_serde_saphyr_writes() {
        let mut g = Gen(0x9E37_79B9_7F4A_7C15);
        let mut fast_whole = 0;
        for i in 0..20_000 {
            let mut v = g.value(0);
            if i % 2 == 0 {
                // Mostly-plain objects, so the fast path writes them whole.
                v = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": g.string()}, "data": v});
            }
            let fast = value_to_string(&v);
            assert_eq!(fast, to_string(&v), "{v:#}");
            let mut probe = String::new();
            if let Value::Object(m) = &v
                && !m.is_empty()
                && fast::map(&mut probe, m, 0, false).is_ok()
            {
                fast_whole += 1;
            }
        }
        // The comparison is not vacuous: many values took the fast path.
        assert!(fast_whole > 2_000, "{fast_whole}");
    }

    #[test]
    fn the_fast_writer_matches_on_kubernetes_shapes() {
        let v = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "a", "labels": {"app.kubernetes.io/name": "a"},
                         "annotations": {"prometheus.io/port": "9090", "x": "true"}},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [
                {"name": "app", "image": "ghcr.io/example/a:1.4.0", "args": ["--port=8080", "-v"],
                 "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                 "env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                         {"name": "B", "value": "x\ny\n"}],
                 "resources": {"limits": {"cpu": "1", "memory": "256Mi"}}}],
                "volumes": [{"configMap": {"name": "c"}, "name": "config"}]}}},
            "data": {"config.yaml": "a: 1\nb:\n  - c\n", "strip": "x\ny", "keep": "x\n\n"},
        });
        let mut probe = String::new();
        assert!(fast::map(&mut probe, v.as_object().unwrap(), 0, false).is_ok());
        assert_eq!(probe, to_string(&v));
        assert_eq!(value_to_string(&v), to_string(&v));
    }

    #[test]
    fn split_counts_non_empty_documents_and_their_first_lines() {
        let text = "# header\n---\na: 1\n---\n# only a comment\n---\nb: 2\nc: 3\n...\n--- {d: 4}\n";
        let docs = split_documents(text);
        let got: Vec<_> = docs.iter().map(|d| (d.index, d.start_line)).collect();
        assert_eq!(got, [(1, 3), (2, 7), (3, 10)]);
        assert_eq!(docs[2].text.trim(), "{d: 4}");
    }

    #[test]
    fn parse_errors_give_the_line_in_the_file_not_the_document() {
        let text = "a: 1\n---\nb: [1,\n";
        let docs = split_documents(text);
        let err = parse::<Value>("f.yaml", &docs[1]).unwrap_err();
        assert_eq!(err.file, "f.yaml");
        assert_eq!(err.document, Some(2));
        assert_eq!(err.line, Some(3));
        assert!(!err.message.starts_with("error"), "{}", err.message);
        assert!(!err.message.contains("line"), "{}", err.message);
    }
}
