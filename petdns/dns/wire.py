"""DNS wire codec (plain values only): names, header variants, the OPT record, header-only error replies."""

from __future__ import annotations

import struct
from functools import lru_cache

from petdns.dns.constants import DO, OPCODE, QR, RD

_LENGTHS = tuple(bytes((n,)) for n in range(256))  # a label's length byte


def encode_name(labels: tuple[bytes, ...]) -> bytes:
    """Uncompressed wire form of a name."""
    return b"".join([_LENGTHS[len(label)] + label for label in labels]) + b"\x00"


def split_labels(name: str) -> tuple[bytes, ...]:
    """The labels of a dotted (lower-case, absolute, dot-less) name as bytes."""
    return tuple(name.encode().split(b"."))  # UTF-8 never has a 0x2E byte inside a character


def wire_name(name: str) -> bytes:
    """Uncompressed wire form of a dotted name."""
    return encode_name(split_labels(name))


@lru_cache(maxsize=4096)
def headers(flags: int, an: int, ns: int, ar: int) -> tuple[bytes, bytes, bytes, bytes]:
    """The ten header bytes after the ID, by variant: index = RD bit | (EDNS present << 1)."""
    return tuple(  # type: ignore[return-value]
        struct.pack("!HHHHH", flags | (RD if i & 1 else 0), 1, an, ns, ar + (i >> 1)) for i in range(4)
    )


@lru_cache(maxsize=1024)
def opt_record(size: int, do: bool, ext_rcode: int = 0) -> bytes:
    """An OPT pseudo-record: version 0, the given UDP size, the DO bit as given, no options."""
    return b"\x00\x00\x29" + struct.pack("!HBBHH", size, ext_rcode, 0, DO if do else 0, 0)


def error_reply(query_id: bytes, flags: int, rcode: int, question: bytes = b"") -> bytes:
    """A header-only (or header + question) error reply; opcode and RD copied from the query flags."""
    out_flags = QR | (flags & (OPCODE | RD)) | rcode
    return query_id + struct.pack("!HHHHH", out_flags, 1 if question else 0, 0, 0, 0) + question
