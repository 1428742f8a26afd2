//! One entry point per use case, called by both the CLI and the daemon:
//!
//! - [`reconcile_cluster`]: read the inventory and live state, apply in
//!   order ([`crate::apply`]), prune ([`crate::delete`]), and record the
//!   inventory, returning the typed [`ChangeSet`];
//! - [`check_cluster`]: desired against live ([`crate::diff`]), for drift;
//!   [`check_cluster_only`] for the objects that changed.
//!
//! Safety rules: a failed read of the inventory or of live state applies
//! nothing; a round with a failed apply prunes nothing; a refused mass prune
//! deletes nothing, and neither does one whose prune window record cannot be
//! read (the guard counts the deletions of the last pruning rounds, see
//! [`flotilla_core::plan::PruneWindow`]); the inventory is written only when it changed, so an
//! unchanged cluster costs no write. A round that adds objects first writes
//! the intent (the old inventory plus the new objects), then the result, so
//! a crash at any point leaves every object it created owned and prunable;
//! the next round drops the intent entries of objects that left Git and
//! were never created (not pruned, not counted by the mass-prune guard).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::destination::{ClusterError, Destination};
use flotilla_core::changeset::ChangeSet;
use flotilla_core::drift::Detected;
use flotilla_core::model::ObjectKey;
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

/// Syncs one cluster's desired state to `destination`: apply, prune,
/// inventory. `progress(done, total)` is called after every object. Every
/// failure is in the change set, typed.
pub async fn reconcile_cluster<D: Destination>(
    destination: &mut D,
    fleet: &str,
    revision: Option<&str>,
    desired: &DesiredState,
    options: SyncOptions,
    progress: impl FnMut(usize, usize),
) -> ChangeSet {
    // No live state is answered, so the writes' answers are not kept.
    round(
        destination,
        fleet,
        revision,
        desired,
        options,
        false,
        progress,
    )
    .await
    .changes
}

/// What a sync round did, and what it saw.
#[derive(Debug)]
pub struct Round {
    /// Every action and failure, typed.
    pub changes: ChangeSet,
    /// The desired objects' live copies after the round, by desired key:
    /// those it judged against (read before applying), each object it wrote
    /// replaced by the server's answer to the write (the object as stored).
    /// An object absent does not exist (or its write failed). `None` when
    /// the round stopped before reading live state, and in a dry run. For
    /// health and federated status without a read of their own (an object
    /// left unchanged is as it was read a moment before).
    pub live: Option<HashMap<ObjectKey, Arc<Value>>>,
}

/// [`reconcile_cluster`], also answering the live state the round saw
/// ([`Round::live`]).
pub async fn reconcile_round<D: Destination>(
    destination: &mut D,
    fleet: &str,
    revision: Option<&str>,
    desired: &DesiredState,
    options: SyncOptions,
    progress: impl FnMut(usize, usize),
) -> Round {
    round(
        destination,
        fleet,
        revision,
        desired,
        options,
        true,
        progress,
    )
    .await
}

