//! Field ownership (`metadata.managedFields`): field paths, field sets in the
//! `FieldsV1` encoding (`f:`, `k:`, `v:`, `i:`, `.`), list typing, and the
//! comparison that attributes changes to a manager for `Update` operations.
//!
//! Fields are typed through the kind's schema ([`crate::schema`]) where
//! there is one: atomic maps/structs are single nodes, lists are atomic,
//! sets or maps by their declared list type. Without a schema, values are
//! typed by shape:
//!
//! * every JSON object is treated as a struct: its keys are separate fields,
//!   and a non-empty object is not itself owned by an applier (only its leaves);
//! * a list is *associative* (items keyed `k:{...}`) when its field name is a
//!   well-known keyed list (`containers`, `env`, `volumes`, `volumeMounts` by
//!   `mountPath`, `ports` by `containerPort`/`port` + `protocol` (default
//!   `TCP`), `conditions` by `type`, `ownerReferences` by `uid`, ...) or when
//!   every item is an object with a unique string `name`;
//! * `finalizers` lists of strings are sets (`v:"..."`);
//! * every other list is atomic (owned and replaced as a whole).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::schema::Ty;

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum PathElement {
    /// A field of an object: `f:name`.
    Field(String),
    /// An item of an associative list, by its key fields (canonical JSON
    /// object): `k:{"name":"x"}`.
    Key(String),
    /// An item of a set, by value (canonical JSON): `v:"x"`.
    Value(String),
    /// An item by position: `i:0` (decoded only; never produced).
    Index(usize),
}

/// A field path from the object root.
pub(crate) type Path = Vec<PathElement>;

/// A set of field paths (`fieldpath.Set`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldSet(BTreeSet<Path>);

impl FieldSet {
    pub(crate) fn insert(&mut self, p: Path) {
        if !p.is_empty() {
            self.0.insert(p);
        }
    }

