//! Field validation of request bodies (`fieldValidation=Strict|Warn|Ignore`):
//! unknown fields (not in the kind's schema) and duplicate fields, found the
//! way the real decoders report them.

use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::schema::Ty;

/// The paths (`.spec.bogus`) of the fields of `v` its schema does not
/// declare. `v` is left untouched.
pub(crate) fn unknown_fields(v: &Value, ty: Ty<'_>) -> Vec<String> {
    let mut copy = v.clone();
    let mut out = Vec::new();
    crate::schema::prune(&mut copy, ty, "", &mut out);
    out
}

/// Removes the fields of `v` its schema does not declare.
pub(crate) fn drop_unknown(v: &mut Value, ty: Ty<'_>) {
    let mut out = Vec::new();
    crate::schema::prune(v, ty, "", &mut out);
}

/// Duplicate object keys in a JSON text, as paths (`data`, `spec.x`), in
/// document order. Invalid JSON gives none (the decoder reports it).
pub(crate) fn json_duplicates(body: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    let _ = Walk {
        path: String::new(),
        out: &mut out,
    }
    .deserialize(&mut de);
    out
}

struct Walk<'a> {
    path: String,
    out: &'a mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            let seed = Walk {
                path: format!("{}[{i}]", self.path),
                out: &mut *self.out,
            };
            if seq.next_element_seed(seed)?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(k) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                k.clone()
            } else {
                format!("{}.{k}", self.path)
            };
            if !seen.insert(k) {
                self.out.push(path.clone());
            }
            map.next_value_seed(Walk {
                path,
                out: &mut *self.out,
            })?;
        }
        Ok(())
    }
}

/// Duplicate keys of block mappings in a YAML text, as the real YAML
/// decoder reports them: `line N: key "k" already set in map`, where N is
/// the line the duplicate's value starts on. Flow mappings are not checked.
pub(crate) fn yaml_duplicates(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    // (indent of the mapping, keys seen)
    let mut stack: Vec<(usize, HashSet<String>)> = Vec::new();
    let mut out = Vec::new();
    for (i, raw) in lines.iter().enumerate() {
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed == "---" {
            if trimmed == "---" {
                stack.clear();
            }
            continue;
        }
        let mut indent = raw.len() - trimmed.len();
        let mut rest = trimmed;
        // A list item starts a new mapping at the item's content.
        let mut new_item = false;
        while let Some(r) = rest.strip_prefix("- ") {
            indent += 2;
            rest = r.trim_start();
            new_item = true;
        }
        let Some((key, value)) = split_key(rest) else {
            continue;
        };
        while stack.last().is_some_and(|(ind, _)| *ind > indent) {
            stack.pop();
        }
        if new_item && stack.last().is_some_and(|(ind, _)| *ind == indent) {
            stack.pop();
        }
        if stack.last().is_none_or(|(ind, _)| *ind < indent) {
            stack.push((indent, HashSet::new()));
        }
        let keys = &mut stack.last_mut().expect("pushed").1;
        if !keys.insert(key.clone()) {
            let line = if value.trim().is_empty() {
                lines
                    .iter()
                    .enumerate()
                    .skip(i + 1)
                    .find(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
                    .map(|(j, _)| j + 1)
                    .unwrap_or(i + 1)
            } else {
                i + 1
            };
            out.push(format!("line {line}: key {key:?} already set in map"));
        }
    }
    out
}

/// `key: value` (plain or quoted key) of a block mapping line.
fn split_key(line: &str) -> Option<(String, &str)> {
    if let Some(q) = line.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let end = line[1..].find(q)? + 1;
        let key = line[1..end].to_string();
        let after = line[end + 1..].trim_start();
        let value = after.strip_prefix(':')?;
        return Some((key, value));
    }
    let mut idx = None;
    for (i, c) in line.char_indices() {
        if c == ':' && line[i + 1..].chars().next().is_none_or(|n| n == ' ') {
            idx = Some(i);
            break;
        }
        if c == '#' || c == '{' || c == '[' {
            return None;
        }
    }
    let i = idx?;
    Some((line[..i].trim_end().to_string(), &line[i + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_duplicate_keys() {
        let d = json_duplicates(br#"{"a":{"x":1,"x":2},"b":[{"c":1,"c":1}],"a":3}"#);
        assert_eq!(d, ["a.x", "b[0].c", "a"]);
        assert!(json_duplicates(b"{\"a\":1}").is_empty());
    }

    #[test]
    fn yaml_duplicate_keys() {
        let t = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dupyaml\ndata:\n  a: \"1\"\ndata:\n  a: \"2\"\n";
        assert_eq!(
            yaml_duplicates(t),
            ["line 8: key \"data\" already set in map"]
        );
        let t = "a:\n- name: x\n  v: 1\n- name: y\n  v: 2\nb: 1\nb: 2\n";
        assert_eq!(yaml_duplicates(t), ["line 7: key \"b\" already set in map"]);
    }
}
