//! Text diffs of objects, and the masking of Secret values before any diff
//! is shown.

use serde_json::Value;

/// A unified diff (3 lines of context) between two texts, with `a` and `b`
/// as the file labels; empty when the texts are equal.
pub fn unified_diff(a: &str, b: &str, label_a: &str, label_b: &str) -> String {
    if a == b {
        return String::new();
    }
    similar::TextDiff::from_lines(a, b)
        .unified_diff()
        .context_radius(3)
        .header(label_a, label_b)
        .to_string()
}

/// Which side of a comparison a redacted Secret is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The old object (`--from`, or the live one).
    Before,
    /// The new object (`--to`, or the desired one).
    After,
}

/// Replaces the values of a core `Secret`'s `data` and `stringData` with a
/// placeholder, so that diffs show which keys differ but never a value.
/// `other` is the Secret it will be compared with, if any: a key whose value
/// differs between the two gets a placeholder naming `side`, so the diff
/// still shows that it changed.
pub fn redact_secret(object: &Value, other: Option<&Value>, side: Side) -> Value {
    let is_secret = object["kind"] == "Secret" && object["apiVersion"] == "v1";
    if !is_secret {
        return object.clone();
    }
    let mut out = object.clone();
    for field in ["data", "stringData"] {
        let theirs = other.and_then(|o| o.get(field)).and_then(Value::as_object);
        if let Some(map) = out.get_mut(field).and_then(Value::as_object_mut) {
            for (k, v) in map.iter_mut() {
                let changed = other.is_some() && theirs.and_then(|t| t.get(k)) != Some(&*v);
                *v = Value::String(match (changed, side) {
                    (false, _) => "<hidden>".into(),
                    (true, Side::Before) => "<hidden: value before>".into(),
                    (true, Side::After) => "<hidden: value after>".into(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_values_never_reach_a_diff_but_changes_show() {
        let a = json!({"apiVersion": "v1", "kind": "Secret", "data": {"user": "YWRtaW4=", "pass": "czNjcjN0"}});
        let b = json!({"apiVersion": "v1", "kind": "Secret", "data": {"user": "YWRtaW4=", "pass": "bjN3"}});
        let ra = crate::yaml::to_string(&redact_secret(&a, Some(&b), Side::Before));
        let rb = crate::yaml::to_string(&redact_secret(&b, Some(&a), Side::After));
        let d = unified_diff(&ra, &rb, "a", "b");
        assert!(
            !d.contains("czNjcjN0") && !d.contains("bjN3") && !d.contains("YWRtaW4="),
            "{d}"
        );
        assert!(d.contains("-  pass: \"<hidden: value before>\""), "{d}");
        assert!(d.contains("+  pass: \"<hidden: value after>\""), "{d}");
        assert!(!d.contains("-  user") && !d.contains("+  user"), "{d}");
    }

    #[test]
    fn non_secrets_are_untouched() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"}});
        assert_eq!(redact_secret(&cm, None, Side::After), cm);
    }
}
