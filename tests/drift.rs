//! Drift detection end to end, as a user sees it: `flotilla drift` and the
//! live `flotilla diff` against test API servers (kube targets) and folders
//! (directory targets) — exit codes, statuses, JSON pointer paths with the
//! desired and live values, Secret masking, which pass decided, golden
//! reports and the JSON Schema — plus the library's `detect` for finer
//! checks (dry-run requests in the server's request log).
//!
//! Objects get onto a server with `flotilla sync`; hand edits then go
//! through the kube client under another field manager (`kubectl-edit`,
//! `kubectl-label`, ...) or the server's store helpers, as a person or
//! another controller would make them.

mod support;

use std::path::{Path, PathBuf};

use flotilla_core::diff::live::field_diffs;
use flotilla_core::drift::{DecidedBy, Detected, ObjectStatus};
use flotilla_core::model::Fleet;
use flotilla_core::render::DesiredState;
use flotilla_engine::destination::directory::DirectoryDestination;
use flotilla_engine::destination::kube::KubeDestination;
use flotilla_engine::diff::detect;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use kube_testserver::TestApiServer;
use serde_json::{Value, json};
use support::files::{b64, fixture, fixture_json, fixtures, write};
use support::report::{cluster, fields, object};
use support::run::{RUN_LIMIT, Run, flotilla};
use tempfile::TempDir;

const SCHEMA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/drift-report.schema.json");

// ---------------------------------------------------------------------------
// Fleet repositories
// ---------------------------------------------------------------------------

/// A fleet `shop` with one base `app` and the given clusters (YAML list
/// entries, each indented by four spaces) and extra `spec` fields.
fn fleet_yaml(clusters: &str, extra: &str) -> String {
    format!(
        "apiVersion: flotilla.dev/v1alpha1
kind: Fleet
metadata:
  name: shop
spec:
  clusters:
{clusters}  bases:
    - name: app
      path: bases/app
{extra}"
    )
}

// ---------------------------------------------------------------------------
// A fleet with one cluster on a test API server
// ---------------------------------------------------------------------------

/// A fleet repository in a temporary folder whose one cluster, `prod-1`,
/// is a test API server reached through a kubeconfig file.
struct KubeFleet {
    server: TestApiServer,
    tmp: TempDir,
}

impl KubeFleet {
    async fn new(base: &str, extra: &str) -> Self {
        let server = TestApiServer::start().await;
        let tmp = tempfile::tempdir().expect("a temporary folder");
        let kubeconfig = tmp.path().join("kubeconfig.yaml");
        std::fs::write(&kubeconfig, server.kubeconfig_yaml()).expect("write kubeconfig");
        let clusters = format!(
            "    - name: prod-1\n      connection:\n        kubeconfig: \"{}\"\n",
            kubeconfig.display()
        );
        let repo = tmp.path().join("repo");
        write(&repo, "fleet.yaml", &fleet_yaml(&clusters, extra));
        write(&repo, "bases/app/app.yaml", base);
        Self { server, tmp }
    }

    fn repo(&self) -> PathBuf {
        self.tmp.path().join("repo")
    }

    fn kubeconfig(&self) -> PathBuf {
        self.tmp.path().join("kubeconfig.yaml")
    }

    /// `flotilla <command> --repo <repo> <rest...>`.
    async fn run(&self, command: &str, rest: &[&str]) -> Run {
        let repo = self.repo();
        let mut args = vec![command, "--repo", repo.to_str().expect("a UTF-8 path")];
        args.extend_from_slice(rest);
        flotilla(self.tmp.path(), &args).await
    }

    /// Syncs, asserting success.
    async fn sync(&self) {
        let r = self.run("sync", &[]).await;
        assert_eq!(r.code, 0, "sync failed:\n{}", r.all());
    }

    fn client(&self) -> kube::Client {
        let config = kube::Config::new(self.server.url().parse().expect("a URL"));
        kube::Client::try_from(config).expect("a kube client")
    }

    /// The fleet and `prod-1`'s desired state, loaded the way the CLI does.
    fn desired(&self) -> (Fleet, DesiredState) {
        desired(&self.repo(), "prod-1")
    }

    /// Runs the library's `detect` against the server.
    async fn detect(&self) -> Detected {
        let (fleet, desired) = self.desired();
        let mut destination = KubeDestination::from_kubeconfig(&self.kubeconfig(), None)
            .await
            .expect("a kube destination");
        detect(&mut destination, &fleet.name, &desired, |k| {
            fleet.ignored_fields(k)
        })
        .await
        .expect("detect reads the cluster")
    }

    /// The dry-run PATCH requests the server saw since the last reset.
    fn dry_run_patches(&self) -> Vec<String> {
        self.server
            .request_log()
            .into_iter()
            .filter(|r| r.dry_run && r.method == "PATCH")
            .map(|r| r.path)
            .collect()
    }

