//! The diff verb: desired against live for one cluster, exact.
//!
//! A cheap first pass compares only the fields the desired object sets, with
//! normalisation ([`flotilla_core::diff::live`]); it costs no request per
//! object beyond one LIST per kind. Objects it suspects are confirmed with a
//! server-side apply dry run: if applying would leave the live object as it
//! is, the first pass was wrong and the object is in sync. Each object says
//! which pass decided.
//!
//! The comparison follows the cluster's schema ([`Target::schema`]: its
//! OpenAPI v3 documents over the built-in table, plus the CRDs in Git), and
//! an object some of whose fields other managers took from Flotilla
//! (`metadata.managedFields`) is drifted even where the values agree. A
//! missing object whose kind the cluster does not serve says so. Fields
//! controllers own are skipped, whether the controller (an HPA) is in Git
//! or only on the cluster ([`Destination::controllers`]).

use flotilla_core::diff::live::{field_diffs_with, mask_secret_values};
use flotilla_core::diff::ownership::fields_taken;
use flotilla_core::drift::{
    DecidedBy, Detected, ObjectDrift, ObjectStatus, comparable, object_diff,
};
use std::collections::BTreeSet;

use flotilla_core::model::ObjectKey;
use flotilla_core::render::DesiredState;

use crate::destination::{ClusterError, Destination};

/// Compares `desired` with what `destination` holds. `ignored(key)` gives the JSON
/// pointers to skip for an object.
pub async fn detect<D: Destination>(
    destination: &mut D,
    fleet: &str,
    desired: &DesiredState,
    ignored: impl Fn(&ObjectKey) -> Vec<String>,
) -> Result<Detected, ClusterError> {
    detect_in(destination, fleet, desired, None, ignored).await
}

/// [`detect`] for only the objects of `keys` (those a watch saw change,
/// [`Destination::take_changes`]): the desired objects among them and the
/// inventory's leftovers among them. The verdict covers those objects
/// alone (`in_sync` counts the desired ones found in sync); the caller
/// keeps its last verdict of the others ([`Detected::updated`]). A key
/// names a namespaced object with its namespace; a desired object given
/// without one matches by kind and name. Nothing is read when no key is
/// desired or owned.
///
/// [`Detected::updated`]: flotilla_core::drift::Detected::updated
pub async fn detect_only<D: Destination>(
    destination: &mut D,
    fleet: &str,
    desired: &DesiredState,
    keys: &BTreeSet<ObjectKey>,
    ignored: impl Fn(&ObjectKey) -> Vec<String>,
) -> Result<Detected, ClusterError> {
    if keys.is_empty() {
        return Ok(Detected::default());
    }
    detect_in(destination, fleet, desired, Some(keys), ignored).await
}

/// Whether desired key `key` is one of `keys` (see [`detect_only`]).
pub fn among(keys: &BTreeSet<ObjectKey>, key: &ObjectKey) -> bool {
    keys.contains(key)
        || (key.namespace.is_empty()
            && keys
                .iter()
                .any(|k| k.group == key.group && k.kind == key.kind && k.name == key.name))
}

