"""The TCP side of bench/fuzz.py: bursts of pipelined, length-prefixed mutated queries on a pool of
connections, some ending in a length prefix that lies; replies come in order and are judged in order."""

from __future__ import annotations

import asyncio
import random
import struct

from dnsrig import HOST
from fuzzcheck import Tally, check_reply, sample
from mutate import MAX_TCP_MESSAGE, mutate

CLOSE_DEADLINE = 5.0  # seconds for the server to answer and close after the client's EOF
LIE_SHARE = 0.2  # bursts ending in a length prefix that lies


def _burst(rng: random.Random, seeds: list[bytes], size: int, tally: Tally) -> tuple[list[bytes], bytes]:
    """(the honest queries, the bytes to send: their frames, perhaps a lying frame at the end).

    Messages the server drops (responses, runts), which end the connection, go last."""
    made = []
    for _ in range(size):
        family, data = mutate(rng, seeds)
        tally.families[family] += 1
        made.append(data)
    made.sort(key=lambda data: len(data) < 12 or bool(data[2] & 0x80))
    queries, frames = [], bytearray()
    for i, data in enumerate(made):
        numbered = struct.pack("!H", i) + data[2:] if len(data) >= 2 else data
        queries.append(numbered)
        frames += struct.pack("!H", len(numbered)) + numbered
    if rng.random() < LIE_SHARE:
        _, data = mutate(rng, seeds)
        lie = rng.choice(
            [0, 1, 11, 12, max(0, len(data) - 1), len(data) + 1, len(data) + 100, MAX_TCP_MESSAGE]
        )
        frames += struct.pack("!H", min(lie, 0xFFFF)) + data  # a 64 KiB packet's + 100 still fits the prefix
        tally.lies += 1
    return queries, bytes(frames)


async def _read_replies(reader: asyncio.StreamReader) -> list[bytes]:
    replies = []
    try:
        while True:
            size = struct.unpack("!H", await reader.readexactly(2))[0]
            replies.append(await reader.readexactly(size))
    except (asyncio.IncompleteReadError, ConnectionError):
        return replies


async def _run_burst(port: int, queries: list[bytes], frames: bytes, tally: Tally, notes: list[str]) -> None:
    try:
        reader, writer = await asyncio.open_connection(HOST, port)
    except OSError as err:
        notes.append(f"TCP: cannot connect: {err}") if len(notes) < 10 else None
        return
    tally.connections += 1
    tally.sent += len(queries)
    reading = asyncio.create_task(_read_replies(reader))
    try:
        writer.write(frames)
        await writer.drain()
        writer.write_eof()
    except ConnectionError:
        pass  # closed by the server (a query it drops ends the connection): the replies so far count
    try:
        replies = await asyncio.wait_for(reading, CLOSE_DEADLINE)
    except TimeoutError:
        tally.malformed += 1  # counted with the violations: a connection the server keeps after EOF
        if len(notes) < 10:
            notes.append(f"TCP: connection still open {CLOSE_DEADLINE} s after the client's EOF")
        replies = []
    finally:
        writer.close()
    for i, reply in enumerate(replies):
        query = queries[i] if i < len(queries) else b""  # past the honest queries: a lie's pieces
        problem = check_reply(query, reply, udp=False, tally=tally)
        if problem is not None:
            tally.malformed += 1
            if len(notes) < 10:
                notes.append(sample("TCP", query, reply, problem))


async def tcp_round(  # noqa: PLR0917
    port: int,
    rng: random.Random,
    seeds: list[bytes],
    count: int,
    connections: int,
    tally: Tally,
    notes: list[str],
) -> None:
    """`count` mutated queries in bursts of 1-64, `connections` bursts at once."""
    bursts = []
    left = count
    while left > 0:
        size = min(left, rng.randint(1, 64))
        bursts.append(_burst(rng, seeds, size, tally))
        left -= size
    queue = iter(bursts)

    async def worker() -> None:
        for queries, frames in queue:
            await _run_burst(port, queries, frames, tally, notes)

    await asyncio.gather(*(worker() for _ in range(connections)))
