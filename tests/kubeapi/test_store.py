"""The reflector's store: relists report only real differences."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from kubeapi.store import Change, Key, Store


def test_put_and_remove_report_only_changes() -> None:
    store: Store[int] = Store()
    assert store.put(("a", "x"), 1) == Change(("a", "x"), None, 1)
    assert store.put(("a", "x"), 1) is None  # same value: no flap
    assert store.put(("a", "x"), 2) == Change(("a", "x"), 1, 2)
    assert store.remove(("a", "y")) is None
    assert store.remove(("a", "x")) == Change(("a", "x"), 2, None)
    assert len(store) == 0


def test_replace_yields_adds_updates_and_deletes_only() -> None:
    store: Store[str] = Store()
    store.replace([(("", "keep"), "k"), (("", "change"), "old"), (("", "gone"), "g")])
    changes = store.replace([(("", "keep"), "k"), (("", "change"), "new"), (("", "fresh"), "f")])
    assert sorted(changes, key=lambda c: c.key) == [
        Change(("", "change"), "old", "new"),
        Change(("", "fresh"), None, "f"),
        Change(("", "gone"), "g", None),
    ]
    assert sorted(store) == [("", "change"), ("", "fresh"), ("", "keep")]
    assert store.replace([(("", "keep"), "k"), (("", "change"), "new"), (("", "fresh"), "f")]) == []


def _by_app(value: dict[str, str]) -> list[str]:
    return [value["app"]] if "app" in value else []


def _by_label(value: dict[str, str]) -> list[str]:
    return [f"{k}={v}" for k, v in value.items()]


def test_indexes_follow_puts_removes_and_relists() -> None:
    store: Store[dict[str, str]] = Store({"app": _by_app, "label": _by_label})
    store.put(("ns", "a"), {"app": "web", "tier": "db"})
    store.put(("ns", "b"), {"app": "web"})
    store.put(("ns", "c"), {"tier": "db"})
    assert store.keys_by("app", "web") == {("ns", "a"), ("ns", "b")}
    assert store.by("label", "tier=db") == [{"app": "web", "tier": "db"}, {"tier": "db"}]
    store.put(("ns", "0"), {"tier": "db", "v": "1"})
    assert store.values_by("label", "tier=db")[-1] == {"tier": "db", "v": "1"}  # order joined, no sort
    store.put(("ns", "0"), {"tier": "db", "v": "2"})  # an update stays in place with its new value
    assert store.values_by("label", "tier=db")[-1] == {"tier": "db", "v": "2"}
    store.remove(("ns", "0"))
    store.put(("ns", "a"), {"app": "db"})
    assert store.keys_by("app", "web") == {("ns", "b")} and store.keys_by("label", "tier=db") == {("ns", "c")}
    store.remove(("ns", "b"))
    assert store.keys_by("app", "web") == set() and "app=web" not in store.index_values("label")
    store.replace([(("ns", "d"), {"app": "web"})])
    assert store.keys_by("app", "web") == {("ns", "d")} and store.index_values("app") == ["web"]


_VALUES = st.dictionaries(st.sampled_from(["app", "tier"]), st.sampled_from(["web", "db"]), max_size=2)
_KEYS = st.sampled_from([("ns", n) for n in "abcd"])
_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("put"), _KEYS, _VALUES),
        st.tuples(st.just("remove"), _KEYS, st.none()),
        st.tuples(st.just("replace"), st.none(), st.dictionaries(_KEYS, _VALUES, max_size=4)),
    ),
    max_size=20,
)


@given(_OPS)
def test_indexes_equal_a_scan_after_any_sequence(ops: list[tuple[str, Any, Any]]) -> None:
    store: Store[dict[str, str]] = Store({"label": _by_label})
    for op, key, value in ops:
        if op == "put":
            store.put(key, value)
        elif op == "remove":
            store.remove(key)
        else:
            store.replace(value.items())
    scan: dict[str, set[Key]] = {}
    for key in store:
        for label in _by_label(store.get(key) or {}):
            scan.setdefault(label, set()).add(key)
    assert {v: store.keys_by("label", v) for v in store.index_values("label")} == scan
    for label, keys in scan.items():
        stored = [store.get(k) for k in keys]
        found = store.values_by("label", label)
        assert len(found) == len(stored) and all(value in stored for value in found)
