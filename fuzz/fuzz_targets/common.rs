//! Shared by the fuzz targets: a small fleet around the fuzzed files, and
//! the budget checks every rendered object must meet.

#![allow(dead_code)] // each target uses part of it

use flotilla_core::model::budget::{MAX_DEPTH, MAX_OBJECT_BYTES, json_depth, json_size};
use flotilla_core::snapshot::Snapshot;

pub const FLEET: &str = "apiVersion: flotilla.dev/v1alpha1
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

pub const BASE: &str = "apiVersion: v1
kind: ConfigMap
metadata: {name: app, namespace: ns}
data: {a: '1', b: '2'}
";

/// Loads and renders the fleet with `base` and `overlay` as files; a panic
/// or an object past the budgets is a finding, an error is not.
pub fn load_and_render(base: &str, overlay: &str) {
    let snap = Snapshot::from_files([
        ("fleet.yaml", FLEET),
        ("bases/app/cm.yaml", base),
        ("overlays/o/p.yaml", overlay),
    ]);
    let Ok(fleet) = flotilla_core::load::load(&snap) else {
        return;
    };
    if let Ok(state) = flotilla_core::render::render_cluster(&fleet, &fleet.clusters[0]) {
        for o in &state.objects {
            assert!(json_size(&o.object, MAX_OBJECT_BYTES) <= MAX_OBJECT_BYTES);
            assert!(json_depth(&o.object) <= MAX_DEPTH);
        }
        let _ = state.to_yaml();
    }
}
