//! Tenants (`spec.tenants`): what a team's folders may place, where, and
//! what its patches may change; each violation refused with the tenant, the
//! file and document, and the object or namespace named, and the cluster
//! left unrendered.

mod support;

use std::time::Duration;

use flotilla_core::diagnostic::Diagnostics;
use flotilla_core::snapshot::Snapshot;

const FLEET: &str = r#"apiVersion: flotilla.dev/v1alpha1
kind: Fleet
metadata: {name: shop}
spec:
  clusters:
    - name: prod-1
      labels: {env: prod}
      connection: {directory: out/prod-1}
    - name: dev-1
      labels: {env: dev}
      connection: {directory: out/dev-1}
  bases:
    - name: platform
      path: bases/platform
    - name: team-a
      path: bases/team-a
    - name: team-b
      path: bases/team-b
  overlays:
    - name: team-a
      path: overlays/team-a
  tenants:
    - name: team-a
      paths: [bases/team-a, overlays/team-a]
      namespaces: [team-a, team-a-*]
      serviceAccount: team-a/flotilla
    - name: team-b
      paths: [bases/team-b]
      namespaces: [team-b]
"#;

const PLATFORM: &str = r#"apiVersion: v1
kind: Namespace
metadata: {name: team-a}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: platform, namespace: kube-system}
data: {owner: platform}
"#;

const TEAM_A: &str = r#"apiVersion: v1
kind: ConfigMap
metadata: {name: web, namespace: team-a}
data: {mode: normal}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web, namespace: team-a-dev}
data: {mode: dev}
"#;

const TEAM_B: &str = r#"apiVersion: v1
kind: ConfigMap
metadata: {name: api, namespace: team-b}
data: {mode: normal}
"#;

const OVERLAY_OK: &str = r#"apiVersion: flotilla.dev/v1alpha1
kind: Patch
target: {kind: ConfigMap, name: web, namespace: team-a}
merge: {data: {mode: patched}}
"#;

fn snapshot(files: &[(&str, &str)]) -> Snapshot {
    let mut snap = Snapshot::from_files([
        ("fleet.yaml", FLEET),
        ("bases/platform/platform.yaml", PLATFORM),
        ("bases/team-a/web.yaml", TEAM_A),
        ("bases/team-b/api.yaml", TEAM_B),
        ("overlays/team-a/patch.yaml", OVERLAY_OK),
    ]);
    for (path, text) in files {
        snap.insert(*path, text.as_bytes());
    }
    snap
}

/// Every load and render error of the repository, as text.
fn errors(files: &[(&str, &str)]) -> String {
    let fleet = match flotilla_core::load::load(&snapshot(files)) {
        Ok(f) => f,
        Err(d) => return d.to_string(),
    };
    let mut all = Diagnostics::default();
    for (_, result) in flotilla_core::render::render_fleet(&fleet) {
        if let Err(d) = result {
            all.extend(d);
        }
    }
    all.coalesce().to_string()
}

fn check(files: &[(&str, &str)], expected: &[&str]) {
    let text = errors(files);
    assert!(!text.is_empty(), "expected errors, got none");
    for fragment in expected {
        assert!(text.contains(fragment), "missing {fragment:?} in:\n{text}");
    }
}

#[test]
fn tenants_within_their_bounds_render_and_carry_their_tenant() {
    assert_eq!(errors(&[]), "");
    let fleet = flotilla_core::load::load(&snapshot(&[])).unwrap();
    let cluster = fleet.cluster("prod-1").unwrap();
    let state = flotilla_core::render::render_cluster(&fleet, cluster).unwrap();
    let of = |ns: &str, name: &str| {
        state
            .objects
            .iter()
            .find(|o| o.key.namespace == ns && o.key.name == name)
            .unwrap()
    };
    let web = of("team-a", "web");
    let tenant = web
        .tenant
        .as_ref()
        .expect("team-a's object carries its tenant");
    assert_eq!(&*tenant.name, "team-a");
    assert_eq!(
        tenant.user.as_deref(),
        Some("system:serviceaccount:team-a:flotilla")
    );
    assert_eq!(web.object["data"]["mode"], "patched");
    assert_eq!(
        &*of("team-b", "api").tenant.as_ref().unwrap().name,
        "team-b"
    );
    assert!(of("team-b", "api").tenant.as_ref().unwrap().user.is_none());
    assert!(of("kube-system", "platform").tenant.is_none());
    // The tenant is provenance only: nothing of it is in the object.
    assert!(
        !serde_json::to_string(&web.object)
            .unwrap()
            .contains("team-a:flotilla")
    );
}

#[test]
fn a_tenant_reaching_into_another_namespace_is_refused_with_names() {
    let bad = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok, namespace: team-a}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: steal, namespace: team-b}\n";
    check(
        &[("bases/team-a/steal.yaml", bad)],
        &[
            "bases/team-a/steal.yaml",
            "document 2",
            "tenant \"team-a\"",
            "Secret team-b/steal",
            "namespace \"team-b\"",
        ],
    );
}

