//! The validated fleet: clusters, bases, overlays and rollout waves.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::patch::Patch;
use super::selector::LabelSelector;

/// A whole fleet, as declared by `fleet.yaml` and the folders it names.
#[derive(Clone, Debug)]
pub struct Fleet {
    /// `metadata.name` of the Fleet; written on every object it renders.
    pub name: String,
    /// Member clusters, in the order of `fleet.yaml`.
    pub clusters: Vec<Cluster>,
    /// Bases, in the order of `fleet.yaml`.
    pub bases: Vec<Base>,
    /// Group overlays, in the order they are applied.
    pub overlays: Vec<Overlay>,
    /// Per-cluster overlays from `clusters/<name>/`, by cluster name.
    pub cluster_layers: BTreeMap<String, Layer>,
    /// Rollout waves; every cluster is in exactly one.
    pub rollout: Rollout,
    /// Whether objects that left Git are deleted from clusters.
    pub prune: bool,
    /// How many pruning rounds the mass-prune guard looks back over
    /// (`spec.pruneWindow`); the engine's default when `None`.
    pub prune_window: Option<usize>,
    /// What a sync does when another field manager owns a field Git sets.
    pub conflicts: Conflicts,
    /// The commit the fleet was read from, where it came from Git.
    pub revision: Option<String>,
    /// Known differences between desired and live that are not drift.
    pub ignore_differences: Vec<IgnoreRule>,
    /// Tenants (`spec.tenants`): who owns which folders, and where their
    /// objects may go. Files outside every tenant belong to the platform.
    pub tenants: Vec<super::tenancy::Tenant>,
}

/// What a sync does when another field manager owns a field Git sets
/// (`spec.conflicts` in fleet.yaml).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Conflicts {
    /// Git wins: apply with force and report every field taken back.
    #[default]
    Force,
    /// Fail on a conflict, as `kubectl apply --server-side` does.
    Fail,
}

impl Conflicts {
    /// Whether applies take fields over from other managers.
    pub fn force(self) -> bool {
        self == Conflicts::Force
    }
}

/// A rule naming fields that never count as drift, like Argo CD's
/// `ignoreDifferences`: every given selector must match the object.
#[derive(Clone, Debug)]
pub struct IgnoreRule {
    /// API group; any group when `None`.
    pub group: Option<String>,
    /// Kind, matched exactly.
    pub kind: String,
    /// Name glob; any name when `None`.
    pub name: Option<globset::GlobMatcher>,
    /// Namespace; any when `None`.
    pub namespace: Option<String>,
    /// The fields (and everything below them) to ignore.
    pub json_pointers: Vec<String>,
}

impl IgnoreRule {
    /// Whether the rule applies to this object.
    pub fn matches(&self, key: &super::ObjectKey) -> bool {
        self.kind == key.kind
            && self.group.as_deref().is_none_or(|g| g == key.group)
            && self.namespace.as_deref().is_none_or(|n| n == key.namespace)
            && self.name.as_ref().is_none_or(|m| m.is_match(&key.name))
    }
}

impl Fleet {
    /// The JSON pointers to ignore when comparing this object.
    pub fn ignored_fields(&self, key: &super::ObjectKey) -> Vec<String> {
        self.ignore_differences
            .iter()
            .filter(|r| r.matches(key))
            .flat_map(|r| r.json_pointers.iter().cloned())
            .collect()
    }
}

impl Fleet {
    /// The tenant owning this repository-relative file, if any.
    pub fn tenant_of(&self, file: &str) -> Option<&super::tenancy::Tenant> {
        super::tenancy::tenant_of(&self.tenants, file)
    }

    /// The cluster with this name, if it is a member.
    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.clusters.iter().find(|c| c.name == name)
    }
}

/// One member cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cluster {
    /// DNS-1123 label, unique in the fleet.
    pub name: String,
    /// Labels that selectors and `${cluster.labels.<key>}` read.
    pub labels: BTreeMap<String, String>,
    /// How Flotilla reaches the cluster.
    pub connection: Connection,
}

/// How Flotilla reaches a cluster. Paths are kept as written: environment
/// variables in them expand only where a connection is opened, never here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "mode")]
pub enum Connection {
    /// Push mode through a kubeconfig file (and optional context).
    Kubeconfig {
        /// Path of the kubeconfig, `${ENV}` variables not yet expanded.
        path: String,
        /// The context to use; the file's current context otherwise.
        context: Option<String>,
    },
    /// Pull mode: an agent inside the cluster syncs it.
    Agent,
    /// Hydrated manifests written to a folder.
    Directory {
        /// The folder, relative to where Flotilla runs unless absolute.
        path: String,
    },
}

/// Which clusters something lands on: the union of the clusters a selector
/// matches and the clusters named.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    /// Clusters whose labels match; `None` selects none by labels.
    pub selector: Option<LabelSelector>,
    /// Clusters named outright.
    pub clusters: Vec<String>,
}

