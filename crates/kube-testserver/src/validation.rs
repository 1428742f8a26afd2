//! Validation the real server performs that a GitOps engine is likely to
//! trip over: names, labels and annotations, typed-field decoding of a few
//! built-ins, selector/template agreement, immutable fields, finalizers on
//! objects being deleted, and CustomResourceDefinition structure.
//!
//! There is no OpenAPI schema validation: unknown fields are stored as sent
//! and custom resources are not checked against their CRD schema.

use serde_json::{Map, Value, json};

use crate::meta::{finalizers, get_path, meta_str, metadata};
use crate::registry::ResourceKind;
use crate::selector::LabelSelector;
use crate::status::{ApiError, FieldError};

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL1123_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const LABEL1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const QNAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const CONFIG_KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

fn is_label1123(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// Errors for a DNS-1123 subdomain (most object names).
pub(crate) fn dns1123_subdomain_errors(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.len() > 253 {
        out.push("must be no more than 253 characters".into());
    }
    if !s.split('.').all(is_label1123) {
        out.push(SUBDOMAIN_MSG.into());
    }
    out
}

/// Errors for a DNS-1123 label (namespace names).
pub(crate) fn dns1123_label_errors(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.len() > 63 {
        out.push("must be no more than 63 characters".into());
    }
    if !is_label1123(s) {
        out.push(LABEL1123_MSG.into());
    }
    out
}

/// Errors for a DNS-1035 label (service names).
pub(crate) fn dns1035_label_errors(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.len() > 63 {
        out.push("must be no more than 63 characters".into());
    }
    if !is_label1123(s) || !s.as_bytes()[0].is_ascii_lowercase() {
        out.push(LABEL1035_MSG.into());
    }
    out
}

/// Errors for a path-segment name (RBAC objects).
fn path_segment_errors(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s == "." || s == ".." {
        out.push(format!("may not be '{s}'"));
    }
    for c in ["/", "%"] {
        if s.contains(c) {
            out.push(format!("may not contain '{c}'"));
        }
    }
    out
}

fn is_qname_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// Errors for a qualified name (`prefix/name`), e.g. a label key.
pub(crate) fn qualified_name_errors(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if let Some(p) = prefix {
        if p.is_empty() {
            out.push("prefix part must be non-empty".into());
        } else {
            for e in dns1123_subdomain_errors(p) {
                out.push(format!("prefix part {e}"));
            }
        }
    }
    if name.is_empty() {
        out.push("name part must be non-empty".into());
    } else {
        if name.len() > 63 {
            out.push("name part must be no more than 63 characters".into());
        }
        if !is_qname_part(name) {
            out.push(QNAME_MSG.into());
        }
    }
    out
}

/// Errors for a label value.
pub(crate) fn label_value_errors(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.len() > 63 {
        out.push("must be no more than 63 characters".into());
    }
    if !s.is_empty() && !is_qname_part(s) {
        out.push(LABEL_VALUE_MSG.into());
    }
    out
}

/// Errors for the name of an object of `kind`.
pub(crate) fn name_errors(kind: &ResourceKind, name: &str) -> Vec<String> {
    match (kind.group.as_str(), kind.kind.as_str()) {
        ("", "Namespace") => dns1123_label_errors(name),
        ("", "Service") => dns1035_label_errors(name),
        ("rbac.authorization.k8s.io", _) => path_segment_errors(name),
        _ => dns1123_subdomain_errors(name),
    }
}

/// Decoding errors the real server reports as 400 BadRequest for typed
/// built-ins: string maps that hold non-strings, undecodable base64.
pub(crate) fn check_decodable(kind: &ResourceKind, obj: &Value) -> Result<(), ApiError> {
    let fail = |field: &str, got: &Value| {
        let t = match got {
            Value::Number(_) => "number",
            Value::Bool(_) => "bool",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
            Value::Null => "null",
            Value::String(_) => "string",
        };
        Err(ApiError::bad_request(format!(
            "{k} in version {v:?} cannot be handled as a {k}: json: cannot unmarshal {t} into Go struct field {field} of type string",
            k = kind.kind,
            v = kind.version,
        )))
    };
    let string_map = |v: Option<&Value>, field: &str| -> Result<(), ApiError> {
        if let Some(Value::Object(m)) = v {
            for val in m.values() {
                if !val.is_string() && !val.is_null() {
                    return fail(field, val);
                }
            }
        }
        Ok(())
    };
    if let Some(m) = metadata(obj) {
        string_map(m.get("labels"), "ObjectMeta.metadata.labels")?;
        string_map(m.get("annotations"), "ObjectMeta.metadata.annotations")?;
    }
    if kind.custom {
        return Ok(());
    }
    let mut copy = obj.clone();
    if let Err(e) = crate::quantity::canonicalize(&kind.group, &kind.kind, &mut copy) {
        return Err(ApiError::bad_request(format!(
            "{k} in version {v:?} cannot be handled as a {k}: {e}",
            k = kind.kind,
            v = kind.version,
        )));
    }
    match kind.kind.as_str() {
        "ConfigMap" if kind.group.is_empty() => {
            string_map(obj.get("data"), "ConfigMap.data")?;
            if let Some(Value::Object(m)) = obj.get("binaryData") {
                for v in m.values() {
                    if !v.as_str().is_some_and(crate::defaults::base64_valid) {
                        return Err(ApiError::bad_request(format!(
                            "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: illegal base64 data in {}",
                            v
                        )));
                    }
                }
            }
        }
        "Secret" if kind.group.is_empty() => {
            string_map(obj.get("stringData"), "Secret.stringData")?;
            if let Some(Value::Object(m)) = obj.get("data") {
                for v in m.values() {
                    if !v.as_str().is_some_and(crate::defaults::base64_valid) {
                        return Err(ApiError::bad_request(
                            "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 0",
                        ));
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn metadata_errors(kind: &ResourceKind, obj: &Value, errs: &mut Vec<FieldError>) {
    let name = meta_str(obj, "name");
    for e in name_errors(kind, name) {
        errs.push(FieldError::invalid("metadata.name", &json!(name), &e));
    }
    if let Some(m) = metadata(obj) {
        if let Some(Value::Object(labels)) = m.get("labels") {
            for (k, v) in labels {
                for e in qualified_name_errors(k) {
                    errs.push(FieldError::invalid("metadata.labels", &json!(k), &e));
                }
                let v = v.as_str().unwrap_or("");
                for e in label_value_errors(v) {
                    errs.push(FieldError::invalid("metadata.labels", &json!(v), &e));
                }
            }
        }
        if let Some(Value::Object(ann)) = m.get("annotations") {
            for k in ann.keys() {
                for e in qualified_name_errors(&k.to_lowercase()) {
                    errs.push(FieldError::invalid("metadata.annotations", &json!(k), &e));
                }
            }
        }
    }
}

/// The most a ConfigMap's data and binaryData may hold (keys included).
const MAX_CONFIG_MAP_BYTES: usize = 1024 * 1024;

/// The decoded length of standard base64 text.
fn base64_decoded_len(s: &str) -> usize {
    let t = s.trim_end_matches('=');
    t.len() * 3 / 4
}

/// Go's `%#v` of a `v1.LabelSelector`.
fn go_label_selector(v: Option<&Value>) -> String {
    let v = v.cloned().unwrap_or(Value::Null);
    let labels = match v.get("matchLabels") {
        Some(m @ Value::Object(_)) => go_map_repr(Some(m)),
        _ => "map[string]string(nil)".into(),
    };
    let exprs = match v.get("matchExpressions").and_then(Value::as_array) {
        Some(list) => {
            let items: Vec<String> = list
                .iter()
                .map(|e| {
                    let values = match e.get("values").and_then(Value::as_array) {
                        Some(vs) => format!(
                            "[]string{{{}}}",
                            vs.iter()
                                .map(|x| format!("{:?}", x.as_str().unwrap_or("")))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        None => "[]string(nil)".into(),
                    };
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{:?}, Operator:{:?}, Values:{values}}}",
                        e["key"].as_str().unwrap_or(""),
                        e["operator"].as_str().unwrap_or("")
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", items.join(", "))
        }
        None => "[]v1.LabelSelectorRequirement(nil)".into(),
    };
    format!("v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{exprs}}}")
}

/// Go's `%#v` of a `map[string]string` (keys sorted).
fn go_map_repr(v: Option<&Value>) -> String {
    let m = v.and_then(Value::as_object).cloned().unwrap_or_default();
    let mut kv: Vec<(&String, &Value)> = m.iter().collect();
    kv.sort_by(|a, b| a.0.cmp(b.0));
    let parts: Vec<String> = kv
        .iter()
        .map(|(k, v)| format!("{k:?}:{:?}", v.as_str().unwrap_or("")))
        .collect();
    format!("map[string]string{{{}}}", parts.join(", "))
}

fn containers_errors(spec: Option<&Value>, prefix: &str, errs: &mut Vec<FieldError>) {
    let containers = spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array);
    match containers {
        None => errs.push(FieldError::required(&format!("{prefix}.containers"), "")),
        Some(cs) if cs.is_empty() => {
            errs.push(FieldError::required(&format!("{prefix}.containers"), ""))
        }
        Some(cs) => {
            for (i, c) in cs.iter().enumerate() {
                if c.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .is_empty()
                {
                    errs.push(FieldError::required(
                        &format!("{prefix}.containers[{i}].name"),
                        "",
                    ));
                }
                if c.get("image")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .is_empty()
                {
                    errs.push(FieldError::required(
                        &format!("{prefix}.containers[{i}].image"),
                        "",
                    ));
                }
            }
        }
    }
}

fn workload_errors(obj: &Value, errs: &mut Vec<FieldError>, what: &str) {
    if let Some(r) = get_path(obj, &["spec", "replicas"]).and_then(Value::as_i64)
        && r < 0
    {
        errs.push(FieldError::invalid(
            "spec.replicas",
            &json!(r),
            "must be greater than or equal to 0",
        ));
    }
    let selector = get_path(obj, &["spec", "selector"]);
    match selector {
        None | Some(Value::Null) => errs.push(FieldError::required("spec.selector", "")),
        Some(sel) => {
            let empty = sel
                .get("matchLabels")
                .and_then(Value::as_object)
                .is_none_or(Map::is_empty)
                && sel
                    .get("matchExpressions")
                    .and_then(Value::as_array)
                    .is_none_or(Vec::is_empty);
            if empty {
                errs.push(FieldError::invalid(
                    "spec.selector",
                    sel,
                    &format!("empty selector is invalid for {what}"),
                ));
            } else {
                let labels = get_path(obj, &["spec", "template", "metadata", "labels"]);
                let labels_map = labels
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                let matches = LabelSelector::from_object(sel)
                    .map(|s| s.matches(&labels_map))
                    .unwrap_or(false);
                if !matches {
                    errs.push(FieldError::invalid_raw(
                        "spec.template.metadata.labels",
                        &go_map_repr(labels),
                        "`selector` does not match template `labels`",
                    ));
                }
            }
        }
    }
    containers_errors(
        get_path(obj, &["spec", "template", "spec"]),
        "spec.template.spec",
        errs,
    );
}

/// Validates `obj` (create when `old` is `None`, update otherwise).
/// Returns the 422 the real server would send.
pub(crate) fn validate(
    kind: &ResourceKind,
    obj: &Value,
    old: Option<&Value>,
) -> Result<(), ApiError> {
    let mut errs = Vec::new();
    metadata_errors(kind, obj, &mut errs);
    match (kind.group.as_str(), kind.kind.as_str()) {
        ("apps", "Deployment") => workload_errors(obj, &mut errs, "deployment"),
        ("apps", "StatefulSet") => workload_errors(obj, &mut errs, "statefulset"),
        ("apps", "DaemonSet") => workload_errors(obj, &mut errs, "daemonset"),
        ("batch", "Job") => {
            containers_errors(
                get_path(obj, &["spec", "template", "spec"]),
                "spec.template.spec",
                &mut errs,
            );
            let rp = get_path(obj, &["spec", "template", "spec", "restartPolicy"])
                .cloned()
                .unwrap_or(json!(""));
            if rp != "OnFailure" && rp != "Never" {
                if rp == "" {
                    errs.push(FieldError::required(
                        "spec.template.spec.restartPolicy",
                        "valid values: \"OnFailure\", \"Never\"",
                    ));
                } else {
                    errs.push(FieldError::not_supported(
                        "spec.template.spec.restartPolicy",
                        &rp,
                        &["OnFailure", "Never"],
                    ));
                }
            }
        }
        ("", "Pod") => containers_errors(obj.get("spec"), "spec", &mut errs),
        ("", "Service") => {
            let t = get_path(obj, &["spec", "type"])
                .and_then(Value::as_str)
                .unwrap_or("ClusterIP");
            let headless =
                get_path(obj, &["spec", "clusterIP"]).and_then(Value::as_str) == Some("None");
            let ports = get_path(obj, &["spec", "ports"]).and_then(Value::as_array);
            if t != "ExternalName" && !headless && ports.is_none_or(Vec::is_empty) {
                errs.push(FieldError::required("spec.ports", ""));
            }
            for (i, p) in ports.into_iter().flatten().enumerate() {
                const RANGE: &str = "must be between 1 and 65535, inclusive";
                if let Some(port) = p.get("port").and_then(Value::as_i64)
                    && !(1..=65535).contains(&port)
                {
                    errs.push(FieldError::invalid(
                        &format!("spec.ports[{i}].port"),
                        &json!(port),
                        RANGE,
                    ));
                }
                if let Some(tp) = p.get("targetPort").and_then(Value::as_i64)
                    && !(1..=65535).contains(&tp)
                {
                    errs.push(FieldError::invalid(
                        &format!("spec.ports[{i}].targetPort"),
                        &json!(tp),
                        RANGE,
                    ));
                }
                let np = p.get("nodePort").and_then(Value::as_i64).unwrap_or(0);
                if np == 0 {
                    continue;
                }
                let field = format!("spec.ports[{i}].nodePort");
                if t == "ClusterIP" {
                    errs.push(FieldError::forbidden(
                        &field,
                        "may not be used when `type` is 'ClusterIP'",
                    ));
                } else if !(30000..=32767).contains(&np) {
                    errs.push(FieldError::invalid(
                        &field,
                        &json!(np),
                        "provided port is not in the valid range. The range of valid ports is 30000-32767",
                    ));
                }
            }
        }
        ("", "ConfigMap") => {
            // The real limit (MaxSecretSize) on keys plus values, binary
            // values counted decoded.
            let mut total = 0usize;
            if let Some(Value::Object(m)) = obj.get("data") {
                for (k, v) in m {
                    total += k.len() + v.as_str().map_or(0, str::len);
                }
            }
            if let Some(Value::Object(m)) = obj.get("binaryData") {
                for (k, v) in m {
                    total += k.len() + v.as_str().map_or(0, base64_decoded_len);
                }
            }
            if total > MAX_CONFIG_MAP_BYTES {
                errs.push(FieldError::too_long_bytes("[]", MAX_CONFIG_MAP_BYTES));
            }
            for field in ["data", "binaryData"] {
                if let Some(Value::Object(m)) = obj.get(field) {
                    for k in m.keys() {
                        let ok = !k.is_empty()
                            && k.bytes().all(|c| {
                                c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.')
                            });
                        if !ok {
                            errs.push(FieldError::invalid(field, &json!(k), CONFIG_KEY_MSG));
                        }
                    }
                }
            }
        }
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding")
            if obj.get("roleRef").is_none_or(Value::is_null) =>
        {
            errs.push(FieldError::required("roleRef.name", ""));
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd_errors(obj, old, &mut errs),
        _ => {}
    }
    if let Some(old) = old {
        immutability_errors(kind, obj, old, &mut errs);
        if !meta_str(old, "deletionTimestamp").is_empty() {
            let before = finalizers(old);
            let added: Vec<String> = finalizers(obj)
                .into_iter()
                .filter(|f| !before.contains(f))
                .collect();
            if !added.is_empty() {
                let list: Vec<String> = added.iter().map(|f| format!("{f:?}")).collect();
                errs.push(FieldError::forbidden(
                    "metadata.finalizers",
                    &format!(
                        "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                        list.join(", ")
                    ),
                ));
            }
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(
            &kind.group,
            &kind.kind,
            meta_str(obj, "name"),
            errs,
        ))
    }
}

fn immutability_errors(kind: &ResourceKind, new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    let changed = |path: &[&str]| get_path(new, path) != get_path(old, path);
    let immutable = |path: &[&str], field: &str, errs: &mut Vec<FieldError>| {
        if get_path(old, path).is_some() && changed(path) {
            errs.push(FieldError::invalid(
                field,
                get_path(new, path).unwrap_or(&Value::Null),
                "field is immutable",
            ));
        }
    };
    match (kind.group.as_str(), kind.kind.as_str()) {
        ("apps", "Deployment" | "DaemonSet") => {
            let path = ["spec", "selector"];
            if get_path(old, &path).is_some() && changed(&path) {
                errs.push(FieldError::invalid_raw(
                    "spec.selector",
                    &go_label_selector(get_path(new, &path)),
                    "field is immutable",
                ));
            }
        }
        ("apps", "StatefulSet") => {
            let mut a = new.get("spec").cloned().unwrap_or(json!({}));
            let mut b = old.get("spec").cloned().unwrap_or(json!({}));
            for f in [
                "replicas",
                "ordinals",
                "template",
                "updateStrategy",
                "revisionHistoryLimit",
                "persistentVolumeClaimRetentionPolicy",
                "minReadySeconds",
            ] {
                if let Some(m) = a.as_object_mut() {
                    m.remove(f);
                }
                if let Some(m) = b.as_object_mut() {
                    m.remove(f);
                }
            }
            if a != b {
                errs.push(FieldError::forbidden(
                    "spec",
                    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
                ));
            }
        }
        ("batch", "Job") => {
            immutable(&["spec", "selector"], "spec.selector", errs);
            immutable(&["spec", "template"], "spec.template", errs);
            immutable(&["spec", "completions"], "spec.completions", errs);
        }
        ("", "Service") => {
            let external_name = |v: &Value| {
                get_path(v, &["spec", "type"]).and_then(Value::as_str) == Some("ExternalName")
            };
            let old_ip = get_path(old, &["spec", "clusterIP"]);
            if old_ip.is_some()
                && !external_name(old)
                && !external_name(new)
                && changed(&["spec", "clusterIP"])
            {
                errs.push(FieldError::invalid(
                    "spec.clusterIPs[0]",
                    get_path(new, &["spec", "clusterIP"]).unwrap_or(&Value::Null),
                    "may not change once set",
                ));
            }
        }
        ("", "ConfigMap" | "Secret") => {
            if old.get("immutable") == Some(&json!(true)) {
                if changed(&["immutable"]) {
                    errs.push(FieldError::forbidden(
                        "immutable",
                        "field is immutable when `immutable` is set",
                    ));
                }
                for f in ["data", "binaryData"] {
                    if changed(&[f]) {
                        errs.push(FieldError::forbidden(
                            f,
                            "field is immutable when `immutable` is set",
                        ));
                    }
                }
            }
            if kind.kind == "Secret" {
                immutable(&["type"], "type", errs);
            }
        }
        ("", "PersistentVolumeClaim") => {
            let strip = |v: &Value| {
                let mut s = v.get("spec").cloned().unwrap_or(json!({}));
                if let Some(m) = s.as_object_mut() {
                    m.remove("resources");
                    m.remove("volumeAttributesClassName");
                    m.remove("volumeName");
                }
                s
            };
            if strip(new) != strip(old) {
                errs.push(FieldError::forbidden(
                    "spec",
                    "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
                ));
            }
        }
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding")
            if changed(&["roleRef"]) =>
        {
            errs.push(FieldError::invalid(
                "roleRef",
                new.get("roleRef").unwrap_or(&Value::Null),
                "cannot change roleRef",
            ));
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            immutable(&["spec", "scope"], "spec.scope", errs)
        }
        _ => {}
    }
}

fn crd_errors(obj: &Value, _old: Option<&Value>, errs: &mut Vec<FieldError>) {
    let s = |p: &[&str]| {
        get_path(obj, p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let group = s(&["spec", "group"]);
    let plural = s(&["spec", "names", "plural"]);
    let kind = s(&["spec", "names", "kind"]);
    let name = meta_str(obj, "name");
    if group.is_empty() {
        errs.push(FieldError::required("spec.group", ""));
    } else if !group.contains('.') {
        errs.push(FieldError::invalid(
            "spec.group",
            &json!(group),
            "should be a domain with at least one dot",
        ));
    }
    if plural.is_empty() {
        errs.push(FieldError::required("spec.names.plural", ""));
    } else {
        for e in dns1123_label_errors(&plural) {
            errs.push(FieldError::invalid("spec.names.plural", &json!(plural), &e));
        }
    }
    if kind.is_empty() {
        errs.push(FieldError::required("spec.names.kind", ""));
    }
    if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
        errs.push(FieldError::invalid(
            "metadata.name",
            &json!(name),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    let scope = get_path(obj, &["spec", "scope"])
        .cloned()
        .unwrap_or(json!(""));
    if scope != "Namespaced" && scope != "Cluster" {
        if scope == "" {
            errs.push(FieldError::required("spec.scope", ""));
        } else {
            errs.push(FieldError::not_supported(
                "spec.scope",
                &scope,
                &["Cluster", "Namespaced"],
            ));
        }
    }
    let versions = get_path(obj, &["spec", "versions"]).and_then(Value::as_array);
    match versions {
        None => errs.push(FieldError::invalid(
            "spec.versions",
            &json!([]),
            "must have exactly one version marked as storage version",
        )),
        Some(vs) => {
            let storage = vs
                .iter()
                .filter(|v| v.get("storage") == Some(&json!(true)))
                .count();
            if storage != 1 {
                errs.push(FieldError::invalid(
                    "spec.versions",
                    &Value::String(format!(
                        "[]apiextensions.CustomResourceDefinitionVersion{{...{} versions}}",
                        vs.len()
                    )),
                    "must have exactly one version marked as storage version",
                ));
            }
            let mut seen = Vec::new();
            for (i, v) in vs.iter().enumerate() {
                let vname = v.get("name").and_then(Value::as_str).unwrap_or("");
                if vname.is_empty() {
                    errs.push(FieldError::required(
                        &format!("spec.versions[{i}].name"),
                        "",
                    ));
                } else if seen.contains(&vname) {
                    errs.push(FieldError::duplicate(
                        &format!("spec.versions[{i}].name"),
                        &json!(vname),
                    ));
                }
                seen.push(vname);
                if v.get("served").is_none() {
                    errs.push(FieldError::required(
                        &format!("spec.versions[{i}].served"),
                        "",
                    ));
                }
                if get_path(v, &["schema", "openAPIV3Schema"]).is_none_or(Value::is_null) {
                    errs.push(FieldError::required(
                        &format!("spec.versions[{i}].schema.openAPIV3Schema"),
                        "schemas are required",
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::builtin_kinds;

    fn kind(k: &str) -> ResourceKind {
        builtin_kinds().into_iter().find(|x| x.kind == k).unwrap()
    }

    #[test]
    fn names() {
        assert!(dns1123_subdomain_errors("a.b-c").is_empty());
        assert!(!dns1123_subdomain_errors("A").is_empty());
        assert!(!dns1123_label_errors("a.b").is_empty());
        assert!(!dns1035_label_errors("1abc").is_empty());
        assert!(qualified_name_errors("app.kubernetes.io/name").is_empty());
        assert!(!qualified_name_errors("-x").is_empty());
        assert!(label_value_errors("").is_empty());
        assert!(!label_value_errors("a b").is_empty());
    }

    #[test]
    fn deployment_selector_must_match() {
        let d = json!({"metadata": {"name": "web"}, "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "other"}},
                         "spec": {"containers": [{"name": "a", "image": "i"}]}}}});
        let e = validate(&kind("Deployment"), &d, None).unwrap_err();
        assert_eq!(e.code, 422);
        assert!(
            e.message
                .contains("`selector` does not match template `labels`"),
            "{}",
            e.message
        );
    }

    #[test]
    fn immutable_selector() {
        let old = json!({"metadata": {"name": "web"}, "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web", "v": "2"}},
                         "spec": {"containers": [{"name": "a", "image": "i"}]}}}});
        let mut new = old.clone();
        new["spec"]["selector"]["matchLabels"]["v"] = json!("2");
        let e = validate(&kind("Deployment"), &new, Some(&old)).unwrap_err();
        assert!(
            e.message.contains("spec.selector: Invalid value"),
            "{}",
            e.message
        );
        assert!(e.message.contains("field is immutable"));
    }
}
