"""A forward-only petdns (no cluster zone): NodeLocal DNSCache's Corefile, with its addresses moved to
loopback, in front of an upstream petdns serving the DNS table's objects. The cluster names and the
pet IPs' PTRs come through the stub domains (over TCP upstream, as `force_tcp` asks), over UDP and TCP,
and stay answered from the cache once the upstream is gone; `zones: []` in a YAML config does the
same. Nothing is watched and no objects are loaded."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import dns.asyncquery
import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype
import dns.reversename
import dns.rrset
import pytest
import yaml

from petdns.answer.zone import RenderedZone
from petdns.app import ConfigSource, serving
from petdns.serve.lifecycle import Lifecycle
from petdns.settings import config_file
from petdns.settings.options import OptionError, build
from tests.support.dns_table import CASES, CLUSTER, REFUSED
from tests.support.tools import free_port
from tests.support.waiting import eventually

HOST = "127.0.0.1"
NODELOCAL = Path(__file__).parents[1] / "data" / "corefiles" / "nodelocaldns.Corefile"
PET = "web-0.nginx.default.svc.cluster.local"
PET_IP = "10.244.0.10"
TABLE = [c for c in CASES if c.settings == "default" and c.rcode != REFUSED]


@dataclass
class Process:
    proc: asyncio.subprocess.Process
    log: Path
    port: int

    async def ask(self, name: str, qtype: str = "A", *, tcp: bool = False) -> dns.message.Message:
        query = dns.message.make_query(name, qtype, use_edns=0, payload=1232)
        send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
        return await send(query, HOST, port=self.port, timeout=3)

    async def answering(self, name: str, *, tcp: bool = False) -> None:
        async def ok() -> bool:
            if self.proc.returncode is not None:
                raise AssertionError(f"petdns exited: {self.log.read_text()}")
            try:
                return (await self.ask(name, tcp=tcp)).rcode() == dns.rcode.NOERROR
            except (OSError, dns.exception.Timeout):
                return False

        await eventually(ok, f"petdns answering {name}", timeout=20)

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)  # gone at once: no lame duck answering on
            await self.proc.wait()


async def start(log: Path, port: int, *args: str) -> Process:
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "petdns",
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env={**os.environ, "KUBECONFIG": str(log.with_suffix(".nokubeconfig"))},
        )
    return Process(proc, log, port)


@pytest.fixture
async def upstream(tmp_path: Path) -> AsyncIterator[Process]:
    """The cluster DNS: petdns serving the table's objects, not forwarding, logging each query."""
    port = free_port()
    served = await start(
        tmp_path / "upstream.log",
        port,
        "serve",
        "--objects",
        CLUSTER,
        "--no-forward",
        "--ttl",
        "60",
        "--listen",
        f"{HOST}:{port}",
        "--metrics-listen",
        f"{HOST}:{free_port()}",
        "--query-log",
    )
    await served.answering(PET, tcp=True)  # the upstream's log: only TCP from the forwarders
    yield served
    await served.kill()


def nodelocal_corefile(tmp_path: Path, upstream: int, port: int) -> Path:
    """NodeLocal DNSCache's Corefile on loopback: the cluster DNS is `upstream`, resolv.conf names a
    loopback address where nothing answers."""
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(f"nameserver {HOST}\n")
    text = NODELOCAL.read_text()
    for old, new in (
        ("bind 169.254.20.10 10.96.0.10", f"bind {HOST}"),
        (":53 {", f":{port} {{"),
        ("forward . 10.96.0.10", f"forward . {HOST}:{upstream}"),
        ("/etc/resolv.conf", str(resolv)),
        ("prometheus :9253", f"prometheus {HOST}:{free_port()}"),
        ("health 169.254.20.10:8080", f"health {HOST}:{free_port()}"),
    ):
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "Corefile"
    path.write_text(text)
    return path


def record(owner: str, rtype: str, rdata: str) -> str:
    """A record without its TTL (a cache counts it down), an SOA without serial and minimum."""
    if rtype == "SOA":
        mname, rname, _serial, *timers, _minimum = rdata.split()
        rdata = " ".join([mname, rname, *timers])
    return f"{owner} {rtype} {rdata}"


def records(rrsets: list[dns.rrset.RRset]) -> frozenset[str]:
    return frozenset(
        record(r.name.to_text().lower(), dns.rdatatype.to_text(r.rdtype), rd.to_text())
        for r in rrsets
        for rd in r
    )


async def check_table(front: Process) -> None:
    for case in TABLE:
        fields = [line.split(" ", 4) for line in case.answer]  # owner ttl IN type rdata
        expected = frozenset(record(owner, rtype, rdata) for owner, _, _, rtype, rdata in fields)
        for tcp in (False, True):
            reply = await front.ask(case.name, case.qtype, tcp=tcp)
            assert reply.rcode() == case.rcode, case.id
            assert records(reply.answer) == expected, case.id
            if not case.answer:  # negative answers carry the upstream's SOA, for negative caching
                assert [r.rdtype for r in reply.authority] == [dns.rdatatype.SOA], case.id


