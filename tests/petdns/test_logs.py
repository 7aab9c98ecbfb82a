"""Log lines: JSON objects with the extra fields, and the query log's line (CoreDNS's `log` format)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import dns.flags
import dns.message
import pytest

from petdns.serve import logs, querylog


def _query(name: str, qtype: str, **kw: object) -> bytes:
    query = dns.message.make_query(name, qtype, **kw)  # type: ignore[arg-type]
    query.id = 4660
    wire: bytes = query.to_wire()
    return wire


def test_describe_a_query_as_coredns_logs_it() -> None:
    data = _query("Web-0.nginx.default.svc.cluster.local", "A", use_edns=0, payload=1232, want_dnssec=True)
    reply = dns.message.make_response(dns.message.from_wire(data))
    reply.flags |= dns.flags.AA
    wire = reply.to_wire()
    message, fields = querylog.describe(data, wire, "udp", "10.244.0.7", 40123, 0.000052)
    assert message == (
        f'10.244.0.7:40123 - 4660 "A IN Web-0.nginx.default.svc.cluster.local. udp {len(data)} true 1232" '
        f"NOERROR qr,aa,rd {len(wire)} 0.000052s"
    )
    assert fields["qname"] == "Web-0.nginx.default.svc.cluster.local." and fields["do"] is True
    assert fields["bufsize"] == 1232 and fields["rflags"] == "qr,aa,rd" and fields["duration"] == 0.000052


def test_describe_without_edns_an_ipv6_client_and_a_malformed_query() -> None:
    data = _query("x.example", "SRV")
    message, fields = querylog.describe(data, data[:2] + b"\x81\x83" + data[4:], "tcp", "::1", 5353, 0.25)
    assert message.startswith('[::1]:5353 - 4660 "SRV IN x.example. tcp') and " false 512" in message
    assert fields["rcode"] == "NXDOMAIN" and message.endswith(" 0.25s")
    message, fields = querylog.describe(b"\x12\x34\x00\x00\x00\x01", b"", "udp", "127.0.0.1", 1, 0.0)
    assert '"- - -' in message and fields["rcode"] == "-"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    root = logging.getLogger()
    level = root.level
    logs.configure("info", "json")
    handler = logs._handler
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(out)
    yield out
    root.removeHandler(handler)
    root.setLevel(level)
    logs._handler = None


def test_json_lines_carry_time_level_logger_message_and_extras(stream: io.StringIO) -> None:
    log = logging.getLogger("petdns.test")
    log.info("hello %s", "there", extra={"client": "10.0.0.1", "size": 42})
    log.debug("not at info")
    try:
        raise ValueError("broken")
    except ValueError:
        log.exception("failed")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "hello there" and first["level"] == "INFO" and first["logger"] == "petdns.test"
    assert first["client"] == "10.0.0.1" and first["size"] == 42
    assert first["time"].endswith("+00:00") and "T" in first["time"]
    assert second["level"] == "ERROR" and "ValueError: broken" in second["exception"]


def test_the_format_and_level_change_in_place_and_the_query_log_ignores_the_level(
    stream: io.StringIO,
) -> None:
    logs.configure("error", "text")
    logging.getLogger("petdns.test").warning("dropped at error")
    querylog.emit(_query("a.example", "A"), b"", "udp", "127.0.0.1", 1, 0.001)
    (line,) = stream.getvalue().splitlines()
    assert " INFO petdns.query: 127.0.0.1:1 - 4660 " in line