    /// Replaces a stored object through the store helper, keeping its
    /// managedFields (as another writer that does not track ownership).
    fn edit_stored(
        &self,
        (group, version, plural): (&str, &str, &str),
        name: &str,
        edit: impl FnOnce(&mut Value),
    ) {
        let mut obj = self
            .server
            .get(group, version, plural, Some("shop"), name)
            .unwrap_or_else(|| panic!("{plural} shop/{name} is stored"));
        edit(&mut obj);
        self.server.insert(obj).expect("the server stores the edit");
    }
}

fn desired(repo: &Path, cluster: &str) -> (Fleet, DesiredState) {
    let snapshot = flotilla_source::snapshot(flotilla_source::SourceSpec::new(
        repo.to_str().expect("a UTF-8 path"),
    ))
    .expect("the repository reads");
    let fleet = flotilla_core::load::load(&snapshot).expect("the fleet loads");
    let c = fleet.cluster(cluster).expect("the cluster").clone();
    let desired = flotilla_core::render::render_cluster(&fleet, &c).expect("the cluster renders");
    (fleet, desired)
}

// ---------------------------------------------------------------------------
// 1. No false positives
// ---------------------------------------------------------------------------

// (After a sync, server defaults are not drift: the cluster scenario
// `server_defaults_are_not_drift` in tests/scenarios/drift.rs.)

/// The same kinds against the objects exactly as a real API server returns
/// them (fixtures `*-with-server-defaults.yaml`): no field differs.
#[test]
fn objects_as_a_real_server_returns_them_have_no_field_diffs() {
    for kind in [
        "deployment",
        "service",
        "statefulset",
        "horizontalpodautoscaler",
        "secret",
    ] {
        let desired = fixture_json(&format!("{kind}-desired.yaml"));
        let live = fixture_json(&format!("{kind}-with-server-defaults.yaml"));
        let diffs = field_diffs(&desired, &live, &[]);
        assert!(diffs.is_empty(), "{kind}: {diffs:#?}");
    }
}

// ---------------------------------------------------------------------------
// 2. Hand edits
// ---------------------------------------------------------------------------

const NS_AND_WEB: &[&str] = &["namespace-desired.yaml", "deployment-desired.yaml"];

fn settings_configmap() -> &'static str {
    "apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data:
  color: blue
"
}

// (Hand edits reported with their JSON pointers: the cluster scenario
// `hand_edits_are_reported_with_their_json_pointers` in tests/scenarios/drift.rs.)

// ---------------------------------------------------------------------------
// 3. Missing and to be pruned
// ---------------------------------------------------------------------------

fn configmap(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: shop\ndata:\n  name: {name}\n"
    )
}

// (A deleted object is Missing, one removed from Git ToBePruned: the cluster
// scenario `deleted_drifted_object_is_missing` in tests/scenarios/drift.rs.)

// ---------------------------------------------------------------------------
// 4. Secret values
// ---------------------------------------------------------------------------

// (Secret values never appear in any report: the cluster scenario
// `secret_values_never_appear_in_any_report` in tests/scenarios/drift.rs.)

// ---------------------------------------------------------------------------
// 5. The dry-run pass
// ---------------------------------------------------------------------------

/// Git writes `replicas: ~` (as an empty Helm value renders). The first
/// pass sees `null` against the server's `1` and suspects drift; the
/// server-side apply dry run shows applying would change nothing (the
/// server defaults the field again), so the object is in sync — at the
/// cost of exactly one dry-run request.
#[tokio::test(flavor = "multi_thread")]
async fn dry_run_clears_a_suspicion_the_server_would_not_act_on() {
    let deployment = fixture("deployment-desired.yaml").replace("replicas: 2", "replicas: ~");
    let base = format!("{}---\n{deployment}", fixture("namespace-desired.yaml"));
    let f = KubeFleet::new(&base, "").await;
    f.sync().await;
    let web = f
        .server
        .get("apps", "v1", "deployments", Some("shop"), "web")
        .expect("web");
    assert_eq!(web["spec"]["replicas"], 1, "defaulted: {web:#}");

    // The first pass alone suspects the object.
    let (_, desired) = f.desired();
    let obj = desired
        .objects
        .iter()
        .find(|o| o.key.kind == "Deployment")
        .expect("web is desired");
    let suspected: Vec<String> = field_diffs(&obj.object, &web, &[])
        .into_iter()
        .map(|d| d.path)
        .collect();
    assert_eq!(suspected, ["/spec/replicas"]);

    f.server.reset_counters();
    let d = f.detect().await;
    assert_eq!(d.drifted, vec![], "cleared by the dry run");
    assert_eq!(d.in_sync, 2);
    assert_eq!(
        f.dry_run_patches(),
        ["/apis/apps/v1/namespaces/shop/deployments/web"]
    );
    assert_eq!(f.server.counters().writes, 0);

    let r = f.run("drift", &[]).await;
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("prod-1: InSync (2 in sync,"),
        "{}",
        r.stdout
    );
}

