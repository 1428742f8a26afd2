//! Server-side defaulting for the built-in kinds, limited to the defaults a
//! GitOps engine sees in live objects and must not mistake for drift
//! (replicas, strategies, pod-template defaults, Service IPs, Secret type,
//! Namespace phase and finalizer, ...). Only missing fields are filled, so
//! defaulting is idempotent. Custom resources are not defaulted (no schema).

use serde_json::{Value, json};

use crate::meta::{get_path, set_path};
use crate::registry::ResourceKind;

/// Sets `path` to `value` if it is absent or null.
fn default_at(obj: &mut Value, path: &[&str], value: Value) {
    if get_path(obj, path).is_none_or(Value::is_null) {
        set_path(obj, path, value);
    }
}

/// Defaults of a container (`terminationMessagePath`, `imagePullPolicy`, ...).
fn container_defaults(c: &mut Value) {
    if !c.is_object() {
        return;
    }
    default_at(
        c,
        &["terminationMessagePath"],
        json!("/dev/termination-log"),
    );
    default_at(c, &["terminationMessagePolicy"], json!("File"));
    default_at(c, &["resources"], json!({}));
    if get_path(c, &["imagePullPolicy"]).is_none() {
        let image = c.get("image").and_then(Value::as_str).unwrap_or("");
        let last = image.rsplit('/').next().unwrap_or("");
        let tag = if image.contains('@') {
            None
        } else {
            last.split_once(':').map(|(_, t)| t)
        };
        let policy = match tag {
            None if image.contains('@') => "IfNotPresent",
            None | Some("latest") => "Always",
            Some(_) => "IfNotPresent",
        };
        set_path(c, &["imagePullPolicy"], json!(policy));
    }
    if let Some(Value::Array(ports)) = c.get_mut("ports") {
        for p in ports {
            default_at(p, &["protocol"], json!("TCP"));
        }
    }
}

/// Defaults of a PodSpec.
fn pod_spec_defaults(spec: &mut Value, restart: &str) {
    if !spec.is_object() {
        return;
    }
    default_at(spec, &["restartPolicy"], json!(restart));
    default_at(spec, &["terminationGracePeriodSeconds"], json!(30));
    default_at(spec, &["dnsPolicy"], json!("ClusterFirst"));
    default_at(spec, &["securityContext"], json!({}));
    default_at(spec, &["schedulerName"], json!("default-scheduler"));
    for list in ["containers", "initContainers"] {
        if let Some(Value::Array(cs)) = spec.get_mut(list) {
            for c in cs {
                container_defaults(c);
            }
        }
    }
}

fn template_defaults(obj: &mut Value, restart: &str) {
    if let Some(spec) = obj
        .get_mut("spec")
        .and_then(|s| s.get_mut("template"))
        .and_then(|t| t.get_mut("spec"))
    {
        pod_spec_defaults(spec, restart);
    }
}

