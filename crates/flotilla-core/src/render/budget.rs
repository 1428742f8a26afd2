//! Keeping rendered objects inside their budgets
//! ([`crate::model::budget`]) cheaply: every placed object carries an upper
//! bound of its size and depth, raised by what each patch operation can add;
//! only when a bound passes its limit is the object measured, so that the
//! usual patch costs no walk over the whole object.

use json_patch::PatchOperation;
use serde_json::Value;

use super::Placed;
use crate::model::budget::{
    MAX_CLUSTER_BYTES, MAX_DEPTH, MAX_OBJECT_BYTES, human, json_depth, json_size,
};
use crate::model::{Document, DocumentBody};

/// A `${cluster.*}` variable is at least 15 bytes (`${cluster.name}`) and
/// its value at most 63 (a DNS label or label value), so substitution can
/// make a template at most this many times larger.
const SUBSTITUTION_GROWTH: usize = 5;

/// Upper bounds of an object's JSON size and depth.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bounds {
    pub(crate) size: usize,
    pub(crate) depth: usize,
}

/// The bounds of the object `doc` gave (after substitution and KubeFed
/// overrides), checked against the budgets.
pub(super) fn of_document(doc: &Document, object: &Value) -> Result<Bounds, String> {
    let (template, overridden) = match &doc.body {
        DocumentBody::Manifest(t) => (t, false),
        DocumentBody::Federated(f) => (&f.object, !f.overrides.is_empty()),
    };
    let mut b = if overridden {
        Bounds {
            size: json_size(object, MAX_OBJECT_BYTES),
            depth: json_depth(object),
        }
    } else if template.substitutes {
        Bounds {
            size: template.size.saturating_mul(SUBSTITUTION_GROWTH),
            depth: template.depth,
        }
    } else {
        Bounds {
            size: template.size,
            depth: template.depth,
        }
    };
    b.settle(object)?;
    Ok(b)
}

impl Bounds {
    /// Raises the bounds by what was added: `size` bytes, and a value
    /// reaching `depth` levels.
    fn grow(&mut self, object: &Value, size: usize, depth: usize) -> Result<(), String> {
        self.size = self.size.saturating_add(size);
        self.depth = self.depth.max(depth);
        self.settle(object)
    }

    /// Measures the object where a bound passed its limit; an error when
    /// the object itself does.
    fn settle(&mut self, object: &Value) -> Result<(), String> {
        if self.depth > MAX_DEPTH {
            self.depth = json_depth(object);
            if self.depth > MAX_DEPTH {
                return Err(format!(
                    "the object would nest {} levels deep; at most {MAX_DEPTH} are allowed",
                    self.depth
                ));
            }
        }
        if self.size > MAX_OBJECT_BYTES {
            self.size = json_size(object, MAX_OBJECT_BYTES);
            if self.size > MAX_OBJECT_BYTES {
                return Err(format!(
                    "the object would be larger than {} as JSON, the most one Kubernetes object may hold",
                    human(MAX_OBJECT_BYTES)
                ));
            }
        }
        Ok(())
    }

    /// Accounts for one RFC 6902 operation just applied to `object`.
    pub(super) fn after_op(&mut self, object: &Value, op: &PatchOperation) -> Result<(), String> {
        let segments = |p: &str| p.matches('/').count();
        match op {
            PatchOperation::Add(o) => self.grow(
                object,
                json_size(&o.value, MAX_OBJECT_BYTES) + o.path.as_str().len(),
                segments(o.path.as_str()) + json_depth(&o.value),
            ),
            PatchOperation::Replace(o) => self.grow(
                object,
                json_size(&o.value, MAX_OBJECT_BYTES) + o.path.as_str().len(),
                segments(o.path.as_str()) + json_depth(&o.value),
            ),
            PatchOperation::Copy(o) => {
                let copied = object.pointer(o.path.as_str()).unwrap_or(&Value::Null);
                self.grow(
                    object,
                    json_size(copied, MAX_OBJECT_BYTES) + o.path.as_str().len(),
                    segments(o.path.as_str()) + json_depth(copied),
                )
            }
            PatchOperation::Move(o) => {
                let moved = object.pointer(o.path.as_str()).unwrap_or(&Value::Null);
                self.grow(
                    object,
                    o.path.as_str().len(),
                    segments(o.path.as_str()) + json_depth(moved),
                )
            }
            PatchOperation::Remove(_) | PatchOperation::Test(_) => Ok(()),
        }
    }

    /// Accounts for an RFC 7386 merge patch just applied to `object`.
    pub(super) fn after_merge(&mut self, object: &Value, merge: &Value) -> Result<(), String> {
        self.grow(
            object,
            json_size(merge, MAX_OBJECT_BYTES),
            json_depth(merge),
        )
    }
}

/// Checks the cluster's total against [`MAX_CLUSTER_BYTES`]; the error
/// names the object with which the total passes it.
pub(super) fn check_total(placed: &mut [Placed], limit: usize) -> Result<(), usize> {
    let bound: usize = placed
        .iter()
        .fold(0usize, |t, p| t.saturating_add(p.bounds.size));
    if bound <= limit {
        return Ok(());
    }
    let mut total = 0usize;
    for (i, p) in placed.iter_mut().enumerate() {
        p.bounds.size = json_size(&p.object, MAX_OBJECT_BYTES);
        total = total.saturating_add(p.bounds.size);
        if total > limit {
            return Err(i);
        }
    }
    Ok(())
}

/// The message of a cluster over its total budget.
pub(super) fn total_message(limit: usize) -> String {
    format!(
        "the cluster's desired state passes {} of JSON with this object, the most one cluster may hold",
        human(limit)
    )
}

/// The per-cluster limit used by rendering.
pub(super) const CLUSTER_LIMIT: usize = MAX_CLUSTER_BYTES;

/// Drops a value without deep recursion: containers are emptied onto an
/// explicit stack first.
pub(super) fn dispose(value: Value) {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(a) => stack.extend(a),
            Value::Object(m) => stack.extend(m.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Origin;
    use std::sync::Arc;

    fn placed(size: usize) -> Placed {
        let object = serde_json::json!({"data": {"a": "x".repeat(size)}});
        let size = json_size(&object, usize::MAX);
        Placed {
            object,
            origin: Origin {
                file: Arc::from("bases/web/x.yaml"),
                document: 1,
                line: 1,
            },
            source: Arc::from("base/web"),
            bounds: Bounds { size, depth: 2 },
            poisoned: false,
        }
    }

    #[test]
    fn the_cluster_total_names_the_object_that_passes_it() {
        let mut objects: Vec<Placed> = (0..10).map(|_| placed(1000)).collect();
        assert_eq!(check_total(&mut objects, 100_000), Ok(()));
        assert_eq!(check_total(&mut objects, 3_500), Err(3));
        // Loose bounds are replaced by exact sizes before judging.
        for p in &mut objects {
            p.bounds.size = 1_000_000;
        }
        assert_eq!(check_total(&mut objects, 100_000), Ok(()));
    }
}