/// Undrifted objects cost no dry-run request; each drifted one exactly one,
/// and its report says the server's dry run decided.
#[tokio::test(flavor = "multi_thread")]
async fn only_drifted_objects_cost_a_dry_run_request() {
    let mut base = fixtures(NS_AND_WEB);
    for i in 0..20 {
        base.push_str("---\n");
        base.push_str(&configmap(&format!("cm-{i:02}")));
    }
    let f = KubeFleet::new(&base, "").await;
    f.sync().await;

    f.server.reset_counters();
    let d = f.detect().await;
    assert_eq!((d.in_sync, d.drifted.len()), (22, 0));
    assert_eq!(f.dry_run_patches(), Vec::<String>::new());

    let cms: Api<ConfigMap> = Api::namespaced(f.client(), "shop");
    let edit = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..PatchParams::default()
    };
    cms.patch(
        "cm-07",
        &edit,
        &Patch::Merge(json!({"data": {"name": "edited"}})),
    )
    .await
    .expect("the hand edit applies");

    f.server.reset_counters();
    let d = f.detect().await;
    assert_eq!(d.in_sync, 21);
    assert_eq!(d.drifted.len(), 1, "{:#?}", d.drifted);
    let o = &d.drifted[0];
    assert_eq!(
        (o.key.name.as_str(), o.status),
        ("cm-07", ObjectStatus::Modified)
    );
    assert_eq!(o.decided_by, DecidedBy::DryRun);
    assert_eq!(o.fields.len(), 1);
    assert_eq!(o.fields[0].path, "/data/name");
    assert_eq!(
        f.dry_run_patches(),
        ["/api/v1/namespaces/shop/configmaps/cm-07"]
    );
    let counters = f.server.counters();
    assert_eq!(counters.writes, 0, "{counters:?}");
    // Reads: the inventory, one LIST per kind (Namespace, Deployment,
    // ConfigMap), discovery; never one GET per object.
    let gets_of_objects = f
        .server
        .request_log()
        .into_iter()
        .filter(|r| r.verb == "get" && r.path.contains("/namespaces/shop/"))
        .count();
    assert_eq!(gets_of_objects, 0);

    f.server.reset_counters();
    let r = f.run("drift", &[]).await;
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stdout
            .contains("  modified ConfigMap shop/cm-07 (decided by server dry run)\n"),
        "{}",
        r.stdout
    );
    assert_eq!(
        f.dry_run_patches(),
        ["/api/v1/namespaces/shop/configmaps/cm-07"]
    );
}

// ---------------------------------------------------------------------------
// 6. ignoreDifferences
// ---------------------------------------------------------------------------

/// A hand edit of `/spec/replicas` on a Deployment a rule covers is not
/// drift; the same edit on a Deployment the rule's name glob misses is.
#[tokio::test(flavor = "multi_thread")]
async fn ignore_differences_hides_a_covered_field() {
    let web = fixture("deployment-desired.yaml");
    let api = web
        .replace("name: web\n  namespace", "name: api\n  namespace")
        .replace("app: web", "app: api");
    let frontend = web
        .replace("name: web\n  namespace", "name: web-frontend\n  namespace")
        .replace("app: web", "app: web-frontend");
    let base = format!(
        "{}---\n{frontend}---\n{api}",
        fixture("namespace-desired.yaml")
    );
    let rules = "  ignoreDifferences:
    - kind: Deployment
      name: web*
      jsonPointers:
        - /spec/replicas
";
    let f = KubeFleet::new(&base, rules).await;
    f.sync().await;
    let deployments: Api<Deployment> = Api::namespaced(f.client(), "shop");
    let scale = |name: &'static str| {
        let deployments = deployments.clone();
        async move {
            deployments
                .patch(
                    name,
                    &PatchParams::apply("kubectl-edit").force(),
                    &Patch::Apply(json!({
                        "apiVersion": "apps/v1", "kind": "Deployment",
                        "metadata": {"name": name, "namespace": "shop"},
                        "spec": {"replicas": 7},
                    })),
                )
                .await
                .expect("the scale applies");
        }
    };

    scale("web-frontend").await;
    f.server.reset_counters();
    let r = f.run("drift", &[]).await;
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("prod-1: InSync (3 in sync,"),
        "{}",
        r.stdout
    );
    assert_eq!(f.dry_run_patches(), Vec::<String>::new());

    scale("api").await;
    let r = f.run("drift", &["-o", "json"]).await;
    assert_eq!(r.code, 1, "{}", r.all());
    let report = r.json();
    let c = cluster(&report, "prod-1");
    assert_eq!(c["objects"].as_array().map(Vec::len), Some(1), "{c:#}");
    let api = object(c, "Deployment", "api");
    assert_eq!(
        fields(api),
        vec![("/spec/replicas".to_string(), json!(2), json!(7))]
    );
}

// ---------------------------------------------------------------------------
// 7. Directory targets
// ---------------------------------------------------------------------------

/// A fleet on directory targets in a temporary folder; the repository is
/// `repo/` and cluster `<name>` writes to `out/<name>` (relative to the
/// repository folder, given as `repo` from the temporary folder, the
/// working directory of every run, so no absolute path can reach a report).
struct DirFleet {
    tmp: TempDir,
}

