//! Server-side defaulting for the built-in kinds: what a user sees in
//! `kubectl get -o yaml` right after creating an object from a minimal
//! manifest, and what a GitOps engine must not mistake for drift. Ported
//! from the real defaulters (`pkg/apis/{core,apps,batch,autoscaling}/v*/
//! defaults.go` with their generated `zz_generated.defaults.go` walks) and
//! the registry strategies that fill or allocate fields (Service IPs and
//! node ports, `pkg/registry/core/service`).
//!
//! Besides the defaults proper, built-in objects are normalised as the
//! typed Go round trip does: `null` fields are dropped, quantities are put
//! in canonical form ([`crate::quantity`]), embedded object metadata
//! (`spec.template.metadata`, claim templates) serialises a zero
//! `creationTimestamp` as `null` (Kubernetes 1.29–1.33; 1.34 omits it), and
//! StatefulSet claim templates carry `apiVersion`/`kind`.
//!
//! Only missing fields are filled, so defaulting is idempotent. Custom
//! resources are not defaulted (no schema).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::meta::{get_path, set_path};
use crate::registry::ResourceKind;

/// Values the server allocates for Services.
pub(crate) trait Allocator {
    /// The next free cluster IP.
    fn cluster_ip(&mut self) -> String;
    /// A free node port (30000-32767) that is neither used by another
    /// Service nor in `taken`.
    fn node_port(&mut self, taken: &BTreeSet<i64>) -> i64;
}

/// Sets `path` to `value` if it is absent or null.
fn default_at(obj: &mut Value, path: &[&str], value: Value) {
    if get_path(obj, path).is_none_or(Value::is_null) {
        set_path(obj, path, value);
    }
}

/// Sets `path` to `value` if it is absent, null or zero (Go's zero value of
/// a non-pointer number).
fn default_nonzero(obj: &mut Value, path: &[&str], value: Value) {
    let v = get_path(obj, path);
    if v.is_none_or(|v| v.is_null() || v.as_f64() == Some(0.0)) {
        set_path(obj, path, value);
    }
}

/// Sets `path` to `value` if it is absent, null or the empty string.
fn default_nonempty(obj: &mut Value, path: &[&str], value: Value) {
    let v = get_path(obj, path);
    if v.is_none_or(|v| v.is_null() || v.as_str() == Some("")) {
        set_path(obj, path, value);
    }
}

/// Drops `null` object fields, recursively: the typed decoding of built-ins
/// turns them into unset fields.
fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            for c in m.values_mut() {
                strip_nulls(c);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

fn items_mut<'a>(v: &'a mut Value, field: &str) -> impl Iterator<Item = &'a mut Value> {
    v.get_mut(field)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

/// Embedded `ObjectMeta` of a template: always serialised, with the zero
/// `creationTimestamp` as `null`.
fn embedded_metadata(obj: &mut Value) {
    if !obj.is_object() {
        return;
    }
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    let meta = obj["metadata"].as_object_mut().expect("object");
    if !meta.contains_key("creationTimestamp") {
        meta.insert("creationTimestamp".into(), Value::Null);
    }
}

/// `parsers.ParseImageName` as `SetDefaults_Container` uses it: `Always`
/// for `:latest` or no tag (and no digest), `IfNotPresent` otherwise
/// (including unparseable names).
fn image_pull_policy(image: &str) -> &'static str {
    if image.is_empty() {
        return "IfNotPresent";
    }
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last = name.rsplit('/').next().unwrap_or("");
    let tag = last.split_once(':').map(|(_, t)| t);
    match (tag, digest) {
        (Some("latest"), _) | (None, None) => "Always",
        _ => "IfNotPresent",
    }
}

/// `SetDefaults_HTTPGetAction`.
fn http_get_defaults(handler: &mut Value) {
    if let Some(h) = handler.get_mut("httpGet").filter(|h| h.is_object()) {
        default_nonempty(h, &["path"], json!("/"));
        default_nonempty(h, &["scheme"], json!("HTTP"));
    }
}

/// `SetDefaults_Probe` and its handlers.
fn probe_defaults(p: &mut Value) {
    if !p.is_object() {
        return;
    }
    default_nonzero(p, &["timeoutSeconds"], json!(1));
    default_nonzero(p, &["periodSeconds"], json!(10));
    default_nonzero(p, &["successThreshold"], json!(1));
    default_nonzero(p, &["failureThreshold"], json!(3));
    http_get_defaults(p);
    if let Some(g) = p.get_mut("grpc").filter(|g| g.is_object()) {
        default_at(g, &["service"], json!(""));
    }
}

/// A `resourceFieldRef`'s `divisor` is a non-pointer quantity: `"0"` when
/// unset.
fn resource_field_ref_defaults(holder: &mut Value) {
    if let Some(r) = holder.get_mut("resourceFieldRef").filter(|r| r.is_object()) {
        default_at(r, &["divisor"], json!("0"));
    }
    if let Some(f) = holder.get_mut("fieldRef").filter(|f| f.is_object()) {
        default_nonempty(f, &["apiVersion"], json!("v1"));
    }
}

