//! Render benchmark: Flotilla against `kubectl kustomize` on one generated fleet.
//!
//! Run with `cargo bench --bench render`. The fleet has 1,000 clusters by
//! default (`FLOTILLA_BENCH_CLUSTERS=N` for fewer), each receiving 10 bases of
//! 20 objects (200 objects), group overlays (a registry mirror for one
//! provider, one overlay per region, a canary overlay) and one
//! `clusters/<name>/` patch per cluster.
//!
//! The same fleet is written as a kustomize tree (bases as kustomize bases,
//! overlays as Components, one kustomization per cluster) and every cluster
//! is rendered with `kubectl kustomize` (or `kustomize build`), one after
//! the other. `FLOTILLA_BENCH_KUSTOMIZE_CLUSTERS=N` renders only the first N
//! clusters with kustomize and extrapolates linearly. `FLOTILLA_BENCH_RUNS`
//! sets the number of timed Flotilla runs (default 5, after one warm-up).
//!
//! Flotilla is timed in-process on one thread; the median of the runs is
//! reported. Output ends with a markdown table for the README.

use std::collections::{BTreeMap, BTreeSet};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use flotilla_core::load::load;
use flotilla_core::render::{DesiredState, render_cluster, render_fleet};
use flotilla_core::snapshot::Snapshot;
use serde_json::{Value, json};

const FLEET_NAME: &str = "bench";
const BASES: [&str; 10] = [
    "checkout",
    "catalog",
    "payments",
    "search",
    "accounts",
    "orders",
    "inventory",
    "shipping",
    "notify",
    "reviews",
];
/// Each base has one Deployment, Service and ConfigMap per role, a settings
/// ConfigMap and its Namespace: 1 + 6 * 3 + 1 = 20 objects.
const ROLES: [&str; 6] = ["api", "web", "worker", "grpc", "events", "scheduler"];
const OBJECTS_PER_BASE: usize = 1 + ROLES.len() * 3 + 1;
const REGIONS: [&str; 5] = ["us-east", "us-west", "eu-west", "eu-central", "ap-south"];
const PROVIDERS: [&str; 3] = ["aws", "gcp", "aliyun"];
const MIRROR_PROVIDER: &str = "aliyun";
const MIRROR_IMAGE: &str = "registry.cn-hangzhou.aliyuncs.com/mirror/app:1.4.2";

// ---------------------------------------------------------------------------
// The generated fleet
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct ClusterSpec {
    name: String,
    region: &'static str,
    provider: &'static str,
    env: &'static str,
    canary: bool,
    index: usize,
}

impl ClusterSpec {
    /// The overlays (in fleet order) that select this cluster.
    fn overlays(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.provider == MIRROR_PROVIDER {
            out.push("registry-mirror".to_string());
        }
        out.push(format!("region-{}", self.region));
        if self.canary {
            out.push("canary".to_string());
        }
        out
    }

    /// What Flotilla does for `${cluster.name}` and `${cluster.labels.*}`.
    fn expand(&self, s: &str) -> String {
        s.replace("${cluster.name}", &self.name)
            .replace("${cluster.labels.region}", self.region)
            .replace("${cluster.labels.provider}", self.provider)
            .replace("${cluster.labels.env}", self.env)
    }
}

/// A small deterministic generator (SplitMix64), so every run sees the same fleet.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn generate_clusters(n: usize) -> Vec<ClusterSpec> {
    let mut rng = Rng(0x5eed);
    (0..n)
        .map(|i| {
            let provider = PROVIDERS[rng.below(3) as usize];
            let region = REGIONS[rng.below(5) as usize];
            let env = if rng.below(10) < 7 { "prod" } else { "staging" };
            // One cluster in 20 (5%), so small fleets have canaries too.
            let canary = i % 20 == 3;
            ClusterSpec {
                name: format!("{provider}-{region}-{i:04}"),
                region,
                provider,
                env,
                canary,
                index: i,
            }
        })
        .collect()
}

fn yaml(v: &Value) -> String {
    flotilla_core::yaml::to_string(v)
}

fn multi_doc(docs: &[Value]) -> String {
    docs.iter().map(yaml).collect::<Vec<_>>().join("---\n")
}

fn labels(base: &str, role: &str) -> Value {
    json!({
        "app.kubernetes.io/name": format!("{base}-{role}"),
        "app.kubernetes.io/part-of": base,
        "app.kubernetes.io/component": role,
    })
}

