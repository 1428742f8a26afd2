//! Property tests (issue 13): hostile input to the YAML loader, the patch
//! engine and render never panics, gives bounded output, and meets the
//! budgets as errors, never crashes. The same three functions are the
//! cargo-fuzz targets in `fuzz/`; these run on stable in `cargo test`, with
//! modest case counts so they take a few seconds.

use flotilla_core::model::budget::{MAX_DEPTH, MAX_OBJECT_BYTES, json_depth, json_size};
use flotilla_core::snapshot::Snapshot;
use proptest::prelude::*;
use serde_json::Value;

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
";

/// The longest error text any of these inputs may produce: errors name
/// positions and fields, they do not echo whole documents.
const MAX_ERROR_BYTES: usize = 256 * 1024;

/// Loads and renders cluster c1 of a fleet with `base` and `overlay` as
/// files; checks the budgets on every rendered object and bounds the
/// error text. Never panics (that is the property).
fn load_and_render(base: &str, overlay: &str) -> Result<Vec<Value>, String> {
    let snap = Snapshot::from_files([
        ("fleet.yaml", FLEET),
        ("bases/app/cm.yaml", base),
        ("overlays/o/p.yaml", overlay),
    ]);
    let fleet = flotilla_core::load::load(&snap).map_err(|e| e.to_string())?;
    let state = flotilla_core::render::render_cluster(&fleet, &fleet.clusters[0])
        .map_err(|e| e.to_string())?;
    let text = state.to_yaml();
    assert!(text.len() <= 64 * MAX_OBJECT_BYTES * state.objects.len().max(1));
    Ok(state.objects.into_iter().map(|o| o.object).collect())
}

fn assert_bounded(result: &Result<Vec<Value>, String>) {
    match result {
        Ok(objects) => {
            for o in objects {
                assert!(json_size(o, MAX_OBJECT_BYTES) <= MAX_OBJECT_BYTES);
                assert!(json_depth(o) <= MAX_DEPTH);
            }
        }
        Err(e) => assert!(e.len() <= MAX_ERROR_BYTES, "{} bytes of error", e.len()),
    }
}

/// YAML-ish text: the pieces that make parsers work hard (flow and block
/// collections, anchors, aliases, tags, merge keys, document markers,
/// indentation, quotes), in any order.
fn yamlish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just(": ".to_string()),
        Just(", ".to_string()),
        Just("- ".to_string()),
        Just("\n".to_string()),
        Just("\n  ".to_string()),
        Just("\n    ".to_string()),
        Just("---\n".to_string()),
        Just("...\n".to_string()),
        Just("&a ".to_string()),
        Just("*a".to_string()),
        Just("<<: *a".to_string()),
        Just("!!str ".to_string()),
        Just("!!binary ".to_string()),
        Just("? ".to_string()),
        Just("|\n  ".to_string()),
        Just("'".to_string()),
        Just("\"".to_string()),
        Just("#".to_string()),
        Just("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: ns}\n".to_string()),
        Just("apiVersion: flotilla.dev/v1alpha1\nkind: Patch\ntarget: {kind: ConfigMap, name: app}\n".to_string()),
        Just("${FLOTILLA_FLEET_X}".to_string()),
        "[a-zA-Z0-9_./-]{1,12}",
        "[ -~]{0,8}",
    ];
    proptest::collection::vec(piece, 0..60).prop_map(|v| v.concat())
}

/// One RFC 6902 operation over a small set of paths, so operations meet.
fn op() -> impl Strategy<Value = String> {
    let path = prop_oneof![
        Just("/data"),
        Just("/data/a"),
        Just("/data/b"),
        Just("/data/x"),
        Just("/n"),
        Just("/n/x"),
        Just("/spec"),
        Just("/metadata/name"),
        Just("/metadata/namespace"),
        Just("/kind"),
        Just("/apiVersion"),
        Just(""),
        Just("/data/-"),
        Just("/list/0"),
        Just("/list/-"),
    ];
    let value = prop_oneof![
        Just("{}"),
        Just("[]"),
        Just("x"),
        Just("'1'"),
        Just("{k: v}"),
        Just("[1, [2, [3]]]"),
        Just("null"),
        Just("../../etc"),
    ];
    (0..6usize, path.clone(), path, value).prop_map(|(kind, from, to, value)| match kind {
        0 => format!("  - {{op: add, path: \"{to}\", value: {value}}}\n"),
        1 => format!("  - {{op: remove, path: \"{to}\"}}\n"),
        2 => format!("  - {{op: replace, path: \"{to}\", value: {value}}}\n"),
        3 => format!("  - {{op: move, from: \"{from}\", path: \"{to}\"}}\n"),
        4 => format!("  - {{op: copy, from: \"{from}\", path: \"{to}\"}}\n"),
        _ => format!("  - {{op: test, path: \"{to}\", value: {value}}}\n"),
    })
}

