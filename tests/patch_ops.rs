//! Every patch operation, through the real load and render path: one
//! `check(patch, expected)` helper, one test per operation.

use flotilla_core::snapshot::Snapshot;
use proptest::prelude::*;
use serde_json::{Value, json};

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

const BASE: &str = "apiVersion: v1
kind: ConfigMap
metadata: {name: app, namespace: ns}
data: {a: '1', b: '2'}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: other, namespace: ns}
data: {keep: 'yes'}
";

/// Renders cluster c1 with `patch` in the overlay; returns its objects
/// without the ownership marks, or the error text.
fn render(patch: &str) -> Result<Vec<Value>, String> {
    let snap = Snapshot::from_files([
        ("fleet.yaml", FLEET),
        ("bases/app/cm.yaml", BASE),
        ("overlays/o/p.yaml", patch),
    ]);
    let fleet = flotilla_core::load::load(&snap).map_err(|e| e.to_string())?;
    let state = flotilla_core::render::render_cluster(&fleet, &fleet.clusters[0])
        .map_err(|e| e.to_string())?;
    Ok(state
        .objects
        .into_iter()
        .map(|o| {
            let mut v = o.object;
            let meta = v["metadata"].as_object_mut().unwrap();
            meta.remove("labels");
            meta.remove("annotations");
            v
        })
        .collect())
}

/// The check helper: the `data` of ConfigMap `app` after the patch.
fn check(ops: &str, expected: Value) {
    let patch = format!(
        "apiVersion: flotilla.dev/v1alpha1\nkind: Patch\ntarget: {{kind: ConfigMap, name: app}}\n{ops}"
    );
    let objects = render(&patch).unwrap_or_else(|e| panic!("{ops}:\n{e}"));
    let app = objects
        .iter()
        .find(|o| o["metadata"]["name"] == "app")
        .expect("app is rendered");
    assert_eq!(app["data"], expected, "{ops}");
}

#[test]
fn op_add() {
    check(
        "jsonPatch: [{op: add, path: /data/c, value: '3'}]",
        json!({"a": "1", "b": "2", "c": "3"}),
    );
}

#[test]
fn op_remove() {
    check(
        "jsonPatch: [{op: remove, path: /data/a}]",
        json!({"b": "2"}),
    );
}

#[test]
fn op_replace() {
    check(
        "jsonPatch: [{op: replace, path: /data/a, value: x}]",
        json!({"a": "x", "b": "2"}),
    );
}

#[test]
fn op_move() {
    check(
        "jsonPatch: [{op: move, from: /data/a, path: /data/z}]",
        json!({"b": "2", "z": "1"}),
    );
}

#[test]
fn op_copy() {
    check(
        "jsonPatch: [{op: copy, from: /data/a, path: /data/z}]",
        json!({"a": "1", "b": "2", "z": "1"}),
    );
}

#[test]
fn op_test_passes_then_later_ops_apply() {
    check(
        "jsonPatch: [{op: test, path: /data/a, value: '1'}, {op: replace, path: /data/a, value: ok}]",
        json!({"a": "ok", "b": "2"}),
    );
}

#[test]
fn failed_test_changes_nothing_and_is_an_error() {
    let patch = "apiVersion: flotilla.dev/v1alpha1\nkind: Patch\ntarget: {kind: ConfigMap, name: app}\njsonPatch: [{op: replace, path: /data/a, value: x}, {op: test, path: /data/b, value: nope}]\n";
    let err = render(patch).unwrap_err();
    assert!(
        err.contains("jsonPatch[1] (test /data/b): test failed"),
        "{err}"
    );
}

#[test]
fn move_from_a_missing_path_names_the_from_path() {
    let patch = "apiVersion: flotilla.dev/v1alpha1\nkind: Patch\ntarget: {kind: ConfigMap, name: app}\njsonPatch: [{op: move, from: /data/q, path: /data/z}]\n";
    let err = render(patch).unwrap_err();
    assert!(
        err.contains("jsonPatch[0] (move /data/q to /data/z): from path /data/q does not exist"),
        "{err}"
    );
}