/// A round; with `keep_written` its [`Round::live`] holds the answers to
/// its writes, without it only what it read (and the caller drops it).
async fn round<D: Destination>(
    destination: &mut D,
    fleet: &str,
    revision: Option<&str>,
    desired: &DesiredState,
    options: SyncOptions,
    keep_written: bool,
    mut progress: impl FnMut(usize, usize),
) -> Round {
    let mut changes = ChangeSet::new(&desired.cluster, options.dry_run);
    // Answers to writes made outside a round are not this round's.
    let _ = destination.take_written();
    let stored = match destination.read_inventory(fleet, &desired.cluster).await {
        Ok(i) => i,
        Err(e) => {
            changes.fail(e.failure(), format!("reading the inventory: {e}"));
            return Round {
                changes,
                live: None,
            };
        }
    };
    // Intent entries of objects that left Git and were never created (a
    // round stopped before applying them) are dropped: neither pruned nor
    // counted by the mass-prune guard.
    let gone = match &stored {
        Some(inventory) => match never_created(destination, desired, inventory).await {
            Ok(gone) => gone,
            Err(e) => {
                changes.fail(e.failure(), format!("reading live objects: {e}"));
                return Round {
                    changes,
                    live: None,
                };
            }
        },
        None => HashSet::new(),
    };
    let trimmed;
    let old: Option<&Inventory> = match &stored {
        Some(inventory) if !gone.is_empty() => {
            tracing::info!(
                cluster = %desired.cluster,
                entries = gone.len(),
                "dropping inventory intent entries of objects never created"
            );
            trimmed = inventory.without(&gone);
            Some(&trimmed)
        }
        other => other.as_ref(),
    };
    let mut plan = plan(desired, old, options.plan);
    let window = crate::delete::apply_window(
        destination,
        fleet,
        &desired.cluster,
        &mut plan,
        old,
        &options.plan,
    )
    .await;
    // Live copies: those of objects the inventory holds (to tell an
    // unchanged one); a new object is applied without a read of its own,
    // looked for only in the per-kind labelled lists (so an object this
    // engine labelled but no longer owns is judged, not called configured
    // blindly). A dry run reads them all, to tell what would change.
    type Addresses<'d> = Vec<(&'d str, &'d ObjectKey)>;
    let (owned, new): (Addresses<'_>, Addresses<'_>) = desired
        .objects
        .iter()
        .map(|o| o.address())
        .partition(|(_, key)| options.dry_run || old.is_some_and(|i| i.contains(key)));
    let live = match destination.live_of_round(&owned, &new).await {
        Ok(l) => l,
        Err(e) => {
            changes.fail(e.failure(), format!("reading live objects: {e}"));
            return Round {
                changes,
                live: None,
            };
        }
    };

    // Judged as drift is: by the schema (and Git's CRDs), fields controllers
    // own left to them. The cluster's OpenAPI documents are fetched only for
    // kinds neither the built-in table nor Git's CRDs describe, so a no-op
    // sync of built-in kinds costs no extra request; a field another manager
    // changed is seen in managedFields whatever the schema says.
    // The HPAs only on the cluster count too (read only when a live
    // workload could be their target).
    let controllers = match crate::diff::live_controllers(destination, desired, &live).await {
        Ok(c) => c,
        Err(e) => {
            changes.fail(e.failure(), format!("reading live controllers: {e}"));
            return Round {
                changes,
                live: None,
            };
        }
    };
    let controlled = flotilla_core::diff::controlled::controlled_fields(
        desired.objects.iter().map(|o| &o.object),
        live.values().chain(&controllers).map(|v| &**v),
    );
    let known =
        flotilla_core::diff::schema::builtin().with_crds(desired.objects.iter().map(|o| &o.object));
    let unknown: Vec<&str> = desired
        .objects
        .iter()
        .filter(|o| live.contains_key(&o.key) && known.of(&o.object).is_none())
        .filter_map(|o| o.object["apiVersion"].as_str())
        .collect();
    let cluster_schema = destination.schema(&unknown).await;
    let schema = cluster_schema.with_crds(desired.objects.iter().map(|o| &o.object));
    let judge = crate::apply::Judge {
        schema: &schema,
        controlled: &controlled,
    };

    // The intent: before a round adds objects, the inventory names them
    // too, so that a crash mid-round leaves nothing a later sync cannot
    // prune.
    if !options.dry_run
        && let Some(intent) = intent(fleet, &desired.cluster, old, &plan.apply)
        && let Err(e) = destination.write_inventory(&intent).await
    {
        changes.fail(e.failure(), format!("writing the inventory: {e}"));
        return Round {
            changes,
            live: None,
        };
    }

    let applying = plan.apply.len();
    let total = applying + plan.prune.len();
    let mut entries = crate::apply::apply_staged(
        destination,
        &plan.apply,
        &live,
        old,
        &options,
        keep_written,
        judge,
        &mut changes,
        |i| progress(i, total),
    )
    .await;
    let kept = crate::delete::prune(destination, &plan, options.dry_run, &mut changes, |j| {
        progress(applying + j, total)
    })
    .await;
    if let Some(window) = &window {
        let managed = old.map_or(0, |i| i.entries().len());
        let pruned = plan.prune.len() - kept.len();
        crate::delete::record_window(
            destination,
            fleet,
            &desired.cluster,
            window,
            (pruned, managed),
            &options,
            &mut changes,
        )
        .await;
    }
    entries.extend(kept);

    let inventory = Inventory::new(
        fleet,
        desired.cluster.clone(),
        revision.map(str::to_string),
        entries,
    );
    // Compared with what is stored (dropped intent entries are a change).
    let same_entries = stored
        .as_ref()
        .is_some_and(|o| o.entries() == inventory.entries());
    if !options.dry_run
        && !same_entries
        && let Err(e) = destination.write_inventory(&inventory).await
    {
        changes.fail(e.failure(), format!("writing the inventory: {e}"));
    }
    let live = (!options.dry_run).then(|| {
        let mut after = live;
        after.extend(destination.take_written());
        after
    });
    Round { changes, live }
}

