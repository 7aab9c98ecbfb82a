"""`petdns peers` against `petdns serve` on loopback (a headless service whose pets come and go through a
configuration reload), and the peer finder's pure decisions."""

from __future__ import annotations

import ast
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from petdns.peers import core
from petdns.peers.core import PeerFinder, PeersError, nameserver, namespace_domain, own_names, stdin_text
from tests.petdns.test_cli_dig import _free_port
from tests.support.pets import Cluster, Pet
from tests.support.process import wait_for

PETS = tuple(Pet(f"web-{i}", f"10.244.0.{10 + i}") for i in range(4))
ZONE = "nginx.default.svc.cluster.local"
NAMES = [f"web-{i}.{ZONE}" for i in range(4)]


def _answers(port: int) -> bool:
    query = b"\x12\x34\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07cluster\x05local\x00\x00\x06\x00\x01"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.settimeout(0.2)
        try:
            probe.sendto(query, ("127.0.0.1", port))
            return probe.recv(512)[:2] == b"\x12\x34"
        except OSError:
            return False


class Served:
    """`petdns serve` following a configuration file that names the objects file in force."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.config = directory / "petdns.yaml"
        self.pets(3)
        self.port = _free_port()
        command = [sys.executable, "-m", "petdns", "serve", "--config", str(self.config)]
        command += ["--listen", f"127.0.0.1:{self.port}", "--lameduck", "0", "--no-metrics"]
        self.proc = subprocess.Popen(command, stderr=subprocess.DEVNULL)
        wait_for(lambda: _answers(self.port), what="petdns serve to answer")

    def pets(self, count: int) -> None:
        objects = self.directory / f"pets-{count}.yaml"
        objects.write_text(Cluster(pets=PETS[:count]).yaml())
        self.config.write_text(f"objects: [{objects}]\n")

    def peers(self, me: str, *flags: str) -> subprocess.Popen[str]:
        command = [sys.executable, "-m", "petdns", "peers", "--service", "nginx", "--domain", "cluster.local"]
        command += ["--nameserver", f"127.0.0.1:{self.port}", "--self", me, *flags]
        env = {**os.environ, "POD_NAMESPACE": "default"}
        return subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    server = Served(tmp_path)
    yield server
    server.proc.kill()
    server.proc.wait()


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_on_start_gets_the_sorted_peers_and_exits(served: Served, tmp_path: Path) -> None:
    out = tmp_path / "peers.txt"
    proc = served.peers(NAMES[1], "--on-start", f"cat > {out}")
    assert proc.wait(timeout=15) == 0, proc.stderr.read() if proc.stderr else ""
    assert out.read_text() == "".join(f"{name}\n" for name in NAMES[:3])
    failing = served.peers(NAMES[1], "--on-start", "echo no >&2; exit 3")
    assert failing.wait(timeout=15) == 1
    assert failing.stderr is not None and "no\n" in failing.stderr.read()


def test_a_new_pet_waits_for_itself_and_on_change_follows(served: Served, tmp_path: Path) -> None:
    changes, joined = tmp_path / "changes.txt", tmp_path / "joined.txt"
    watcher = served.peers(NAMES[0].upper(), "--on-change", f"cat >> {changes}; echo --- >> {changes}")
    newcomer = served.peers(NAMES[3], "--on-start", f"cat > {joined}")
    try:
        wait_for(lambda: _lines(changes) == [*NAMES[:3], "---"], timeout=15, what="on-change at start")
        time.sleep(1.2)  # a lookup or more without this pet: its on-start waits
        assert newcomer.poll() is None and not joined.exists()
        served.pets(4)
        assert newcomer.wait(timeout=15) == 0
        assert _lines(joined) == NAMES
        wait_for(lambda: _lines(changes) == [*NAMES[:3], "---", *NAMES, "---"], timeout=15, what="on-change")
        assert watcher.poll() is None  # with --on-change it goes on
    finally:
        for proc in (watcher, newcomer):
            proc.kill()
            proc.wait()


def test_bad_arguments(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\nsearch example.org\n")
    command = [sys.executable, "-m", "petdns", "peers", "--service", "nginx", "--resolv-conf", str(resolv)]
    for flags, words in (([], "--on-start"), (["--on-start", "true"], "POD_NAMESPACE")):
        done = subprocess.run(
            [*command, *flags], capture_output=True, text=True, env={}, timeout=30, check=False
        )
        assert done.returncode == 2 and words in done.stderr


def test_the_name_asked_and_the_server() -> None:
    resolv = "nameserver 127.244.0.10\nsearch prod.svc.cluster.local svc.cluster.local cluster.local\n"
    assert namespace_domain("prod", None, resolv) == "prod.svc.cluster.local"
    assert namespace_domain("other", None, resolv) == "other.svc.cluster.local"
    assert namespace_domain("prod", "example.org.", resolv) == "prod.svc.example.org"
    assert namespace_domain("", None, resolv) == "prod.svc.cluster.local"  # a pod's own search path
    assert namespace_domain("", "example.org", resolv) == "prod.svc.example.org"
    with pytest.raises(PeersError, match="POD_NAMESPACE"):
        namespace_domain("", None, "search svc.cluster.local cluster.local\n")
    with pytest.raises(PeersError):
        namespace_domain("prod", None, "search example.org\n")
    assert nameserver(None, resolv) == ("127.244.0.10", 53)
    assert nameserver("127.0.0.1:5353", "") == ("127.0.0.1", 5353)
    assert nameserver("[::1]:5353", "") == ("::1", 5353)
    assert nameserver("::1", "") == ("::1", 53)
    with pytest.raises(PeersError):
        nameserver(None, "search x\n")
    assert own_names(ZONE, "web-0", "web-0.nginx.default.svc.cluster.local", None) == {NAMES[0]}
    assert own_names(ZONE, "web-0.x", "localhost", None) == {NAMES[0], "localhost"}
    assert own_names(ZONE, "h", "h", "Web-2.nginx.default.svc.cluster.local.") == {NAMES[2]}


def test_when_scripts_run() -> None:
    me = frozenset({NAMES[1]})
    three, four = frozenset(NAMES[:3]), frozenset(NAMES)
    finder = PeerFinder(me, "start", None)
    assert finder.decide(frozenset()) is None and finder.decide(frozenset({NAMES[0]})) is None
    assert finder.decide(three) == "start"
    finder.ran(three)
    assert finder.done and finder.decide(four) is None
    changing = PeerFinder(me, "start", "change")
    changing.ran(three)
    assert changing.decide(three) is None and changing.decide(four) == "change"
    assert PeerFinder(me, None, "change").decide(three) == "change"  # on-change stands in for on-start
    assert stdin_text(reversed(NAMES)) == "".join(f"{n}\n" for n in NAMES)


def test_the_core_is_pure() -> None:
    tree = ast.parse(Path(core.__file__).read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {n.split(".")[0] for n in names} & {"asyncio", "socket", "subprocess", "threading", "time"}