async def test_nodelocal_corefile_forwards_the_cluster_zones_and_caches(
    tmp_path: Path, upstream: Process
) -> None:
    port = free_port()
    corefile = nodelocal_corefile(tmp_path, upstream.port, port)
    front = await start(tmp_path / "nodelocal.log", port, "-conf", str(corefile))
    try:
        await front.answering(PET)
        await check_table(front)
        ptr = await front.ask(dns.reversename.from_address(PET_IP).to_text(), "PTR")
        assert records(ptr.answer) == {f"10.0.244.10.in-addr.arpa. PTR {PET}."}
        logged = [line for line in upstream.log.read_text().splitlines() if "petdns.query" in line]
        assert len(TABLE) <= len(logged) < 2 * len(TABLE)  # the second (TCP) ask: mostly cache hits
        assert all(" tcp " in line for line in logged), logged[:3]  # force_tcp
        front_log = (tmp_path / "nodelocal.log").read_text()
        assert "watching" not in front_log and "loaded 0 objects" in front_log

        await upstream.kill()
        for name, qtype in (
            (PET, "A"),
            ("nginx.default.svc.cluster.local", "SRV"),
            (ptr.question[0].name, "PTR"),
        ):
            cached = await front.ask(str(name), qtype)
            assert cached.rcode() == dns.rcode.NOERROR and cached.answer, (name, qtype)
            assert 5 < cached.answer[0].ttl <= 30  # `success 9984 30` caps the upstream's 60
        gone = await front.ask("never-asked.default.svc.cluster.local", tcp=True)
        assert gone.rcode() == dns.rcode.SERVFAIL
    finally:
        await front.kill()


async def test_zones_empty_in_a_config_file_is_a_forward_only_server(
    tmp_path: Path, upstream: Process
) -> None:
    port = free_port()
    config = tmp_path / "petdns.yaml"
    up = f"{HOST}:{upstream.port}"
    config.write_text(
        f"zones: []\nlisten: ['{HOST}:{port}']\nmetrics_listen: ['{HOST}:{free_port()}']\n"
        f"upstream: ['{HOST}:{free_port()}']\n"
        f"stub_domains: {{cluster.local: ['{up}'], in-addr.arpa: ['{up}'], ip6.arpa: ['{up}']}}\n"
    )
    front = await start(tmp_path / "front.log", port, "serve", "--config", str(config))
    try:
        await front.answering(PET)
        await check_table(front)
        ptr = await front.ask("10.0.244.10.in-addr.arpa", "PTR", tcp=True)
        assert records(ptr.answer) == {f"10.0.244.10.in-addr.arpa. PTR {PET}."}
        logged = upstream.log.read_text()
        assert '"PTR IN 10.0.244.10.in-addr.arpa. ' in logged  # forwarded: no local reverse zone
    finally:
        await front.kill()


def test_no_cluster_zone_loads_and_watches_nothing() -> None:
    values = config_file.merge({"zones": []}, {})
    options = build(values, connect=True)  # no kubeconfig is looked for
    assert options.kube is None and options.settings.served_zones == ()
    for key, value in (("objects", [CLUSTER]), ("kubeconfig", "/nonexistent"), ("context", "kind")):
        with pytest.raises(OptionError) as err:
            build({**values, key: value}, connect=False)
        assert err.value.key == key
    normal = build(config_file.merge({"objects": [CLUSTER]}, {}), connect=True)
    assert normal.settings.served_zones == ("cluster.local", "in-addr.arpa", "ip6.arpa")


async def test_a_reload_to_or_from_no_cluster_zone_takes_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "petdns.yaml"
    given = {
        "zones": [],
        "listen": [f"{HOST}:0"],
        "metrics_listen": [],
        "upstream": [f"{HOST}:{free_port()}"],
    }
    path.write_text(yaml.safe_dump(given))
    values = config_file.merge(config_file.load(str(path)), {"metrics_listen": []})
    options = build(values, connect=False)
    zone = RenderedZone(options.settings)
    config = ConfigSource(str(path), {}, values)
    async with serving(options, zone, lifecycle=Lifecycle(), config=config) as runtime:
        with pytest.raises(OptionError) as err:
            runtime.apply({**values, "zones": ["cluster.local"]})
        assert err.value.key == "zones" and runtime.options.settings.zones == ()
        runtime.apply({**values, "upstream": [f"{HOST}:{free_port()}"]})  # forwarding: applied
        assert runtime.server.zone is zone and runtime.config is not None
        assert runtime.config.values["upstream"] != values["upstream"]