impl DirFleet {
    fn new(clusters: &[&str], base: &str) -> Self {
        let tmp = tempfile::tempdir().expect("a temporary folder");
        let entries: String = clusters
            .iter()
            .map(|c| format!("    - name: {c}\n      connection:\n        directory: out/{c}\n"))
            .collect();
        let repo = tmp.path().join("repo");
        write(&repo, "fleet.yaml", &fleet_yaml(&entries, ""));
        write(&repo, "bases/app/app.yaml", base);
        Self { tmp }
    }

    fn repo(&self) -> PathBuf {
        self.tmp.path().join("repo")
    }

    fn run(&self, command: &str, rest: &[&str]) -> Run {
        let mut args = vec![command.to_string(), "--repo".into(), "repo".into()];
        args.extend(rest.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        support::run::run(self.tmp.path(), &args, &[], RUN_LIMIT)
    }

    fn sync(&self) {
        let r = self.run("sync", &[]);
        assert_eq!(r.code, 0, "sync failed:\n{}", r.all());
    }

    fn file(&self, cluster: &str, name: &str) -> PathBuf {
        self.repo().join("out").join(cluster).join(name)
    }

    /// Edits a hydrated file as a person would, asserting the text to
    /// replace is there.
    fn edit(&self, cluster: &str, name: &str, from: &str, to: &str) {
        let p = self.file(cluster, name);
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(
            text.contains(from),
            "{from:?} not in {}:\n{text}",
            p.display()
        );
        std::fs::write(&p, text.replacen(from, to, 1)).expect("write");
    }
}

fn web_and_settings_dir_base() -> String {
    format!(
        "{}---\n{}---\n{}",
        fixture("namespace-desired.yaml"),
        fixture("deployment-desired.yaml"),
        settings_configmap()
    )
}

/// The unified diff of a drift report spells quantities that are equal by
/// value alike on both sides: only what the field list names changes.
#[test]
fn the_unified_diff_does_not_show_equal_quantities_as_changes() {
    let f = DirFleet::new(&["dev"], &web_and_settings_dir_base());
    f.sync();
    let web = "apps_deployment_shop_web.yaml";
    f.edit("dev", web, "replicas: 2", "replicas: 4");
    f.edit("dev", web, "cpu: 0.5", "cpu: 500m");
    let r = f.run("drift", &["-o", "json"]);
    assert_eq!(r.code, 1, "{}", r.all());
    let report = r.json();
    let web = object(cluster(&report, "dev"), "Deployment", "web");
    assert_eq!(
        fields(web),
        vec![("/spec/replicas".to_string(), json!(2), json!(4))]
    );
    let diff = web["diff"].as_str().expect("a diff");
    assert!(
        diff.contains("-  replicas: 4") && diff.contains("+  replicas: 2"),
        "{diff}"
    );
    assert!(!diff.contains("cpu"), "{diff}");
}

/// On a directory destination a hand-edited file is Modified with the path and
/// values (decided by the field comparison: there is no server to ask), and
/// a deleted file is Missing.
#[test]
fn directory_target_hand_edits_and_deleted_files() {
    let f = DirFleet::new(&["dev"], &web_and_settings_dir_base());
    f.sync();
    let r = f.run("drift", &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("dev: InSync (3 in sync,"), "{}", r.stdout);

    f.edit(
        "dev",
        "apps_deployment_shop_web.yaml",
        "replicas: 2",
        "replicas: 4",
    );
    std::fs::remove_file(f.file("dev", "core_configmap_shop_settings.yaml")).expect("rm");

    let r = f.run("drift", &["-o", "json"]);
    assert_eq!(r.code, 1, "{}", r.all());
    let report = r.json();
    let c = cluster(&report, "dev");
    assert_eq!(c["status"], "Drifted");
    let web = object(c, "Deployment", "web");
    assert_eq!(
        (&web["status"], &web["decidedBy"]),
        (&json!("Modified"), &json!("firstPass"))
    );
    assert_eq!(
        fields(web),
        vec![("/spec/replicas".to_string(), json!(2), json!(4))]
    );
    let settings = object(c, "ConfigMap", "settings");
    assert_eq!(
        (&settings["status"], &settings["decidedBy"]),
        (&json!("Missing"), &json!("presence"))
    );

    let r = f.run("drift", &[]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .contains("  modified Deployment.apps shop/web (decided by field comparison)\n    /spec/replicas: desired 2, live 4\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("  missing ConfigMap shop/settings (decided by presence)\n"),
        "{}",
        r.stdout
    );
}

/// The library on a directory destination: `detect` decides by field comparison
/// and never asks for a dry run.
#[tokio::test(flavor = "multi_thread")]
async fn detect_on_a_directory_target_decides_by_field_comparison() {
    let f = DirFleet::new(&["dev"], &web_and_settings_dir_base());
    f.sync();
    f.edit(
        "dev",
        "apps_deployment_shop_web.yaml",
        "image: registry.example.com/shop/web:1.4.2",
        "image: registry.example.com/shop/web:9",
    );
    let (fleet, desired) = desired(&f.repo(), "dev");
    let mut destination = DirectoryDestination::new(f.repo().join("out/dev"));
    let d = detect(&mut destination, &fleet.name, &desired, |k| {
        fleet.ignored_fields(k)
    })
    .await
    .expect("detect reads the folder");
    assert_eq!(d.in_sync, 2);
    assert_eq!(d.drifted.len(), 1);
    let o = &d.drifted[0];
    assert_eq!(
        (o.status, o.decided_by),
        (ObjectStatus::Modified, DecidedBy::FirstPass)
    );
    assert_eq!(o.fields[0].path, "/spec/template/spec/containers/0/image");
    assert_eq!(o.fields[0].live, json!("registry.example.com/shop/web:9"));
    assert!(o.diff.contains("-"), "{}", o.diff);
}

/// A Secret written with `stringData` is in sync on a directory destination
/// right after a sync (the file holds what was applied).
#[test]
fn directory_target_secret_with_string_data_is_in_sync_after_sync() {
    let base = fixtures(&["namespace-desired.yaml", "secret-desired.yaml"]);
    let f = DirFleet::new(&["dev"], &base);
    f.sync();
    let r = f.run("drift", &["-o", "json"]);
    assert_eq!(
        r.code,
        0,
        "expected in sync right after a sync:\n{}",
        r.all()
    );
}

// ---------------------------------------------------------------------------
// 8. Unreachable clusters and render errors
// ---------------------------------------------------------------------------

/// A server that went down after the sync: Unreachable with a reason, exit 2.
#[tokio::test(flavor = "multi_thread")]
async fn a_down_server_is_unreachable() {
    let f = KubeFleet::new(&fixtures(NS_AND_WEB), "").await;
    f.sync().await;
    f.server.set_down(true);
    let r = f.run("drift", &["-o", "json"]).await;
    assert_eq!(r.code, 2, "{}", r.all());
    let report = r.json();
    let c = cluster(&report, "prod-1");
    assert_eq!(c["status"], "Unreachable");
    let error = c["error"].as_str().expect("a reason");
    assert!(error.contains("unreachable"), "{error}");
    assert_eq!(c["objects"], json!([]));
    validate(&report);

    let r = f.run("drift", &[]).await;
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stdout.contains("prod-1: Unreachable: "), "{}", r.stdout);
    let r = f.run("diff", &[]).await;
    assert_eq!(r.code, 2, "{}", r.all());
}

/// A kubeconfig pointing at a closed port on 127.0.0.1: Unreachable, exit 2.
#[tokio::test(flavor = "multi_thread")]
async fn a_closed_port_is_unreachable() {
    let f = KubeFleet::new(&fixtures(NS_AND_WEB), "").await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let kubeconfig = f
        .server
        .kubeconfig_yaml()
        .replace(&f.server.url(), &format!("http://127.0.0.1:{closed}"));
    std::fs::write(f.kubeconfig(), kubeconfig).expect("write kubeconfig");
    let r = f.run("drift", &["-o", "json"]).await;
    assert_eq!(r.code, 2, "{}", r.all());
    let report = r.json();
    let c = cluster(&report, "prod-1");
    assert_eq!(c["status"], "Unreachable", "{c:#}");
    assert!(c["error"].as_str().is_some_and(|e| !e.is_empty()), "{c:#}");
    validate(&report);
    assert_eq!(f.server.counters().total, 0, "nothing reached the server");
}

/// A cluster whose render fails is a RenderError with the render's message;
/// the other clusters are still compared; exit 2.
#[test]
fn a_cluster_that_does_not_render_is_a_render_error() {
    let base = format!(
        "{}---\n{}",
        fixture("namespace-desired.yaml"),
        settings_configmap().replace("color: blue", "zone: ${cluster.labels.zone}")
    );
    let f = DirFleet::new(&["dev"], &base);
    let entries = "    - name: eu-1\n      labels: {zone: eu-west-1a}\n      connection:\n        directory: out/eu-1\n    - name: us-1\n      connection:\n        directory: out/us-1\n";
    write(&f.repo(), "fleet.yaml", &fleet_yaml(entries, ""));
    let r = f.run("sync", &["--cluster", "eu-1"]);
    assert_eq!(r.code, 0, "{}", r.all());

    let r = f.run("drift", &["-o", "json"]);
    assert_eq!(r.code, 2, "{}", r.all());
    let report = r.json();
    assert_eq!(cluster(&report, "eu-1")["status"], "InSync");
    let us = cluster(&report, "us-1");
    assert_eq!(us["status"], "RenderError");
    let error = us["error"].as_str().expect("a reason");
    assert!(
        error.contains("${cluster.labels.zone}") && error.contains("us-1"),
        "{error}"
    );
    validate(&report);

    let r = f.run("drift", &[]);
    assert_eq!(r.code, 2);
    assert!(r.stdout.contains("us-1: RenderError: "), "{}", r.stdout);
    assert!(r.stdout.contains("eu-1: InSync ("), "{}", r.stdout);
    // Only the cluster that renders: exit 0.
    let r = f.run("drift", &["--cluster", "eu-1"]);
    assert_eq!(r.code, 0, "{}", r.all());
    // Not a cluster of the fleet, or a fleet that does not load: exit 2.
    let r = f.run("drift", &["--cluster", "nope"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr.contains("unknown cluster \"nope\""),
        "{}",
        r.stderr
    );
    write(&f.repo(), "fleet.yaml", &fleet_yaml("", ""));
    let r = f.run("drift", &[]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("no drift report"), "{}", r.stderr);
}

// ---------------------------------------------------------------------------
// 9. Golden reports
// ---------------------------------------------------------------------------

const GOLDEN_BASE: &str = "apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: registry.example.com/shop/web:1.4.2
          env:
            - name: MODE
              value: prod
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data:
  color: blue
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: shop
data:
  password: czNjcjN0LWluLWdpdA==
";

/// A fixed drift scenario on two directory targets: `eu-1` with a
/// hand-edited Deployment (replicas, image, a removed env var), a
/// hand-edited Secret, a deleted ConfigMap and an object that left Git;
/// `us-1` in sync.
fn golden_fleet() -> DirFleet {
    let f = DirFleet::new(&["eu-1", "us-1"], GOLDEN_BASE);
    write(
        &f.repo(),
        "clusters/eu-1/legacy.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: legacy-flags\n  namespace: shop\ndata:\n  old: \"true\"\n",
    );
    f.sync();
    let web = "apps_deployment_shop_web.yaml";
    f.edit("eu-1", web, "replicas: 2", "replicas: 4");
    f.edit("eu-1", web, "web:1.4.2", "web:1.4.3-hotfix");
    let path = f.file("eu-1", web);
    let text = std::fs::read_to_string(&path).expect("read");
    let mut obj: Value = flotilla_core::yaml::parse_file("web", &text).expect("parses");
    obj["spec"]["template"]["spec"]["containers"][0]
        .as_object_mut()
        .expect("a container")
        .remove("env");
    std::fs::write(&path, flotilla_core::yaml::to_string(&obj)).expect("write");
    f.edit(
        "eu-1",
        "core_secret_shop_creds.yaml",
        "czNjcjN0LWluLWdpdA==",
        &b64("hand-typed-pw"),
    );
    std::fs::remove_file(f.file("eu-1", "core_configmap_shop_settings.yaml")).expect("rm");
    std::fs::remove_file(f.repo().join("clusters/eu-1/legacy.yaml")).expect("rm");
    f
}

#[test]
fn golden_reports() {
    let f = golden_fleet();
    let text = f.run("drift", &[]);
    assert_eq!(text.code, 1, "{}", text.all());
    let markdown = f.run("drift", &["-o", "markdown"]);
    assert_eq!(markdown.code, 1, "{}", markdown.all());
    let json = f.run("drift", &["-o", "json"]);
    assert_eq!(json.code, 1, "{}", json.all());
    let diff = f.run("diff", &[]);
    assert_eq!(diff.code, 1, "{}", diff.all());

    let tmp = f.tmp.path().display().to_string();
    for r in [&text, &markdown, &json, &diff] {
        assert!(
            !r.stdout.contains(&tmp),
            "a temporary path leaked:\n{}",
            r.stdout
        );
        for v in ["s3cr3t-in-git", "czNjcjN0LWluLWdpdA==", "hand-typed-pw"] {
            assert!(
                !r.stdout.contains(v),
                "secret value {v:?} shown:\n{}",
                r.stdout
            );
        }
        assert!(!r.stdout.contains(&b64("hand-typed-pw")), "{}", r.stdout);
    }
    insta::assert_snapshot!("text", text.stdout);
    insta::assert_snapshot!("markdown", markdown.stdout);
    insta::assert_snapshot!("json", json.stdout);
    insta::assert_snapshot!("live_diff", diff.stdout);
    validate(&json.json());
}

// ---------------------------------------------------------------------------
// 10. The JSON Schema
// ---------------------------------------------------------------------------

/// Validates a report against docs/drift-report.schema.json.
fn validate(report: &Value) {
    let text = std::fs::read_to_string(SCHEMA).expect("docs/drift-report.schema.json is there");
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\nin {report:#}");
}

/// Every kind of report validates: in sync, modified (with Secret
/// placeholders), missing, to be pruned (golden scenario and a kube destination
/// with a dry-run decision), Unreachable and RenderError (in their tests).
#[tokio::test(flavor = "multi_thread")]
async fn json_reports_validate_against_the_schema() {
    let f = KubeFleet::new(
        &format!(
            "{}---\n{}",
            fixtures(&["namespace-desired.yaml", "secret-desired.yaml"]),
            configmap("a")
        ),
        "",
    )
    .await;
    f.sync().await;
    let r = f.run("drift", &["-o", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.all());
    validate(&r.json());
    assert_eq!(r.json()["schema"], "flotilla.dev/drift-report/v1");
    assert_eq!(r.json()["revision"], Value::Null);

    f.edit_stored(("", "v1", "secrets"), "creds", |o| {
        o["data"]["password"] = json!(b64("other"));
    });
    f.server
        .delete("", "v1", "configmaps", Some("shop"), "a")
        .expect("deleted");
    for command in ["drift", "diff"] {
        let r = f.run(command, &["-o", "json"]).await;
        assert_eq!(r.code, 1, "{}", r.all());
        let report = r.json();
        validate(&report);
        let c = cluster(&report, "prod-1");
        assert_eq!(object(c, "Secret", "creds")["decidedBy"], "dryRun");
        assert!(object(c, "Secret", "creds")["diff"].is_string());
    }
}

// ---------------------------------------------------------------------------
// Sidecars
// ---------------------------------------------------------------------------

/// A desired Deployment whose one container sets LOG_LEVEL=info.
fn app_with_log_level() -> String {
    format!(
        "{}---\n{}",
        fixture("namespace-desired.yaml"),
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: registry.example.com/shop/web:1.4.2
          env:
            - name: LOG_LEVEL
              value: info
"
    )
}

/// A mutating webhook (here: a JSON patch by `sidecar-injector`) inserts a
/// `log-shipper` container before the app's container.
async fn inject_sidecar(f: &KubeFleet) {
    let deployments: Api<Deployment> = Api::namespaced(f.client(), "shop");
    let injector = PatchParams {
        field_manager: Some("sidecar-injector".into()),
        ..PatchParams::default()
    };
    let add: json_patch::Patch = serde_json::from_value(json!([
        {"op": "add", "path": "/spec/template/spec/containers/0", "value": {
            "name": "log-shipper",
            "image": "registry.example.com/infra/log-shipper:2.1",
            "env": [{"name": "LOG_LEVEL", "value": "info"}],
        }},
    ]))
    .expect("a JSON patch");
    deployments
        .patch("web", &injector, &Patch::Json::<()>(add))
        .await
        .expect("the sidecar is injected");
}

/// An injected sidecar is not drift.
#[tokio::test(flavor = "multi_thread")]
async fn an_injected_sidecar_is_not_drift() {
    let f = KubeFleet::new(&app_with_log_level(), "").await;
    f.sync().await;
    inject_sidecar(&f).await;
    f.server.reset_counters();
    let d = f.detect().await;
    assert_eq!((d.in_sync, d.drifted.len()), (2, 0), "{:#?}", d.drifted);
    assert_eq!(f.dry_run_patches(), Vec::<String>::new());
}

/// With a sidecar injected before the app's container, a hand edit of the
/// app container's env var is still drift. The first pass finds it (lists
/// are matched by name); the dry-run confirmation must then compare the
/// app container, not whatever container sits at the app's index in Git.
#[tokio::test(flavor = "multi_thread")]
async fn a_sidecar_before_the_app_container_does_not_hide_a_hand_edit() {
    let f = KubeFleet::new(&app_with_log_level(), "").await;
    f.sync().await;
    inject_sidecar(&f).await;
    let deployments: Api<Deployment> = Api::namespaced(f.client(), "shop");
    let edit = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..PatchParams::default()
    };
    let debug: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/spec/template/spec/containers/1/name", "value": "web"},
        {"op": "replace", "path": "/spec/template/spec/containers/1/env/0/value", "value": "debug"},
    ]))
    .expect("a JSON patch");
    deployments
        .patch("web", &edit, &Patch::Json::<()>(debug))
        .await
        .expect("the hand edit applies");

