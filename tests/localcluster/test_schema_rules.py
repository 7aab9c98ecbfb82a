"""The pure custom resource schema: pruning, defaults, value validation and CEL rules, on small schemas."""

from __future__ import annotations

import time
from typing import Any

import pytest

from kubeapi.meta import Obj
from localcluster.storage.schema.cel import evaluate, field_path, program
from localcluster.storage.schema.nodes import compile_schema
from localcluster.storage.schema.shape import default, prune
from localcluster.storage.schema.values import validate


def schema(**props: Any) -> Obj:
    return {"type": "object", "properties": {"spec": {"type": "object", "properties": props}}}


def check(raw: Obj, spec: Any, old: Any = None) -> list[str]:
    """`field: message` of each cause, after pruning and defaulting, schema then (if not blocked) rules."""
    root = compile_schema(raw)
    obj: Obj = {"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "n"}, "spec": spec}
    prune(root, obj)
    default(root, obj)
    before = None if old is None else {"metadata": {"name": "n"}, "spec": old}
    causes = validate(root, obj, before) or evaluate(root, obj, before)
    return [f"{c['field']}: {c['message']}" for c in causes]


def test_integer_type_and_range() -> None:
    raw = schema(n={"type": "integer", "format": "int32", "minimum": 0, "maximum": 2147483647})
    assert check(raw, {"n": 3}) == []
    assert check(raw, {"n": -1}) == [
        "spec.n: Invalid value: -1: spec.n in body should be greater than or equal to 0"
    ]
    assert check(raw, {"n": 2**31}) == [
        "spec.n: Invalid value: 2147483648: spec.n in body should be less than or equal to 2147483647"
    ]
    for value, kind in (
        ("abc", "string"),
        (1.5, "number"),
        (1e20, "number"),
        (2**70, "number"),
        (True, "boolean"),
    ):
        assert check(raw, {"n": value}) == [
            f'spec.n: Invalid value: "{kind}": spec.n in body must be of type integer: "{kind}"'
        ]


def test_exclusive_bounds_number_and_multiple() -> None:
    raw = schema(x={"type": "number", "minimum": 1, "exclusiveMinimum": True, "multipleOf": 0.5})
    assert check(raw, {"x": 1.5}) == [] and check(raw, {"x": 2}) == []
    assert check(raw, {"x": 1}) == ["spec.x: Invalid value: 1: spec.x in body should be greater than 1"]
    assert check(raw, {"x": 1.2}) == [
        "spec.x: Invalid value: 1.2: spec.x in body should be a multiple of 0.5"
    ]


def test_strings_enum_length_pattern_format() -> None:
    raw = schema(
        e={"type": "string", "enum": ["A", "B"]},
        s={"type": "string", "maxLength": 3, "minLength": 2},
        p={"type": "string", "pattern": "^[a-z]+$"},
        t={"type": "string", "format": "date-time"},
    )
    assert check(raw, {"e": "A", "s": "ab", "p": "abc", "t": "2024-01-02T03:04:05Z"}) == []
    assert check(raw, {"e": "C"}) == ['spec.e: Unsupported value: "C": supported values: "A", "B"']
    assert check(raw, {"s": "abcd"}) == ["spec.s: Too long: may not be more than 3 bytes"]
    assert check(raw, {"s": "a"}) == [
        'spec.s: Invalid value: "a": spec.s in body should be at least 2 chars long'
    ]
    assert check(raw, {"p": "A1"}) == [
        "spec.p: Invalid value: \"A1\": spec.p in body should match '^[a-z]+$'"
    ]
    assert check(raw, {"t": "yesterday"}) == [
        'spec.t: Invalid value: "yesterday": spec.t in body must be of type date-time: "yesterday"'
    ]


def test_required_items_properties_and_nullable() -> None:
    raw = schema(
        a={
            "type": "array",
            "maxItems": 2,
            "minItems": 1,
            "items": {"type": "object", "required": ["k"], "properties": {"k": {"type": "integer"}}},
        },
        m={"type": "object", "maxProperties": 1, "additionalProperties": {"type": "string"}},
        z={"type": "string", "nullable": True},
    )
    raw["properties"]["spec"]["required"] = ["a"]
    assert check(raw, {"a": [{"k": 1}], "z": None}) == []
    assert check(raw, {}) == ["spec.a: Required value"]
    assert check(raw, {"a": [{}]}) == ["spec.a[0].k: Required value"]
    assert check(raw, {"a": [{"k": 1}] * 3}) == ["spec.a: Too many: 3: must have at most 2 items"]
    assert check(raw, {"a": [{"k": 1}], "m": {"x": "1", "y": "2"}}) == [
        "spec.m: Too many: 2: must have at most 1 items"
    ]
    assert check(raw, {"a": [{"k": 1}], "m": {"x": 1}}) == [
        'spec.m.x: Invalid value: "integer": spec.m.x in body must be of type string: "integer"'
    ]


def test_int_or_string() -> None:
    raw = schema(u={"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]})
    assert check(raw, {"u": 1}) == [] and check(raw, {"u": "25%"}) == []
    found = check(raw, {"u": 1.5})
    assert found[0] == 'spec.u: Invalid value: "number": spec.u in body must be of type integer: "number"'
    assert found[-1].endswith("spec.u in body must validate at least one schema (anyOf)")


def test_list_types_map_and_set() -> None:
    raw = schema(
        m={
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            "items": {"type": "object", "properties": {"name": {"type": "string"}, "v": {"type": "integer"}}},
        },
        s={"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
    )
    assert check(raw, {"m": [{"name": "a"}, {"name": "b"}], "s": ["x", "y"]}) == []
    assert check(raw, {"m": [{"name": "a"}, {"name": "a", "v": 1}]}) == [
        'spec.m[1]: Duplicate value: {"name":"a"}'
    ]
    assert check(raw, {"s": ["x", "x"]}) == ['spec.s[1]: Duplicate value: "x"']


def test_pruning_keeps_object_meta_preserved_and_embedded() -> None:
    raw = schema(
        known={"type": "string"},
        open={"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        res={
            "type": "object",
            "x-kubernetes-embedded-resource": True,
            "properties": {"spec": {"type": "object"}},
        },
    )
    root = compile_schema(raw)
    obj: Obj = {
        "apiVersion": "x/v1",
        "kind": "X",
        "metadata": {"name": "n", "labels": {"a": "b"}, "bogus": 1},
        "spec": {
            "known": "k",
            "unknown": 1,
            "open": {"anything": {"deep": 1}},
            "res": {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "p", "junk": 1},
                "spec": {},
                "x": 1,
            },
        },
        "top": 1,
    }
    prune(root, obj)
    assert obj == {
        "apiVersion": "x/v1",
        "kind": "X",
        "metadata": {"name": "n", "labels": {"a": "b"}},
        "spec": {
            "known": "k",
            "open": {"anything": {"deep": 1}},
            "res": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}},
        },
    }


def test_defaults_fill_absent_and_non_nullable_nulls() -> None:
    raw = schema(
        r={"type": "integer", "default": 1},
        s={
            "type": "object",
            "default": {"type": "A"},
            "properties": {"type": {"type": "string"}, "n": {"type": "integer", "default": 0}},
        },
        gone={"type": "string"},
    )
    root = compile_schema(raw)
    obj: Obj = {"spec": {"r": None, "gone": None}}
    default(root, obj)
    assert obj == {"spec": {"r": 1, "s": {"type": "A", "n": 0}}}


def test_ratcheting_leaves_unchanged_invalid_values_alone() -> None:
    raw = schema(n={"type": "integer", "minimum": 0}, m={"type": "integer"})
    assert check(raw, {"n": -1, "m": 2}, old={"n": -1, "m": 1}) == []
    assert check(raw, {"n": -2, "m": 1}, old={"n": -1, "m": 1})[0].startswith("spec.n: Invalid value: -2")


def rule(text: str, **extra: str) -> Obj:
    return {"type": "object", "x-kubernetes-validations": [{"rule": text, **extra}]}


def holds(text: str, value: Any, old: Any = None) -> bool:
    raw = {
        "type": "object",
        "properties": {"spec": {**rule(text), "x-kubernetes-preserve-unknown-fields": True}},
    }
    return check(raw, value, old) == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("has(self.a) && !has(self.b)", {"a": 1}),
        ("size(self.a) == 2 && size(self.s) == 3", {"a": [1, 2], "s": "abc"}),
        ("type(self.a) == int && type(self.s) == string", {"a": 1, "s": "x"}),
        ("self.s.matches('^[a-z]+$')", {"s": "abc"}),
        ("self.a.all(x, x > 0) && self.a.exists(x, x == 2) && self.a.exists_one(x, x == 1)", {"a": [1, 2]}),
        ("self.a.map(x, x * 2) == [2, 4] && self.a.filter(x, x > 1) == [2]", {"a": [1, 2]}),
        ("(self.n > 1 ? 'big' : 'small') == 'big'", {"n": 3}),
        ("{'k': 1}['k'] == 1 && [1, 2][1] == 2 && 'k' in self.m", {"m": {"k": "v"}}),
        ("self.m.all(k, self.m[k] == 'v')", {"m": {"k": "v", "j": "v"}}),
    ],
)
def test_cel_upstream_shapes(text: str, value: Any) -> None:
    assert holds(text, value)
    assert program(text).runner is not None


