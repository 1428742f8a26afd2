//! Rendering: the desired state of one cluster as a pure function of the
//! fleet and the cluster. No I/O; the same inputs give byte-identical output.
//!
//! The steps, in order: the documents of every base placed on the cluster
//! (KubeFed objects with their placement and overrides), then each overlay
//! that selects the cluster, then `clusters/<name>/`; then ownership labels
//! and annotations, a duplicate check, and the canonical order.

mod budget;
mod check;
mod layer;
mod order;
pub mod strategic;
mod subst;

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::model::ownership::{FLEET_ANNOTATION, MANAGED_BY, MANAGED_BY_LABEL, SOURCE_ANNOTATION};
use crate::model::{Cluster, Document, DocumentBody, Fleet, ObjectKey, Origin, TenantRef};

pub use subst::{SubstError, expand, substitute};

/// One object of a cluster's desired state.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredObject {
    /// Its identity in the cluster.
    pub key: ObjectKey,
    /// The object, ready to apply.
    pub object: Value,
    /// The document it was read from.
    pub origin: Origin,
    /// The tenant whose files it comes from (`spec.tenants`); `None` for the
    /// platform. Provenance only: nothing of it is written into the object.
    pub tenant: Option<TenantRef>,
}

impl DesiredObject {
    /// Where it is read and written: its `apiVersion` ("" when it has none)
    /// and its key, as `Destination::live` takes them.
    pub fn address(&self) -> (&str, &ObjectKey) {
        (self.object["apiVersion"].as_str().unwrap_or(""), &self.key)
    }
}

/// The desired state of one cluster, in apply order.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredState {
    /// The cluster's name.
    pub cluster: String,
    /// The objects, in the canonical order.
    pub objects: Vec<DesiredObject>,
}

impl DesiredState {
    /// The objects as a multi-document YAML stream.
    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        for o in &self.objects {
            out.push_str("---\n");
            crate::yaml::write_value(&mut out, &o.object);
        }
        out
    }
}

/// An object placed so far, before ownership and ordering.
pub(crate) struct Placed {
    object: Value,
    origin: Origin,
    source: Arc<str>,
    /// Upper bounds of its size and depth (see [`budget`]).
    bounds: budget::Bounds,
    /// Set when a patch took it over a budget: the object was cut down to
    /// its identity, and later patches leave it alone (the cluster has
    /// failed already; the object must not grow on).
    poisoned: bool,
}

impl Placed {
    /// The object `doc` gives, checked against the budgets.
    fn new(doc: &Document, object: Value, source: &Arc<str>) -> Result<Self, Diagnostic> {
        let bounds = budget::of_document(doc, &object).map_err(|m| doc.origin.diagnostic(m))?;
        Ok(Self {
            object,
            origin: doc.origin.clone(),
            source: source.clone(),
            bounds,
            poisoned: false,
        })
    }

    /// Cuts the object down to its identity after it went over a budget.
    fn poison(&mut self) {
        let keep = |p: &str| self.object.pointer(p).cloned().unwrap_or(Value::Null);
        let stub = serde_json::json!({
            "apiVersion": keep("/apiVersion"),
            "kind": keep("/kind"),
            "metadata": {"name": keep("/metadata/name"), "namespace": keep("/metadata/namespace")},
        });
        // The value may be a little over the depth budget: unwind it rather
        // than leave the drop to recursion.
        budget::dispose(std::mem::replace(&mut self.object, stub));
        self.poisoned = true;
    }
}

