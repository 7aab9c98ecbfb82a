"""A configurable upstream for forwarding tests: UDP and TCP on one loopback port, answers from a dict.

Per name (or for every name, `default`) it answers, fails with SERVFAIL or REFUSED, drops the query,
or waits first; UDP replies larger than the client's size (512 without EDNS) come back empty with TC,
as a real server does. Every query is recorded.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field

import dnslib

ANSWER, SERVFAIL, REFUSED, DROP = "answer", "servfail", "refused", "drop"


@dataclass
class Seen:
    """One query as the resolver received it."""

    transport: str
    name: str  # as spelled on the wire, without the trailing dot
    qtype: str
    edns: int  # the query's UDP size, 0 without OPT
    do: bool
    flags: int


@dataclass
class ScriptedResolver:
    """Records as zone-file lines; names without records are NXDOMAIN with the SOA of `soa_zone`."""

    records: dict[str, list[str]] = field(default_factory=dict)  # lower name -> zone lines
    mode: str = ANSWER  # for names without a rule in `modes`
    modes: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    soa_zone: str = "test"
    negative_ttl: int = 60
    host: str = "127.0.0.1"
    seen: list[Seen] = field(default_factory=list)
    port: int = 0
    _udp: asyncio.DatagramTransport | None = None
    _tcp: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def add(self, *lines: str) -> None:
        """Zone-file lines, e.g. `www.example.test. 300 IN A 192.0.2.1`."""
        for line in lines:
            name = line.split()[0].rstrip(".").lower()
            self.records.setdefault(name, []).append(line)

    def count(self, name: str | None = None, transport: str | None = None) -> int:
        return sum(
            1
            for s in self.seen
            if (name is None or s.name.lower() == name.lower())
            and (transport is None or s.transport == transport)
        )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def start(self) -> ScriptedResolver:
        loop = asyncio.get_running_loop()
        resolver = self

        class Udp(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                task = loop.create_task(resolver._answer_udp(data, addr))
                resolver._tasks.add(task)
                task.add_done_callback(resolver._tasks.discard)

        for _ in range(20):  # a free UDP port whose TCP twin is free too
            self._udp, _ = await loop.create_datagram_endpoint(Udp, local_addr=(self.host, self.port))
            port = self._udp.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._tcp_client, self.host, port)
            except OSError:
                self._udp.close()
                if self.port:
                    raise
                continue
            self.port = port
            return self
        raise OSError(f"no free port pair on {self.host}")

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()

    async def _answer_udp(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = await self._reply(data, "udp")
        if reply is not None and self._udp is not None and not self._udp.is_closing():
            self._udp.sendto(reply, addr)

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                size = struct.unpack("!H", await reader.readexactly(2))[0]
                reply = await self._reply(await reader.readexactly(size), "tcp")
                if reply is None:
                    continue
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _reply(self, data: bytes, transport: str) -> bytes | None:
        query = dnslib.DNSRecord.parse(data)
        q = query.q
        name = str(q.qname).rstrip(".")
        opt = [rr for rr in query.ar if rr.rtype == dnslib.QTYPE.OPT]
        edns = opt[0].rclass if opt else 0
        do = bool(opt and opt[0].ttl & 0x8000)
        self.seen.append(Seen(transport, name, dnslib.QTYPE[q.qtype], edns, do, query.header.bitmap))
        mode = self.modes.get(name.lower(), self.mode)
        if self.delay:
            await asyncio.sleep(self.delay)
        if mode == DROP:
            return None
        reply = query.reply()
        reply.header.ra = 1
        if mode in (SERVFAIL, REFUSED):
            reply.header.rcode = dnslib.RCODE.SERVFAIL if mode == SERVFAIL else dnslib.RCODE.REFUSED
            packed: bytes = reply.pack()
            return packed
        lines = self.records.get(name.lower())
        if lines is None:
            reply.header.rcode = dnslib.RCODE.NXDOMAIN
            reply.add_auth(self._soa())
        else:
            rrs = [rr for line in lines for rr in dnslib.RR.fromZone(line)]
            matching = [rr for rr in rrs if rr.rtype in (q.qtype, dnslib.QTYPE.CNAME)]
            for rr in matching:
                rr.rname = q.qname  # the owner as the question spells it
                reply.add_answer(rr)
            if not matching:
                reply.add_auth(self._soa())
        if opt:
            reply.add_ar(dnslib.EDNS0(udp_len=4096, flags="do" if do else ""))
        wire: bytes = reply.pack()
        if transport == "udp" and len(wire) > max(512, edns):
            reply.rr = []
            reply.auth = []
            reply.header.tc = 1
            wire = reply.pack()
        return wire

    def _soa(self) -> dnslib.RR:
        z = self.soa_zone
        return dnslib.RR.fromZone(
            f"{z}. {self.negative_ttl} IN SOA ns.{z}. host.{z}. 1 7200 1800 86400 {self.negative_ttl}"
        )[0]