/// Fills defaults into `obj`. `old` is the stored object on update (allocated
/// values such as a Service's cluster IP carry over); `next_ip` allocates a
/// new cluster IP.
pub(crate) fn apply_defaults(
    kind: &ResourceKind,
    obj: &mut Value,
    old: Option<&Value>,
    next_ip: &mut dyn FnMut() -> String,
) {
    if kind.custom {
        return;
    }
    match (kind.group.as_str(), kind.kind.as_str()) {
        ("", "Namespace") => {
            // The real server always sets this label to the name.
            let name = crate::meta::meta_str(obj, "name").to_string();
            set_path(
                obj,
                &["metadata", "labels", "kubernetes.io/metadata.name"],
                json!(name),
            );
            default_at(obj, &["spec", "finalizers"], json!(["kubernetes"]));
            default_at(obj, &["status", "phase"], json!("Active"));
        }
        ("", "Secret") => {
            default_at(obj, &["type"], json!("Opaque"));
            // stringData is write-only: merged into data, then dropped.
            if let Some(Value::Object(sd)) =
                obj.as_object_mut().and_then(|m| m.remove("stringData"))
            {
                for (k, v) in sd {
                    let enc = base64_encode(v.as_str().unwrap_or("").as_bytes());
                    set_path(obj, &["data", &k], json!(enc));
                }
            }
        }
        ("", "Service") => {
            default_at(obj, &["spec", "type"], json!("ClusterIP"));
            default_at(obj, &["spec", "sessionAffinity"], json!("None"));
            let t = get_path(obj, &["spec", "type"])
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if let Some(Value::Array(ports)) = obj.get_mut("spec").and_then(|s| s.get_mut("ports"))
            {
                for p in ports {
                    default_at(p, &["protocol"], json!("TCP"));
                    if get_path(p, &["targetPort"]).is_none() {
                        let port = p.get("port").cloned().unwrap_or(Value::Null);
                        set_path(p, &["targetPort"], port);
                    }
                }
            }
            if t != "ExternalName" {
                if get_path(obj, &["spec", "clusterIP"]).is_none() {
                    let ip = old
                        .and_then(|o| get_path(o, &["spec", "clusterIP"]))
                        .cloned()
                        .unwrap_or_else(|| json!(next_ip()));
                    set_path(obj, &["spec", "clusterIP"], ip);
                }
                let ip = get_path(obj, &["spec", "clusterIP"])
                    .cloned()
                    .unwrap_or(Value::Null);
                default_at(obj, &["spec", "clusterIPs"], json!([ip]));
                default_at(obj, &["spec", "ipFamilies"], json!(["IPv4"]));
                default_at(obj, &["spec", "ipFamilyPolicy"], json!("SingleStack"));
                default_at(obj, &["spec", "internalTrafficPolicy"], json!("Cluster"));
            }
            default_at(obj, &["status", "loadBalancer"], json!({}));
        }
        ("", "PersistentVolumeClaim") => {
            default_at(obj, &["spec", "volumeMode"], json!("Filesystem"));
            default_at(obj, &["status", "phase"], json!("Pending"));
        }
        ("", "Pod") => {
            if let Some(spec) = obj.get_mut("spec") {
                pod_spec_defaults(spec, "Always");
            }
            default_at(obj, &["status", "phase"], json!("Pending"));
        }
        ("apps", "Deployment") => {
            default_at(obj, &["spec", "replicas"], json!(1));
            default_at(obj, &["spec", "revisionHistoryLimit"], json!(10));
            default_at(obj, &["spec", "progressDeadlineSeconds"], json!(600));
            default_at(obj, &["spec", "strategy", "type"], json!("RollingUpdate"));
            if get_path(obj, &["spec", "strategy", "type"]) == Some(&json!("RollingUpdate")) {
                default_at(
                    obj,
                    &["spec", "strategy", "rollingUpdate", "maxUnavailable"],
                    json!("25%"),
                );
                default_at(
                    obj,
                    &["spec", "strategy", "rollingUpdate", "maxSurge"],
                    json!("25%"),
                );
            }
            template_defaults(obj, "Always");
        }
        ("apps", "StatefulSet") => {
            default_at(obj, &["spec", "replicas"], json!(1));
            default_at(obj, &["spec", "podManagementPolicy"], json!("OrderedReady"));
            default_at(obj, &["spec", "revisionHistoryLimit"], json!(10));
            default_at(
                obj,
                &["spec", "updateStrategy", "type"],
                json!("RollingUpdate"),
            );
            if get_path(obj, &["spec", "updateStrategy", "type"]) == Some(&json!("RollingUpdate")) {
                default_at(
                    obj,
                    &["spec", "updateStrategy", "rollingUpdate", "partition"],
                    json!(0),
                );
            }
            default_at(
                obj,
                &["spec", "persistentVolumeClaimRetentionPolicy"],
                json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
            );
            template_defaults(obj, "Always");
        }
        ("apps", "DaemonSet") => {
            default_at(obj, &["spec", "revisionHistoryLimit"], json!(10));
            default_at(
                obj,
                &["spec", "updateStrategy", "type"],
                json!("RollingUpdate"),
            );
            if get_path(obj, &["spec", "updateStrategy", "type"]) == Some(&json!("RollingUpdate")) {
                default_at(
                    obj,
                    &["spec", "updateStrategy", "rollingUpdate", "maxUnavailable"],
                    json!(1),
                );
                default_at(
                    obj,
                    &["spec", "updateStrategy", "rollingUpdate", "maxSurge"],
                    json!(0),
                );
            }
            template_defaults(obj, "Always");
        }
        ("batch", "Job") => {
            default_at(obj, &["spec", "parallelism"], json!(1));
            if get_path(obj, &["spec", "completions"]).is_none() {
                set_path(obj, &["spec", "completions"], json!(1));
            }
            default_at(obj, &["spec", "backoffLimit"], json!(6));
            default_at(obj, &["spec", "completionMode"], json!("NonIndexed"));
            default_at(obj, &["spec", "suspend"], json!(false));
            default_at(
                obj,
                &["spec", "podReplacementPolicy"],
                json!("TerminatingOrFailed"),
            );
            template_defaults(obj, "Never");
        }
        ("networking.k8s.io", "NetworkPolicy") => {
            if get_path(obj, &["spec", "policyTypes"]).is_none() {
                let mut types = vec![json!("Ingress")];
                if get_path(obj, &["spec", "egress"]).is_some() {
                    types.push(json!("Egress"));
                }
                set_path(obj, &["spec", "policyTypes"], Value::Array(types));
            }
            for dir in ["ingress", "egress"] {
                if let Some(Value::Array(rules)) = obj.get_mut("spec").and_then(|s| s.get_mut(dir))
                {
                    for r in rules {
                        if let Some(Value::Array(ports)) = r.get_mut("ports") {
                            for p in ports {
                                default_at(p, &["protocol"], json!("TCP"));
                            }
                        }
                    }
                }
            }
        }
        ("storage.k8s.io", "StorageClass") => {
            default_at(obj, &["reclaimPolicy"], json!("Delete"));
            default_at(obj, &["volumeBindingMode"], json!("Immediate"));
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            default_at(obj, &["spec", "conversion"], json!({"strategy": "None"}));
            let kind_name = get_path(obj, &["spec", "names", "kind"])
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if !kind_name.is_empty() {
                default_at(
                    obj,
                    &["spec", "names", "singular"],
                    json!(kind_name.to_lowercase()),
                );
                default_at(
                    obj,
                    &["spec", "names", "listKind"],
                    json!(format!("{kind_name}List")),
                );
            }
        }
        _ => {}
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub(crate) fn base64_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(B64[(n >> 18) as usize & 63] as char);
        out.push(B64[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            B64[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            B64[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// Whether `s` is valid standard base64 (padding required, as Go's
/// `StdEncoding`).
pub(crate) fn base64_valid(s: &str) -> bool {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(4) {
        return false;
    }
    let pad = b.iter().rev().take_while(|c| **c == b'=').count();
    if pad > 2 {
        return false;
    }
    b[..b.len() - pad].iter().all(|c| B64.contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::builtin_kinds;

    fn kind(k: &str) -> ResourceKind {
        builtin_kinds().into_iter().find(|x| x.kind == k).unwrap()
    }

    #[test]
    fn base64() {
        assert_eq!(base64_encode(b"hello"), "aGVsbG8=");
        assert_eq!(base64_encode(b"hi!"), "aGkh");
        assert!(base64_valid("aGVsbG8="));
        assert!(!base64_valid("aGVsbG8"));
        assert!(!base64_valid("a$=="));
    }

    #[test]
    fn deployment_defaults_are_idempotent() {
        let mut d = json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "nginx:1.25"}]}}}});
        let mut ip = || "10.96.0.1".to_string();
        apply_defaults(&kind("Deployment"), &mut d, None, &mut ip);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
            "IfNotPresent"
        );
        let once = d.clone();
        apply_defaults(&kind("Deployment"), &mut d, None, &mut ip);
        assert_eq!(d, once);
    }

    #[test]
    fn secret_string_data() {
        let mut s = json!({"stringData": {"k": "hello"}});
        apply_defaults(&kind("Secret"), &mut s, None, &mut || String::new());
        assert_eq!(s, json!({"type": "Opaque", "data": {"k": "aGVsbG8="}}));
    }
}
