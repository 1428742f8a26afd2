//! `fleet.yaml`: its schema as written by users, and its validation into the
//! fleet model. Every semantic error names the field and the line of the
//! list entry it is in.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::diagnostic::Diagnostic;
use crate::model::{Cluster, Connection, IgnoreRule, LabelSelector, Placement, Rollout, Wave};
use crate::snapshot::Snapshot;

/// The path of the fleet file at the repository root.
pub const FLEET_FILE: &str = "fleet.yaml";
/// The apiVersion of every Flotilla document.
pub const API_VERSION: &str = "flotilla.dev/v1alpha1";

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct FleetFile {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: FleetSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Metadata {
    pub name: String,
    #[serde(default)]
    #[allow(dead_code)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    #[allow(dead_code)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct FleetSpec {
    pub clusters: Vec<Spanned<ClusterSpec>>,
    #[serde(default)]
    pub bases: Vec<Spanned<BaseSpec>>,
    #[serde(default)]
    pub overlays: Vec<Spanned<OverlaySpec>>,
    #[serde(default)]
    pub rollout: Option<Spanned<RolloutSpec>>,
    #[serde(default)]
    pub prune: Option<bool>,
    #[serde(default)]
    pub prune_window: Option<Spanned<usize>>,
    #[serde(default)]
    pub conflicts: Option<crate::model::Conflicts>,
    #[serde(default)]
    pub ignore_differences: Vec<Spanned<IgnoreSpec>>,
    #[serde(default)]
    pub tenants: Vec<Spanned<TenantSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct TenantSpec {
    pub name: String,
    pub paths: Vec<String>,
    pub namespaces: Vec<String>,
    pub clusters: Option<LabelSelector>,
    #[serde(default)]
    pub allow_kinds: Vec<String>,
    pub service_account: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct IgnoreSpec {
    pub group: Option<String>,
    pub kind: String,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub json_pointers: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ClusterSpec {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub connection: Option<ConnectionSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ConnectionSpec {
    pub mode: Option<String>,
    pub kubeconfig: Option<String>,
    pub context: Option<String>,
    pub directory: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct BaseSpec {
    pub name: String,
    pub path: String,
    pub placement: Option<PlacementSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PlacementSpec {
    pub cluster_selector: Option<LabelSelector>,
    pub clusters: Option<Vec<String>>,
    /// Matching no cluster is intended (otherwise an error).
    #[serde(default)]
    pub allow_empty: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct OverlaySpec {
    pub name: String,
    pub path: String,
    pub cluster_selector: Option<LabelSelector>,
    pub clusters: Option<Vec<String>>,
    /// Matching no cluster is intended (otherwise an error).
    #[serde(default)]
    pub allow_empty: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RolloutSpec {
    #[serde(default)]
    pub waves: Vec<Spanned<WaveSpec>>,
    pub health_gate: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct WaveSpec {
    pub name: String,
    pub cluster_selector: Option<LabelSelector>,
    pub clusters: Option<Vec<String>>,
    /// Matching no cluster is intended (otherwise an error).
    #[serde(default)]
    pub allow_empty: bool,
}

/// Collects diagnostics about fleet.yaml, each with a field and a line.
pub(crate) struct Checker {
    pub diags: Vec<Diagnostic>,
}

impl Checker {
    pub fn error(&mut self, line: usize, field: impl Into<String>, message: impl Into<String>) {
        self.diags.push(
            Diagnostic::new(FLEET_FILE, message)
                .document(1)
                .at(line, None)
                .context(field),
        );
    }
}

/// The line of a spanned list entry.
pub(crate) fn line_of<T>(s: &Spanned<T>) -> usize {
    s.referenced.line() as usize
}

/// Whether `name` is a DNS-1123 label: one definition, in `model::names`.
pub use crate::model::names::is_dns1123_label;

fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// Checks a label key and value against the Kubernetes rules.
pub fn check_label(key: &str, value: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix
        && (p.is_empty() || p.len() > 253 || !p.split('.').all(is_dns1123_label))
    {
        return Err(format!("label key {key:?}: prefix must be a DNS subdomain"));
    }
    if !is_label_name(name) {
        return Err(format!(
            "label key {key:?}: name must be 1-63 characters of [A-Za-z0-9_.-], starting and ending alphanumeric"
        ));
    }
    if !value.is_empty() && !is_label_name(value) {
        return Err(format!(
            "label {key}={value:?}: value must be empty or 1-63 characters of [A-Za-z0-9_.-], starting and ending alphanumeric"
        ));
    }
    Ok(())
}

/// Checks a repository-relative folder path: relative, inside the repository,
/// and holding at least one YAML file.
pub(crate) fn check_folder(snapshot: &Snapshot, path: &str) -> Result<String, String> {
    if path.starts_with('/') || path.contains('\\') {
        return Err(format!(
            "{path:?} must be a relative path with / separators"
        ));
    }
    if path.split('/').any(|s| s == "..") {
        return Err(format!("{path:?} must stay inside the repository (no ..)"));
    }
    let norm = crate::snapshot::normalise(path);
    if norm.is_empty() {
        return Err("must name a folder, not the repository root".into());
    }
    if !snapshot.exists(&norm) {
        return Err(format!("folder {norm:?} does not exist in the repository"));
    }
    if !super::documents::yaml_files(snapshot, &norm).any(|_| true) {
        return Err(format!("folder {norm:?} holds no .yaml or .yml file"));
    }
    Ok(norm)
}

pub(crate) fn check_clusters(spec: &[Spanned<ClusterSpec>], ck: &mut Checker) -> Vec<Cluster> {
    let mut seen = BTreeSet::new();
    let mut folders = BTreeMap::new();
    let mut out = Vec::new();
    if spec.is_empty() {
        ck.error(1, "spec.clusters", "a fleet needs at least one cluster");
    }
    for (i, entry) in spec.iter().enumerate() {
        let line = line_of(entry);
        let c = &entry.value;
        let field = format!("spec.clusters[{i}]");
        if !is_dns1123_label(&c.name) {
            ck.error(
                line,
                format!("{field}.name"),
                format!(
                    "{:?} is not a DNS-1123 label (lower case letters, digits and -, at most 63)",
                    c.name
                ),
            );
        }
        if !seen.insert(c.name.clone()) {
            ck.error(
                line,
                format!("{field}.name"),
                format!("cluster {:?} is declared twice", c.name),
            );
        }
        for (k, v) in &c.labels {
            if let Err(e) = check_label(k, v) {
                ck.error(line, format!("{field}.labels"), e);
            }
        }
        let connection = match check_connection(c.connection.as_ref()) {
            Ok(conn) => conn,
            Err(e) => {
                ck.error(line, format!("{field}.connection"), e);
                Connection::Agent
            }
        };
        super::connection_checks::check(&c.name, &connection, line, &field, &mut folders, ck);
        out.push(Cluster {
            name: c.name.clone(),
            labels: c.labels.clone(),
            connection,
        });
    }
    out
}

fn check_connection(spec: Option<&ConnectionSpec>) -> Result<Connection, String> {
    let Some(c) = spec else {
        return Err(
            "required: give kubeconfig (and optional context), directory, or mode: agent".into(),
        );
    };
    let mode = c
        .mode
        .as_deref()
        .unwrap_or(match (&c.kubeconfig, &c.directory) {
            (Some(_), None) => "kubeconfig",
            (None, Some(_)) => "directory",
            (None, None) => "",
            (Some(_), Some(_)) => "both",
        });
    match mode {
        "kubeconfig" => match (&c.kubeconfig, &c.directory) {
            (Some(path), None) if !path.is_empty() => Ok(Connection::Kubeconfig {
                path: path.clone(),
                context: c.context.clone(),
            }),
            _ => Err("mode kubeconfig needs kubeconfig: <path> and no directory".into()),
        },
        "directory" => match (&c.directory, &c.kubeconfig, &c.context) {
            (Some(path), None, None) if !path.is_empty() => {
                Ok(Connection::Directory { path: path.clone() })
            }
            _ => {
                Err("mode directory needs directory: <folder> and no kubeconfig or context".into())
            }
        },
        "agent" => match (&c.directory, &c.kubeconfig, &c.context) {
            (None, None, None) => Ok(Connection::Agent),
            _ => Err("mode agent takes no kubeconfig, context or directory".into()),
        },
        "both" => Err("give either kubeconfig or directory, not both".into()),
        "" => Err("give kubeconfig (and optional context), directory, or mode: agent".into()),
        other => Err(format!(
            "unknown mode {other:?}: use kubeconfig, directory or agent"
        )),
    }
}

/// Builds a placement, checking the selector and that named clusters exist.
/// With `must_match` (the fleet's clusters; `None` for `allowEmpty: true`),
/// a selector that matches none of them, or an empty `clusters` list
/// without a selector, is an error: a typo must not pass silently.
pub(crate) fn check_placement(
    selector: Option<&LabelSelector>,
    clusters: Option<&Vec<String>>,
    known: &BTreeSet<&str>,
    must_match: Option<&[Cluster]>,
    field: &str,
    line: usize,
    ck: &mut Checker,
) -> Placement {
    if let Some(sel) = selector {
        match sel.validate() {
            Err((f, e)) => ck.error(line, format!("{field}.clusterSelector.{f}"), e),
            Ok(()) => {
                if let Some(all) = must_match
                    && !all.is_empty()
                    && !all.iter().any(|c| sel.matches(&c.labels))
                {
                    ck.error(
                        line,
                        format!("{field}.clusterSelector"),
                        "matches no cluster of spec.clusters (a typo in a label?); set allowEmpty: true if that is intended",
                    );
                }
            }
        }
    }
    if selector.is_none() && must_match.is_some() && clusters.is_some_and(|c| c.is_empty()) {
        ck.error(
            line,
            format!("{field}.clusters"),
            "names no cluster; set allowEmpty: true if that is intended",
        );
    }
    for (j, name) in clusters.into_iter().flatten().enumerate() {
        if !known.contains(name.as_str()) {
            ck.error(
                line,
                format!("{field}.clusters[{j}]"),
                format!("unknown cluster {name:?}: no cluster of that name in spec.clusters"),
            );
        }
    }
    Placement {
        selector: selector.cloned(),
        clusters: clusters.cloned().unwrap_or_default(),
    }
}

pub(crate) fn check_ignores(spec: &[Spanned<IgnoreSpec>], ck: &mut Checker) -> Vec<IgnoreRule> {
    let mut out = Vec::new();
    for (i, entry) in spec.iter().enumerate() {
        let (r, line) = (&entry.value, line_of(entry));
        let field = format!("spec.ignoreDifferences[{i}]");
        if r.kind.is_empty() {
            ck.error(line, format!("{field}.kind"), "must not be empty");
        }
        if r.json_pointers.is_empty() {
            ck.error(
                line,
                format!("{field}.jsonPointers"),
                "give at least one JSON pointer",
            );
        }
        for (j, p) in r.json_pointers.iter().enumerate() {
            if !p.starts_with('/') {
                ck.error(
                    line,
                    format!("{field}.jsonPointers[{j}]"),
                    format!("{p:?} is not a JSON pointer: it must start with /"),
                );
            }
        }
        let name = match r.name.as_deref().map(globset::Glob::new) {
            None => None,
            Some(Ok(g)) => Some(g.compile_matcher()),
            Some(Err(e)) => {
                ck.error(line, format!("{field}.name"), format!("invalid glob: {e}"));
                None
            }
        };
        out.push(IgnoreRule {
            group: r.group.clone(),
            kind: r.kind.clone(),
            name,
            namespace: r.namespace.clone(),
            json_pointers: r.json_pointers.clone(),
        });
    }
    out
}

pub(crate) fn check_rollout(
    spec: Option<&Spanned<RolloutSpec>>,
    clusters: &[Cluster],
    known: &BTreeSet<&str>,
    ck: &mut Checker,
) -> Rollout {
    let all = || clusters.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    let Some(spanned) = spec else {
        return Rollout {
            waves: vec![Wave {
                name: "all".into(),
                clusters: all(),
            }],
            health_gate: true,
        };
    };
    let spec = &spanned.value;
    let health_gate = spec.health_gate.unwrap_or(true);
    if spec.waves.is_empty() {
        return Rollout {
            waves: vec![Wave {
                name: "all".into(),
                clusters: all(),
            }],
            health_gate,
        };
    }
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    let mut names = BTreeSet::new();
    let mut waves = Vec::new();
    let last = spec.waves.len() - 1;
    for (i, entry) in spec.waves.iter().enumerate() {
        let w = &entry.value;
        let line = line_of(entry);
        let field = format!("spec.rollout.waves[{i}]");
        if !names.insert(w.name.as_str()) {
            ck.error(
                line,
                format!("{field}.name"),
                format!("wave {:?} is declared twice", w.name),
            );
        }
        let catch_all = w.cluster_selector.is_none() && w.clusters.is_none();
        if catch_all && i != last {
            ck.error(
                line,
                field.clone(),
                "only the last wave may omit clusterSelector and clusters (it takes every cluster not in an earlier wave)",
            );
        }
        let placement = if catch_all {
            Placement::everywhere()
        } else {
            check_placement(
                w.cluster_selector.as_ref(),
                w.clusters.as_ref(),
                known,
                (!w.allow_empty).then_some(clusters),
                &field,
                line,
                ck,
            )
        };
        let members: Vec<&Cluster> = clusters
            .iter()
            .filter(|c| !placed.contains(c.name.as_str()) && placement.selects(c))
            .collect();
        placed.extend(members.iter().map(|c| c.name.as_str()));
        waves.push(Wave {
            name: w.name.clone(),
            clusters: members.iter().map(|c| c.name.clone()).collect(),
        });
    }
    let missing: Vec<&str> = clusters
        .iter()
        .map(|c| c.name.as_str())
        .filter(|n| !placed.contains(n))
        .collect();
    if !missing.is_empty() {
        ck.error(
            line_of(spanned),
            "spec.rollout.waves",
            format!(
                "clusters in no wave: {}; add a last wave without a selector to take the rest",
                missing.join(", ")
            ),
        );
    }
    Rollout { waves, health_gate }
}

/// Checks `spec.tenants`: unique DNS-1123 names, folders inside the
/// repository owned by one tenant only, namespace globs, selectors, kinds
/// and `namespace/name` service accounts.
pub(crate) fn check_tenants(
    snapshot: &Snapshot,
    spec: &[Spanned<TenantSpec>],
    ck: &mut Checker,
) -> Vec<crate::model::Tenant> {
    use crate::model::tenancy::in_folder;
    use crate::model::wildcard::Wildcard;
    let mut out: Vec<crate::model::Tenant> = Vec::new();
    let mut names = BTreeSet::new();
    for (i, entry) in spec.iter().enumerate() {
        let (t, line, field) = (&entry.value, line_of(entry), format!("spec.tenants[{i}]"));
        if !is_dns1123_label(&t.name) {
            ck.error(
                line,
                format!("{field}.name"),
                format!("{:?} is not a DNS-1123 label", t.name),
            );
        }
        if !names.insert(t.name.as_str()) {
            ck.error(
                line,
                format!("{field}.name"),
                format!("tenant {:?} is declared twice", t.name),
            );
        }
        if t.paths.is_empty() {
            ck.error(
                line,
                format!("{field}.paths"),
                "give at least one folder the tenant owns",
            );
        }
        let mut paths = Vec::new();
        for (j, p) in t.paths.iter().enumerate() {
            let f = format!("{field}.paths[{j}]");
            if p.starts_with('/') || p.contains('\\') || p.split('/').any(|s| s == "..") {
                ck.error(
                    line,
                    f,
                    format!(
                        "{p:?} must be a relative folder inside the repository, with / separators"
                    ),
                );
                continue;
            }
            let norm = crate::snapshot::normalise(p);
            if norm.is_empty() || norm == "." {
                ck.error(line, f, "must name a folder, not the repository root (files outside every tenant belong to the platform)");
                continue;
            }
            if !snapshot.exists(&norm) {
                ck.error(
                    line,
                    f,
                    format!("folder {norm:?} does not exist in the repository"),
                );
            }
            for other in &out {
                if let Some(q) = other
                    .paths
                    .iter()
                    .find(|q| in_folder(&norm, q) || in_folder(q, &norm))
                {
                    ck.error(
                        line,
                        format!("{field}.paths[{j}]"),
                        format!("folder {norm:?} overlaps {q:?} of tenant {:?}: a file belongs to one tenant at most", other.name),
                    );
                }
            }
            paths.push(norm);
        }
        if t.namespaces.is_empty() {
            ck.error(
                line,
                format!("{field}.namespaces"),
                "give at least one namespace (or glob) the tenant's objects may live in",
            );
        }
        let mut namespace_globs = Vec::new();
        for (j, n) in t.namespaces.iter().enumerate() {
            match Wildcard::parse(n) {
                Some(w) if !n.is_empty() => namespace_globs.push(w),
                _ => ck.error(
                    line,
                    format!("{field}.namespaces[{j}]"),
                    format!("{n:?} is not a namespace or a glob of *, ? and [...]"),
                ),
            }
        }
        if let Some(sel) = &t.clusters
            && let Err((f, e)) = sel.validate()
        {
            ck.error(line, format!("{field}.clusters.{f}"), e);
        }
        for (j, k) in t.allow_kinds.iter().enumerate() {
            let kind = k.rsplit_once('/').map_or(k.as_str(), |(_, k)| k);
            if kind.is_empty() || !kind.chars().all(|c| c.is_ascii_alphanumeric()) {
                ck.error(
                    line,
                    format!("{field}.allowKinds[{j}]"),
                    format!("{k:?} is not a kind: write Kind or group/Kind"),
                );
            }
        }
        let service_account = match t.service_account.as_deref() {
            None => None,
            Some(s) => match crate::model::ServiceAccount::parse(s) {
                Some(sa) => Some(sa),
                None => {
                    ck.error(
                        line,
                        format!("{field}.serviceAccount"),
                        format!("{s:?} is not namespace/name of a service account"),
                    );
                    None
                }
            },
        };
        out.push(crate::model::Tenant {
            name: t.name.clone(),
            paths,
            namespaces: t.namespaces.clone(),
            namespace_globs,
            clusters: t.clusters.clone(),
            allow_kinds: t.allow_kinds.clone(),
            service_account,
        });
    }
    out
}
