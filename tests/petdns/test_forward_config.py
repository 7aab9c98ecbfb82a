"""The forward, loop, acl and cache keys: from the configuration file and from the flags into the
forwarder's configuration, with the errors naming the key; the pure pieces they set (health, plan,
routes with except, the cache's kinds and prefetch)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from petdns.cli import _flag_values, _parser
from petdns.forward.response_cache import CachePolicy, ResponseCache
from petdns.forward.upstream_health import Health, HealthPolicy, plan
from petdns.forward.upstreams import Routes, Upstream
from petdns.settings import config_file
from petdns.settings.config_file import ConfigError
from petdns.settings.options import OptionError, ServeOptions, build

FILE = """
upstream: [192.0.2.1, 192.0.2.2]
upstream_policy: round_robin
forward_max_concurrent: 150
forward_force_tcp: true
forward_prefer_udp: true
forward_health_check: 500ms
forward_max_fails: 0
forward_expire: 30s
forward_except: [corp.example, lab.example.]
loop_detect: true
cache_success: {capacity: 9984, ttl: 600, min_ttl: 5}
cache_denial: 100 30 1
cache_prefetch: 10 2m 20%
cache_disable: [denial]
"""


def _build(values: dict[str, Any]) -> ServeOptions:
    return build(config_file.merge(values, {"objects": ["x.yaml"]}), connect=False)


def test_the_file_sets_every_forward_option(tmp_path: Path) -> None:
    path = tmp_path / "petdns.yaml"
    path.write_text(FILE)
    options = _build(config_file.load(str(path)))
    forward = options.forward
    assert forward is not None and options.loop_detect
    assert forward.policy == "round_robin" and forward.max_concurrent == 150
    assert forward.force_tcp and forward.prefer_udp and forward.expire == 30.0
    assert forward.health == HealthPolicy(max_fails=0, backoff=0.5, max_backoff=0.5)
    assert forward.routes.excepted == ("corp.example", "lab.example")
    assert forward.cache == CachePolicy(
        size=9984,
        max_ttl=600,
        min_ttl=5,
        max_negative_ttl=30,
        denial_size=100,
        denial_min_ttl=1,
        disable_denial=True,
        prefetch=10,
        prefetch_window=120.0,
        prefetch_percentage=20,
    )


def test_the_flags_give_the_same_values() -> None:
    argv = [
        "serve",
        "--upstream-policy",
        "round_robin",
        "--forward-max-concurrent",
        "150",
        "--forward-force-tcp",
        "--forward-health-check",
        "2s",
        "--forward-except",
        "corp.example",
        "--loop-detect",
        "--acl",
        "block type ANY",
        "--cache-success",
        "9984 600 5",
        "--cache-prefetch",
        "10",
        "--cache-disable",
        "success",
    ]
    flags = _flag_values(_parser().parse_args(argv))
    assert flags["acl"] == [{"zones": [], "action": "block", "types": ["ANY"], "nets": []}]
    assert flags["cache_success"] == {"capacity": 9984, "ttl": 600, "min_ttl": 5}
    assert flags["cache_prefetch"] == {"amount": 10, "duration": 60.0, "percentage": 10}
    options = _build({**flags, "upstream": ["192.0.2.1"]})
    assert options.forward is not None and options.forward.health.backoff == 2.0
    assert options.forward.cache.disable_success and options.acl is not None


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("upstream_policy: fastest", "upstream_policy"),
        ("forward_force_tcp: yes please", "forward_force_tcp"),
        ("cache_success: {capacity: 10, maxttl: 5}", "cache_success"),
        ("cache_prefetch: 1 2 3 4", "cache_prefetch"),
        ("cache_disable: [everything]", "cache_disable"),
        ("forward_expire: soon", "forward_expire"),
    ],
)
def test_malformed_values_name_their_key(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        config_file.parse(text, "petdns.yaml")
    assert err.value.key == key


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"forward_max_concurrent": -1}, "forward_max_concurrent"),
        ({"forward_max_fails": -2}, "forward_max_fails"),
        ({"forward_except": ["bad..zone"]}, "forward_except"),
        ({"cache_success": {"capacity": 10, "ttl": 5, "min_ttl": 50}}, "cache_success"),
        ({"cache_denial": {"capacity": 10, "ttl": 5, "min_ttl": 50}}, "cache_denial"),
        ({"cache_prefetch": {"amount": 0, "duration": 60.0, "percentage": 10}}, "cache_prefetch"),
    ],
)
def test_values_that_cannot_be_used_name_their_key(values: dict[str, Any], key: str) -> None:
    with pytest.raises(OptionError) as err:
        _build({"upstream": ["192.0.2.1"], **values})
    assert err.value.key == key


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("1m30s", 90.0), ("2h", 7200.0), ("0.5s", 0.5), ("3", 3.0), ("0", 0.0)],
)
def test_durations_read_as_go_writes_them(text: str, seconds: float) -> None:
    assert config_file.duration(text) == seconds


@pytest.mark.parametrize("text", ["5x", "m", "1.5.5s", "-1s", "1 s", ""])
def test_malformed_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        config_file.duration(text)


def test_round_robin_rotates_and_fixed_interval_health_stays_fixed() -> None:
    ups = ["a", "b", "c"]
    health = {u: Health() for u in ups}
    assert [plan(ups, health, policy="round_robin", turn=t)[0] for t in range(4)] == ["a", "b", "c", "a"]
    health["b"].down = True
    assert plan(ups, health, policy="round_robin", turn=1) == ["c", "a"]
    assert sorted(plan(ups, health, policy="random", rng=random.Random(1))) == ["a", "c"]
    fixed = Health(HealthPolicy(max_fails=1, backoff=0.5, max_backoff=0.5))
    assert fixed.failure(10.0) and fixed.probe_at == 10.5
    fixed.probe_failed(11.0)
    fixed.probe_failed(12.0)
    assert fixed.probe_at == 12.5
    never = Health(HealthPolicy(max_fails=0))
    assert not any(never.failure(float(t)) for t in range(10)) and not never.down


def test_except_leaves_longer_stub_domains_forwarded() -> None:
    default, stub = (Upstream("192.0.2.1"),), (Upstream("192.0.2.9"),)
    routes = Routes(default, {"in.corp.example": stub}, ["corp.example"])
    assert routes.route(b"\x01a\x04corp\x07example\x00") == ()
    assert routes.route(b"\x01a\x02in\x04corp\x07example\x00") == stub
    assert routes.route(b"\x03www\x07example\x00") == default
    assert not Routes((), {}, ["corp.example"])  # nothing is forwarded at all


def test_cache_kinds_have_their_own_capacity_and_prefetch_fires_once() -> None:
    cache: ResponseCache[str] = ResponseCache(CachePolicy(size=2, denial_size=1, prefetch=2))
    assert cache.put(b"a", "A", 100, 0.0) and cache.put(b"b", "B", 100, 0.0)
    assert cache.put(b"x", "NX", 100, 0.0, negative=True) and cache.put(b"y", "NY", 100, 0.0, negative=True)
    assert (len(cache), cache.negatives, cache.negative_evictions) == (3, 1, 1)
    assert cache.get(b"a", 50.0) == ("A", 50) and not cache.prefetch_due(b"a", 50.0)  # 50 s left of 100
    assert not cache.prefetch_due(b"a", 85.0)  # the window (60 s) began at 0: this hit starts another
    assert cache.prefetch_due(b"a", 91.0)  # the second hit in the window, 9 s left: <= 10 %
    assert not cache.prefetch_due(b"a", 92.0) and cache.prefetches == 1
    off = ResponseCache[str](CachePolicy(disable_success=True))
    assert not off.put(b"a", "A", 100, 0.0) and off.put(b"x", "NX", 100, 0.0, negative=True)