fn deployment(b: usize, base: &str, r: usize, role: &str) -> Value {
    let name = format!("{base}-{role}");
    let mut env = Vec::new();
    if role == "api" {
        // The values Flotilla substitutes per cluster. They come first
        // because a kustomize strategic merge patch of a list puts the
        // entries it names first, and the content check compares order.
        env.push(json!({"name": "CLUSTER_NAME", "value": "${cluster.name}"}));
        env.push(json!({"name": "REGION", "value": "${cluster.labels.region}"}));
        env.push(json!({"name": "OTEL_RESOURCE_ATTRIBUTES", "value":
            "k8s.cluster.name=${cluster.name},cloud.region=${cluster.labels.region},cloud.provider=${cluster.labels.provider}"}));
    }
    env.extend([
        json!({"name": "LOG_LEVEL", "value": if r.is_multiple_of(2) { "info" } else { "warn" }}),
        json!({"name": "CONFIG_PATH", "value": "/etc/app/config.yaml"}),
        json!({"name": "PORT", "value": "8080"}),
        json!({"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}),
    ]);
    let mut containers = vec![json!({
        "name": "app",
        "image": format!("ghcr.io/example/{name}:1.{b}.{r}"),
        "imagePullPolicy": "IfNotPresent",
        "args": ["--port=8080", "--metrics-port=9090", "--log-format=json"],
        "ports": [
            {"name": "http", "containerPort": 8080, "protocol": "TCP"},
            {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
        ],
        "env": env,
        "resources": {
            "requests": {"cpu": format!("{}m", 100 + 50 * r), "memory": "128Mi"},
            "limits": {"cpu": "1", "memory": format!("{}Mi", 256 * (1 + r % 3))},
        },
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 10},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": 15, "periodSeconds": 20},
        "securityContext": {"runAsNonRoot": true, "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/app", "readOnly": true}],
    })];
    if r.is_multiple_of(3) {
        containers.push(json!({
            "name": "log-shipper",
            "image": "docker.io/fluent/fluent-bit:3.1.4",
            "args": ["--config=/fluent-bit/etc/fluent-bit.yaml"],
            "resources": {"requests": {"cpu": "20m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
        }));
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": base, "labels": labels(base, role)},
        "spec": {
            "replicas": 2,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
            "template": {
                "metadata": {
                    "labels": labels(base, role),
                    "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9090"},
                },
                "spec": {
                    "serviceAccountName": "default",
                    "terminationGracePeriodSeconds": 30,
                    "containers": containers,
                    "volumes": [{"name": "config", "configMap": {"name": format!("{name}-config")}}],
                },
            },
        },
    })
}

fn service(base: &str, role: &str) -> Value {
    let name = format!("{base}-{role}");
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": base, "labels": labels(base, role)},
        "spec": {
            "type": "ClusterIP",
            "selector": {"app.kubernetes.io/name": name},
            "ports": [
                {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"},
            ],
        },
    })
}

fn role_config(base: &str, r: usize, role: &str) -> Value {
    let name = format!("{base}-{role}");
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": format!("{name}-config"), "namespace": base, "labels": labels(base, role)},
        "data": {
            "config.yaml": format!(
                "server:\n  port: 8080\n  metricsPort: 9090\nupstreams:\n  - http://{base}-grpc.{base}.svc:80\ncache:\n  ttl: {}s\n  size: {}\n",
                30 * (r + 1),
                1000 * (r + 1)
            ),
            "LOG_FORMAT": "json",
            "FEATURE_FLAGS": "new-checkout=false,fast-path=true",
        },
    })
}

/// The one ConfigMap per base that Flotilla substitutes.
fn settings_config(base: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": format!("{base}-settings"), "namespace": base, "labels": {"app.kubernetes.io/part-of": base}},
        "data": {
            "cluster": "${cluster.name}",
            "region": "${cluster.labels.region}",
            "endpoint": format!("https://{base}.${{cluster.labels.region}}.example.com"),
            "app.properties": "environment=${cluster.labels.env}\ncluster=${cluster.name}\nretries=3\n",
        },
    })
}

/// The base's files: (file name, documents).
fn base_files(b: usize, base: &str) -> Vec<(String, Vec<Value>)> {
    let mut files = vec![(
        "00-namespace.yaml".to_string(),
        vec![json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": base, "labels": {"app.kubernetes.io/part-of": base}},
        })],
    )];
    for (r, role) in ROLES.iter().enumerate() {
        files.push((
            format!("{role}.yaml"),
            vec![
                deployment(b, base, r, role),
                service(base, role),
                role_config(base, r, role),
            ],
        ));
    }
    files.push(("settings.yaml".to_string(), vec![settings_config(base)]));
    files
}

fn region_replicas(region: usize) -> (u64, u64) {
    (3 + region as u64, 2 + (region as u64 % 3))
}

fn canary_image(base: &str) -> String {
    format!("ghcr.io/example/{base}-web:2.0.0-rc.1")
}

/// The per-cluster settings (the `clusters/<name>/` patch).
fn cluster_settings(c: &ClusterSpec) -> Value {
    json!({"data": {"shard": format!("{}", c.index % 16), "max-connections": format!("{}", 128 + (c.index % 8) * 32)}})
}

fn patch_doc(target: Value, action: &str, body: Value) -> Value {
    let mut doc = json!({
        "apiVersion": "flotilla.dev/v1alpha1",
        "kind": "Patch",
        "target": target,
    });
    doc[action] = body;
    doc
}

