//! Server defaulting, allocation and normalisation as a client sees them
//! right after creating objects from minimal manifests: workloads and their
//! pod templates, Services (cluster IPs, node ports), HPAs, canonical
//! quantities, and the generation rules.

mod common;

use common::*;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Service;
use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use kube_testserver::TestApiServer;
use serde_json::{Value, json};

/// Creates `obj` with POST and returns the response as JSON.
async fn create(api: &Api<DynamicObject>, obj: Value) -> Result<Value, kube::Error> {
    let o: DynamicObject = serde_json::from_value(obj).unwrap();
    let created = api.create(&PostParams::default(), &o).await?;
    Ok(serde_json::to_value(created).unwrap())
}

async fn get(api: &Api<DynamicObject>, name: &str) -> Value {
    serde_json::to_value(api.get(name).await.unwrap()).unwrap()
}

fn deployments(client: &kube::Client) -> Api<DynamicObject> {
    dynamic(client, "default", "apps", "v1", "Deployment", "deployments")
}

fn services(client: &kube::Client) -> Api<DynamicObject> {
    dynamic(client, "default", "", "v1", "Service", "services")
}

fn minimal_deployment(name: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}
            }
        }
    })
}

#[tokio::test]
async fn deployment_defaults_match_kubectl_get() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let d = create(&deployments(&client), minimal_deployment("web"))
        .await
        .unwrap();
    let spec = &d["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(spec["progressDeadlineSeconds"], 600);
    assert_eq!(
        spec["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
    );
    // The zero creationTimestamp of the template serialises as null (1.29-1.33).
    assert_eq!(
        spec["template"]["metadata"],
        json!({"labels": {"app": "web"}, "creationTimestamp": null})
    );
    assert_eq!(
        spec["template"]["spec"],
        json!({
            "containers": [{
                "name": "app", "image": "nginx:1.27",
                "imagePullPolicy": "IfNotPresent",
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "resources": {}
            }],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "securityContext": {},
            "schedulerName": "default-scheduler"
        })
    );
    assert_eq!(d["status"], json!({}));
    // The creator (an Update) owns the defaults, but not the null timestamp.
    let mf = &d["metadata"]["managedFields"][0];
    assert_eq!(mf["operation"], "Update");
    let template = &mf["fieldsV1"]["f:spec"]["f:template"];
    assert!(
        template["f:metadata"].get("f:creationTimestamp").is_none(),
        "{template}"
    );
    assert_eq!(template["f:metadata"]["f:labels"]["f:app"], json!({}));
    assert_eq!(
        mf["fieldsV1"]["f:spec"]["f:progressDeadlineSeconds"],
        json!({})
    );

    // Typed clients read the null timestamp as unset.
    let typed: Api<Deployment> = Api::default_namespaced(client.clone());
    let t = typed.get("web").await.unwrap();
    let meta = t.spec.template.metadata.unwrap();
    assert_eq!(meta.creation_timestamp, None);
}

#[tokio::test]
async fn applied_manifest_does_not_own_defaults_and_reapply_is_a_noop() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let api = deployments(&client);
    let mut manifest = minimal_deployment("web");
    // As `kubectl create --dry-run=client -o yaml` writes it.
    manifest["spec"]["template"]["metadata"]["creationTimestamp"] = Value::Null;
    manifest["spec"]["strategy"] = json!({});
    let first = apply(&api, "web", "flotilla", false, manifest.clone())
        .await
        .unwrap();
    let fields = serde_json::to_value(&first.metadata.managed_fields.as_ref().unwrap()[0]).unwrap()
        ["fieldsV1"]
        .clone();
    assert!(fields["f:spec"].get("f:replicas").is_none(), "{fields}");
    assert!(fields["f:spec"].get("f:revisionHistoryLimit").is_none());
    let c = &fields["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"];
    assert!(c.get("f:imagePullPolicy").is_none(), "{c}");
    let again = apply(&api, "web", "flotilla", false, manifest)
        .await
        .unwrap();
    assert_eq!(again.resource_version(), first.resource_version());
}

