//! The pure decisions of many replicas: which shard a cluster is in, which
//! live replica should hold a shard (rendezvous hashing), when a Lease has
//! expired as seen by this replica's own monotonic clock, and what to do
//! with each shard Lease on a tick. No I/O, no clock: `now` comes in.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// How many shards the clusters are spread over (fixed: changing it moves
/// clusters between shards, so every replica must agree on it).
pub const SHARDS: u32 = 32;

/// The name of replica `id`'s member Lease.
pub fn member_lease(id: &str) -> String {
    format!("flotilla-replica-{id}")
}

/// The name of shard `k`'s Lease.
pub fn shard_lease(k: u32) -> String {
    format!("flotilla-shard-{k}")
}

/// The name of shard `k`'s status ConfigMap.
pub fn status_config_map(k: u32) -> String {
    format!("flotilla-status-{k}")
}

/// The shard of a Lease name, if it is a shard Lease.
pub fn shard_of_lease(name: &str) -> Option<u32> {
    name.strip_prefix("flotilla-shard-")?
        .parse()
        .ok()
        .filter(|k| *k < SHARDS)
}

/// FNV-1a, 64 bits: stable across versions and platforms (unlike the
/// standard library's hasher), which every replica must agree on.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in *part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        // A separator, so ("ab","c") and ("a","bc") differ.
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The shard of a cluster, by a stable hash of its name.
pub fn shard_of(cluster: &str) -> u32 {
    (fnv1a(&[cluster.as_bytes()]) % u64::from(SHARDS)) as u32
}

/// The live replica that should hold shard `k`: the one with the highest
/// hash of (replica, shard) (rendezvous hashing: a replica joining or
/// leaving moves only the shards it wins or held). `None` with no replica.
pub fn wanted_holder(k: u32, live: &BTreeSet<String>) -> Option<&str> {
    live.iter()
        .max_by_key(|id| (fnv1a(&[id.as_bytes(), &k.to_le_bytes()]), id.as_str()))
        .map(String::as_str)
}

/// What this replica last saw of one Lease, and when (by its own clock) it
/// last saw it change.
#[derive(Clone, Debug)]
struct Seen {
    version: String,
    since: Instant,
}

/// Lease observations by this replica's monotonic clock, as client-go's
/// leader election keeps them: a Lease is fresh while its resourceVersion
/// was seen to change within the lease duration, whatever its `renewTime`
/// says, so clock skew between replicas cannot make two owners.
#[derive(Clone, Debug, Default)]
pub struct Observer {
    seen: BTreeMap<String, Seen>,
}

impl Observer {
    /// Records Lease `name` at `version`, seen at `now`.
    pub fn observe(&mut self, name: &str, version: &str, now: Instant) {
        match self.seen.get_mut(name) {
            Some(s) if s.version == version => {}
            Some(s) => {
                s.version = version.to_string();
                s.since = now;
            }
            None => {
                self.seen.insert(
                    name.to_string(),
                    Seen {
                        version: version.to_string(),
                        since: now,
                    },
                );
            }
        }
    }

    /// Forgets Leases no longer listed.
    pub fn retain(&mut self, listed: &BTreeSet<String>) {
        self.seen.retain(|name, _| listed.contains(name));
    }

    /// Whether Lease `name` changed within `duration` before `now` (a Lease
    /// never seen is not fresh).
    pub fn fresh(&self, name: &str, now: Instant, duration: Duration) -> bool {
        self.seen
            .get(name)
            .is_some_and(|s| now.saturating_duration_since(s.since) < duration)
    }
}

/// A shard Lease as the decision needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardLease {
    /// Its `holderIdentity` (`None` or empty: released).
    pub holder: Option<String>,
    /// Whether it changed within the lease duration (by [`Observer`]).
    pub fresh: bool,
}

/// What to do with one shard Lease on a tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Take it (create it, or update it with its resourceVersion as the
    /// precondition: a 409 means another replica was first).
    Acquire,
    /// Renew it (held, and still wanted).
    Renew,
    /// Hand it back: stop the shard's workers, then clear the holder.
    Release,
    /// Leave it: another live replica holds it, or it is free and not
    /// wanted here.
    Leave,
}

/// The step for one shard: acquire only what is free, released or
/// expired, and wanted here; renew what is held and wanted; release what is
/// held and wanted elsewhere.
pub fn step(me: &str, wanted: Option<&str>, lease: Option<&ShardLease>) -> Step {
    let wanted_here = wanted == Some(me);
    let holder = lease.and_then(|l| l.holder.as_deref().filter(|h| !h.is_empty()));
    match (lease, holder) {
        (_, Some(h)) if h == me => {
            if wanted_here {
                Step::Renew
            } else {
                Step::Release
            }
        }
        (Some(l), Some(_)) if l.fresh => Step::Leave,
        _ if wanted_here => Step::Acquire,
        _ => Step::Leave,
    }
}

