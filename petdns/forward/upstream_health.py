"""Upstream health (pure): consecutive failures take an upstream down; probes with backoff bring it back."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, TypeVar

POLICIES: Final = ("sequential", "random", "round_robin")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    """`max_fails` failures in a row take an upstream down (0: never, as CoreDNS's `max_fails 0`); it is
    probed after `backoff` seconds, doubled after each failed probe up to `max_backoff` (equal: a
    fixed interval, as CoreDNS's `health_check`)."""

    max_fails: int = 2
    backoff: float = 1.0
    max_backoff: float = 30.0

    def __post_init__(self) -> None:
        if self.max_fails < 0 or not 0 < self.backoff <= self.max_backoff:
            raise ValueError(f"bad health policy {self}")


class Health:
    """The state of one upstream. Times are seconds of the caller's monotonic clock."""

    __slots__ = ("backoff", "down", "fails", "policy", "probe_at")

    def __init__(self, policy: HealthPolicy = HealthPolicy()) -> None:
        self.policy = policy
        self.fails = 0  # failures in a row
        self.down = False  # skipped by queries until a probe (or any exchange) succeeds
        self.probe_at = 0.0  # when down: the next probe is due
        self.backoff = policy.backoff

    def success(self) -> None:
        """An exchange or probe got an answer: up again, the backoff reset."""
        self.fails = 0
        self.down = False
        self.backoff = self.policy.backoff

    def failure(self, now: float) -> bool:
        """An exchange failed (timeout, network error); True when this takes the upstream down, and a
        probe is then due at `probe_at`."""
        self.fails += 1
        if self.down or not self.policy.max_fails or self.fails < self.policy.max_fails:
            return False
        self.down = True
        self.probe_at = now + self.backoff
        return True

    def probe_failed(self, now: float) -> None:
        """A probe got no answer: double the backoff (capped), next probe at `probe_at`."""
        self.backoff = min(self.backoff * 2, self.policy.max_backoff)
        self.probe_at = now + self.backoff

    def __repr__(self) -> str:
        state = f"down, probe at {self.probe_at:.1f}" if self.down else "up"
        return f"Health({state}, {self.fails} failures in a row)"


def plan(
    upstreams: Sequence[T],
    health: Mapping[T, Health],
    *,
    policy: str = "sequential",
    rng: random.Random | None = None,
    turn: int = 0,
) -> list[T]:
    """The order to try upstreams in: the healthy ones (as configured, shuffled with `random`, or with
    `round_robin` rotated to start at the `turn`-th); when every one is down, all of them anyway, the
    one whose probe is due first leading."""
    healthy = [u for u in upstreams if not health[u].down]
    if healthy:
        if policy == "random" and len(healthy) > 1:
            (rng or random).shuffle(healthy)
        elif policy == "round_robin" and len(healthy) > 1:
            start = turn % len(healthy)
            healthy = healthy[start:] + healthy[:start]
        return healthy
    return sorted(upstreams, key=lambda u: health[u].probe_at)
