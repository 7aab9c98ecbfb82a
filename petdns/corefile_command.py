"""`petdns corefile check FILE`: what each line of a Corefile (and what it imports) becomes in petdns's
settings, or why it cannot; exit 0 when the whole file maps, 2 when a line does not. Also the reading
`petdns serve --corefile` does (`values`), and what its reload follows (`fingerprint`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from petdns.corefile import report
from petdns.corefile.syntax import CorefileError
from petdns.settings import config_file
from petdns.settings.options import OptionError, build


def add_parser(sub: Any) -> None:
    """The `corefile` subcommand and its `check`."""
    parser = sub.add_parser("corefile", help="read a CoreDNS Corefile as petdns would")
    actions = parser.add_subparsers(dest="corefile_command", required=True)
    check = actions.add_parser(
        "check",
        help="print what each line of a Corefile becomes in petdns's settings",
        description="Each line of the Corefile (and of what it imports) with the settings it gives "
        "(KEY=VALUE, the keys of `petdns serve --config`), a note, or the error; then what the "
        "directives it leaves out mean. Exit 0: the whole file maps; 2: a line does not.",
    )
    check.add_argument("file", metavar="FILE", help="the Corefile")


def run(args: argparse.Namespace) -> int:
    try:
        result = report.translate_file(args.file)
    except CorefileError as err:
        print(f"{err.file}:{err.line or 0}: {err.token or ''} -> error: {err.message}")
        return 2
    for line in report.lines(result):
        print(line)
    if result.errors:
        print(f"petdns: {len(result.errors)} line(s) of {args.file} cannot be served", file=sys.stderr)
        return 2
    try:
        build(config_file.merge(result.values, {}), connect=False)
    except OptionError as err:
        print(f"{result.where(err.key) or args.file}: {err.key} -> error: {err.message}")
        return 2
    return 0


def values(path: str) -> dict[str, Any]:
    """The settings values of the Corefile at `path` (CorefileError naming file:line)."""
    return report.load(path).values


def fingerprint(path: str) -> tuple[tuple[str, Any], ...] | None:
    """What tells that the Corefile or one of its imports changed (an import glob matching a new
    file included); None when the Corefile itself is missing."""
    if config_file.fingerprint(path) is None:
        return None
    return tuple((f, config_file.fingerprint(f)) for f in report.files(path))
