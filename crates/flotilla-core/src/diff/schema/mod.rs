//! The merge structure of Kubernetes types (pure): for every field of a
//! group/version/kind, whether a map or struct is atomic or granular, a
//! list's type (`atomic`, `set`, or `map` with its keys) and the strategic
//! merge patch key and strategy. This is what the API server's
//! structured-merge-diff uses to decide who owns what, and so what
//! [`super::live`] uses to decide what "in sync" means.
//!
//! The rules, as structured-merge-diff derives them from OpenAPI:
//!
//! - a struct (`properties`) or a map (`additionalProperties`) is granular
//!   unless it says `x-kubernetes-map-type: atomic`;
//! - a list is what `x-kubernetes-list-type` says (`atomic`, `set`, or `map`
//!   keyed by `x-kubernetes-list-map-keys`); without it, a list with
//!   `x-kubernetes-patch-strategy: merge` is a map keyed by
//!   `x-kubernetes-patch-merge-key` (a set without a key); any other list is
//!   atomic;
//! - everything below an atomic node is part of it.
//!
//! Sources: [`from_openapi_v3`] reads a `/openapi/v3/<group-version>` document
//! as served by an API server; [`from_crd`] a CustomResourceDefinition's
//! `openAPIV3Schema`s; [`builtin`] is a table generated from a real server's
//! documents (see `builtin_table.rs`) for when there is no cluster to ask.

mod openapi;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use openapi::{SchemaError, from_crd, from_openapi_v3};

mod builtin_table;

/// The merge structure of one value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Node {
    /// A string, number or boolean (or a quantity, an int-or-string).
    Scalar,
    /// Anything (`x-kubernetes-preserve-unknown-fields`, no type): compared
    /// as if there were no schema.
    Untyped,
    /// A named type of the same [`Schema`].
    Ref(String),
    /// An object with known fields.
    Struct(Struct),
    /// An object with arbitrary keys (`additionalProperties`).
    Map(MapNode),
    /// An array.
    List(ListNode),
}

/// An object with known fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Struct {
    /// `x-kubernetes-map-type: atomic`: the struct is owned and replaced whole.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub atomic: bool,
    /// `x-kubernetes-patch-strategy` (e.g. `retainKeys`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// The fields whose structure matters. A field that is a scalar or a
    /// granular object of scalars may be left out ([`Schema::compact`]):
    /// a missing field compares like a granular value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, Node>,
}

/// An object with arbitrary keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapNode {
    /// `x-kubernetes-map-type: atomic`: the map is owned and replaced whole
    /// (e.g. a Service's `spec.selector`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub atomic: bool,
    /// The structure of every value.
    pub values: Box<Node>,
}

/// How the items of a list are told apart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ListType {
    /// The list is one value, owned and replaced whole.
    Atomic,
    /// Items are scalars (or atomic values) identified by themselves.
    Set,
    /// Items are objects identified by the values of these fields.
    Map(Vec<String>),
}

/// An array.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListNode {
    /// The list type.
    #[serde(rename = "type")]
    pub list_type: ListType,
    /// The structure of every item.
    pub items: Box<Node>,
    /// `x-kubernetes-patch-merge-key`, for strategic merge patches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_key: Option<String>,
    /// `x-kubernetes-patch-strategy`, for strategic merge patches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
}

/// The merge structure of a set of kinds: named types, and the type of each
/// group/version/kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    /// `apiVersion/kind` (e.g. `apps/v1/Deployment`, `v1/Service`) to the
    /// name of its type.
    pub kinds: BTreeMap<String, String>,
    /// Named types.
    pub types: BTreeMap<String, Node>,
}

/// The key of a kind in [`Schema::kinds`]: `apiVersion/kind`.
pub fn kind_key(api_version: &str, kind: &str) -> String {
    format!("{api_version}/{kind}")
}

impl Schema {
    /// The type of an object of `apiVersion` and `kind`, if known.
    pub fn root(&self, api_version: &str, kind: &str) -> Option<&Node> {
        let name = self.kinds.get(&kind_key(api_version, kind))?;
        self.types.get(name)
    }

    /// The type of `object` (by its `apiVersion` and `kind`), if known.
    pub fn of(&self, object: &Value) -> Option<&Node> {
        self.root(object["apiVersion"].as_str()?, object["kind"].as_str()?)
    }

    /// `node` with named types followed (a dangling name is [`Node::Untyped`]).
    pub fn resolve<'a>(&'a self, mut node: &'a Node) -> &'a Node {
        // Bounded: a cycle of bare names cannot hold anything.
        for _ in 0..16 {
            match node {
                Node::Ref(name) => match self.types.get(name) {
                    Some(n) => node = n,
                    None => return &Node::Untyped,
                },
                other => return other,
            }
        }
        &Node::Untyped
    }