    pub(crate) fn contains(&self, p: &Path) -> bool {
        self.0.contains(p)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Path> {
        self.0.iter()
    }

    pub(crate) fn union(&self, other: &FieldSet) -> FieldSet {
        FieldSet(self.0.union(&other.0).cloned().collect())
    }

    pub(crate) fn difference(&self, other: &FieldSet) -> FieldSet {
        FieldSet(self.0.difference(&other.0).cloned().collect())
    }

    pub(crate) fn intersection(&self, other: &FieldSet) -> FieldSet {
        FieldSet(self.0.intersection(&other.0).cloned().collect())
    }

    /// Removes `prefix` and every path below it.
    pub(crate) fn remove_prefixed(&mut self, prefix: &Path) {
        self.0.retain(|p| !p.starts_with(prefix));
    }

    /// Whether some path lies strictly below `prefix`.
    pub(crate) fn has_descendant(&self, prefix: &Path) -> bool {
        self.0
            .iter()
            .any(|p| p.len() > prefix.len() && p.starts_with(prefix))
    }

    /// The `FieldsV1` JSON encoding.
    pub(crate) fn to_fields_v1(&self) -> Value {
        #[derive(Default)]
        struct Node {
            member: bool,
            children: BTreeMap<PathElement, Node>,
        }
        let mut root = Node::default();
        for p in &self.0 {
            let mut n = &mut root;
            for e in p {
                n = n.children.entry(e.clone()).or_default();
            }
            n.member = true;
        }
        fn render(n: &Node) -> Value {
            let mut m = Map::new();
            if n.member && !n.children.is_empty() {
                m.insert(".".into(), json!({}));
            }
            for (e, c) in &n.children {
                m.insert(encode_element(e), render(c));
            }
            Value::Object(m)
        }
        render(&root)
    }

    /// Decodes `FieldsV1` JSON.
    pub(crate) fn from_fields_v1(v: &Value) -> Result<FieldSet, String> {
        fn walk(v: &Value, path: &mut Path, out: &mut FieldSet) -> Result<(), String> {
            let m = v
                .as_object()
                .ok_or_else(|| "FieldsV1 nodes must be objects".to_string())?;
            if m.is_empty() {
                out.insert(path.clone());
                return Ok(());
            }
            for (k, child) in m {
                if k == "." {
                    out.insert(path.clone());
                    continue;
                }
                path.push(decode_element(k)?);
                walk(child, path, out)?;
                path.pop();
            }
            Ok(())
        }
        let mut out = FieldSet::default();
        let mut path = Vec::new();
        if v.as_object().is_some_and(|m| m.is_empty()) {
            return Ok(out);
        }
        walk(v, &mut path, &mut out)?;
        Ok(out)
    }
}

/// JSON with object keys sorted (recursively), compact.
pub(crate) fn canonical_json(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut out = Map::new();
                for k in keys {
                    out.insert(k.clone(), sorted(&m[k]));
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(v).to_string()
}

fn encode_element(e: &PathElement) -> String {
    match e {
        PathElement::Field(f) => format!("f:{f}"),
        PathElement::Key(k) => format!("k:{k}"),
        PathElement::Value(v) => format!("v:{v}"),
        PathElement::Index(i) => format!("i:{i}"),
    }
}

fn decode_element(s: &str) -> Result<PathElement, String> {
    let parse_json = |t: &str| -> Result<String, String> {
        serde_json::from_str::<Value>(t)
            .map(|v| canonical_json(&v))
            .map_err(|e| format!("invalid FieldsV1 key {s:?}: {e}"))
    };
    if let Some(f) = s.strip_prefix("f:") {
        Ok(PathElement::Field(f.to_string()))
    } else if let Some(k) = s.strip_prefix("k:") {
        Ok(PathElement::Key(parse_json(k)?))
    } else if let Some(v) = s.strip_prefix("v:") {
        Ok(PathElement::Value(parse_json(v)?))
    } else if let Some(i) = s.strip_prefix("i:") {
        i.parse()
            .map(PathElement::Index)
            .map_err(|_| format!("invalid FieldsV1 index {s:?}"))
    } else {
        Err(format!("invalid FieldsV1 element {s:?}"))
    }
}

/// A path as the real server prints it in conflicts:
/// `.spec.template.spec.containers[name="app"].image`.
pub(crate) fn path_string(p: &Path) -> String {
    let mut s = String::new();
    for e in p {
        match e {
            PathElement::Field(f) => {
                s.push('.');
                s.push_str(f);
            }
            PathElement::Key(k) => {
                let parts: Vec<String> = serde_json::from_str::<Value>(k)
                    .ok()
                    .and_then(|v| v.as_object().cloned())
                    .unwrap_or_default()
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                s.push('[');
                s.push_str(&parts.join(","));
                s.push(']');
            }
            PathElement::Value(v) => {
                s.push_str("[=");
                s.push_str(v);
                s.push(']');
            }
            PathElement::Index(i) => {
                s.push_str(&format!("[{i}]"));
            }
        }
    }
    s
}

/// How a list's items are identified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ListType {
    /// Replaced and owned as a whole.
    Atomic,
    /// Items are scalars identified by value.
    Set,
    /// Items are objects identified by these key fields.
    Map(Vec<String>),
}

/// Well-known associative lists and set lists, by field name.
fn known_list(field: &str, items: &[Value]) -> Option<ListType> {
    let keys: &[&str] = match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "resourceClaims"
        | "schedulingGates" => &["name"],
        "volumeMounts" => &["mountPath"],
        "volumeDevices" => &["devicePath"],
        "conditions" => &["type"],
        "ownerReferences" => &["uid"],
        "hostAliases" => &["ip"],
        "topologySpreadConstraints" => &["topologyKey", "whenUnsatisfiable"],
        "ports" => {
            if items.iter().any(|i| i.get("containerPort").is_some()) {
                &["containerPort", "protocol"]
            } else if items.iter().any(|i| i.get("port").is_some()) {
                &["port", "protocol"]
            } else {
                return None;
            }
        }
        "finalizers" => return Some(ListType::Set),
        _ => return None,
    };
    Some(ListType::Map(keys.iter().map(|k| k.to_string()).collect()))
}

