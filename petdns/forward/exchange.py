"""One query to one upstream: UDP from a fresh socket (a random source port), TCP when the reply has TC.

Raise TimeoutError when no matching reply arrives in time and OSError when the network says no
(ICMP unreachable, connection refused or reset).
"""

from __future__ import annotations

import asyncio
import socket
import struct

from petdns.forward import relay
from petdns.forward.upstreams import Upstream

MAX_MESSAGE = 65535


async def exchange(upstream: Upstream, query: bytes, timeout: float) -> tuple[bytes, bool]:
    """The upstream's reply to `query` and whether it came over TCP (after a truncated UDP reply).
    Each transport gets `timeout` seconds."""
    reply = await udp(upstream, query, timeout)
    if relay.truncated(reply):
        return await tcp(upstream, query, timeout), True
    return reply, False


async def udp(upstream: Upstream, query: bytes, timeout: float) -> bytes:
    """Send over a connected UDP socket; wait for the reply that matches ID and question (others are
    ignored, as forged or late ones would be)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(upstream.family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.connect(upstream.address)
        sock.send(query)
        async with asyncio.timeout(timeout):
            while True:
                data = await loop.sock_recv(sock, MAX_MESSAGE)
                if relay.answers(data, query):
                    return data
    finally:
        sock.close()


async def tcp(upstream: Upstream, query: bytes, timeout: float) -> bytes:
    """One query on a new TCP connection (RFC 7766 framing)."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(upstream.host, upstream.port)
        try:
            writer.write(struct.pack("!H", len(query)) + query)
            await writer.drain()
            while True:
                size = struct.unpack("!H", await reader.readexactly(2))[0]
                data = await reader.readexactly(size)
                if relay.answers(data, query):
                    return data
        except asyncio.IncompleteReadError as err:
            raise ConnectionResetError("the upstream closed the connection") from err
        finally:
            writer.close()
