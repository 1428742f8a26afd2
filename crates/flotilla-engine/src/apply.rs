//! The apply verb, staged: objects go in plan order (Namespaces and
//! CustomResourceDefinitions first), and before the first object after a
//! created or changed CRD the engine waits for the CRD to be Established.
//! Each object's action goes into the change set; the result is the
//! inventory entries of what is now owned. Consecutive objects of one kind
//! (and one user) form a stage whose writes go out together
//! ([`Destination::apply_many`]: concurrently, bounded, on clusters).
//!
//! An object is left alone (unchanged, no request) only when the desired
//! state is the one last applied, the live object holds every field Git
//! sets (compared by the cluster's schema) and Flotilla still owns them all
//! (`metadata.managedFields`): a field another manager took is applied again
//! even when its value did not change, and each field taken back is in the
//! change set. Fields controllers own ([`flotilla_core::diff::controlled`],
//! an HPA's target's `spec.replicas`, the HPA in Git or only on the cluster)
//! are applied on create only.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;

use crate::destination::{Applied, ApplyOptions, ClusterError, Destination};
use crate::reconcile::SyncOptions;
use crate::wait::wait_established;
use flotilla_core::changeset::{Action, ChangeSet};
use flotilla_core::diff::controlled::{ControlledField, apply_body, pointers_of};
use flotilla_core::diff::live::field_diffs_with;
use flotilla_core::diff::ownership::{FieldTaken, fields_taken};
use flotilla_core::diff::schema::Schema;
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

/// How live objects are judged: the merge structure of their kinds and the
/// fields controllers own.
#[derive(Clone, Copy, Debug)]
pub struct Judge<'a> {
    /// The cluster's schema (its OpenAPI documents, the built-in table, the
    /// CRDs in Git).
    pub schema: &'a Schema,
    /// Fields controllers own among the desired objects.
    pub controlled: &'a BTreeSet<ControlledField>,
}

/// Whether `path` is `pointer` or below it.
fn under(pointer: &str, path: &str) -> bool {
    path == pointer
        || path
            .strip_prefix(pointer)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// What to send for an object that exists as `live` (`None`: the object as
/// it is), whether it needs sending at all (a field differs or was taken),
/// and the fields other managers took (fields controllers own are theirs,
/// not taken).
fn judge(object: &Value, live: &Value, by: Judge<'_>) -> (Option<Value>, bool, Vec<FieldTaken>) {
    let ignore = ObjectKey::of(object)
        .map(|k| pointers_of(by.controlled, &k))
        .unwrap_or_default();
    let differs = !field_diffs_with(object, live, &ignore, by.schema).is_empty();
    let taken: Vec<FieldTaken> = fields_taken(object, live, by.schema)
        .into_iter()
        .filter(|t| !ignore.iter().any(|i| under(i, &t.path)))
        .collect();
    let body = (!ignore.is_empty()).then(|| apply_body(object, live, by.controlled));
    (body, differs, taken)
}

/// The plan's steps cut into stages: runs of consecutive steps of one kind
/// (group and kind) written as one user (a tenant's service account, or
/// Flotilla's own). The plan orders kinds so that what others need comes
/// first (Namespaces, CRDs, ...); within a stage no object needs another,
/// so a stage's writes may go out concurrently while the order of kinds is
/// kept.
fn stages<'s, 'a>(steps: &'s [Step<'a>]) -> impl Iterator<Item = &'s [Step<'a>]> {
    steps.chunk_by(|a, b| {
        a.object.key.group == b.object.key.group
            && a.object.key.kind == b.object.key.kind
            && user_of(a) == user_of(b)
    })
}

/// The user a step's write impersonates (a tenant's service account).
fn user_of<'s>(step: &'s Step<'_>) -> Option<&'s str> {
    step.object.tenant.as_ref().and_then(|t| t.user.as_deref())
}