/// The value of key field `k` in `item`, with the schema default `TCP` for a
/// missing `protocol`.
fn key_value(item: &Value, k: &str) -> Option<Value> {
    match item.get(k) {
        Some(v) if !v.is_null() => Some(v.clone()),
        _ if k == "protocol" => Some(json!("TCP")),
        _ => None,
    }
}

/// The canonical key of `item` for key fields `keys`.
pub(crate) fn item_key<K: AsRef<str>>(item: &Value, keys: &[K]) -> Option<String> {
    if !item.is_object() {
        return None;
    }
    let mut m = Map::new();
    for k in keys {
        let k = k.as_ref();
        m.insert(k.to_string(), key_value(item, k)?);
    }
    Some(canonical_json(&Value::Object(m)))
}

/// Checks the shape of `items` against a candidate type.
fn fits(t: &ListType, items: &[Value]) -> bool {
    match t {
        ListType::Atomic => true,
        ListType::Set => {
            let mut seen = BTreeSet::new();
            items
                .iter()
                .all(|i| !i.is_object() && !i.is_array() && seen.insert(canonical_json(i)))
        }
        ListType::Map(keys) => {
            let mut seen = BTreeSet::new();
            items
                .iter()
                .all(|i| item_key(i, keys).is_some_and(|k| seen.insert(k)))
        }
    }
}

/// Types one list (by field name and contents). `None` for an empty list of
/// unknown type.
fn list_type_one(ty: Option<Ty<'_>>, field: Option<&str>, items: &[Value]) -> Option<ListType> {
    if let Some(t) = ty.and_then(|t| t.list_type()) {
        return Some(if fits(&t, items) { t } else { ListType::Atomic });
    }
    if let Some(t) = field.and_then(|f| known_list(f, items)) {
        return Some(if fits(&t, items) { t } else { ListType::Atomic });
    }
    if items.is_empty() {
        return None;
    }
    let by_name = ListType::Map(vec!["name".to_string()]);
    if items
        .iter()
        .all(|i| i.get("name").is_some_and(Value::is_string))
        && fits(&by_name, items)
    {
        Some(by_name)
    } else {
        Some(ListType::Atomic)
    }
}

/// The type for one list on its own.
#[cfg(test)]
pub(crate) fn list_type(field: Option<&str>, items: &[Value]) -> ListType {
    list_type_one(None, field, items).unwrap_or(ListType::Atomic)
}

/// The type under which two versions of a list are compared or merged: both
/// sides must agree, otherwise the list is atomic.
pub(crate) fn list_type_pair(
    ty: Option<Ty<'_>>,
    field: Option<&str>,
    a: &[Value],
    b: &[Value],
) -> ListType {
    match (list_type_one(ty, field, a), list_type_one(ty, field, b)) {
        (None, None) => ListType::Atomic,
        (Some(t), None) | (None, Some(t)) => t,
        (Some(x), Some(y)) if x == y => x,
        _ => ListType::Atomic,
    }
}

/// Fields never tracked in managedFields (the real server strips these).
const UNTRACKED_META: &[&str] = &[
    "name",
    "namespace",
    "creationTimestamp",
    "selfLink",
    "uid",
    "generation",
    "managedFields",
    "resourceVersion",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// `obj` without `apiVersion`, `kind` and the system metadata fields.
pub(crate) fn strip_untracked(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("apiVersion");
        m.remove("kind");
        let empty = if let Some(Value::Object(meta)) = m.get_mut("metadata") {
            for f in UNTRACKED_META {
                meta.remove(*f);
            }
            meta.is_empty()
        } else {
            false
        };
        if empty {
            m.remove("metadata");
        }
    }
    v
}