/// `SetDefaults_Container` and the generated walk over a container.
fn container_defaults(c: &mut Value) {
    if !c.is_object() {
        return;
    }
    if get_path(c, &["imagePullPolicy"]).is_none_or(|v| v.is_null() || v == "") {
        let image = c.get("image").and_then(Value::as_str).unwrap_or("");
        let policy = image_pull_policy(image);
        set_path(c, &["imagePullPolicy"], json!(policy));
    }
    default_nonempty(
        c,
        &["terminationMessagePath"],
        json!("/dev/termination-log"),
    );
    default_nonempty(c, &["terminationMessagePolicy"], json!("File"));
    // A non-pointer struct: always serialised.
    default_at(c, &["resources"], json!({}));
    for p in items_mut(c, "ports") {
        default_nonempty(p, &["protocol"], json!("TCP"));
    }
    for e in items_mut(c, "env") {
        if let Some(from) = e.get_mut("valueFrom") {
            resource_field_ref_defaults(from);
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(probe) {
            probe_defaults(p);
        }
    }
    if let Some(l) = c.get_mut("lifecycle") {
        for hook in ["postStart", "preStop"] {
            if let Some(h) = l.get_mut(hook) {
                http_get_defaults(h);
            }
        }
    }
}

/// `SetDefaults_PersistentVolumeClaimSpec`.
fn pvc_spec_defaults(spec: &mut Value) {
    if spec.is_object() {
        default_nonempty(spec, &["volumeMode"], json!("Filesystem"));
    }
}

/// `SetDefaults_Volume` and the volume sources' defaults.
fn volume_defaults(v: &mut Value) {
    let Some(m) = v.as_object_mut() else {
        return;
    };
    if m.keys().all(|k| k == "name") {
        m.insert("emptyDir".into(), json!({}));
    }
    for source in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(s) = v.get_mut(source).filter(|s| s.is_object()) {
            default_at(s, &["defaultMode"], json!(420));
        }
    }
    if let Some(h) = v.get_mut("hostPath").filter(|h| h.is_object()) {
        default_at(h, &["type"], json!(""));
    }
    if let Some(d) = v.get_mut("downwardAPI") {
        for item in items_mut(d, "items") {
            resource_field_ref_defaults(item);
        }
    }
    if let Some(p) = v.get_mut("projected") {
        for src in items_mut(p, "sources") {
            if let Some(d) = src.get_mut("downwardAPI") {
                for item in items_mut(d, "items") {
                    resource_field_ref_defaults(item);
                }
            }
            if let Some(t) = src.get_mut("serviceAccountToken").filter(|t| t.is_object()) {
                default_at(t, &["expirationSeconds"], json!(3600));
            }
        }
    }
    if let Some(t) = v
        .get_mut("ephemeral")
        .and_then(|e| e.get_mut("volumeClaimTemplate"))
        .filter(|t| t.is_object())
    {
        embedded_metadata(t);
        if let Some(spec) = t.get_mut("spec") {
            pvc_spec_defaults(spec);
        }
    }
}

/// `SetDefaults_PodSpec` and the generated walk over a PodSpec.
fn pod_spec_defaults(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    default_nonempty(spec, &["dnsPolicy"], json!("ClusterFirst"));
    default_nonempty(spec, &["restartPolicy"], json!("Always"));
    default_at(spec, &["securityContext"], json!({}));
    default_at(spec, &["terminationGracePeriodSeconds"], json!(30));
    default_nonempty(spec, &["schedulerName"], json!("default-scheduler"));
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        for c in items_mut(spec, list) {
            container_defaults(c);
        }
    }
    for v in items_mut(spec, "volumes") {
        volume_defaults(v);
    }
}

/// `SetDefaults_Pod`: only for Pods, not templates.
fn pod_defaults(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    // Requests default to limits, per resource.
    for list in ["containers", "initContainers"] {
        for c in items_mut(spec, list) {
            let Some(limits) = get_path(c, &["resources", "limits"])
                .and_then(Value::as_object)
                .cloned()
            else {
                continue;
            };
            for (k, v) in limits {
                default_at(c, &["resources", "requests", k.as_str()], v);
            }
        }
    }
    default_at(spec, &["enableServiceLinks"], json!(true));
    if spec.get("hostNetwork") == Some(&json!(true)) {
        for list in ["containers", "initContainers"] {
            for c in items_mut(spec, list) {
                for p in items_mut(c, "ports") {
                    if let Some(cp) = p.get("containerPort").cloned() {
                        default_nonzero(p, &["hostPort"], cp);
                    }
                }
            }
        }
    }
    pod_spec_defaults(spec);
}

/// Defaults of `spec.template` (a PodTemplateSpec).
fn template_defaults(obj: &mut Value) {
    let Some(t) = obj
        .get_mut("spec")
        .and_then(|s| s.get_mut("template"))
        .filter(|t| t.is_object())
    else {
        return;
    };
    embedded_metadata(t);
    if let Some(spec) = t.get_mut("spec") {
        pod_spec_defaults(spec);
    }
}

