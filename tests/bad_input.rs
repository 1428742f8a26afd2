//! One test per class of bad input: each asserts that the error names the
//! file, the document's position (and line), and the field or operation, and
//! that the bad input stops the cluster from rendering.

use flotilla_core::diagnostic::Diagnostics;
use flotilla_core::snapshot::Snapshot;

const FLEET: &str = r#"apiVersion: flotilla.dev/v1alpha1
kind: Fleet
metadata: {name: shop}
spec:
  clusters:
    - name: eu-1
      labels: {region: eu}
      connection: {directory: out/eu-1}
    - name: us-1
      labels: {region: us}
      connection: {directory: out/us-1}
  bases:
    - name: web
      path: bases/web
  overlays:
    - name: eu
      path: overlays/eu
      clusterSelector: {matchLabels: {region: eu}}
"#;

const WEB: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: web
          image: shop/web:1.0
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web, namespace: shop}
data: {mode: normal}
"#;

const EMPTY_OVERLAY: &str = "# nothing yet\n";

/// Loads and renders every cluster of a repository made of `files` (on top of
/// the default fleet, base and overlay unless overridden), and returns all
/// diagnostics as text.
fn errors(files: &[(&str, &str)]) -> String {
    let mut snap = Snapshot::from_files([
        ("fleet.yaml", FLEET),
        ("bases/web/web.yaml", WEB),
        ("overlays/eu/README.yaml", EMPTY_OVERLAY),
    ]);
    for (path, text) in files {
        snap.insert(*path, text.as_bytes());
    }
    let fleet = match flotilla_core::load::load(&snap) {
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

/// The layer's check helper: the repository's errors must contain every
/// expected fragment.
fn check(files: &[(&str, &str)], expected: &[&str]) {
    let text = errors(files);
    assert!(!text.is_empty(), "expected errors, got none");
    for fragment in expected {
        assert!(text.contains(fragment), "missing {fragment:?} in:\n{text}");
    }
}

#[test]
fn a_valid_repository_has_no_errors() {
    assert_eq!(errors(&[]), "");
}

#[test]
fn malformed_yaml_names_file_line_and_document() {
    let bad = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b\n";
    check(
        &[("bases/web/broken.yaml", bad)],
        &["bases/web/broken.yaml:", ": document 2: "],
    );
    let text = errors(&[("bases/web/broken.yaml", bad)]);
    // The error is on line 7 or 8 (the unclosed flow mapping), in document 2.
    assert!(
        text.contains("broken.yaml:7:") || text.contains("broken.yaml:8:"),
        "{text}"
    );
}

#[test]
fn malformed_fleet_yaml_names_the_unknown_field_and_line() {
    let fleet = FLEET.replace(
        "clusterSelector: {matchLabels",
        "clusterSelectr: {matchLabels",
    );
    check(
        &[("fleet.yaml", &fleet)],
        &["fleet.yaml:18:", "unknown field `clusterSelectr`"],
    );
}

#[test]
fn patch_target_that_matches_nothing_names_the_target_and_cluster() {
    let patch = "apiVersion: flotilla.dev/v1alpha1\nkind: Patch\ntarget: {kind: Deployment, name: api, namespace: shop}\nmerge: {spec: {replicas: 3}}\n";
    check(
        &[("overlays/eu/api.yaml", patch)],
        &[
            "overlays/eu/api.yaml:1: document 1: target: target Deployment shop/api matches no object on this cluster",
            "(cluster eu-1)",
        ],
    );
}

#[test]
fn optional_patch_that_matches_nothing_is_fine() {
    let patch = "apiVersion: flotilla.dev/v1alpha1\nkind: Patch\ntarget: {kind: Deployment, name: api}\noptional: true\nmerge: {spec: {replicas: 3}}\n";
    assert_eq!(errors(&[("overlays/eu/api.yaml", patch)]), "");
}

#[test]
fn bad_json_pointer_is_reported_with_its_line() {
    let patch = "apiVersion: flotilla.dev/v1alpha1\nkind: Patch\ntarget: {kind: Deployment, name: web}\njsonPatch:\n  - op: replace\n    path: spec/replicas\n    value: 3\n";
    let text = errors(&[("overlays/eu/p.yaml", patch)]);
    assert!(text.starts_with("overlays/eu/p.yaml:"), "{text}");
    assert!(text.contains("document 1"), "{text}");
    assert!(text.starts_with("overlays/eu/p.yaml:5:5: document 1: json pointer failed to parse; does not start with a slash"), "{text}");
}

#[test]
fn path_that_does_not_exist_names_the_operation_index_and_path() {
    let patch = "apiVersion: flotilla.dev/v1alpha1\nkind: Patch\ntarget: {kind: Deployment, name: web}\njsonPatch:\n  - {op: replace, path: /spec/replicas, value: 3}\n  - {op: replace, path: /spec/template/spec/containers/4/image, value: x}\n";
    check(
        &[("overlays/eu/p.yaml", patch)],
        &[
            "overlays/eu/p.yaml:1: document 1: jsonPatch[1] (replace /spec/template/spec/containers/4/image)",
            "does not exist on Deployment shop/web (cluster eu-1)",
        ],
    );
}

#[test]
fn failed_test_op_names_the_operation_and_path() {
    let patch = "---\n# second document\napiVersion: flotilla.dev/v1alpha1\nkind: Patch\ntarget: {kind: ConfigMap, name: web}\njsonPatch:\n  - {op: test, path: /data/mode, value: fast}\n  - {op: replace, path: /data/mode, value: faster}\n";
    let two = format!(
        "apiVersion: flotilla.dev/v1alpha1\nkind: Patch\ntarget: {{kind: ConfigMap, name: web}}\nmerge: {{data: {{x: y}}}}\n{patch}"
    );
    check(
        &[("overlays/eu/t.yaml", &two)],
        &[
            "overlays/eu/t.yaml:6: document 2: jsonPatch[0] (test /data/mode): test failed: the value at /data/mode is not the expected one on ConfigMap shop/web",
        ],
    );
}

#[test]
fn duplicate_object_names_both_files() {
    let dup =
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec: {}\n";
    check(
        &[("overlays/eu/dup.yaml", dup)],
        &[
            "overlays/eu/dup.yaml:1: document 1: metadata.name: duplicate object Deployment.apps shop/web: also defined in bases/web/web.yaml document 1 (line 1)",
        ],
    );
}

#[test]
fn duplicate_across_versions_of_one_group_is_still_a_duplicate() {
    let dup =
        "apiVersion: apps/v1beta2\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n";
    check(
        &[("bases/web/z.yaml", dup)],
        &[
            "bases/web/z.yaml:1: document 1",
            "duplicate object Deployment.apps shop/web",
        ],
    );
}

#[test]
fn unknown_cluster_in_placement_names_the_field_and_line() {
    let fleet = FLEET.replace(
        "      path: bases/web\n",
        "      path: bases/web\n      placement: {clusters: [eu-1, eu-2]}\n",
    );
    check(
        &[("fleet.yaml", &fleet)],
        &[
            "fleet.yaml:13: document 1: spec.bases[0].placement.clusters[1]: unknown cluster \"eu-2\"",
        ],
    );
}

#[test]
fn unknown_variable_names_the_field_and_variable() {
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: vars, namespace: shop}\ndata:\n  zone: ${cluster.labels.zone}\n";
    check(
        &[("bases/web/vars.yaml", cm)],
        &[
            "bases/web/vars.yaml:1: document 1: data.zone: unknown variable ${cluster.labels.zone}: cluster eu-1 has no label \"zone\"",
            "unknown variable ${cluster.labels.zone}: cluster us-1 has no label",
        ],
    );
}

#[test]
fn kubefed_file_with_a_bad_override_names_the_override() {
    let fed = "apiVersion: types.kubefed.io/v1beta1\nkind: FederatedDeployment\nmetadata: {name: legacy, namespace: shop}\nspec:\n  template:\n    spec: {replicas: 1}\n  placement: {clusters: [{name: eu-1}]}\n  overrides:\n    - clusterName: eu-1\n      clusterOverrides:\n        - {op: merge, path: /spec/replicas, value: 3}\n";
    check(
        &[("bases/web/fed.yaml", fed)],
        &[
            "bases/web/fed.yaml:1: document 1: spec.overrides[0].clusterOverrides[0].op: unknown op \"merge\"",
        ],
    );
    let missing_path = fed.replace(
        "{op: merge, path: /spec/replicas, value: 3}",
        "{path: /spec/nothing/here, value: 3}",
    );
    check(
        &[("bases/web/fed.yaml", &missing_path)],
        &[
            "bases/web/fed.yaml:1: document 1",
            "KubeFed override /spec/nothing/here",
            "(cluster eu-1)",
        ],
    );
}

#[test]
fn patch_with_two_actions_is_rejected() {
    let patch = "apiVersion: flotilla.dev/v1alpha1\nkind: Patch\ntarget: {kind: Deployment, name: web}\nmerge: {spec: {replicas: 3}}\ndelete: true\n";
    check(
        &[("overlays/eu/p.yaml", patch)],
        &[
            "overlays/eu/p.yaml:1: document 1: a Patch needs exactly one of merge, strategicMerge, jsonPatch or delete: true",
        ],
    );
}

#[test]
fn patch_in_a_base_is_rejected() {
    let patch = "apiVersion: flotilla.dev/v1alpha1\nkind: Patch\ntarget: {kind: Deployment, name: web}\ndelete: true\n";
    check(
        &[("bases/web/p.yaml", patch)],
        &["bases/web/p.yaml:1: document 1: kind: a Patch belongs in an overlay"],
    );
}

#[test]
fn manifest_without_a_name_is_rejected() {
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: x-}\n";
    check(
        &[("bases/web/cm.yaml", cm)],
        &["bases/web/cm.yaml:1: document 1: metadata.name: generateName is not supported"],
    );
    let cm = "apiVersion: v1\nmetadata: {name: x}\n";
    check(
        &[("bases/web/cm.yaml", cm)],
        &["bases/web/cm.yaml:1: document 1: kind: is required"],
    );
}

