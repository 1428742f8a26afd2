//! Federated status as the daemon keeps it: one list per cluster, hundreds
//! of objects each, so it is kept compact. An object's key is one
//! allocation (its four parts one after the other) instead of four
//! strings, and only an object that is not healthy has room for a reason
//! and events: about 80 bytes per healthy object instead of about 250.

use flotilla_core::agent::{ObjectEvent, ObjectHealth};
use flotilla_core::health::HealthStatus;
use flotilla_core::model::ObjectKey;

/// Each desired object's health, in desired order, with the reason and
/// latest events of those not healthy.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObjectsHealth(Vec<Entry>);

#[derive(Clone, Debug, PartialEq)]
struct Entry {
    /// Group, kind, namespace and name, one after the other.
    key: Box<str>,
    /// Where kind, namespace and name start in `key`.
    starts: [u32; 3],
    health: HealthStatus,
    /// For an object not healthy: why, and its latest events.
    detail: Option<Box<Detail>>,
}

#[derive(Clone, Debug, PartialEq)]
struct Detail {
    reason: String,
    events: Vec<ObjectEvent>,
}

impl Entry {
    fn of(o: ObjectHealth) -> Entry {
        let k = &o.key;
        let mut key =
            String::with_capacity(k.group.len() + k.kind.len() + k.namespace.len() + k.name.len());
        let mut starts = [0u32; 3];
        for (i, part) in [&k.group, &k.kind, &k.namespace].into_iter().enumerate() {
            key.push_str(part);
            starts[i] = u32::try_from(key.len()).unwrap_or(u32::MAX);
        }
        key.push_str(&k.name);
        let detail =
            (o.health != HealthStatus::Healthy || !o.reason.is_empty() || !o.events.is_empty())
                .then(|| {
                    Box::new(Detail {
                        reason: o.reason,
                        events: o.events,
                    })
                });
        Entry {
            key: key.into_boxed_str(),
            starts,
            health: o.health,
            detail,
        }
    }

    /// (group, kind, namespace, name).
    fn parts(&self) -> [&str; 4] {
        let [a, b, c] = self.starts.map(|s| s as usize);
        let k = &*self.key;
        match (k.get(..a), k.get(a..b), k.get(b..c), k.get(c..)) {
            (Some(g), Some(kind), Some(ns), Some(name)) => [g, kind, ns, name],
            _ => ["", "", "", k],
        }
    }

    fn is(&self, key: &ObjectKey) -> bool {
        self.parts() == [&*key.group, &*key.kind, &*key.namespace, &*key.name]
    }

    fn expand(&self) -> ObjectHealth {
        let [group, kind, namespace, name] = self.parts();
        ObjectHealth {
            key: ObjectKey {
                group: group.to_string(),
                kind: kind.to_string(),
                namespace: namespace.to_string(),
                name: name.to_string(),
            },
            health: self.health,
            reason: self
                .detail
                .as_ref()
                .map(|d| d.reason.clone())
                .unwrap_or_default(),
            events: self
                .detail
                .as_ref()
                .map(|d| d.events.clone())
                .unwrap_or_default(),
        }
    }
}

impl From<Vec<ObjectHealth>> for ObjectsHealth {
    fn from(objects: Vec<ObjectHealth>) -> Self {
        let mut entries: Vec<Entry> = objects.into_iter().map(Entry::of).collect();
        entries.shrink_to_fit();
        ObjectsHealth(entries)
    }
}

impl ObjectsHealth {
    /// How many objects.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each object's health, in order (made when asked for).
    pub fn iter(&self) -> impl Iterator<Item = ObjectHealth> + '_ {
        self.0.iter().map(Entry::expand)
    }

    /// The objects that are not healthy, in order.
    pub fn unhealthy(&self) -> impl Iterator<Item = ObjectHealth> + '_ {
        self.0
            .iter()
            .filter(|e| e.health != HealthStatus::Healthy)
            .map(Entry::expand)
    }

    /// Whether this is the health of exactly `keys`, in that order.
    pub fn is_of<'a>(&self, keys: impl ExactSizeIterator<Item = &'a ObjectKey>) -> bool {
        self.0.len() == keys.len() && self.0.iter().zip(keys).all(|(e, k)| e.is(k))
    }

    /// Each of `fresh` replaces the entry of its key (an object not listed
    /// here is left out).
    pub fn refresh(&mut self, fresh: Vec<ObjectHealth>) {
        for o in fresh {
            if let Some(e) = self.0.iter_mut().find(|e| e.is(&o.key)) {
                *e = Entry::of(o);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(group: &str, ns: &str, name: &str, h: HealthStatus) -> ObjectHealth {
        ObjectHealth {
            key: ObjectKey {
                group: group.into(),
                kind: "Deployment".into(),
                namespace: ns.into(),
                name: name.into(),
            },
            health: h,
            reason: if h == HealthStatus::Healthy {
                String::new()
            } else {
                "0/2 ready".into()
            },
            events: if h == HealthStatus::Healthy {
                Vec::new()
            } else {
                vec![ObjectEvent {
                    kind: "Warning".into(),
                    reason: "BackOff".into(),
                    message: "Back-off pulling image".into(),
                    count: 2,
                    last_seen: String::new(),
                }]
            },
        }
    }

    #[test]
    fn each_object_reads_back_as_it_was_given() {
        let given = vec![
            health("apps", "shop", "web", HealthStatus::Healthy),
            health("apps", "shop", "api", HealthStatus::Degraded),
            health("", "", "cluster-wide", HealthStatus::Progressing),
            health("apps", "", "", HealthStatus::Missing),
        ];
        let kept = ObjectsHealth::from(given.clone());
        assert_eq!(kept.iter().collect::<Vec<_>>(), given);
        assert_eq!(kept.len(), 4);
        assert_eq!(
            kept.unhealthy().map(|o| o.key.name).collect::<Vec<_>>(),
            ["api", "cluster-wide", ""]
        );
        assert!(kept.is_of(given.iter().map(|o| &o.key)));
        assert!(!kept.is_of(given[..3].iter().map(|o| &o.key)));
        assert!(!kept.is_of(given.iter().rev().map(|o| &o.key)));
    }

    #[test]
    fn keys_whose_parts_concatenate_alike_stay_apart() {
        // "ab" + "c" and "a" + "bc" are one string when joined.
        let a = health("", "ab", "c", HealthStatus::Healthy);
        let b = health("", "a", "bc", HealthStatus::Healthy);
        let kept = ObjectsHealth::from(vec![a.clone()]);
        assert!(kept.is_of([&a.key].into_iter()));
        assert!(!kept.is_of([&b.key].into_iter()));
    }

    #[test]
    fn a_refresh_replaces_only_the_entries_of_its_keys() {
        let mut kept = ObjectsHealth::from(vec![
            health("apps", "shop", "web", HealthStatus::Healthy),
            health("apps", "shop", "api", HealthStatus::Degraded),
        ]);
        kept.refresh(vec![
            health("apps", "shop", "api", HealthStatus::Healthy),
            health("apps", "shop", "gone", HealthStatus::Degraded),
        ]);
        let now: Vec<_> = kept.iter().collect();
        assert_eq!(now.len(), 2);
        assert!(now.iter().all(|o| o.health == HealthStatus::Healthy));
        assert!(now[1].events.is_empty() && now[1].reason.is_empty());
    }
}