impl Placement {
    /// A placement on every cluster.
    pub fn everywhere() -> Self {
        Self {
            selector: Some(LabelSelector::default()),
            clusters: Vec::new(),
        }
    }

    /// Whether the placement includes `cluster`.
    pub fn selects(&self, cluster: &Cluster) -> bool {
        self.clusters.contains(&cluster.name)
            || self
                .selector
                .as_ref()
                .is_some_and(|s| s.matches(&cluster.labels))
    }
}

/// A base: plain manifests placed on some clusters.
#[derive(Clone, Debug)]
pub struct Base {
    /// Unique name of the base.
    pub name: String,
    /// Repository-relative folder the documents were read from.
    pub path: String,
    /// The clusters the base lands on.
    pub placement: Placement,
    /// Its manifests and KubeFed objects, in file then document order.
    pub documents: Vec<Document>,
}

/// A group overlay: manifests and patches for the clusters it selects.
#[derive(Clone, Debug)]
pub struct Overlay {
    /// Unique name of the overlay.
    pub name: String,
    /// Repository-relative folder.
    pub path: String,
    /// The clusters it applies to.
    pub placement: Placement,
    /// What it adds and changes.
    pub layer: Layer,
}

/// The contents of an overlay folder or of `clusters/<name>/`: manifests
/// are added first, then patches are applied in order.
#[derive(Clone, Debug, Default)]
pub struct Layer {
    /// Extra manifests the layer adds.
    pub manifests: Vec<Document>,
    /// Patches, in file then document order.
    pub patches: Vec<Patch>,
}

/// Where a document came from: file and position, for error messages and
/// the ownership annotations.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Origin {
    /// Repository-relative path of the file.
    pub file: Arc<str>,
    /// 1-based position of the document in the file.
    pub document: usize,
    /// 1-based line the document starts on.
    pub line: usize,
}

impl Origin {
    /// A diagnostic pointing at this document.
    pub fn diagnostic(&self, message: impl Into<String>) -> crate::diagnostic::Diagnostic {
        crate::diagnostic::Diagnostic::new(&*self.file, message)
            .document(self.document)
            .at(self.line, None)
    }
}

/// A document of a base or a layer that contributes an object.
#[derive(Clone, Debug)]
pub struct Document {
    /// Where it was read from.
    pub origin: Origin,
    /// What it holds.
    pub body: DocumentBody,
}

/// What a contributing document holds.
#[derive(Clone, Debug)]
pub enum DocumentBody {
    /// A plain Kubernetes object.
    Manifest(Template),
    /// A KubeFed `Federated<Kind>` object, already converted.
    Federated(Federated),
}

/// A JSON value that may hold `${...}` substitutions. Values without any
/// `${` are never walked at render time.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    /// The value as parsed.
    pub value: Value,
    /// Whether any string in it holds `${` (and so needs substitution).
    pub substitutes: bool,
    /// Its size as JSON, counted up to just past
    /// [`super::budget::MAX_OBJECT_BYTES`].
    pub size: usize,
    /// Its nesting depth.
    pub depth: usize,
}

impl Template {
    /// Wraps a parsed value, noting whether it holds substitutions and
    /// measuring it.
    pub fn new(value: Value) -> Self {
        let substitutes = has_substitution(&value);
        let size = super::budget::json_size(&value, super::budget::MAX_OBJECT_BYTES);
        let depth = super::budget::json_depth(&value);
        Self {
            value,
            substitutes,
            size,
            depth,
        }
    }
}

fn has_substitution(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains("${"),
        Value::Array(a) => a.iter().any(has_substitution),
        Value::Object(m) => m
            .iter()
            .any(|(k, v)| k.contains("${") || has_substitution(v)),
        _ => false,
    }
}

/// A KubeFed object converted to Flotilla's terms.
#[derive(Clone, Debug)]
pub struct Federated {
    /// The object `spec.template` describes, with apiVersion, kind, name and
    /// namespace filled in.
    pub object: Template,
    /// KubeFed placement: the named clusters if any are named, otherwise the
    /// selector; no placement selects no cluster.
    pub placement: Placement,
    /// `spec.overrides` as RFC 6902 operations per cluster name.
    pub overrides: BTreeMap<String, json_patch::Patch>,
}

/// Rollout waves: clusters are synced wave by wave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rollout {
    /// The waves in order, each with the clusters it holds.
    pub waves: Vec<Wave>,
    /// Whether a wave waits for the previous one to be healthy.
    pub health_gate: bool,
}

/// One rollout wave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Wave {
    /// Name of the wave.
    pub name: String,
    /// Names of the clusters in the wave, in fleet order.
    pub clusters: Vec<String>,
}
