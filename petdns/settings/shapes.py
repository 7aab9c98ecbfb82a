"""Settings values with structure (pure): access rules, cache kinds, prefetch, each from a mapping in
the configuration file or from the text of its flag, in CoreDNS's Corefile words.

- `acl`: `[ZONES...] allow|block|filter|drop [type TYPES...] [net NETS...]` or `{zones, action, types,
  nets}` -> `{"zones": [...], "action": str, "types": [...], "nets": [...]}`.
- `cache_success` / `cache_denial`: `CAPACITY [TTL [MINTTL]]` or `{capacity, ttl, min_ttl}` ->
  `{"capacity": int, "ttl": int | None, "min_ttl": int | None}`.
- `cache_prefetch`: `AMOUNT [DURATION [PERCENTAGE%]]` or `{amount, duration, percentage}` ->
  `{"amount": int, "duration": float, "percentage": int}` (CoreDNS's defaults: 1m, 10%).
"""

from __future__ import annotations

from typing import Any, Final

ACTIONS: Final = ("allow", "block", "filter", "drop")
CACHE_KINDS: Final = ("success", "denial")
PREFETCH_DURATION: Final = 60.0
PREFETCH_PERCENTAGE: Final = 10


def _strings(value: Any, what: str) -> list[str]:
    items = [value] if isinstance(value, str) else [] if value is None else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ValueError(f"{what}: expected a list of strings, got {value!r}")
    return list(items)


def acl_rule(value: Any) -> dict[str, Any]:
    """One access rule, from its text or its mapping."""
    if isinstance(value, str):
        return _acl_text(value)
    if not isinstance(value, dict):
        raise ValueError(f"expected an acl rule (text or mapping), got {value!r}")
    unknown = set(value) - {"zones", "action", "types", "nets"}
    if unknown:
        raise ValueError(f"acl rule: unknown field {sorted(map(str, unknown))[0]!r}")
    action = value.get("action")
    if action not in ACTIONS:
        raise ValueError(f"acl action: expected one of {', '.join(ACTIONS)}, got {action!r}")
    return {
        "zones": _strings(value.get("zones"), "acl zones"),
        "action": action,
        "types": _strings(value.get("types"), "acl types"),
        "nets": _strings(value.get("nets"), "acl nets"),
    }


def _acl_text(text: str) -> dict[str, Any]:
    words = text.split()
    at = next((i for i, w in enumerate(words) if w in ACTIONS), None)
    if at is None:
        raise ValueError(f"acl rule {text!r}: expected [ZONES] {'|'.join(ACTIONS)} [type T...] [net N...]")
    out: dict[str, Any] = {"zones": words[:at], "action": words[at], "types": [], "nets": []}
    field = None
    for word in words[at + 1 :]:
        if word in ("type", "net"):
            field = "types" if word == "type" else "nets"
        elif field is None:
            raise ValueError(f"acl rule {text!r}: {word!r} is neither `type` nor `net`")
        else:
            out[field].append(word)
    return out


def acl(value: Any) -> list[dict[str, Any]]:
    """The rules, in order."""
    items = [value] if isinstance(value, str | dict) else value
    if not isinstance(items, list):
        raise ValueError(f"expected a list of acl rules, got {value!r}")
    return [acl_rule(item) for item in items]


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{what}: expected an integer, got {value!r}")
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if not isinstance(value, int):
        raise ValueError(f"{what}: expected an integer, got {value!r}")
    return value


def cache_kind(value: Any) -> dict[str, Any] | None:
    """A cache's capacity and TTL bounds (None: the cache_size / cache_*_ttl keys)."""
    if value is None:
        return None
    if isinstance(value, str | int) and not isinstance(value, bool):
        words = str(value).split()
        if not 1 <= len(words) <= 3:
            raise ValueError(f"{value!r}: expected CAPACITY [TTL [MINTTL]]")
        value = dict(zip(("capacity", "ttl", "min_ttl"), words, strict=False))
    if not isinstance(value, dict) or "capacity" not in value or set(value) - {"capacity", "ttl", "min_ttl"}:
        raise ValueError(f"expected {{capacity, ttl, min_ttl}} or CAPACITY [TTL [MINTTL]], got {value!r}")
    return {
        "capacity": _count(value["capacity"], "capacity"),
        "ttl": None if value.get("ttl") is None else _count(value["ttl"], "ttl"),
        "min_ttl": None if value.get("min_ttl") is None else _count(value["min_ttl"], "min_ttl"),
    }


def prefetch(value: Any, duration: Any) -> dict[str, Any] | None:
    """Prefetch settings (None: off); `duration` reads a duration text."""
    if value is None:
        return None
    if isinstance(value, str | int) and not isinstance(value, bool):
        words = str(value).split()
        if not 1 <= len(words) <= 3:
            raise ValueError(f"{value!r}: expected AMOUNT [DURATION [PERCENTAGE%]]")
        value = dict(zip(("amount", "duration", "percentage"), words, strict=False))
    allowed = {"amount", "duration", "percentage"}
    if not isinstance(value, dict) or "amount" not in value or set(value) - allowed:
        raise ValueError(
            f"expected {{amount, duration, percentage}} or AMOUNT [DURATION [PCT%]], got {value!r}"
        )
    percentage = value.get("percentage", PREFETCH_PERCENTAGE)
    if isinstance(percentage, str):
        percentage = percentage.strip().removesuffix("%")
    return {
        "amount": _count(value["amount"], "amount"),
        "duration": float(duration(value.get("duration", PREFETCH_DURATION))),
        "percentage": _count(percentage, "percentage"),
    }


def cache_disable(value: Any) -> list[str]:
    """The kinds of answers not cached."""
    kinds = _strings(value, "cache_disable")
    for kind in kinds:
        if kind not in CACHE_KINDS:
            raise ValueError(f"expected success or denial, got {kind!r}")
    return list(dict.fromkeys(kinds))