/// Renders the desired state of `cluster`, reporting every problem found.
pub fn render_cluster(fleet: &Fleet, cluster: &Cluster) -> Result<DesiredState, Diagnostics> {
    let mut diags = Vec::new();
    let mut placed: Vec<Placed> = Vec::new();
    for base in fleet.bases.iter().filter(|b| b.placement.selects(cluster)) {
        let source: Arc<str> = Arc::from(format!("base/{}", base.name));
        for doc in &base.documents {
            match materialize(doc, cluster) {
                Ok(Some(object)) => match Placed::new(doc, object, &source) {
                    Ok(p) => placed.push(p),
                    Err(d) => diags.push(d),
                },
                Ok(None) => {}
                Err(d) => diags.push(d),
            }
        }
    }
    let over_budget =
        |placed: &mut Vec<Placed>, diags: &mut Vec<Diagnostic>| match budget::check_total(
            placed,
            budget::CLUSTER_LIMIT,
        ) {
            Ok(()) => false,
            Err(i) => {
                diags.push(
                    placed[i]
                        .origin
                        .diagnostic(budget::total_message(budget::CLUSTER_LIMIT)),
                );
                true
            }
        };
    let mut stopped = over_budget(&mut placed, &mut diags);
    for overlay in fleet
        .overlays
        .iter()
        .filter(|o| o.placement.selects(cluster))
    {
        if stopped {
            break;
        }
        let source: Arc<str> = Arc::from(format!("overlay/{}", overlay.name));
        layer::apply_layer(
            &overlay.layer,
            &source,
            cluster,
            &fleet.tenants,
            &mut placed,
            &mut diags,
        );
        stopped = over_budget(&mut placed, &mut diags);
    }
    if let Some(l) = fleet.cluster_layers.get(&cluster.name)
        && !stopped
    {
        let source: Arc<str> = Arc::from(format!("cluster/{}", cluster.name));
        layer::apply_layer(l, &source, cluster, &fleet.tenants, &mut placed, &mut diags);
        over_budget(&mut placed, &mut diags);
    }

    let mut objects = Vec::with_capacity(placed.len());
    let mut seen: HashMap<ObjectKey, Origin> = HashMap::with_capacity(placed.len());
    let mut kinds = check::KindSpellings::default();
    // Custom kinds the desired state makes cluster-scoped, for the tenant checks.
    let scoped_crds = if fleet.tenants.is_empty() {
        std::collections::BTreeSet::new()
    } else {
        order::cluster_scoped_crds(placed.iter().map(|p| &p.object))
    };
    for p in placed {
        let Placed {
            mut object,
            origin,
            source,
            ..
        } = p;
        let Some(key) = ObjectKey::of(&object) else {
            diags.push(origin.diagnostic("the object lost its apiVersion, kind or metadata.name"));
            continue;
        };
        let invalid = crate::model::names::check_object_identity(&object, false);
        if !invalid.is_empty() {
            diags.extend(
                invalid
                    .into_iter()
                    .map(|i| origin.diagnostic(i.message).context(i.field)),
            );
            continue;
        }
        if let Err(d) = kinds.check(&key, &origin) {
            diags.push(d);
            continue;
        }
        if let Some(first) = seen.get(&key) {
            diags.push(
                origin
                    .diagnostic(format!(
                        "duplicate object {key}: also defined in {} document {} (line {})",
                        first.file, first.document, first.line
                    ))
                    .context("metadata.name"),
            );
            continue;
        }
        let tenant = match fleet.tenant_of(&origin.file) {
            None => None,
            Some(t) => {
                let scoped = scoped_crds
                    .iter()
                    .any(|(g, k)| *g == key.group && *k == key.kind);
                let checked = t
                    .check_cluster(cluster)
                    .and_then(|()| t.check_object(&key, scoped));
                if let Err(message) = checked {
                    diags.push(origin.diagnostic(message));
                    continue;
                }
                Some(t.reference())
            }
        };
        seen.insert(key.clone(), origin.clone());
        mark_ownership(&mut object, &fleet.name, &source);
        objects.push(DesiredObject {
            key,
            object,
            origin,
            tenant,
        });
    }
    if !diags.is_empty() {
        let diags = diags
            .into_iter()
            .map(|d| d.cluster(&cluster.name))
            .collect();
        return Err(Diagnostics(diags).coalesce());
    }
    let crds = order::cluster_scoped_crds(objects.iter().map(|o| &o.object));
    // Each object's sort key computed once, then a stable sort of their
    // places (the same order as sorting the objects by it).
    let places = {
        let keys: Vec<_> = objects
            .iter()
            .map(|o| order::sort_key(&o.key, &o.object, &crds))
            .collect();
        let mut places: Vec<usize> = (0..objects.len()).collect();
        places.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
        places
    };
    let mut slots: Vec<Option<DesiredObject>> = objects.into_iter().map(Some).collect();
    let objects = places.into_iter().filter_map(|i| slots[i].take()).collect();
    Ok(DesiredState {
        cluster: cluster.name.clone(),
        objects,
    })
}

/// Renders every cluster of the fleet, in fleet order.
pub fn render_fleet(fleet: &Fleet) -> Vec<(&Cluster, Result<DesiredState, Diagnostics>)> {
    fleet
        .clusters
        .iter()
        .map(|c| (c, render_cluster(fleet, c)))
        .collect()
}

/// Turns a base or layer document into the object it contributes to
/// `cluster`: substitution, and for KubeFed objects placement and overrides.
/// `None` when a KubeFed placement leaves the cluster out.
pub(crate) fn materialize(doc: &Document, cluster: &Cluster) -> Result<Option<Value>, Diagnostic> {
    let (template, federated) = match &doc.body {
        DocumentBody::Manifest(t) => (t, None),
        DocumentBody::Federated(f) => {
            if !f.placement.selects(cluster) {
                return Ok(None);
            }
            (&f.object, Some(f))
        }
    };
    let mut object = if template.substitutes {
        substitute(&template.value, cluster).map_err(|e| {
            doc.origin
                .diagnostic(e.message)
                .context(layer::pointer_to_field(&e.pointer))
        })?
    } else {
        template.value.clone()
    };
    if let Some(ops) = federated.and_then(|f| f.overrides.get(&cluster.name))
        && let Err(e) = json_patch::patch(&mut object, ops)
    {
        return Err(doc
            .origin
            .diagnostic(format!("KubeFed override {}: {}", e.path, e.kind))
            .context(format!(
                "spec.overrides (cluster {}) operation {}",
                cluster.name, e.operation
            )));
    }
    Ok(Some(object))
}

/// Labels and annotates an object with its owner: the fleet, and the base or
/// overlay that placed it.
fn mark_ownership(object: &mut Value, fleet: &str, source: &str) {
    let Some(obj) = object.as_object_mut() else {
        return;
    };
    let meta = obj
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(meta) = meta.as_object_mut() else {
        return;
    };
    let mut set = |field: &str, key: &str, value: &str| {
        let map = meta
            .entry(field)
            .or_insert_with(|| Value::Object(Map::new()));
        if !map.is_object() {
            *map = Value::Object(Map::new());
        }
        if let Some(m) = map.as_object_mut() {
            m.insert(key.to_string(), Value::String(value.to_string()));
        }
    };
    set("labels", MANAGED_BY_LABEL, MANAGED_BY);
    set("annotations", FLEET_ANNOTATION, fleet);
    set("annotations", SOURCE_ANNOTATION, source);
}