def test_cel_failures_message_reason_field_path() -> None:
    raw = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {"a": {"type": "integer"}, "b": {"type": "string"}},
                "x-kubernetes-validations": [
                    {"rule": "self.a < 3", "message": "a too big", "fieldPath": ".a"},
                    {
                        "rule": "self.b != 'x'",
                        "reason": "FieldValueForbidden",
                        "messageExpression": "'b is ' + self.b",
                    },
                    {"rule": "self.a != 5"},
                ],
            }
        },
    }
    assert check(raw, {"a": 1, "b": "y"}) == []
    assert check(raw, {"a": 5, "b": "x"}) == [
        'spec.a: Invalid value: "object": a too big',
        "spec: Forbidden: b is x",
        'spec: Invalid value: "object": failed rule: self.a != 5',
    ]


def test_transition_rules_need_an_old_value() -> None:
    raw = {
        "type": "object",
        "properties": {
            "spec": {
                **rule("self.x == oldSelf.x", message="immutable"),
                "properties": {"x": {"type": "string"}, "y": {"type": "string"}},
            }
        },
    }
    assert check(raw, {"x": "a"}) == []  # create: skipped
    assert check(raw, {"x": "a", "y": "2"}, old={"x": "a", "y": "1"}) == []
    assert check(raw, {"x": "b"}, old={"x": "a"}) == ['spec: Invalid value: "object": immutable']


