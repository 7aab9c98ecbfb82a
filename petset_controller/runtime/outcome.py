"""How a sync ends and what it works on: the target set, the outcome, and Stop (the cache is behind)."""

from __future__ import annotations

from dataclasses import dataclass

from petset_controller.core.model import PetSet


class Stop(Exception):
    """End this sync without writing more: the cache is behind (a name clash, a replaced set)."""


@dataclass(frozen=True, slots=True)
class Target:
    """The PetSet a sync works on, with the resourceVersion its cached copy has."""

    pet_set: PetSet
    resource_version: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a sync ended: when to look again, the first failure (if any), and why it stopped early
    (empty when it did not)."""

    requeue_after: float | None = None
    error: Exception | None = None
    stopped: str = ""
