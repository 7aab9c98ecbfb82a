"""Details a newcomer meets first: `petdns local` forwards other names to resolv.conf's nameservers by
default; kubeconfig CA data is used from memory, leaving no file behind."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import pytest
import yaml

from kubeapi.auth import from_kubeconfig
from kubeapi.client import Client
from kubeapi.paths import NAMESPACES
from tests.localcluster.conftest import serving
from tests.support.process import ROOT
from tests.support.tools import require

ZONE = """$ORIGIN upstream.test.
$TTL 300
@     SOA   ns.upstream.test. host.upstream.test. 1 7200 1800 86400 60
@     NS    ns
ns    A     127.0.0.1
www   A     192.0.2.80
"""


def answers(host: str, port: int, name: str) -> bool:
    try:
        reply = dns.query.udp(dns.message.make_query(name, "A"), host, port=port, timeout=0.2)
    except (OSError, dns.exception.Timeout):
        return False
    return reply.rcode() == dns.rcode.NOERROR


IN_NAMESPACE = """
import subprocess, sys, time
from pathlib import Path
from tests.localcluster.test_newcomer_details import answers
from tests.localcluster.conftest import serving
from tests.support.process import ROOT, LocalProcess
knotd, work, host = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
with (work / "knot.log").open("wb") as out:
    knot = subprocess.Popen([knotd, "-c", str(work / "knot.conf")], stdout=out, stderr=subprocess.STDOUT)
try:
    deadline = time.monotonic() + 20
    while not answers(host, 53, "www.upstream.test"):
        assert knot.poll() is None and time.monotonic() < deadline, (work / "knot.log").read_text()
        time.sleep(0.05)
    local = LocalProcess(work, "--resolv-conf", str(work / "resolv.conf"))  # no --upstream, no --no-forward
    try:
        print("ANSWER", *local.dig("www.upstream.test"))
    finally:
        print("EXIT", local.stop())
finally:
    knot.terminate()
    knot.wait(10)
"""


def test_petdns_local_forwards_to_resolv_conf_nameservers_by_default(tmp_path: Path) -> None:
    """Knot on port 53 (resolv.conf has no port) of a loopback address, in a network namespace of the
    test's own: nothing else on the machine is asked or in the way."""
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        pytest.skip("a network namespace (root, unshare, ip) holds the resolv.conf upstream on port 53")
    knotd = require("knotd")
    host = "127.0.53.53"
    (tmp_path / "upstream.test.zone").write_text(ZONE)
    (tmp_path / "knot.conf").write_text(
        f'server:\n    rundir: "{tmp_path}"\n    listen: {host}@53\n    udp-workers: 1\n    tcp-workers: 1\n'
        f'    background-workers: 1\ndatabase:\n    storage: "{tmp_path}"\nlog:\n  - target: stderr\n'
        f'    any: warning\nzone:\n  - domain: upstream.test\n    file: "{tmp_path}/upstream.test.zone"\n'
    )
    (tmp_path / "resolv.conf").write_text(
        f"# the machine's resolver is never asked\nsearch example\nnameserver {host}\n"
    )
    done = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", IN_NAMESPACE, knotd, str(tmp_path), host],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert done.stdout.splitlines()[-2:] == ["ANSWER 192.0.2.80", "EXIT 0"], done.stdout + done.stderr


def _kubeapi_files() -> set[str]:
    return {name for name in os.listdir(tempfile.gettempdir()) if name.startswith("kubeapi-")}


def test_kubeconfig_ca_data_leaves_no_file(tmp_path: Path) -> None:
    with serving(tmp_path, token="secret") as api:  # TLS, the CA as certificate-authority-data
        cluster = yaml.safe_load(api.kubeconfig.read_text())["clusters"][0]["cluster"]
        assert cluster["server"].startswith("https:") and "certificate-authority-data" in cluster
        before = _kubeapi_files()
        conn = from_kubeconfig(str(api.kubeconfig))
        assert conn.ca_data and not conn.ca_file

        async def namespace() -> str:
            async with Client(conn) as client:
                return str((await client.get(NAMESPACES, None, "default"))["metadata"]["name"])

        assert asyncio.run(namespace()) == "default"  # the server's certificate verified from memory
        assert _kubeapi_files() == before
