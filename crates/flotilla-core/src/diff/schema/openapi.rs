//! Parsers from OpenAPI v3 to [`Schema`] (pure): a group-version document as
//! an API server serves it at `/openapi/v3/<group>/<version>`, and a
//! CustomResourceDefinition's `openAPIV3Schema`s.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{ListNode, ListType, MapNode, Node, Schema, Struct, kind_key};

/// Why a document could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SchemaError {
    /// Not an OpenAPI v3 document with `components.schemas`.
    #[error("not an OpenAPI v3 document: no components.schemas")]
    NotOpenApi,
    /// Not a CustomResourceDefinition with `spec.group`, `spec.names.kind`
    /// and `spec.versions`.
    #[error("not a CustomResourceDefinition: {0}")]
    NotCrd(&'static str),
    /// A schema nests deeper than any real one.
    #[error("schema {0} nests deeper than {MAX_DEPTH} levels")]
    TooDeep(String),
}

/// Deepest inline nesting read (named types are referenced, not inlined, so
/// recursive types such as JSONSchemaProps never reach it).
const MAX_DEPTH: usize = 64;

const REF_PREFIX: &str = "#/components/schemas/";

/// The merge structure of every type of one OpenAPI v3 group-version
/// document, `$ref`s kept as named types, each kind (from
/// `x-kubernetes-group-version-kind`) mapped to its type. `*List` kinds and
/// types naming several kinds (e.g. `DeleteOptions`) are left out.
pub fn from_openapi_v3(document: &Value) -> Result<Schema, SchemaError> {
    let schemas = document
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .ok_or(SchemaError::NotOpenApi)?;
    let mut reader = Reader::default();
    let mut out = Schema::default();
    for (name, schema) in schemas {
        let node = reader
            .node(schema, 0)
            .map_err(|()| SchemaError::TooDeep(name.clone()))?;
        out.types.insert(name.clone(), node);
        if let Some([gvk]) = schema
            .get("x-kubernetes-group-version-kind")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            let (Some(group), Some(version), Some(kind)) = (
                gvk["group"].as_str(),
                gvk["version"].as_str(),
                gvk["kind"].as_str(),
            ) else {
                continue;
            };
            if kind.ends_with("List") && schema.pointer("/properties/items").is_some() {
                continue;
            }
            out.kinds
                .insert(kind_key(&api_version(group, version), kind), name.clone());
        }
    }
    reader.finish(&mut out);
    Ok(out)
}

/// The merge structure of the kinds a CustomResourceDefinition defines, one
/// per version with an `openAPIV3Schema` (named `crd:<group>/<version>/<kind>`).
/// `metadata` is ObjectMeta (a reference to the built-in type).
pub fn from_crd(crd: &Value) -> Result<Schema, SchemaError> {
    let spec = crd.get("spec").ok_or(SchemaError::NotCrd("no spec"))?;
    let group = spec["group"]
        .as_str()
        .ok_or(SchemaError::NotCrd("no spec.group"))?;
    let kind = spec
        .pointer("/names/kind")
        .and_then(Value::as_str)
        .ok_or(SchemaError::NotCrd("no spec.names.kind"))?;
    let versions = spec["versions"]
        .as_array()
        .ok_or(SchemaError::NotCrd("no spec.versions"))?;
    let mut reader = Reader::default();
    let mut out = Schema::default();
    for v in versions {
        let (Some(version), Some(schema)) =
            (v["name"].as_str(), v.pointer("/schema/openAPIV3Schema"))
        else {
            continue;
        };
        let name = format!("crd:{group}/{version}/{kind}");
        let mut node = reader
            .node(schema, 0)
            .map_err(|()| SchemaError::TooDeep(name.clone()))?;
        if let Node::Struct(s) = &mut node {
            s.fields.insert(
                "metadata".into(),
                Node::Ref("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta".into()),
            );
        }
        out.types.insert(name.clone(), node);
        out.kinds
            .insert(kind_key(&api_version(group, version), kind), name);
    }
    reader.finish(&mut out);
    Ok(out)
}

fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// A named type seen through a wrapper that overrides its map type or patch
/// strategy (e.g. `claimRef`: an atomic ObjectReference made granular).
struct Derived {
    name: String,
    base: String,
    map_type: Option<String>,
    strategy: Option<String>,
}

#[derive(Default)]
struct Reader {
    derived: BTreeMap<String, Derived>,
}

fn text<'a>(schema: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    schema.get(key).and_then(Value::as_str)
}

