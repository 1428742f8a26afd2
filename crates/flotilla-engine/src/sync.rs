//! Carrying out a plan against a target: apply in order (waiting for CRDs
//! to be Established before anything that may use them), prune in reverse
//! order, and record the inventory, returning a [`ChangeSet`].
//!
//! Safety rules: a failed read of the inventory or of live state applies
//! nothing; a round with a failed apply prunes nothing; a refused mass prune
//! deletes nothing; the inventory is written only when it changed, so an
//! unchanged cluster costs no write.

use std::collections::HashSet;
use std::time::Duration;

use crate::cluster::{Applied, ApplyOptions, Target};
use flotilla_core::changeset::{Action, ChangeSet};
use flotilla_core::diff::live::field_diffs;
use flotilla_core::model::inventory::{Inventory, InventoryEntry};
use flotilla_core::plan::{PlanOptions, plan};
use flotilla_core::render::DesiredState;

/// Options of one sync.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SyncOptions {
    /// Compute and validate on the server, store nothing.
    pub dry_run: bool,
    /// Take over fields owned by other field managers.
    pub force_conflicts: bool,
    /// Pruning and its guard.
    pub plan: PlanOptions,
    /// How long to wait for a CRD to be Established.
    pub crd_timeout: Duration,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            force_conflicts: false,
            plan: PlanOptions::default(),
            crd_timeout: Duration::from_secs(60),
        }
    }
}

/// What a created object makes available to later objects: a Namespace its
/// namespace, a CRD its kind (as ("ns", name) and (group, kind) pairs).
fn provides(object: &serde_json::Value) -> Vec<(String, String)> {
    let s = |p: &str| {
        object
            .pointer(p)
            .and_then(serde_json::Value::as_str)
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
fn depends_on(object: &serde_json::Value, created: &HashSet<(String, String)>) -> bool {
    let s = |p: &str| {
        object
            .pointer(p)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let group = flotilla_core::model::group_of(&s("/apiVersion")).to_string();
    created.contains(&("ns".into(), s("/metadata/namespace")))
        || created.contains(&(group, s("/kind")))
}

fn is_crd(object: &serde_json::Value) -> bool {
    object["kind"] == "CustomResourceDefinition"
        && object["apiVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("apiextensions.k8s.io/"))
}

/// Syncs one cluster's desired state to `target`. `progress(done, total)`
/// is called after every object.
pub async fn sync_cluster<T: Target>(
    target: &mut T,
    fleet: &str,
    revision: Option<&str>,
    desired: &DesiredState,
    options: SyncOptions,
    mut progress: impl FnMut(usize, usize),
) -> ChangeSet {
    let mut changes = ChangeSet::new(&desired.cluster, options.dry_run);
    let old = match target.read_inventory(fleet, &desired.cluster).await {
        Ok(i) => i,
        Err(e) => {
            changes.error = Some(format!("reading the inventory: {e}"));
            return changes;
        }
    };
    let plan = plan(desired, old.as_ref(), options.plan);
    let addresses: Vec<(&str, &flotilla_core::model::ObjectKey)> = desired
        .objects
        .iter()
        .map(|o| (o.object["apiVersion"].as_str().unwrap_or(""), &o.key))
        .collect();
    let live = match target.live(&addresses).await {
        Ok(l) => l,
        Err(e) => {
            changes.error = Some(format!("reading live objects: {e}"));
            return changes;
        }
    };

    let apply_options = ApplyOptions {
        dry_run: options.dry_run,
        force_conflicts: options.force_conflicts,
    };
    let total = plan.apply.len() + plan.prune.len();
    let mut entries: Vec<InventoryEntry> = Vec::with_capacity(total);
    let mut pending_crds = Vec::new();
    // In a dry run nothing is stored, so objects in a namespace (or of a
    // kind) that this sync would create cannot be checked by the server.
    let mut would_create: HashSet<(String, String)> = HashSet::new();
    for (i, step) in plan.apply.iter().enumerate() {
        let object = &step.object.object;
        // Before the first object after the CRDs, wait for them.
        if !is_crd(object) && !pending_crds.is_empty() {
            for crd in pending_crds.drain(..) {
                if let Err(e) = target.wait_established(crd, options.crd_timeout).await {
                    tracing::warn!(cluster = %desired.cluster, error = %e, "CRD not established");
                }
            }
        }
        let live_object = live.get(&step.object.key);
        let unchanged = step.applied_hash == Some(step.hash.as_str())
            && live_object.is_some_and(|l| field_diffs(object, l, &[]).is_empty());
        let (action, message) = if unchanged {
            (Action::Unchanged, None)
        } else {
            match target.apply(object, live_object, apply_options).await {
                Ok(Applied::Created) => (Action::Created, None),
                Ok(Applied::Configured) => (Action::Configured, None),
                Ok(Applied::Unchanged) => (Action::Unchanged, None),
                Err(_) if options.dry_run && depends_on(object, &would_create) => (
                    Action::Created,
                    Some("would be created (not checked by the server: its namespace or CustomResourceDefinition is created by this sync)".into()),
                ),
                Err(e) => (Action::Failed, Some(e.to_string())),
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
            old.as_ref()
                .and_then(|o| o.get(&step.object.key))
                .map(|_| String::new())
        } else {
            Some(step.hash.clone())
        };
        if let Some(hash) = hash
            && let Some(entry) = InventoryEntry::of(object, hash)
        {
            entries.push(entry);
        }
        changes.push(step.object.key.clone(), action, message);
        progress(i + 1, total);
    }

    let failed = changes.is_failure();
    let prune_refusal = match (&plan.prune_refused, failed) {
        _ if plan.prune_disabled => {
            Some("prune is off this round (--no-prune or prune: false); still owned".to_string())
        }
        (Some(why), _) => Some(why.clone()),
        (None, true) if !plan.prune.is_empty() => {
            Some("not pruning: some objects failed to apply this round".to_string())
        }
        _ => None,
    };
    let mut kept = Vec::new();
    for (j, entry) in plan.prune.iter().enumerate() {
        if let Some(why) = &prune_refusal {
            changes.push(entry.key(), Action::Skipped, Some(why.clone()));
            kept.push(entry.clone());
        } else {
            match target.delete(entry, options.dry_run).await {
                Ok(_) => changes.push(entry.key(), Action::Pruned, None),
                Err(e) => {
                    changes.push(entry.key(), Action::Failed, Some(e.to_string()));
                    kept.push(entry.clone());
                }
            }
        }
        progress(plan.apply.len() + j + 1, total);
    }
    if let Some(why) = plan.prune_refused {
        changes.error = Some(why);
    }
    // Entries not pruned stay owned: back in apply order.
    kept.reverse();
    entries.extend(kept);

    let inventory = Inventory {
        fleet: fleet.to_string(),
        cluster: desired.cluster.clone(),
        revision: revision.map(str::to_string),
        entries,
    };
    let same_entries = old.as_ref().is_some_and(|o| o.entries == inventory.entries);
    if !options.dry_run
        && !same_entries
        && let Err(e) = target.write_inventory(&inventory).await
    {
        changes.error = Some(format!("writing the inventory: {e}"));
    }
    changes
}