/// The keys of `inventory`'s entries with an empty hash (an intent's, or
/// kept after a failed apply) whose objects left Git and do not exist: a
/// round that stopped named them but never created them. One read of live
/// state for those entries only; none when there are none.
async fn never_created<D: Destination>(
    destination: &mut D,
    desired: &DesiredState,
    inventory: &Inventory,
) -> Result<HashSet<ObjectKey>, ClusterError> {
    let wanted: HashSet<&ObjectKey> = desired.objects.iter().map(|o| &o.key).collect();
    let unconfirmed: Vec<(&str, ObjectKey)> = inventory
        .unconfirmed()
        .map(|e| (e.api_version.as_str(), e.key()))
        .filter(|(_, key)| !wanted.contains(key))
        .collect();
    if unconfirmed.is_empty() {
        return Ok(HashSet::new());
    }
    let addresses: Vec<(&str, &ObjectKey)> = unconfirmed.iter().map(|(v, k)| (*v, k)).collect();
    let live = destination.live(&addresses).await?;
    Ok(unconfirmed
        .into_iter()
        .map(|(_, key)| key)
        .filter(|key| !live.contains_key(key))
        .collect())
}

/// The inventory to store before applying `steps`: the old one plus every
/// object it does not hold yet (with an empty hash, so it is applied again
/// if the round does not finish); `None` when the round adds nothing.
fn intent(
    fleet: &str,
    cluster: &str,
    old: Option<&Inventory>,
    steps: &[flotilla_core::plan::Step<'_>],
) -> Option<Inventory> {
    let new: Vec<InventoryEntry> = steps
        .iter()
        .filter(|s| !old.is_some_and(|o| o.contains(&s.object.key)))
        .filter_map(|s| InventoryEntry::of(&s.object.object, String::new()))
        .collect();
    if new.is_empty() {
        return None;
    }
    let empty;
    let base = match old {
        Some(o) => o,
        None => {
            empty = Inventory::new(fleet, cluster, None, Vec::new());
            &empty
        }
    };
    Some(base.with_intent(&new))
}

/// Compares one cluster's desired state with what `destination` holds, for
/// drift; `ignored(key)` gives the JSON pointers to skip for an object.
pub async fn check_cluster<D: Destination>(
    destination: &mut D,
    fleet: &str,
    desired: &DesiredState,
    ignored: impl Fn(&ObjectKey) -> Vec<String>,
) -> Result<Detected, ClusterError> {
    crate::diff::detect(destination, fleet, desired, ignored).await
}

/// [`check_cluster`] for only the objects of `keys` (those that changed,
/// [`Destination::take_changes`]); see [`crate::diff::detect_only`].
pub async fn check_cluster_only<D: Destination>(
    destination: &mut D,
    fleet: &str,
    desired: &DesiredState,
    keys: &std::collections::BTreeSet<ObjectKey>,
    ignored: impl Fn(&ObjectKey) -> Vec<String>,
) -> Result<Detected, ClusterError> {
    crate::diff::detect_only(destination, fleet, desired, keys, ignored).await
}