def test_root_rules_see_metadata_name() -> None:
    raw = {
        "type": "object",
        "properties": {"metadata": {"type": "object"}, "spec": {"type": "object"}},
        "x-kubernetes-validations": [
            {"rule": "size(self.metadata.name) <= 3", "fieldPath": ".metadata.name", "message": "long"}
        ],
    }
    assert check(raw, {}) == []
    root = compile_schema(raw)
    found = evaluate(root, {"metadata": {"name": "toolong", "uid": "u"}, "spec": {}}, None)
    assert [(c["field"], c["message"]) for c in found] == [("metadata.name", 'Invalid value: "object": long')]


def test_evaluation_errors_are_causes() -> None:
    found = check({"type": "object", "properties": {"spec": rule("self.missing == 1")}}, {})
    assert len(found) == 1 and "evaluating rule: self.missing == 1" in found[0]


def test_field_path_parse() -> None:
    assert field_path(".spec.a['b.c'][2].d") == ("spec", "a", "b.c", 2, "d")


def test_rules_compile_once_and_run_fast() -> None:
    text = "self.a.all(x, x > 0)"
    assert program(text) is program(text)
    raw = {
        "type": "object",
        "properties": {
            "spec": {**rule(text), "properties": {"a": {"type": "array", "items": {"type": "integer"}}}}
        },
    }
    root = compile_schema(raw)
    obj: Obj = {"spec": {"a": list(range(1, 20))}}
    started = time.perf_counter()
    for _ in range(20):
        assert evaluate(root, obj, None) == []
    assert (time.perf_counter() - started) / 20 < 0.05