#[test]
fn clusters_folder_for_an_unknown_cluster_is_rejected() {
    let p = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: shop}\n";
    check(
        &[("clusters/eu-9/x.yaml", p)],
        &["clusters/eu-9: no cluster named \"eu-9\" in fleet.yaml"],
    );
}

#[test]
fn missing_base_folder_names_the_field() {
    let fleet = FLEET.replace("path: bases/web", "path: bases/webb");
    check(
        &[("fleet.yaml", &fleet)],
        &["fleet.yaml:13: document 1: spec.bases[0].path: folder \"bases/webb\" does not exist"],
    );
}

#[test]
fn bad_selector_operator_values_are_rejected() {
    let fleet = FLEET.replace(
        "clusterSelector: {matchLabels: {region: eu}}",
        "clusterSelector: {matchExpressions: [{key: region, operator: In}]}",
    );
    check(
        &[("fleet.yaml", &fleet)],
        &[
            "spec.overlays[0].clusterSelector.matchExpressions[0].values: operator In needs at least one value",
        ],
    );
}

#[test]
fn a_selector_that_matches_no_cluster_names_the_field_unless_allow_empty() {
    // An overlay whose selector has a typo in a label value.
    let fleet = FLEET.replace("{matchLabels: {region: eu}}", "{matchLabels: {region: ue}}");
    check(
        &[("fleet.yaml", &fleet)],
        &[
            "fleet.yaml:16: document 1: spec.overlays[0].clusterSelector: matches no cluster of spec.clusters",
        ],
    );
    // A base placed on none, and a wave of none.
    let fleet = FLEET.replace(
        "      path: bases/web\n",
        "      path: bases/web\n      placement: {clusterSelector: {matchLabels: {regoin: eu}}}\n",
    ) + "  rollout:\n    waves:\n      - {name: canary, clusterSelector: {matchLabels: {canary: 'true'}}}\n      - {name: rest}\n";
    check(
        &[("fleet.yaml", &fleet)],
        &[
            "spec.bases[0].placement.clusterSelector: matches no cluster",
            "spec.rollout.waves[0].clusterSelector: matches no cluster",
        ],
    );
    // An empty list of names.
    let fleet = FLEET.replace(
        "clusterSelector: {matchLabels: {region: eu}}",
        "clusters: []",
    );
    check(
        &[("fleet.yaml", &fleet)],
        &["spec.overlays[0].clusters: names no cluster"],
    );
    // Intended: said so explicitly.
    let fleet = FLEET.replace(
        "{matchLabels: {region: eu}}",
        "{matchLabels: {region: ap}}\n      allowEmpty: true",
    );
    assert_eq!(errors(&[("fleet.yaml", &fleet)]), "");
}

