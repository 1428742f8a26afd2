//! Health of live objects: one `check(fixture, expected)` helper over
//! `tests/testdata/<kind>-<state>.yaml` (objects as a real cluster returns
//! them, status included), then edge cases on small inline objects, then
//! `aggregate`.

use std::path::Path;

use flotilla_core::health::{self, Health, HealthStatus, aggregate, health_of};
use flotilla_core::yaml::{parse, split_documents};
use serde_json::{Value, json};

use HealthStatus::{Degraded, Healthy, Missing, Progressing, Unknown};

/// Reads `tests/testdata/<fixture>` (one YAML document).
fn load(fixture: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/testdata")
        .join(fixture);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let docs = split_documents(&text);
    assert_eq!(docs.len(), 1, "{fixture} should hold one document");
    parse(fixture, &docs[0]).unwrap_or_else(|d| panic!("{fixture}: {d:?}"))
}

/// Asserts the fixture's health status; returns the health for checks on
/// its message.
fn check(fixture: &str, expected: HealthStatus) -> Health {
    let health = health_of(&load(fixture));
    assert_eq!(
        health.status, expected,
        "{fixture}: message {:?}",
        health.message
    );
    health
}

// ---- Deployment ----

#[test]
fn deployment_healthy() {
    let h = check("deployment-healthy.yaml", Healthy);
    assert_eq!(h.message, r#"deployment "web" successfully rolled out"#);
}

#[test]
fn deployment_progressing() {
    let h = check("deployment-progressing.yaml", Progressing);
    assert!(
        h.message.contains("1 out of 3 new replicas"),
        "{}",
        h.message
    );
}

#[test]
fn deployment_old_replicas() {
    let h = check("deployment-old-replicas.yaml", Progressing);
    assert!(
        h.message.contains("1 old replicas are pending termination"),
        "{}",
        h.message
    );
}

#[test]
fn deployment_degraded() {
    let h = check("deployment-degraded.yaml", Degraded);
    assert!(
        h.message.contains("exceeded its progress deadline"),
        "{}",
        h.message
    );
}

#[test]
fn deployment_paused() {
    let h = check("deployment-paused.yaml", Progressing);
    assert_eq!(h.message, "paused");
}

// ---- StatefulSet ----

#[test]
fn statefulset_healthy() {
    check("statefulset-healthy.yaml", Healthy);
}

#[test]
fn statefulset_progressing() {
    // Every pod is ready, but only one runs the new revision.
    let h = check("statefulset-progressing.yaml", Progressing);
    assert!(h.message.contains("db-7c9d5f6b8"), "{}", h.message);
}

#[test]
fn statefulset_partitioned() {
    let h = check("statefulset-partitioned.yaml", Healthy);
    assert!(
        h.message.contains("partitioned roll out complete"),
        "{}",
        h.message
    );
}

#[test]
fn statefulset_partitioned_progressing() {
    let h = check("statefulset-partitioned-progressing.yaml", Progressing);
    assert!(h.message.contains("1 out of 2 new pods"), "{}", h.message);
}

#[test]
fn statefulset_ondelete() {
    check("statefulset-ondelete.yaml", Healthy);
}

// ---- DaemonSet ----

#[test]
fn daemonset_healthy() {
    check("daemonset-healthy.yaml", Healthy);
}

#[test]
fn daemonset_progressing() {
    let h = check("daemonset-progressing.yaml", Progressing);
    assert!(h.message.contains("1 out of 3 new pods"), "{}", h.message);
}

#[test]
fn daemonset_ondelete() {
    check("daemonset-ondelete.yaml", Healthy);
}

// ---- Job, CronJob ----

#[test]
fn job_complete() {
    check("job-complete.yaml", Healthy);
}

#[test]
fn job_failed() {
    let h = check("job-failed.yaml", Degraded);
    assert_eq!(
        h.message,
        "BackoffLimitExceeded: Job has reached the specified backoff limit"
    );
}

#[test]
fn job_running() {
    let h = check("job-running.yaml", Progressing);
    assert!(h.message.contains("1 active"), "{}", h.message);
}

#[test]
fn cronjob_any() {
    check("cronjob-any.yaml", Healthy);
}

// ---- Pod ----

#[test]
fn pod_ready() {
    check("pod-ready.yaml", Healthy);
}

#[test]
fn pod_crashloop() {
    let h = check("pod-crashloop.yaml", Degraded);
    assert!(
        h.message
            .starts_with(r#"container "web": CrashLoopBackOff: back-off 2m40s"#),
        "{}",
        h.message
    );
}

#[test]
fn pod_imagepull() {
    let h = check("pod-imagepull.yaml", Degraded);
    assert!(h.message.contains("ImagePullBackOff"), "{}", h.message);
}

#[test]
fn pod_starting() {
    let h = check("pod-starting.yaml", Progressing);
    assert!(h.message.contains("ContainersNotReady"), "{}", h.message);
}

#[test]
fn pod_unschedulable() {
    let h = check("pod-unschedulable.yaml", Progressing);
    assert!(
        h.message.starts_with("Unschedulable: 0/3 nodes"),
        "{}",
        h.message
    );
}

// ---- PersistentVolumeClaim ----

#[test]
fn pvc_bound() {
    check("pvc-bound.yaml", Healthy);
}

#[test]
fn pvc_pending() {
    check("pvc-pending.yaml", Progressing);
}

#[test]
fn pvc_lost() {
    check("pvc-lost.yaml", Degraded);
}

// ---- Service ----

#[test]
fn service_lb_pending() {
    check("service-lb-pending.yaml", Progressing);
}

#[test]
fn service_lb_ready() {
    let h = check("service-lb-ready.yaml", Healthy);
    assert!(
        h.message.ends_with(".elb.eu-central-1.amazonaws.com"),
        "{}",
        h.message
    );
}

#[test]
fn service_clusterip() {
    check("service-clusterip.yaml", Healthy);
}

// ---- HorizontalPodAutoscaler, CRD, APIService ----

#[test]
fn hpa_failed_metric() {
    let h = check("hpa-failed-metric.yaml", Degraded);
    assert!(
        h.message
            .starts_with("ScalingActive: FailedGetResourceMetric: "),
        "{}",
        h.message
    );
}

#[test]
fn hpa_healthy() {
    check("hpa-healthy.yaml", Healthy);
}

#[test]
fn crd_established() {
    check("crd-established.yaml", Healthy);
}

#[test]
fn crd_names_conflict() {
    let h = check("crd-names-conflict.yaml", Degraded);
    assert_eq!(h.message, r#"ShortNamesConflict: "wd" is already in use"#);
}

#[test]
fn apiservice_available() {
    check("apiservice-available.yaml", Healthy);
}

#[test]
fn apiservice_unavailable() {
    let h = check("apiservice-unavailable.yaml", Progressing);
    assert!(h.message.starts_with("MissingEndpoints: "), "{}", h.message);
}

// ---- Custom resources (kstatus conventions) ----

#[test]
fn custom_ready_true() {
    check("custom-ready-true.yaml", Healthy);
}

#[test]
fn custom_ready_false() {
    // Ready=False alone is work in progress, not failure.
    let h = check("custom-ready-false.yaml", Progressing);
    assert_eq!(
        h.message,
        "DoesNotExist: Issuing certificate as Secret does not exist"
    );
}

#[test]
fn custom_stalled() {
    let h = check("custom-stalled.yaml", Degraded);
    assert!(
        h.message.starts_with("BuildFailed: kustomize build failed"),
        "{}",
        h.message
    );
}

#[test]
fn custom_reconciling() {
    check("custom-reconciling.yaml", Progressing);
}

#[test]
fn custom_generation_lag() {
    // Ready=True, but about the previous generation.
    let h = check("custom-generation-lag.yaml", Progressing);
    assert!(
        h.message.contains("generation 3 (observed 2)"),
        "{}",
        h.message
    );
}

#[test]
fn configmap_any() {
    check("configmap-any.yaml", Healthy);
}

// ---- Edge cases ----

/// An object of this apiVersion and kind, generation 1, with `rest` merged
/// in at the top level.
fn object(api_version: &str, kind: &str, rest: Value) -> Value {
    let mut o = json!({
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": "x", "namespace": "ns", "generation": 1},
    });
    if let (Some(o), Value::Object(rest)) = (o.as_object_mut(), rest) {
        o.extend(rest);
    }
    o
}

#[test]
fn workloads_without_status_are_progressing() {
    for (api_version, kind) in [
        ("apps/v1", "Deployment"),
        ("apps/v1", "StatefulSet"),
        ("apps/v1", "DaemonSet"),
        ("apps/v1", "ReplicaSet"),
        ("batch/v1", "Job"),
        ("v1", "Pod"),
        ("v1", "PersistentVolumeClaim"),
    ] {
        for status in [json!({}), json!({"status": {}}), json!({"status": null})] {
            let h = health_of(&object(api_version, kind, status.clone()));
            assert_eq!(h.status, Progressing, "{kind} with {status}: {}", h.message);
        }
    }
}

#[test]
fn observed_generation_lag_is_progressing_for_workloads() {
    // Statuses that would be Healthy, but describe generation 1 of 2.
    let cases = [
        (
            "Deployment",
            json!({"spec": {"replicas": 2}, "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}}),
        ),
        (
            "StatefulSet",
            json!({"spec": {"replicas": 2}, "status": {"observedGeneration": 1, "replicas": 2, "readyReplicas": 2, "updatedReplicas": 2, "currentRevision": "r1", "updateRevision": "r1"}}),
        ),
        (
            "DaemonSet",
            json!({"status": {"observedGeneration": 1, "desiredNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 2}}),
        ),
        (
            "ReplicaSet",
            json!({"spec": {"replicas": 2}, "status": {"observedGeneration": 1, "replicas": 2, "availableReplicas": 2}}),
        ),
    ];
    for (kind, rest) in cases {
        let mut o = object("apps/v1", kind, rest);
        assert_eq!(health_of(&o).status, Healthy, "{kind} at generation 1");
        o["metadata"]["generation"] = json!(2);
        let h = health_of(&o);
        assert_eq!(h.status, Progressing, "{kind} at generation 2");
        assert!(
            h.message
                .contains("generation 1 is less than desired generation 2"),
            "{}",
            h.message
        );
    }
}

#[test]
fn a_stale_progress_deadline_is_not_degraded() {
    // The controller has not seen the new spec: the old condition is moot.
    let o = object(
        "apps/v1",
        "Deployment",
        json!({
            "metadata": {"name": "x", "generation": 6},
            "status": {"observedGeneration": 5, "conditions": [
                {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
            ]},
        }),
    );
    assert_eq!(health_of(&o).status, Progressing);
}

#[test]
fn deployment_replicas_default_to_one_and_zero_is_healthy() {
    let observed = |status: Value, spec: Value| {
        let mut status = status;
        status["observedGeneration"] = json!(1);
        health::deployment(&object(
            "apps/v1",
            "Deployment",
            json!({"spec": spec, "status": status}),
        ))
        .status
    };
    assert_eq!(observed(json!({"replicas": 0}), json!({})), Progressing);
    assert_eq!(
        observed(
            json!({"replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}),
            json!({})
        ),
        Healthy
    );
    assert_eq!(observed(json!({}), json!({"replicas": 0})), Healthy);
}

#[test]
fn statefulset_pods_not_ready_is_progressing_even_on_delete() {
    let o = object(
        "apps/v1",
        "StatefulSet",
        json!({
            "spec": {"replicas": 3, "updateStrategy": {"type": "OnDelete"}},
            "status": {"observedGeneration": 1, "replicas": 3, "readyReplicas": 1},
        }),
    );
    let h = health_of(&o);
    assert_eq!(h.status, Progressing);
    assert_eq!(h.message, "Waiting for 2 pods to be ready...");
}

#[test]
fn daemonset_with_nothing_to_schedule_is_healthy() {
    let o = object(
        "apps/v1",
        "DaemonSet",
        json!({"status": {"observedGeneration": 1, "desiredNumberScheduled": 0, "currentNumberScheduled": 0, "numberMisscheduled": 0, "numberReady": 0}}),
    );
    assert_eq!(health_of(&o).status, Healthy);
}

#[test]
fn replicaset_failure_is_degraded() {
    let o = object(
        "apps/v1",
        "ReplicaSet",
        json!({
            "spec": {"replicas": 2},
            "status": {"observedGeneration": 1, "replicas": 0, "conditions": [{
                "type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                "message": "pods \"x-\" is forbidden: exceeded quota: compute"
            }]},
        }),
    );
    let h = health_of(&o);
    assert_eq!(h.status, Degraded);
    assert!(h.message.starts_with("FailedCreate: "), "{}", h.message);
}

#[test]
fn job_edge_cases() {
    let job = |conditions: Value| {
        health_of(&object(
            "batch/v1",
            "Job",
            json!({"status": {"conditions": conditions}}),
        ))
    };
    // A condition that is not True does not count.
    assert_eq!(
        job(json!([{"type": "Complete", "status": "False"}])).status,
        Progressing
    );
    assert_eq!(
        job(json!([{"type": "Failed", "status": "False"}])).status,
        Progressing
    );
    // Failing but not failed yet (pods still terminating).
    let h =
        job(json!([{"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded"}]));
    assert_eq!(h.status, Progressing);
    assert!(h.message.starts_with("failing: "), "{}", h.message);
    let h = job(json!([{"type": "Suspended", "status": "True", "reason": "JobSuspended"}]));
    assert_eq!((h.status, h.message.as_str()), (Progressing, "suspended"));
    // Failed wins over Complete (both set would be a controller bug).
    assert_eq!(
        job(json!([{"type": "Complete", "status": "True"}, {"type": "Failed", "status": "True"}]))
            .status,
        Degraded
    );
}

#[test]
fn pod_phases() {
    let pod = |status: Value, spec: Value| {
        health_of(&object(
            "v1",
            "Pod",
            json!({"spec": spec, "status": status}),
        ))
    };
    assert_eq!(
        pod(
            json!({"phase": "Succeeded"}),
            json!({"restartPolicy": "Never"})
        )
        .status,
        Healthy
    );
    let failed = pod(
        json!({"phase": "Failed", "containerStatuses": [
            {"name": "main", "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}
        ]}),
        json!({"restartPolicy": "Never"}),
    );
    assert_eq!(failed.status, Degraded);
    assert_eq!(
        failed.message,
        r#"container "main" terminated with exit code 137: OOMKilled"#
    );
    let evicted = pod(
        json!({"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory."}),
        json!({}),
    );
    assert_eq!(
        (evicted.status, evicted.message.as_str()),
        (Degraded, "The node was low on resource: memory.")
    );
    assert_eq!(pod(json!({"phase": "Unknown"}), json!({})).status, Unknown);
    assert_eq!(
        pod(json!({"phase": "Pending"}), json!({})).status,
        Progressing
    );
    // Running without a Ready condition yet.
    assert_eq!(
        pod(json!({"phase": "Running"}), json!({})).status,
        Progressing
    );
}

#[test]
fn pod_waiting_reasons() {
    let waiting = |reason: &str, restart_policy: &str| {
        let status = json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "init", "state": {"waiting": {"reason": reason}}}
        ]});
        health_of(&object(
            "v1",
            "Pod",
            json!({"spec": {"restartPolicy": restart_policy}, "status": status}),
        ))
        .status
    };
    for reason in [
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "CreateContainerConfigError",
        "InvalidImageName",
    ] {
        assert_eq!(waiting(reason, "Always"), Degraded, "{reason}");
    }
    // Normal start-up.
    assert_eq!(waiting("ContainerCreating", "Always"), Progressing);
    assert_eq!(waiting("PodInitializing", "Always"), Progressing);
    // Finite pods (gitops-engine leaves them Progressing: the error may clear).
    assert_eq!(waiting("ErrImagePull", "Never"), Progressing);
    assert_eq!(waiting("CrashLoopBackOff", "OnFailure"), Progressing);
}

#[test]
fn services_other_than_load_balancers_are_healthy_without_status() {
    for t in ["ClusterIP", "NodePort", "ExternalName"] {
        let o = object("v1", "Service", json!({"spec": {"type": t}}));
        assert_eq!(health_of(&o).status, Healthy, "{t}");
    }
    let lb = object(
        "v1",
        "Service",
        json!({"spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {"ingress": []}}}),
    );
    assert_eq!(health_of(&lb).status, Progressing);
}

#[test]
fn crd_without_conditions_is_progressing() {
    let o = object(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        json!({}),
    );
    assert_eq!(health_of(&o).status, Progressing);
}

#[test]
fn hpa_backoff_is_not_a_failure() {
    let o = object(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        json!({"status": {"conditions": [
            {"type": "AbleToScale", "status": "False", "reason": "BackoffBoth"},
            {"type": "ScalingActive", "status": "False", "reason": "ScalingDisabled"},
        ]}}),
    );
    assert_eq!(health_of(&o).status, Healthy);
}

#[test]
fn generic_objects() {
    // No status: nothing to wait for.
    assert_eq!(
        health_of(&object("example.com/v1", "Widget", json!({}))).status,
        Healthy
    );
    // generation without observedGeneration: no controller reports one.
    let o = object(
        "example.com/v1",
        "Widget",
        json!({"metadata": {"generation": 4}, "status": {"size": 3}}),
    );
    assert_eq!(health_of(&o).status, Healthy);
    // observedGeneration lag without conditions.
    let o = object(
        "example.com/v1",
        "Widget",
        json!({"metadata": {"generation": 4}, "status": {"observedGeneration": 3}}),
    );
    assert_eq!(health_of(&o).status, Progressing);
    // Ready=Unknown without reason or message.
    let o = object(
        "example.com/v1",
        "Widget",
        json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}),
    );
    let h = health_of(&o);
    assert_eq!(
        (h.status, h.message.as_str()),
        (Progressing, r#"Ready is "Unknown""#)
    );
    // Stalled=True without a Ready condition.
    let o = object(
        "example.com/v1",
        "Widget",
        json!({"status": {"conditions": [{"type": "Stalled", "status": "True", "reason": "InvalidSpec"}]}}),
    );
    assert_eq!(health_of(&o).status, Degraded);
    // Stalled=False is no failure.
    let o = object(
        "example.com/v1",
        "Widget",
        json!({"status": {"conditions": [
            {"type": "Stalled", "status": "False"}, {"type": "Ready", "status": "True"}
        ]}}),
    );
    assert_eq!(health_of(&o).status, Healthy);
}

#[test]
fn dispatch_goes_by_group_and_kind() {
    // Kinds named like built-ins in other groups use the generic rule.
    let knative = object(
        "serving.knative.dev/v1",
        "Service",
        json!({"spec": {"type": "LoadBalancer"}, "status": {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True"}]}}),
    );
    assert_eq!(health_of(&knative).status, Healthy);
    let not_apps = object("example.com/v1", "Deployment", json!({}));
    assert_eq!(health_of(&not_apps).status, Healthy);
    // The per-kind functions are public too.
    assert_eq!(health::deployment(&not_apps).status, Progressing);
    // Any version of a group.
    let v2 = object("autoscaling/v2", "HorizontalPodAutoscaler", json!({}));
    assert_eq!(health_of(&v2).status, Healthy);
}

#[test]
fn objects_being_deleted_are_progressing() {
    let mut o = load("configmap-any.yaml");
    o["metadata"]["deletionTimestamp"] = json!("2025-06-03T09:00:00Z");
    let h = health_of(&o);
    assert_eq!(
        (h.status, h.message.as_str()),
        (Progressing, "Pending deletion")
    );
}

#[test]
fn other_objects_are_healthy() {
    for (api_version, kind) in [
        ("v1", "Secret"),
        ("v1", "Namespace"),
        ("v1", "ServiceAccount"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
        ("policy/v1", "PodDisruptionBudget"),
    ] {
        let o = object(api_version, kind, json!({}));
        assert_eq!(health_of(&o).status, Healthy, "{kind}");
    }
}

// ---- aggregate ----

#[test]
fn aggregate_of_nothing_is_healthy() {
    assert_eq!(aggregate([]), Healthy);
    assert_eq!(aggregate(Vec::new()), Healthy);
}

#[test]
fn aggregate_is_the_worst() {
    assert_eq!(aggregate([Healthy]), Healthy);
    assert_eq!(aggregate([Healthy, Healthy]), Healthy);
    assert_eq!(aggregate([Healthy, Unknown]), Unknown);
    assert_eq!(aggregate([Unknown, Progressing, Healthy]), Progressing);
    assert_eq!(aggregate([Progressing, Degraded, Healthy]), Degraded);
    assert_eq!(aggregate([Degraded, Missing, Progressing]), Missing);
}

#[test]
fn aggregate_of_fixtures() {
    let statuses = [
        "deployment-healthy.yaml",
        "service-lb-ready.yaml",
        "configmap-any.yaml",
    ]
    .map(|f| health_of(&load(f)).status);
    assert_eq!(aggregate(statuses), Healthy);
    let statuses = [
        "deployment-healthy.yaml",
        "pvc-pending.yaml",
        "pod-crashloop.yaml",
    ]
    .iter()
    .map(|f| health_of(&load(f)).status);
    assert_eq!(aggregate(statuses), Degraded);
}

#[test]
fn status_order_is_best_to_worst() {
    let mut all = [Missing, Degraded, Progressing, Unknown, Healthy];
    all.sort();
    assert_eq!(all, [Healthy, Unknown, Progressing, Degraded, Missing]);
}