/// The fields an applied configuration sets (`ToFieldSet`): leaves, list
/// items, empty objects and atomic lists.
pub(crate) fn applied_set(cfg: &Value, ty: Option<Ty<'_>>) -> FieldSet {
    fn walk(
        v: &Value,
        ty: Option<Ty<'_>>,
        field: Option<&str>,
        path: &mut Path,
        out: &mut FieldSet,
    ) {
        match v {
            Value::Object(_) if is_atomic(ty) => out.insert(path.clone()),
            Value::Object(m) => {
                if m.is_empty() {
                    out.insert(path.clone());
                }
                for (k, c) in m {
                    path.push(PathElement::Field(k.clone()));
                    walk(c, child(ty, k), Some(k), path, out);
                    path.pop();
                }
            }
            Value::Array(items) => match list_type_one(ty, field, items) {
                Some(ListType::Map(keys)) => {
                    for it in items {
                        if let Some(k) = item_key(it, &keys) {
                            path.push(PathElement::Key(k));
                            out.insert(path.clone());
                            walk(it, item(ty), None, path, out);
                            path.pop();
                        }
                    }
                }
                Some(ListType::Set) => {
                    for it in items {
                        path.push(PathElement::Value(canonical_json(it)));
                        out.insert(path.clone());
                        path.pop();
                    }
                }
                Some(ListType::Atomic) | None => out.insert(path.clone()),
            },
            _ => out.insert(path.clone()),
        }
    }
    let mut out = FieldSet::default();
    walk(&strip_untracked(cfg), ty, None, &mut Vec::new(), &mut out);
    out
}

/// The type of field or map key `k` of an object of type `ty`.
pub(crate) fn child<'a>(ty: Option<Ty<'a>>, k: &str) -> Option<Ty<'a>> {
    ty.and_then(|t| t.child(k))
}

/// The item type of a list of type `ty`.
pub(crate) fn item<'a>(ty: Option<Ty<'a>>) -> Option<Ty<'a>> {
    ty.and_then(|t| t.item())
}

/// Whether `ty` is an atomic map or struct (owned and replaced whole).
pub(crate) fn is_atomic(ty: Option<Ty<'_>>) -> bool {
    ty.is_some_and(|t| t.atomic_object())
}

/// What changed between two versions of an object.
#[derive(Clone, Debug, Default)]
pub(crate) struct Comparison {
    /// Nodes present only in the new version (objects, items and leaves).
    pub added: FieldSet,
    /// Leaves (scalars, atomic lists) whose value changed.
    pub modified: FieldSet,
    /// Roots of subtrees present only in the old version.
    pub removed: Vec<Path>,
}

/// Top-level fields that are Go structs in every built-in type: present even
/// in an empty object, so creating them does not make them owned nodes.
const TOP_LEVEL_STRUCTS: &[&str] = &["metadata", "spec", "status"];

fn add_all(
    v: &Value,
    ty: Option<Ty<'_>>,
    field: Option<&str>,
    path: &mut Path,
    out: &mut FieldSet,
) {
    match v {
        Value::Object(_) if is_atomic(ty) => out.insert(path.clone()),
        Value::Object(m) => {
            // Without a schema, top-level metadata/spec/status count as
            // structs present in every object; with one, the schema says.
            let top_struct = ty.is_none()
                && path.len() == 1
                && field.is_some_and(|f| TOP_LEVEL_STRUCTS.contains(&f));
            let present = ty.is_some_and(|t| t.node().present) && !m.is_empty();
            if !top_struct && !present {
                out.insert(path.clone());
            }
            for (k, c) in m {
                if c.is_null() {
                    continue;
                }
                path.push(PathElement::Field(k.clone()));
                add_all(c, child(ty, k), Some(k), path, out);
                path.pop();
            }
        }
        Value::Array(items) => match list_type_one(ty, field, items) {
            Some(ListType::Map(keys)) => {
                for it in items {
                    if let Some(k) = item_key(it, &keys) {
                        path.push(PathElement::Key(k));
                        add_all(it, item(ty), None, path, out);
                        path.pop();
                    }
                }
            }
            Some(ListType::Set) => {
                for it in items {
                    path.push(PathElement::Value(canonical_json(it)));
                    out.insert(path.clone());
                    path.pop();
                }
            }
            Some(ListType::Atomic) => out.insert(path.clone()),
            None => {}
        },
        _ => out.insert(path.clone()),
    }
}

