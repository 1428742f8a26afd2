//! Planning a sync (pure): the objects to apply, in order, and the objects to
//! prune, with the guard against mass deletion.

use std::collections::HashSet;

use crate::model::ObjectKey;
use crate::model::inventory::{Inventory, InventoryEntry, fingerprint};
use crate::render::{DesiredObject, DesiredState};

/// How a sync may prune.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlanOptions {
    /// Whether objects that left Git are deleted.
    pub prune: bool,
    /// The largest share of the inventory one round may delete (0.5 = 50%).
    pub max_prune_ratio: f64,
    /// Lifts the guard for this round.
    pub allow_mass_prune: bool,
}

/// Checks a `maxPruneRatio`: a number from 0 to 1 (NaN, a negative number
/// or more than 1 would turn the mass-prune guard off or make it refuse
/// everything without saying so).
pub fn check_prune_ratio(ratio: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&ratio) {
        Ok(ratio)
    } else {
        Err(format!(
            "{ratio} is not a valid prune ratio: give a number from 0 to 1 (0.5 = 50%)"
        ))
    }
}

/// Parses a `--max-prune-ratio` argument (see [`check_prune_ratio`]).
pub fn parse_prune_ratio(text: &str) -> Result<f64, String> {
    let ratio: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number: give a number from 0 to 1 (0.5 = 50%)"))?;
    check_prune_ratio(ratio)
}

impl Default for PlanOptions {
    fn default() -> Self {
        Self {
            prune: true,
            max_prune_ratio: 0.5,
            allow_mass_prune: false,
        }
    }
}

/// One object to apply, with its fingerprint and the fingerprint the
/// inventory recorded for it last time (if any).
#[derive(Clone, Debug)]
pub struct Step<'a> {
    /// The desired object.
    pub object: &'a DesiredObject,
    /// Its fingerprint now.
    pub hash: String,
    /// Its fingerprint when last applied, from the inventory.
    pub applied_hash: Option<&'a str>,
}

/// What one sync of one cluster will do.
#[derive(Clone, Debug)]
pub struct Plan<'a> {
    /// Objects to apply, in apply order.
    pub apply: Vec<Step<'a>>,
    /// Inventory objects that left Git, in prune (reverse apply) order. With
    /// pruning off they stay listed (and owned) but are not deleted.
    pub prune: Vec<InventoryEntry>,
    /// Why pruning is refused this round, if it is.
    pub prune_refused: Option<String>,
    /// Whether pruning is off this round (`--no-prune`, `prune: false`).
    pub prune_disabled: bool,
}

/// Plans the sync of `desired` against what the inventory says was applied.
pub fn plan<'a>(
    desired: &'a DesiredState,
    inventory: Option<&'a Inventory>,
    options: PlanOptions,
) -> Plan<'a> {
    let apply: Vec<Step<'a>> = desired
        .objects
        .iter()
        .map(|object| Step {
            hash: fingerprint(&object.object),
            applied_hash: inventory
                .and_then(|i| i.get(&object.key))
                .map(|e| e.hash.as_str())
                .filter(|h| !h.is_empty()),
            object,
        })
        .collect();
    let wanted: HashSet<&ObjectKey> = desired.objects.iter().map(|o| &o.key).collect();
    let mut prune: Vec<InventoryEntry> = inventory
        .map(|i| {
            i.entries()
                .iter()
                .filter(|e| !wanted.contains(&e.key()))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    // Inventory entries are in apply order; prune in reverse.
    prune.reverse();
    let total = inventory.map_or(0, |i| i.entries().len());
    let prune_refused = if !options.prune || prune.is_empty() {
        None
    } else if !options.allow_mass_prune
        && (prune.len() as f64) > options.max_prune_ratio * total as f64
    {
        Some(format!(
            "refusing to prune {} of {} managed objects (more than {:.0}%): if this is intended, sync again with --allow-mass-prune",
            prune.len(),
            total,
            options.max_prune_ratio * 100.0
        ))
    } else {
        None
    };
    Plan {
        apply,
        prune,
        prune_refused,
        prune_disabled: !options.prune,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Origin;
    use serde_json::json;

    fn state(names: &[&str]) -> DesiredState {
        DesiredState {
            cluster: "c".into(),
            objects: names
                .iter()
                .map(|n| {
                    let object = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n, "namespace": "ns"}});
                    DesiredObject {
                        key: ObjectKey::of(&object).unwrap(),
                        object,
                        origin: Origin { file: "f".into(), document: 1, line: 1 },
                        tenant: None,
                    }
                })
                .collect(),
        }
    }

    fn inventory(names: &[&str]) -> Inventory {
        let s = state(names);
        Inventory::new(
            "f",
            "c",
            None,
            s.objects
                .iter()
                .map(|o| InventoryEntry::of(&o.object, fingerprint(&o.object)).unwrap())
                .collect(),
        )
    }

    #[test]
    fn prunes_only_inventory_objects_that_left_git_in_reverse_order() {
        let desired = state(&["a"]);
        let inv = inventory(&["a", "b", "c", "d", "e"]);
        let opts = PlanOptions {
            allow_mass_prune: true,
            ..Default::default()
        };
        let p = plan(&desired, Some(&inv), opts);
        let names: Vec<_> = p.prune.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["e", "d", "c", "b"]);
        assert_eq!(p.apply[0].applied_hash, Some(p.apply[0].hash.as_str()));
    }

    #[test]
    fn refuses_to_prune_more_than_half_unless_allowed() {
        let desired = state(&["a"]);
        let inv = inventory(&["a", "b", "c"]);
        let p = plan(&desired, Some(&inv), PlanOptions::default());
        assert!(
            p.prune_refused
                .unwrap()
                .contains("refusing to prune 2 of 3")
        );
        let (two, four) = (state(&["a", "b"]), inventory(&["a", "b", "c", "d"]));
        let half = plan(&two, Some(&four), PlanOptions::default());
        assert_eq!(half.prune_refused, None, "exactly 50% is allowed");
    }

    #[test]
    fn no_prune_keeps_everything_and_first_sync_prunes_nothing() {
        let (none, one) = (state(&[]), inventory(&["a"]));
        let p = plan(
            &none,
            Some(&one),
            PlanOptions {
                prune: false,
                ..Default::default()
            },
        );
        assert!(p.prune_disabled && p.prune_refused.is_none());
        assert_eq!(p.prune.len(), 1, "still listed, so ownership is kept");
        let a = state(&["a"]);
        let first = plan(&a, None, PlanOptions::default());
        assert!(first.prune.is_empty());
        assert_eq!(first.apply[0].applied_hash, None);
    }
}
