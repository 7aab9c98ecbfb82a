"""EDNS options on the fast path: well-formed ones are answered there as on the full path; an option
whose length runs past the record makes the query malformed (FORMERR): the fast path leaves it to the
full path, which says so."""

from __future__ import annotations

import asyncio
import socket
import struct

import dns.message
import dns.rcode
import pytest

from petdns.answer.dispatch import full
from petdns.answer.zone import RenderedZone
from petdns.serve.transport import DnsServer
from tests.support.loops import LOOPS, fast_answer

NAME = "web-0.nginx.default.svc.cluster.local"


def _with_options(options: bytes) -> bytes:
    query = dns.message.make_query(NAME, "A", use_edns=False).to_wire()
    opt = b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00" + struct.pack("!H", len(options)) + options
    return query[:10] + b"\x00\x01" + query[12:] + opt


GOOD = [
    b"",
    struct.pack("!HH", 10, 8) + b"cookie!!",
    struct.pack("!HH", 12, 0) + struct.pack("!HH", 65001, 1) + b"x",
    struct.pack("!HH", 10, 2)
    + b"abcd",  # less than an option header left at the end: ignored, as dnslib does
]
LIES = [
    struct.pack("!HH", 10, 20) + b"abcd",  # longer than what is there
    struct.pack("!HH", 10, 0) + struct.pack("!HH", 8, 9) + b"12345678",  # the second one runs past the end
]


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("options", GOOD)
def test_well_formed_options_are_answered_on_the_fast_path(
    zones: dict[str, RenderedZone], options: bytes, loop: str
) -> None:
    zone = zones["default"]
    data = _with_options(options)
    fast = fast_answer(loop, zone, data)
    assert fast is not None and fast == full(zone, data)
    assert dns.message.from_wire(fast).rcode() == dns.rcode.NOERROR


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("options", LIES)
def test_an_option_length_that_lies_is_formerr(
    zones: dict[str, RenderedZone], options: bytes, loop: str
) -> None:
    zone = zones["default"]
    data = _with_options(options)
    assert fast_answer(loop, zone, data) is None
    reply = full(zone, data)
    assert reply is not None and reply[:2] == data[:2] and reply[3] & 0xF == dns.rcode.FORMERR


async def test_through_the_server(zones: dict[str, RenderedZone]) -> None:
    server = DnsServer(zones["default"], [("127.0.0.1", 0)])
    await server.start()
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    try:
        for options, rcode in ((GOOD[1], dns.rcode.NOERROR), (LIES[0], dns.rcode.FORMERR)):
            data = _with_options(options)
            await loop.sock_sendto(sock, data, server.bound[0])
            reply = await asyncio.wait_for(loop.sock_recv(sock, 65535), 2)
            assert reply[:2] == data[:2] and reply[3] & 0xF == rcode
    finally:
        sock.close()
        await server.stop()