#[test]
fn a_tenant_object_without_a_namespace_is_refused() {
    let bad = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nowhere}\n";
    check(
        &[("bases/team-b/nowhere.yaml", bad)],
        &[
            "bases/team-b/nowhere.yaml",
            "tenant \"team-b\"",
            "metadata.namespace",
        ],
    );
}

#[test]
fn a_tenant_creating_a_cluster_role_is_refused_unless_allowed() {
    let role = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: team-a-admin}\nrules: []\n";
    check(
        &[("bases/team-a/role.yaml", role)],
        &[
            "bases/team-a/role.yaml",
            "document 1",
            "tenant \"team-a\"",
            "ClusterRole.rbac.authorization.k8s.io/team-a-admin",
            "allowKinds",
        ],
    );
    // Setting a namespace on a cluster-scoped kind does not get around it.
    let sneaky = role.replace(
        "{name: team-a-admin}",
        "{name: team-a-admin, namespace: team-a}",
    );
    check(&[("bases/team-a/role.yaml", &sneaky)], &["allowKinds"]);
    // The platform grants it.
    let fleet = FLEET.replace(
        "      serviceAccount: team-a/flotilla",
        "      serviceAccount: team-a/flotilla\n      allowKinds: [rbac.authorization.k8s.io/ClusterRole]",
    );
    assert_eq!(
        errors(&[("fleet.yaml", &fleet), ("bases/team-a/role.yaml", role)]),
        ""
    );
    // The platform itself may create one anywhere.
    assert_eq!(errors(&[("bases/platform/role.yaml", role)]), "");
}

#[test]
fn a_tenant_patching_another_tenants_object_is_refused_with_names() {
    let patch = "apiVersion: flotilla.dev/v1alpha1\nkind: Patch\ntarget: {kind: ConfigMap, name: api, namespace: team-b}\nmerge: {data: {mode: hijacked}}\n";
    check(
        &[("overlays/team-a/hijack.yaml", patch)],
        &[
            "overlays/team-a/hijack.yaml",
            "tenant \"team-a\" may not patch ConfigMap team-b/api",
            "bases/team-b/api.yaml",
            "tenant \"team-b\"",
        ],
    );
    let platform = patch.replace(
        "name: api, namespace: team-b",
        "name: platform, namespace: kube-system",
    );
    check(
        &[("overlays/team-a/hijack.yaml", &platform)],
        &[
            "may not patch ConfigMap kube-system/platform",
            "the platform",
        ],
    );
}

#[test]
fn a_tenant_limited_to_some_clusters_fails_only_the_others() {
    let fleet = FLEET.replace(
        "      namespaces: [team-b]\n",
        "      namespaces: [team-b]\n      clusters: {matchLabels: {env: dev}}\n",
    );
    let loaded = flotilla_core::load::load(&snapshot(&[("fleet.yaml", &fleet)])).unwrap();
    let rendered = flotilla_core::render::render_fleet(&loaded);
    let prod = rendered.iter().find(|(c, _)| c.name == "prod-1").unwrap();
    let text = prod.1.as_ref().unwrap_err().to_string();
    assert!(
        text.contains("tenant \"team-b\" may not reach cluster \"prod-1\""),
        "{text}"
    );
    assert!(text.contains("bases/team-b/api.yaml"), "{text}");
    assert!(
        rendered
            .iter()
            .find(|(c, _)| c.name == "dev-1")
            .unwrap()
            .1
            .is_ok()
    );
}

#[test]
fn bad_tenant_declarations_name_the_field() {
    let fleet = FLEET.replace(
        "      paths: [bases/team-b]\n      namespaces: [team-b]\n",
        "      paths: [bases/team-a/sub, ../x]\n      namespaces: []\n      serviceAccount: nobody\n",
    );
    check(
        &[("fleet.yaml", &fleet), ("bases/team-a/sub/x.yaml", TEAM_A)],
        &[
            "spec.tenants[1].paths[0]",
            "overlaps \"bases/team-a\" of tenant \"team-a\"",
            "spec.tenants[1].paths[1]",
            "spec.tenants[1].namespaces",
            "spec.tenants[1].serviceAccount",
        ],
    );
}

#[test]
fn validate_reports_a_tenant_violation_and_fails() {
    support::init();
    let dir = tempfile::tempdir().unwrap();
    let snap = snapshot(&[(
        "bases/team-a/steal.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: steal, namespace: team-b}\n",
    )]);
    for path in snap.paths() {
        support::files::write(
            dir.path(),
            path,
            std::str::from_utf8(snap.get(path).unwrap()).unwrap(),
        );
    }
    let run = support::run::run(
        dir.path(),
        &["validate", "--repo", "."],
        &[],
        Duration::from_secs(60),
    );
    assert_ne!(run.code, 0, "{run}");
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("bases/team-a/steal.yaml"), "{run}");
    assert!(all.contains("tenant \"team-a\""), "{run}");
    assert!(all.contains("team-b"), "{run}");
}