/// The live replicas: this one, and every replica whose member Lease
/// (`flotilla-replica-<id>`, held by `<id>`) is fresh.
pub fn live_members<'a>(
    me: &str,
    members: impl IntoIterator<Item = (&'a str, bool)>,
) -> BTreeSet<String> {
    let mut live: BTreeSet<String> = members
        .into_iter()
        .filter(|(_, fresh)| *fresh)
        .map(|(id, _)| id.to_string())
        .collect();
    live.insert(me.to_string());
    live
}

/// Whether a replica id can name a Lease (`flotilla-replica-<id>` must be a
/// DNS-1123 subdomain): lower-case alphanumerics, `-` and `.`, starting and
/// ending alphanumeric, at most 200 characters.
pub fn valid_replica_id(id: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
    !id.is_empty()
        && id.len() <= 200
        && id.chars().all(ok_char)
        && id.starts_with(|c: char| c.is_ascii_alphanumeric())
        && id.ends_with(|c: char| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn shards_are_stable_and_spread() {
        assert_eq!(shard_of("eu-1"), shard_of("eu-1"));
        let used: BTreeSet<u32> = (0..200).map(|i| shard_of(&format!("c-{i}"))).collect();
        assert!(used.len() > 24, "{used:?}");
        assert!(used.iter().all(|k| *k < SHARDS));
        assert_eq!(shard_of_lease(&shard_lease(7)), Some(7));
        assert_eq!(shard_of_lease("flotilla-shard-99"), None);
        assert_eq!(shard_of_lease(&member_lease("a")), None);
    }

    #[test]
    fn rendezvous_moves_only_the_shards_of_the_replica_that_left() {
        let three = live(&["a", "b", "c"]);
        let two = live(&["a", "b"]);
        let mut counts = BTreeMap::new();
        for k in 0..SHARDS {
            let before = wanted_holder(k, &three).unwrap();
            *counts.entry(before).or_insert(0) += 1;
            let after = wanted_holder(k, &two).unwrap();
            if before != "c" {
                assert_eq!(before, after, "shard {k} moved");
            }
        }
        // Every replica gets some shards.
        assert_eq!(counts.len(), 3, "{counts:?}");
        assert_eq!(wanted_holder(0, &BTreeSet::new()), None);
    }

    #[test]
    fn a_lease_is_fresh_until_unchanged_for_a_whole_duration_by_the_observer() {
        let t0 = Instant::now();
        let d = Duration::from_secs(15);
        let mut o = Observer::default();
        assert!(!o.fresh("l", t0, d));
        o.observe("l", "1", t0);
        assert!(o.fresh("l", t0 + Duration::from_secs(14), d));
        // Seen again unchanged: the clock keeps running from the change.
        o.observe("l", "1", t0 + Duration::from_secs(10));
        assert!(!o.fresh("l", t0 + d, d));
        // A new version restarts it.
        o.observe("l", "2", t0 + Duration::from_secs(20));
        assert!(o.fresh("l", t0 + Duration::from_secs(34), d));
        o.retain(&BTreeSet::new());
        assert!(!o.fresh("l", t0 + Duration::from_secs(21), d));
    }

    #[test]
    fn steps_acquire_only_free_released_or_expired_leases() {
        let held = |h: &str, fresh| ShardLease {
            holder: Some(h.into()),
            fresh,
        };
        // Missing or released, wanted here: acquire; wanted elsewhere: leave.
        assert_eq!(step("a", Some("a"), None), Step::Acquire);
        assert_eq!(step("a", Some("b"), None), Step::Leave);
        let released = ShardLease {
            holder: Some(String::new()),
            fresh: true,
        };
        assert_eq!(step("a", Some("a"), Some(&released)), Step::Acquire);
        // Held by another live replica: never taken, even when wanted here.
        assert_eq!(step("a", Some("a"), Some(&held("b", true))), Step::Leave);
        // Expired (unchanged for a whole duration): taken when wanted here.
        assert_eq!(step("a", Some("a"), Some(&held("b", false))), Step::Acquire);
        assert_eq!(step("a", Some("c"), Some(&held("b", false))), Step::Leave);
        // Held here: renewed while wanted, handed back otherwise.
        assert_eq!(step("a", Some("a"), Some(&held("a", true))), Step::Renew);
        assert_eq!(step("a", Some("b"), Some(&held("a", true))), Step::Release);
    }

    #[test]
    fn live_members_are_fresh_member_leases_and_self() {
        let l = live_members("a", [("b", true), ("c", false)]);
        assert_eq!(l, live(&["a", "b"]));
    }

    #[test]
    fn replica_ids_must_name_a_lease() {
        assert!(valid_replica_id("flotilla-7d9f8-xk2p"));
        assert!(valid_replica_id("node1.example"));
        assert!(!valid_replica_id("Flotilla"));
        assert!(!valid_replica_id("-a"));
        assert!(!valid_replica_id(""));
        assert!(!valid_replica_id("a_b"));
    }
}