/// Compares two objects (after [`strip_untracked`]).
pub(crate) fn compare(old: &Value, new: &Value, ty: Option<Ty<'_>>) -> Comparison {
    fn walk(
        a: &Value,
        b: &Value,
        ty: Option<Ty<'_>>,
        field: Option<&str>,
        path: &mut Path,
        c: &mut Comparison,
    ) {
        match (a, b) {
            (Value::Object(_), Value::Object(_)) if is_atomic(ty) => {
                if strip_null_fields(a) != strip_null_fields(b) {
                    c.modified.insert(path.clone());
                }
            }
            // `null` fields count as absent (the typed object has them unset;
            // a template's `creationTimestamp: null` is owned by nobody).
            (Value::Object(x), Value::Object(y)) => {
                for (k, bv) in y {
                    if bv.is_null() {
                        continue;
                    }
                    path.push(PathElement::Field(k.clone()));
                    let ct = child(ty, k);
                    match x.get(k).filter(|v| !v.is_null()) {
                        // A non-pointer struct is in the old object's zero
                        // value already: only its content can be new.
                        None if bv.is_object() && ct.is_some_and(|t| t.node().present) => {
                            walk(&json!({}), bv, ct, Some(k), path, c)
                        }
                        None => add_all(bv, ct, Some(k), path, &mut c.added),
                        Some(av) => walk(av, bv, ct, Some(k), path, c),
                    }
                    path.pop();
                }
                for (k, av) in x {
                    if !av.is_null() && y.get(k).is_none_or(Value::is_null) {
                        path.push(PathElement::Field(k.clone()));
                        c.removed.push(path.clone());
                        path.pop();
                    }
                }
            }
            (Value::Array(x), Value::Array(y)) => match list_type_pair(ty, field, x, y) {
                ListType::Map(keys) => {
                    let index = |items: &Vec<Value>| -> BTreeMap<String, Value> {
                        items
                            .iter()
                            .filter_map(|i| item_key(i, &keys).map(|k| (k, i.clone())))
                            .collect()
                    };
                    let (xa, ya) = (index(x), index(y));
                    for (k, bv) in &ya {
                        path.push(PathElement::Key(k.clone()));
                        match xa.get(k) {
                            None => add_all(bv, item(ty), None, path, &mut c.added),
                            Some(av) => walk(av, bv, item(ty), None, path, c),
                        }
                        path.pop();
                    }
                    for k in xa.keys() {
                        if !ya.contains_key(k) {
                            path.push(PathElement::Key(k.clone()));
                            c.removed.push(path.clone());
                            path.pop();
                        }
                    }
                }
                ListType::Set => {
                    let xs: BTreeSet<String> = x.iter().map(canonical_json).collect();
                    let ys: BTreeSet<String> = y.iter().map(canonical_json).collect();
                    for v in ys.difference(&xs) {
                        path.push(PathElement::Value(v.clone()));
                        c.added.insert(path.clone());
                        path.pop();
                    }
                    for v in xs.difference(&ys) {
                        path.push(PathElement::Value(v.clone()));
                        c.removed.push(path.clone());
                        path.pop();
                    }
                }
                ListType::Atomic => {
                    if x != y {
                        c.modified.insert(path.clone());
                    }
                }
            },
            (a, b) => {
                if a != b {
                    if a.is_object() || a.is_array() {
                        c.removed.push(path.clone());
                    }
                    if b.is_object() || b.is_array() {
                        // A container replaced a scalar: its content is new.
                        add_all(b, ty, field, path, &mut c.added);
                    }
                    c.modified.insert(path.clone());
                }
            }
        }
    }
    let mut c = Comparison::default();
    walk(
        &strip_untracked(old),
        &strip_untracked(new),
        ty,
        None,
        &mut Vec::new(),
        &mut c,
    );
    c
}

