"""The one decoder of outside input (files, config reloads, API bodies): JSON or YAML, depth- and
size-limited, every failure one DecodeError whose message names the input in one line.

Nesting is bounded at MAX_DEPTH collections (objects and lists): the deepest real Kubernetes
objects, CRDs with their OpenAPI schemas, stay far below it, and every later stage (model, merge
patches, the encoder) may then recurse safely. YAML is checked while it is composed, before the
composer's recursion gets deep, and aliases count with the depth of what they name; JSON is parsed
by orjson (itself capped at 1024 levels, no Python recursion) and then measured on its text with bytes
operations (no walk of the decoded value: a 25 MB objects file is measured in a fraction of the time).
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from kubeapi import codec

MAX_DEPTH = 100
MAX_BODY_BYTES = 3 * 1024 * 1024  # the Kubernetes API server's request body limit
_NOT_STRUCTURE = bytes(range(256)).translate(None, b'"[]{}')
_ONE_BRACKET = bytes.maketrans(b"{}", b"[]")  # depth counts collections, whichever bracket
_STRING = re.compile(rb'"[^"]*"')


class DecodeError(ValueError):
    """Input that cannot be decoded. `kind` is "syntax", "depth" or "size"; `line` and `column`
    (1-based) say where when known; `reason` is the problem alone, `detail` the message without `what`."""

    def __init__(
        self,
        what: str,
        fmt: str,
        kind: str,
        reason: str,
        *,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.what = what
        self.fmt = fmt
        self.kind = kind
        self.reason = reason
        self.line = line
        self.column = column
        at = f" at line {line} column {column}" if line is not None else ""
        if kind == "syntax":
            self.detail = f"invalid {fmt}{at}: {reason}"
        else:
            self.detail = f"{fmt} {reason}{at}"
        super().__init__(f"{what}: {self.detail}")


def _too_deep(max_depth: int) -> str:
    return f"nested more than {max_depth} levels deep"


def _text(data: str | bytes, what: str, fmt: str, max_bytes: int | None) -> str:
    if max_bytes is not None and len(data) > max_bytes:
        raise DecodeError(what, fmt, "size", f"larger than {max_bytes} bytes")
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DecodeError(what, fmt, "syntax", f"not UTF-8: {err}") from None


def depth(value: Any) -> int:
    """How many collections deep a decoded value nests (0 for a scalar), without recursion: one level
    of collections at a time."""
    deepest = 0
    layer = [value] if isinstance(value, (dict, list)) else []
    while layer:
        deepest += 1
        children: list[Any] = []
        for item in layer:
            children.extend(item.values() if isinstance(item, dict) else item)
        layer = [child for child in children if isinstance(child, (dict, list))]
    return deepest


def text_depth(text: bytes, limit: int) -> int:
    """How many collections deep a valid JSON text nests (`depth` of its value), or limit + 1 once it
    is deeper than `limit`. Escaped backslashes and quotes go first (a run of backslashes pairs from
    its start, as a parser reads it), then everything but quotes and brackets, and every bracket
    becomes a square one; what is left of the strings then holds only brackets and goes whole. Each
    pass then removes the empty collections, pairs that were adjacent before it: one level."""
    if b"\\" in text:
        text = text.replace(b"\\\\", b"").replace(b'\\"', b"")
    marks = text.translate(_ONE_BRACKET, _NOT_STRUCTURE)
    brackets = _STRING.sub(b"", marks.replace(b'""', b""))  # two quotes in a row: one string or two joined
    levels = 0
    while brackets and levels <= limit:
        brackets = brackets.replace(b"[]", b"")
        levels += 1
    return levels


def load_json(
    data: str | bytes, what: str, *, max_depth: int = MAX_DEPTH, max_bytes: int | None = None
) -> Any:
    """One JSON value; DecodeError when malformed, deeper than `max_depth` or longer than `max_bytes`."""
    if max_bytes is not None and len(data) > max_bytes:
        raise DecodeError(what, "JSON", "size", f"larger than {max_bytes} bytes")
    try:
        value = codec.loads(data)
    except json.JSONDecodeError as err:
        if "depth" in err.msg or "recursion" in err.msg:
            raise DecodeError(what, "JSON", "depth", _too_deep(max_depth)) from None
        raise DecodeError(what, "JSON", "syntax", err.msg, line=err.lineno, column=err.colno) from None
    except RecursionError:  # the standard library's parser, where orjson is missing
        raise DecodeError(what, "JSON", "depth", _too_deep(max_depth)) from None
    except ValueError as err:  # bytes that are not UTF-8
        raise DecodeError(what, "JSON", "syntax", str(err)) from None
    if text_depth(data.encode() if isinstance(data, str) else data, max_depth) > max_depth:
        raise DecodeError(what, "JSON", "depth", _too_deep(max_depth))
    return value


class _TooDeep(Exception):
    def __init__(self, mark: Any) -> None:
        super().__init__()
        self.mark = mark


class _Loader(yaml.SafeLoader):
    """The safe loader with a nesting bound checked as nodes are composed (aliases included)."""

    def __init__(self, stream: str, max_depth: int) -> None:
        super().__init__(stream)
        self.max_depth = max_depth
        self.level = 0
        self.heights: dict[int, int] = {}  # id(collection node) -> how many collections deep it nests

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
        if self.check_event(yaml.AliasEvent):
            node = super().compose_node(parent, index)
            if self.level + self.heights.get(id(node), 0) > self.max_depth:
                raise _TooDeep(mark)
            return node
        if not self.check_event(yaml.MappingStartEvent, yaml.SequenceStartEvent):
            return super().compose_node(parent, index)
        self.level += 1
        if self.level > self.max_depth:
            raise _TooDeep(mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            self.level -= 1
        if isinstance(node, MappingNode):
            children = [child for pair in node.value for child in pair]
        elif isinstance(node, SequenceNode):
            children = list(node.value)
        else:  # pragma: no cover - a collection event composes a collection node
            children = []
        self.heights[id(node)] = 1 + max((self.heights.get(id(c), 0) for c in children), default=0)
        return node


def _yaml_error(what: str, err: yaml.YAMLError) -> DecodeError:
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    if mark is None:
        return DecodeError(what, "YAML", "syntax", problem)
    return DecodeError(what, "YAML", "syntax", problem, line=mark.line + 1, column=mark.column + 1)


def _load_yaml(text: str, what: str, max_depth: int, *, single: bool) -> list[Any]:
    loader = _Loader(text, max_depth)
    try:
        if single:
            return [loader.get_single_data()]
        docs = []
        while loader.check_data():  # type: ignore[no-untyped-call]
            docs.append(loader.get_data())
        return docs
    except _TooDeep as err:
        line, column = err.mark.line + 1, err.mark.column + 1
        raise DecodeError(what, "YAML", "depth", _too_deep(max_depth), line=line, column=column) from None
    except yaml.YAMLError as err:
        raise _yaml_error(what, err) from None
    finally:
        loader.dispose()


def load_yaml(
    data: str | bytes, what: str, *, max_depth: int = MAX_DEPTH, max_bytes: int | None = None
) -> Any:
    """One YAML document (None when empty); DecodeError as `load_json`, and for more than one document."""
    return _load_yaml(_text(data, what, "YAML", max_bytes), what, max_depth, single=True)[0]


def load_yaml_documents(
    data: str | bytes, what: str, *, max_depth: int = MAX_DEPTH, max_bytes: int | None = None
) -> list[Any]:
    """Every document of a YAML stream (None for an empty one); DecodeError as `load_json`."""
    return _load_yaml(_text(data, what, "YAML", max_bytes), what, max_depth, single=False)
