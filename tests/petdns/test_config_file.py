"""The configuration file: its keys against the flags, the example file, checking, precedence."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from petdns.cli import _flag_values, _parser
from petdns.forward.upstreams import Upstream
from petdns.settings import config_file
from petdns.settings.config_file import ConfigError
from petdns.settings.options import OptionError, build
from petdns.settings.values import PodsMode

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "config" / "petdns.yaml"


def _serve_parser() -> argparse.ArgumentParser:
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser: argparse.ArgumentParser = sub.choices["serve"]
    return parser


def test_every_serve_flag_has_a_key_and_every_key_a_flag() -> None:
    flags = {
        option: action.dest
        for action in _serve_parser()._actions
        for option in action.option_strings
        if option.startswith("--") and option not in ("--help", "--config", "--corefile", "-conf")
    }
    keys = {key.flag: key.name for key in config_file.KEYS}
    assert set(keys) <= set(flags)
    for flag, dest in flags.items():
        assert dest in config_file.BY_NAME, f"{flag} has no configuration key"
    assert set(flags) - set(keys) == {"--no-metrics"}  # a second flag of metrics_listen


def test_the_example_file_names_every_key_with_its_default() -> None:
    values = config_file.load(str(EXAMPLE))
    assert values == config_file.defaults()
    options = build(config_file.merge(values, {"objects": ["x.yaml"]}), connect=False)
    assert options.settings.zones == ("cluster.local",) and options.settings.ttl == 5
    assert options.metrics_listen == (("0.0.0.0", 9153),) and options.lameduck == 5.0


def test_flags_win_over_the_file_and_the_file_over_defaults(tmp_path: Path) -> None:
    path = tmp_path / "petdns.yaml"
    path.write_text("ttl: 30\nzones: [a.example, b.example]\nupstream: 192.0.2.1\nquery_log: true\n")
    argv = ["serve", "--config", str(path), "--zone", "c.example", "--listen", "127.0.0.1:0"]
    flags = _flag_values(_parser().parse_args(argv))
    assert flags == {"zones": ["c.example"], "listen": ["127.0.0.1:0"]}  # nothing else was given
    values = config_file.merge(config_file.load(str(path)), flags)
    assert values["ttl"] == 30  # the file
    assert values["zones"] == ["c.example"]  # the flag replaces the whole list
    assert values["pods"] == "disabled"  # the default
    options = build(values, connect=False)
    assert options.settings.ttl == 30 and options.settings.zones == ("c.example",)
    assert options.query_log is True
    assert options.forward is not None and options.forward.routes.default == (Upstream("192.0.2.1"),)


def test_flag_values_take_the_files_shapes() -> None:
    argv = [
        "serve",
        "--stub-domain",
        "corp.example=10.0.0.53,10.0.0.54:5353",
        "--serve-stale",
        "5m",
        "--no-metrics",
        "--endpoint-pod-names",
        "--pods",
        "verified",
    ]
    flags = _flag_values(_parser().parse_args(argv))
    assert flags["stub_domains"] == {"corp.example": ["10.0.0.53", "10.0.0.54:5353"]}
    assert flags["serve_stale"] == 300.0 and flags["metrics_listen"] == []
    assert flags["endpoint_pod_names"] is True
    options = build(config_file.merge({}, {**flags, "objects": ["x"]}), connect=False)
    assert options.settings.pods is PodsMode.VERIFIED and options.metrics_listen == ()


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("ttl: [5\n", None, "not valid YAML: line"),
        ("- ttl\n", None, "a mapping of settings"),
        ("tll: 5\n", "tll", "unknown key"),
        ("ttl: five\n", "ttl", "expected an integer"),
        ("ttl: true\n", "ttl", "expected an integer"),
        ("query_log: 1\n", "query_log", "expected true or false"),
        ("pods: some\n", "pods", "expected one of disabled, insecure, verified"),
        ("listen: 5353\n", "listen", "expected a list of strings"),
        ("serve_stale: soon\n", "serve_stale", "not a duration"),
        ("stub_domains: corp.example\n", "stub_domains", "mapping of domain"),
        ("upstream_timeout: fast\n", "upstream_timeout", "expected a number"),
    ],
)
def test_the_file_is_checked_key_by_key(tmp_path: Path, text: str, key: str | None, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        config_file.load(str(path))
    assert caught.value.key == key and message in caught.value.message
    assert str(caught.value).startswith(f"{path}: ")


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"ttl": 99999}, "ttl"),
        ({"zones": ["bad..zone"]}, "zones"),
        ({"listen": ["nowhere"]}, "listen"),
        ({"metrics_listen": ["localhost:x"]}, "metrics_listen"),
        ({"ns_addresses": ["ns1"]}, "ns_addresses"),
        ({"allow_recursion": ["10.0.0.0/33"]}, "allow_recursion"),
        ({"upstream": ["dns.google"]}, "upstream"),
        ({"stub_domains": {"corp..example": ["10.0.0.53"]}}, "stub_domains"),
        ({"upstream": ["192.0.2.1"], "cache_min_ttl": 10, "cache_max_ttl": 5}, "cache_min_ttl"),
        ({"upstream": ["192.0.2.1"], "upstream_timeout": 0.0}, "upstream_timeout"),
        ({"resolv_conf": "/nonexistent/resolv.conf"}, "resolv_conf"),
        ({"lameduck": -1.0}, "lameduck"),
    ],
)
def test_meanings_are_checked_naming_the_key(values: dict[str, object], key: str) -> None:
    with pytest.raises(OptionError) as caught:
        build(config_file.merge({"objects": ["x.yaml"], **values}, {}), connect=False)
    assert caught.value.key == key


def test_changes_are_grouped_by_what_a_reload_does() -> None:
    old = config_file.defaults()
    new = {
        **old,
        "ttl": 30,
        "upstream": ["192.0.2.1"],
        "log_format": "json",
        "listen": [":53"],
        "lameduck": 1.0,
    }
    assert config_file.changed(old, new) == {
        "zone": {"ttl"},
        "forward": {"upstream"},
        "log": {"log_format"},
        "restart": {"listen"},
        "live": {"lameduck"},
    }
    assert config_file.changed(old, dict(old)) == {}
