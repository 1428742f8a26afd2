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