async fn detect_in<D: Destination>(
    destination: &mut D,
    fleet: &str,
    desired: &DesiredState,
    only: Option<&BTreeSet<ObjectKey>>,
    ignored: impl Fn(&ObjectKey) -> Vec<String>,
) -> Result<Detected, ClusterError> {
    let chosen = |k: &ObjectKey| only.is_none_or(|keys| among(keys, k));
    let inventory = destination.read_inventory(fleet, &desired.cluster).await?;
    let wanted: std::collections::HashSet<&ObjectKey> =
        desired.objects.iter().map(|o| &o.key).collect();
    let leftovers: Vec<_> = inventory
        .iter()
        .flat_map(|i| i.entries().iter())
        .filter(|e| !wanted.contains(&e.key()))
        .map(|e| (e.api_version.clone(), e.key()))
        .filter(|(_, k)| chosen(k))
        .collect();
    let objects: Vec<&flotilla_core::render::DesiredObject> =
        desired.objects.iter().filter(|o| chosen(&o.key)).collect();
    let mut addresses: Vec<(&str, &ObjectKey)> = objects.iter().map(|o| o.address()).collect();
    addresses.extend(leftovers.iter().map(|(v, k)| (v.as_str(), k)));
    let live = destination.live(&addresses).await?;

    // Fields controllers own (an HPA's target's replicas, the HPA in Git or
    // only on the cluster) are never drift.
    let controllers = live_controllers(destination, desired, &live).await?;
    let controlled = flotilla_core::diff::controlled::controlled_fields(
        desired.objects.iter().map(|o| &o.object),
        live.values().chain(&controllers).map(|v| &**v),
    );
    let api_versions: Vec<&str> = addresses.iter().map(|(v, _)| *v).collect();
    let cluster_schema = destination.schema(&api_versions).await;
    let schema = cluster_schema.with_crds(desired.objects.iter().map(|o| &o.object));
    let mut out = Detected::default();
    for o in objects {
        let Some(live_object) = live.get(&o.key) else {
            let api_version = o.object["apiVersion"].as_str().unwrap_or("");
            let note = if destination.serves(api_version, &o.key.kind).await? {
                None
            } else {
                Some(not_served(api_version, &o.key.kind))
            };
            out.drifted.push(ObjectDrift {
                key: o.key.clone(),
                status: ObjectStatus::Missing,
                decided_by: DecidedBy::Presence,
                fields: Vec::new(),
                diff: String::new(),
                note,
                taken: Vec::new(),
            });
            continue;
        };
        let mut ignore = ignored(&o.key);
        ignore.extend(flotilla_core::diff::controlled::pointers_of(
            &controlled,
            &o.key,
        ));
        let mut fields = field_diffs_with(&o.object, live_object, &ignore, &schema);
        // Fields controllers own are theirs, not taken.
        let taken: Vec<_> = fields_taken(&o.object, live_object, &schema)
            .into_iter()
            .filter(|t| !ignore.iter().any(|i| covers(i, &t.path)))
            .collect();
        if fields.is_empty() && taken.is_empty() {
            out.in_sync += 1;
            continue;
        }
        if fields.is_empty() {
            // Same values, another owner: drifted without asking the server.
            out.drifted.push(ObjectDrift {
                key: o.key.clone(),
                status: ObjectStatus::Modified,
                decided_by: DecidedBy::FirstPass,
                fields,
                diff: String::new(),
                note: None,
                taken,
            });
            continue;
        }
        let mut decided_by = DecidedBy::FirstPass;
        let mut note = None;
        match destination.dry_run_apply(&o.object).await {
            // Would applying change the live object? If not, the first pass
            // was wrong. (The whole object is compared: list items may sit
            // in another order live than in Git.)
            Ok(Some(would_be)) => {
                decided_by = DecidedBy::DryRun;
                if comparable(&would_be) == comparable(live_object) && taken.is_empty() {
                    out.in_sync += 1;
                    continue;
                }
            }
            Ok(None) => {}
            // The server refused the change itself (e.g. an immutable field):
            // the drift is real, and syncing it will fail.
            Err(e @ (ClusterError::Api { .. } | ClusterError::Conflict { .. })) => {
                note = Some(format!(
                    "the server refuses this change: {}",
                    refusal_text(&e)
                ));
            }
            Err(e) => return Err(e),
        }
        mask_secret_values(&o.object, &mut fields);
        out.drifted.push(ObjectDrift {
            key: o.key.clone(),
            status: ObjectStatus::Modified,
            decided_by,
            diff: object_diff(&o.object, live_object),
            fields,
            note,
            taken,
        });
    }
    for (_, key) in &leftovers {
        if live.contains_key(key) {
            out.drifted.push(ObjectDrift {
                key: key.clone(),
                status: ObjectStatus::ToBePruned,
                decided_by: DecidedBy::Presence,
                fields: Vec::new(),
                diff: String::new(),
                note: None,
                taken: Vec::new(),
            });
        }
    }
    Ok(out)
}

/// The controllers on the cluster that Git does not hold and that could own
/// a field of a live object of `desired` (the HPAs made by hand or by
/// another tool): read only when such an object exists, so a cluster
/// without one costs no request.
pub(crate) async fn live_controllers<D: Destination>(
    destination: &mut D,
    desired: &DesiredState,
    live: &std::collections::HashMap<ObjectKey, std::sync::Arc<serde_json::Value>>,
) -> Result<Vec<std::sync::Arc<serde_json::Value>>, ClusterError> {
    let reads = flotilla_core::diff::controlled::live_controller_reads(
        desired.objects.iter().map(|o| &o.object),
        |k| live.contains_key(k),
    );
    if reads.is_empty() {
        return Ok(Vec::new());
    }
    destination.controllers(&reads).await
}

/// The note on a missing object whose kind the cluster does not serve.
pub fn not_served(api_version: &str, kind: &str) -> String {
    format!("kind {kind} ({api_version}) is not served by the cluster (is its CRD installed?)")
}

/// Whether ignored pointer `ignored` is `path` or one of its parents.
fn covers(ignored: &str, path: &str) -> bool {
    path == ignored
        || path
            .strip_prefix(ignored)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The text of a refusal as drift notes have always shown it: the context,
/// the server's message, and for plain refusals its code and reason.
fn refusal_text(e: &ClusterError) -> String {
    match e {
        ClusterError::Conflict {
            context, status, ..
        } => format!("{context}: {}", status.message),
        other => other.to_string(),
    }
}