impl Reader {
    fn node(&mut self, schema: &Value, depth: usize) -> Result<Node, ()> {
        if depth > MAX_DEPTH {
            return Err(());
        }
        let Some(schema) = schema.as_object() else {
            // `true`, `false`: anything.
            return Ok(Node::Untyped);
        };
        if let Some(target) = text(schema, "$ref") {
            return Ok(Node::Ref(
                target
                    .strip_prefix(REF_PREFIX)
                    .unwrap_or(target)
                    .to_string(),
            ));
        }
        let map_type = text(schema, "x-kubernetes-map-type");
        let strategy = text(schema, "x-kubernetes-patch-strategy");
        if let Some([inner]) = schema
            .get("allOf")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            && !schema.contains_key("properties")
            && !schema.contains_key("type")
        {
            let node = self.node(inner, depth + 1)?;
            return Ok(match node {
                Node::Ref(base) if map_type.is_some() || strategy.is_some() => {
                    let name = format!(
                        "{base}|{}|{}",
                        map_type.unwrap_or(""),
                        strategy.unwrap_or("")
                    );
                    self.derived.insert(
                        name.clone(),
                        Derived {
                            name: name.clone(),
                            base,
                            map_type: map_type.map(str::to_string),
                            strategy: strategy.map(str::to_string),
                        },
                    );
                    Node::Ref(name)
                }
                other => other,
            });
        }
        if schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
            || text(schema, "format") == Some("int-or-string")
            || (!schema.contains_key("type")
                && (schema.contains_key("oneOf") || schema.contains_key("anyOf")))
        {
            return Ok(Node::Scalar);
        }
        let atomic = map_type == Some("atomic");
        match text(schema, "type") {
            Some("array") => {
                let items = match schema.get("items") {
                    Some(items) => self.node(items, depth + 1)?,
                    None => Node::Untyped,
                };
                let merge_key = text(schema, "x-kubernetes-patch-merge-key").map(str::to_string);
                let list_type = match text(schema, "x-kubernetes-list-type") {
                    Some("set") => ListType::Set,
                    Some("map") => ListType::Map(
                        schema
                            .get("x-kubernetes-list-map-keys")
                            .and_then(Value::as_array)
                            .map(|keys| {
                                keys.iter()
                                    .filter_map(Value::as_str)
                                    .map(str::to_string)
                                    .collect()
                            })
                            .unwrap_or_default(),
                    ),
                    Some(_) => ListType::Atomic,
                    // structured-merge-diff: a strategic `merge` list is a
                    // map by its merge key (a set without one).
                    None if strategy.is_some_and(|s| s.split(',').any(|s| s == "merge")) => {
                        match &merge_key {
                            Some(key) => ListType::Map(vec![key.clone()]),
                            None => ListType::Set,
                        }
                    }
                    None => ListType::Atomic,
                };
                Ok(Node::List(ListNode {
                    list_type,
                    items: Box::new(items),
                    merge_key,
                    strategy: strategy.map(str::to_string),
                }))
            }
            Some("object") | None
                if schema.contains_key("properties")
                    || schema.contains_key("additionalProperties") =>
            {
                if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                    let mut fields = BTreeMap::new();
                    for (k, v) in props {
                        fields.insert(k.clone(), self.node(v, depth + 1)?);
                    }
                    Ok(Node::Struct(Struct {
                        atomic,
                        strategy: strategy.map(str::to_string),
                        fields,
                    }))
                } else {
                    let values = self.node(&schema["additionalProperties"], depth + 1)?;
                    Ok(Node::Map(MapNode {
                        atomic,
                        values: Box::new(values),
                    }))
                }
            }
            Some("object") | None if atomic => Ok(Node::Struct(Struct {
                atomic,
                strategy: strategy.map(str::to_string),
                fields: BTreeMap::new(),
            })),
            Some("object") | None => Ok(Node::Untyped),
            Some(_) => Ok(Node::Scalar),
        }
    }

    /// Adds the derived types, now that their bases are known.
    fn finish(self, out: &mut Schema) {
        for d in self.derived.into_values() {
            let mut node = match out.types.get(&d.base) {
                Some(n) => n.clone(),
                None => Node::Ref(d.base.clone()),
            };
            match &mut node {
                Node::Struct(s) => {
                    if let Some(t) = &d.map_type {
                        s.atomic = t == "atomic";
                    }
                    if d.strategy.is_some() {
                        s.strategy = d.strategy.clone();
                    }
                }
                Node::Map(m) => {
                    if let Some(t) = &d.map_type {
                        m.atomic = t == "atomic";
                    }
                }
                _ => {}
            }
            out.types.insert(d.name, node);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({"openapi": "3.0.0", "components": {"schemas": {
            "x.Thing": {"type": "object", "x-kubernetes-group-version-kind": [{"group": "x.io", "version": "v1", "kind": "Thing"}],
                "properties": {
                    "apiVersion": {"type": "string"},
                    "spec": {"default": {}, "allOf": [{"$ref": "#/components/schemas/x.Spec"}]}}},
            "x.ThingList": {"type": "object", "x-kubernetes-group-version-kind": [{"group": "x.io", "version": "v1", "kind": "ThingList"}],
                "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/x.Thing"}}}},
            "x.Spec": {"type": "object", "properties": {
                "selector": {"type": "object", "additionalProperties": {"type": "string"}, "x-kubernetes-map-type": "atomic"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "ports": {"type": "array", "items": {"allOf": [{"$ref": "#/components/schemas/x.Port"}]},
                    "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["port", "protocol"],
                    "x-kubernetes-patch-merge-key": "port", "x-kubernetes-patch-strategy": "merge"},
                "hosts": {"type": "array", "items": {"type": "string"}},
                "secrets": {"type": "array", "items": {"$ref": "#/components/schemas/x.Ref"},
                    "x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge"},
                "finalizers": {"type": "array", "items": {"type": "string"}, "x-kubernetes-patch-strategy": "merge"},
                "owner": {"allOf": [{"$ref": "#/components/schemas/x.Ref"}], "x-kubernetes-map-type": "granular"},
                "other": {"$ref": "#/components/schemas/x.Ref"},
                "child": {"$ref": "#/components/schemas/x.Spec"},
                "port": {"allOf": [{"$ref": "#/components/schemas/x.IntOrString"}]}}},
            "x.Port": {"type": "object", "properties": {"port": {"type": "integer"}, "protocol": {"type": "string"}}},
            "x.Ref": {"type": "object", "properties": {"name": {"type": "string"}}, "x-kubernetes-map-type": "atomic"},
            "x.IntOrString": {"format": "int-or-string", "oneOf": [{"type": "integer"}, {"type": "string"}]}
        }}})
    }

    #[test]
    fn reads_markers_refs_and_wrappers() {
        let s = from_openapi_v3(&doc()).unwrap();
        assert_eq!(
            s.kinds.get("x.io/v1/Thing").map(String::as_str),
            Some("x.Thing")
        );
        assert!(!s.kinds.contains_key("x.io/v1/ThingList"));
        let at = |p: &str| s.at("x.io/v1", "Thing", p).cloned();
        assert!(matches!(
            at("/spec/selector"),
            Some(Node::Map(MapNode { atomic: true, .. }))
        ));
        assert!(matches!(
            at("/spec/labels"),
            Some(Node::Map(MapNode { atomic: false, .. }))
        ));
        let list = |p: &str| match at(p) {
            Some(Node::List(l)) => l.list_type,
            other => panic!("{p}: {other:?}"),
        };
        assert_eq!(
            list("/spec/ports"),
            ListType::Map(vec!["port".into(), "protocol".into()])
        );
        assert_eq!(list("/spec/hosts"), ListType::Atomic);
        assert_eq!(list("/spec/secrets"), ListType::Map(vec!["name".into()]));
        assert_eq!(list("/spec/finalizers"), ListType::Set);
        assert!(matches!(
            at("/spec/other"),
            Some(Node::Struct(Struct { atomic: true, .. }))
        ));
        // The wrapper's map type wins over the referenced type's.
        assert!(matches!(
            at("/spec/owner"),
            Some(Node::Struct(Struct { atomic: false, .. }))
        ));
        // Recursive types are references, read once.
        assert!(matches!(
            at("/spec/child/child/selector"),
            Some(Node::Map(MapNode { atomic: true, .. }))
        ));
        assert_eq!(at("/spec/port"), Some(Node::Scalar));
        assert_eq!(
            from_openapi_v3(&json!({"swagger": "2.0"})),
            Err(SchemaError::NotOpenApi)
        );
    }

    #[test]
    fn compact_keeps_only_what_matters() {
        let s = from_openapi_v3(&doc()).unwrap().compact();
        assert!(!s.types.contains_key("x.Port"));
        assert!(!s.types.contains_key("x.IntOrString"));
        assert!(s.types.contains_key("x.Ref"));
        let Some(Node::Struct(spec)) = s.types.get("x.Spec") else {
            panic!()
        };
        assert!(!spec.fields.contains_key("port"));
        // Maps stay: inside an atomic value they compare whole.
        assert!(spec.fields.contains_key("labels"));
        assert!(spec.fields.contains_key("selector") && spec.fields.contains_key("child"));
    }

    #[test]
    fn reads_a_crd() {
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "spec": {"group": "example.com", "names": {"kind": "Widget", "plural": "widgets"}, "scope": "Namespaced",
                "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
                    "type": "object", "properties": {"spec": {"type": "object", "properties": {
                        "targets": {"type": "array", "items": {"type": "object", "properties": {"host": {"type": "string"}, "port": {"type": "integer"}}},
                            "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["host"]},
                        "match": {"type": "object", "additionalProperties": {"type": "string"}, "x-kubernetes-map-type": "atomic"},
                        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}}}]}});
        let s = from_crd(&crd).unwrap();
        let at = |p: &str| s.at("example.com/v1", "Widget", p).cloned();
        assert!(matches!(
            at("/spec/targets"),
            Some(Node::List(ListNode {
                list_type: ListType::Map(_),
                ..
            }))
        ));
        assert!(matches!(
            at("/spec/match"),
            Some(Node::Map(MapNode { atomic: true, .. }))
        ));
        assert_eq!(at("/spec/extra"), Some(Node::Untyped));
        assert!(from_crd(&json!({"spec": {}})).is_err());
    }
}