/// `v` without `null` object fields (recursively).
pub(crate) fn strip_null_fields(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_null_fields(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_null_fields).collect()),
        other => other.clone(),
    }
}

/// Finds the item of `items` a path element designates.
fn find_item(items: &[Value], e: &PathElement) -> Option<usize> {
    match e {
        PathElement::Key(k) => {
            let key: Map<String, Value> = serde_json::from_str::<Value>(k)
                .ok()
                .and_then(|v| v.as_object().cloned())?;
            let keys: Vec<&str> = key.keys().map(String::as_str).collect::<Vec<_>>();
            items
                .iter()
                .position(|i| item_key(i, &keys).as_deref() == Some(k.as_str()))
        }
        PathElement::Value(v) => items.iter().position(|i| &canonical_json(i) == v),
        PathElement::Index(i) => (*i < items.len()).then_some(*i),
        PathElement::Field(_) => None,
    }
}

/// The value at `path`, if present.
pub(crate) fn get_at<'a>(v: &'a Value, path: &[PathElement]) -> Option<&'a Value> {
    let mut cur = v;
    for e in path {
        cur = match (e, cur) {
            (PathElement::Field(f), Value::Object(m)) => m.get(f)?,
            (_, Value::Array(items)) => &items[find_item(items, e)?],
            _ => return None,
        };
    }
    Some(cur)
}

/// Removes the value at `path`; true if something was removed.
pub(crate) fn remove_at(v: &mut Value, path: &[PathElement]) -> bool {
    let Some((last, parent)) = path.split_last() else {
        return false;
    };
    let mut cur = v;
    for e in parent {
        cur = match (e, cur) {
            (PathElement::Field(f), Value::Object(m)) => match m.get_mut(f) {
                Some(c) => c,
                None => return false,
            },
            (_, Value::Array(items)) => match find_item(items, e) {
                Some(i) => &mut items[i],
                None => return false,
            },
            _ => return false,
        };
    }
    match (last, cur) {
        (PathElement::Field(f), Value::Object(m)) => m.remove(f).is_some(),
        (e, Value::Array(items)) => match find_item(items, e) {
            Some(i) => {
                items.remove(i);
                true
            }
            None => false,
        },
        _ => false,
    }
}

/// One `metadata.managedFields` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ManagedEntry {
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    pub api_version: String,
    pub time: Option<String>,
    /// `""` for the main resource, `status` for the status subresource.
    pub subresource: String,
    pub fields: FieldSet,
}

impl ManagedEntry {
    /// Whether two entries are the same manager identity (the real
    /// `BuildManagerIdentifier`: manager, operation, subresource, and the
    /// apiVersion for `Update` entries only).
    pub(crate) fn same_identity(&self, o: &ManagedEntry) -> bool {
        self.manager == o.manager
            && self.operation == o.operation
            && self.subresource == o.subresource
            && (self.operation == "Apply" || self.api_version == o.api_version)
    }

    /// How conflicts name this manager (`printManager`).
    pub(crate) fn display(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            s.push_str(&format!(" with subresource {:?}", self.subresource));
        }
        if self.operation == "Update" {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }
}

