"""Configuration reloads in process: what each kind of change does, and what a rejected file leaves."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import dns.asyncquery
import dns.message
import dns.rcode
import pytest
import yaml

from kubeapi.auth import Connection
from kubeapi.client import Client
from kubeapi.paths import ENDPOINT_SLICES, SERVICES
from localcluster.apiserver.server import ApiServer
from localcluster.storage.store import ObjectStore
from petdns.app import ConfigSource, Runtime, build_zone, serve
from petdns.serve.metrics import ReloadCounts
from petdns.serve.reload import Reloader
from petdns.settings import config_file
from petdns.settings.options import OptionError, build
from tests.petdns.test_watch import endpoint_slice, service
from tests.support.resolver import ScriptedResolver
from tests.support.waiting import eventually

EXAMPLE = str(Path(__file__).parents[2] / "config" / "examples" / "nginx-pets.yaml")
HOST = "127.0.0.1"
PET = "web-0.nginx.default.svc.cluster.local"
WWW = "www.example.test"


def test_the_reloader_applies_good_files_and_names_the_key_of_bad_ones(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "petdns.yaml"
    path.write_text("ttl: 5\n")
    applied: list[dict[str, Any]] = []

    def apply(values: dict[str, Any]) -> None:
        if values["ttl"] == 99999:
            raise OptionError("ttl", "99999 is outside 0..3600")
        applied.append(values)

    counts = ReloadCounts()
    reloader = Reloader(str(path), {"zones": ["flag.example"]}, apply, counts)
    assert reloader.poll() is None  # unchanged
    path.write_text("ttl: 30\nzones: [file.example]\n")
    assert reloader.poll() is True
    assert applied[-1]["ttl"] == 30 and applied[-1]["zones"] == ["flag.example"]  # the flag still wins
    assert applied[-1]["pods"] == "disabled"
    caplog.set_level(logging.INFO, "petdns.reload")
    for text, key in (("ttl: 99999\n", "ttl"), ("ttl: x\n", "ttl"), ("bogus: 1\n", "bogus")):
        path.write_text(text)
        caplog.clear()
        assert reloader.poll() is False
        (record,) = caplog.records
        assert record.levelno == logging.ERROR
        assert f"config {path}: {key}: " in record.getMessage()
        assert "keeping the settings in force" in record.getMessage()
    assert len(applied) == 1 and counts.applied == 1 and counts.failed == 3
    path.unlink()
    assert reloader.poll() is None


@pytest.fixture
async def upstreams() -> AsyncIterator[list[ScriptedResolver]]:
    started = []
    for address in ("192.0.2.1", "192.0.2.2"):
        resolver = await ScriptedResolver().start()
        resolver.add(f"{WWW}. 300 IN A {address}")
        started.append(resolver)
    yield started
    for resolver in started:
        await resolver.stop()


@contextlib.asynccontextmanager
async def serving(options: Any, path: Path, values: dict[str, Any]) -> AsyncIterator[Runtime]:
    """`serve` with a config file, until the block ends (then a signal, and its clean stop)."""
    started: asyncio.Future[Runtime] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve(
            options,
            build_zone(options),
            config=ConfigSource(str(path), {}, values),
            started=started.set_result,
        )
    )
    runtime = await asyncio.wait_for(started, 10)
    try:
        yield runtime
    finally:
        runtime.lifecycle.signal()
        await asyncio.wait_for(task, 10)


async def _ask(runtime: Runtime, name: str = PET) -> dns.message.Message:
    port = runtime.server.bound[0][1]
    return await dns.asyncquery.udp(dns.message.make_query(name, "A"), HOST, port=port, timeout=3)


async def test_a_reload_swaps_the_zone_the_forwarder_and_the_query_log(
    tmp_path: Path, upstreams: list[ScriptedResolver]
) -> None:
    first, second = upstreams
    path = tmp_path / "petdns.yaml"
    base = {"objects": [EXAMPLE], "listen": [f"{HOST}:0"], "metrics_listen": [], "lameduck": 0}
    path.write_text(yaml.safe_dump({**base, "no_forward": True}))
    values = config_file.merge(config_file.load(str(path)), {})
    options = build(values)
    async with serving(options, path, values) as runtime:
        assert (await _ask(runtime, WWW)).rcode() == dns.rcode.REFUSED
        zone = runtime.server.zone
        runtime.apply({**values, "upstream": [first.address], "no_forward": False})
        assert runtime.server.zone is zone  # forwarding alone: the zone stays
        reply = await _ask(runtime, WWW)
        assert [rd.to_text() for rrset in reply.answer for rd in rrset] == ["192.0.2.1"]
        forwarder = runtime.server.forwarder
        assert forwarder is not None and forwarder.stats.upstreams[first.address].queries == 1
        runtime.apply({**values, "upstream": [second.address], "no_forward": False, "query_log": True})
        assert runtime.server.query_log is True
        renewed = runtime.server.forwarder
        assert renewed is not None and renewed is not forwarder
        assert renewed.stats.upstreams[first.address].queries == 1  # the counters go on
        assert renewed.cache.misses == forwarder.cache.misses
        reply = await _ask(runtime, WWW)  # a new cache: asked again, of the new upstream
        assert [rd.to_text() for rrset in reply.answer for rd in rrset] == ["192.0.2.2"]
        runtime.apply({**values, "ttl": 42, "upstream": [second.address], "no_forward": False})
        assert runtime.server.zone is not zone and (await _ask(runtime)).answer[0].ttl == 42
        assert runtime.server.forwarder is renewed
        with pytest.raises(OptionError):
            runtime.apply({**values, "ttl": 42, "upstream": ["nowhere"], "no_forward": False})
        assert runtime.server.forwarder is renewed and runtime.options.settings.ttl == 42
        # the file is followed: a change on disk is applied within a poll
        path.write_text(yaml.safe_dump({**base, "no_forward": True, "ttl": 7}))

        async def ttl_7() -> bool:
            return (await _ask(runtime)).answer[0].ttl == 7

        await eventually(ttl_7, "the file's TTL", timeout=5)
        assert runtime.server.forwarder is None
        assert runtime.reloads.applied == 1


async def test_a_watching_server_renders_again_from_what_the_watch_holds(tmp_path: Path) -> None:
    store = ObjectStore()
    store.ensure_namespaces(("default",))
    api = ApiServer(store)
    await api.start(HOST, 0)
    async with Client(Connection(api.url)) as writer:
        await writer.create(SERVICES, "default", service("nginx"))
        await writer.create(
            ENDPOINT_SLICES, "default", endpoint_slice("nginx-1", "nginx", {"web-0": ("10.244.0.10", True)})
        )
    values = config_file.merge({"listen": [f"{HOST}:0"], "metrics_listen": [], "lameduck": 0}, {})
    options = build(values, connect=False, kube=Connection(api.url))
    path = tmp_path / "petdns.yaml"
    try:
        async with serving(options, path, values) as runtime:

            async def answered() -> bool:
                return (await _ask(runtime)).rcode() == dns.rcode.NOERROR

            await eventually(answered, "the pet from the watch")
            runtime.apply({**values, "zones": ["pets.example"]})
            reply = await _ask(runtime, "web-0.nginx.default.svc.pets.example")
            assert [rd.to_text() for rrset in reply.answer for rd in rrset] == ["10.244.0.10"]
            assert runtime.cache is not None and runtime.cache.zone is runtime.server.zone
            assert runtime.server.zone.synced
    finally:
        await api.stop()


async def test_a_busy_default_metrics_address_is_a_warning_and_a_given_one_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    busy = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    busy.bind((HOST, 0))
    busy.listen(1)
    address = busy.getsockname()
    try:
        values = config_file.merge({"objects": [EXAMPLE], "listen": [f"{HOST}:0"], "lameduck": 0}, {})
        default = dataclasses.replace(
            build(values), metrics_listen=(address,), default_http=frozenset({"/metrics"})
        )
        started: asyncio.Future[Runtime] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(serve(default, build_zone(default), started=started.set_result))
        runtime = await asyncio.wait_for(started, 10)
        assert (await _ask(runtime)).rcode() == dns.rcode.NOERROR
        assert any("metrics not served" in r.getMessage() for r in caplog.records)
        runtime.lifecycle.signal()
        await asyncio.wait_for(task, 10)
        given = dataclasses.replace(default, default_http=frozenset())
        with pytest.raises(OSError):
            await serve(given, build_zone(given))
    finally:
        busy.close()
