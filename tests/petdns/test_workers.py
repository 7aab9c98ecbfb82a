"""`--workers N`: N UDP threads on SO_REUSEPORT sockets per listen address, one zone, one set of
counters at scrape time; the flag, the configuration key and their default."""

from __future__ import annotations

import os
import socket

import dns.message
import pytest

from petdns.answer.zone import RenderedZone
from petdns.serve.tally import merged_durations
from petdns.serve.transport import DnsServer
from tests.petdns.conftest import FIXED_NOW
from tests.support.dns_table import SETTINGS, objects

NAME = "web-0.nginx.default.svc.cluster.local"


def test_workers_from_flags_and_config_keys() -> None:
    from petdns.cli import _flag_values, _parser  # noqa: PLC0415
    from petdns.settings import config_file  # noqa: PLC0415
    from petdns.settings.options import OptionError, build  # noqa: PLC0415

    assert build(config_file.defaults(), connect=False).workers == len(os.sched_getaffinity(0))
    args = _parser().parse_args(["serve", "--workers", "3"])
    values = config_file.merge(config_file.parse("workers: 2\n", "f"), _flag_values(args))
    assert build(values, connect=False).workers == 3
    assert build(config_file.merge(config_file.parse("workers: 2\n", "f"), {}), connect=False).workers == 2
    for bad in (-1, 257):
        with pytest.raises(OptionError) as err:
            build({**config_file.defaults(), "workers": bad}, connect=False)
        assert err.value.key == "workers"


async def test_two_workers_share_the_port_and_answer_every_query() -> None:
    zone = RenderedZone(SETTINGS["default"], clock=lambda: FIXED_NOW)
    zone.load(objects())
    server = DnsServer(zone, [("127.0.0.1", 0)], workers=2)
    await server.start()
    host, port = server.bound[0]
    try:
        assert len(server.tallies) == 3  # two UDP threads and the event loop
        socks = [w.sock for w in server._workers]
        assert len({s.fileno() for s in socks}) == 2
        assert {s.getsockname() for s in socks} == {(host, port)}
        query = dns.message.make_query(NAME, "A")
        clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(32)]
        try:
            for client in clients:  # many source ports: the kernel spreads them over both sockets
                client.settimeout(2)
                client.sendto(query.to_wire(), (host, port))
            for client in clients:
                reply = dns.message.from_wire(client.recvfrom(4096)[0])
                assert reply.id == query.id and reply.answer
        finally:
            for client in clients:
                client.close()
        counted = sum(h.count for (_, code), h in merged_durations(server.tallies).items() if code == 1)
        assert counted == 32
        assert server.counters.answered == 32
        per_thread = [
            sum(h.count for t in w.tally.durations.values() for h in t.values()) for w in server._workers
        ]
        assert all(per_thread) and sum(per_thread) == 32  # both threads answered some
    finally:
        await server.stop()
