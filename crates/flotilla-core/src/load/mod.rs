//! Loading: a repository [`Snapshot`] in, a validated [`Fleet`] out.
//!
//! Loading is pure: it reads only the snapshot. It reports every problem it
//! finds, not just the first, each naming file, document and field.

mod connection_checks;
mod documents;
mod fleet_file;
mod kubefed;
mod workers;

use std::collections::{BTreeMap, BTreeSet};

pub use fleet_file::{API_VERSION, FLEET_FILE, check_label, is_dns1123_label};
pub use workers::{InTurn, Workers};

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::model::{Base, Fleet, Layer, Overlay, Placement};
use crate::snapshot::Snapshot;
use documents::Classified;
use fleet_file::{
    Checker, FleetFile, check_clusters, check_folder, check_ignores, check_placement,
    check_rollout, check_tenants, line_of,
};

/// The folder whose sub-folders are per-cluster overlays.
pub const CLUSTERS_DIR: &str = "clusters";

/// The folders of a repository a fleet needs, read from the text of its
/// `fleet.yaml`: every base's and overlay's `path` and [`CLUSTERS_DIR`],
/// normalised, in order, without repeats. Paths the loader refuses
/// (absolute, with `..`, the root itself) are left out: loading reports
/// them. A `fleet.yaml` that does not parse names only [`CLUSTERS_DIR`].
/// This is what a work-tree reader reads (and nothing else), so a build
/// folder or another program's files next to the fleet are never touched.
pub fn folders_named(fleet_yaml: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(value) = crate::yaml::parse_file::<serde_json::Value>(FLEET_FILE, fleet_yaml) {
        for list in ["bases", "overlays"] {
            let entries = value["spec"][list].as_array().map(Vec::as_slice);
            for entry in entries.unwrap_or_default() {
                let Some(path) = entry["path"].as_str() else {
                    continue;
                };
                let norm = crate::snapshot::normalise(path);
                let refused = path.starts_with('/')
                    || path.contains('\\')
                    || norm.is_empty()
                    || norm.split('/').any(|s| s == "..");
                if !refused && !out.contains(&norm) {
                    out.push(norm);
                }
            }
        }
    }
    if !out.iter().any(|p| p == CLUSTERS_DIR) {
        out.push(CLUSTERS_DIR.to_string());
    }
    out
}

/// Whether `path` (repository-relative, `/`-separated) is one of `folders`
/// (those [`folders_named`] gives), inside one, or a folder on the way to
/// one: where the loader reads.
pub fn on_read_path(path: &str, folders: &[String]) -> bool {
    folders.iter().any(|f| {
        f == path
            || f.strip_prefix(path).is_some_and(|r| r.starts_with('/'))
            || path
                .strip_prefix(f.as_str())
                .is_some_and(|r| r.starts_with('/'))
    })
}

/// Whether the loader reads a file of this name: `.yaml` and `.yml` files.
pub fn is_yaml_file(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml")
}

/// Loads and validates the fleet in `snapshot`: the fleet, or every problem
/// found. A fleet with any problem is never returned, so nothing downstream
/// can act on half a repository.
pub fn load(snapshot: &Snapshot) -> Result<Fleet, Diagnostics> {
    load_with(snapshot, &InTurn)
}

/// [`load`], the documents parsed by `workers` (the shell's threads): the
/// same result, sooner for a repository of many documents.
pub fn load_with(snapshot: &Snapshot, workers: &dyn Workers) -> Result<Fleet, Diagnostics> {
    match load_partial_with(snapshot, workers) {
        (Some(fleet), diags) if diags.is_empty() => Ok(fleet),
        (_, diags) => Err(diags),
    }
}

/// Like [`load`], but also returns the fleet built from the documents that
/// did load, whenever `fleet.yaml` itself parsed, so that `validate` can
/// render the clusters and report render errors too. The partial fleet must
/// only ever be used to find more errors, never to apply anything.
pub fn load_partial(snapshot: &Snapshot) -> (Option<Fleet>, Diagnostics) {
    load_partial_with(snapshot, &InTurn)
}