/// Decodes `metadata.managedFields`. Entries with a fieldsType other than
/// `FieldsV1` or undecodable fields are an error.
pub(crate) fn decode(obj: &Value) -> Result<Vec<ManagedEntry>, String> {
    let Some(list) = crate::meta::metadata(obj).and_then(|m| m.get("managedFields")) else {
        return Ok(Vec::new());
    };
    let Some(list) = list.as_array() else {
        return Err("metadata.managedFields must be a list".into());
    };
    let mut out = Vec::new();
    for e in list {
        let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let ft = s("fieldsType");
        if !ft.is_empty() && ft != "FieldsV1" {
            return Err(format!("unsupported fieldsType {ft:?}"));
        }
        let fields = match e.get("fieldsV1") {
            Some(v) => FieldSet::from_fields_v1(v)?,
            None => FieldSet::default(),
        };
        let op = s("operation");
        if op != "Apply" && op != "Update" {
            return Err(format!("invalid operation {op:?}"));
        }
        out.push(ManagedEntry {
            manager: s("manager"),
            operation: op,
            api_version: s("apiVersion"),
            time: e.get("time").and_then(Value::as_str).map(str::to_string),
            subresource: s("subresource"),
            fields,
        });
    }
    Ok(out)
}

/// Encodes entries as `metadata.managedFields`, sorted as the real server
/// sorts them (operation, time in whole seconds with none first, manager,
/// apiVersion, subresource).
pub(crate) fn encode(entries: &[ManagedEntry]) -> Value {
    let mut sorted: Vec<&ManagedEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| {
        a.operation
            .cmp(&b.operation)
            .then_with(|| a.time.cmp(&b.time))
            .then_with(|| a.manager.cmp(&b.manager))
            .then_with(|| a.api_version.cmp(&b.api_version))
            .then_with(|| a.subresource.cmp(&b.subresource))
    });
    Value::Array(
        sorted
            .into_iter()
            .map(|e| {
                let mut m = Map::new();
                if !e.manager.is_empty() {
                    m.insert("manager".into(), json!(e.manager));
                }
                m.insert("operation".into(), json!(e.operation));
                m.insert("apiVersion".into(), json!(e.api_version));
                if let Some(t) = &e.time {
                    m.insert("time".into(), json!(t));
                }
                m.insert("fieldsType".into(), json!("FieldsV1"));
                m.insert("fieldsV1".into(), e.fields.to_fields_v1());
                if !e.subresource.is_empty() {
                    m.insert("subresource".into(), json!(e.subresource));
                }
                Value::Object(m)
            })
            .collect(),
    )
}

