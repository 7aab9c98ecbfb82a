"""Raw objects (files or API lists) into a view: the model and catalog petdns answers from, plus the
raw-only facts; and the record type a user names."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from petdns.dns.constants import TYPE_NAMES
from petdns.explain.facts import Facts
from petdns.explain.services import View
from petdns.schema.catalog import Catalog
from petdns.schema.model import ModelError, from_raw
from petdns.settings.values import Settings

TYPES = {name: number for number, name in TYPE_NAMES.items()}


class InputError(ValueError):
    """An object that does not fit the model (in strict mode), or an unknown record type."""


def check_name(name: str) -> str:
    """A name as asked, stripped; InputError when it is empty, too long or has an empty label."""
    name = name.strip()
    labels = name.rstrip(".").split(".")
    if (
        not name.rstrip(".")
        or len(name.rstrip(".")) > 253
        or any(not label or len(label) > 63 for label in labels)
    ):
        raise InputError(f"{name!r} is not a DNS name")
    return name


def parse_type(text: str) -> int:
    """`A`, `srv`, `TYPE65` or `65` → the type number; InputError otherwise."""
    upper = text.strip().upper()
    if upper in TYPES:
        return TYPES[upper]
    digits = upper.removeprefix("TYPE")
    if digits.isdigit() and 0 < int(digits) < 65536:
        return int(digits)
    raise InputError(f"unknown record type {text!r} (A, AAAA, SRV, PTR, CNAME, TXT, SOA, NS, ...)")


def view_of(
    raws: Iterable[tuple[str, Mapping[str, Any]]], settings: Settings, *, strict: bool
) -> tuple[View, list[str]]:
    """The view of (where, raw object) pairs, and one line per object skipped. `strict`: a malformed
    object raises InputError naming where it is (files); otherwise it is skipped (a live cluster)."""
    catalog, facts, skipped = Catalog(), Facts(), []
    for where, raw in raws:
        try:
            obj = from_raw(raw)
        except ModelError as err:
            line = f"{where}: field {err.field}: {err.message}"
            if strict:
                raise InputError(line) from None
            skipped.append(line)
            continue
        if obj is None:
            continue
        catalog.upsert(obj)
        facts.add(raw)
        facts.pods_known = facts.pods_known or raw.get("kind") == "Pod"
    return View(catalog, settings, facts), skipped
