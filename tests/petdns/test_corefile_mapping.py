"""The default Corefiles of kubeadm, kind, EKS, k3s, AKS and NodeLocal DNSCache mapped onto petdns's
settings keys, as `petdns corefile check` prints them; the other plugins' mappings; errors naming the line.

The expected outputs are written for a petdns that has every key the mapping names: a key this build
does not have yet turns the line into the error saying so (`expect` below)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from petdns.cli import main
from petdns.corefile import report
from petdns.settings import config_file
from petdns.settings.options import build

DATA = Path(__file__).parents[1] / "data" / "corefiles"
RESOLV = "(petdns follows the Corefile and its imports always (checked every second))"
REVERSE = "(petdns always answers in-addr.arpa and ip6.arpa for the cluster's IPs)"


def expect(lines: list[str]) -> tuple[list[str], int]:
    """The lines as this build prints them, and the exit code."""
    out = []
    for line in lines:
        head, _, said = line.partition(" -> ")
        missing = [k for k in re.findall(r"(?:^|, )([a-z_]+)=", said) if k not in config_file.BY_NAME]
        if missing and head.startswith("("):
            continue  # what a missing directive means is only said for keys petdns has
        out.append(f"{head} -> error: this petdns has no setting {missing[0]} yet" if missing else line)
    return out, 2 if any(" -> error: " in line for line in out) else 0


def check(capsys: pytest.CaptureFixture[str], path: str) -> tuple[list[str], int]:
    cwd = os.getcwd()
    os.chdir(DATA)
    try:
        code = main(["corefile", "check", path])
    finally:
        os.chdir(cwd)
    return capsys.readouterr().out.splitlines(), code


KUBEADM = [
    'kubeadm.Corefile:3: .:53 { -> listen=["0.0.0.0:53"]',
    "kubeadm.Corefile:4: errors -> (petdns logs its errors always)",
    'kubeadm.Corefile:5: health { -> health_listen=[":8080"]',
    "kubeadm.Corefile:6: lameduck 5s -> lameduck=5.0",
    'kubeadm.Corefile:8: ready -> ready_listen=[":8181"]',
    f'kubeadm.Corefile:9: kubernetes cluster.local in-addr.arpa ip6.arpa {{ -> zones=["cluster.local"], {REVERSE}',  # noqa: E501
    'kubeadm.Corefile:10: pods insecure -> pods="insecure"',
    'kubeadm.Corefile:11: fallthrough in-addr.arpa ip6.arpa -> fallthrough=["in-addr.arpa", "ip6.arpa"]',
    "kubeadm.Corefile:12: ttl 30 -> ttl=30",
    'kubeadm.Corefile:14: prometheus :9153 -> metrics_listen=[":9153"]',
    'kubeadm.Corefile:15: forward . /etc/resolv.conf { -> resolv_conf="/etc/resolv.conf"',
    "kubeadm.Corefile:16: max_concurrent 1000 -> forward_max_concurrent=1000",
    "kubeadm.Corefile:18: cache 30 { -> cache_max_ttl=30, cache_max_negative_ttl=30",
    "kubeadm.Corefile:19: disable success cluster.local -> (petdns never caches its own zones' answers: nothing to disable)",  # noqa: E501
    "kubeadm.Corefile:20: disable denial cluster.local -> (petdns never caches its own zones' answers: nothing to disable)",  # noqa: E501
    "kubeadm.Corefile:22: loop -> loop_detect=true",
    f"kubeadm.Corefile:23: reload -> {RESOLV}",
    "kubeadm.Corefile:24: loadbalance -> loadbalance=true",
    "(no log) -> query_log=false",
    "(cache without serve_stale) -> serve_stale=0.0",
]  # fmt: skip


def test_kubeadm_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert check(capsys, "kubeadm.Corefile") == expect(KUBEADM)


KUBEADM_VALUES: dict[str, Any] = {
    "listen": ["0.0.0.0:53"],
    "zones": ["cluster.local"],
    "pods": "insecure",
    "fallthrough": ["in-addr.arpa", "ip6.arpa"],
    "ttl": 30,
    "health_listen": [":8080"],
    "lameduck": 5.0,
    "ready_listen": [":8181"],
    "metrics_listen": [":9153"],
    "resolv_conf": "/etc/resolv.conf",
    "forward_max_concurrent": 1000,
    "cache_max_ttl": 30,
    "cache_max_negative_ttl": 30,
    "loop_detect": True,
    "loadbalance": True,
    "query_log": False,
    "serve_stale": 0.0,
}


@pytest.mark.parametrize(
    ("name", "differences"),
    [
        ("kubeadm.Corefile", {}),
        ("kubeadm-1.2x.Corefile", {}),  # kind ships kubeadm's
        ("eks.Corefile", {"ttl": None, "forward_max_concurrent": None}),
    ],
)
def test_kubeadm_kind_and_eks_give_the_same_settings(name: str, differences: dict[str, Any]) -> None:
    values = report.translate_file(str(DATA / name)).values
    want = {k: v for k, v in {**KUBEADM_VALUES, **differences}.items() if v is not None}
    assert values == want


K3S = [
    'k3s/Corefile:2: .:53 { -> listen=["0.0.0.0:53"]',
    "k3s/Corefile:3: errors -> (petdns logs its errors always)",
    'k3s/Corefile:4: health -> health_listen=[":8080"]',
    'k3s/Corefile:5: ready -> ready_listen=[":8181"]',
    f'k3s/Corefile:6: kubernetes cluster.local in-addr.arpa ip6.arpa {{ -> zones=["cluster.local"], {REVERSE}',  # noqa: E501
    'k3s/Corefile:7: pods insecure -> pods="insecure"',
    'k3s/Corefile:8: fallthrough in-addr.arpa ip6.arpa -> fallthrough=["in-addr.arpa", "ip6.arpa"]',
    'k3s/Corefile:10: hosts /etc/coredns/NodeHosts { -> hosts={"file": "/etc/coredns/NodeHosts", "zones": ["."], '  # noqa: E501
    '"entries": [], "ttl": 60, "no_reverse": false, "reload": 15.0, "fallthrough": []}',
    "k3s/Corefile:11: ttl 60 -> (in the hosts value above)",
    "k3s/Corefile:12: reload 15s -> (in the hosts value above)",
    "k3s/Corefile:13: fallthrough -> (in the hosts value above)",
    'k3s/Corefile:15: prometheus :9153 -> metrics_listen=[":9153"]',
    'k3s/Corefile:16: forward . /etc/resolv.conf -> resolv_conf="/etc/resolv.conf"',
    "k3s/Corefile:17: cache 30 -> cache_max_ttl=30, cache_max_negative_ttl=30",
    "k3s/Corefile:18: loop -> loop_detect=true",
    f"k3s/Corefile:19: reload -> {RESOLV}",
    "k3s/Corefile:20: loadbalance -> loadbalance=true",
    "k3s/Corefile:21: import /etc/coredns/custom/*.override -> (no file matches now)",
    "k3s/Corefile:23: import /etc/coredns/custom/*.server -> (no file matches now)",
    "(no log) -> query_log=false",
    "(no health { lameduck }) -> lameduck=0.0",
    "(cache without serve_stale) -> serve_stale=0.0",
]  # fmt: skip


def test_k3s_default_with_node_hosts_and_custom_imports(capsys: pytest.CaptureFixture[str]) -> None:
    assert check(capsys, "k3s/Corefile") == expect(K3S)


AKS = [
    'aks/Corefile:2: .:53 { -> listen=["0.0.0.0:53"]',
    "aks/Corefile:3: errors -> (petdns logs its errors always)",
    'aks/Corefile:4: ready -> ready_listen=[":8181"]',
    'aks/Corefile:5: health { -> health_listen=[":8080"]',
    "aks/Corefile:6: lameduck 5s -> lameduck=5.0",
    f'aks/Corefile:8: kubernetes cluster.local in-addr.arpa ip6.arpa {{ -> zones=["cluster.local"], {REVERSE}',  # noqa: E501
    'aks/Corefile:9: pods insecure -> pods="insecure"',
    'aks/Corefile:10: fallthrough in-addr.arpa ip6.arpa -> fallthrough=["in-addr.arpa", "ip6.arpa"]',
    "aks/Corefile:11: ttl 30 -> ttl=30",
    'aks/Corefile:13: prometheus :9153 -> metrics_listen=[":9153"]',
    'aks/Corefile:14: forward . /etc/resolv.conf -> resolv_conf="/etc/resolv.conf"',
    "aks/Corefile:15: cache 30 -> cache_max_ttl=30, cache_max_negative_ttl=30",
    "aks/Corefile:16: loop -> loop_detect=true",
    f"aks/Corefile:17: reload -> {RESOLV}",
    "aks/Corefile:18: loadbalance -> loadbalance=true",
    "aks/Corefile:19: import custom/*.override -> (2 file(s): aks/custom/rewrite.override, aks/custom/test.override)",  # noqa: E501
    "aks/Corefile:21: import custom/*.server -> (1 file(s): aks/custom/puglife.server)",
    "aks/custom/rewrite.override:1: rewrite name substring demo.cluster.local default.svc.cluster.local -> "
    'rewrite="name substring demo.cluster.local default.svc.cluster.local"',
    'aks/custom/test.override:1: hosts example.hosts example.org { -> hosts={"file": "example.hosts", "zones": '  # noqa: E501
    '["example.org"], "entries": ["10.0.0.1 example.org"], "ttl": 3600, "no_reverse": false, "reload": 5.0, '
    '"fallthrough": []}',
    "aks/custom/test.override:2: 10.0.0.1 example.org -> (an entry of the hosts directive above)",
    "aks/custom/test.override:3: fallthrough -> (in the hosts value above)",
    'aks/custom/puglife.server:1: puglife.local:53 { -> listen=["0.0.0.0:53"]',
    "aks/custom/puglife.server:2: errors -> (petdns logs its errors always)",
    "aks/custom/puglife.server:3: cache 30 -> cache_max_ttl=30, cache_max_negative_ttl=30",
    'aks/custom/puglife.server:4: forward . 192.11.0.1 -> stub_domains={"puglife.local": ["192.11.0.1:53"]}',
    "(no log) -> query_log=false",
    "(cache without serve_stale) -> serve_stale=0.0",
]  # fmt: skip


def test_aks_default_with_coredns_custom_hosts_rewrite_and_a_server(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert check(capsys, "aks/Corefile") == expect(AKS)


def test_nodelocal_dnscache_maps_all_but_forwarding_the_cluster_zone(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = report.translate_file(str(DATA / "nodelocaldns.Corefile"))
    values = result.values
    assert values["listen"] == ["169.254.20.10:53", "10.96.0.10:53"]
    assert values["cache_success"] == {"capacity": 9984, "ttl": 30, "min_ttl": None}
    assert values["cache_denial"] == {"capacity": 9984, "ttl": 5, "min_ttl": None}
    assert values["stub_domains"] == {
        d: ["10.96.0.10:53"] for d in ("cluster.local", "in-addr.arpa", "ip6.arpa")
    }
    assert values["resolv_conf"] == "/etc/resolv.conf" and values["forward_force_tcp"] is True
    assert values["metrics_listen"] == [":9253"] and values["health_listen"] == ["169.254.20.10:8080"]
    lines, code = check(capsys, "nodelocaldns.Corefile")
    assert code == 2
    assert (
        "nodelocaldns.Corefile:14: forward . 10.96.0.10 { -> error: petdns answers cluster.local itself from the "  # noqa: E501
        "API (kubernetes); it cannot forward it: serve it with `kubernetes` instead"
    ) in lines
    assert (
        'nodelocaldns.Corefile:26: forward . 10.96.0.10 { -> stub_domains={"in-addr.arpa": ["10.96.0.10:53"]}'
        in lines
    )
    assert (
        'nodelocaldns.Corefile:5: cluster.local:53 { -> listen=["169.254.20.10:53", "10.96.0.10:53"]' in lines
    )
    assert '(no kubernetes) -> zones=["cluster.local"]' in lines


def test_directives_removed_from_coredns_are_errors_naming_the_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    lines, code = check(capsys, "kubeadm-upstream.Corefile")
    assert code == 2
    assert (
        "kubeadm-upstream.Corefile:8: upstream -> error: this option was removed from CoreDNS's kubernetes "
        "plugin; delete the line"
    ) in lines
    assert (
        "kubeadm-upstream.Corefile:12: proxy . /etc/resolv.conf -> error: this plugin was removed from CoreDNS; "  # noqa: E501
        "use forward (same arguments)"
    ) in lines
    assert "(no forward) -> no_forward=true" in lines


def test_check_of_a_broken_file_names_its_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "Corefile").write_text(".:53 {\n    errors\n")
    assert main(["corefile", "check", str(tmp_path / "Corefile")]) == 2
    assert capsys.readouterr().out == f"{tmp_path}/Corefile:1: {{ -> error: this {{ is never closed\n"


def test_a_corefile_with_the_keys_petdns_has_builds_serve_options(tmp_path: Path) -> None:
    (tmp_path / "Corefile").write_text(
        ".:1053 dns://.:1054 {\n    bind 127.0.0.1 ::1\n    health 127.0.0.1:8080 {\n"
        "        lameduck 2s\n    }\n    ready 127.0.0.1:8181\n    log\n"
        "    kubernetes corp.local in-addr.arpa {\n        pods verified\n        endpoint_pod_names\n"
        "        ttl 10\n        kubeconfig /k/config admin\n    }\n"
        "    forward . 192.0.2.1 dns://[2001:db8::1]:5353 {\n        policy random\n    }\n"
        "    forward corp.example 10.0.0.53:5300\n    cache 60 {\n        serve_stale 10m verify\n    }\n}\n"
        "other.example:1055 {\n    bind 127.0.0.1\n    forward . 10.0.0.54\n}\n"
    )
    result = report.load(str(tmp_path / "Corefile"))
    options = build(config_file.merge(result.values, {}), connect=False)
    assert options.listen == (
        ("127.0.0.1", 1053), ("::1", 1053), ("127.0.0.1", 1054), ("::1", 1054), ("127.0.0.1", 1055),
    )  # fmt: skip
    assert options.settings.zones == ("corp.local",) and options.settings.ttl == 10
    assert options.settings.pods.value == "verified" and options.settings.endpoint_pod_names
    assert options.health_listen == (("127.0.0.1", 8080),) and options.lameduck == 2.0
    assert options.ready_listen == (("127.0.0.1", 8181),) and options.metrics_listen == ()
    assert options.query_log
    assert result.values["kubeconfig"] == "/k/config" and result.values["context"] == "admin"
    forward = options.forward
    assert forward is not None and forward.policy == "random"
    assert [str(u) for u in forward.routes.default] == ["192.0.2.1:53", "[2001:db8::1]:5353"]
    assert {d: [str(u) for u in ups] for d, ups in forward.routes.stubs.items()} == {
        "corp.example": ["10.0.0.53:5300"],
        "other.example": ["10.0.0.54:53"],
    }
    assert forward.cache.max_ttl == 60 and forward.cache.stale == 600.0
    assert result.where("ttl") == f"{tmp_path}/Corefile:11"