#[tokio::test]
async fn statefulset_defaults_and_claim_templates() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let api = dynamic(
        &client,
        "default",
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
    );
    let s = create(
        &api,
        json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "db"},
            "spec": {
                "serviceName": "db",
                "selector": {"matchLabels": {"app": "db"}},
                "template": {
                    "metadata": {"labels": {"app": "db"}},
                    "spec": {"containers": [{"name": "db", "image": "postgres:16"}]}
                },
                "volumeClaimTemplates": [{
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "10240Mi"}}}
                }]
            }
        }),
    )
    .await
    .unwrap();
    let spec = &s["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(spec["podManagementPolicy"], "OrderedReady");
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(
        spec["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    );
    assert_eq!(
        spec["persistentVolumeClaimRetentionPolicy"],
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
    );
    assert_eq!(
        spec["template"]["metadata"]["creationTimestamp"],
        Value::Null
    );
    assert_eq!(
        spec["volumeClaimTemplates"],
        json!([{
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "creationTimestamp": null},
            "spec": {"accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "10Gi"}},
                "volumeMode": "Filesystem"},
            "status": {"phase": "Pending"}
        }])
    );
    let typed: Api<StatefulSet> = Api::default_namespaced(client.clone());
    let t = typed.get("db").await.unwrap();
    assert_eq!(
        t.spec.volume_claim_templates.unwrap()[0]
            .status
            .as_ref()
            .unwrap()
            .phase
            .as_deref(),
        Some("Pending")
    );

    // An explicit RollingUpdate without rollingUpdate gets no partition.
    let s = create(
        &api,
        json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "db2"},
            "spec": {
                "serviceName": "db2",
                "updateStrategy": {"type": "RollingUpdate"},
                "selector": {"matchLabels": {"app": "db2"}},
                "template": {
                    "metadata": {"labels": {"app": "db2"}},
                    "spec": {"containers": [{"name": "db", "image": "postgres:16"}]}
                }
            }
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        s["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate"})
    );
}

