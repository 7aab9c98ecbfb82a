"""`petdns explain` on the command line (files and a live API server; exit codes; text and JSON) and a
running `petdns serve` answering `/explain` from the zone it serves: what it says is what dig gets."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import dns.asyncquery
import dns.message
import dns.rcode
import pytest

from petdns.cli import main
from tests.localcluster.conftest import serving
from tests.support.pets import Cluster
from tests.support.tools import free_port
from tests.support.waiting import eventually

PET = "web-0.nginx.default.svc.cluster.local"
HOST = "127.0.0.1"
BROKEN = Cluster().with_pet(0, subdomain="ngnix")


def _write(tmp_path: Path, cluster: Cluster, name: str = "cluster.yaml") -> str:
    path = tmp_path / name
    path.write_text(cluster.yaml())
    return str(path)


def test_exit_codes_text_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, broken = _write(tmp_path, Cluster()), _write(tmp_path, BROKEN, "broken.yaml")
    assert main(["explain", PET, "--objects", good]) == 0
    out = capsys.readouterr().out
    assert f"{PET}. 5 IN A 10.244.0.10" in out
    assert out.rstrip().endswith(f"verdict: {PET} A resolves: 1 record")

    assert main(["explain", "web-0.nginx", "--objects", broken, "--output", "json"]) == 1
    found = json.loads(capsys.readouterr().out)
    assert found["asked"] == "web-0.nginx"
    assert found["name"] == PET
    assert (found["resolves"], found["rcode"]) == (False, "NXDOMAIN")
    assert found["verdict"] == "pod web-0 has subdomain 'ngnix'; the headless service is 'nginx'"
    assert found["fix"].startswith("set spec.subdomain: nginx")
    assert found["searched"][0] == {"name": PET, "rcode": "NXDOMAIN"}

    assert main(["explain", "nginx.default.svc.cluster.local", "--type", "SRV", "--objects", good]) == 0
    assert main(["explain", PET, "--type", "NOPE", "--objects", good]) == 2
    assert "unknown record type 'NOPE'" in capsys.readouterr().err
    assert main(["explain", PET, "--objects", str(tmp_path / "missing.yaml")]) == 2
    assert main(["explain", "web-0..nginx", "--objects", good]) == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: Not_A_Label\n")
    assert main(["explain", PET, "--objects", str(bad)]) == 2
    assert "metadata.name" in capsys.readouterr().err


def test_the_command_as_a_process(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "petdns", "explain", PET, "--objects", _write(tmp_path, BROKEN)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "verdict: pod web-0 has subdomain 'ngnix'" in done.stdout


def test_objects_listed_from_an_api_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with serving(tmp_path) as api:
        api.kubectl("apply", "-f", _write(tmp_path, BROKEN))
        config = str(api.kubeconfig)
        assert main(["explain", "web-1.nginx.default.svc.cluster.local", "--kubeconfig", config]) == 0
        capsys.readouterr()
        assert main(["explain", PET, "--kubeconfig", config, "-o", "json"]) == 1
        found = json.loads(capsys.readouterr().out)
        assert "pod web-0 has subdomain 'ngnix'" in found["verdict"]
    assert main(["explain", PET, "--kubeconfig", str(tmp_path / "nowhere")]) == 2


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[int, int]]:
    dns_port, http_port = free_port(), free_port()
    log = (tmp_path / "serve.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "petdns", "serve", "--objects", _write(tmp_path, BROKEN)),
        *("--listen", f"{HOST}:{dns_port}", "--ready-listen", f"{HOST}:{http_port}"),
        *("--no-metrics", "--no-forward", "--log-level", "warning"),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=log,
        stderr=log,
    )

    async def ready() -> bool:
        assert proc.returncode is None, (tmp_path / "serve.log").read_text()
        try:
            return await _get(http_port, "/ready") == (200, None)
        except aiohttp.ClientError:
            return False

    await eventually(ready, "petdns serve ready", timeout=20)
    yield dns_port, http_port
    proc.kill()
    await proc.wait()
    log.close()


async def _get(port: int, path: str, **params: str) -> tuple[int, object]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://{HOST}:{port}{path}", params=params) as resp,
    ):
        body = await resp.read()
        return resp.status, json.loads(body) if resp.content_type == "application/json" else None


QUESTIONS = [
    (PET, "A"),
    ("web-1.nginx.default.svc.cluster.local", "A"),
    ("nginx.default.svc.cluster.local", "SRV"),
    ("_web._tcp.nginx.default.svc.cluster.local", "SRV"),
    ("web-1.nginx.default.svc.cluster.local", "AAAA"),
    ("10-244-0-10.nginx.default.svc.cluster.local", "A"),
    ("10.0.244.10.in-addr.arpa", "PTR"),
    ("web-0.ngnix.default.svc.cluster.local", "A"),
    ("default.svc.cluster.local", "A"),
]


async def test_the_running_server_explains_what_it_answers(server: tuple[int, int]) -> None:
    dns_port, http_port = server
    for name, qtype in QUESTIONS:
        reply = await dns.asyncquery.udp(dns.message.make_query(name, qtype), HOST, port=dns_port, timeout=3)
        status, found = await _get(http_port, "/explain", name=name, type=qtype)
        assert status == 200 and isinstance(found, dict)
        answered = reply.rcode() == dns.rcode.NOERROR and bool(reply.answer)
        assert found["resolves"] is answered, (name, qtype, found)
        dug = sorted(f"{rrset.name} {rrset.ttl} IN {qtype} {rd}" for rrset in reply.answer for rd in rrset)
        assert sorted(r["record"] for r in found["records"]) == dug
    # the server does not watch pods: the endpoint without a hostname tells what it can
    _, found = await _get(http_port, "/explain", name=PET)
    assert isinstance(found, dict)
    assert found["verdict"].startswith("the endpoint of pod web-0 (10.244.0.10) has no hostname")
    assert (await _get(http_port, "/explain"))[0] == 400
    assert (await _get(http_port, "/explain", name=PET, type="BOGUS"))[0] == 400


def test_the_documented_example_is_what_the_command_prints(capsys: pytest.CaptureFixture[str]) -> None:
    root = Path(__file__).parents[2]
    doc = (root / "docs" / "explain.md").read_text()
    example = str(root / "config" / "examples" / "nginx-pets-typo.yaml")
    assert main(["explain", "web-0.nginx", "--objects", example]) == 1
    printed = capsys.readouterr().out
    assert printed in doc
