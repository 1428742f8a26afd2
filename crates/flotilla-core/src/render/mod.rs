//! Rendering: the desired state of one cluster as a pure function of the
//! fleet and the cluster. No I/O; the same inputs give byte-identical output.
//!
//! The steps, in order: the documents of every base placed on the cluster
//! (KubeFed objects with their placement and overrides), then each overlay
//! that selects the cluster, then `clusters/<name>/`; then ownership labels
//! and annotations, a duplicate check, and the canonical order.

mod layer;
mod order;
mod subst;

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::model::ownership::{FLEET_ANNOTATION, MANAGED_BY, MANAGED_BY_LABEL, SOURCE_ANNOTATION};
use crate::model::{Cluster, Document, DocumentBody, Fleet, ObjectKey, Origin};

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
            out.push_str(&crate::yaml::to_string(&o.object));
        }
        out
    }
}

/// An object placed so far, before ownership and ordering.
pub(crate) struct Placed {
    object: Value,
    origin: Origin,
    source: Arc<str>,
}

/// Renders the desired state of `cluster`, reporting every problem found.
pub fn render_cluster(fleet: &Fleet, cluster: &Cluster) -> Result<DesiredState, Diagnostics> {
    let mut diags = Vec::new();
    let mut placed: Vec<Placed> = Vec::new();
    for base in fleet.bases.iter().filter(|b| b.placement.selects(cluster)) {
        let source: Arc<str> = Arc::from(format!("base/{}", base.name));
        for doc in &base.documents {
            match materialize(doc, cluster) {
                Ok(Some(object)) => placed.push(Placed {
                    object,
                    origin: doc.origin.clone(),
                    source: source.clone(),
                }),
                Ok(None) => {}
                Err(d) => diags.push(d),
            }
        }
    }
    for overlay in fleet
        .overlays
        .iter()
        .filter(|o| o.placement.selects(cluster))
    {
        let source: Arc<str> = Arc::from(format!("overlay/{}", overlay.name));
        layer::apply_layer(&overlay.layer, &source, cluster, &mut placed, &mut diags);
    }
    if let Some(l) = fleet.cluster_layers.get(&cluster.name) {
        let source: Arc<str> = Arc::from(format!("cluster/{}", cluster.name));
        layer::apply_layer(l, &source, cluster, &mut placed, &mut diags);
    }

    let mut objects = Vec::with_capacity(placed.len());
    let mut seen: HashMap<ObjectKey, Origin> = HashMap::with_capacity(placed.len());
    for p in placed {
        let Placed {
            mut object,
            origin,
            source,
        } = p;
        let Some(key) = ObjectKey::of(&object) else {
            diags.push(origin.diagnostic("the object lost its apiVersion, kind or metadata.name"));
            continue;
        };
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
        seen.insert(key.clone(), origin.clone());
        mark_ownership(&mut object, &fleet.name, &source);
        objects.push(DesiredObject {
            key,
            object,
            origin,
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
    objects.sort_by(|a, b| {
        order::sort_key(&a.key, &a.object, &crds).cmp(&order::sort_key(&b.key, &b.object, &crds))
    });
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
