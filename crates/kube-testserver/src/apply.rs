//! Server-side apply: merging an applied configuration into the live object,
//! detecting conflicts with other field managers, and removing fields the
//! applier stopped applying (a schema-less model of structured-merge-diff).

use serde_json::{Map, Value};

use crate::managed_fields::{
    FieldSet, ListType, ManagedEntry, Path, applied_set, canonical_json, child, compare, get_at,
    is_atomic, item, item_key, list_type_pair, path_string, remove_at, strip_untracked,
};
use crate::schema::Ty;
use crate::status::{ApiError, StatusCause};

/// Drops `null` values from objects (recursively); `null` in an applied
/// configuration means "not set" here.
fn strip_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_nulls).collect()),
        other => other.clone(),
    }
}

/// Merges `cfg` into `live`: objects field by field, associative lists and
/// sets item by item (ordered as structured-merge-diff orders them, see
/// [`merge_list_order`]), everything else replaced by the applied value.
pub(crate) fn merge(live: &Value, cfg: &Value, field: Option<&str>, ty: Option<Ty<'_>>) -> Value {
    match (live, cfg) {
        (Value::Object(_), Value::Object(_)) if is_atomic(ty) => strip_nulls(cfg),
        (Value::Object(l), Value::Object(c)) => {
            let mut out = l.clone();
            for (k, cv) in c {
                if cv.is_null() {
                    out.remove(k);
                    continue;
                }
                let merged = match l.get(k) {
                    Some(lv) => merge(lv, cv, Some(k), child(ty, k)),
                    None => strip_nulls(cv),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(c)) => match list_type_pair(ty, field, l, c) {
            ListType::Map(keys) => {
                let key = |i: &Value| item_key(i, &keys).unwrap_or_default();
                Value::Array(merge_list_order(l, c, key, |li, ci| match li {
                    Some(li) => merge(li, ci, None, item(ty)),
                    None => strip_nulls(ci),
                }))
            }
            ListType::Set => {
                Value::Array(merge_list_order(l, c, canonical_json, |_, ci| ci.clone()))
            }
            ListType::Atomic => strip_nulls(cfg),
        },
        (_, c) => strip_nulls(c),
    }
}

/// The item order of a merged associative list or set, as
/// structured-merge-diff's `visitListItems` builds it (`typed/merge.go`):
/// both lists are walked together; items only in the live list keep their
/// place, applied items come in applied order, and an item in both is
/// placed where the applied list puts it relative to the other applied
/// items. Re-applying the same items in the same order keeps the live order;
/// new items land where the configuration puts them (after the live-only
/// items when there is no shared item to anchor them).
fn merge_list_order(
    live: &[Value],
    cfg: &[Value],
    key: impl Fn(&Value) -> String,
    merge_item: impl Fn(Option<&Value>, &Value) -> Value,
) -> Vec<Value> {
    let lk: Vec<String> = live.iter().map(&key).collect();
    let ck: Vec<String> = cfg.iter().map(&key).collect();
    let in_live = |k: &str| lk.iter().position(|x| x == k);
    let in_cfg = |k: &str| ck.iter().any(|x| x == k);
    let mut shared = ck
        .iter()
        .filter(|k| in_live(k).is_some())
        .cloned()
        .collect::<std::collections::VecDeque<String>>();
    let mut next_shared = shared.pop_front();
    let mut out = Vec::with_capacity(live.len().max(cfg.len()));
    let (mut li, mut ri) = (0, 0);
    while li < live.len() || ri < cfg.len() {
        if li < live.len() && ri < cfg.len() {
            if lk[li] == ck[ri] {
                out.push(merge_item(Some(&live[li]), &cfg[ri]));
                li += 1;
                ri += 1;
                next_shared = shared.pop_front();
                continue;
            }
            if in_cfg(&lk[li]) && next_shared.as_ref().is_some_and(|n| *n != lk[li]) {
                // Shared, but not the one this round wants.
                li += 1;
                continue;
            }
        }
        if li < live.len() && !in_cfg(&lk[li]) {
            out.push(live[li].clone());
            li += 1;
            continue;
        }
        if ri < cfg.len() {
            let k = &ck[ri];
            let l = in_live(k).map(|i| &live[i]);
            out.push(merge_item(l, &cfg[ri]));
            if next_shared.as_ref() == Some(k) {
                next_shared = shared.pop_front();
            }
            ri += 1;
            continue;
        }
        // Only shared items merged already are left on the live side.
        li += 1;
    }
    out
}

/// The result of a successful apply.
#[derive(Debug)]
pub(crate) struct Applied {
    /// The new object (managedFields not yet re-encoded).
    pub object: Value,
    /// The new managedFields entries.
    pub entries: Vec<ManagedEntry>,
}

/// Inputs of one apply.
pub(crate) struct ApplyRequest<'a> {
    /// The live object (`{}` when creating).
    pub live: &'a Value,
    /// The live managedFields entries.
    pub entries: Vec<ManagedEntry>,
    /// The applied configuration, already scoped to the subresource.
    pub config: &'a Value,
    pub manager: &'a str,
    pub api_version: &'a str,
    pub subresource: &'a str,
    pub force: bool,
    pub now: &'a str,
    /// The object's schema, if known.
    pub ty: Option<Ty<'a>>,
}

/// Applies a configuration: merge, conflict check, ownership transfer (with
/// `force`), and removal of fields this manager applied before and omits now
/// (unless another manager owns them).
pub(crate) fn apply(req: ApplyRequest<'_>) -> Result<Applied, ApiError> {
    let cfg = strip_untracked(req.config);
    let set = applied_set(&cfg, req.ty);
    let merged = merge(req.live, &cfg, None, req.ty);

    let cmp = compare(req.live, &merged, req.ty);
    let changed = cmp.added.union(&cmp.modified);

    let mine = |e: &ManagedEntry| {
        e.manager == req.manager && e.operation == "Apply" && e.subresource == req.subresource
    };
    let old_entries = req.entries.clone();
    let mut entries = req.entries;
    let last_set = entries
        .iter()
        .find(|e| mine(e))
        .map(|e| e.fields.clone())
        .unwrap_or_default();

    // Conflicts: fields this apply changes that another manager owns.
    let mut conflicts: Vec<(usize, Path)> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if mine(e) {
            continue;
        }
        for p in e.fields.intersection(&changed).iter() {
            conflicts.push((i, p.clone()));
        }
    }
    if !conflicts.is_empty() && !req.force {
        return Err(conflict_error(&entries, conflicts));
    }
    for (i, p) in &conflicts {
        let mut one = FieldSet::default();
        one.insert(p.clone());
        entries[*i].fields = entries[*i].fields.difference(&one);
    }

    // Prune what this manager applied before, omits now, and nobody else owns.
    let others = entries
        .iter()
        .filter(|e| !mine(e))
        .fold(FieldSet::default(), |acc, e| acc.union(&e.fields));
    let keep = set.union(&others);
    let mut object = merged;
    let to_remove = last_set.difference(&keep);
    for p in to_remove.iter() {
        if keep.has_descendant(p) {
            continue;
        }
        if remove_at(&mut object, p) {
            remove_empty_parents(&mut object, p, &keep);
        }
    }

    // New ownership.
    match entries.iter_mut().find(|e| mine(e)) {
        Some(e) => {
            e.fields = set;
            e.api_version = req.api_version.into();
        }
        None => entries.push(ManagedEntry {
            manager: req.manager.into(),
            operation: "Apply".into(),
            api_version: req.api_version.into(),
            time: None,
            subresource: req.subresource.into(),
            fields: set,
        }),
    }
    entries.retain(|e| !e.fields.is_empty());

    let ownership_changed = old_entries.len() != entries.len()
        || old_entries.iter().any(|o| {
            !entries.iter().any(|n| {
                n.same_identity(o) && n.fields == o.fields && n.api_version == o.api_version
            })
        });
    // `null` and absent are the same to the typed object (the zero
    // `creationTimestamp` of templates is stored as `null`).
    let object_changed =
        strip_nulls(&strip_untracked(&object)) != strip_nulls(&strip_untracked(req.live));
    for e in entries.iter_mut() {
        if mine(e) {
            let previous = old_entries
                .iter()
                .find(|o| mine(o))
                .and_then(|o| o.time.clone());
            e.time = if object_changed || ownership_changed || previous.is_none() {
                Some(req.now.into())
            } else {
                previous
            };
        }
    }
    Ok(Applied { object, entries })
}