fn patch(ops: &[String]) -> String {
    format!(
        "apiVersion: flotilla.dev/v1alpha1\nkind: Patch\ntarget: {{kind: ConfigMap, name: app}}\njsonPatch:\n{}",
        ops.concat()
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The YAML loader: any text as a manifest or as an overlay file loads
    /// or fails with a diagnostic; what renders meets the budgets.
    #[test]
    fn any_yamlish_text_loads_or_fails_cleanly(base in yamlish(), overlay in yamlish()) {
        let docs = flotilla_core::yaml::split_documents(&base);
        for d in &docs {
            let _ = flotilla_core::yaml::parse::<Value>("x.yaml", d);
        }
        assert_bounded(&load_and_render(&base, "# none\n"));
        assert_bounded(&load_and_render(BASE, &overlay));
    }

    /// The patch engine: any sequence of operations applies or fails with
    /// a diagnostic naming the operation; the result meets the budgets.
    #[test]
    fn any_patch_operations_apply_or_fail_cleanly(ops in proptest::collection::vec(op(), 1..40)) {
        let result = load_and_render(BASE, &patch(&ops));
        assert_bounded(&result);
        if let Err(e) = &result {
            prop_assert!(e.contains("overlays/o/p.yaml") || e.contains("bases/app"), "{}", e);
        }
    }

    /// Render: many small documents and patches render or fail, bounded.
    #[test]
    fn many_documents_render_bounded(names in proptest::collection::vec("[a-z]{1,6}", 1..30), merges in proptest::collection::vec(("[a-z]{1,6}", "[a-z0-9]{0,6}"), 0..30)) {
        let base: String = names
            .iter()
            .map(|n| format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {n}, namespace: ns}}\n"))
            .collect();
        let overlay: String = merges
            .iter()
            .map(|(n, k)| format!("---\napiVersion: flotilla.dev/v1alpha1\nkind: Patch\ntarget: {{kind: ConfigMap, name: \"{n}*\"}}\nmerge: {{data: {{k{k}: v}}}}\n"))
            .collect();
        let result = load_and_render(&base, &format!("# o\n{overlay}"));
        assert_bounded(&result);
    }
}

proptest! {
    // Each case doubles an object up to 1.5 MiB: few cases, a few seconds.
    #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

    /// Growth: copies and add+move pairs, repeated, meet the size and depth
    /// budgets as errors naming the operation, never an allocation failure
    /// or a stack overflow.
    #[test]
    fn growing_operations_stop_at_the_budgets(copies in 20..22usize, nests in 0..80usize) {
        let mut ops: Vec<String> = (0..copies)
            .map(|i| format!("  - {{op: copy, from: /data, path: /data/d{i}}}\n"))
            .collect();
        ops.splice(0..0, (0..nests).flat_map(|_| [
            "  - {op: add, path: /n, value: {}}\n".to_string(),
            "  - {op: move, from: /data, path: /n/x}\n".to_string(),
            "  - {op: move, from: /n, path: /data}\n".to_string(),
        ]));
        let result = load_and_render(BASE, &patch(&ops));
        assert_bounded(&result);
        // 2^20 copies of even a tiny object are past 1.5 MiB.
        let e = result.expect_err("the budget stops the growth");
        prop_assert!(e.contains("jsonPatch["), "{}", e);
        prop_assert!(e.contains("1.5 MiB") || e.contains("levels deep"), "{}", e);
    }
}
