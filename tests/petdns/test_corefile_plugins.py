"""Each CoreDNS plugin's options mapped onto the settings values (the dict the Corefile gives), and the
options petdns cannot express refused naming their line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from petdns.corefile import report


def values(tmp_path: Path, body: str, head: str = ".:53") -> dict[str, Any]:
    (tmp_path / "Corefile").write_text(f"{head} {{\n{body}}}\n")
    result = report.translate_file(str(tmp_path / "Corefile"))
    errors = [(e.line, e.error) for e in result.errors if "has no setting" not in (e.error or "")]
    assert errors == []
    return result.values


def error(tmp_path: Path, body: str) -> tuple[int, str]:
    (tmp_path / "Corefile").write_text(f".:53 {{\n{body}}}\n")
    errors = report.translate_file(str(tmp_path / "Corefile")).errors
    (first, *_) = [e for e in errors if "has no setting" not in (e.error or "")]  # a key of this build
    return first.line, first.error or ""


def test_kubernetes_options(tmp_path: Path) -> None:
    got = values(
        tmp_path,
        "kubernetes Cluster.Local. corp.local {\n    namespaces default apps\n    labels app=web, tier in (a,b)\n"  # noqa: E501
        "    namespace_labels team=dns\n    noendpoints\n    fallthrough\n}\n",
    )
    assert got["zones"] == ["cluster.local", "corp.local"]
    assert got["namespaces"] == ["default", "apps"]
    assert got["labels"] == "app=web, tier in (a,b)" and got["namespace_labels"] == "team=dns"
    assert got["noendpoints"] is True and got["fallthrough"] == []


def test_forward_options_and_stub_domains(tmp_path: Path) -> None:
    got = values(
        tmp_path,
        "forward . 192.0.2.1 192.0.2.2:5353 {\n    except corp.example lab.example\n    policy random\n"
        "    max_fails 3\n    health_check 500ms\n    max_concurrent 100\n    prefer_udp\n    expire 10s\n}\n"
        "forward corp.example 10.0.0.53\n",
    )
    assert got["upstream"] == ["192.0.2.1:53", "192.0.2.2:5353"]
    assert got["forward_except"] == ["corp.example", "lab.example"]
    assert got["upstream_policy"] == "random" and got["forward_max_fails"] == 3
    assert got["forward_health_check"] == 0.5 and got["forward_expire"] == 10.0
    assert got["forward_max_concurrent"] == 100 and got["forward_prefer_udp"] is True
    assert got["stub_domains"] == {"corp.example": ["10.0.0.53:53"]}


def test_cache_options(tmp_path: Path) -> None:
    got = values(
        tmp_path,
        "cache 300 {\n    success 5000 600 10\n    denial 2000\n    prefetch 10 2m 20%\n    serve_stale 1h\n"
        "    disable denial\n}\n",
    )
    assert got["cache_max_ttl"] == got["cache_max_negative_ttl"] == 300
    assert got["cache_success"] == {"capacity": 5000, "ttl": 600, "min_ttl": 10}
    assert got["cache_denial"] == {"capacity": 2000, "ttl": None, "min_ttl": None}
    assert got["cache_prefetch"] == {"amount": 10, "duration": 120.0, "percentage": 20}
    assert got["serve_stale"] == 3600.0 and got["cache_disable"] == ["denial"]


def test_records_hosts_rewrite_template_and_acl(tmp_path: Path) -> None:
    got = values(
        tmp_path,
        "hosts {\n    10.0.0.1 a.example b.example\n    ttl 60\n    no_reverse\n    fallthrough corp.example\n}\n"  # noqa: E501
        "rewrite stop {\n    name regex (.*)\\.corp\\.com {1}.svc.cluster.local\n"
        "    answer name (.*)\\.svc\\.cluster\\.local {1}.corp.com\n}\n"
        "rewrite name exact foo.example.com. foo.default.svc.cluster.local.\n"
        'template IN A example.org {\n    match "^ip-(?P<a>[0-9]*)\\.example\\.org\\.$"\n'
        '    answer "{{ .Name }} 60 IN A 10.0.0.{{ .Group.a }}"\n    fallthrough\n}\n'
        "acl example.org {\n    block type AAAA net 192.0.2.0/24 10.0.0.0/8\n    allow net *\n}\n",
    )
    assert got["hosts"] == [
        {
            "file": "/etc/hosts",
            "zones": ["."],
            "entries": ["10.0.0.1 a.example b.example"],
            "ttl": 60,
            "no_reverse": True,
            "reload": 5.0,
            "fallthrough": ["corp.example"],
        }
    ]
    assert got["rewrite"] == [
        r"stop name regex (.*)\.corp\.com {1}.svc.cluster.local answer name (.*)\.svc\.cluster\.local {1}.corp.com",  # noqa: E501
        "name exact foo.example.com. foo.default.svc.cluster.local.",
    ]
    assert got["templates"] == [
        {
            "class": "IN",
            "type": "A",
            "zones": ["example.org"],
            "match": [r"^ip-(?P<a>[0-9]*)\.example\.org\.$"],
            "answer": ["{{ .Name }} 60 IN A 10.0.0.{{ .Group.a }}"],
            "additional": [],
            "authority": [],
            "fallthrough": [],
        }
    ]
    assert got["acl"] == [
        {
            "zones": ["example.org"],
            "action": "block",
            "types": ["AAAA"],
            "nets": ["192.0.2.0/24", "10.0.0.0/8"],
        },
        {"zones": ["example.org"], "action": "allow", "types": ["*"], "nets": ["*"]},
    ]


def test_several_blocks_ports_and_bind(tmp_path: Path) -> None:
    got = values(
        tmp_path,
        "    kubernetes cluster.local\n    bind 127.0.0.1 ::1\n    forward . 192.0.2.1\n}\ncorp.example:5300 {\n    forward . 10.0.0.53\n",  # noqa: E501
        head=".:53 dns://.:1053",
    )
    assert got["listen"] == ["127.0.0.1:53", "[::1]:53", "127.0.0.1:1053", "[::1]:1053", "0.0.0.0:5300"]
    assert got["stub_domains"] == {"corp.example": ["10.0.0.53:53"]}


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        (
            "forward . 1.1.1.1 {\n    tls_servername dns.example\n}\n",
            3,
            "forward option petdns cannot express",
        ),
        ("forward . tls://1.1.1.1\n", 2, "tls:// upstreams are not supported"),
        ("forward . /etc/resolv.conf 1.1.1.1\n", 2, "not both at once"),
        ("forward . dns.example\n", 2, "not an IP address"),
        ("cache 30 cluster.local\n", 2, "no cache zones"),
        ("cache {\n    servfail 5s\n}\n", 3, "cache option petdns cannot express"),
        ("loadbalance weighted /w\n", 2, "expected 0 to 1 arguments"),
        ("loadbalance prefer\n", 2, "round_robin only"),
        ("log . {combined}\n", 2, "not a domain name"),
        ("bind eth0\n", 2, "not an IP address"),
        (
            "kubernetes cluster.local {\n    pods sometimes\n}\n",
            3,
            "expected one of disabled, insecure, verified",
        ),
        ("kubernetes cluster.local {\n    endpoint https://10.0.0.1:6443\n}\n", 3, "kubeconfig FILE"),
        ("kubernetes\n", 2, "not the root zone"),
        ('errors {\n    consolidate 5m ".* timeout$"\n}\n', 2, "takes no { } block"),
        ("acl {\n    permit net *\n}\n", 3, "expected one of allow, block, filter, drop"),
        ("template IN A {\n    upstream\n}\n", 3, "removed from CoreDNS"),
    ],
)
def test_what_petdns_cannot_express_is_an_error_on_its_line(
    tmp_path: Path, body: str, line: int, message: str
) -> None:
    got_line, got = error(tmp_path, body)
    assert got_line == line and message in got