/// After removing `path`, removes parent objects left empty that nobody owns
/// (never a top-level field).
fn remove_empty_parents(obj: &mut Value, path: &Path, keep: &FieldSet) {
    let mut p = path.clone();
    // Bounded by the path length.
    while p.len() > 2 {
        p.pop();
        let empty = matches!(get_at(obj, &p), Some(Value::Object(m)) if m.is_empty());
        let is_field = matches!(p.last(), Some(crate::managed_fields::PathElement::Field(_)));
        if empty && is_field && !keep.contains(&p) {
            remove_at(obj, &p);
        } else {
            break;
        }
    }
}

/// The 409 the real server returns for apply conflicts.
fn conflict_error(entries: &[ManagedEntry], mut conflicts: Vec<(usize, Path)>) -> ApiError {
    conflicts.sort_by(|a, b| {
        entries[a.0]
            .manager
            .cmp(&entries[b.0].manager)
            .then_with(|| a.1.cmp(&b.1))
    });
    let causes: Vec<StatusCause> = conflicts
        .iter()
        .map(|(i, p)| StatusCause {
            reason: "FieldManagerConflict".into(),
            message: format!("conflict with {}", entries[*i].display()),
            field: path_string(p),
        })
        .collect();
    let message = if conflicts.len() == 1 {
        let (i, p) = &conflicts[0];
        format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            entries[*i].display(),
            path_string(p)
        )
    } else {
        let mut by_manager: Vec<(usize, Vec<&Path>)> = Vec::new();
        for (i, p) in &conflicts {
            match by_manager.iter_mut().find(|(j, _)| j == i) {
                Some((_, ps)) => ps.push(p),
                None => by_manager.push((*i, vec![p])),
            }
        }
        let mut lines = Vec::new();
        for (i, ps) in by_manager {
            lines.push(format!("conflicts with {}:", entries[i].display()));
            for p in ps {
                lines.push(format!("- {}", path_string(p)));
            }
        }
        format!(
            "Apply failed with {} conflicts: {}",
            conflicts.len(),
            lines.join("\n")
        )
    };
    ApiError::apply_conflict(message, causes)
}