/// The Flotilla repository: (path, contents).
fn flotilla_tree(clusters: &[ClusterSpec]) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let cluster_entries: Vec<Value> = clusters
        .iter()
        .map(|c| {
            let mut labels = json!({"region": c.region, "provider": c.provider, "env": c.env});
            if c.canary {
                labels["canary"] = json!("true");
            }
            json!({"name": c.name, "labels": labels, "connection": {"directory": format!("out/{}", c.name)}})
        })
        .collect();
    let mut overlays = vec![json!({
        "name": "registry-mirror",
        "path": "overlays/registry-mirror",
        "clusterSelector": {"matchLabels": {"provider": MIRROR_PROVIDER}},
    })];
    for r in REGIONS {
        overlays.push(json!({
            "name": format!("region-{r}"),
            "path": format!("overlays/region-{r}"),
            "clusterSelector": {"matchLabels": {"region": r}},
        }));
    }
    overlays.push(json!({
        "name": "canary",
        "path": "overlays/canary",
        "clusterSelector": {"matchLabels": {"canary": "true"}},
    }));
    let fleet = json!({
        "apiVersion": "flotilla.dev/v1alpha1",
        "kind": "Fleet",
        "metadata": {"name": FLEET_NAME},
        "spec": {
            "clusters": cluster_entries,
            "bases": BASES.iter().map(|b| json!({"name": b, "path": format!("bases/{b}")})).collect::<Vec<_>>(),
            "overlays": overlays,
            "rollout": {
                "waves": [
                    {"name": "canary", "clusterSelector": {"matchLabels": {"canary": "true"}}},
                    {"name": "rest"},
                ],
                "healthGate": true,
            },
        },
    });
    files.push(("fleet.yaml".to_string(), yaml(&fleet)));
    for (b, base) in BASES.iter().enumerate() {
        for (file, docs) in base_files(b, base) {
            files.push((format!("bases/{base}/{file}"), multi_doc(&docs)));
        }
    }
    files.push((
        "overlays/registry-mirror/mirror.yaml".to_string(),
        yaml(&patch_doc(
            json!({"kind": "Deployment", "name": "*"}),
            "jsonPatch",
            json!([{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": MIRROR_IMAGE}]),
        )),
    ));
    files.push((
        "overlays/registry-mirror/README.md".to_string(),
        "Pull every first container through the regional mirror.\n".to_string(),
    ));
    for (i, r) in REGIONS.iter().enumerate() {
        let (api, web) = region_replicas(i);
        let docs = [
            patch_doc(
                json!({"kind": "Deployment", "name": "*-api"}),
                "merge",
                json!({"spec": {"replicas": api}}),
            ),
            patch_doc(
                json!({"kind": "Deployment", "name": "*-web"}),
                "merge",
                json!({"spec": {"replicas": web}}),
            ),
        ];
        files.push((
            format!("overlays/region-{r}/replicas.yaml"),
            multi_doc(&docs),
        ));
    }
    let mut canary = vec![patch_doc(
        json!({"kind": "Deployment", "name": "*"}),
        "merge",
        json!({"spec": {"template": {"metadata": {"annotations": {"flotilla.dev/canary": "true"}}}}}),
    )];
    for base in BASES {
        canary.push(patch_doc(
            json!({"kind": "Deployment", "name": format!("{base}-web"), "namespace": base}),
            "jsonPatch",
            json!([{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": canary_image(base)}]),
        ));
    }
    files.push((
        "overlays/canary/canary.yaml".to_string(),
        multi_doc(&canary),
    ));
    for c in clusters {
        files.push((
            format!("clusters/{}/settings.yaml", c.name),
            yaml(&patch_doc(
                json!({"kind": "ConfigMap", "name": format!("{}-worker-config", BASES[0]), "namespace": BASES[0]}),
                "merge",
                cluster_settings(c),
            )),
        ));
    }
    files
}

/// `*-api` (a Flotilla glob) as a kustomize target name (an anchored regex).
fn glob_to_regex(glob: &str) -> String {
    let mut out = String::new();
    for ch in glob.chars() {
        match ch {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '.' | '+' | '(' | ')' | '[' | ']' | '{' | '}' | '^' | '$' | '|' | '\\' => {
                out.push('\\');
                out.push(ch);
            }
            _ => out.push(ch),
        }
    }
    out
}

/// A strategic merge patch for kustomize: the identity plus `body`.
fn smp(api_version: &str, kind: &str, name: &str, namespace: Option<&str>, body: Value) -> Value {
    let mut doc = json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}});
    if let Some(ns) = namespace {
        doc["metadata"]["namespace"] = json!(ns);
    }
    if let (Some(d), Value::Object(b)) = (doc.as_object_mut(), body) {
        d.extend(b);
    }
    doc
}

/// The same fleet as a kustomize tree: (path, contents).
fn kustomize_tree(clusters: &[ClusterSpec]) -> Vec<(String, String)> {
    let mut files = Vec::new();
    for (b, base) in BASES.iter().enumerate() {
        let mut resources = Vec::new();
        for (file, docs) in base_files(b, base) {
            files.push((format!("bases/{base}/{file}"), multi_doc(&docs)));
            resources.push(file);
        }
        // What Flotilla's ownership marking does, on metadata only.
        let ownership = [
            json!({
                "apiVersion": "builtin",
                "kind": "LabelTransformer",
                "metadata": {"name": "managed-by"},
                "labels": {"app.kubernetes.io/managed-by": "flotilla"},
                "fieldSpecs": [{"path": "metadata/labels", "create": true}],
            }),
            json!({
                "apiVersion": "builtin",
                "kind": "AnnotationsTransformer",
                "metadata": {"name": "ownership"},
                "annotations": {"flotilla.dev/fleet": FLEET_NAME, "flotilla.dev/source": format!("base/{base}")},
                "fieldSpecs": [{"path": "metadata/annotations", "create": true}],
            }),
        ];
        files.push((
            format!("bases/{base}/transformers/ownership.yaml"),
            multi_doc(&ownership),
        ));
        files.push((
            format!("bases/{base}/kustomization.yaml"),
            yaml(&json!({
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": resources,
                "transformers": ["transformers/ownership.yaml"],
            })),
        ));
    }
    let component = |patches: Vec<Value>| {
        yaml(&json!({
            "apiVersion": "kustomize.config.k8s.io/v1alpha1",
            "kind": "Component",
            "patches": patches,
        }))
    };
    let json6902 = |ops: Value| yaml(&ops);
    files.push((
        "components/registry-mirror/kustomization.yaml".to_string(),
        component(vec![json!({
            "target": {"kind": "Deployment"},
            "patch": json6902(json!([{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": MIRROR_IMAGE}])),
        })]),
    ));
    for (i, r) in REGIONS.iter().enumerate() {
        let (api, web) = region_replicas(i);
        let patches = [("*-api", api), ("*-web", web)]
            .iter()
            .map(|(glob, n)| {
                json!({
                    "target": {"kind": "Deployment", "name": glob_to_regex(glob)},
                    "patch": yaml(&smp("apps/v1", "Deployment", "any", None, json!({"spec": {"replicas": n}}))),
                })
            })
            .collect();
        files.push((
            format!("components/region-{r}/kustomization.yaml"),
            component(patches),
        ));
    }
    let mut canary = vec![json!({
        "target": {"kind": "Deployment"},
        "patch": yaml(&smp("apps/v1", "Deployment", "any", None,
            json!({"spec": {"template": {"metadata": {"annotations": {"flotilla.dev/canary": "true"}}}}}))),
    })];
    for base in BASES {
        canary.push(json!({
            "target": {"kind": "Deployment", "name": glob_to_regex(&format!("{base}-web")), "namespace": base},
            "patch": json6902(json!([{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": canary_image(base)}])),
        }));
    }
    files.push((
        "components/canary/kustomization.yaml".to_string(),
        component(canary),
    ));
    for c in clusters {
        let dir = format!("clusters/{}", c.name);
        files.push((
            format!("{dir}/settings.yaml"),
            yaml(&smp(
                "v1",
                "ConfigMap",
                &format!("{}-worker-config", BASES[0]),
                Some(BASES[0]),
                cluster_settings(c),
            )),
        ));
        // kustomize has no substitution: one strategic merge patch per
        // substituted object sets the values Flotilla expands. They go in a
        // file, not inline: kustomize trims an inline patch, which drops the
        // final newline of a block scalar at its end.
        let mut values = Vec::new();
        for (b, base) in BASES.iter().enumerate() {
            let api = deployment(b, base, 0, "api");
            let env: Vec<Value> = api["spec"]["template"]["spec"]["containers"][0]["env"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| {
                    let v = e["value"].as_str()?;
                    v.contains("${")
                        .then(|| json!({"name": e["name"], "value": c.expand(v)}))
                })
                .collect();
            values.push(smp(
                "apps/v1",
                "Deployment",
                &format!("{base}-api"),
                Some(base),
                json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "env": env}]}}}}),
            ));
            let settings = settings_config(base);
            let data: serde_json::Map<String, Value> = settings["data"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| {
                    let v = v.as_str()?;
                    v.contains("${").then(|| (k.clone(), json!(c.expand(v))))
                })
                .collect();
            values.push(smp(
                "v1",
                "ConfigMap",
                &format!("{base}-settings"),
                Some(base),
                json!({"data": data}),
            ));
        }
        files.push((format!("{dir}/values.yaml"), multi_doc(&values)));
        let patches = json!([{"path": "settings.yaml"}, {"path": "values.yaml"}]);
        let mut kustomization = json!({
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": BASES.iter().map(|b| format!("../../bases/{b}")).collect::<Vec<_>>(),
            "patches": patches,
        });
        let components: Vec<String> = c
            .overlays()
            .iter()
            .map(|o| format!("../../components/{o}"))
            .collect();
        kustomization["components"] = json!(components);
        files.push((format!("{dir}/kustomization.yaml"), yaml(&kustomization)));
    }
    files
}

fn write_tree(root: &Path, files: &[(String, String)]) {
    for (path, contents) in files {
        let full = root.join(path);
        std::fs::create_dir_all(full.parent().expect("a file has a parent"))
            .expect("create folder");
        std::fs::write(&full, contents).expect("write file");
    }
}

/// Reads a work tree into a snapshot, as a directory source would.
fn read_tree(root: &Path) -> Snapshot {
    fn walk(root: &Path, dir: &Path, snap: &mut Snapshot) {
        for entry in std::fs::read_dir(dir).expect("read folder") {
            let entry = entry.expect("read folder entry");
            let path = entry.path();
            if entry.file_type().expect("file type").is_dir() {
                walk(root, &path, snap);
            } else {
                let rel = path.strip_prefix(root).expect("below root");
                let rel = rel.to_string_lossy().replace('\\', "/");
                snap.insert(rel, &std::fs::read(&path).expect("read file"));
            }
        }
    }
    let mut snap = Snapshot::new();
    walk(root, root, &mut snap);
    snap
}

// ---------------------------------------------------------------------------
// Timing helpers
// ---------------------------------------------------------------------------

struct Stats {
    samples: Vec<Duration>,
}

impl Stats {
    fn sorted(&self) -> Vec<f64> {
        let mut s: Vec<f64> = self.samples.iter().map(Duration::as_secs_f64).collect();
        s.sort_by(f64::total_cmp);
        s
    }
    fn median(&self) -> f64 {
        let s = self.sorted();
        let n = s.len();
        if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        }
    }
    fn min(&self) -> f64 {
        self.sorted()[0]
    }
    fn max(&self) -> f64 {
        *self.sorted().last().expect("at least one sample")
    }
}

/// One warm-up run, then `runs` timed runs. What `f` returns is dropped
/// inside the timed region.
fn measure<T>(runs: usize, mut f: impl FnMut() -> T) -> Stats {
    black_box(f());
    let samples = (0..runs)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed()
        })
        .collect();
    Stats { samples }
}

