"""Rollouts that heal themselves (opt-in, `rollingUpdate.replaceUnhealthy`): an outdated pet that has not been
Ready for `minReadySeconds` + `unhealthyAfterSeconds` is replaced with the revision its ordinal should run,
so a template fixed after a bad rollout converges without deleting pods by hand. Ready pets are never
touched here: the ordered walk and the rolling update replace them as before. Pure."""

from __future__ import annotations

from petset_controller.core.model import PetSet, Pod
from petset_controller.core.spec import ROLLING_UPDATE


def replace_in(pet_set: PetSet, pod: Pod, target: str, now: float) -> float | None:
    """Seconds until the pet may be replaced (0: now), or None when it is not to be replaced at all: the
    option is off, it is Ready, finished or terminating, or it already runs `target` (its ordinal's
    revision)."""
    strategy = pet_set.spec.update_strategy
    if not strategy.replace_unhealthy or strategy.type != ROLLING_UPDATE:
        return None
    if pod.running_ready or pod.finished or pod.terminating or pod.revision == target:
        return None
    since = pod.unready_since if pod.unready_since is not None else now
    return max(0.0, since + pet_set.spec.min_ready_seconds + strategy.unhealthy_after - now)


def waiting_note(pet_set: PetSet, pod: Pod, target: str, now: float) -> str:
    """What a condition adds about a pet that will be replaced ('' when it will not be)."""
    wait = replace_in(pet_set, pod, target, now)
    if wait is None:
        return ""
    when = "now" if wait == 0 else f"in {wait:.0f}s"
    return f"; it runs an outdated revision and is replaced with {target} {when} (replaceUnhealthy)"