#[test]
fn merge_sets_and_null_removes() {
    check(
        "merge: {data: {a: null, c: '3'}}",
        json!({"b": "2", "c": "3"}),
    );
}

#[test]
fn delete_removes_only_the_target() {
    let patch = "apiVersion: flotilla.dev/v1alpha1\nkind: Patch\ntarget: {kind: ConfigMap, name: app}\ndelete: true\n";
    let objects = render(patch).unwrap();
    let names: Vec<_> = objects
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["other"]);
}

#[test]
fn glob_target_patches_every_match() {
    let patch = "apiVersion: flotilla.dev/v1alpha1\nkind: Patch\ntarget: {kind: ConfigMap, name: '*', namespace: ns}\nmerge: {metadata: {labels: {tier: x}}}\n";
    let snap = Snapshot::from_files([
        ("fleet.yaml", FLEET),
        ("bases/app/cm.yaml", BASE),
        ("overlays/o/p.yaml", patch),
    ]);
    let fleet = flotilla_core::load::load(&snap).unwrap();
    let state = flotilla_core::render::render_cluster(&fleet, &fleet.clusters[0]).unwrap();
    assert!(
        state
            .objects
            .iter()
            .all(|o| o.object["metadata"]["labels"]["tier"] == "x")
    );
}

#[test]
fn target_namespace_and_api_version_must_match() {
    let patch = "apiVersion: flotilla.dev/v1alpha1\nkind: Patch\ntarget: {kind: ConfigMap, name: app, namespace: elsewhere}\nmerge: {data: {a: x}}\n";
    assert!(
        render(patch)
            .unwrap_err()
            .contains("target ConfigMap elsewhere/app matches no object")
    );
    let patch = "apiVersion: flotilla.dev/v1alpha1\nkind: Patch\ntarget: {kind: ConfigMap, name: app, apiVersion: v2}\nmerge: {data: {a: x}}\n";
    assert!(render(patch).unwrap_err().contains("matches no object"));
}

#[test]
fn substitution_in_a_patch_uses_the_cluster() {
    check(
        "merge: {data: {where: '${cluster.name} in ${cluster.labels.region}'}}",
        json!({"a": "1", "b": "2", "where": "c1 in eu"}),
    );
}

proptest! {
    /// Rendering is a pure function: the same repository renders to the same
    /// bytes, whatever the values in it.
    #[test]
    fn rendering_is_deterministic(values in proptest::collection::btree_map("[a-z]{1,8}", "[ -~]{0,20}", 0..12)) {
        let data: String = values.iter().map(|(k, v)| format!("  {k}: {}\n", serde_json::to_string(v).unwrap())).collect();
        let base = format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: p, namespace: ns}}\ndata:\n{data}");
        let snap = Snapshot::from_files([("fleet.yaml", FLEET), ("bases/app/cm.yaml", base.as_str()), ("overlays/o/x.yaml", "# none\n")]);
        let fleet = flotilla_core::load::load(&snap);
        // `${` in a random value is an unknown variable: an error, never a panic.
        if let Ok(fleet) = fleet {
            let a = flotilla_core::render::render_cluster(&fleet, &fleet.clusters[0]).map(|s| s.to_yaml());
            let b = flotilla_core::render::render_cluster(&fleet, &fleet.clusters[0]).map(|s| s.to_yaml());
            prop_assert_eq!(a.as_ref().ok(), b.as_ref().ok());
            if let Ok(text) = a {
                // And the output reads back as the same values.
                let docs = flotilla_core::yaml::split_documents(&text);
                let v: Value = flotilla_core::yaml::parse("out.yaml", &docs[0]).unwrap();
                for (k, val) in &values {
                    if !val.contains("${") {
                        prop_assert_eq!(v["data"][k].as_str(), Some(val.as_str()));
                    }
                }
            }
        }
    }
}
