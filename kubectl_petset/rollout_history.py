"""`rollout history` and `rollout undo` on a PetSet's ControllerRevisions, as kubectl does them for a
StatefulSet. Pure: the revisions a set controls, the history table, a revision's template, the undo decision.

A revision's `data` is `{"spec": {"template": {..., "$patch": "replace"}}}` (a strategic merge patch that
puts the template back wholesale). Custom resources take no strategic merge patch, so undo sends the
JSON patch `replace /spec/template` with the marker removed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubectl_petset.podtemplate import describe_template
from kubectl_petset.rollout_status import RolloutError

CHANGE_CAUSE = "kubernetes.io/change-cause"
NO_HISTORY = "No rollout history found."


def _m(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def number(revision: Mapping[str, Any]) -> int:
    value = revision.get("revision")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def controlled_by(
    pet_set: Mapping[str, Any], revisions: Iterable[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The revisions whose controller is this set (by uid), by revision number."""
    uid = _m(pet_set.get("metadata")).get("uid")
    mine = [
        revision
        for revision in revisions
        if uid
        and any(
            ref.get("controller") is True and ref.get("uid") == uid
            for ref in _m(revision.get("metadata")).get("ownerReferences") or []
            if isinstance(ref, Mapping)
        )
    ]
    return sorted(mine, key=number)


def template_of(revision: Mapping[str, Any]) -> dict[str, Any]:
    """The pod template a revision restores (its patch marker removed)."""
    template = copy.deepcopy(dict(_m(_m(_m(revision.get("data")).get("spec")).get("template"))))
    template.pop("$patch", None)
    return template


def tabulate(rows: Sequence[tuple[str, ...]]) -> str:
    """Columns padded as kubectl's tabwriter pads them (two spaces past the widest cell; last column bare)."""
    widths = [max(len(row[col]) for row in rows) + 2 for col in range(len(rows[0]) - 1)] if rows else []
    return "".join(
        "".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + row[-1] + "\n"
        for row in rows
    )


def history_text(revisions: list[Mapping[str, Any]], revision: int = 0) -> str:
    """What `rollout history` prints after the set's name: the REVISION/CHANGE-CAUSE table, or with
    `revision` that revision's pod template. Raises RolloutError when the revision is not there."""
    by_number = {number(r): r for r in revisions}
    if not by_number:
        return NO_HISTORY
    if revision > 0:
        found = by_number.get(revision)
        if found is None:
            raise RolloutError("unable to find the specified revision")
        return describe_template(template_of(found))
    rows = [("REVISION", "CHANGE-CAUSE")]
    for key in sorted(by_number):
        cause = _m(_m(by_number[key].get("metadata")).get("annotations")).get(CHANGE_CAUSE)
        rows.append((str(key), str(cause) if cause else "<none>"))
    return tabulate(rows)


def find_revision(revisions: list[Mapping[str, Any]], to_revision: int) -> Mapping[str, Any]:
    """The revision undo returns to: the given number, or (0) the one before the newest."""
    if to_revision < 0:
        raise RolloutError(f"unable to find specified revision {to_revision} in history")
    ordered = sorted(revisions, key=number)
    if to_revision == 0:
        if len(ordered) <= 1:
            raise RolloutError("no last revision to roll back to")
        return ordered[-2]
    for revision in ordered:
        if number(revision) == to_revision:
            return revision
    raise RolloutError(f"unable to find specified revision {to_revision} in history")


@dataclass(frozen=True, slots=True)
class Undo:
    """What undo does: send `patch` (None: nothing to do) and print `message` after the set's name."""

    message: str
    patch: list[dict[str, Any]] | None
    template: dict[str, Any]


def plan_undo(pet_set: Mapping[str, Any], revisions: list[Mapping[str, Any]], to_revision: int) -> Undo:
    """The undo of a set to a revision: skipped when the template already is that revision's."""
    target = find_revision(revisions, to_revision)
    template = template_of(target)
    if _m(pet_set.get("spec")).get("template") == template:
        return Undo(
            f"skipped rollback (current template already matches revision {to_revision})", None, template
        )
    return Undo("rolled back", [{"op": "replace", "path": "/spec/template", "value": template}], template)


def dry_run_text(undo: Undo) -> str:
    """What a client-side dry run prints after the set's name."""
    return f"will roll back to {describe_template(undo.template)}"