#[test]
fn invalid_cluster_names_and_labels_are_rejected() {
    let fleet = FLEET
        .replace("name: us-1", "name: US_1")
        .replace("{region: us}", "{region: 'us west'}");
    check(
        &[("fleet.yaml", &fleet)],
        &[
            "spec.clusters[1].name: \"US_1\" is not a DNS-1123 label",
            "spec.clusters[1].labels: label region=\"us west\"",
        ],
    );
}

#[test]
fn every_error_is_reported_not_just_the_first() {
    let bad_yaml = "a: [\n";
    let dup = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web, namespace: shop}\n";
    let text = errors(&[
        ("bases/web/a.yaml", bad_yaml),
        ("overlays/eu/b.yaml", "apiVersion: v1\nkind: x\n"),
    ]);
    assert_eq!(text.lines().count(), 2, "{text}");
    // Render errors on different clusters and files are all reported too.
    let patch = "apiVersion: flotilla.dev/v1alpha1\nkind: Patch\ntarget: {kind: Service, name: web}\ndelete: true\n";
    let text = errors(&[
        ("clusters/us-1/dup.yaml", dup),
        ("overlays/eu/p.yaml", patch),
    ]);
    assert!(
        text.contains("clusters/us-1/dup.yaml") && text.contains("overlays/eu/p.yaml"),
        "{text}"
    );
}

