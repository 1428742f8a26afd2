//! The delete verb: prune what left Git, in reverse apply order, under the
//! plan's guard. A refused or disabled prune, or a round where an apply
//! failed, deletes nothing and keeps every entry owned.

use crate::destination::Destination;
use flotilla_core::changeset::{Action, ChangeSet, Failure};
use flotilla_core::model::Inventory;
use flotilla_core::model::inventory::InventoryEntry;
use flotilla_core::plan::{Plan, PlanOptions, PruneWindow};

use crate::reconcile::SyncOptions;

/// Applies the mass-prune guard's window to `plan`: when the round would
/// prune, reads the window of `fleet`'s cluster `cluster` (a round with
/// nothing to prune costs no read) and refuses what it does not allow. A
/// window that cannot be read refuses the prune (the guard cannot count
/// earlier deletions); applies go on. Returns the window read, if any.
pub async fn apply_window<D: Destination>(
    destination: &mut D,
    fleet: &str,
    cluster: &str,
    plan: &mut Plan<'_>,
    inventory: Option<&Inventory>,
    options: &PlanOptions,
) -> Option<PruneWindow> {
    if plan.prune.is_empty() || plan.prune_disabled {
        return None;
    }
    match destination.read_prune_window(fleet, cluster).await {
        Ok(window) => {
            if plan.prune_refused.is_none() {
                let managed = inventory.map_or(0, |i| i.entries().len());
                plan.prune_refused = window.refusal(plan.prune.len(), managed, options);
            }
            Some(window)
        }
        Err(e) => {
            if plan.prune_refused.is_none() {
                plan.prune_refused = Some(format!(
                    "not pruning: the mass-prune guard's window cannot be read: {e}"
                ));
            }
            None
        }
    }
}

/// Records a round that deleted `pruned` of `managed` objects in the
/// window (nothing on a dry run; nothing to write when it is unchanged).
pub async fn record_window<D: Destination>(
    destination: &mut D,
    fleet: &str,
    cluster: &str,
    window: &PruneWindow,
    (pruned, managed): (usize, usize),
    options: &SyncOptions,
    changes: &mut ChangeSet,
) {
    if options.dry_run {
        return;
    }
    let next = window.after(pruned, managed, &options.plan);
    if &next != window
        && let Err(e) = destination.write_prune_window(fleet, cluster, &next).await
    {
        changes.fail(e.failure(), format!("writing the prune window: {e}"));
    }
}

/// Prunes the plan's `prune` entries (already in reverse order) from
/// `destination`, recording each in `changes`; `progress(j)` is called after
/// the j-th entry (from 1). A refused mass prune is the cluster's error.
/// Returns the entries still owned (not deleted), in apply order.
pub async fn prune<D: Destination>(
    destination: &mut D,
    plan: &Plan<'_>,
    dry_run: bool,
    changes: &mut ChangeSet,
    mut progress: impl FnMut(usize),
) -> Vec<InventoryEntry> {
    let failed = changes.is_failure();
    let refusal = match (&plan.prune_refused, failed) {
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
        if let Some(why) = &refusal {
            changes.push(entry.key(), Action::Skipped, Some(why.clone()));
            kept.push(entry.clone());
        } else {
            match destination.delete(entry, dry_run).await {
                Ok(_) => changes.push(entry.key(), Action::Pruned, None),
                Err(e) => {
                    changes.push_failed(entry.key(), e.failure(), e.to_string());
                    kept.push(entry.clone());
                }
            }
        }
        progress(j + 1);
    }
    if let Some(why) = &plan.prune_refused {
        changes.fail(Failure::PruneRefused, why.clone());
    }
    // Entries not pruned stay owned: back in apply order.
    kept.reverse();
    kept
}
