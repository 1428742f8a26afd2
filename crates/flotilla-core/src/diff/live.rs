//! Desired against live, field by field (pure). Only the fields the desired
//! object sets are compared, so what the server adds (status, uid,
//! defaults) never counts; values are normalised where the server
//! normalises them; lists of objects keyed by `name` (containers, env,
//! ports, volumes) are matched by name, so an injected sidecar is not drift.

use std::borrow::Cow;

use base64::Engine;
use serde::Serialize;
use serde_json::{Map, Value};

use super::normalize::scalars_equal;

/// One field that differs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldDiff {
    /// JSON pointer into the desired object.
    pub path: String,
    /// The value in Git (after rendering).
    pub desired: Value,
    /// The value on the cluster; null when the field is absent there.
    pub live: Value,
}

/// Fields the server owns: never compared even if the desired object sets them.
const SERVER_FIELDS: &[&str] = &[
    "/status",
    "/metadata/uid",
    "/metadata/resourceVersion",
    "/metadata/generation",
    "/metadata/creationTimestamp",
    "/metadata/managedFields",
    "/metadata/selfLink",
];

/// The desired object as the server would store it: a core `Secret`'s
/// `stringData` folded into base64 `data`.
pub fn as_stored(desired: &Value) -> Cow<'_, Value> {
    let is_secret = desired["kind"] == "Secret" && desired["apiVersion"] == "v1";
    let Some(string_data) = desired.get("stringData").and_then(Value::as_object) else {
        return Cow::Borrowed(desired);
    };
    if !is_secret {
        return Cow::Borrowed(desired);
    }
    let mut out = desired.clone();
    let mut data = out["data"].as_object().cloned().unwrap_or_default();
    for (k, v) in string_data {
        let text = v.as_str().unwrap_or_default();
        data.insert(
            k.clone(),
            Value::String(base64::engine::general_purpose::STANDARD.encode(text)),
        );
    }
    let obj = out.as_object_mut().expect("a Secret is a mapping");
    obj.remove("stringData");
    obj.insert("data".into(), Value::Object(data));
    Cow::Owned(out)
}

/// The fields of `desired` that `live` does not hold, skipping the JSON
/// pointers in `ignore` (and everything below them).
pub fn field_diffs(desired: &Value, live: &Value, ignore: &[String]) -> Vec<FieldDiff> {
    // A server never returns stringData; a directory target stores it as written.
    let desired = if live.get("stringData").is_some() {
        Cow::Borrowed(desired)
    } else {
        as_stored(desired)
    };
    let mut out = Vec::new();
    if live.pointer("/metadata/namespace").is_none() && live.is_object() {
        // Only cluster-scoped objects have no namespace live; the server
        // drops a stray one from them, so it is not drift.
        let mut ignore = ignore.to_vec();
        ignore.push("/metadata/namespace".into());
        walk(
            &desired,
            live,
            "",
            "",
            &mut String::new(),
            &ignore,
            &mut out,
        );
    } else {
        walk(&desired, live, "", "", &mut String::new(), ignore, &mut out);
    }
    out
}

fn ignored(path: &str, ignore: &[String]) -> bool {
    SERVER_FIELDS
        .iter()
        .copied()
        .chain(ignore.iter().map(String::as_str))
        .any(|p| path == p || path.starts_with(&format!("{p}/")))
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn keyed_by_name(items: &[Value]) -> bool {
    !items.is_empty()
        && items
            .iter()
            .all(|i| i.get("name").and_then(Value::as_str).is_some())
}

fn walk(
    desired: &Value,
    live: &Value,
    parent: &str,
    key: &str,
    path: &mut String,
    ignore: &[String],
    out: &mut Vec<FieldDiff>,
) {
    if ignored(path, ignore) {
        return;
    }
    let mut differ = || {
        out.push(FieldDiff {
            path: path.clone(),
            desired: desired.clone(),
            live: live.clone(),
        })
    };
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => {
            for (k, dv) in d {
                let len = path.len();
                path.push('/');
                path.push_str(&escape(k));
                match l.get(k) {
                    Some(lv) => walk(dv, lv, key, k, path, ignore, out),
                    None if is_empty(dv) || ignored(path, ignore) => {}
                    None => out.push(FieldDiff {
                        path: path.clone(),
                        desired: dv.clone(),
                        live: Value::Null,
                    }),
                }
                path.truncate(len);
            }
        }
        (Value::Array(d), Value::Array(l)) if keyed_by_name(d) && keyed_by_name(l) => {
            for (i, dv) in d.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("/{i}"));
                match l.iter().find(|lv| lv["name"] == dv["name"]) {
                    Some(lv) => walk(dv, lv, key, key, path, ignore, out),
                    None => out.push(FieldDiff {
                        path: path.clone(),
                        desired: dv.clone(),
                        live: Value::Null,
                    }),
                }
                path.truncate(len);
            }
        }
        (Value::Array(d), Value::Array(l)) => {
            let same = d.len() == l.len()
                && d.iter().zip(l).all(|(dv, lv)| {
                    let mut scratch = Vec::new();
                    walk(dv, lv, key, key, &mut path.clone(), ignore, &mut scratch);
                    scratch.is_empty()
                });
            if !same {
                differ();
            }
        }
        (Value::Object(_) | Value::Array(_), _) | (_, Value::Object(_) | Value::Array(_)) => {
            if !(is_empty(desired) && is_empty(live)) {
                differ();
            }
        }
        (d, l) => {
            if !scalars_equal(parent, key, d, l) {
                differ();
            }
        }
    }
}