#[tokio::test]
async fn node_ports_are_allocated_kept_and_released() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let api = services(&client);
    let manifest = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"type": "NodePort", "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080}, {"name": "metrics", "port": 9090}]}
    });
    let svc = apply(&api, "web", "flotilla", false, manifest.clone())
        .await
        .unwrap();
    let v = serde_json::to_value(&svc).unwrap();
    let ports = v["spec"]["ports"].as_array().unwrap().clone();
    for p in &ports {
        let np = p["nodePort"].as_i64().expect("a node port");
        assert!((30000..=32767).contains(&np), "{np}");
        assert_eq!(p["protocol"], "TCP");
    }
    assert_ne!(ports[0]["nodePort"], ports[1]["nodePort"]);
    assert_eq!(ports[1]["targetPort"], 9090);
    assert_eq!(v["spec"]["externalTrafficPolicy"], "Cluster");
    assert_eq!(v["spec"]["internalTrafficPolicy"], "Cluster");
    assert_eq!(v["spec"]["sessionAffinity"], "None");
    assert!(v["spec"]["clusterIP"].is_string());
    assert_eq!(v["status"], json!({"loadBalancer": {}}));
    // Node ports are allocated, not applied: nobody owns them.
    let fields = serde_json::to_value(&svc.metadata.managed_fields.as_ref().unwrap()[0])
        .unwrap()["fieldsV1"]
        .to_string();
    assert!(!fields.contains("nodePort"), "{fields}");

    // Re-applying without them keeps them: nothing changes.
    let again = apply(&api, "web", "flotilla", false, manifest.clone())
        .await
        .unwrap();
    assert_eq!(again.resource_version(), svc.resource_version());
    // So does a replace that omits them.
    let typed: Api<Service> = Api::default_namespaced(client.clone());
    let mut put: Service = serde_json::from_value(manifest.clone()).unwrap();
    put.metadata.resource_version = svc.resource_version();
    let replaced = typed
        .replace("web", &PostParams::default(), &put)
        .await
        .unwrap();
    let replaced_ports = replaced.spec.unwrap().ports.unwrap();
    assert_eq!(
        replaced_ports[0].node_port,
        ports[0]["nodePort"].as_i64().map(|n| n as i32)
    );

    // Another Service cannot take one of them.
    let mut other = manifest.clone();
    other["metadata"]["name"] = json!("other");
    other["spec"]["ports"] = json!([{"port": 80, "nodePort": ports[0]["nodePort"]}]);
    let s = status(create(&api, other).await.unwrap_err());
    assert_eq!(s.code, 422, "{s:?}");
    assert!(
        s.message.contains("provided port is already allocated"),
        "{}",
        s.message
    );
    // Out of range.
    let mut low = manifest.clone();
    low["metadata"]["name"] = json!("low");
    low["spec"]["ports"] = json!([{"port": 80, "nodePort": 8080}]);
    let s = status(create(&api, low).await.unwrap_err());
    assert_eq!(s.code, 422);

    // Switching to ClusterIP releases them (and the external policy).
    let mut cip = manifest.clone();
    cip["spec"]["type"] = json!("ClusterIP");
    let back = apply(&api, "web", "flotilla", false, cip).await.unwrap();
    let b = serde_json::to_value(&back).unwrap();
    assert!(b["spec"]["ports"][0].get("nodePort").is_none(), "{b:#}");
    assert!(b["spec"].get("externalTrafficPolicy").is_none());
    assert_eq!(b["spec"]["clusterIP"], v["spec"]["clusterIP"]);
    // A ClusterIP Service cannot ask for one.
    let mut asks = json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "asks"},
        "spec": {"ports": [{"port": 80, "nodePort": 31000}]}
    });
    let s = status(create(&api, asks.clone()).await.unwrap_err());
    assert_eq!(s.code, 422);
    assert!(
        s.message.contains(
            "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"
        ),
        "{}",
        s.message
    );
    // But a NodePort Service may choose a free one.
    asks["spec"]["type"] = json!("NodePort");
    let chosen = create(&api, asks).await.unwrap();
    assert_eq!(chosen["spec"]["ports"][0]["nodePort"], 31000);
}

#[tokio::test]
async fn load_balancer_defaults() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let api = services(&client);
    let lb = create(
        &api,
        json!({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "lb"},
            "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local",
                "ports": [{"port": 443, "targetPort": "https"}]}
        }),
    )
    .await
    .unwrap();
    assert_eq!(lb["spec"]["allocateLoadBalancerNodePorts"], true);
    assert_eq!(lb["spec"]["ports"][0]["targetPort"], "https");
    assert!(lb["spec"]["ports"][0]["nodePort"].is_i64());
    assert!(lb["spec"]["healthCheckNodePort"].is_i64());
    let affinity = create(
        &api,
        json!({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "sticky"},
            "spec": {"sessionAffinity": "ClientIP", "ports": [{"port": 80}]}
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        affinity["spec"]["sessionAffinityConfig"],
        json!({"clientIP": {"timeoutSeconds": 10800}})
    );
    assert!(affinity["spec"].get("externalTrafficPolicy").is_none());
}

