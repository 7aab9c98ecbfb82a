"""DNS query mutations for bench/fuzz.py: each family takes a valid query and returns hostile bytes.

Deterministic from the `random.Random` given. The ID (first two bytes) is left to the caller, which
numbers its queries to match the replies.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from itertools import accumulate

import dns.message

Mutation = Callable[[random.Random, bytes], bytes]
MAX_UDP_PAYLOAD = 65507  # the largest IPv4 UDP datagram
MAX_TCP_MESSAGE = 65535


def seed_queries(names: list[tuple[str, str]], rng: random.Random) -> list[bytes]:
    """Valid queries for `(name, type)`: without EDNS, with EDNS 512/1232/4096 and DO, and in mixed case."""
    out = []
    for name, qtype in names:
        for edns in (None, 512, 1232, 4096):
            for do in (False, True) if edns else (False,):
                spelled = "".join(c.upper() if rng.random() < 0.3 else c for c in name)
                if edns is None:
                    query = dns.message.make_query(spelled, qtype, use_edns=False)
                else:
                    query = dns.message.make_query(spelled, qtype, use_edns=0, payload=edns, want_dnssec=do)
                out.append(query.to_wire())
    return out


def _question_end(data: bytes) -> int:
    """Where the question's name ends (its terminating zero), or len(data) when it runs out."""
    i = 12
    while i < len(data) and data[i]:
        i += data[i] + 1
    return min(i, len(data))


def bit_flips(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        pos = rng.randrange(2, len(out)) if len(out) > 2 else 0
        out[pos] ^= 1 << rng.randrange(8)
    return bytes(out)


def truncation(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))]


def label_lies(rng: random.Random, data: bytes) -> bytes:
    """A label length byte set to a lie: past the end, above 63, a pointer or extended label type."""
    out = bytearray(data)
    starts, i = [], 12
    while i < len(out) and out[i]:
        starts.append(i)
        i += out[i] + 1
    pos = rng.choice(starts or [12])
    if pos < len(out):
        out[pos] = rng.choice(
            [0, 63, 64, 127, 0x40, 0x80, 0xBF, 0xFF, rng.randrange(256), min(255, len(out) - pos)]
        )
    return bytes(out)


def pointers(rng: random.Random, data: bytes) -> bytes:
    """Compression pointers in the question: to itself, loops between two, forward, past the end."""
    end = _question_end(data)
    tail = data[end + 1 :] if end < len(data) else b"\x00\x01\x00\x01"
    kind = rng.randrange(5)
    if kind == 0:  # the name is a pointer to itself
        name = b"\xc0\x0c"
    elif kind == 1:  # a label, then a pointer back to the name's start: an endless name
        name = b"\x03abc\xc0\x0c"
    elif kind == 2:  # two labels pointing at each other
        name = b"\x01a\xc0\x10\x01b\xc0\x0c"
    elif kind == 3:  # forward, into the type and class or an OPT record
        name = b"\x01x" + struct.pack("!H", 0xC000 | (12 + 4 + rng.randrange(0, 20)))
    else:  # past the end of the message
        name = struct.pack("!H", 0xC000 | rng.randrange(min(len(data), 0x3FFE), 0x3FFF))
    return data[:12] + name + tail


def huge_counts(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data.ljust(12, b"\x00"))
    for _ in range(rng.randint(1, 4)):
        field = rng.randrange(4)
        value = rng.choice([0, 2, 3, 0x7FFF, 0xFFFF, rng.randrange(65536)])
        struct.pack_into("!H", out, 4 + 2 * field, value)
    return bytes(out)


def _opt(  # noqa: PLR0917
    size: int, ext_rcode: int, version: int, flags: int, options: bytes, owner: bytes = b"\x00"
) -> bytes:
    return owner + struct.pack("!HHBBHH", 41, size, ext_rcode, version, flags, len(options)) + options


def _strip_additional(data: bytes) -> tuple[bytes, int]:
    """The query up to its question's end (type and class included) and its ARCOUNT."""
    end = _question_end(data)
    return data[: end + 5], struct.unpack_from("!H", data, 10)[0] if len(data) >= 12 else 0


def several_opts(rng: random.Random, data: bytes) -> bytes:
    base, _ = _strip_additional(data)
    n = rng.randint(2, 5)
    opts = b"".join(_opt(rng.choice([512, 1232, 4096]), 0, 0, rng.choice([0, 0x8000]), b"") for _ in range(n))
    return base[:10] + struct.pack("!H", n) + base[12:] + opts


def odd_edns(rng: random.Random, data: bytes) -> bytes:
    """One OPT record with an odd version, size, flags, owner or options (lengths that lie included)."""
    base, _ = _strip_additional(data)
    version = rng.choice([0, 0, 1, 2, 255])
    size = rng.choice([0, 1, 511, 512, 1232, 4096, 65535])
    flags = rng.choice([0, 0x8000, 0x7FFF, 0xFFFF])
    options = b""
    for _ in range(rng.randint(0, 4)):
        code = rng.choice([3, 8, 10, 11, 12, 15, 65001, rng.randrange(65536)])
        body = rng.randbytes(rng.choice([0, 1, 8, 16, 40]))
        length = (
            len(body) if rng.random() < 0.7 else rng.choice([0, len(body) + 1, 65535, rng.randrange(65536)])
        )
        options += struct.pack("!HH", code, length) + body
    owner = b"\x00" if rng.random() < 0.85 else rng.choice([b"\x01a\x00", b"\xc0\x0c"])
    return base[:10] + b"\x00\x01" + base[12:] + _opt(size, rng.randrange(4), version, flags, options, owner)


