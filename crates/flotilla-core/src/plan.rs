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
    /// How many pruning rounds the guard looks back over, this one included
    /// (`spec.pruneWindow`, `--prune-window`): together they may not delete
    /// more than `max_prune_ratio` of the most objects managed in them. 1
    /// (or 0) is the per-round guard alone. See [`PruneWindow`].
    pub prune_window: usize,
}

/// The default [`PlanOptions::prune_window`]: 5 pruning rounds.
pub const DEFAULT_PRUNE_WINDOW: usize = 5;
/// The largest accepted [`PlanOptions::prune_window`] (keeps the stored
/// record small).
pub const MAX_PRUNE_WINDOW: usize = 100;

/// Checks a prune window: a number of rounds from 0 to [`MAX_PRUNE_WINDOW`].
pub fn check_prune_window(rounds: usize) -> Result<usize, String> {
    if rounds <= MAX_PRUNE_WINDOW {
        Ok(rounds)
    } else {
        Err(format!(
            "{rounds} is not a valid prune window: give a number of rounds from 0 to {MAX_PRUNE_WINDOW}"
        ))
    }
}

/// Parses a `--prune-window` argument (see [`check_prune_window`]).
pub fn parse_prune_window(text: &str) -> Result<usize, String> {
    let rounds: usize = text.trim().parse().map_err(|_| {
        format!(
            "{text:?} is not a number of rounds: give a whole number from 0 to {MAX_PRUNE_WINDOW}"
        )
    })?;
    check_prune_window(rounds)
}

/// One earlier round that pruned: how many objects it deleted and how many
/// the inventory held before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PruneRound {
    /// Objects deleted.
    pub pruned: usize,
    /// Objects managed before the round.
    pub managed: usize,
}

/// The mass-prune guard's memory of the last rounds that pruned, oldest
/// first, so a few commits in a row, each under the per-round ratio, cannot
/// empty a cluster. Stored beside the inventory (its own small record, see
/// the destinations), so it survives restarts and separate `flotilla sync`
/// runs. Rounds that prune nothing are not recorded (no-op syncs do not
/// push old deletions out of the window).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PruneWindow {
    /// The recorded rounds, oldest first.
    #[serde(default)]
    pub rounds: Vec<PruneRound>,
}

/// The name of the record that keeps a [`PruneWindow`] of `fleet`'s cluster
/// `cluster`, beside its inventory: `flotilla-prune-window-<fleet>.<cluster>`
/// (a ConfigMap in `flotilla-system` on a cluster, a hidden
/// `.flotilla-prune-window-<fleet>.<cluster>.json` in a directory target).
pub fn prune_window_name(fleet: &str, cluster: &str) -> String {
    format!("flotilla-prune-window-{fleet}.{cluster}")
}

/// The data key of the prune window ConfigMap.
pub const PRUNE_WINDOW_KEY: &str = "window.json";

impl PruneWindow {
    /// The earlier rounds that count in a window of `window` rounds (this
    /// one being the last).
    fn earlier(&self, window: usize) -> &[PruneRound] {
        let keep = window.saturating_sub(1).min(self.rounds.len());
        &self.rounds[self.rounds.len() - keep..]
    }

    /// Why pruning `pruning` of `managed` objects this round is refused by
    /// the window, if it is: the window's deletions, this round's included,
    /// may not exceed `max_prune_ratio` of the most objects managed at the
    /// start of any of its rounds.
    pub fn refusal(&self, pruning: usize, managed: usize, options: &PlanOptions) -> Option<String> {
        let earlier = self.earlier(options.prune_window);
        if earlier.is_empty() || pruning == 0 || options.allow_mass_prune {
            return None;
        }
        let before: usize = earlier.iter().map(|r| r.pruned).sum();
        let most = earlier.iter().map(|r| r.managed).fold(managed, usize::max);
        let total = before.saturating_add(pruning);
        if (total as f64) > options.max_prune_ratio * most as f64 {
            Some(format!(
                "refusing to prune {pruning} more objects: with the {before} pruned in the previous {} pruning round(s), {total} of {most} managed objects (more than {:.0}%) would go within a window of {} rounds (--prune-window, spec.pruneWindow): if this is intended, sync again with --allow-mass-prune",
                earlier.len(),
                options.max_prune_ratio * 100.0,
                options.prune_window,
            ))
        } else {
            None
        }
    }