#[tokio::test]
async fn hpa_defaults_only_fill_a_behavior_that_is_there() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let api = dynamic(
        &client,
        "default",
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
    );
    let target = json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"});
    let plain = create(
        &api,
        json!({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "plain"},
            "spec": {"scaleTargetRef": target, "maxReplicas": 5}
        }),
    )
    .await
    .unwrap();
    assert_eq!(plain["spec"]["minReplicas"], 1);
    assert_eq!(
        plain["spec"]["metrics"],
        json!([{"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": 80}}}])
    );
    assert!(plain["spec"].get("behavior").is_none(), "{plain:#}");

    let tuned = create(
        &api,
        json!({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "tuned"},
            "spec": {"scaleTargetRef": target, "minReplicas": 2, "maxReplicas": 5,
                "metrics": [{"type": "Pods", "pods": {
                    "metric": {"name": "rps"},
                    "target": {"type": "AverageValue", "averageValue": "1000m"}}}],
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 120}}}
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        tuned["spec"]["metrics"][0]["pods"]["target"]["averageValue"],
        "1"
    );
    assert_eq!(
        tuned["spec"]["behavior"],
        json!({
            "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
                {"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15}]},
            "scaleDown": {"stabilizationWindowSeconds": 120, "selectPolicy": "Max",
                "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}
        })
    );
    let typed: Api<HorizontalPodAutoscaler> = Api::default_namespaced(client.clone());
    let t = typed.get("tuned").await.unwrap();
    let b = t.spec.behavior.unwrap();
    assert_eq!(
        b.scale_down.unwrap().stabilization_window_seconds,
        Some(120)
    );
}

#[tokio::test]
async fn quantities_are_stored_in_canonical_form() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let mut d = minimal_deployment("web");
    d["spec"]["template"]["spec"]["containers"][0]["resources"] = json!({
        "limits": {"cpu": 0.5, "memory": "1024Mi", "ephemeral-storage": "2e9"},
        "requests": {"cpu": "1000m", "memory": 536870912, "example.com/dongle": 1}
    });
    d["spec"]["template"]["spec"]["initContainers"] = json!([{
        "name": "init", "image": "busybox",
        "resources": {"requests": {"cpu": "100u", "memory": "0.5Gi"}}
    }]);
    let created = create(&deployments(&client), d).await.unwrap();
    let spec = &created["spec"]["template"]["spec"];
    assert_eq!(
        spec["containers"][0]["resources"],
        json!({
            "limits": {"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "2e9"},
            // Decimal stays decimal: 536870912, not 512Mi.
            "requests": {"cpu": "1", "memory": "536870912", "example.com/dongle": "1"}
        })
    );
    assert_eq!(
        spec["initContainers"][0]["resources"]["requests"],
        json!({"cpu": "1m", "memory": "512Mi"})
    );

    let pvcs = dynamic(
        &client,
        "default",
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
    );
    let pvc = create(
        &pvcs,
        json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1024Mi"}}}
        }),
    )
    .await
    .unwrap();
    assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], "1Gi");
    assert_eq!(pvc["spec"]["volumeMode"], "Filesystem");

    // Not a quantity: 400, as the typed decoding fails.
    let mut bad = minimal_deployment("bad");
    bad["spec"]["template"]["spec"]["containers"][0]["resources"] =
        json!({"requests": {"memory": "1GB"}});
    let s = status(create(&deployments(&client), bad).await.unwrap_err());
    assert_eq!((s.code, s.reason.as_str()), (400, "BadRequest"));
    assert_eq!(
        s.message,
        "Deployment in version \"v1\" cannot be handled as a Deployment: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    );
}

#[tokio::test]
async fn reapplying_canonical_quantities_changes_nothing() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let api = deployments(&client);
    let mut d = minimal_deployment("web");
    d["spec"]["template"]["spec"]["containers"][0]["resources"] =
        json!({"limits": {"cpu": "500m", "memory": "1Gi"}});
    let first = apply(&api, "web", "flotilla", false, d.clone())
        .await
        .unwrap();
    server.reset_counters();
    let again = apply(&api, "web", "flotilla", false, d).await.unwrap();
    assert_eq!(again.resource_version(), first.resource_version());
    assert_eq!(server.counters().changes, 0);
}

