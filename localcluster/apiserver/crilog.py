"""A container's log file as the kubelet writes it (CRI format), read back for `pods/log` (pure).

Each file line is `<RFC 3339 time with nanoseconds> <stdout|stderr> <F|P> <text>`: F ends a line, P is a
piece of a longer one that the next line of the same stream continues. Served as upstream serves it: the
text alone, each full line ended by a newline; with timestamps, the time of a line's first piece in front
of it (`2006-01-02T15:04:05.000000000Z`, UTC, always nine digits).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_STAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")


@dataclass(frozen=True, slots=True)
class CriLine:
    """One logical line: when its first piece was written (epoch nanoseconds), its stream, its text, and
    whether it is complete (a file may end in the middle of a line)."""

    nanos: int
    stream: str
    text: bytes
    full: bool = True

    def render(self, *, timestamps: bool) -> bytes:
        """The line as served."""
        end = b"\n" if self.full else b""
        if not timestamps:
            return self.text + end
        return stamp_text(self.nanos).encode() + b" " + self.text + end


def parse_stamp(text: str) -> int | None:
    """RFC 3339 text with up to nine fraction digits to epoch nanoseconds; None when unreadable."""
    match = _STAMP.match(text)
    if match is None:
        return None
    whole, fraction, zone = match.groups()
    try:
        at = datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone))
    except ValueError:
        return None
    seconds = int(at.timestamp())
    return seconds * 1_000_000_000 + int((fraction or "").ljust(9, "0"))


def stamp_text(nanos: int) -> str:
    """Epoch nanoseconds as upstream prints a log line's time: UTC with nine fraction digits."""
    seconds, rest = divmod(nanos, 1_000_000_000)
    at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    return at.strftime("%Y-%m-%dT%H:%M:%S") + f".{rest:09d}Z"


def _split(raw: bytes) -> tuple[int, str, bool, bytes] | None:
    parts = raw.split(b" ", 3)
    if len(parts) < 3:
        return None
    nanos = parse_stamp(parts[0].decode("ascii", "replace"))
    stream, tag = parts[1].decode("ascii", "replace"), parts[2]
    if nanos is None or stream not in ("stdout", "stderr") or tag not in (b"F", b"P"):
        return None
    return nanos, stream, tag == b"F", parts[3] if len(parts) == 4 else b""


class CriReader:
    """Turns file bytes into logical lines, keeping what it has not seen whole (a line still being
    written, pieces waiting for their end) for the next `feed`."""

    def __init__(self) -> None:
        self._rest = b""
        self._pieces: dict[str, tuple[int, bytes]] = {}

    def feed(self, data: bytes) -> list[CriLine]:
        """The complete lines `data` finishes, in file order; unreadable file lines are skipped."""
        lines: list[CriLine] = []
        *whole, self._rest = (self._rest + data).split(b"\n")
        for raw in whole:
            parsed = _split(raw)
            if parsed is None:
                continue
            nanos, stream, full, text = parsed
            first, before = self._pieces.pop(stream, (nanos, b""))
            if full:
                lines.append(CriLine(first, stream, before + text))
            else:
                self._pieces[stream] = (first, before + text)
        return lines

    def pending(self) -> list[CriLine]:
        """Pieces of lines the file has not ended (served as they are when a file is read to its end)."""
        return [CriLine(at, stream, text, full=False) for stream, (at, text) in self._pieces.items()]


def read_lines(data: bytes) -> list[CriLine]:
    """Every line of a file as it is now: pieces the file has not ended yet included, a file line still
    being written (no newline yet) left out."""
    reader = CriReader()
    return reader.feed(data) + reader.pending()


def pick(lines: list[CriLine], *, tail: int | None, since_nanos: int | None) -> list[CriLine]:
    """The lines a request asks for: those written since a time, then the last `tail` of them."""
    if since_nanos is not None:
        lines = [line for line in lines if line.nanos >= since_nanos]
    if tail is not None:
        lines = lines[-tail:] if tail > 0 else []
    return lines


def render(lines: list[CriLine], *, timestamps: bool) -> bytes:
    """Lines as served, one after the other."""
    return b"".join(line.render(timestamps=timestamps) for line in lines)
