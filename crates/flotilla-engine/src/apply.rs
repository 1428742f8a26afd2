//! The apply verb, staged: objects go in plan order (Namespaces and
//! CustomResourceDefinitions first), and before the first object after a
//! created or changed CRD the engine waits for the CRD to be Established.
//! Each object's action goes into the change set; the result is the
//! inventory entries of what is now owned. Consecutive objects of one kind
//! form a stage whose writes go out together
//! ([`Destination::apply_many`]: concurrently, bounded, on clusters).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;

use crate::destination::{Applied, ApplyOptions, Destination};
use crate::reconcile::SyncOptions;
use crate::wait::wait_established;
use flotilla_core::changeset::{Action, ChangeSet};
use flotilla_core::diff::live::field_diffs;
use flotilla_core::model::ObjectKey;
use flotilla_core::model::inventory::{Inventory, InventoryEntry};
use flotilla_core::plan::Step;

/// What a created object makes available to later objects: a Namespace its
/// namespace, a CRD its kind (as ("ns", name) and (group, kind) pairs).
fn provides(object: &Value) -> Vec<(String, String)> {
    let s = |p: &str| {
        object
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    if object["kind"] == "Namespace" && object["apiVersion"] == "v1" {
        vec![("ns".into(), s("/metadata/name"))]
    } else if is_crd(object) {
        vec![(s("/spec/group"), s("/spec/names/kind"))]
    } else {
        Vec::new()
    }
}

/// Whether an object needs a namespace or a kind that `created` provides.
fn depends_on(object: &Value, created: &HashSet<(String, String)>) -> bool {
    let s = |p: &str| {
        object
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let group = flotilla_core::model::group_of(&s("/apiVersion")).to_string();
    created.contains(&("ns".into(), s("/metadata/namespace")))
        || created.contains(&(group, s("/kind")))
}

/// Whether an object is a CustomResourceDefinition.
pub(crate) fn is_crd(object: &Value) -> bool {
    object["kind"] == "CustomResourceDefinition"
        && object["apiVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("apiextensions.k8s.io/"))
}

/// The plan's steps cut into stages: runs of consecutive steps of one kind
/// (group and kind). The plan orders kinds so that what others need comes
/// first (Namespaces, CRDs, ...); within a stage no object needs another,
/// so a stage's writes may go out concurrently while the order of kinds is
/// kept.
fn stages<'s, 'a>(steps: &'s [Step<'a>]) -> impl Iterator<Item = &'s [Step<'a>]> {
    steps.chunk_by(|a, b| {
        a.object.key.group == b.object.key.group && a.object.key.kind == b.object.key.kind
    })
}

/// Applies the plan's `steps` in order to `destination`, recording each
/// action in `changes`; `progress(i)` is called after the i-th object (from
/// 1). Returns the inventory entries of the applied objects, in order (a
/// failed object keeps an entry with an empty hash if `old` owned it, so it
/// is applied again next time).
pub async fn apply_staged<D: Destination>(
    destination: &mut D,
    steps: &[Step<'_>],
    live: &HashMap<ObjectKey, Arc<Value>>,
    old: Option<&Inventory>,
    options: &SyncOptions,
    changes: &mut ChangeSet,
    mut progress: impl FnMut(usize),
) -> Vec<InventoryEntry> {
    let apply_options = ApplyOptions {
        dry_run: options.dry_run,
        force_conflicts: options.force_conflicts,
    };
    let mut entries: Vec<InventoryEntry> = Vec::with_capacity(steps.len());
    let mut pending_crds = Vec::new();
    // In a dry run nothing is stored, so objects in a namespace (or of a
    // kind) that this sync would create cannot be checked by the server.
    let mut would_create: HashSet<(String, String)> = HashSet::new();
    let mut done = 0;
    for stage in stages(steps) {
        // Before the first object after the CRDs, wait for them.
        if !is_crd(&stage[0].object.object) && !pending_crds.is_empty() {
            wait_established(
                destination,
                &changes.cluster,
                pending_crds.drain(..),
                options.crd_timeout,
            )
            .await;
        }
        // One stage's writes go out together (see `Destination::apply_many`).
        let lives: Vec<Option<&Value>> = stage
            .iter()
            .map(|step| live.get(&step.object.key).map(|l| l.as_ref()))
            .collect();
        let unchanged: Vec<bool> = stage
            .iter()
            .zip(&lives)
            .map(|(step, live_object)| {
                step.applied_hash == Some(step.hash.as_str())
                    && live_object
                        .is_some_and(|l| field_diffs(&step.object.object, l, &[]).is_empty())
            })
            .collect();
        let writes: Vec<(&Value, Option<&Value>)> = stage
            .iter()
            .zip(&lives)
            .zip(&unchanged)
            .filter(|(_, unchanged)| !**unchanged)
            .map(|((step, live_object), _)| (&step.object.object, *live_object))
            .collect();
        let mut results = destination
            .apply_many(&writes, apply_options)
            .await
            .into_iter();
        for (step, unchanged) in stage.iter().zip(unchanged) {
            let object = &step.object.object;
            let action = if unchanged {
                changes.push(step.object.key.clone(), Action::Unchanged, None);
                Action::Unchanged
            } else {
                match results.next().expect("one result per write") {
                    Ok(applied) => {
                        let action = match applied {
                            Applied::Created => Action::Created,
                            Applied::Configured => Action::Configured,
                            Applied::Unchanged => Action::Unchanged,
                        };
                        changes.push(step.object.key.clone(), action, None);
                        action
                    }
                    Err(_) if options.dry_run && depends_on(object, &would_create) => {
                        changes.push(
                            step.object.key.clone(),
                            Action::Created,
                            Some("would be created (not checked by the server: its namespace or CustomResourceDefinition is created by this sync)".into()),
                        );
                        Action::Created
                    }
                    Err(e) => {
                        changes.push_failed(step.object.key.clone(), e.failure(), e.to_string());
                        Action::Failed
                    }
                }
            };
            if options.dry_run && action == Action::Created {
                would_create.extend(provides(object));
            }
            // A CRD just created or changed must be Established before use.
            if is_crd(object)
                && matches!(action, Action::Created | Action::Configured)
                && !options.dry_run
            {
                pending_crds.push(object);
            }
            let hash = if action == Action::Failed {
                // Keep what was applied before; an empty hash forces a re-apply.
                old.and_then(|o| o.get(&step.object.key))
                    .map(|_| String::new())
            } else {
                Some(step.hash.clone())
            };
            if let Some(hash) = hash
                && let Some(entry) = InventoryEntry::of(object, hash)
            {
                entries.push(entry);
            }
            done += 1;
            progress(done);
        }
    }
    entries
}
