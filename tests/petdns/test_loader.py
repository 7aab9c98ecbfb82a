"""Object files: the accepted shapes, and one clear line naming file, document and field for bad ones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from petdns.schema.loader import LoadError, load_files
from petdns.schema.model import EndpointSlice, Namespace, Service, ServiceKind

SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "db", "namespace": "prod"},
    "spec": {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]},
}


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_yaml_json_object_and_kubectl_list(tmp_path: Path) -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    files = [
        _write(tmp_path, "a.yaml", "---\n" + json.dumps(ns) + "\n---\n\n---\n" + json.dumps(cm)),
        _write(tmp_path, "b.json", json.dumps(SERVICE)),
        _write(tmp_path, "c.json", json.dumps({"apiVersion": "v1", "kind": "List", "items": [SERVICE]})),
        _write(tmp_path, "d.json", json.dumps({"kind": "ServiceList", "items": [SERVICE]})),
    ]
    loaded = load_files(files)
    assert loaded.objects[0] == Namespace("prod")
    services = [o for o in loaded.objects if isinstance(o, Service)]
    assert len(services) == 3 and all(s.kind is ServiceKind.HEADLESS for s in services)
    assert services[0].ports[0].name == "pg" and services[0].ports[0].protocol == "tcp"
    assert loaded.ignored == {"ConfigMap": 1}


def test_slice_readiness_and_defaults(tmp_path: Path) -> None:
    doc = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "s", "labels": {"kubernetes.io/service-name": "db"}},
        "addressType": "IPv6",
        "endpoints": [
            {"addresses": ["FD00:0::1"]},
            {"addresses": ["fd00::2"], "conditions": {"ready": False, "serving": True}},
        ],
    }
    (sl,) = load_files([_write(tmp_path, "s.yaml", json.dumps(doc))]).objects
    assert isinstance(sl, EndpointSlice)
    assert sl.namespace == "default" and sl.service == "db"
    assert [(e.addresses, e.ready) for e in sl.endpoints] == [(("fd00::1",), True), (("fd00::2",), False)]


BAD = [
    (
        "kind: Service\nmetadata: {name: a}\nspec:\n  clusterIP: 10.0.0.300\n",
        "document 0",
        "spec.clusterIPs[0]",
    ),
    (
        "kind: Service\nmetadata: {name: a}\nspec:\n  ports: [{name: http, port: http}]\n",
        "document 0",
        "spec.ports[0].port",
    ),
    ("kind: Namespace\nmetadata: {name: ok}\n---\nkind: Pod\nmetadata: {}\n", "document 1", "metadata.name"),
    ("apiVersion: v1\nmetadata: {name: a}\n", "document 0", "kind"),
    (
        "kind: EndpointSlice\nmetadata: {name: s}\naddressType: IPv4\n"
        "endpoints: [{addresses: ['fd00::1']}]\n",
        "document 0",
        "endpoints[0].addresses[0]",
    ),
    (
        "kind: EndpointSlice\nmetadata: {name: s}\naddressType: IPv4\n"
        "endpoints: [{addresses: ['10.0.0.1'], hostname: Not_A_Label}]\n",
        "document 0",
        "endpoints[0].hostname",
    ),
    (
        "kind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 80, protocol: QUIC}]}\n",
        "document 0",
        "spec.ports[0].protocol",
    ),
    (
        '{"kind": "List", "items": [{"kind": "Namespace", "metadata": {"name": "x"}}, 7]}',
        "document 0, item 1",
        "not an object",
    ),
    ("- just\n- a list of strings\n", "document 0, item 0", "not an object"),
    ("kind: Service\nmetadata: [name]\n", "document 0", "metadata"),
]


@pytest.mark.parametrize(("text", "where", "field"), BAD)
def test_malformed_documents_name_file_document_and_field(
    tmp_path: Path, text: str, where: str, field: str
) -> None:
    path = _write(tmp_path, "bad.yaml", text)
    with pytest.raises(LoadError) as err:
        load_files([path])
    message = str(err.value)
    assert message.startswith(f"{path}: {where}")
    assert field in message


def test_syntax_errors_and_missing_files(tmp_path: Path) -> None:
    bad_yaml = _write(tmp_path, "x.yaml", "kind: Service\n  metadata: : :\n")
    with pytest.raises(LoadError, match=r"x\.yaml: invalid YAML at line 2"):
        load_files([bad_yaml])
    bad_json = _write(tmp_path, "x.json", '{"kind": "Service",')
    with pytest.raises(LoadError, match=r"x\.json: invalid JSON at line 1"):
        load_files([bad_json])
    with pytest.raises(LoadError, match="cannot read"):
        load_files([str(tmp_path / "absent.yaml")])


def test_cli_exits_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.yaml", BAD[0][0])
    proc = subprocess.run(
        [sys.executable, "-m", "petdns", "serve", "--objects", path, "--listen", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith(f"petdns: error: {path}: document 0: Service 'a': field spec.clusterIPs[0]")


def test_cli_rejects_bad_flags(tmp_path: Path) -> None:
    path = _write(tmp_path, "ok.json", json.dumps(SERVICE))
    for extra in (["--ttl", "99999"], ["--listen", "nowhere"], ["--zone", "bad..zone"]):
        proc = subprocess.run(
            [sys.executable, "-m", "petdns", "serve", "--objects", path, *extra],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert proc.returncode == 2 and proc.stderr.startswith("petdns: error:"), extra


@pytest.mark.parametrize(
    ("family", "address", "canonical"),
    [
        ("IPv4", "10.0.0.1", "10.0.0.1"),
        ("IPv4", "0.0.0.0", "0.0.0.0"),
        ("IPv4", "10.0.0.01", None),
        ("IPv4", "10.0.0.256", None),
        ("IPv4", "10.0.0", None),
        ("IPv4", "fd00::1", None),
        ("IPv6", "FD00:0::1", "fd00::1"),
        ("IPv6", "10.0.0.1", None),
    ],
)
def test_endpoint_addresses_are_checked_and_canonical(
    tmp_path: Path, family: str, address: str, canonical: str | None
) -> None:
    doc = {
        "kind": "EndpointSlice",
        "metadata": {"name": "s"},
        "addressType": family,
        "endpoints": [{"addresses": [address]}],
    }
    path = _write(tmp_path, "s.json", json.dumps(doc))
    if canonical is None:
        with pytest.raises(LoadError, match=r"endpoints\[0\]\.addresses\[0\]"):
            load_files([path])
    else:
        (sl,) = load_files([path]).objects
        assert isinstance(sl, EndpointSlice) and sl.endpoints[0].addresses == (canonical,)


def test_an_object_given_twice_is_named_and_the_last_one_wins(tmp_path: Path) -> None:
    headless = json.dumps(SERVICE)
    clustered = json.dumps({**SERVICE, "spec": {"clusterIP": "10.0.0.9", "ports": [{"port": 80}]}})
    ns = json.dumps({"kind": "Namespace", "metadata": {"name": "prod"}})
    first = _write(tmp_path, "a.yaml", f"---\n{ns}\n---\n{headless}\n")
    second = _write(tmp_path, "b.yaml", f"---\n{clustered}\n---\n{ns}\n")
    loaded = load_files([first, second])
    assert loaded.duplicates == [
        f"Service prod/db is given twice ({first}: document 1, {second}: document 0): the last one is used",
        f"Namespace prod is given twice ({first}: document 0, {second}: document 1): the last one is used",
    ]
    assert load_files([first]).duplicates == []


def test_serve_warns_about_an_object_given_twice(tmp_path: Path) -> None:
    path = _write(tmp_path, "dup.json", json.dumps({"kind": "List", "items": [SERVICE, SERVICE]}))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "petdns",
            "serve",
            "--objects",
            path,
            "--listen",
            "127.0.0.1:0",
            "--no-forward",
            "--no-metrics",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if "names rendered" in line:
                break
        warnings = [line for line in lines if "WARNING" in line]
        assert len(warnings) == 1 and "Service prod/db is given twice" in warnings[0], lines
    finally:
        proc.kill()
        proc.wait()
