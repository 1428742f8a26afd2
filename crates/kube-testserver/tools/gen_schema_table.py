#!/usr/bin/env python3
"""Generates src/builtin_schema.json, the field-typing table of the built-in
kinds, from the OpenAPI v3 documents a real kube-apiserver serves.

Usage: tools/gen_schema_table.py [OPENAPI_V3_DIR] > src/builtin_schema.json
(default dir: ../../../shared/apiserver-traces/openapi/openapi-v3 relative to
this crate's root, i.e. the recorded v1.32.13 documents).

Only what server-side apply needs to type fields is kept, per type:
  {"f": {field: child}}                        struct (properties)
  {"m": child}                                 map (additionalProperties)
  {"l": child, "lt": "atomic"|"set"|"map", "k": [keys]}   list
  {"s": 1}                                     scalar
  "a": 1                                       x-kubernetes-map-type atomic
  {"r": name, "p": 1}                          a non-pointer struct field
                                               (`default: {}`): present in
                                               the zero value of its parent
A child is a type name (string) or an inline node. The list type follows
kube-openapi's schemaconv: x-kubernetes-list-type, else patch strategy merge
(with patch-merge-key: map by that key; without: set), else atomic.
"""
import json
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    here, "../../../../shared/apiserver-traces/openapi/openapi-v3")
schemas = {}
for f in sorted(os.listdir(src)):
    if f.endswith(".json") and f != "index.json" and "gateway.networking" not in f:
        schemas.update(json.load(open(os.path.join(src, f)))["components"]["schemas"])

types = {}
kinds = {}


def ref_name(s):
    if "$ref" in s:
        return s["$ref"].split("/")[-1]
    for a in s.get("allOf", []):
        if "$ref" in a:
            return a["$ref"].split("/")[-1]
    return None


def node(s, field=False):
    name = ref_name(s)
    if name is not None:
        visit(name)
        if s.get("x-kubernetes-map-type") == "atomic" and not types[name].get("a"):
            n = dict(types[name])
            n["a"] = 1
            return n
        if field and s.get("default") == {} and ("f" in types[name] or types[name] == {}):
            return {"r": name, "p": 1}
        return name
    return build(s)


def build(s):
    n = {}
    t = s.get("type")
    if t == "array" or "items" in s:
        n["l"] = node(s.get("items", {}))
        lt = s.get("x-kubernetes-list-type")
        keys = s.get("x-kubernetes-list-map-keys")
        if lt is None:
            strat = s.get("x-kubernetes-patch-strategy", "")
            if "merge" in strat.split(","):
                key = s.get("x-kubernetes-patch-merge-key")
                lt, keys = ("map", [key]) if key else ("set", None)
            else:
                lt = "atomic"
        n["lt"] = lt
        if lt == "map":
            n["k"] = keys
    elif "properties" in s:
        n["f"] = {k: node(v, True) for k, v in s["properties"].items()}
    elif isinstance(s.get("additionalProperties"), dict):
        n["m"] = node(s["additionalProperties"])
    elif t == "object" and s.get("x-kubernetes-map-type") != "atomic" and not s.get(
            "x-kubernetes-preserve-unknown-fields"):
        n["m"] = {"s": 1}
    elif t == "object":
        n["m"] = {"s": 1}
    else:
        n["s"] = 1
    if s.get("x-kubernetes-map-type") == "atomic" or (
            "properties" not in s and "additionalProperties" not in s and t == "object"
            and s.get("x-kubernetes-map-type") == "atomic"):
        n["a"] = 1
    return n


def visit(name):
    if name in types:
        return
    types[name] = {}
    types[name] = build(schemas[name])


for name, s in sorted(schemas.items()):
    for gvk in s.get("x-kubernetes-group-version-kind", []):
        if name.endswith("List") or "meta.v1" in name or "apimachinery" in name:
            continue
        gv = gvk["version"] if not gvk["group"] else gvk["group"] + "/" + gvk["version"]
        key = gv + "/" + gvk["kind"]
        if key in kinds:
            continue
        visit(name)
        kinds[key] = name

json.dump({"kinds": kinds, "types": types}, sys.stdout, separators=(",", ":"), sort_keys=True)
sys.stdout.write("\n")