/// CPU seconds (user + system) of this process and of its waited-for
/// children, from /proc/self/stat; `None` where that is not available.
fn cpu_seconds() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|s| s.parse().unwrap_or(0.0))
        .collect();
    // Fields 14..17 of proc(5), counted from field 3 (state) here; USER_HZ is 100 on Linux.
    let tick = 100.0;
    Some(((f[11] + f[12]) / tick, (f[13] + f[14]) / tick))
}

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn rate(n: usize, secs: f64) -> String {
    thousands((n as f64 / secs).round() as usize)
}

// ---------------------------------------------------------------------------
// kustomize
// ---------------------------------------------------------------------------

enum Tool {
    Kubectl(PathBuf),
    Kustomize(PathBuf),
}

impl Tool {
    fn find() -> Option<Self> {
        let which = |name: &str| {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        };
        which("kubectl")
            .map(Tool::Kubectl)
            .or_else(|| which("kustomize").map(Tool::Kustomize))
    }

    fn command(&self, dir: &Path) -> Command {
        match self {
            Tool::Kubectl(p) => {
                let mut c = Command::new(p);
                c.arg("kustomize").arg(dir);
                c
            }
            Tool::Kustomize(p) => {
                let mut c = Command::new(p);
                c.arg("build").arg(dir);
                c
            }
        }
    }