/// Replaces the values of a core Secret's `data` and `stringData` in field
/// diffs with placeholders: a report says that a key differs, never its value.
pub fn mask_secret_values(object: &Value, diffs: &mut [FieldDiff]) {
    let is_secret = object["kind"] == "Secret" && object["apiVersion"] == "v1";
    if !is_secret {
        return;
    }
    let hide = |v: &mut Value, label: &str| {
        *v = match v {
            Value::Null => Value::Null,
            Value::Object(m) => Value::Object(
                m.keys()
                    .map(|k| (k.clone(), Value::String(format!("<hidden {label} value>"))))
                    .collect::<Map<_, _>>(),
            ),
            _ => Value::String(format!("<hidden {label} value>")),
        }
    };
    for d in diffs {
        if d.path == "/data"
            || d.path.starts_with("/data/")
            || d.path == "/stringData"
            || d.path.starts_with("/stringData/")
        {
            hide(&mut d.desired, "desired");
            hide(&mut d.live, "live");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(desired: Value, live: Value) -> Vec<String> {
        field_diffs(&desired, &live, &[])
            .into_iter()
            .map(|d| d.path)
            .collect()
    }

    #[test]
    fn server_defaults_and_status_are_not_drift() {
        let desired = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
            "spec": {"ports": [{"port": 80, "targetPort": 8080}], "type": "NodePort"}});
        let live = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "uid": "u", "resourceVersion": "7"},
            "spec": {"ports": [{"port": 80, "targetPort": "8080", "protocol": "TCP", "nodePort": 30080}],
                     "type": "NodePort", "clusterIP": "10.0.0.1", "sessionAffinity": "None"},
            "status": {"loadBalancer": {}}});
        assert!(paths(desired, live).is_empty());
    }

    #[test]
    fn hand_edits_are_reported_with_their_path() {
        let desired = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [
            {"name": "web", "image": "web:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]}}}});
        let live = json!({"spec": {"replicas": 5, "template": {"spec": {"containers": [
            {"name": "istio-proxy", "image": "proxy"},
            {"name": "web", "image": "web:2", "env": [{"name": "A", "value": "1"}]}]}}}});
        assert_eq!(
            paths(desired, live),
            [
                "/spec/replicas",
                "/spec/template/spec/containers/0/image",
                "/spec/template/spec/containers/0/env/1"
            ]
        );
    }

    #[test]
    fn quantities_and_ignored_paths() {
        let desired = json!({"spec": {"resources": {"limits": {"cpu": "0.5", "memory": "1Gi"}}, "replicas": 3}});
        let live = json!({"spec": {"resources": {"limits": {"cpu": "500m", "memory": "1073741824"}}, "replicas": 9}});
        assert!(field_diffs(&desired, &live, &["/spec/replicas".into()]).is_empty());
    }

    #[test]
    fn string_data_is_compared_as_stored_and_values_are_masked() {
        let desired =
            json!({"apiVersion": "v1", "kind": "Secret", "stringData": {"pass": "s3cr3t"}});
        let live = json!({"apiVersion": "v1", "kind": "Secret", "data": {"pass": "czNjcjN0"}});
        assert!(field_diffs(&desired, &live, &[]).is_empty());
        let changed = json!({"apiVersion": "v1", "kind": "Secret", "data": {"pass": "b3RoZXI="}});
        let mut diffs = field_diffs(&desired, &changed, &[]);
        mask_secret_values(&desired, &mut diffs);
        assert_eq!(diffs[0].path, "/data/pass");
        let text = serde_json::to_string(&diffs).unwrap();
        assert!(
            !text.contains("czNjcjN0") && !text.contains("b3RoZXI=") && !text.contains("s3cr3t"),
            "{text}"
        );
    }
}