/// `SetDefaults_StatefulSet` and the claim templates.
fn statefulset_defaults(obj: &mut Value) {
    default_nonempty(obj, &["spec", "podManagementPolicy"], json!("OrderedReady"));
    // A `rollingUpdate` is created only when the type was defaulted: an
    // explicit `type: RollingUpdate` without it gets no partition.
    if get_path(obj, &["spec", "updateStrategy", "type"]).is_none_or(|t| t.is_null() || t == "") {
        set_path(
            obj,
            &["spec", "updateStrategy", "type"],
            json!("RollingUpdate"),
        );
        default_at(obj, &["spec", "updateStrategy", "rollingUpdate"], json!({}));
    }
    if get_path(obj, &["spec", "updateStrategy", "type"]) == Some(&json!("RollingUpdate"))
        && get_path(obj, &["spec", "updateStrategy", "rollingUpdate"]).is_some_and(Value::is_object)
    {
        default_at(
            obj,
            &["spec", "updateStrategy", "rollingUpdate", "partition"],
            json!(0),
        );
    }
    let policy = ["spec", "persistentVolumeClaimRetentionPolicy"];
    default_at(obj, &policy, json!({}));
    default_nonempty(obj, &[policy[0], policy[1], "whenDeleted"], json!("Retain"));
    default_nonempty(obj, &[policy[0], policy[1], "whenScaled"], json!("Retain"));
    default_at(obj, &["spec", "replicas"], json!(1));
    default_at(obj, &["spec", "revisionHistoryLimit"], json!(10));
    template_defaults(obj);
    if let Some(spec) = obj.get_mut("spec") {
        for t in items_mut(spec, "volumeClaimTemplates") {
            if !t.is_object() {
                continue;
            }
            // Set on every read (apps/v1 conversion), whatever was sent.
            t["apiVersion"] = json!("v1");
            t["kind"] = json!("PersistentVolumeClaim");
            embedded_metadata(t);
            default_at(t, &["spec"], json!({}));
            if let Some(s) = t.get_mut("spec") {
                pvc_spec_defaults(s);
            }
            default_nonempty(t, &["status", "phase"], json!("Pending"));
        }
    }
}

/// `SetDefaults_Job`.
fn job_defaults(obj: &mut Value) {
    let absent = |obj: &Value, f: &str| get_path(obj, &["spec", f]).is_none_or(Value::is_null);
    if absent(obj, "completions") && absent(obj, "parallelism") {
        set_path(obj, &["spec", "completions"], json!(1));
        set_path(obj, &["spec", "parallelism"], json!(1));
    }
    default_at(obj, &["spec", "parallelism"], json!(1));
    let backoff = if absent(obj, "backoffLimitPerIndex") {
        json!(6)
    } else {
        json!(i32::MAX)
    };
    default_at(obj, &["spec", "backoffLimit"], backoff);
    let template_labels = get_path(obj, &["spec", "template", "metadata", "labels"])
        .filter(|l| l.is_object())
        .cloned();
    if let Some(labels) = template_labels
        && get_path(obj, &["metadata", "labels"])
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty)
    {
        set_path(obj, &["metadata", "labels"], labels);
    }
    default_at(obj, &["spec", "completionMode"], json!("NonIndexed"));
    default_at(obj, &["spec", "suspend"], json!(false));
    let replacement = if absent(obj, "podFailurePolicy") {
        "TerminatingOrFailed"
    } else {
        "Failed"
    };
    default_at(obj, &["spec", "podReplacementPolicy"], json!(replacement));
    if let Some(rules) = obj
        .get_mut("spec")
        .and_then(|s| s.get_mut("podFailurePolicy"))
        .and_then(|p| p.get_mut("rules"))
        .and_then(Value::as_array_mut)
    {
        for r in rules {
            for c in items_mut(r, "onPodConditions") {
                default_nonempty(c, &["status"], json!("True"));
            }
        }
    }
    // Restart policy defaults to Always, which Job validation then rejects,
    // as on the real server.
    template_defaults(obj);
}

/// The HPA scaling rules `GenerateHPAScaleUpRules`/`…ScaleDownRules` start
/// from; the given fields (`copyHPAScalingRules`) win.
fn hpa_rules(given: Option<&Value>, up: bool) -> Value {
    let mut rules = if up {
        json!({
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [
                {"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15},
            ],
        })
    } else {
        // No stabilization window: the controller's
        // --horizontal-pod-autoscaler-downscale-stabilization applies.
        json!({
            "selectPolicy": "Max",
            "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
        })
    };
    if let Some(Value::Object(g)) = given {
        for (k, v) in g {
            if k == "policies" && v.as_array().is_some_and(Vec::is_empty) {
                // An explicit empty list wins but is omitted (omitempty).
                rules.as_object_mut().expect("object").remove("policies");
                continue;
            }
            rules[k] = v.clone();
        }
    }
    rules
}

/// `SetDefaults_HorizontalPodAutoscaler` (autoscaling/v2).
fn hpa_defaults(obj: &mut Value) {
    default_at(obj, &["spec", "minReplicas"], json!(1));
    if get_path(obj, &["spec", "metrics"])
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        set_path(
            obj,
            &["spec", "metrics"],
            json!([{"type": "Resource", "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 80}
            }}]),
        );
    }
    // Only a behavior that is present gets its rules filled in.
    if let Some(b) = obj
        .get_mut("spec")
        .and_then(|s| s.get_mut("behavior"))
        .filter(|b| b.is_object())
    {
        let up = hpa_rules(b.get("scaleUp"), true);
        let down = hpa_rules(b.get("scaleDown"), false);
        b["scaleUp"] = up;
        b["scaleDown"] = down;
    }
}