/// Limits an applied configuration to what a subresource write may change:
/// the main resource ignores `status` (when there is a status subresource),
/// the status subresource ignores everything but `status`.
pub(crate) fn scope_config(cfg: &Value, status_subresource: bool, to_status: bool) -> Value {
    let mut out = Map::new();
    if let Some(m) = cfg.as_object() {
        for (k, v) in m {
            let keep = if to_status {
                k == "status" || k == "apiVersion" || k == "kind" || k == "metadata"
            } else {
                !(status_subresource && k == "status")
            };
            if keep {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    if to_status {
        // Only identity metadata; labels etc. are not changed via /status.
        if let Some(Value::Object(meta)) = out.get_mut("metadata") {
            meta.retain(|k, _| k == "name" || k == "namespace" || k == "resourceVersion");
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::managed_fields::decode;
    use serde_json::json;

    fn req<'a>(
        live: &'a Value,
        entries: Vec<ManagedEntry>,
        cfg: &'a Value,
        manager: &'a str,
        force: bool,
    ) -> ApplyRequest<'a> {
        ApplyRequest {
            live,
            entries,
            config: cfg,
            manager,
            api_version: "apps/v1",
            subresource: "",
            force,
            now: "2024-01-01T00:00:00Z",
            ty: None,
        }
    }

    #[test]
    fn merge_keyed_lists() {
        let live = json!({"c": [{"name": "a", "image": "1"}, {"name": "side", "image": "s"}]});
        let cfg = json!({"c": [{"name": "a", "image": "2"}]});
        let m = merge(&live, &cfg, None, None);
        assert_eq!(
            m,
            json!({"c": [{"name": "a", "image": "2"}, {"name": "side", "image": "s"}]})
        );
    }

    fn names(v: &Value) -> Vec<&str> {
        v["c"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap())
            .collect()
    }

    fn order(live: &[&str], cfg: &[&str]) -> Vec<String> {
        let l = json!({"c": live.iter().map(|n| json!({"name": n})).collect::<Vec<_>>()});
        let c = json!({"c": cfg.iter().map(|n| json!({"name": n})).collect::<Vec<_>>()});
        names(&merge(&l, &c, None, None))
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn merged_list_order_is_structured_merge_diffs() {
        // Live-only items keep their place, new ones follow them.
        assert_eq!(order(&["a", "side"], &["a", "x"]), ["a", "side", "x"]);
        assert_eq!(order(&["a", "b"], &["c"]), ["a", "b", "c"]);
        // New items land where the configuration puts them.
        assert_eq!(order(&["a", "b"], &["a", "x", "b"]), ["a", "x", "b"]);
        assert_eq!(order(&["a", "b"], &["c", "a"]), ["c", "a", "b"]);
        // Shared items follow the configuration's order.
        assert_eq!(order(&["a", "b"], &["b", "a"]), ["b", "a"]);
        assert_eq!(order(&["a", "side", "b"], &["b", "a"]), ["side", "b", "a"]);
        assert_eq!(order(&["a", "b", "c"], &["a", "b", "c"]), ["a", "b", "c"]);
        assert_eq!(order(&[], &["b", "a"]), ["b", "a"]);
        // Sets too.
        let m = merge(
            &json!({"metadata": {"finalizers": ["x", "y"]}}),
            &json!({"metadata": {"finalizers": ["z", "x"]}}),
            None,
            None,
        );
        assert_eq!(m["metadata"]["finalizers"], json!(["z", "x", "y"]));
    }

    #[test]
    fn apply_then_conflict_then_force() {
        let cfg1 = json!({"spec": {"replicas": 1, "paused": false}});
        let a = apply(req(&json!({}), vec![], &cfg1, "a", false)).unwrap();
        let cfg2 = json!({"spec": {"replicas": 2}});
        let err = apply(req(&a.object, a.entries.clone(), &cfg2, "b", false)).unwrap_err();
        assert_eq!(err.code, 409);
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"a\": .spec.replicas"
        );
        let d = err.details.unwrap();
        assert_eq!(d.causes[0].field, ".spec.replicas");
        assert_eq!(d.causes[0].reason, "FieldManagerConflict");
        let forced = apply(req(&a.object, a.entries, &cfg2, "b", true)).unwrap();
        assert_eq!(forced.object["spec"]["replicas"], 2);
        let a_entry = forced.entries.iter().find(|e| e.manager == "a").unwrap();
        assert!(
            !a_entry.fields.to_fields_v1()["f:spec"]
                .as_object()
                .unwrap()
                .contains_key("f:replicas")
        );
    }

    #[test]
    fn same_value_is_shared_not_conflicting() {
        let cfg = json!({"spec": {"replicas": 1}});
        let a = apply(req(&json!({}), vec![], &cfg, "a", false)).unwrap();
        let b = apply(req(&a.object, a.entries, &cfg, "b", false)).unwrap();
        assert_eq!(b.entries.len(), 2);
    }

    #[test]
    fn dropped_fields_are_pruned_unless_shared() {
        let cfg1 = json!({"metadata": {"labels": {"x": "1", "y": "2"}}, "spec": {"a": 1}});
        let a = apply(req(&json!({}), vec![], &cfg1, "a", false)).unwrap();
        let cfg2 = json!({"metadata": {"labels": {"x": "1"}}});
        let b = apply(req(&a.object, a.entries, &cfg2, "a", false)).unwrap();
        assert_eq!(
            b.object,
            json!({"metadata": {"labels": {"x": "1"}}, "spec": {}})
        );
    }

    #[test]
    fn update_managers_conflict_with_using() {
        let live = json!({"metadata": {"managedFields": [{
            "manager": "kubectl-edit", "operation": "Update", "apiVersion": "apps/v1",
            "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}
        }]}, "spec": {"replicas": 5}});
        let entries = decode(&live).unwrap();
        let err = apply(req(
            &live,
            entries,
            &json!({"spec": {"replicas": 3}}),
            "flotilla",
            false,
        ))
        .unwrap_err();
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.replicas"
        );
    }
}