#[tokio::test]
async fn pod_template_nested_defaults() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let mut d = minimal_deployment("web");
    d["spec"]["template"]["spec"] = json!({
        "containers": [{
            "name": "app", "image": "nginx",
            "ports": [{"containerPort": 8080}],
            "readinessProbe": {"httpGet": {"port": 8080}},
            "livenessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 5},
            "env": [
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}
            ],
            "volumeMounts": [{"name": "cfg", "mountPath": "/cfg"}]
        }],
        "volumes": [
            {"name": "cfg", "configMap": {"name": "cfg"}},
            {"name": "tmp"},
            {"name": "token", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}}
        ]
    });
    let created = create(&deployments(&client), d).await.unwrap();
    let spec = &created["spec"]["template"]["spec"];
    let c = &spec["containers"][0];
    assert_eq!(c["imagePullPolicy"], "Always");
    assert_eq!(c["ports"][0]["protocol"], "TCP");
    assert_eq!(
        c["readinessProbe"],
        json!({"httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"},
            "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
    );
    assert_eq!(c["livenessProbe"]["periodSeconds"], 5);
    assert_eq!(
        c["env"][0]["valueFrom"]["fieldRef"],
        json!({"fieldPath": "metadata.name", "apiVersion": "v1"})
    );
    assert_eq!(c["env"][1]["valueFrom"]["resourceFieldRef"]["divisor"], "0");
    assert_eq!(
        spec["volumes"],
        json!([
            {"name": "cfg", "configMap": {"name": "cfg", "defaultMode": 420}},
            {"name": "tmp", "emptyDir": {}},
            {"name": "token", "projected": {"defaultMode": 420,
                "sources": [{"serviceAccountToken": {"path": "t", "expirationSeconds": 3600}}]}}
        ])
    );
    assert!(
        spec.get("enableServiceLinks").is_none(),
        "a Pod-only default"
    );
}

#[tokio::test]
async fn jobs_default_restart_policy_to_always_and_are_refused() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let jobs = dynamic(&client, "default", "batch", "v1", "Job", "jobs");
    let job = |name: &str, spec: Value| {
        json!({
            "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": spec
        })
    };
    let template = json!({"spec": {"containers": [{"name": "c", "image": "busybox"}]}});
    let s = status(
        create(&jobs, job("once", json!({"template": template})))
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 422);
    assert!(
        s.message.contains(
            "spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""
        ),
        "{}",
        s.message
    );
    let mut never = template.clone();
    never["spec"]["restartPolicy"] = json!("Never");
    let j = create(
        &jobs,
        job("par", json!({"parallelism": 3, "template": never})),
    )
    .await
    .unwrap();
    assert!(j["spec"].get("completions").is_none(), "{j:#}");
    assert_eq!(j["spec"]["backoffLimit"], 6);
    assert_eq!(
        j["spec"]["template"]["metadata"]["creationTimestamp"],
        Value::Null
    );
}

#[tokio::test]
async fn deployment_generation_follows_spec_and_annotations() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let api = deployments(&client);
    create(&api, minimal_deployment("web")).await.unwrap();
    let merge = |p: Value| {
        let api = api.clone();
        async move {
            let o = api
                .patch("web", &PatchParams::default(), &Patch::Merge(p))
                .await
                .unwrap();
            o.metadata.generation.unwrap()
        }
    };
    assert_eq!(merge(json!({"metadata": {"labels": {"a": "b"}}})).await, 1);
    assert_eq!(
        merge(json!({"metadata": {"annotations": {"note": "x"}}})).await,
        2,
        "annotations are copied to ReplicaSets: they bump the generation"
    );
    assert_eq!(merge(json!({"spec": {"replicas": 3}})).await, 3);
    assert_eq!(merge(json!({"status": {"replicas": 3}})).await, 3);
    // Other workloads: annotations do not count.
    let sts = dynamic(&client, "default", "apps", "v1", "DaemonSet", "daemonsets");
    let mut ds = minimal_deployment("agent");
    ds["kind"] = json!("DaemonSet");
    create(&sts, ds).await.unwrap();
    let o = sts
        .patch(
            "agent",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"note": "x"}}})),
        )
        .await
        .unwrap();
    assert_eq!(o.metadata.generation, Some(1));
}

#[tokio::test]
async fn null_fields_are_dropped_from_built_ins() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let cms = dynamic(&client, "default", "", "v1", "ConfigMap", "configmaps");
    let cm = create(
        &cms,
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "annotations": null},
            "data": {"k": "v"}, "binaryData": null
        }),
    )
    .await
    .unwrap();
    assert!(cm.get("binaryData").is_none(), "{cm:#}");
    assert!(cm["metadata"].get("annotations").is_none());
    assert_eq!(get(&cms, "c").await["data"], json!({"k": "v"}));
}
