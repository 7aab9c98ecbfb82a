"""The command-line flags of the kubernetes plugin's options (`petdns serve`): which objects are served,
answer rotation and fallthrough. Their keys are in `config_file.KEYS`; `options.build` checks them."""

from __future__ import annotations

import argparse


def add_arguments(serve: argparse.ArgumentParser) -> None:
    """The flags, in their own group of `serve`'s help."""
    group = serve.add_argument_group("what is served (the kubernetes plugin's options) and answer order")
    group.add_argument(
        "--namespace",
        dest="namespaces",
        action="append",
        metavar="NS",
        help="serve only this namespace's objects, watched in it alone (a namespaced Role is enough); "
        "repeatable; names of other namespaces are NXDOMAIN (default: every namespace)",
    )
    group.add_argument(
        "--labels",
        metavar="SELECTOR",
        help="serve only the Services and EndpointSlices this label selector matches, e.g. 'app=web,tier!=x'",
    )
    group.add_argument(
        "--namespace-labels",
        metavar="SELECTOR",
        help="serve only namespaces whose labels this selector matches (watches namespaces)",
    )
    group.add_argument(
        "--noendpoints",
        action="store_true",
        help="no endpoint records: EndpointSlices are not watched; headless and per-pet names are NXDOMAIN",
    )
    group.add_argument(
        "--fallthrough",
        action="extend",
        nargs="*",
        metavar="ZONE",
        help="NXDOMAIN in these zones (every zone when none is named) goes on to forwarding "
        "(default: the reverse zones that are not cluster zones)",
    )
    group.add_argument(
        "--loadbalance",
        action="store_true",
        help="turn multi-address answers (a headless name's pets, SRV glue) round by one record per query",
    )
