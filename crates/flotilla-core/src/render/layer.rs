//! Applying a layer (an overlay or `clusters/<name>/`) to the objects placed
//! so far on one cluster: its manifests are added, then its patches applied.

use std::sync::Arc;

use serde_json::Value;

use super::{Placed, materialize};
use crate::diagnostic::Diagnostic;
use crate::model::rebuild_patch;
use crate::model::{Cluster, Layer, Patch, PatchAction, Tenant};

/// Adds the layer's manifests and applies its patches to `placed`.
pub(super) fn apply_layer(
    layer: &Layer,
    source: &Arc<str>,
    cluster: &Cluster,
    tenants: &[Tenant],
    placed: &mut Vec<Placed>,
    diags: &mut Vec<Diagnostic>,
) {
    for doc in &layer.manifests {
        match materialize(doc, cluster) {
            Ok(Some(object)) => match Placed::new(doc, object, source) {
                Ok(p) => placed.push(p),
                Err(d) => diags.push(d),
            },
            Ok(None) => {}
            Err(d) => diags.push(d),
        }
    }
    for patch in &layer.patches {
        let rebuilt;
        let patch = match &patch.template {
            Some(t) => match super::subst::substitute(&t.value, cluster) {
                Ok(value) => match rebuild_patch(patch, value) {
                    Ok(p) => {
                        rebuilt = p;
                        &rebuilt
                    }
                    Err(d) => {
                        diags.push(d);
                        continue;
                    }
                },
                Err(e) => {
                    diags.push(
                        patch
                            .origin
                            .diagnostic(e.message)
                            .context(pointer_to_field(&e.pointer)),
                    );
                    continue;
                }
            },
            None => patch,
        };
        if let Err(d) = apply_patch(patch, tenants, placed) {
            diags.push(d);
        }
    }
}

/// Applies one patch to every object its target matches.
fn apply_patch(
    patch: &Patch,
    tenants: &[Tenant],
    placed: &mut Vec<Placed>,
) -> Result<(), Diagnostic> {
    let matched: Vec<usize> = placed
        .iter()
        .enumerate()
        .filter(|(_, p)| patch.target.matches(&p.object))
        .map(|(i, _)| i)
        .collect();
    // A tenant's patch may change only objects from the tenant's own files.
    if let Some(tenant) = crate::model::tenancy::tenant_of(tenants, &patch.origin.file) {
        for &i in &matched {
            let target = &placed[i];
            if !tenant.owns(&target.origin.file) {
                let owner = match crate::model::tenancy::tenant_of(tenants, &target.origin.file) {
                    Some(t) => format!("tenant {:?}", t.name),
                    None => "the platform".to_string(),
                };
                return Err(patch
                    .origin
                    .diagnostic(format!(
                        "tenant {:?} may not patch {} from {} document {}: it belongs to {owner}",
                        tenant.name,
                        describe(&target.object),
                        target.origin.file,
                        target.origin.document
                    ))
                    .context("target"));
            }
        }
    }
    if matched.is_empty() {
        if patch.optional {
            return Ok(());
        }
        return Err(patch
            .origin
            .diagnostic(format!(
                "target {} matches no object on this cluster (set optional: true if that is expected)",
                patch.target
            ))
            .context("target"));
    }
    match &patch.action {
        PatchAction::Delete => {
            let mut i = 0;
            placed.retain(|_| {
                let keep = matched.binary_search(&i).is_err();
                i += 1;
                keep
            });
        }
        PatchAction::Merge(m) => {
            for &i in &matched {
                let p = &mut placed[i];
                if p.poisoned {
                    continue;
                }
                json_patch::merge(&mut p.object, m);
                if let Err(message) = p.bounds.after_merge(&p.object, m) {
                    let d = patch
                        .origin
                        .diagnostic(format!("{}: {message}", describe(&p.object)))
                        .context("merge");
                    p.poison();
                    return Err(d);
                }
                check_identity(patch, &p.object, "merge")?;
            }
        }
        PatchAction::StrategicMerge(m) => {
            for &i in &matched {
                let p = &mut placed[i];
                if p.poisoned {
                    continue;
                }
                if let Err(e) = super::strategic::strategic_merge(&mut p.object, m) {
                    let d = patch
                        .origin
                        .diagnostic(format!("{} on {}", e.message, describe(&p.object)))
                        .context(format!("strategicMerge: {}", e.field));
                    p.poison();
                    return Err(d);
                }
                if let Err(message) = p.bounds.after_merge(&p.object, m) {
                    let d = patch
                        .origin
                        .diagnostic(format!("{}: {message}", describe(&p.object)))
                        .context("strategicMerge");
                    p.poison();
                    return Err(d);
                }
                check_identity(patch, &p.object, "strategicMerge")?;
            }
        }
        PatchAction::Json(ops) => {
            for &i in &matched {
                let p = &mut placed[i];
                if p.poisoned {
                    continue;
                }
                // One operation at a time, so that the budgets hold after
                // each: a few operations can otherwise double an object
                // many times over before anything looks at it.
                for (n, op) in ops.0.iter().enumerate() {
                    let object = &mut p.object;
                    if let Err(e) = json_patch::patch_unsafe(object, std::slice::from_ref(op)) {
                        return Err(patch
                            .origin
                            .diagnostic(format!("{} on {}", explain(&e, op), describe(object)))
                            .context(format!("jsonPatch[{n}] ({})", op_summary(op))));
                    }
                    if let Err(message) = p.bounds.after_op(&p.object, op) {
                        let d = patch
                            .origin
                            .diagnostic(format!("{}: {message}", describe(&p.object)))
                            .context(format!("jsonPatch[{n}] ({})", op_summary(op)));
                        p.poison();
                        return Err(d);
                    }
                }
                check_identity(patch, &p.object, "jsonPatch")?;
            }
        }
    }
    Ok(())
}

