"""`petdns explain NAME`: the objects from files, or one list of each kind from the API (no watch), and
the diagnosis printed as text or JSON. Exit 0 when the name resolves, 1 when not, 2 on bad input."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import aiohttp

from kubeapi import auth
from kubeapi.client import Client
from kubeapi.errors import ApiError
from kubeapi.manifests import ManifestError, documents
from kubeapi.paths import ENDPOINT_SLICES, NAMESPACES, PODS, SERVICES
from petdns.explain.objects import InputError, check_name, parse_type, view_of
from petdns.explain.search import explain
from petdns.settings.values import PodsMode, Settings

KINDS = ((NAMESPACES, "Namespace"), (SERVICES, "Service"), (ENDPOINT_SLICES, "EndpointSlice"), (PODS, "Pod"))
Raw = tuple[str, Mapping[str, Any]]


def add_parser(sub: Any) -> None:
    """The `explain` subcommand's arguments."""
    parser = sub.add_parser(
        "explain",
        help="why a name does or does not resolve, from object files or the cluster",
        description="Explain one name: how it is read, the records it has and the objects that make "
        "them, or why it does not resolve and what to change. Exit 0: resolves; 1: does not; 2: bad input.",
    )
    parser.add_argument("name", help="the name asked; without a trailing dot, a pod's search path applies")
    parser.add_argument("--type", default="A", help="record type: A, AAAA, SRV, PTR, ... (default A)")
    parser.add_argument(
        "--objects",
        action="append",
        metavar="FILE",
        help="YAML or JSON objects, as `serve` reads; repeatable",
    )
    parser.add_argument("--kubeconfig", metavar="FILE", help="list the objects from this cluster instead")
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")
    parser.add_argument(
        "--zone", dest="zones", action="append", metavar="ZONE", help="cluster domain (default cluster.local)"
    )
    parser.add_argument(
        "--namespace", default="default", help="the asker's namespace, for its search path (default default)"
    )
    parser.add_argument(
        "--pods", choices=[m.value for m in PodsMode], default="disabled", help="as `serve --pods`"
    )
    parser.add_argument("--endpoint-pod-names", action="store_true", help="as `serve --endpoint-pod-names`")
    parser.add_argument("--output", "-o", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    """Read, explain, print; the exit code."""
    try:
        qtype = parse_type(args.type)
        name = check_name(args.name)
        settings = Settings(
            zones=tuple(z.rstrip(".").lower() for z in args.zones or ["cluster.local"]),
            pods=PodsMode(args.pods),
            endpoint_pod_names=args.endpoint_pod_names,
        )
        if args.objects and not args.kubeconfig:
            view, skipped = view_of(_files(args.objects), settings, strict=True)
        else:
            conn = auth.load(args.kubeconfig, args.context)
            view, skipped = view_of(asyncio.run(_listed_from(conn)), settings, strict=False)
    except (InputError, ManifestError, ValueError, auth.ConfigError) as err:
        print(f"petdns explain: error: {err}", file=sys.stderr)
        return 2
    except (ApiError, aiohttp.ClientError, OSError, TimeoutError) as err:
        print(f"petdns explain: error: cannot list from the API: {err}", file=sys.stderr)
        return 2
    for line in skipped:
        print(f"petdns explain: skipped {line}", file=sys.stderr)
    diagnosis = explain(view, name, qtype, namespace=args.namespace)
    if args.output == "json":
        print(json.dumps(diagnosis.to_json(), indent=2))
    else:
        sys.stdout.write(diagnosis.to_text())
    return 0 if diagnosis.resolves else 1


def _files(paths: list[str]) -> Iterator[Raw]:
    for path in paths:
        yield from documents(path)


async def _listed_from(conn: auth.Connection) -> list[Raw]:
    async with Client(conn, timeout=10, retries=1) as client:
        return await listed(client)


async def listed(client: Client) -> list[Raw]:
    """One list of each kind, at once."""
    lists = await asyncio.gather(*(client.list(ref) for ref, _ in KINDS))
    out: list[Raw] = []
    for (_, kind), (items, _) in zip(KINDS, lists, strict=True):
        for item in items:
            item.setdefault("kind", kind)
            meta = item.get("metadata") or {}
            out.append(
                (f"{kind} {meta.get('namespace', '')}/{meta.get('name', '')}".replace(" /", " "), item)
            )
    return out