/// A port's `nodePort`, 0 when unset.
fn node_port(p: &Value) -> i64 {
    p.get("nodePort").and_then(Value::as_i64).unwrap_or(0)
}

fn svc_type(svc: &Value) -> &str {
    get_path(svc, &["spec", "type"])
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn needs_cluster_ip(svc: &Value) -> bool {
    svc_type(svc) != "ExternalName"
}

fn needs_node_port(svc: &Value) -> bool {
    matches!(svc_type(svc), "NodePort" | "LoadBalancer")
}

fn needs_hc_node_port(svc: &Value) -> bool {
    svc_type(svc) == "LoadBalancer"
        && get_path(svc, &["spec", "externalTrafficPolicy"]) == Some(&json!("Local"))
}

/// `service.ExternallyAccessible`.
fn externally_accessible(svc: &Value) -> bool {
    match svc_type(svc) {
        "LoadBalancer" | "NodePort" => true,
        "ClusterIP" => get_path(svc, &["spec", "externalIPs"])
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty()),
        _ => false,
    }
}

fn spec_field<'a>(svc: &'a Value, f: &str) -> Option<&'a Value> {
    get_path(svc, &["spec", f]).filter(|v| !v.is_null())
}

fn remove_spec_field(svc: &mut Value, f: &str) {
    if let Some(Value::Object(spec)) = svc.get_mut("spec") {
        spec.remove(f);
    }
}

fn node_ports_set(svc: &Value) -> BTreeSet<i64> {
    get_path(svc, &["spec", "ports"])
        .and_then(Value::as_array)
        .map(|ps| ps.iter().map(node_port).filter(|n| *n != 0).collect())
        .unwrap_or_default()
}

/// `SetDefaults_Service`.
fn service_defaults(obj: &mut Value) {
    default_nonempty(obj, &["spec", "sessionAffinity"], json!("None"));
    let affinity = get_path(obj, &["spec", "sessionAffinity"])
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let timeout = [
        "spec",
        "sessionAffinityConfig",
        "clientIP",
        "timeoutSeconds",
    ];
    if affinity == "None" {
        remove_spec_field(obj, "sessionAffinityConfig");
    } else if affinity == "ClientIP" && get_path(obj, &timeout).is_none() {
        set_path(
            obj,
            &["spec", "sessionAffinityConfig"],
            json!({"clientIP": {"timeoutSeconds": 10800}}),
        );
    }
    default_nonempty(obj, &["spec", "type"], json!("ClusterIP"));
    if let Some(spec) = obj.get_mut("spec") {
        for p in items_mut(spec, "ports") {
            default_nonempty(p, &["protocol"], json!("TCP"));
            let unset = p
                .get("targetPort")
                .is_none_or(|t| t.is_null() || t == &json!(0) || t == &json!(""));
            if unset && let Some(port) = p.get("port").cloned() {
                p["targetPort"] = port;
            }
        }
    }
    if externally_accessible(obj) {
        default_nonempty(obj, &["spec", "externalTrafficPolicy"], json!("Cluster"));
    }
    if matches!(svc_type(obj), "NodePort" | "LoadBalancer" | "ClusterIP") {
        default_at(obj, &["spec", "internalTrafficPolicy"], json!("Cluster"));
    }
    if svc_type(obj) == "LoadBalancer" {
        default_at(obj, &["spec", "allocateLoadBalancerNodePorts"], json!(true));
        if let Some(lb) = obj
            .get_mut("status")
            .and_then(|s| s.get_mut("loadBalancer"))
        {
            for ing in items_mut(lb, "ingress") {
                if ing
                    .get("ip")
                    .and_then(Value::as_str)
                    .is_some_and(|ip| !ip.is_empty())
                {
                    default_at(ing, &["ipMode"], json!("VIP"));
                }
            }
        }
    }
}

/// `dropTypeDependentFields`: on a type change, fields that no longer apply
/// and that the user did not change are cleared (and released).
fn drop_type_dependent_fields(new: &mut Value, old: &Value) {
    if needs_cluster_ip(old) && !needs_cluster_ip(new) {
        let same = |new: &Value, f: &str| spec_field(old, f) == spec_field(new, f);
        if same(new, "clusterIP") && same(new, "clusterIPs") {
            remove_spec_field(new, "clusterIP");
            remove_spec_field(new, "clusterIPs");
        }
        if same(new, "ipFamilies") {
            remove_spec_field(new, "ipFamilies");
        }
        if same(new, "ipFamilyPolicy") {
            remove_spec_field(new, "ipFamilyPolicy");
        }
    }
    if needs_node_port(old)
        && !needs_node_port(new)
        && node_ports_set(new).is_subset(&node_ports_set(old))
        && let Some(spec) = new.get_mut("spec")
    {
        for p in items_mut(spec, "ports") {
            if let Some(m) = p.as_object_mut() {
                m.remove("nodePort");
            }
        }
    }
    if needs_hc_node_port(old)
        && !needs_hc_node_port(new)
        && spec_field(old, "healthCheckNodePort") == spec_field(new, "healthCheckNodePort")
    {
        remove_spec_field(new, "healthCheckNodePort");
    }
    if svc_type(old) == "LoadBalancer" && svc_type(new) != "LoadBalancer" {
        let (o, n) = (
            spec_field(old, "allocateLoadBalancerNodePorts"),
            spec_field(new, "allocateLoadBalancerNodePorts"),
        );
        if o.is_some() && o == n {
            remove_spec_field(new, "allocateLoadBalancerNodePorts");
        }
        if spec_field(old, "loadBalancerClass") == spec_field(new, "loadBalancerClass") {
            remove_spec_field(new, "loadBalancerClass");
        }
    }
    if externally_accessible(old)
        && !externally_accessible(new)
        && spec_field(old, "externalTrafficPolicy") == spec_field(new, "externalTrafficPolicy")
    {
        remove_spec_field(new, "externalTrafficPolicy");
    }
    // Only on a type change here: status writes (which the real server
    // does not pass through this) share this path.
    if svc_type(new) != "LoadBalancer" && svc_type(old) != svc_type(new) {
        set_path(new, &["status", "loadBalancer"], json!({}));
    }
}

