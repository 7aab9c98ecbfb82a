"""The Raft pet of config/examples/run-pods/raft.yaml: its pure core (elections, votes, log matching,
commit) on a simulated network, its DNS reply parsing against dnspython's replies, and three real
processes on 127.0.0.x with a fixed peer list that converge, fail over and restore their log."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import dns.message
import dns.rrset
import pytest
import yaml

from tests.support.process import ROOT, wait_for
from tests.support.runpods import raft_status

MANIFEST = ROOT / "config" / "examples" / "run-pods" / "raft.yaml"
NAMES = ["raft-0", "raft-1", "raft-2"]


def source() -> str:
    """The program the manifest runs: the StatefulSet container's `python3 -c` argument."""
    docs = list(yaml.safe_load_all(MANIFEST.read_text()))
    sts = next(doc for doc in docs if doc["kind"] == "StatefulSet")
    container = sts["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["/usr/bin/python3", "-I", "-c"]
    return str(container["args"][0])


def load() -> ModuleType:
    module = ModuleType("raftpet")
    exec(compile(source(), str(MANIFEST), "exec"), module.__dict__)
    return module


RAFT = load()


class Net:
    """Cores on a synchronous network; `cut` nodes neither send nor receive."""

    def __init__(self, size: int = 3, seed: int = 1) -> None:
        self.cores = {n: RAFT.Core(n, size, rng=random.Random(seed + i)) for i, n in enumerate(NAMES[:size])}
        self.now, self.cut = 0.0, set[str]()
        for core in self.cores.values():
            core.set_peers(list(self.cores), self.now)

    def run(self, seconds: float) -> None:
        end = self.now + seconds
        while self.now < end:
            self.now += 0.05
            for name, core in self.cores.items():
                for peer, kind, body in core.tick(self.now):
                    if name in self.cut or peer in self.cut:
                        continue
                    reply = getattr(self.cores[peer], f"on_{kind}")(body, self.now)
                    getattr(core, f"on_{kind}_reply")(peer, reply, self.now)

    def leaders(self) -> list[str]:
        return [n for n, c in self.cores.items() if c.role == "leader" and n not in self.cut]


def test_three_cores_elect_exactly_one_leader_that_all_follow() -> None:
    net = Net()
    net.run(3)
    [leader] = net.leaders()
    assert {c.leader for c in net.cores.values()} == {leader}
    assert len({c.term for c in net.cores.values()}) == 1


def test_values_commit_on_every_core_in_the_same_order() -> None:
    net = Net()
    net.run(3)
    leader = net.cores[net.leaders()[0]]
    for n in range(1, 6):
        assert leader.propose(f"value-{n}")
        net.run(0.4)
    net.run(0.4)  # the followers learn the last commit with the next heartbeat
    assert [c.values() for c in net.cores.values()] == [[f"value-{n}" for n in range(1, 6)]] * 3
    assert not net.cores[next(n for n in NAMES if n != leader.name)].propose("x")  # followers refuse


def test_a_lone_pet_waits_and_a_minority_elects_nobody() -> None:
    alone = RAFT.Core("raft-0", 3, rng=random.Random(0))
    assert alone.tick(0.0) == [] and alone.tick(10.0) == [] and alone.term == 0  # no peers known: no terms
    net = Net()
    net.run(3)
    old = net.leaders()[0]
    net.cut = {n for n in NAMES if n != old}  # the old leader keeps only itself
    net.run(3)
    assert all(c.role != "leader" for n, c in net.cores.items() if n != old)  # the two left are cut apart
    net.cut = {old}
    net.run(3)
    [new] = net.leaders()
    assert new != old


def test_failover_keeps_committed_values_and_the_old_leader_rejoins() -> None:
    net = Net()
    net.run(3)
    old = net.cores[net.leaders()[0]]
    for n in range(1, 4):
        old.propose(f"value-{n}")
        net.run(0.4)
    net.cut = {old.name}
    old.propose("lost")  # never reaches a majority
    net.run(3)
    [new] = net.leaders()
    net.cores[new].propose("value-5")
    net.cut = set()
    net.run(2)
    assert net.leaders() == [new] and old.role == "follower"
    assert old.values() == ["value-1", "value-2", "value-3", "value-5"] == net.cores[new].values()


def test_one_vote_per_term_and_none_for_a_stale_log() -> None:
    voter = RAFT.Core("raft-0", 3, term=2, log=[[1, "a"], [2, "b"]], commit=2)
    ask = {"term": 3, "candidate": "raft-1", "last_index": 2, "last_term": 2}
    assert voter.on_vote(ask, 0.0) == {"term": 3, "granted": True}
    assert voter.on_vote({**ask, "candidate": "raft-2"}, 0.0)["granted"] is False  # already voted in 3
    stale = {"term": 4, "candidate": "raft-2", "last_index": 5, "last_term": 1}
    assert voter.on_vote(stale, 0.0) == {"term": 4, "granted": False}  # longer but older log


def test_a_conflicting_suffix_is_replaced_and_a_gap_is_refused() -> None:
    follower = RAFT.Core("raft-1", 3, term=2, log=[[1, "a"], [2, "x"], [2, "y"]], commit=1)
    append = {
        "term": 3,
        "leader": "raft-0",
        "prev_index": 1,
        "prev_term": 1,
        "entries": [[3, "b"]],
        "commit": 2,
    }
    assert follower.on_append(append, 0.0) == {"term": 3, "ok": True, "length": 2}
    assert follower.log == [[1, "a"], [3, "b"]] and follower.values() == ["a", "b"]
    gap = {**append, "prev_index": 9, "prev_term": 3, "entries": []}
    assert follower.on_append(gap, 0.0) == {"term": 3, "ok": False, "length": 2}
    old = {**append, "term": 2}
    assert follower.on_append(old, 0.0)["ok"] is False and follower.leader == "raft-0"


def test_an_older_term_entry_commits_only_with_one_of_the_current_term() -> None:
    leader = RAFT.Core("raft-0", 3, term=2, log=[[1, "a"]])
    leader.set_peers(NAMES, 0.0)
    leader.lead(0.0)
    leader.on_append_reply("raft-1", {"term": 2, "ok": True, "length": 1}, 0.0)
    assert leader.commit == 0  # a majority holds it, but it is from term 1
    leader.propose("b")
    leader.on_append_reply("raft-1", {"term": 2, "ok": True, "length": 2}, 0.0)
    assert leader.commit == 2 and leader.values() == ["a", "b"]


def test_a_restarted_core_keeps_its_term_vote_and_committed_values() -> None:
    saved = {"term": 4, "voted_for": "raft-2", "log": [[1, "value-1"], [4, "value-2"]], "commit": 2}
    core = RAFT.Core("raft-1", 3, **json.loads(json.dumps(saved)))
    assert (core.term, core.voted_for, core.values(), core.role) == (
        4,
        "raft-2",
        ["value-1", "value-2"],
        "follower",
    )


def test_the_search_path_comes_first_below_ndots() -> None:
    search = ["default.svc.cluster.local", "svc.cluster.local", "cluster.local"]
    assert RAFT.candidates("raft", search, 5) == [
        "raft.default.svc.cluster.local.",
        "raft.svc.cluster.local.",
        "raft.cluster.local.",
        "raft.",
    ]
    assert (
        RAFT.candidates("raft.default.svc.cluster.local", search, 1)[0] == "raft.default.svc.cluster.local."
    )
    assert RAFT.candidates("raft.default.svc.cluster.local.", search, 5) == [
        "raft.default.svc.cluster.local."
    ]


def test_resolv_conf_as_the_kubelet_writes_it(tmp_path: Path) -> None:
    path = tmp_path / "resolv.conf"
    path.write_text("search ns.svc.cluster.local svc.cluster.local cluster.local\nnameserver 127.244.0.10\n")
    path.write_text(path.read_text() + "options ndots:5\n")
    assert RAFT.resolv_conf(str(path)) == (
        ["127.244.0.10"],
        ["ns.svc.cluster.local", "svc.cluster.local", "cluster.local"],
        5,
    )


def test_srv_and_a_answers_are_read_from_compressed_replies() -> None:
    query = dns.message.make_query("raft.default.svc.cluster.local.", "SRV")
    reply = dns.message.make_response(query)
    targets = [f"raft-{i}.raft.default.svc.cluster.local." for i in range(3)]
    rdatas = [f"0 33 8080 {t}" for t in targets]
    reply.answer.append(dns.rrset.from_text(query.question[0].name, 5, "IN", "SRV", *rdatas))
    reply.additional.append(dns.rrset.from_text(targets[0], 5, "IN", "A", "127.244.0.2"))
    assert sorted(RAFT.parse(reply.to_wire(), 33)) == [(t, 8080) for t in targets]
    query = dns.message.make_query(targets[1], "A")
    reply = dns.message.make_response(query)
    reply.answer.append(dns.rrset.from_text(targets[1], 5, "IN", "A", "127.244.0.3"))
    assert RAFT.parse(reply.to_wire(), 1) == ["127.244.0.3"]
    assert RAFT.parse(reply.to_wire(), 33) == []


# three real processes on 127.0.0.x with PEERS instead of DNS


class Trio:
    def __init__(self, directory: Path) -> None:
        self.directory, self.port = directory, 18000 + os.getpid() % 1000
        self.addresses = {n: f"127.0.0.{i + 2}:{self.port}" for i, n in enumerate(NAMES)}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> None:
        work = self.directory / name
        work.mkdir(exist_ok=True)
        env = {"PATH": os.environ["PATH"], "POD_NAME": name, "PORT": str(self.port)}
        env["POD_IP"] = self.addresses[name].split(":")[0]
        env["PEERS"] = ",".join(f"{n}={a}" for n, a in self.addresses.items())
        log = (self.directory / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-c", source()], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT
        )

    def statuses(self) -> dict[str, dict[str, Any]]:
        found = {n: raft_status(self.addresses[n]) for n, p in self.procs.items() if p.poll() is None}
        return {n: s for n, s in found.items() if s is not None}

    def settled(self, count: int, commit: int) -> dict[str, dict[str, Any]] | None:
        """`count` running pets, one leader all follow, each with at least `commit` values."""
        found = self.statuses()
        leaders = {s["leader"] for s in found.values()}
        roles = sorted(s["role"] for s in found.values())
        ok = len(found) == count and len(leaders) == 1 and roles.count("leader") == 1
        return found if ok and min(s["commit"] for s in found.values()) >= commit else None

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=5)


@pytest.fixture
def trio(tmp_path: Path) -> Iterator[Trio]:
    running = Trio(tmp_path)
    try:
        yield running
    finally:
        running.stop()


def test_three_processes_converge_fail_over_and_restore_their_log(trio: Trio) -> None:
    for name in NAMES:
        trio.start(name)
    first = wait_for(lambda: trio.settled(3, 2), timeout=15, every=0.2, what="a leader and 2 commits")
    leader = next(iter(first.values()))["leader"]
    trio.procs[leader].kill()
    trio.procs[leader].wait()
    second = wait_for(lambda: trio.settled(2, 0), timeout=15, every=0.2, what="a new leader")
    assert leader not in {s["leader"] for s in second.values()}
    trio.start(leader)
    third = wait_for(
        lambda: trio.settled(3, first[leader]["commit"] + 2), timeout=15, every=0.2, what="rejoined"
    )
    assert third[leader]["restored"] >= first[leader]["commit"] > 0
    values = third[leader]["values"]
    assert values == [f"value-{n}" for n in range(1, len(values) + 1)]
    assert all(s["values"][: len(values)] == values for s in third.values())
    assert "leader in term" in (trio.directory / f"{leader}.log").read_text()