/// [`load_partial`], the documents parsed by `workers`.
pub fn load_partial_with(
    snapshot: &Snapshot,
    workers: &dyn Workers,
) -> (Option<Fleet>, Diagnostics) {
    let (fleet, mut diags) = match load_inner(snapshot, workers) {
        Ok((fleet, diags)) => (Some(fleet), diags),
        Err(diags) => (None, diags),
    };
    // A symlink is never followed, and never skipped silently: the object
    // of a skipped manifest would be pruned.
    // Only links where the fleet reads count: fleet.yaml, the folders it
    // names, and the folders on the way to them (the readers record only
    // those; a snapshot built otherwise may hold more).
    let folders = snapshot
        .get(FLEET_FILE)
        .map(|b| folders_named(&String::from_utf8_lossy(b)))
        .unwrap_or_else(|| vec![CLUSTERS_DIR.to_string()]);
    let read_here = |p: &str| p == FLEET_FILE || on_read_path(p, &folders);
    let links: Vec<Diagnostic> = snapshot
        .symlinks()
        .filter(|p| read_here(p))
        .map(|p| Diagnostic::new(p, format!("symlinks are not followed: {p}")))
        .collect();
    if !links.is_empty() {
        diags.extend(links);
        diags = diags.coalesce();
    }
    (fleet, diags)
}

fn load_inner(
    snapshot: &Snapshot,
    workers: &dyn Workers,
) -> Result<(Fleet, Diagnostics), Diagnostics> {
    let Some(bytes) = snapshot.get(FLEET_FILE) else {
        let hint = if snapshot.get("fleet.yml").is_some() {
            "not found (found fleet.yml: rename it to fleet.yaml)"
        } else {
            "not found: a fleet repository needs fleet.yaml at its root"
        };
        return Err(Diagnostic::new(FLEET_FILE, hint).into());
    };
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Diagnostic::new(FLEET_FILE, "the file is not valid UTF-8"))?;
    let file: FleetFile = crate::yaml::parse_file(FLEET_FILE, text)?;
    let mut ck = Checker { diags: Vec::new() };
    if file.api_version != API_VERSION {
        ck.error(
            1,
            "apiVersion",
            format!("{:?} is not supported: use {API_VERSION}", file.api_version),
        );
    }
    if file.kind != "Fleet" {
        ck.error(
            1,
            "kind",
            format!("{:?}: the fleet file's kind must be Fleet", file.kind),
        );
    }
    if !is_dns1123_label(&file.metadata.name) {
        ck.error(
            1,
            "metadata.name",
            format!("{:?} is not a DNS-1123 label", file.metadata.name),
        );
    }
    let spec = file.spec;
    let clusters = check_clusters(&spec.clusters, &mut ck);
    let known: BTreeSet<&str> = clusters.iter().map(|c| c.name.as_str()).collect();

    let mut bases = Vec::new();
    let mut names = BTreeSet::new();
    for (i, entry) in spec.bases.iter().enumerate() {
        let (b, line, field) = (&entry.value, line_of(entry), format!("spec.bases[{i}]"));
        if !names.insert(b.name.as_str()) {
            ck.error(
                line,
                format!("{field}.name"),
                format!("base {:?} is declared twice", b.name),
            );
        }
        let placement = match &b.placement {
            None => Placement::everywhere(),
            Some(p) if p.cluster_selector.is_none() && p.clusters.is_none() => {
                ck.error(line, format!("{field}.placement"), "selects no cluster: give clusterSelector and/or clusters, or omit placement to place the base everywhere");
                Placement::default()
            }
            Some(p) => check_placement(
                p.cluster_selector.as_ref(),
                p.clusters.as_ref(),
                &known,
                (!p.allow_empty).then_some(clusters.as_slice()),
                &format!("{field}.placement"),
                line,
                &mut ck,
            ),
        };
        let path = match check_folder(snapshot, &b.path) {
            Ok(p) => p,
            Err(e) => {
                ck.error(line, format!("{field}.path"), e);
                continue;
            }
        };
        let mut documents = Vec::new();
        for c in documents::read_folder(snapshot, &path, workers, &mut ck.diags) {
            match c {
                Classified::Object(d) => documents.push(d),
                Classified::Patch(p) => ck.diags.push(
                    p.origin
                        .diagnostic(
                            "a Patch belongs in an overlay or clusters/<name>/, not in a base",
                        )
                        .context("kind"),
                ),
            }
        }
        for d in &documents {
            if let crate::model::DocumentBody::Federated(f) = &d.body {
                for name in f.placement.clusters.iter().chain(f.overrides.keys()) {
                    if !known.contains(name.as_str()) {
                        ck.diags.push(d.origin.diagnostic(format!("unknown cluster {name:?}: no cluster of that name in fleet.yaml")).context("spec.placement / spec.overrides"));
                    }
                }
            }
        }
        bases.push(Base {
            name: b.name.clone(),
            path,
            placement,
            documents,
        });
    }

    let mut overlays = Vec::new();
    let mut names = BTreeSet::new();
    for (i, entry) in spec.overlays.iter().enumerate() {
        let (o, line, field) = (&entry.value, line_of(entry), format!("spec.overlays[{i}]"));
        if !names.insert(o.name.as_str()) {
            ck.error(
                line,
                format!("{field}.name"),
                format!("overlay {:?} is declared twice", o.name),
            );
        }
        let placement = if o.cluster_selector.is_none() && o.clusters.is_none() {
            Placement::everywhere()
        } else {
            check_placement(
                o.cluster_selector.as_ref(),
                o.clusters.as_ref(),
                &known,
                (!o.allow_empty).then_some(clusters.as_slice()),
                &field,
                line,
                &mut ck,
            )
        };
        let path = match check_folder(snapshot, &o.path) {
            Ok(p) => p,
            Err(e) => {
                ck.error(line, format!("{field}.path"), e);
                continue;
            }
        };
        let layer = read_layer(snapshot, &path, workers, &mut ck.diags);
        overlays.push(Overlay {
            name: o.name.clone(),
            path,
            placement,
            layer,
        });
    }

    let cluster_layers = read_cluster_layers(snapshot, &known, workers, &mut ck.diags);
    let rollout = check_rollout(spec.rollout.as_ref(), &clusters, &known, &mut ck);
    let ignore_differences = check_ignores(&spec.ignore_differences, &mut ck);
    let tenants = check_tenants(snapshot, &spec.tenants, &mut ck);
    let prune_window = spec.prune_window.as_ref().and_then(|w| {
        crate::plan::check_prune_window(w.value)
            .map_err(|e| ck.error(line_of(w), "spec.pruneWindow", e))
            .ok()
    });

    let fleet = Fleet {
        name: file.metadata.name,
        clusters,
        bases,
        overlays,
        cluster_layers,
        rollout,
        prune: spec.prune.unwrap_or(true),
        prune_window,
        conflicts: spec.conflicts.unwrap_or_default(),
        revision: snapshot.revision().map(str::to_string),
        ignore_differences,
        tenants,
    };
    Ok((fleet, Diagnostics(ck.diags).coalesce()))
}

