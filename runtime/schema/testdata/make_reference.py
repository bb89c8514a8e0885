#!/usr/bin/env python3
"""Writes reference.json: verdicts of the Python `jsonschema` package (an
implementation independent of the Go one under test) on tool-argument cases.

    python3 make_reference.py > reference.json     # jsonschema 4.26, Draft 2020-12

For each case: `valid`, and where every error is a leaf keyword (no
anyOf/oneOf/allOf/not/if, whose nesting the two libraries report differently)
`paths`, the sorted JSON Pointers of the offending values.
"""
import json, sys
import jsonschema
from importlib.metadata import version

ARITH = {"type": "object",
         "properties": {"op": {"enum": ["add", "sub", "mul", "div"]},
                        "a": {"type": "number"}, "b": {"type": "number"}},
         "required": ["op", "a", "b"], "additionalProperties": False}
SEARCH = {"type": "object",
          "properties": {"query": {"type": "string", "minLength": 1, "maxLength": 20},
                         "limit": {"type": "integer", "minimum": 1, "maximum": 50},
                         "folders": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]+$"},
                                     "uniqueItems": True, "maxItems": 3},
                         "after": {"type": "string", "format": "date"}},
          "required": ["query"]}
REFS = {"type": "object", "$defs": {"addr": {"type": "object", "properties": {"email": {"type": "string", "pattern": "@"}},
                                             "required": ["email"]}},
        "properties": {"to": {"type": "array", "items": {"$ref": "#/$defs/addr"}, "minItems": 1},
                       "cc": {"$ref": "#/$defs/addr"}},
        "required": ["to"]}
COMBO = {"type": "object",
         "properties": {"id": {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": "^[0-9a-f]{8}$"}]},
                        "mode": {"oneOf": [{"const": "fast"}, {"const": "exact"}]},
                        "n": {"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.5}},
         "dependentRequired": {"mode": ["id"]},
         "if": {"properties": {"mode": {"const": "exact"}}, "required": ["mode"]},
         "then": {"required": ["n"]}}
NESTED = {"type": "object", "properties": {"filter": {"type": "object", "properties": {
    "from": {"type": ["string", "null"]}, "tags": {"type": "array", "items": {"type": "boolean"}}},
    "additionalProperties": {"type": "integer"}}}}

cases = []
def add(name, schema, *insts):
    for i, inst in enumerate(insts):
        cases.append({"name": f"{name}/{i}", "schema": schema, "args": inst})

add("arith", ARITH,
    {"op": "add", "a": 1, "b": 2}, {"op": "div", "a": 1.5, "b": -2e10}, {"op": "pow", "a": 1, "b": 2},
    {"op": "add", "a": "1", "b": 2}, {"a": 1, "b": 2}, {"op": "add", "a": 1, "b": 2, "c": 3}, {},
    [], "add", None, {"op": "add", "a": True, "b": None})
add("search", SEARCH,
    {"query": "invoice"}, {"query": ""}, {"query": "x" * 21}, {"query": "q", "limit": 0},
    {"query": "q", "limit": 51}, {"query": "q", "limit": 2.0}, {"query": "q", "limit": 2.5},
    {"query": "q", "folders": ["inbox", "sent"]}, {"query": "q", "folders": ["inbox", "inbox"]},
    {"query": "q", "folders": ["Inbox"]}, {"query": "q", "folders": ["a", "b", "c", "d"]},
    {"query": "q", "after": "not-a-date"}, {"query": 7, "limit": "3"}, {"limit": 3})
add("refs", REFS,
    {"to": [{"email": "a@b"}]}, {"to": []}, {"to": [{"email": "ab"}]}, {"to": [{}], "cc": {"email": 3}},
    {"to": [{"email": "a@b"}, {"mail": "x"}]}, {"cc": {"email": "a@b"}})
add("combo", COMBO,
    {"id": 7}, {"id": "deadbeef"}, {"id": "xyz"}, {"id": 1.5}, {"mode": "fast", "id": 1},
    {"mode": "fast"}, {"mode": "exact", "id": 1}, {"mode": "exact", "id": 1, "n": 2.5},
    {"n": 0}, {"n": 0.75}, {"mode": "slow", "id": 1})
add("nested", NESTED,
    {"filter": {"from": None, "tags": [True]}}, {"filter": {"from": 3}}, {"filter": {"tags": [1]}},
    {"filter": {"extra": 3}}, {"filter": {"extra": "x"}}, {"filter": []})

LEAF_EXCLUDE = {"anyOf", "oneOf", "allOf", "not", "if", "then", "else", "$ref"}
V = jsonschema.Draft202012Validator
for c in cases:
    V.check_schema(c["schema"])
    errs = list(V(c["schema"]).iter_errors(c["args"]))
    c["valid"] = not errs
    if errs and all(e.validator not in LEAF_EXCLUDE for e in errs):
        c["paths"] = sorted({"".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in e.absolute_path) for e in errs})

json.dump({"generator": f"python jsonschema {version('jsonschema')}, Draft202012Validator", "cases": cases},
          sys.stdout, indent=1)
sys.stdout.write("\n")