    /// The structure of field `key` of an object of structure `node`.
    pub fn field<'a>(&'a self, node: &'a Node, key: &str) -> Option<&'a Node> {
        match self.resolve(node) {
            Node::Struct(s) => s.fields.get(key),
            Node::Map(m) => Some(&m.values),
            _ => None,
        }
    }

    /// The node at a JSON pointer below the root of `apiVersion`/`kind`
    /// (list indices step into items), resolved; `None` when not described.
    pub fn at(&self, api_version: &str, kind: &str, pointer: &str) -> Option<&Node> {
        let mut node = self.resolve(self.root(api_version, kind)?);
        for token in pointer.split('/').skip(1) {
            let token = token.replace("~1", "/").replace("~0", "~");
            node = match node {
                Node::List(l) => self.resolve(&l.items),
                other => self.resolve(self.field(other, &token)?),
            };
        }
        Some(node)
    }

    /// Adds the kinds and types of `other`; `other` wins where both define one.
    pub fn merge(&mut self, other: Schema) {
        self.kinds.extend(other.kinds);
        self.types.extend(other.types);
    }

    /// This schema plus the kinds of every CustomResourceDefinition among
    /// `objects` (e.g. a cluster's desired state, or the CRDs on it);
    /// borrowed when there is none. A CRD that cannot be read adds nothing.
    pub fn with_crds<'a>(
        &'a self,
        objects: impl IntoIterator<Item = &'a Value>,
    ) -> std::borrow::Cow<'a, Schema> {
        let mut out = std::borrow::Cow::Borrowed(self);
        for o in objects {
            let is_crd = o["kind"] == "CustomResourceDefinition"
                && o["apiVersion"] == "apiextensions.k8s.io/v1";
            if let Some(s) = is_crd.then(|| from_crd(o).ok()).flatten() {
                out.to_mut().merge(s);
            }
        }
        out
    }

    /// The same schema without what compares like no schema: fields that
    /// are scalars or granular objects of scalars, and types that are only
    /// that. Kinds keep their root type (possibly an empty struct).
    pub fn compact(mut self) -> Schema {
        // A type is significant if anything in it is atomic, a list or has
        // a strategy: a fixpoint over the named types.
        let mut significant: BTreeSet<String> = BTreeSet::new();
        loop {
            let before = significant.len();
            for (name, node) in &self.types {
                if !significant.contains(name) && is_significant(node, &significant) {
                    significant.insert(name.clone());
                }
            }
            if significant.len() == before {
                break;
            }
        }
        let roots: BTreeSet<String> = self.kinds.values().cloned().collect();
        self.types
            .retain(|name, _| significant.contains(name) || roots.contains(name));
        for node in self.types.values_mut() {
            prune(node, &significant);
        }
        self
    }
}

fn is_significant(node: &Node, significant: &BTreeSet<String>) -> bool {
    match node {
        Node::Scalar | Node::Untyped => false,
        Node::Ref(name) => significant.contains(name),
        // Maps are kept so that, inside an atomic value, a map (whose keys
        // are compared whole) is told from a struct (whose members the
        // server may default).
        Node::List(_) | Node::Map(_) => true,
        Node::Struct(s) => {
            s.atomic
                || s.strategy.is_some()
                || s.fields.values().any(|f| is_significant(f, significant))
        }
    }
}

fn prune(node: &mut Node, significant: &BTreeSet<String>) {
    match node {
        Node::Struct(s) => {
            s.fields.retain(|_, f| is_significant(f, significant));
            for f in s.fields.values_mut() {
                prune(f, significant);
            }
        }
        Node::Map(m) => {
            if !is_significant(&m.values, significant) {
                *m.values = Node::Scalar;
            }
            prune(&mut m.values, significant);
        }
        Node::List(l) => {
            if !is_significant(&l.items, significant) {
                // What the items were does not matter for comparing them.
                *l.items = Node::Scalar;
            }
            prune(&mut l.items, significant);
        }
        _ => {}
    }
}

/// The built-in schema: core, apps, batch, autoscaling/v2, networking,
/// policy, RBAC, storage, apiextensions and Gateway API v1 as served by
/// kube-apiserver v1.32 (`builtin_table.rs`, generated by
/// `tests/schema_table.rs`). Parsed once, on first use.
pub fn builtin() -> &'static Schema {
    static TABLE: OnceLock<Schema> = OnceLock::new();
    TABLE.get_or_init(|| {
        serde_json::from_str(builtin_table::TABLE).expect("the built-in schema table is valid")
    })
}