/// `patchAllocatedValues`: values the server allocated carry over when an
/// update omits them (cluster IPs; node ports by port name; the health
/// check node port).
fn patch_allocated_values(new: &mut Value, old: &Value) {
    if needs_cluster_ip(old) && needs_cluster_ip(new) {
        if spec_field(new, "clusterIP").is_none_or(|v| v == "")
            && let Some(ip) = spec_field(old, "clusterIP").cloned()
        {
            set_path(new, &["spec", "clusterIP"], ip);
        }
        if spec_field(new, "clusterIPs")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
            && let Some(ips) = spec_field(old, "clusterIPs")
                .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
                .cloned()
        {
            set_path(new, &["spec", "clusterIPs"], ips);
        }
    }
    if needs_node_port(old) && needs_node_port(new) {
        let used: BTreeSet<i64> = node_ports_set(old)
            .intersection(&node_ports_set(new))
            .copied()
            .collect();
        let by_name: BTreeMap<String, i64> = get_path(old, &["spec", "ports"])
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .map(|p| {
                        let name = p.get("name").and_then(Value::as_str).unwrap_or("");
                        (name.to_string(), node_port(p))
                    })
                    .collect()
            })
            .unwrap_or_default();
        if let Some(spec) = new.get_mut("spec") {
            for p in items_mut(spec, "ports") {
                if node_port(p) != 0 {
                    continue;
                }
                let name = p.get("name").and_then(Value::as_str).unwrap_or("");
                if let Some(&np) = by_name.get(name)
                    && np != 0
                    && !used.contains(&np)
                {
                    p["nodePort"] = json!(np);
                }
            }
        }
    }
    if needs_hc_node_port(old)
        && needs_hc_node_port(new)
        && spec_field(new, "healthCheckNodePort").is_none_or(|v| v == &json!(0))
        && let Some(hc) = spec_field(old, "healthCheckNodePort").cloned()
    {
        set_path(new, &["spec", "healthCheckNodePort"], hc);
    }
}

/// Allocation of what is still missing: the cluster IP, a node port per
/// port (ports sharing a number share the node port, as `initNodePorts`
/// does), the health check node port.
fn allocate_service(obj: &mut Value, alloc: &mut dyn Allocator) {
    if needs_cluster_ip(obj) {
        if spec_field(obj, "clusterIP").is_none_or(|v| v == "") {
            let ip = alloc.cluster_ip();
            set_path(obj, &["spec", "clusterIP"], json!(ip));
        }
        let ip = spec_field(obj, "clusterIP").cloned().unwrap_or(Value::Null);
        if spec_field(obj, "clusterIPs")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
        {
            set_path(obj, &["spec", "clusterIPs"], json!([ip]));
        }
        // Headless and selectorless: it may front endpoints of any family
        // (`initIPFamilyFields`): RequireDualStack with both families.
        let headless_selectorless = spec_field(obj, "clusterIP") == Some(&json!("None"))
            && spec_field(obj, "selector")
                .and_then(Value::as_object)
                .is_none_or(Map::is_empty);
        if headless_selectorless {
            if spec_field(obj, "ipFamilyPolicy").is_none()
                && spec_field(obj, "ipFamilies").is_none()
            {
                set_path(obj, &["spec", "ipFamilyPolicy"], json!("RequireDualStack"));
            }
            default_at(obj, &["spec", "ipFamilies"], json!(["IPv4"]));
            let single = spec_field(obj, "ipFamilyPolicy") == Some(&json!("SingleStack"));
            if let Some(Value::Array(fams)) = obj.pointer_mut("/spec/ipFamilies")
                && fams.len() == 1
                && !single
            {
                let other = if fams[0] == "IPv6" { "IPv4" } else { "IPv6" };
                fams.push(json!(other));
            }
        }
        default_at(obj, &["spec", "ipFamilies"], json!(["IPv4"]));
        default_at(obj, &["spec", "ipFamilyPolicy"], json!("SingleStack"));
    }
    let allocate_ports = svc_type(obj) == "NodePort"
        || (svc_type(obj) == "LoadBalancer"
            && spec_field(obj, "allocateLoadBalancerNodePorts") != Some(&json!(false)));
    if allocate_ports && let Some(spec) = obj.get_mut("spec") {
        let mut taken = node_ports_set_of(spec);
        let requested: Vec<(Value, i64)> = spec
            .get("ports")
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .map(|p| (p.get("port").cloned().unwrap_or(Value::Null), node_port(p)))
                    .collect()
            })
            .unwrap_or_default();
        let mut by_port: Vec<(Value, i64)> = Vec::new();
        for (i, p) in items_mut(spec, "ports").enumerate() {
            let port = p.get("port").cloned().unwrap_or(Value::Null);
            if node_port(p) != 0 {
                if !by_port.iter().any(|(q, _)| *q == port) {
                    by_port.push((port, node_port(p)));
                }
                continue;
            }
            let np = match by_port.iter().find(|(q, _)| *q == port) {
                Some((_, np)) => *np,
                None => {
                    // A port number the user gave a node port further down.
                    let requested = requested[i + 1..]
                        .iter()
                        .find(|(q, n)| *q == port && *n != 0)
                        .map(|(_, n)| *n);
                    let np = requested.unwrap_or_else(|| alloc.node_port(&taken));
                    taken.insert(np);
                    by_port.push((port, np));
                    np
                }
            };
            p["nodePort"] = json!(np);
        }
    }
    if needs_hc_node_port(obj)
        && spec_field(obj, "healthCheckNodePort").is_none_or(|v| v == &json!(0))
    {
        let mut taken = obj.get("spec").map(node_ports_set_of).unwrap_or_default();
        if let Some(hc) = spec_field(obj, "healthCheckNodePort").and_then(Value::as_i64) {
            taken.insert(hc);
        }
        let np = alloc.node_port(&taken);
        set_path(obj, &["spec", "healthCheckNodePort"], json!(np));
    }
}

