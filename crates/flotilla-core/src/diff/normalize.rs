//! Normalisation for comparing desired and live values the way the API
//! server does: quantities by value (`0.5` = `500m`, `1Gi` = `1073741824`),
//! int-or-string fields by value (`8080` = `"8080"`). Applied only where the
//! field is a quantity or an int-or-string, so that no real difference in
//! another field is ever hidden.

use serde_json::Value;

/// Keys whose values (and whose children's values) are quantities.
const QUANTITY_PARENTS: &[&str] = &[
    "limits",
    "requests",
    "capacity",
    "allocatable",
    "hard",
    "used",
    "overhead",
];

/// Keys whose values are quantities or int-or-strings themselves.
const VALUE_KEYS: &[&str] = &[
    "storage",
    "sizeLimit",
    "port",
    "targetPort",
    "containerPort",
    "nodePort",
    "hostPort",
    "maxSurge",
    "maxUnavailable",
    "minAvailable",
];

/// Whether two scalars at a field named `key` under `parent` are equal once
/// normalised.
pub fn scalars_equal(parent: &str, key: &str, desired: &Value, live: &Value) -> bool {
    if desired == live {
        return true;
    }
    if let (Value::Number(a), Value::Number(b)) = (desired, live) {
        return a.as_f64() == b.as_f64();
    }
    let quantity_context = QUANTITY_PARENTS.contains(&parent) || VALUE_KEYS.contains(&key);
    if !quantity_context {
        return false;
    }
    match (quantity(desired), quantity(live)) {
        (Some(a), Some(b)) => (a - b).abs() <= f64::EPSILON * a.abs().max(b.abs()).max(1.0),
        _ => false,
    }
}

/// The value of a Kubernetes quantity (`500m`, `1Gi`, `2`, `1e3`, `1.5`),
/// or of a number.
pub fn quantity(v: &Value) -> Option<f64> {
    let s = match v {
        Value::Number(n) => return n.as_f64(),
        Value::String(s) => s.trim(),
        _ => return None,
    };
    if s.is_empty() {
        return None;
    }
    const SUFFIXES: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("Pi", 1125899906842624.0),
        ("Ei", 1152921504606846976.0),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    for (suffix, factor) in SUFFIXES {
        if let Some(number) = s.strip_suffix(suffix) {
            return plain(number).map(|n| n * factor);
        }
    }
    plain(s)
}

fn plain(s: &str) -> Option<f64> {
    let ok = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '+' | '-' | 'e' | 'E'))
        && s.chars().any(|c| c.is_ascii_digit());
    if ok { s.parse().ok() } else { None }
}

/// `live` with every scalar that equals its counterpart in `desired` once
/// normalised ([`scalars_equal`]: `500m` and `0.5`, `"8080"` and `8080`)
/// spelled as in `desired`, so that a text diff of the two shows only real
/// differences. Objects are matched by key, lists of named objects by name,
/// other lists by index.
pub fn align(desired: &Value, live: &Value) -> Value {
    align_at(desired, live, "", "")
}

fn align_at(desired: &Value, live: &Value, parent: &str, key: &str) -> Value {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => Value::Object(
            l.iter()
                .map(|(k, lv)| {
                    let v = match d.get(k) {
                        Some(dv) => align_at(dv, lv, key, k),
                        None => lv.clone(),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        (Value::Array(d), Value::Array(l)) => {
            let name = |v: &Value| v.get("name").and_then(Value::as_str).map(str::to_string);
            Value::Array(
                l.iter()
                    .enumerate()
                    .map(|(i, lv)| {
                        let dv = match name(lv) {
                            Some(n) => d.iter().find(|dv| name(dv).as_deref() == Some(&n)),
                            None => d.get(i),
                        };
                        dv.map_or_else(|| lv.clone(), |dv| align_at(dv, lv, key, key))
                    })
                    .collect(),
            )
        }
        (Value::Object(_) | Value::Array(_), _) | (_, Value::Object(_) | Value::Array(_)) => {
            live.clone()
        }
        (d, l) => {
            if scalars_equal(parent, key, d, l) {
                d.clone()
            } else {
                l.clone()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(parent: &str, key: &str, a: Value, b: Value, expected: bool) {
        assert_eq!(
            scalars_equal(parent, key, &a, &b),
            expected,
            "{parent}.{key}: {a} vs {b}"
        );
    }

    #[test]
    fn quantities_compare_by_value() {
        check("limits", "cpu", json!("0.5"), json!("500m"), true);
        check("requests", "memory", json!("1Gi"), json!("1024Mi"), true);
        check("requests", "memory", json!("1G"), json!("1Gi"), false);
        check("limits", "cpu", json!(2), json!("2"), true);
        check("limits", "cpu", json!("1"), json!("1100m"), false);
        check(
            "resources",
            "storage",
            json!("10Gi"),
            json!("10737418240"),
            true,
        );
    }

    #[test]
    fn int_or_string_ports_compare_by_value() {
        check("ports", "targetPort", json!(8080), json!("8080"), true);
        check("ports", "targetPort", json!("http"), json!(8080), false);
    }

    #[test]
    fn other_fields_are_never_normalised() {
        check("data", "size", json!("1k"), json!("1000"), false);
        check("labels", "v", json!("1"), json!("1.0"), false);
    }

    #[test]
    fn align_spells_equal_values_as_desired_and_keeps_real_differences() {
        let desired = json!({"spec": {"replicas": 6, "containers": [{"name": "web",
            "resources": {"limits": {"cpu": "0.5", "memory": "1Gi"}}, "ports": [{"containerPort": 8080}]}]}});
        let live = json!({"spec": {"replicas": 9, "containers": [{"name": "sidecar", "image": "s"}, {"name": "web",
            "resources": {"limits": {"cpu": "500m", "memory": "1073741824"}}, "ports": [{"containerPort": "8080"}]}]}});
        let aligned = align(&desired, &live);
        assert_eq!(aligned["spec"]["replicas"], json!(9));
        assert_eq!(
            aligned["spec"]["containers"][0],
            live["spec"]["containers"][0]
        );
        assert_eq!(
            aligned["spec"]["containers"][1],
            desired["spec"]["containers"][0]
        );
        // Not a quantity field: left alone.
        let d = json!({"data": {"size": "1k"}});
        let l = json!({"data": {"size": "1000"}});
        assert_eq!(align(&d, &l), l);
    }
}