fn read_layer(
    snapshot: &Snapshot,
    path: &str,
    workers: &dyn Workers,
    diags: &mut Vec<Diagnostic>,
) -> Layer {
    let mut layer = Layer::default();
    for c in documents::read_folder(snapshot, path, workers, diags) {
        match c {
            Classified::Object(d) => layer.manifests.push(d),
            Classified::Patch(p) => layer.patches.push(p),
        }
    }
    layer
}

/// Reads `clusters/<name>/` for every folder there; a folder that names no
/// cluster is an error (a typo would otherwise be silently ignored).
fn read_cluster_layers(
    snapshot: &Snapshot,
    known: &BTreeSet<&str>,
    workers: &dyn Workers,
    diags: &mut Vec<Diagnostic>,
) -> BTreeMap<String, Layer> {
    let mut folders = BTreeSet::new();
    for (path, _) in documents::yaml_files(snapshot, CLUSTERS_DIR) {
        let rel = &path[CLUSTERS_DIR.len() + 1..];
        match rel.split_once('/') {
            Some((name, _)) => {
                folders.insert(name.to_string());
            }
            None => diags.push(Diagnostic::new(
                path,
                "files directly in clusters/ are not read: put them in clusters/<cluster-name>/",
            )),
        }
    }
    let mut layers = BTreeMap::new();
    for name in folders {
        let folder = format!("{CLUSTERS_DIR}/{name}");
        if !known.contains(name.as_str()) {
            diags.push(Diagnostic::new(
                folder,
                format!(
                    "no cluster named {name:?} in fleet.yaml: rename the folder or add the cluster"
                ),
            ));
            continue;
        }
        layers.insert(name, read_layer(snapshot, &folder, workers, diags));
    }
    layers
}

#[cfg(test)]
mod folder_tests {
    use super::*;

    #[test]
    fn folders_named_lists_bases_overlays_and_clusters_and_skips_what_load_refuses() {
        let fleet = "apiVersion: flotilla.dev/v1alpha1\nkind: Fleet\nmetadata: {name: f}\nspec:\n  clusters: []\n  bases:\n    - {name: a, path: ./bases/a/}\n    - {name: b, path: ../outside}\n    - {name: c, path: /abs}\n    - {name: d, path: .}\n  overlays:\n    - {name: o, path: overlays/o}\n    - {name: p, path: bases/a}\n";
        assert_eq!(folders_named(fleet), ["bases/a", "overlays/o", "clusters"]);
        assert_eq!(folders_named("not: [yaml"), ["clusters"]);
    }
}
