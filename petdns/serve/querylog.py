"""The per-query log (`--query-log`): one line per answered query, as CoreDNS's `log` plugin prints it.

    127.0.0.1:53412 - 4660 "A IN web-0.nginx.default.svc.cluster.local. udp 68 false 1232" NOERROR
    qr,aa,rd 110 0.000052s   (one line)

client:port - id "type class name proto size do bufsize" rcode flags size duration. With
`--log-format json` the same fields are also separate keys of the line. `describe` is pure; the
transports call `emit` only while the query log is on, after the reply has been sent.
"""

from __future__ import annotations

import logging
import struct
from typing import Any

import dnslib

from petdns.dns.constants import FLAG_NAMES, MIN_UDP
from petdns.dns.query import OPT_HEAD
from petdns.serve.tally import rcode_name

log = logging.getLogger("petdns.query")


def _question(data: bytes) -> tuple[str, int, int, int, bool] | None:
    """(name, type, class, EDNS size or 512, DO) of a raw query; None when it cannot be read."""
    i, labels = 12, []
    while i < len(data) and data[i]:
        size = data[i]
        if size > 63 or i + 1 + size > len(data):
            return None
        labels.append(data[i + 1 : i + 1 + size].decode("latin-1").replace(".", "\\."))
        i += 1 + size
    if i + 5 > len(data):
        return None
    qtype, qclass = struct.unpack_from("!HH", data, i + 1)
    size, do, opt = MIN_UDP, False, i + 5
    if len(data) >= opt + 11 and data[10:12] != b"\x00\x00" and data[opt : opt + 3] == OPT_HEAD:
        size = max(MIN_UDP, struct.unpack_from("!H", data, opt + 3)[0])
        do = bool(data[opt + 7] & 0x80)
    return ".".join(labels) + ".", qtype, qclass, size, do


def flags_text(reply: bytes) -> str:
    """The reply's header flags, e.g. `qr,aa,rd`."""
    flags = struct.unpack_from("!H", reply, 2)[0] if len(reply) >= 4 else 0
    return ",".join(name for bit, name in FLAG_NAMES if flags & bit)


def describe(  # noqa: PLR0917
    data: bytes, reply: bytes, proto: str, client: str, port: int, seconds: float
) -> tuple[str, dict[str, Any]]:
    """The log line of one query and its reply, and the same as fields."""
    qid = struct.unpack_from("!H", data, 0)[0] if len(data) >= 2 else 0
    question = _question(data)
    if question is None:
        name, qtype, qclass, bufsize, do = "-", "-", "-", MIN_UDP, False
    else:
        name, t, c, bufsize, do = question
        qtype, qclass = dnslib.QTYPE.get(t, f"TYPE{t}"), dnslib.CLASS.get(c, f"CLASS{c}")
    rcode = rcode_name(reply[3] & 0x0F) if len(reply) >= 4 else "-"
    rflags = flags_text(reply)
    duration = f"{seconds:.9f}".rstrip("0").rstrip(".") + "s"
    host = f"[{client}]" if ":" in client else client
    message = (
        f'{host}:{port} - {qid} "{qtype} {qclass} {name} {proto} {len(data)} {str(do).lower()} {bufsize}" '
        f"{rcode} {rflags} {len(reply)} {duration}"
    )
    fields = {
        "client": client,
        "port": port,
        "id": qid,
        "qtype": qtype,
        "qclass": qclass,
        "qname": name,
        "proto": proto,
        "size": len(data),
        "do": do,
        "bufsize": bufsize,
        "rcode": rcode,
        "rflags": rflags,
        "rsize": len(reply),
        "duration": round(seconds, 9),
    }
    return message, fields


def emit(  # noqa: PLR0917
    data: bytes, reply: bytes, proto: str, client: str, port: int, seconds: float
) -> None:
    """Log one query (INFO on `petdns.query`); never raises."""
    try:
        message, fields = describe(data, reply, proto, client, port, seconds)
        log.info(message, extra=fields)
    except Exception:
        log.exception("logging a query")