    // The first pass sees it.
    let (_, desired) = f.desired();
    let live = f
        .server
        .get("apps", "v1", "deployments", Some("shop"), "web")
        .expect("web");
    let web = desired
        .objects
        .iter()
        .find(|o| o.key.kind == "Deployment")
        .expect("web");
    let first = field_diffs(&web.object, &live, &[]);
    assert_eq!(first.len(), 1, "{first:#?}");
    assert_eq!(
        (first[0].path.as_str(), &first[0].desired, &first[0].live),
        (
            "/spec/template/spec/containers/0/env/0/value",
            &json!("info"),
            &json!("debug")
        )
    );

    // And so must the report.
    let d = f.detect().await;
    assert_eq!(
        d.drifted.len(),
        1,
        "the hand edit of LOG_LEVEL (info -> debug) in container web was dropped: {d:#?}"
    );
    assert_eq!(d.drifted[0].fields[0].live, json!("debug"));
}

// ---------------------------------------------------------------------------
// Objects the dry run cannot confirm, and objects that lost Flotilla's label
// ---------------------------------------------------------------------------

/// Git changes an immutable field (a StatefulSet's claim template size,
/// 10Gi -> 20Gi), so the server refuses the dry-run apply of that one
/// object (422). The cluster was read: it is Drifted, not Unreachable, the
/// StatefulSet is reported Modified, and an unrelated hand edit elsewhere
/// is still reported.
#[tokio::test(flavor = "multi_thread")]
async fn an_object_whose_dry_run_is_refused_does_not_hide_the_cluster() {
    let base = format!(
        "{}---\n{}",
        fixtures(&["namespace-desired.yaml", "statefulset-desired.yaml"]),
        settings_configmap()
    );
    let f = KubeFleet::new(&base, "").await;
    f.sync().await;
    let cms: Api<ConfigMap> = Api::namespaced(f.client(), "shop");
    let edit = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..PatchParams::default()
    };
    cms.patch(
        "settings",
        &edit,
        &Patch::Merge(json!({"data": {"color": "red"}})),
    )
    .await
    .expect("the hand edit applies");
    write(
        &f.repo(),
        "bases/app/app.yaml",
        &base.replace("storage: 10Gi", "storage: 20Gi"),
    );

    let r = f.run("drift", &["-o", "json"]).await;
    let report = r.json();
    let c = cluster(&report, "prod-1");
    assert_eq!(
        (r.code, &c["status"]),
        (1, &json!("Drifted")),
        "one refused dry run made the whole cluster {}: {}",
        c["status"],
        c["error"]
    );
    assert_eq!(object(c, "ConfigMap", "settings")["status"], "Modified");
    assert_eq!(object(c, "StatefulSet", "db")["status"], "Modified");
}

