//! Whether a live object already holds every field the desired object sets.
//!
//! This is the cheap test that lets an unchanged cluster cost no write: the
//! server adds fields (status, uid, defaults) but never removes ones we set,
//! so "desired is a subset of live" means an apply would change nothing.
//! Numbers compare by value (`1` equals `1.0`).

use serde_json::Value;

/// Whether every field `desired` sets has the same value in `live`.
pub fn is_subset(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d.iter().all(|(k, dv)| match l.get(k) {
            Some(lv) => is_subset(dv, lv),
            // A null or empty value we set may be dropped by the server.
            None => is_empty(dv),
        }),
        (Value::Array(d), Value::Array(l)) => {
            d.len() == l.len() && d.iter().zip(l).all(|(dv, lv)| is_subset(dv, lv))
        }
        (Value::Number(d), Value::Number(l)) => d.as_f64() == l.as_f64(),
        (d, l) => d == l,
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(desired: Value, live: Value, expected: bool) {
        assert_eq!(is_subset(&desired, &live), expected, "{desired} in {live}");
    }

    #[test]
    fn server_added_fields_do_not_count() {
        check(
            json!({"spec": {"replicas": 2}, "metadata": {"name": "a"}}),
            json!({"spec": {"replicas": 2, "strategy": {}}, "metadata": {"name": "a", "uid": "x"}, "status": {}}),
            true,
        );
    }

    #[test]
    fn a_changed_or_missing_field_counts() {
        check(
            json!({"spec": {"replicas": 2}}),
            json!({"spec": {"replicas": 3}}),
            false,
        );
        check(
            json!({"spec": {"paused": true}}),
            json!({"spec": {}}),
            false,
        );
        check(json!({"a": [1, 2]}), json!({"a": [1]}), false);
    }

    #[test]
    fn lists_compare_element_wise_and_numbers_by_value() {
        check(
            json!({"c": [{"name": "a"}]}),
            json!({"c": [{"name": "a", "x": 1}]}),
            true,
        );
        check(json!({"n": 1}), json!({"n": 1.0}), true);
        check(json!({"labels": {}}), json!({}), true);
    }
}