    fn describe(&self) -> String {
        let (name, out) = match self {
            Tool::Kubectl(p) => (
                format!("kubectl kustomize ({})", p.display()),
                Command::new(p).args(["version", "--client"]).output(),
            ),
            Tool::Kustomize(p) => (
                format!("kustomize build ({})", p.display()),
                Command::new(p).arg("version").output(),
            ),
        };
        let version = out
            .ok()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .replace('\n', "; ")
            })
            .unwrap_or_else(|| "version unknown".into());
        format!("{name}: {version}")
    }

    fn run(&self, dir: &Path) -> String {
        let out = self
            .command(dir)
            .output()
            .unwrap_or_else(|e| panic!("running kustomize on {}: {e}", dir.display()));
        if !out.status.success() {
            panic!(
                "kustomize failed on {} ({}):\n{}",
                dir.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        String::from_utf8(out.stdout).expect("kustomize output is UTF-8")
    }
}

fn parse_stream(text: &str) -> Vec<Value> {
    flotilla_core::yaml::split_documents(text)
        .iter()
        .map(|d| {
            flotilla_core::yaml::parse::<Value>("kustomize output", d)
                .unwrap_or_else(|e| panic!("parsing kustomize output: {e}"))
        })
        .filter(|v| !v.is_null())
        .collect()
}

type Key = (String, String, String);

fn key_of(v: &Value) -> Key {
    let s = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    (s("/kind"), s("/metadata/namespace"), s("/metadata/name"))
}

/// The first JSON pointer where `a` and `b` differ.
fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                (Some(p), Some(q)) => first_difference(p, q, &format!("{path}/{k}")),
                (p, q) => Some(format!("{path}/{k}: {p:?} vs {q:?}")),
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(p, q, &format!("{path}/{i}"))),
        _ if a == b => None,
        _ => Some(format!("{path}: {a} vs {b}")),
    }
}

/// Compares kustomize's output for a cluster with Flotilla's desired state:
/// the object count and (kind, namespace, name) set, then each object's
/// content. Returns (keys equal, content equal).
fn compare(label: &str, kustomize: &str, flotilla: &DesiredState) -> (bool, bool) {
    let parsed = parse_stream(kustomize);
    let kcount = parsed.len();
    let theirs: BTreeMap<Key, Value> = parsed.into_iter().map(|v| (key_of(&v), v)).collect();
    let ours: BTreeMap<Key, &Value> = flotilla
        .objects
        .iter()
        .map(|o| (key_of(&o.object), &o.object))
        .collect();
    let k_keys: BTreeSet<&Key> = theirs.keys().collect();
    let f_keys: BTreeSet<&Key> = ours.keys().collect();
    let keys_ok = kcount == flotilla.objects.len() && k_keys == f_keys;
    let differing: Vec<String> = ours
        .iter()
        .filter_map(|(k, v)| {
            let d = first_difference(v, theirs.get(k)?, "")?;
            Some(format!("{} {}/{}: {d}", k.0, k.1, k.2))
        })
        .collect();
    println!(
        "  {label}: {} (kustomize {kcount} objects, Flotilla {}; (kind, namespace, name) sets {}); content: {}",
        if keys_ok { "OK" } else { "MISMATCH" },
        flotilla.objects.len(),
        if k_keys == f_keys { "equal" } else { "differ" },
        if differing.is_empty() {
            "identical".to_string()
        } else {
            format!("{} objects differ", differing.len())
        }
    );
    for k in k_keys.difference(&f_keys).take(10) {
        println!("    only in kustomize: {k:?}");
    }
    for k in f_keys.difference(&k_keys).take(10) {
        println!("    only in Flotilla:  {k:?}");
    }
    for d in differing.iter().take(5) {
        println!("    content differs: {d}");
    }
    (keys_ok, differing.is_empty())
}

// ---------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------

struct Row {
    label: &'static str,
    stats: Stats,
    unit: &'static str,
    count: usize,
}

/// Runs the release `flotilla render` and `flotilla validate` on the tree
/// under `/usr/bin/time -v` (output to /dev/null) and prints wall time and
/// peak RSS: the binary renders one cluster at a time and drops it.
fn binary_peak_memory(root: &Path) {
    let time = Path::new("/usr/bin/time");
    if !time.exists() {
        println!("/usr/bin/time not found: binary peak memory skipped");
        return;
    }
    println!();
    println!("## The `flotilla` binary (release) on the tree on disk, output to /dev/null");
    println!();
    println!("| command | wall time (s) | peak RSS (MB) |");
    println!("|---|---:|---:|");
    for command in ["render", "validate"] {
        let out = Command::new(time)
            .arg("-v")
            .arg(env!("CARGO_BIN_EXE_flotilla"))
            .args([command, "--repo"])
            .arg(root)
            .env_remove("FLOTILLA_REPO")
            .env_remove("FLOTILLA_REV")
            .stdout(std::process::Stdio::null())
            .output()
            .expect("flotilla runs");
        assert!(out.status.success(), "flotilla {command} failed");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let field = |name: &str| {
            stderr
                .lines()
                .find_map(|l| {
                    l.trim()
                        .strip_prefix(name)
                        .map(str::trim)
                        .map(str::to_string)
                })
                .unwrap_or_default()
        };
        let rss_kb: f64 = field("Maximum resident set size (kbytes):")
            .parse()
            .unwrap_or(0.0);
        let wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss):");
        let secs: f64 = wall.split(':').fold(0.0, |acc, part| {
            acc * 60.0 + part.parse::<f64>().unwrap_or(0.0)
        });
        println!(
            "| `/usr/bin/time -v flotilla {command} --repo <tree>` | {secs:.2} | {:.0} |",
            rss_kb / 1024.0
        );
    }
}

