"""`petdns -conf Corefile` (CoreDNS's command line) as a process on loopback: the DNS table through it, the
live reload following the Corefile and its imports, a bad Corefile rejected with one line; `serve` refusing
a Corefile it cannot express, naming the line."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import dns.asyncquery
import dns.exception
import dns.message
import dns.rcode
import pytest

from petdns.cli import main
from tests.support.dns_table import CASES, CLUSTER
from tests.support.dnsmsg import check
from tests.support.tools import free_port
from tests.support.waiting import eventually

HOST = "127.0.0.1"
PET = "web-0.nginx.default.svc.cluster.local"
COREFILE = """\
# petdns reads CoreDNS's Corefile
.:{$DNS_PORT} {
    errors
    bind 127.0.0.1
    health 127.0.0.1:{$HTTP_PORT}
    ready 127.0.0.1:{$HTTP_PORT}
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        import extra/*.conf
    }
    hosts {$HOSTS_FILE} corp.test {
        192.0.2.7 db.corp.test
    }
    rewrite name exact pet.corp.test web-0.nginx.default.svc.cluster.local
    reload
}
"""


@dataclass
class Served:
    proc: asyncio.subprocess.Process
    corefile: Path
    log: Path
    port: int

    async def ask(self, name: str, qtype: str = "A", *, tcp: bool = False) -> dns.message.Message:
        query = dns.message.make_query(name, qtype, use_edns=0, payload=1232)
        send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
        return await send(query, HOST, port=self.port, timeout=3)

    async def logged(self, *parts: str) -> str:
        async def find() -> str | None:
            lines = self.log.read_text(errors="replace").splitlines()
            return next((line for line in lines if all(p in line for p in parts)), None)

        return await eventually(find, f"a log line with {parts}", timeout=10)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    port = free_port()
    corefile = tmp_path / "Corefile"
    corefile.write_text(COREFILE)
    (tmp_path / "extra").mkdir()
    log = tmp_path / "petdns.log"
    (tmp_path / "hosts").write_text("")
    env = {
        **os.environ,
        "DNS_PORT": str(port),
        "HTTP_PORT": str(free_port()),
        "HOSTS_FILE": str(tmp_path / "hosts"),
    }
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "petdns",
            "-conf",  # as kubeadm's Deployment passes it
            str(corefile),
            "--objects",
            CLUSTER,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=env,
        )
    served = Served(proc, corefile, log, port)

    async def answers() -> bool:
        if proc.returncode is not None:
            raise AssertionError(f"petdns exited: {log.read_text()}")
        try:
            return (await served.ask(PET)).rcode() == dns.rcode.NOERROR
        except (OSError, dns.exception.Timeout):
            return False

    await eventually(answers, "petdns answering", timeout=20)
    yield served
    if proc.returncode is None:
        proc.terminate()
        await proc.wait()


async def test_the_dns_table_through_a_corefile(served: Served) -> None:
    soa = await served.ask("cluster.local", "SOA")
    serial = soa.answer[0][0].serial
    for case in (c for c in CASES if c.settings == "default"):
        for tcp in (False, True):
            check(case, await served.ask(case.name, case.qtype, tcp=tcp), serial)


async def test_hosts_and_rewrite_of_the_corefile(served: Served) -> None:
    hosts = await served.ask("db.corp.test")
    assert [(r.name.to_text(), r[0].to_text()) for r in hosts.answer] == [("db.corp.test.", "192.0.2.7")]
    pet = await served.ask("pet.corp.test", tcp=True)
    assert [(r.name.to_text(), r[0].to_text()) for r in pet.answer] == [("pet.corp.test.", "10.244.0.10")]


async def test_reload_follows_imports_and_keeps_the_settings_of_a_bad_corefile(served: Served) -> None:
    assert (await served.ask(PET)).answer[0].ttl == 5
    (served.corefile.parent / "extra" / "ttl.conf").write_text("ttl 30\n")  # a new file an import matches

    async def ttl(want: int) -> bool:
        return (await served.ask(PET)).answer[0].ttl == want

    await eventually(lambda: ttl(30), "the imported ttl applied", timeout=10)
    await served.logged("reloaded: ttl")
    fresh = served.corefile.with_suffix(".new")
    fresh.write_text(COREFILE.replace("    reload\n", "    reload\n    autopath @kubernetes\n"))
    os.replace(fresh, served.corefile)
    line = await served.logged("corefile", "keeping the settings in force")
    assert f"{served.corefile}:15: autopath: a CoreDNS plugin petdns does not have" in line
    assert await ttl(30)
    (served.corefile.parent / "extra" / "ttl.conf").write_text("ttl 7\n")
    fresh.write_text(COREFILE)
    os.replace(fresh, served.corefile)
    await eventually(lambda: ttl(7), "the fixed Corefile applied", timeout=10)


HEALTH_TWICE = ".:53 {\n    health :8080\n    health :8081 {\n        lameduck 1s\n    }\n}\n"
REFUSED = [
    (".:53 {\n    kubernetes cluster.local\n    whoami\n}\n", "Corefile:3: whoami: a CoreDNS plugin petdns"),
    (".:53 {\n    frobnicate\n}\n", "Corefile:2: frobnicate: unknown directive"),
    (".:53 {\n    forward . 1.1.1.1 {\n        tls_servername x\n    }\n}\n", "Corefile:3: tls_servername: "),
    (".:53 {\n    kubernetes cluster.local {\n        ttl 99999\n    }\n}\n", "Corefile:3: ttl: expected a"),
    (".:53 {\n    kubernetes a.local\n}\n.:54 {\n    kubernetes b.local\n}\n", "Corefile:5: kubernetes: "),
    (HEALTH_TWICE, "Corefile:3: health: given twice in this server block"),
    (
        ".:53 {\n    kubernetes cluster.local {\n        ttl 5\n        ttl 6\n    }\n}\n",
        "Corefile:4: ttl: ttl is one",
    ),
    ("corp.example:53 {\n    errors\n}\n", "Corefile:1: corp.example:53: nothing in this block answers"),
    ("tls://.:853 {\n    errors\n}\n", "Corefile:1: tls://.:853: tls:// servers are not supported"),
]


@pytest.mark.parametrize(("text", "message"), REFUSED)
def test_serve_refuses_what_it_cannot_express_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    (tmp_path / "Corefile").write_text(text)
    never = ["--kubeconfig", str(tmp_path / "none")]  # a Corefile that maps stops at this instead of serving
    assert main(["serve", "--corefile", str(tmp_path / "Corefile"), "--objects", CLUSTER, *never]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"petdns: error: corefile {tmp_path}/")
    assert message in err


def test_an_option_a_value_check_rejects_names_the_corefile_line(tmp_path: Path) -> None:
    corefile = f".:{free_port()} {{\n    bind 127.0.0.1\n    ready 999.1.1.1:8181\n}}\n"
    (tmp_path / "Corefile").write_text(corefile)
    proc = subprocess.run(  # a process: serving configures logging, once per process
        [sys.executable, "-m", "petdns", "-conf", str(tmp_path / "Corefile"), "--objects", CLUSTER],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"petdns: error: corefile {tmp_path}/Corefile:3: ready_listen: ")


def test_corefile_and_config_exclude_each_other(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["serve", "--corefile", "Corefile", "--config", "petdns.yaml"])
    assert caught.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