/// Someone removes Flotilla's `app.kubernetes.io/managed-by` label by hand.
/// The object is still there: it is Modified at that label, as on a
/// directory destination, not Missing.
#[tokio::test(flavor = "multi_thread")]
async fn an_object_that_lost_the_managed_by_label_is_modified_not_missing() {
    let base = format!(
        "{}---\n{}",
        fixture("namespace-desired.yaml"),
        settings_configmap()
    );
    let f = KubeFleet::new(&base, "").await;
    f.sync().await;
    let cms: Api<ConfigMap> = Api::namespaced(f.client(), "shop");
    let edit = PatchParams {
        field_manager: Some("kubectl-label".into()),
        ..PatchParams::default()
    };
    cms.patch(
        "settings",
        &edit,
        &Patch::Merge(json!({"metadata": {"labels": {"app.kubernetes.io/managed-by": null}}})),
    )
    .await
    .expect("the label is removed");
    assert!(
        f.server
            .get("", "v1", "configmaps", Some("shop"), "settings")
            .is_some(),
        "the object is still there"
    );

    let r = f.run("drift", &["-o", "json"]).await;
    assert_eq!(r.code, 1, "{}", r.all());
    let report = r.json();
    let settings = object(cluster(&report, "prod-1"), "ConfigMap", "settings");
    assert_eq!(
        settings["status"], "Modified",
        "an existing object reported as {settings:#}"
    );
    assert_eq!(
        fields(settings),
        vec![(
            "/metadata/labels/app.kubernetes.io~1managed-by".to_string(),
            json!("flotilla"),
            Value::Null
        )]
    );
}

