//! `strategicMerge:` patches through the real load and render path, with a
//! golden render of the result, and `validate`'s note on `merge` patches
//! that replace a list kubectl would merge by key.

mod support;

use flotilla_core::snapshot::Snapshot;
use support::files::write;
use support::run::flotilla_blocking as flotilla;

const FLEET: &str = "apiVersion: flotilla.dev/v1alpha1
kind: Fleet
metadata: {name: t}
spec:
  clusters:
    - {name: c1, labels: {region: eu}, connection: {directory: out/c1}}
  bases:
    - {name: app, path: bases/app}
  overlays:
    - {name: o, path: overlays/o}
";

const BASE: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: shop/web:1.0
          ports: [{containerPort: 8080, name: http}]
          env:
            - {name: LOG_LEVEL, value: info}
            - {name: REGION, value: none}
          volumeMounts: [{name: data, mountPath: /data}]
        - name: proxy
          image: shop/proxy:2.0
      volumes:
        - {name: data, emptyDir: {}}
        - {name: tmp, emptyDir: {}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w, namespace: shop}
spec:
  containers: [{name: a, image: a:1}, {name: b, image: b:1}]
  size: 3
";

const PATCHES: &str = "apiVersion: flotilla.dev/v1alpha1
kind: Patch
target: {kind: Deployment, name: web}
strategicMerge:
  spec:
    template:
      spec:
        containers:
          - name: web
            env:
              - {name: REGION, value: eu}
              - {name: ZONE, value: eu-1a}
            ports: [{containerPort: 9090, name: metrics}]
          - {name: proxy, $patch: delete}
        volumes:
          - {name: cache, emptyDir: {medium: Memory}}
---
apiVersion: flotilla.dev/v1alpha1
kind: Patch
target: {kind: Service, name: web}
strategicMerge:
  spec:
    ports:
      - {port: 9090, targetPort: metrics, name: metrics}
---
apiVersion: flotilla.dev/v1alpha1
kind: Patch
target: {kind: Widget, name: w}
strategicMerge:
  spec:
    containers: [{name: a, image: a:2}]
";

/// Renders cluster c1 with `patches` in the overlay, as YAML or the error.
fn render(patches: &str) -> Result<String, String> {
    let snap = Snapshot::from_files([
        ("fleet.yaml", FLEET),
        ("bases/app/app.yaml", BASE),
        ("overlays/o/p.yaml", patches),
    ]);
    let fleet = flotilla_core::load::load(&snap).map_err(|e| e.to_string())?;
    let state = flotilla_core::render::render_cluster(&fleet, &fleet.clusters[0])
        .map_err(|e| e.to_string())?;
    Ok(state.to_yaml())
}

#[test]
fn containers_env_ports_and_volumes_merge_by_key_and_a_crd_kind_merges_as_rfc_7386() {
    let yaml = render(PATCHES).unwrap();
    // The image, the other env entry and the first port stay; the proxy
    // container is gone; the Widget (no schema) has its list replaced.
    assert!(yaml.contains("image: shop/web:1.0"), "{yaml}");
    assert!(yaml.contains("value: info"), "{yaml}");
    assert!(yaml.contains("containerPort: 8080"), "{yaml}");
    assert!(!yaml.contains("shop/proxy"), "{yaml}");
    assert!(!yaml.contains("image: b:1"), "{yaml}");
    insta::assert_snapshot!("strategic-merge-c1", yaml);
}

#[test]
fn the_replace_directive_replaces_a_list_and_a_map() {
    let yaml = render(
        "apiVersion: flotilla.dev/v1alpha1
kind: Patch
target: {kind: Deployment, name: web}
strategicMerge:
  spec:
    template:
      spec:
        volumes:
          - $patch: replace
          - {name: only, emptyDir: {}}
        containers:
          - {name: web, $patch: replace, image: shop/web:2.0}
",
    )
    .unwrap();
    assert!(yaml.contains("name: only"), "{yaml}");
    assert!(!yaml.contains("name: tmp"), "{yaml}");
    // The replaced container holds only what the patch gives it.
    assert!(yaml.contains("image: shop/web:2.0"), "{yaml}");
    assert!(!yaml.contains("LOG_LEVEL"), "{yaml}");
    // The other container is untouched.
    assert!(yaml.contains("shop/proxy:2.0"), "{yaml}");
}

#[test]
fn a_strategic_merge_error_names_the_patch_and_the_item() {
    let e = render(
        "apiVersion: flotilla.dev/v1alpha1
kind: Patch
target: {kind: Deployment, name: web}
strategicMerge:
  spec: {template: {spec: {containers: [{image: x}]}}}
",
    )
    .unwrap_err();
    assert!(
        e.contains("overlays/o/p.yaml")
            && e.contains("document 1")
            && e.contains("strategicMerge: spec.template.spec.containers[0]")
            && e.contains("\"name\""),
        "{e}"
    );
}

#[test]
fn a_patch_with_two_actions_is_an_error() {
    let e = render(
        "apiVersion: flotilla.dev/v1alpha1
kind: Patch
target: {kind: Deployment, name: web}
merge: {spec: {replicas: 3}}
strategicMerge: {spec: {replicas: 4}}
",
    )
    .unwrap_err();
    assert!(e.contains("exactly one of merge, strategicMerge"), "{e}");
}

#[test]
fn validate_notes_a_merge_patch_that_replaces_a_keyed_list() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "fleet.yaml", FLEET);
    write(dir.path(), "bases/app/app.yaml", BASE);
    write(
        dir.path(),
        "overlays/o/p.yaml",
        "apiVersion: flotilla.dev/v1alpha1
kind: Patch
target: {kind: Deployment, name: web}
merge: {spec: {replicas: 3}}
---
apiVersion: flotilla.dev/v1alpha1
kind: Patch
target: {kind: Deployment, name: web}
merge:
  spec: {template: {spec: {containers: [{name: web, image: shop/web:1.1}]}}}
",
    );
    let o = flotilla(&["validate", "--repo", dir.path().to_str().unwrap()]);
    assert_eq!(o.code, 0, "{o}");
    assert!(
        o.stdout.contains(
            "note: overlays/o/p.yaml:6: document 2: merge: spec.template.spec.containers: this merge patch replaces the whole list"
        ) && o.stdout.contains("use strategicMerge"),
        "{o}"
    );
    // The first patch replaces no list: one note only.
    assert_eq!(o.stdout.matches("note: ").count(), 1, "{o}");
}
