"""kubeapi.decode: the one depth- and size-limited decoder of JSON and YAML input."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubeapi.decode import (
    MAX_DEPTH,
    DecodeError,
    depth,
    load_json,
    load_yaml,
    load_yaml_documents,
    text_depth,
)

# strings made of what a text scan could mistake for structure: quotes, brackets, backslashes, escapes
TRICKY = st.text(
    alphabet=st.sampled_from(['"', "\\", "[", "]", "{", "}", "a", "\n", "/", "\u00e9", "\U0001f600"])
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | TRICKY,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TRICKY, inner, max_size=4),
    max_leaves=40,
)


def nested_json(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


def flow_yaml(levels: int) -> str:
    return "a: " + "[" * (levels - 1) + "]" * (levels - 1) + "\n"


def block_yaml(levels: int) -> str:
    return "".join("  " * i + "k:\n" for i in range(levels)) + "  " * levels + "k: 1\n"


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 1_000, 10_000, 100_000])
def test_deep_json_is_one_error_naming_the_input(levels: int) -> None:
    with pytest.raises(DecodeError) as caught:
        load_json(nested_json(levels), "deep.json")
    assert caught.value.kind == "depth"
    assert str(caught.value) == f"deep.json: JSON nested more than {MAX_DEPTH} levels deep"


@pytest.mark.parametrize("text", [flow_yaml, block_yaml])
@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 1_000, 10_000])
def test_deep_yaml_is_one_error_naming_the_input_and_the_place(text: object, levels: int) -> None:
    source = text(levels)  # type: ignore[operator]
    with pytest.raises(DecodeError) as caught:
        load_yaml_documents(source, "deep.yaml")
    err = caught.value
    assert err.kind == "depth" and err.line is not None
    assert str(err).startswith(f"deep.yaml: YAML nested more than {MAX_DEPTH} levels deep at line ")
    with pytest.raises(DecodeError):
        load_yaml(source.encode(), "deep.yaml")


@given(JSON_VALUES, st.sampled_from(["compact", "spaced", "ascii", "orjson"]), st.integers(0, 8))
def test_the_depth_read_from_the_text_is_the_depth_of_the_value(value: Any, style: str, limit: int) -> None:
    text = {
        "compact": lambda: json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode(),
        "spaced": lambda: json.dumps(value, indent=2, ensure_ascii=False).encode(),
        "ascii": lambda: json.dumps(value).encode(),
        "orjson": lambda: orjson.dumps(value),
    }[style]()
    assert text_depth(text, 1000) == depth(value)
    assert text_depth(text, limit) == min(depth(value), limit + 1)


@pytest.mark.parametrize(
    "text",
    [
        r'["\\", "]]]"]',  # an escaped backslash ends before the quote that closes the string
        r'{"a\"[[": "\\\"{{"}',  # escaped quotes inside, then brackets inside
        r'["", "", "[", "", "]"]',  # empty strings beside strings of brackets
        r'["\u005c", ["\u0022"]]',  # a backslash and a quote written as \u escapes
    ],
)
def test_strings_that_look_like_structure_do_not_count(text: str) -> None:
    assert text_depth(text.encode(), MAX_DEPTH) == depth(json.loads(text))
    assert load_json(text, "x", max_depth=depth(json.loads(text))) == json.loads(text)


def test_the_limit_itself_is_allowed() -> None:
    assert depth(load_json(nested_json(MAX_DEPTH), "x")) == MAX_DEPTH
    assert depth(load_yaml(flow_yaml(MAX_DEPTH), "x")) == MAX_DEPTH
    assert depth(load_yaml(block_yaml(MAX_DEPTH - 1), "x")) == MAX_DEPTH


def test_aliases_count_with_the_depth_of_what_they_name() -> None:
    text = "a: &x [[[1]]]\nb: [*x]\n"
    assert load_yaml(text, "x", max_depth=5) == {"a": [[[1]]], "b": [[[[1]]]]}
    with pytest.raises(DecodeError, match="nested more than 4 levels deep at line 2"):
        load_yaml(text, "x", max_depth=4)


def test_documents_and_syntax_errors() -> None:
    assert load_yaml_documents("a: 1\n---\n---\nb: [1]\n", "x") == [{"a": 1}, None, {"b": [1]}]
    assert load_yaml("", "x") is None
    with pytest.raises(DecodeError, match=r"^f: invalid YAML at line 2 column 1: ") as caught:
        load_yaml("a: [1\n", "f")
    assert caught.value.kind == "syntax" and caught.value.line == 2
    with pytest.raises(DecodeError, match=r"^f: invalid JSON at line 1 column \d+: "):
        load_json('{"a": }', "f")
    with pytest.raises(DecodeError, match="invalid YAML: not UTF-8"):
        load_yaml(b"a: \xff\n", "f")
    with pytest.raises(DecodeError, match="but found another document"):
        load_yaml("a: 1\n---\nb: 2\n", "f")


def test_size_limit() -> None:
    with pytest.raises(DecodeError, match="f: JSON larger than 10 bytes") as caught:
        load_json('{"a": "12345678"}', "f", max_bytes=10)
    assert caught.value.kind == "size"
    with pytest.raises(DecodeError, match="f: YAML larger than 10 bytes"):
        load_yaml_documents("a: 123456789\n", "f", max_bytes=10)
    assert load_json('{"a": 1}', "f", max_bytes=10) == {"a": 1}