fn node_ports_set_of(spec: &Value) -> BTreeSet<i64> {
    spec.get("ports")
        .and_then(Value::as_array)
        .map(|ps| ps.iter().map(node_port).filter(|n| *n != 0).collect())
        .unwrap_or_default()
}

/// Fills defaults into `obj` (a built-in object being written). `old` is the
/// stored object on update (allocated values carry over); `alloc`
/// allocates cluster IPs and node ports.
/// Fields the registry sets on create after field management ran
/// (`PrepareForCreate`): nobody owns them for that write.
pub(crate) fn set_on_create(kind: &ResourceKind) -> &'static [&'static [&'static str]] {
    match (kind.group.as_str(), kind.kind.as_str()) {
        ("", "Namespace") => &[&["spec", "finalizers"]],
        ("batch", "Job") => &[
            &["spec", "selector"],
            &["spec", "template", "metadata", "labels"],
            &["metadata", "labels"],
        ],
        _ => &[],
    }
}

/// The Job registry's generated selector (`generateSelectorIfNeeded`): on
/// create, unless `manualSelector` is true, the template gets the
/// `controller-uid`/`job-name` labels (and their `batch.kubernetes.io/`
/// forms) and the selector matches the uid.
fn job_generate_selector(obj: &mut Value) {
    if get_path(obj, &["spec", "manualSelector"]) == Some(&json!(true)) {
        return;
    }
    let uid = crate::meta::meta_str(obj, "uid").to_string();
    let name = crate::meta::meta_str(obj, "name").to_string();
    for (k, v) in [
        ("batch.kubernetes.io/controller-uid", &uid),
        ("batch.kubernetes.io/job-name", &name),
        ("controller-uid", &uid),
        ("job-name", &name),
    ] {
        set_path(
            obj,
            &["spec", "template", "metadata", "labels", k],
            json!(v),
        );
    }
    if get_path(obj, &["spec", "selector"]).is_none_or(Value::is_null) {
        set_path(
            obj,
            &["spec", "selector"],
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
        );
    }
}

