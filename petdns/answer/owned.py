"""A service's rendered names, kept compact for when they are to be cleared: each as the labels in
front of one of the service's base names (its name in each cluster zone) and that base's index."""

from __future__ import annotations

from collections.abc import Iterable

WHOLE = 255  # the index of a name kept whole (under none of the bases)


def join_owned(wires: Iterable[bytes], bases: tuple[bytes, ...]) -> bytes:
    """Lower-case wire names as one bytes value: per name its base's index, then its labels in front of
    that base and a zero byte (a name under no base: `WHOLE`, then the name)."""
    out = bytearray()
    for wire in wires:
        for index, base in enumerate(bases):
            cut = len(wire) - len(base)
            if cut >= 0 and wire.endswith(base) and _boundary(wire, cut):
                out.append(index)
                out += wire[:cut]
                out.append(0)
                break
        else:
            out.append(WHOLE)
            out += wire
    return bytes(out)


def split_owned(joined: bytes, bases: tuple[bytes, ...]) -> list[bytes]:
    """`join_owned` undone, with the same bases."""
    out = []
    i, end = 0, len(joined)
    while i < end:
        index, start = joined[i], i + 1
        i = start
        while joined[i]:
            i += joined[i] + 1
        i += 1
        out.append(joined[start:i] if index == WHOLE else joined[start : i - 1] + bases[index])
    return out


def _boundary(wire: bytes, at: int) -> bool:
    """Whether a label starts at offset `at` of a wire name."""
    i = 0
    while i < at:
        i += wire[i] + 1
    return i == at