/// A patch must leave apiVersion, kind and metadata.name in place.
fn check_identity(patch: &Patch, object: &Value, field: &str) -> Result<(), Diagnostic> {
    let ok = |p: &str| {
        object
            .pointer(p)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    if !(ok("/apiVersion") && ok("/kind") && ok("/metadata/name")) {
        return Err(patch
            .origin
            .diagnostic("the patch removes apiVersion, kind or metadata.name from its target")
            .context(field.to_string()));
    }
    // The identity the patch leaves must be one an API server accepts.
    match crate::model::names::check_object_identity(object, false)
        .into_iter()
        .next()
    {
        None => Ok(()),
        Some(i) => Err(patch
            .origin
            .diagnostic(format!("{} (set by this patch)", i.message))
            .context(format!("{field}: {}", i.field))),
    }
}

fn explain(e: &json_patch::PatchError, op: &json_patch::PatchOperation) -> String {
    use json_patch::PatchErrorKind::*;
    match e.kind {
        TestFailed => format!(
            "test failed: the value at {} is not the expected one",
            e.path
        ),
        InvalidPointer => format!("path {} does not exist", e.path),
        InvalidFromPointer => match op {
            json_patch::PatchOperation::Move(m) => format!("from path {} does not exist", m.from),
            json_patch::PatchOperation::Copy(c) => format!("from path {} does not exist", c.from),
            _ => format!("from path of {} does not exist", e.path),
        },
        CannotMoveInsideItself => format!("cannot move {} inside itself", e.path),
        _ => format!("{} at {}", e.kind, e.path),
    }
}

fn op_summary(op: &json_patch::PatchOperation) -> String {
    use json_patch::PatchOperation::*;
    match op {
        Add(o) => format!("add {}", o.path),
        Remove(o) => format!("remove {}", o.path),
        Replace(o) => format!("replace {}", o.path),
        Move(o) => format!("move {} to {}", o.from, o.path),
        Copy(o) => format!("copy {} to {}", o.from, o.path),
        Test(o) => format!("test {}", o.path),
    }
}

/// `Deployment shop/web` for messages.
fn describe(object: &Value) -> String {
    let s = |p: &str| object.pointer(p).and_then(Value::as_str).unwrap_or("?");
    match object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
    {
        Some(ns) => format!("{} {ns}/{}", s("/kind"), s("/metadata/name")),
        None => format!("{} {}", s("/kind"), s("/metadata/name")),
    }
}

/// Turns `/spec/containers/0/image` into `spec.containers[0].image`.
pub(super) fn pointer_to_field(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if seg.parse::<usize>().is_ok() {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}