fn main() {
    let n_clusters = env_usize("FLOTILLA_BENCH_CLUSTERS", 1000).max(1);
    let runs = env_usize("FLOTILLA_BENCH_RUNS", 5).max(1);
    let n_kustomize = env_usize("FLOTILLA_BENCH_KUSTOMIZE_CLUSTERS", n_clusters).min(n_clusters);

    println!("# Flotilla render benchmark");
    println!();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("machine: {cpu}, {cores} logical CPUs (Flotilla runs on one thread)");

    // --- Generate the fleet ---------------------------------------------
    let t = Instant::now();
    let clusters = generate_clusters(n_clusters);
    let files = flotilla_tree(&clusters);
    let snapshot = Snapshot::from_files(files.iter().map(|(p, c)| (p.as_str(), c.as_bytes())));
    let tmp = tempfile::tempdir().expect("tempdir");
    // FLOTILLA_BENCH_KEEP=1 keeps the generated trees for inspection.
    let tmp_path = if std::env::var_os("FLOTILLA_BENCH_KEEP").is_some() {
        tmp.keep()
    } else {
        tmp.path().to_path_buf()
    };
    let flotilla_root = tmp_path.join("flotilla");
    write_tree(&flotilla_root, &files);
    let from_disk = read_tree(&flotilla_root);
    assert!(
        from_disk == snapshot,
        "the fleet read back from disk differs from the one generated in memory"
    );
    let bytes: usize = files.iter().map(|(_, c)| c.len()).sum();
    println!(
        "generated in {:.2} s: {} files, {:.1} MB, in memory and on disk at {}",
        t.elapsed().as_secs_f64(),
        thousands(files.len()),
        bytes as f64 / 1e6,
        flotilla_root.display()
    );

    let canaries = clusters.iter().filter(|c| c.canary).count();
    let count_by = |f: &dyn Fn(&ClusterSpec) -> &str| {
        let mut m: BTreeMap<&str, usize> = BTreeMap::new();
        for c in &clusters {
            *m.entry(f(c)).or_default() += 1;
        }
        m.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!(
        "clusters: {n_clusters}; region: {}; provider: {}; env: {}; canary: {canaries} ({:.1}%)",
        count_by(&|c| c.region),
        count_by(&|c| c.provider),
        count_by(&|c| c.env),
        100.0 * canaries as f64 / n_clusters as f64
    );
    println!(
        "bases: {} x {OBJECTS_PER_BASE} objects (1 Namespace, {n} Deployments, {n} Services, {} ConfigMaps; 2 objects per base use ${{cluster.*}})",
        BASES.len(),
        ROLES.len() + 1,
        n = ROLES.len()
    );
    println!(
        "overlays: registry-mirror (provider={MIRROR_PROVIDER}: jsonPatch image, glob *), region-<r> x{} (merge spec.replicas, globs *-api / *-web), canary (merge pod annotation, glob *; jsonPatch image tag per web Deployment); clusters/<name>/: one merge Patch on a ConfigMap",
        REGIONS.len()
    );

    // --- Validity ------------------------------------------------------
    let fleet =
        load(&snapshot).unwrap_or_else(|d| panic!("the generated fleet does not load:\n{d}"));
    assert_eq!(fleet.clusters.len(), n_clusters);
    let mut per_cluster: BTreeMap<usize, usize> = BTreeMap::new();
    let mut per_kind: BTreeMap<String, usize> = BTreeMap::new();
    let mut total_objects = 0usize;
    let mut yaml_bytes = 0usize;
    for c in &fleet.clusters {
        let state = render_cluster(&fleet, c)
            .unwrap_or_else(|d| panic!("cluster {} does not render:\n{d}", c.name));
        *per_cluster.entry(state.objects.len()).or_default() += 1;
        for o in &state.objects {
            *per_kind.entry(o.key.kind.clone()).or_default() += 1;
        }
        total_objects += state.objects.len();
        yaml_bytes += state.to_yaml().len();
    }
    let expected = BASES.len() * OBJECTS_PER_BASE;
    println!(
        "validity: load OK, render_cluster OK for all {n_clusters} clusters; objects per cluster: {}; total {} objects ({}), {:.1} MB of YAML",
        per_cluster
            .iter()
            .map(|(k, v)| format!("{k} on {v} clusters"))
            .collect::<Vec<_>>()
            .join(", "),
        thousands(total_objects),
        per_kind
            .iter()
            .map(|(k, v)| format!("{k} {}", thousands(*v)))
            .collect::<Vec<_>>()
            .join(", "),
        yaml_bytes as f64 / 1e6
    );
    assert!(
        per_cluster.keys().all(|&k| k == expected),
        "every cluster should have {expected} objects"
    );
    let docs_parsed: usize = files
        .iter()
        .filter(|(p, _)| p.ends_with(".yaml"))
        .map(|(_, c)| flotilla_core::yaml::split_documents(c).len())
        .sum();
    drop(fleet);

    // --- The binary, streamed: peak memory ---------------------------------
    binary_peak_memory(&flotilla_root);

    // --- Flotilla timings ------------------------------------------------
    println!();
    println!(
        "## Flotilla, in-process, one thread: median of {runs} runs after 1 warm-up ({} clusters, {} objects)",
        n_clusters,
        thousands(total_objects)
    );
    let cpu_before = cpu_seconds();
    let wall_before = Instant::now();
    let read = measure(runs, || read_tree(&flotilla_root).len());
    let fleet = load(&snapshot).expect("loads");
    let load_only = measure(runs, || load(&snapshot).expect("loads").clusters.len());
    let render_only = measure(runs, || {
        render_fleet(&fleet)
            .iter()
            .map(|(_, r)| r.as_ref().expect("renders").objects.len())
            .sum::<usize>()
    });
    drop(fleet);
    let load_render = measure(runs, || {
        let fleet = load(&snapshot).expect("loads");
        render_fleet(&fleet)
            .iter()
            .map(|(_, r)| r.as_ref().expect("renders").objects.len())
            .sum::<usize>()
    });
    let load_render_yaml = measure(runs, || {
        let fleet = load(&snapshot).expect("loads");
        render_fleet(&fleet)
            .iter()
            .map(|(_, r)| r.as_ref().expect("renders").to_yaml().len())
            .sum::<usize>()
    });
    let full = measure(runs, || {
        let snapshot = read_tree(&flotilla_root);
        let fleet = load(&snapshot).expect("loads");
        render_fleet(&fleet)
            .iter()
            .map(|(_, r)| r.as_ref().expect("renders").to_yaml().len())
            .sum::<usize>()
    });
    let flotilla_wall = wall_before.elapsed().as_secs_f64();
    let flotilla_cpu = cpu_seconds().zip(cpu_before).map(|((a, _), (b, _))| a - b);

    let rows = [
        Row {
            label: "read work tree from disk into a Snapshot",
            stats: read,
            unit: "files/s",
            count: files.len(),
        },
        Row {
            label: "(a) load (parse + validate)",
            stats: load_only,
            unit: "documents/s",
            count: docs_parsed,
        },
        Row {
            label: "(b) render all clusters (render_fleet)",
            stats: render_only,
            unit: "objects/s",
            count: total_objects,
        },
        Row {
            label: "(c) load + render",
            stats: load_render,
            unit: "objects/s",
            count: total_objects,
        },
        Row {
            label: "(d) load + render + to_yaml",
            stats: load_render_yaml,
            unit: "objects/s",
            count: total_objects,
        },
        Row {
            label: "(e) read from disk + load + render + to_yaml",
            stats: full,
            unit: "objects/s",
            count: total_objects,
        },
    ];
    println!();
    println!(
        "| {:<46} | {:>8} | {:>8} | {:>8} | {:>24} |",
        "step", "median s", "min s", "max s", "throughput (median)"
    );
    println!(
        "|{:-<48}|{:->10}|{:->10}|{:->10}|{:->26}|",
        "", "", "", "", ""
    );
    for r in &rows {
        println!(
            "| {:<46} | {:>8.3} | {:>8.3} | {:>8.3} | {:>24} |",
            r.label,
            r.stats.median(),
            r.stats.min(),
            r.stats.max(),
            format!("{} {}", rate(r.count, r.stats.median()), r.unit)
        );
    }
    if let Some(cpu) = flotilla_cpu {
        println!(
            "process CPU time over all Flotilla runs: {cpu:.1} s in {flotilla_wall:.1} s wall ({:.2} cores busy on average)",
            cpu / flotilla_wall
        );
    }
    println!(
        "load parses {} documents in {} files ({:.2} MB): {:.1} MB/s",
        thousands(docs_parsed),
        thousands(files.len()),
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / rows[1].stats.median()
    );
    if let Some(kb) = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
    {
        println!(
            "peak resident memory of the bench process: {:.2} GB (render_fleet keeps all {} desired states)",
            kb / 1e6,
            thousands(n_clusters)
        );
    }
    let flotilla_lr = rows[3].stats.median();
    let flotilla_full = rows[5].stats.median();

    // --- kustomize -------------------------------------------------------
    println!();
    println!("## kustomize");
    let Some(tool) = Tool::find() else {
        println!("neither kubectl nor kustomize is on PATH: kustomize comparison skipped");
        print_summary(n_clusters, total_objects, &rows, None);
        return;
    };
    if n_kustomize == 0 {
        println!("FLOTILLA_BENCH_KUSTOMIZE_CLUSTERS=0: kustomize comparison skipped");
        print_summary(n_clusters, total_objects, &rows, None);
        return;
    }
    println!("tool: {}", tool.describe());
    let kroot = tmp_path.join("kustomize");
    let t = Instant::now();
    let kfiles = kustomize_tree(&clusters);
    write_tree(&kroot, &kfiles);
    println!(
        "kustomize tree: {} files written in {:.2} s at {}",
        thousands(kfiles.len()),
        t.elapsed().as_secs_f64(),
        kroot.display()
    );

    // Clusters to compare: the first of each overlay combination, among the
    // clusters kustomize renders.
    let mut check: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    for c in &clusters[..n_kustomize] {
        check.entry(c.overlays()).or_insert(c.index);
    }
    let mut check: Vec<usize> = check.into_values().collect();
    check.sort_unstable();
    // A few: prefer variety (canary and mirror first), at most 6.
    check.sort_by_key(|&i| {
        let o = clusters[i].overlays();
        std::cmp::Reverse(o.len())
    });
    check.truncate(6);
    check.sort_unstable();

    // Per-invocation overhead: kustomize on a one-object kustomization.
    let tiny = tmp_path.join("tiny");
    write_tree(
        &tiny,
        &[
            (
                "kustomization.yaml".to_string(),
                "resources: [cm.yaml]\n".to_string(),
            ),
            (
                "cm.yaml".to_string(),
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n".to_string(),
            ),
        ],
    );
    let startup = measure(5, || tool.run(&tiny).len()).median();
    println!(
        "per-invocation overhead (one-object kustomization): {:.3} s",
        startup
    );

    // Warm-up (binary and tree into the page cache), not timed.
    black_box(tool.run(&kroot.join("clusters").join(&clusters[0].name)));
    let mut outputs: BTreeMap<usize, String> = BTreeMap::new();
    let mut k_objects = 0usize;
    let cpu_before = cpu_seconds();
    let t = Instant::now();
    for c in &clusters[..n_kustomize] {
        let out = tool.run(&kroot.join("clusters").join(&c.name));
        k_objects += out.lines().filter(|l| *l == "---").count() + 1;
        if check.contains(&c.index) {
            outputs.insert(c.index, out);
        }
    }
    let k_measured = t.elapsed().as_secs_f64();
    let k_cpu = cpu_seconds().zip(cpu_before).map(|((_, a), (_, b))| a - b);
    let k_total = k_measured * n_clusters as f64 / n_kustomize as f64;
    let extrapolated = n_kustomize < n_clusters;
    println!(
        "rendered {n_kustomize} clusters one after the other: {k_measured:.2} s wall ({:.3} s per cluster), {} objects{}",
        k_measured / n_kustomize as f64,
        thousands(k_objects),
        k_cpu.map_or(String::new(), |c| format!(
            ", {c:.1} s CPU in kustomize processes ({:.2} cores busy on average)",
            c / k_measured
        ))
    );
    if extrapolated {
        println!(
            "EXTRAPOLATION: kustomize rendered {n_kustomize} of {n_clusters} clusters; the time for all {n_clusters} is extrapolated linearly from those {n_kustomize}: {k_total:.1} s"
        );
    } else {
        println!("all {n_clusters} clusters rendered with kustomize: {k_total:.1} s");
    }

    println!();
    println!(
        "equivalence (kustomize output vs Flotilla desired state) for {} clusters:",
        check.len()
    );
    let fleet = load(&snapshot).expect("loads");
    let (mut keys_ok, mut content_ok) = (true, true);
    for (i, out) in &outputs {
        let c = &fleet.clusters[*i];
        let state = render_cluster(&fleet, c).expect("renders");
        let label = format!("{} [{}]", c.name, clusters[*i].overlays().join(", "));
        let (k, v) = compare(&label, out, &state);
        keys_ok &= k;
        content_ok &= v;
    }
    println!(
        "equivalence: {}; content {}",
        if keys_ok {
            "OK (same object count and (kind, namespace, name) set)"
        } else {
            "MISMATCH (see above)"
        },
        if content_ok {
            "identical (every object equal as parsed YAML)"
        } else {
            "differs (see above)"
        }
    );
    println!();
    let ratio = k_total / flotilla_lr;
    println!(
        "ratio kustomize / Flotilla (load + render): {k_total:.1} s / {flotilla_lr:.3} s = {ratio:.0}x{}",
        if extrapolated {
            format!(" (kustomize extrapolated from {n_kustomize} clusters)")
        } else {
            String::new()
        }
    );
    println!(
        "ratio kustomize / Flotilla (read from disk + load + render + to_yaml): {:.0}x",
        k_total / flotilla_full
    );
    println!(
        "targets: whole fleet under 5 s on one core: {} ({flotilla_lr:.2} s); at least 10x faster than kustomize: {} ({ratio:.0}x)",
        if flotilla_lr < 5.0 { "MET" } else { "NOT MET" },
        if ratio >= 10.0 { "MET" } else { "NOT MET" }
    );
    print_summary(
        n_clusters,
        total_objects,
        &rows,
        Some(Kustomize {
            total: k_total,
            measured_clusters: n_kustomize,
            startup,
        }),
    );
}

struct Kustomize {
    total: f64,
    measured_clusters: usize,
    startup: f64,
}

fn print_summary(n_clusters: usize, total_objects: usize, rows: &[Row], k: Option<Kustomize>) {
    println!();
    println!("## Markdown for the README");
    println!();
    println!(
        "Rendering a generated fleet of {} clusters x {} objects ({} objects; 10 bases, 7 overlays, one `clusters/<name>/` patch each), one core:",
        thousands(n_clusters),
        total_objects / n_clusters.max(1),
        thousands(total_objects)
    );
    println!();
    println!("| Step | Time (s) | Objects/s |");
    println!("|---|---:|---:|");
    for r in &rows[1..] {
        let throughput = if r.unit == "objects/s" {
            rate(r.count, r.stats.median())
        } else {
            format!("{} {}", rate(r.count, r.stats.median()), r.unit)
        };
        println!(
            "| Flotilla {} | {:.3} | {} |",
            r.label
                .trim_start_matches(|c: char| c == '(' || c.is_ascii_lowercase() || c == ')')
                .trim(),
            r.stats.median(),
            throughput
        );
    }
    if let Some(k) = &k {
        let note = if k.measured_clusters < n_clusters {
            format!(
                ", extrapolated from {} clusters",
                thousands(k.measured_clusters)
            )
        } else {
            String::new()
        };
        println!(
            "| `kubectl kustomize`, one cluster after the other{note} | {:.1} | {} |",
            k.total,
            rate(total_objects, k.total)
        );
        println!(
            "| **kustomize / Flotilla (load + render)** | **{:.0}x** | |",
            k.total / rows[3].stats.median()
        );
    }
    println!();
    println!(
        "Flotilla: median of {} in-process runs on one thread after a warm-up.{}",
        rows[3].stats.samples.len(),
        k.as_ref().map_or(String::new(), |k| format!(
            " kustomize: each cluster is one `kubectl kustomize` process, about {:.3} s of which is process start-up.",
            k.startup
        ))
    );
}
