"""Pruning and defaulting, in place, as the API server does for custom resources before validation."""

from __future__ import annotations

from typing import Any

from kubeapi.meta import Obj
from localcluster.storage.meta import clone
from localcluster.storage.schema.nodes import NO_DEFAULT, Node

# what ObjectMeta keeps of a custom resource's metadata (the rest is dropped like any unknown field)
OBJECT_META = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    }
)
_TYPE_META = ("apiVersion", "kind")


def prune(root: Node, obj: Obj) -> None:
    """Drop the fields the schema does not know, unless x-kubernetes-preserve-unknown-fields keeps them;
    the root's apiVersion, kind and metadata (as ObjectMeta) are always kept."""
    _prune_resource(root, obj)


def _prune_resource(node: Node, obj: Obj) -> None:
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        for key in [k for k in metadata if k not in OBJECT_META]:
            del metadata[key]
    for key in list(obj):
        if key in _TYPE_META or key == "metadata":
            continue
        _prune_field(node, obj, key)


def _prune_object(node: Node, obj: Obj) -> None:
    if node.embedded:
        _prune_resource(node, obj)
        return
    for key in list(obj):
        _prune_field(node, obj, key)


def _prune_field(node: Node, obj: Obj, key: str) -> None:
    sub = node.child(key)
    if sub is None:
        if not node.preserve:
            del obj[key]
        return
    _prune_value(sub, obj[key])


def _prune_value(node: Node, value: Any) -> None:
    if isinstance(value, dict):
        if node.type in ("object", ""):
            _prune_object(node, value)
    elif isinstance(value, list) and node.items is not None:
        for item in value:
            _prune_value(node.items, item)


def default(root: Node, obj: Obj) -> None:
    """Fill `default`s of absent fields (and of nulls where the field is not nullable), in place; nulls of
    non-nullable fields without a default are dropped."""
    _default_object(root, obj)


def _default_object(node: Node, obj: Obj) -> None:
    for key, sub in node.properties.items():
        found = obj.get(key, NO_DEFAULT)
        if found is None and not sub.nullable:
            if sub.default is NO_DEFAULT:
                del obj[key]
                continue
            found = NO_DEFAULT
        if found is NO_DEFAULT and sub.default is not NO_DEFAULT:
            obj[key] = clone(sub.default)
    for key, value in obj.items():
        below = node.child(key)
        if below is not None:
            _default_value(below, value)


def _default_value(node: Node, value: Any) -> None:
    if isinstance(value, dict):
        _default_object(node, value)
    elif isinstance(value, list) and node.items is not None:
        for item in value:
            _default_value(node.items, item)
