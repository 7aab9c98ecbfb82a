"""The reflector's store: relists report only real differences."""

from __future__ import annotations

from kubeapi.store import Change, Store


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