// ----- impersonation ---------------------------------------------------------

/// A one-cluster fleet on the test API server `server`, in `dir/repo`.
fn cluster_repo(
    dir: &std::path::Path,
    server: &kube_testserver::TestApiServer,
) -> std::path::PathBuf {
    let repo = dir.join("repo");
    std::fs::write(dir.join("prod.kubeconfig"), server.kubeconfig_yaml()).unwrap();
    let fleet = FLEET
        .replace(
            "      connection: {directory: out/prod-1}",
            &format!("      connection: {{kubeconfig: {}}}", dir.join("prod.kubeconfig").display()),
        )
        .replace(
            "    - name: dev-1\n      labels: {env: dev}\n      connection: {directory: out/dev-1}\n",
            "",
        );
    let platform = "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: team-a-dev}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: team-b}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: platform, namespace: kube-system}\ndata: {owner: platform}\n";
    for (path, text) in [
        ("fleet.yaml", fleet.as_str()),
        ("bases/platform/platform.yaml", platform),
        ("bases/team-a/web.yaml", TEAM_A),
        ("bases/team-b/api.yaml", TEAM_B),
        ("overlays/team-a/patch.yaml", OVERLAY_OK),
    ] {
        support::files::write(&repo, path, text);
    }
    repo
}

const TEAM_A_USER: &str = "system:serviceaccount:team-a:flotilla";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_writes_impersonate_its_service_account() {
    support::init();
    let server = kube_testserver::TestApiServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let repo = cluster_repo(dir.path(), &server);
    let run = support::run::flotilla(dir.path(), &["sync", "--repo", repo.to_str().unwrap()]).await;
    assert_eq!(run.code, 0, "{run}");
    let writes: Vec<_> = server
        .request_log()
        .into_iter()
        .filter(|r| r.method == "PATCH" && !r.dry_run)
        .collect();
    let user_of = |fragment: &str| {
        writes
            .iter()
            .find(|r| r.path.ends_with(fragment))
            .unwrap_or_else(|| panic!("no write to {fragment}: {writes:#?}"))
            .impersonate_user
            .clone()
    };
    assert_eq!(
        user_of("/namespaces/team-a/configmaps/web").as_deref(),
        Some(TEAM_A_USER)
    );
    assert_eq!(
        user_of("/namespaces/team-a-dev/configmaps/web").as_deref(),
        Some(TEAM_A_USER)
    );
    // team-b has no service account; the platform's objects are Flotilla's own.
    assert_eq!(user_of("/namespaces/team-b/configmaps/api"), None);
    assert_eq!(user_of("/namespaces/kube-system/configmaps/platform"), None);
    assert_eq!(user_of("/namespaces/team-a"), None);
    // Reads and the inventory are never impersonated.
    assert!(
        server
            .request_log()
            .iter()
            .filter(|r| r.method != "PATCH")
            .all(|r| r.impersonate_user.is_none())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rbac_denied_tenant_write_fails_that_object_only() {
    support::init();
    let server = kube_testserver::TestApiServer::start().await;
    // The cluster's RBAC lets team-a's account write ConfigMaps in team-a only.
    server.set_rbac(
        TEAM_A_USER,
        vec![kube_testserver::RbacRule::allow(
            &["get", "list", "create", "patch", "update"],
            &["configmaps"],
            &["team-a"],
        )],
    );
    let dir = tempfile::tempdir().unwrap();
    let repo = cluster_repo(dir.path(), &server);
    let run = support::run::flotilla(dir.path(), &["sync", "--repo", repo.to_str().unwrap()]).await;
    assert_ne!(run.code, 0, "{run}");
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("team-a-dev"), "{run}");
    assert!(
        all.contains("forbidden") || all.contains("Forbidden"),
        "{run}"
    );
    assert!(all.contains(TEAM_A_USER), "{run}");
    // Everything else was applied.
    for (ns, name) in [
        ("team-a", "web"),
        ("team-b", "api"),
        ("kube-system", "platform"),
    ] {
        assert!(
            server.get("", "v1", "configmaps", Some(ns), name).is_some(),
            "{ns}/{name} missing:\n{run}"
        );
    }
    assert!(
        server
            .get("", "v1", "configmaps", Some("team-a-dev"), "web")
            .is_none()
    );
    let denied: Vec<_> = server
        .request_log()
        .into_iter()
        .filter(|r| r.status == 403)
        .collect();
    assert!(!denied.is_empty());
    assert!(
        denied
            .iter()
            .all(|r| r.impersonate_user.as_deref() == Some(TEAM_A_USER))
    );
}