/// Records a non-apply write by `manager` (operation `Update`): the fields it
/// added or changed become its own and are taken from every other manager;
/// removed fields leave every manager.
#[allow(clippy::too_many_arguments)]
pub(crate) fn track_update(
    old: &Value,
    new: &Value,
    mut entries: Vec<ManagedEntry>,
    manager: &str,
    api_version: &str,
    subresource: &str,
    now: &str,
    ty: Option<Ty<'_>>,
) -> Vec<ManagedEntry> {
    let cmp = compare(old, new, ty);
    let changed = cmp.added.union(&cmp.modified);
    for e in entries.iter_mut() {
        e.fields = e.fields.difference(&changed);
        for r in &cmp.removed {
            e.fields.remove_prefixed(r);
        }
    }
    if !changed.is_empty() {
        let me = ManagedEntry {
            manager: manager.into(),
            operation: "Update".into(),
            api_version: api_version.into(),
            time: Some(now.into()),
            subresource: subresource.into(),
            fields: FieldSet::default(),
        };
        match entries.iter_mut().find(|e| e.same_identity(&me)) {
            Some(e) => {
                e.fields = e.fields.union(&changed);
                e.time = Some(now.into());
            }
            None => entries.push(ManagedEntry {
                fields: changed,
                ..me
            }),
        }
    }
    entries.retain(|e| !e.fields.is_empty());
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "replicas": 2,
                "template": {"spec": {"containers": [
                    {"name": "app", "image": "nginx", "ports": [{"containerPort": 80}]}
                ]}}
            }
        })
    }

    #[test]
    fn applied_set_encodes_like_the_apiserver() {
        let s = applied_set(&deployment(), None);
        let v = s.to_fields_v1();
        assert_eq!(
            v,
            json!({
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {
                    "f:replicas": {},
                    "f:template": {"f:spec": {"f:containers": {
                        "k:{\"name\":\"app\"}": {
                            ".": {},
                            "f:image": {},
                            "f:name": {},
                            "f:ports": {
                                "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                                    ".": {},
                                    "f:containerPort": {}
                                }
                            }
                        }
                    }}}
                }
            })
        );
        assert_eq!(FieldSet::from_fields_v1(&v).unwrap(), s);
    }

    #[test]
    fn path_strings() {
        let p = vec![
            PathElement::Field("spec".into()),
            PathElement::Field("containers".into()),
            PathElement::Key("{\"name\":\"app\"}".into()),
            PathElement::Field("image".into()),
        ];
        assert_eq!(path_string(&p), ".spec.containers[name=\"app\"].image");
        let f = vec![
            PathElement::Field("metadata".into()),
            PathElement::Field("finalizers".into()),
            PathElement::Value("\"x\"".into()),
        ];
        assert_eq!(path_string(&f), ".metadata.finalizers[=\"x\"]");
    }

    #[test]
    fn compare_reports_added_modified_removed() {
        let old = deployment();
        let mut new = deployment();
        new["spec"]["replicas"] = json!(3);
        new["metadata"]["labels"]["tier"] = json!("web");
        new["spec"]["template"]["spec"]["containers"][0]
            .as_object_mut()
            .unwrap()
            .remove("ports");
        let c = compare(&old, &new, None);
        assert!(c.modified.contains(&vec![
            PathElement::Field("spec".into()),
            PathElement::Field("replicas".into())
        ]));
        assert!(c.added.contains(&vec![
            PathElement::Field("metadata".into()),
            PathElement::Field("labels".into()),
            PathElement::Field("tier".into())
        ]));
        assert_eq!(c.removed.len(), 1);
        assert_eq!(
            path_string(&c.removed[0]),
            ".spec.template.spec.containers[name=\"app\"].ports"
        );
    }

    #[test]
    fn create_tracking_marks_new_maps() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "x", "labels": {"a": "b"}}, "data": {"k": "v"}});
        let e = track_update(&json!({}), &cm, vec![], "kubectl", "v1", "", "t", None);
        assert_eq!(
            e[0].fields.to_fields_v1(),
            json!({
                "f:data": {".": {}, "f:k": {}},
                "f:metadata": {"f:labels": {".": {}, "f:a": {}}}
            })
        );
    }

    #[test]
    fn remove_and_get_by_key() {
        let mut d = deployment();
        let p = vec![
            PathElement::Field("spec".into()),
            PathElement::Field("template".into()),
            PathElement::Field("spec".into()),
            PathElement::Field("containers".into()),
            PathElement::Key("{\"name\":\"app\"}".into()),
            PathElement::Field("image".into()),
        ];
        assert_eq!(get_at(&d, &p), Some(&json!("nginx")));
        assert!(remove_at(&mut d, &p));
        assert_eq!(get_at(&d, &p), None);
    }

    #[test]
    fn list_typing() {
        assert_eq!(
            list_type(Some("args"), &[json!("a"), json!("b")]),
            ListType::Atomic
        );
        assert_eq!(
            list_type(Some("items"), &[json!({"name": "a"}), json!({"name": "b"})]),
            ListType::Map(vec!["name".to_string()])
        );
        assert_eq!(
            list_type(Some("items"), &[json!({"name": "a"}), json!({"name": "a"})]),
            ListType::Atomic
        );
        assert_eq!(list_type(Some("finalizers"), &[json!("a")]), ListType::Set);
    }
}