/// A field another manager took with a write (an `Update`, as `kubectl
/// edit` or `scale` send) is drift that names the pointer and who took it
/// (from managedFields), next to the value that differs.
#[tokio::test(flavor = "multi_thread")]
async fn a_field_another_manager_took_names_the_manager() {
    let base = format!(
        "{}---\n{}",
        fixture("namespace-desired.yaml"),
        fixture("deployment-desired.yaml")
    );
    let f = KubeFleet::new(&base, "").await;
    f.sync().await;
    assert_eq!(f.detect().await.drifted, vec![], "just synced");
    let deployments: Api<Deployment> = Api::namespaced(f.client(), "shop");
    deployments
        .patch(
            "web",
            &PatchParams {
                field_manager: Some("kubectl".into()),
                ..PatchParams::default()
            },
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .expect("the merge patch takes replicas");
    let d = f.detect().await;
    assert_eq!(d.drifted.len(), 1, "{:#?}", d.drifted);
    let o = &d.drifted[0];
    assert_eq!(o.status, ObjectStatus::Modified);
    let paths: Vec<&str> = o.fields.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["/spec/replicas"]);
    let taken: Vec<String> = o.taken.iter().map(ToString::to_string).collect();
    assert_eq!(taken, ["/spec/replicas taken by manager kubectl (Update)"]);
    let r = f.run("drift", &[]).await;
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stdout
            .contains("/spec/replicas taken by manager kubectl (Update)"),
        "{}",
        r.stdout
    );
}

/// A custom resource whose CRD is not on the cluster (nor in Git) is missing,
/// and the report says its kind is not served.
#[tokio::test(flavor = "multi_thread")]
async fn a_kind_the_cluster_does_not_serve_is_named() {
    let widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: shop\nspec:\n  size: 1\n";
    let base = format!("{}---\n{widget}", fixture("namespace-desired.yaml"));
    let f = KubeFleet::new(&base, "").await;
    let d = f.detect().await;
    let widget = d
        .drifted
        .iter()
        .find(|o| o.key.kind == "Widget")
        .expect("the widget is drifted");
    assert_eq!(widget.status, ObjectStatus::Missing);
    assert_eq!(
        widget.note.as_deref(),
        Some("kind Widget (example.com/v1) is not served by the cluster (is its CRD installed?)")
    );
    let namespace = d
        .drifted
        .iter()
        .find(|o| o.key.kind == "Namespace")
        .expect("the namespace is missing too");
    assert_eq!(namespace.note, None, "Namespaces are served");
    let r = f.run("drift", &[]).await;
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stdout
            .contains("is not served by the cluster (is its CRD installed?)"),
        "{}",
        r.stdout
    );
}