def odd_types_and_classes(rng: random.Random, data: bytes) -> bytes:
    end = _question_end(data)
    qtype = rng.choice([0, 41, 250, 251, 252, 253, 254, 255, 256, 65535, rng.randrange(65536)])
    qclass = rng.choice([0, 1, 3, 4, 254, 255, 65535, rng.randrange(65536)])
    return data[: end + 1] + struct.pack("!HH", qtype, qclass) + data[end + 5 :]


def odd_name_bytes(rng: random.Random, data: bytes) -> bytes:
    """Bytes 0x00, '.', 0xff, upper case or any byte inside labels; or a name of 63-byte labels up to
    255 bytes and beyond."""
    end = _question_end(data)
    if rng.random() < 0.25:
        count = rng.choice([3, 4, 5])
        name = b"".join(
            b"\x3f" + bytes(rng.choice(b"aZ.-_\x00\xff") for _ in range(63)) for _ in range(count)
        )
        return data[:12] + name + b"\x00" + data[end + 1 :]
    out = bytearray(data)
    labels, i = [], 12
    while i < end:
        labels.append(i)
        i += out[i] + 1
    for _ in range(rng.randint(1, 4)):
        start = rng.choice(labels or [12])
        if start < len(out) and out[start] and start + out[start] < len(out):
            pos = start + 1 + rng.randrange(out[start])
            out[pos] = rng.choice(
                [0x00, 0x2E, 0xFF, ord("A"), ord("Z"), 0x80, 0x20, 0x5C, rng.randrange(256)]
            )
    return bytes(out)


def header_flags(rng: random.Random, data: bytes) -> bytes:
    """Opcodes other than QUERY, QR, TC, Z, AD, CD, rcodes in a query."""
    out = bytearray(data.ljust(12, b"\x00"))
    out[2] = rng.choice([0x80, 0x08, 0x10, 0x20, 0x28, 0x30, 0x78, 0x02, 0x03, rng.randrange(256)])
    out[3] = rng.choice([0x00, 0x40, 0x20, 0x10, 0x0F, rng.randrange(256)])
    return bytes(out)


def sizes(rng: random.Random, data: bytes) -> bytes:
    """Zero-length, shorter than a header, or 64 KiB (a query padded with junk, or junk alone)."""
    kind = rng.randrange(4)
    if kind == 0:
        return b""
    if kind == 1:
        return data[: rng.randrange(1, 12)]
    big = MAX_UDP_PAYLOAD
    if kind == 2:
        return data + rng.randbytes(big - len(data))
    return data[:12] + rng.randbytes(big - 12)


def junk(rng: random.Random, data: bytes) -> bytes:
    """Junk after the query, several questions, or random bytes after a header."""
    kind = rng.randrange(3)
    if kind == 0:
        return data + rng.randbytes(rng.randint(1, 64))
    if kind == 1:
        base, _ = _strip_additional(data)
        n = rng.randint(2, 4)
        return base[:4] + struct.pack("!H", n) + b"\x00\x00\x00\x00" + base[12:] * n
    return data[:2] + rng.randbytes(rng.randint(10, 300))


FAMILIES: dict[str, Mutation] = {
    "bit flips": bit_flips,
    "truncation": truncation,
    "label-length lies": label_lies,
    "compression pointers": pointers,
    "huge counts": huge_counts,
    "several OPT": several_opts,
    "odd EDNS": odd_edns,
    "odd types/classes": odd_types_and_classes,
    "odd name bytes": odd_name_bytes,
    "header flags": header_flags,
    "0 B / 64 KiB": sizes,
    "junk": junk,
}
_NAMES = list(FAMILIES)
_CUMULATIVE = list(accumulate(0.1 if name == "0 B / 64 KiB" else 1.0 for name in _NAMES))  # 64 KiB: rarer
_STACKED = (0, 0, 0, 1, 2)  # further mutations on top of the first


def mutate(rng: random.Random, seeds: list[bytes]) -> tuple[str, bytes]:
    """One hostile query: one to three mutations of a random seed query; the first names the family."""
    data = rng.choice(seeds)
    first = rng.choices(_NAMES, cum_weights=_CUMULATIVE)[0]
    data = FAMILIES[first](rng, data)
    for _ in range(rng.choice(_STACKED)):
        if len(data) < 12:  # nothing left to mutate but bytes
            break
        data = FAMILIES[rng.choices(_NAMES, cum_weights=_CUMULATIVE)[0]](rng, data)
    return first, data[:MAX_UDP_PAYLOAD]