pub(crate) fn apply_defaults(
    kind: &ResourceKind,
    obj: &mut Value,
    old: Option<&Value>,
    alloc: &mut dyn Allocator,
) {
    if kind.custom {
        return;
    }
    strip_nulls(obj);
    // Invalid quantities were refused before (`check_decodable`).
    let _ = crate::quantity::canonicalize(&kind.group, &kind.kind, obj);
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
            service_defaults(obj);
            if let Some(old) = old {
                drop_type_dependent_fields(obj, old);
                patch_allocated_values(obj, old);
            }
            allocate_service(obj, alloc);
            default_at(obj, &["status", "loadBalancer"], json!({}));
        }
        ("", "PersistentVolumeClaim") => {
            if let Some(spec) = obj.get_mut("spec") {
                pvc_spec_defaults(spec);
            }
            default_nonempty(obj, &["status", "phase"], json!("Pending"));
        }
        ("", "Pod") => {
            if let Some(spec) = obj.get_mut("spec") {
                pod_defaults(spec);
            }
            default_nonempty(obj, &["status", "phase"], json!("Pending"));
        }
        ("apps", "Deployment") => {
            default_at(obj, &["spec", "replicas"], json!(1));
            default_nonempty(obj, &["spec", "strategy", "type"], json!("RollingUpdate"));
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
            default_at(obj, &["spec", "revisionHistoryLimit"], json!(10));
            default_at(obj, &["spec", "progressDeadlineSeconds"], json!(600));
            template_defaults(obj);
        }
        ("apps", "StatefulSet") => {
            statefulset_defaults(obj);
            // StatefulSetStatus.replicas and .availableReplicas are not
            // omitempty: a zero status reads {replicas: 0, availableReplicas: 0}.
            if let Some(st) = obj.get_mut("status").and_then(Value::as_object_mut) {
                st.entry("replicas").or_insert(json!(0));
                st.entry("availableReplicas").or_insert(json!(0));
            }
        }
        ("apps", "DaemonSet") => {
            default_nonempty(
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
            default_at(obj, &["spec", "revisionHistoryLimit"], json!(10));
            template_defaults(obj);
        }
        ("batch", "Job") => {
            if old.is_none() {
                job_generate_selector(obj);
            }
            default_at(obj, &["spec", "manualSelector"], json!(false));
            job_defaults(obj);
        }
        ("autoscaling", "HorizontalPodAutoscaler") => hpa_defaults(obj),
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
            // PrepareForCreate: a zero status with the storage version.
            if obj.get("status").is_none_or(|s| s == &json!({})) {
                let stored: Vec<Value> = get_path(obj, &["spec", "versions"])
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|v| v["storage"] == json!(true))
                    .filter_map(|v| v.get("name").cloned())
                    .collect();
                obj["status"] = json!({
                    "conditions": null,
                    "acceptedNames": {"plural": "", "kind": ""},
                    "storedVersions": stored,
                });
            }
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

    /// Sequential cluster IPs and node ports.
    #[derive(Default)]
    struct Seq {
        ip: u32,
        port: i64,
    }

    impl Allocator for Seq {
        fn cluster_ip(&mut self) -> String {
            self.ip += 1;
            format!("10.96.0.{}", self.ip)
        }
        fn node_port(&mut self, taken: &BTreeSet<i64>) -> i64 {
            loop {
                self.port += 1;
                let p = 30000 + self.port;
                if !taken.contains(&p) {
                    return p;
                }
            }
        }
    }

    fn defaulted(k: &str, mut obj: Value, old: Option<&Value>, alloc: &mut Seq) -> Value {
        apply_defaults(&kind(k), &mut obj, old, alloc);
        obj
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
        let mut a = Seq::default();
        let d = json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "nginx:1.25"}]}}}});
        let d = defaulted("Deployment", d, None, &mut a);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(
            d["spec"]["template"]["metadata"],
            json!({"creationTimestamp": null})
        );
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
            "IfNotPresent"
        );
        let again = defaulted("Deployment", d.clone(), None, &mut a);
        assert_eq!(again, d);
    }

    #[test]
    fn image_pull_policies() {
        for (image, want) in [
            ("nginx", "Always"),
            ("nginx:latest", "Always"),
            ("nginx:1.25", "IfNotPresent"),
            ("registry:5000/team/app", "Always"),
            ("registry:5000/team/app:v1", "IfNotPresent"),
            ("app@sha256:abcd", "IfNotPresent"),
            ("app:latest@sha256:abcd", "Always"),
            ("", "IfNotPresent"),
        ] {
            assert_eq!(image_pull_policy(image), want, "{image}");
        }
    }

    #[test]
    fn secret_string_data() {
        let s = defaulted(
            "Secret",
            json!({"stringData": {"k": "hello"}}),
            None,
            &mut Seq::default(),
        );
        assert_eq!(s, json!({"type": "Opaque", "data": {"k": "aGVsbG8="}}));
    }

    #[test]
    fn nulls_are_dropped() {
        let c = defaulted(
            "ConfigMap",
            json!({"metadata": {"annotations": null}, "data": {"a": "b"}, "binaryData": null}),
            None,
            &mut Seq::default(),
        );
        assert_eq!(c, json!({"metadata": {}, "data": {"a": "b"}}));
    }

    #[test]
    fn statefulset_update_strategy() {
        let mut a = Seq::default();
        let s = defaulted("StatefulSet", json!({"spec": {}}), None, &mut a);
        assert_eq!(
            s["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        );
        // An explicit type without rollingUpdate gets no partition.
        let s = defaulted(
            "StatefulSet",
            json!({"spec": {"updateStrategy": {"type": "RollingUpdate"},
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete"}}}),
            None,
            &mut a,
        );
        assert_eq!(
            s["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate"})
        );
        assert_eq!(
            s["spec"]["persistentVolumeClaimRetentionPolicy"],
            json!({"whenDeleted": "Delete", "whenScaled": "Retain"})
        );
        let s = defaulted(
            "StatefulSet",
            json!({"spec": {"updateStrategy": {"type": "OnDelete"}}}),
            None,
            &mut a,
        );
        assert_eq!(s["spec"]["updateStrategy"], json!({"type": "OnDelete"}));
    }

    #[test]
    fn hpa_behavior_only_when_present() {
        let mut a = Seq::default();
        let h = defaulted(
            "HorizontalPodAutoscaler",
            json!({"spec": {"maxReplicas": 3}}),
            None,
            &mut a,
        );
        assert_eq!(h["spec"]["minReplicas"], 1);
        assert!(h["spec"].get("behavior").is_none());
        assert_eq!(
            h["spec"]["metrics"],
            json!([{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 80}}}])
        );
        let h = defaulted(
            "HorizontalPodAutoscaler",
            json!({"spec": {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}}),
            None,
            &mut a,
        );
        assert_eq!(
            h["spec"]["behavior"],
            json!({
                "scaleDown": {"selectPolicy": "Max", "stabilizationWindowSeconds": 60,
                    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]},
                "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
                    {"type": "Pods", "value": 4, "periodSeconds": 15},
                    {"type": "Percent", "value": 100, "periodSeconds": 15}]}
            })
        );
    }

    #[test]
    fn job_completions_and_parallelism() {
        let mut a = Seq::default();
        let j = defaulted("Job", json!({"spec": {}}), None, &mut a);
        assert_eq!(
            (&j["spec"]["completions"], &j["spec"]["parallelism"]),
            (&json!(1), &json!(1))
        );
        let j = defaulted("Job", json!({"spec": {"parallelism": 3}}), None, &mut a);
        assert!(j["spec"].get("completions").is_none());
        let j = defaulted("Job", json!({"spec": {"completions": 5}}), None, &mut a);
        assert_eq!(j["spec"]["parallelism"], 1);
    }

    #[test]
    fn service_node_ports_are_allocated_kept_and_released() {
        let mut a = Seq::default();
        let svc = json!({"spec": {"type": "NodePort", "ports": [
            {"name": "http", "port": 80},
            {"name": "dns", "port": 53, "protocol": "UDP"},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP"}
        ]}});
        let created = defaulted("Service", svc.clone(), None, &mut a);
        let ports = created["spec"]["ports"].as_array().unwrap();
        assert_eq!(ports[0]["nodePort"], 30001);
        assert_eq!(ports[0]["targetPort"], 80);
        // Same port number, other protocol: the same node port.
        assert_eq!(ports[1]["nodePort"], ports[2]["nodePort"]);
        assert_eq!(created["spec"]["externalTrafficPolicy"], "Cluster");

        // An update that omits them keeps them (by port name).
        let again = defaulted("Service", svc, Some(&created), &mut a);
        assert_eq!(again, created);

        // To ClusterIP: node ports and the external policy are dropped.
        let mut cip = created.clone();
        cip["spec"]["type"] = json!("ClusterIP");
        let cip = defaulted("Service", cip, Some(&created), &mut a);
        assert!(cip["spec"]["ports"][0].get("nodePort").is_none());
        assert!(cip["spec"].get("externalTrafficPolicy").is_none());
        assert_eq!(cip["spec"]["clusterIP"], created["spec"]["clusterIP"]);
    }

    #[test]
    fn load_balancer_defaults() {
        let mut a = Seq::default();
        let lb = defaulted(
            "Service",
            json!({"spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local",
                "ports": [{"port": 443, "targetPort": "https"}]}}),
            None,
            &mut a,
        );
        assert_eq!(lb["spec"]["allocateLoadBalancerNodePorts"], true);
        assert_eq!(lb["spec"]["ports"][0]["targetPort"], "https");
        assert!(lb["spec"]["ports"][0]["nodePort"].is_i64());
        assert!(lb["spec"]["healthCheckNodePort"].is_i64());
        let no_ports = defaulted(
            "Service",
            json!({"spec": {"type": "LoadBalancer", "allocateLoadBalancerNodePorts": false,
                "ports": [{"port": 443}]}}),
            None,
            &mut a,
        );
        assert!(no_ports["spec"]["ports"][0].get("nodePort").is_none());
    }

    #[test]
    fn headless_service_families() {
        let mut a = Seq::default();
        let sel = defaulted(
            "Service",
            json!({"spec": {"clusterIP": "None", "selector": {"app": "db"}, "ports": [{"port": 5432}]}}),
            None,
            &mut a,
        );
        assert_eq!(sel["spec"]["ipFamilyPolicy"], "SingleStack");
        assert_eq!(sel["spec"]["ipFamilies"], json!(["IPv4"]));
        assert_eq!(sel["spec"]["clusterIPs"], json!(["None"]));
        let bare = defaulted(
            "Service",
            json!({"spec": {"clusterIP": "None"}}),
            None,
            &mut a,
        );
        assert_eq!(bare["spec"]["ipFamilyPolicy"], "RequireDualStack");
        assert_eq!(bare["spec"]["ipFamilies"], json!(["IPv4", "IPv6"]));
    }

    #[test]
    fn pod_template_nested_defaults() {
        let mut a = Seq::default();
        let d = defaulted(
            "Deployment",
            json!({"spec": {"template": {"spec": {
                "containers": [{"name": "a", "image": "x",
                    "livenessProbe": {"httpGet": {"port": 80}},
                    "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                            {"name": "C", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}]}],
                "volumes": [{"name": "s", "secret": {"secretName": "s"}}, {"name": "e"},
                    {"name": "h", "hostPath": {"path": "/x"}}]
            }}}}),
            None,
            &mut a,
        );
        let spec = &d["spec"]["template"]["spec"];
        let c = &spec["containers"][0];
        assert_eq!(
            c["livenessProbe"],
            json!({"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
        );
        assert_eq!(c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
        assert_eq!(c["env"][1]["valueFrom"]["resourceFieldRef"]["divisor"], "0");
        assert_eq!(spec["volumes"][0]["secret"]["defaultMode"], 420);
        assert_eq!(spec["volumes"][1], json!({"name": "e", "emptyDir": {}}));
        assert_eq!(spec["volumes"][2]["hostPath"]["type"], "");
        // Pod-only defaults stay out of templates.
        assert!(spec.get("enableServiceLinks").is_none());
    }
}