#[test]
fn missing_fleet_yaml_is_a_clear_error() {
    let snap = Snapshot::from_files([("bases/web/web.yaml", WEB)]);
    let err = flotilla_core::load::load(&snap).unwrap_err().to_string();
    assert_eq!(
        err,
        "fleet.yaml: not found: a fleet repository needs fleet.yaml at its root"
    );
}

/// `count` ConfigMaps as one multi-document file, with the documents at the
/// 1-based positions in `bad` replaced by `bad`'s text.
fn config_maps(count: usize, bad: &[(usize, &str)]) -> String {
    (1..=count)
        .map(|i| match bad.iter().find(|(at, _)| *at == i) {
            Some((_, text)) => text.to_string(),
            None => format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i}, namespace: shop}}\ndata: {{index: \"{i}\"}}\n"
            ),
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

#[test]
fn a_big_folder_parsed_on_threads_reports_every_error_in_order_as_one_thread_does() {
    // Enough documents that the shell's threads share them out.
    let first = config_maps(
        600,
        &[
            (
                5,
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: broken\n",
            ),
            (
                300,
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: shop}\n",
            ),
            (600, "apiVersion: v1\nkind: List\nitems: []\n"),
        ],
    );
    let last = config_maps(300, &[(150, "- a list\n- not an object\n")]);
    let mut snap = Snapshot::from_files([
        ("fleet.yaml", FLEET),
        ("bases/web/a.yaml", first.as_str()),
        ("bases/web/c.yaml", last.as_str()),
        ("overlays/eu/README.yaml", EMPTY_OVERLAY),
    ]);
    snap.insert("bases/web/b.yaml", &[0xff, 0xfe, b'\n']);
    let threads = flotilla_source::Threads::at_most(4);
    let (_, on_threads) = flotilla_core::load::load_partial_with(&snap, &threads);
    let (_, in_turn) = flotilla_core::load::load_partial(&snap);
    let text = on_threads.to_string();
    assert_eq!(text, in_turn.to_string());
    // Each error names its file and document, in the files' and the
    // documents' order.
    let at = |fragment: &str| {
        text.find(fragment)
            .unwrap_or_else(|| panic!("missing {fragment:?} in:\n{text}"))
    };
    let order = [
        at("bases/web/a.yaml:23:11: document 5: unclosed bracket"),
        at("bases/web/a.yaml:1495: document 300: metadata.name: is required"),
        at("bases/web/a.yaml:2994: document 600: kind: a List cannot be placed"),
        at("bases/web/b.yaml: the file is not valid UTF-8"),
        at("bases/web/c.yaml:746: document 150: a document must be a mapping"),
    ];
    assert!(order.is_sorted(), "out of order: {order:?} in:\n{text}");
    assert_eq!(on_threads.len(), 5, "{text}");
}

#[test]
fn a_big_folder_parsed_on_threads_renders_as_one_thread_does() {
    let big = config_maps(1000, &[]);
    let snap = Snapshot::from_files([
        ("fleet.yaml", FLEET),
        ("bases/web/web.yaml", WEB),
        ("bases/web/many.yaml", big.as_str()),
        ("overlays/eu/README.yaml", EMPTY_OVERLAY),
    ]);
    let threads = flotilla_source::Threads::at_most(4);
    let on_threads = flotilla_core::load::load_with(&snap, &threads).expect("loads");
    let in_turn = flotilla_core::load::load(&snap).expect("loads");
    fn rendered(fleet: &flotilla_core::model::Fleet) -> Vec<flotilla_core::render::DesiredState> {
        flotilla_core::render::render_fleet(fleet)
            .into_iter()
            .map(|(_, state)| state.expect("renders"))
            .collect()
    }
    let (a, b) = (rendered(&on_threads), rendered(&in_turn));
    assert_eq!(a, b);
    assert_eq!(a[0].objects.len(), 1002);
}