/// Applies the plan's `steps` in order to `destination`, recording each
/// action in `changes`; `progress(i)` is called after the i-th object (from
/// 1). Returns the inventory entries of the applied objects, in order (a
/// failed object keeps an entry with an empty hash if `old` owned it, so it
/// is applied again next time).
#[allow(clippy::too_many_arguments)]
pub async fn apply_staged<D: Destination>(
    destination: &mut D,
    steps: &[Step<'_>],
    live: &HashMap<ObjectKey, Arc<Value>>,
    old: Option<&Inventory>,
    options: &SyncOptions,
    keep_written: bool,
    judged_by: Judge<'_>,
    changes: &mut ChangeSet,
    mut progress: impl FnMut(usize),
) -> Vec<InventoryEntry> {
    let apply_options = ApplyOptions {
        dry_run: options.dry_run,
        force_conflicts: options.force_conflicts,
        keep_written,
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
        // Judge each object of the stage against its live copy.
        struct Judged<'v> {
            live: Option<&'v Value>,
            body: Option<Value>,
            taken: Vec<FieldTaken>,
            unchanged: bool,
        }
        let judged: Vec<Judged<'_>> = stage
            .iter()
            .map(|step| {
                let live_object = live.get(&step.object.key).map(|l| l.as_ref());
                let (body, differs, taken) = match live_object {
                    Some(l) => judge(&step.object.object, l, judged_by),
                    None => (None, true, Vec::new()),
                };
                let unchanged =
                    step.applied_hash == Some(step.hash.as_str()) && !differs && taken.is_empty();
                Judged {
                    live: live_object,
                    body,
                    taken,
                    unchanged,
                }
            })
            .collect();
        let writes: Vec<(&Value, Option<&Value>)> = stage
            .iter()
            .zip(&judged)
            .filter(|(_, j)| !j.unchanged)
            .map(|(step, j)| (j.body.as_ref().unwrap_or(&step.object.object), j.live))
            .collect();
        // One stage's writes go out together (see `Destination::apply_many`),
        // as the stage's user: a tenant's object is written as the tenant's
        // service account.
        let results: Vec<Result<Applied, ClusterError>> = if writes.is_empty() {
            Vec::new()
        } else {
            match destination.act_as(user_of(&stage[0])) {
                Ok(()) => destination.apply_many(&writes, apply_options).await,
                Err(e) => {
                    let (failure, message) = (e.failure(), e.to_string());
                    for (step, j) in stage.iter().zip(&judged) {
                        if !j.unchanged {
                            changes.push_failed(
                                step.object.key.clone(),
                                failure.clone(),
                                message.clone(),
                            );
                        }
                    }
                    Vec::new()
                }
            }
        };
        let refused = !writes.is_empty() && results.is_empty();
        let mut results = results.into_iter();
        for (step, j) in stage.iter().zip(judged) {
            let object = &step.object.object;
            let action = if j.unchanged {
                changes.push(step.object.key.clone(), Action::Unchanged, None);
                Action::Unchanged
            } else if refused {
                Action::Failed
            } else {
                match results.next().expect("one result per write") {
                    Ok(applied) => {
                        let action = match applied {
                            Applied::Created => Action::Created,
                            Applied::Configured => Action::Configured,
                            Applied::Unchanged => Action::Unchanged,
                        };
                        // Without force, an apply that went through took
                        // nothing: the values agreed, and the fields are shared.
                        if options.force_conflicts && !j.taken.is_empty() {
                            tracing::info!(
                                cluster = %changes.cluster,
                                object = %step.object.key,
                                fields = %j.taken.iter().map(flotilla_core::changeset::took).collect::<Vec<_>>().join("; "),
                                dry_run = options.dry_run,
                                "took fields back from other field managers"
                            );
                            changes.push_taken(step.object.key.clone(), action, j.taken);
                        } else {
                            changes.push(step.object.key.clone(), action, None);
                        }
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
    // Later writes (prune, the inventory) are Flotilla's own.
    let _ = destination.act_as(None);
    entries
}
