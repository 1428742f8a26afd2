//! Budgets on rendered objects, so that a small commit cannot make the
//! engine allocate without bound or recurse past its stack: a patch of 40
//! `copy` operations doubles an object 40 times, and `add` + `move` nest it
//! one level per pair.
//!
//! - [`MAX_OBJECT_BYTES`]: the JSON form of one object, 1.5 MiB (etcd's
//!   default request limit, so the API server would refuse more anyway);
//! - [`MAX_DEPTH`]: nesting of one object, 64 levels (the YAML reader's
//!   own depth budget, half of serde_json's recursion limit of 128);
//! - [`MAX_CLUSTER_BYTES`]: the JSON form of one cluster's desired state,
//!   256 MiB.
//!
//! They are checked when a document is loaded and after every patch
//! operation that can grow an object. The walks here use an explicit stack,
//! never recursion, so they are safe on any value.

use serde_json::Value;

/// The largest JSON form of one object, in bytes (1.5 MiB).
pub const MAX_OBJECT_BYTES: usize = 1536 * 1024;
/// The deepest nesting of one object (a scalar is depth 0, `{}` depth 1).
pub const MAX_DEPTH: usize = 64;
/// The largest JSON form of one cluster's desired state, in bytes (256 MiB).
pub const MAX_CLUSTER_BYTES: usize = 256 * 1024 * 1024;

/// The length of `s` as a JSON string, quotes included (an upper bound:
/// control characters count six bytes, as `\u00XX`).
fn string_size(s: &str) -> usize {
    2 + s
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum::<usize>()
}

fn scalar_size(v: &Value) -> usize {
    match v {
        Value::Null => 4,
        Value::Bool(true) => 4,
        Value::Bool(false) => 5,
        Value::Number(n) => n.to_string().len(),
        Value::String(s) => string_size(s),
        Value::Array(_) | Value::Object(_) => 2,
    }
}

/// The size of `value` as compact JSON (an upper bound, exact for plain
/// text), counting at most to just past `cap`: a result above `cap` means
/// "too big", and the walk stopped there.
pub fn json_size(value: &Value, cap: usize) -> usize {
    let mut total = 0usize;
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        total += scalar_size(v);
        match v {
            Value::Array(a) => {
                total += a.len().saturating_sub(1);
                stack.extend(a.iter());
            }
            Value::Object(m) => {
                total += m.len().saturating_sub(1);
                for (k, v) in m {
                    total += string_size(k) + 1;
                    stack.push(v);
                }
            }
            _ => {}
        }
        if total > cap {
            return total;
        }
    }
    total
}

/// The nesting depth of `value` (a scalar is 0, `{}` and `[]` are 1).
pub fn json_depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((v, d)) = stack.pop() {
        match v {
            Value::Array(a) => {
                deepest = deepest.max(d + 1);
                stack.extend(a.iter().map(|v| (v, d + 1)));
            }
            Value::Object(m) => {
                deepest = deepest.max(d + 1);
                stack.extend(m.values().map(|v| (v, d + 1)));
            }
            _ => {}
        }
    }
    deepest
}

/// "1.5 MiB" and the like, for messages.
pub fn human(bytes: usize) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
    } else if bytes >= 1024 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn size_matches_compact_json() {
        for v in [
            json!({"a": [1, 2, {"b": null}], "c": "x\"y", "d": true, "e": 1.5}),
            json!([]),
            json!({}),
            json!("plain"),
        ] {
            assert_eq!(json_size(&v, usize::MAX), v.to_string().len(), "{v}");
        }
        assert!(json_size(&json!({"a": "x".repeat(100)}), 10) > 10);
    }

    #[test]
    fn depth_is_counted_without_recursion() {
        assert_eq!(json_depth(&json!(1)), 0);
        assert_eq!(json_depth(&json!({"a": [{}]})), 3);
        let mut deep = json!({});
        for _ in 0..100_000 {
            deep = Value::Array(vec![deep]);
        }
        assert_eq!(json_depth(&deep), 100_001);
        // Dropping it recursively would overflow the stack; unwind it.
        let mut v = deep;
        while let Value::Array(mut a) = v {
            v = a.pop().unwrap_or(Value::Null);
        }
    }
}