    /// The window after a round that deleted `pruned` of `managed` objects:
    /// unchanged when it deleted nothing, emptied when the guard was lifted
    /// (`--allow-mass-prune` starts a new window), else with the round
    /// appended and only the last `window` rounds kept.
    pub fn after(&self, pruned: usize, managed: usize, options: &PlanOptions) -> PruneWindow {
        if options.allow_mass_prune {
            return PruneWindow::default();
        }
        if pruned == 0 {
            return self.clone();
        }
        let mut rounds = self.rounds.clone();
        rounds.push(PruneRound { pruned, managed });
        let keep = options.prune_window.clamp(1, MAX_PRUNE_WINDOW);
        let drop = rounds.len().saturating_sub(keep);
        rounds.drain(..drop);
        PruneWindow { rounds }
    }
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
            prune_window: DEFAULT_PRUNE_WINDOW,
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

/// Plans the sync of `desired` against what the inventory says was applied,
/// with no memory of earlier rounds (see [`plan_in_window`]).
pub fn plan<'a>(
    desired: &'a DesiredState,
    inventory: Option<&'a Inventory>,
    options: PlanOptions,
) -> Plan<'a> {
    plan_in_window(desired, inventory, &PruneWindow::default(), options)
}

/// Plans the sync of `desired` against what the inventory says was applied;
/// the mass-prune guard also counts the deletions of the earlier rounds in
/// `window`.
pub fn plan_in_window<'a>(
    desired: &'a DesiredState,
    inventory: Option<&'a Inventory>,
    window: &PruneWindow,
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
        window.refusal(prune.len(), total, &options)
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

    #[test]
    fn a_few_commits_under_the_ratio_cannot_empty_a_cluster() {
        let names: Vec<String> = (0..10).map(|i| format!("o{i}")).collect();
        let all: Vec<&str> = names.iter().map(String::as_str).collect();
        let options = PlanOptions::default();
        let mut window = PruneWindow::default();
        let mut live = all.clone();
        // Each commit removes 40% of what is left: under the per-round 50%.
        let mut refused = None;
        for round in 0..5 {
            let keep = live.len() * 6 / 10;
            let inv = inventory(&live);
            let desired = state(&live[..keep]);
            let p = plan_in_window(&desired, Some(&inv), &window, options);
            assert!(
                plan(&desired, Some(&inv), options).prune_refused.is_none(),
                "round {round} is under the per-round ratio"
            );
            if let Some(why) = p.prune_refused {
                refused = Some((round, why));
                break;
            }
            window = window.after(p.prune.len(), live.len(), &options);
            live.truncate(keep);
        }
        let (round, why) = refused.expect("the window refuses before the cluster is empty");
        assert_eq!(round, 1, "10 -> 6 is allowed, 6 -> 3 makes 7 of 10");
        assert!(
            why.contains("with the 4 pruned in the previous 1 pruning round(s), 7 of 10"),
            "{why}"
        );
        assert!(why.contains("window of 5 rounds"), "{why}");
    }

    #[test]
    fn the_window_keeps_its_last_rounds_and_allow_starts_a_new_one() {
        let options = PlanOptions {
            prune_window: 3,
            ..Default::default()
        };
        let mut w = PruneWindow::default();
        for i in 1..=5 {
            w = w.after(1, 100 - i, &options);
        }
        assert_eq!(w.rounds.len(), 3);
        assert_eq!(w.rounds[0].managed, 97);
        // Nothing pruned: unchanged; an allowed mass prune empties it.
        assert_eq!(w.after(0, 50, &options), w);
        let allowed = PlanOptions {
            allow_mass_prune: true,
            ..options
        };
        assert_eq!(w.after(10, 50, &allowed), PruneWindow::default());
        assert_eq!(w.refusal(100, 100, &allowed), None);
        // Window 1: the per-round guard alone.
        let one = PlanOptions {
            prune_window: 1,
            ..Default::default()
        };
        let heavy = PruneWindow {
            rounds: vec![PruneRound {
                pruned: 50,
                managed: 100,
            }],
        };
        assert_eq!(heavy.refusal(25, 50, &one), None);
        assert!(heavy.refusal(25, 50, &options).is_some());
        // Objects added since count: the largest inventory in the window.
        let grown = PruneWindow {
            rounds: vec![PruneRound {
                pruned: 5,
                managed: 10,
            }],
        };
        assert_eq!(grown.refusal(10, 40, &options), None, "15 of 40");
    }

    #[test]
    fn a_prune_window_out_of_range_is_refused() {
        assert_eq!(parse_prune_window("5"), Ok(5));
        assert_eq!(parse_prune_window("0"), Ok(0));
        assert!(parse_prune_window("-1").is_err());
        assert!(
            parse_prune_window("101")
                .unwrap_err()
                .contains("from 0 to 100")
        );
        assert!(parse_prune_window("NaN").is_err());
    }
}
