"""The rollout verbs' arguments and fixed texts, read as kubectl reads them. Pure.

`NAME`, `petset/NAME`, `petsets/NAME`, `petset.petdns.dev/NAME` and `petset NAME` name a set; Go durations
for `--timeout`; the restart patch; the `petset.petdns.dev/NAME` prefix kubectl's name printer writes.
"""

from __future__ import annotations

import re
from typing import Any

from kubectl_petset.rollout_status import RolloutError

GROUP = "petdns.dev"
RESOURCE = f"petsets.{GROUP}"
KIND_NAME = f"petset.{GROUP}"
TYPES = frozenset({"petset", "petsets", KIND_NAME, RESOURCE, "petset.v1.petdns.dev", "petsets.v1.petdns.dev"})
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def target(words: list[str]) -> str:
    """The set's name from `NAME`, `TYPE/NAME` or `TYPE NAME`; RolloutError for anything but a PetSet."""
    if len(words) == 2:
        kind, name = words
        if "/" in kind or "/" in name:
            raise RolloutError(
                "there is no need to specify a resource type as a separate argument"
                " when passing arguments in resource/name form"
            )
    elif len(words) == 1:
        kind, _, name = words[0].rpartition("/")
        kind = kind or "petset"
    else:
        raise RolloutError("required resource not specified")
    if kind.lower() not in TYPES:
        raise RolloutError(f'kubectl petset rollout works on petsets, not "{kind}": use kubectl rollout')
    if not name:
        raise RolloutError("arguments in resource/name form must have a single resource and name")
    return name


def duration(text: str) -> float:
    """A Go duration (`0`, `90s`, `1m30s`, `1.5h`, `250ms`) in seconds; ValueError as Go words it."""
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0.0
    spans = list(_PART.finditer(body))
    if not body or "".join(match.group(0) for match in spans) != body:
        if body and re.fullmatch(r"[\d.]+", body):
            raise ValueError(f'time: missing unit in duration "{text}"')
        raise ValueError(f'time: invalid duration "{text}"')
    seconds = sum(float(match.group(1)) * _UNITS[match.group(2)] for match in spans)
    return -seconds if text.startswith("-") else seconds


def flag_bool(text: str) -> bool:
    """A bool flag's value as Go's strconv.ParseBool reads it."""
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise ValueError(f'strconv.ParseBool: parsing "{text}": invalid syntax')


def dry_run(text: str) -> str:
    """`none`, `client` or `server`, as kubectl checks `--dry-run`."""
    if text not in ("none", "client", "server"):
        raise RolloutError(f'Invalid dry-run value ({text}). Must be "none", "server", or "client".')
    return text


def restart_patch(pet_set: dict[str, Any], now: str) -> dict[str, Any]:
    """The JSON merge patch that stamps the template with `restartedAt`; RolloutError when the stamp is
    already `now` (a second restart within the same second would change nothing)."""
    template = (pet_set.get("spec") or {}).get("template") or {}
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    if annotations.get(RESTARTED_AT) == now:
        name = (pet_set.get("metadata") or {}).get("name", "")
        raise RolloutError(
            f"failed to create patch for {name}: if restart has already been triggered"
            " within the past second, please wait before attempting to trigger another"
        )
    return {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}}


def not_supported(verb: str, name: str) -> RolloutError:
    """`pause` and `resume`: StatefulSets (and so PetSets) have no paused state."""
    return RolloutError(f'{RESOURCE} "{name}" {verb} is not supported')


def printed(name: str, operation: str) -> str:
    """kubectl's name printer: `petset.petdns.dev/NAME OPERATION`."""
    return f"{KIND_NAME}/{name} {operation}" if operation else f"{KIND_NAME}/{name}"