/// The text of `builtin_table.rs` for `schema`: what `tests/schema_table.rs`
/// compares with (and with `FLOTILLA_REGEN_SCHEMA=1` writes to)
/// `crates/flotilla-core/src/diff/schema/builtin_table.rs`. One line per kind and per type.
pub fn table_source(schema: &Schema) -> String {
    let mut json = String::from("{\"kinds\": {\n");
    let line = |k: &String, v: String, last: bool| {
        format!(
            "  {}: {}{}\n",
            serde_json::to_string(k).expect("a string serialises"),
            v,
            if last { "" } else { "," }
        )
    };
    for (i, (k, v)) in schema.kinds.iter().enumerate() {
        let v = serde_json::to_string(v).expect("a string serialises");
        json.push_str(&line(k, v, i + 1 == schema.kinds.len()));
    }
    json.push_str("}, \"types\": {\n");
    for (i, (k, v)) in schema.types.iter().enumerate() {
        let v = serde_json::to_string(v).expect("a node serialises");
        json.push_str(&line(k, v, i + 1 == schema.types.len()));
    }
    json.push_str("}}\n");
    format!(
        "//! GENERATED by `tests/schema_table.rs` from the OpenAPI v3 documents of a real\n\
         //! kube-apiserver v1.32.13 (`../shared/apiserver-traces/openapi/openapi-v3/*.json`,\n\
         //! or `FLOTILLA_OPENAPI_DIR`): the merge structure of the built-in kinds, see\n\
         //! `super::Schema`. Do not edit; regenerate with\n\
         //! `FLOTILLA_REGEN_SCHEMA=1 cargo test --test schema_table`.\n\n\
         pub(super) const TABLE: &str = r##\"{json}\"##;\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_table_knows_the_atomic_fields_of_issue_12() {
        let s = builtin();
        let atomic_map = |v: &str, k: &str, p: &str| match s.at(v, k, p) {
            Some(Node::Map(m)) => m.atomic,
            Some(Node::Struct(st)) => st.atomic,
            other => panic!("{v} {k} {p}: {other:?}"),
        };
        assert!(atomic_map("v1", "Service", "/spec/selector"));
        assert!(atomic_map("apps/v1", "Deployment", "/spec/selector"));
        assert!(atomic_map(
            "networking.k8s.io/v1",
            "NetworkPolicy",
            "/spec/podSelector"
        ));
        assert!(atomic_map(
            "policy/v1",
            "PodDisruptionBudget",
            "/spec/selector"
        ));
        assert!(atomic_map(
            "apps/v1",
            "Deployment",
            "/spec/template/spec/containers/0/env/0/valueFrom/fieldRef"
        ));
        let list = |v: &str, k: &str, p: &str| match s.at(v, k, p) {
            Some(Node::List(l)) => l.list_type.clone(),
            other => panic!("{v} {k} {p}: {other:?}"),
        };
        assert_eq!(
            list("v1", "Service", "/spec/ports"),
            ListType::Map(vec!["port".into(), "protocol".into()])
        );
        assert_eq!(
            list("gateway.networking.k8s.io/v1", "HTTPRoute", "/spec/rules"),
            ListType::Atomic
        );
        assert_eq!(
            list(
                "gateway.networking.k8s.io/v1",
                "HTTPRoute",
                "/spec/parentRefs"
            ),
            ListType::Atomic
        );
        assert_eq!(
            list(
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                "/spec/versions"
            ),
            ListType::Atomic
        );
        assert_eq!(
            list("apps/v1", "Deployment", "/metadata/finalizers"),
            ListType::Set
        );
        assert_eq!(
            list("apps/v1", "Deployment", "/spec/template/spec/containers"),
            ListType::Map(vec!["name".into()])
        );
        // A CRD among objects adds its kinds.
        let crd = serde_json::json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "spec": {"group": "example.com", "names": {"kind": "Widget"}, "versions": [{"name": "v1",
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {
                    "hosts": {"type": "array", "items": {"type": "string"}}}}}}}}]}});
        assert!(s.root("example.com/v1", "Widget").is_none());
        let with = s.with_crds([&crd]);
        assert!(matches!(
            with.at("example.com/v1", "Widget", "/spec/hosts"),
            Some(Node::List(ListNode {
                list_type: ListType::Atomic,
                ..
            }))
        ));
        assert!(with.root("v1", "Service").is_some());
        assert!(matches!(s.with_crds([]), std::borrow::Cow::Borrowed(_)));
        // Granular: no structure recorded below, a plain granular map.
        assert!(matches!(
            s.at("v1", "ConfigMap", "/data"),
            None | Some(Node::Map(MapNode { atomic: false, .. }))
        ));
    }
}
