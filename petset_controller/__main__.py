"""The petset-controller command: arguments, connection, signals and exit codes."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Coroutine
from typing import Any, NoReturn

from kubeapi import auth
from kubeapi.client import Client
from petset_controller.runtime import probes
from petset_controller.runtime.controller import Controller, ControllerConfig
from petset_controller.runtime.leader import LeaderElector, LeadershipLost, LeaseConfig, default_identity

PROG = "petset-controller"
log = logging.getLogger("petset_controller")


class _Parser(argparse.ArgumentParser):
    """Bad arguments: one line on stderr, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message}\n")


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Gives PetSet pets their identities, claims and order.")
    add = parser.add_argument
    add("--kubeconfig", metavar="FILE", help="kubeconfig (default: $KUBECONFIG, in-cluster, ~/.kube/config)")
    add("--context", help="kubeconfig context (default: its current context)")
    add("--namespace", metavar="NS", help="watch only this namespace (default: all)")
    add("--workers", type=int, default=4, metavar="N", help="PetSets synced at once (default 4)")
    add("--leader-elect", action="store_true", help="act only while holding the leader Lease")
    add("--lease-name", default="petset-controller", metavar="NAME")
    add("--lease-namespace", default="kube-system", metavar="NS")
    add("--lease-duration", type=_positive, default=15.0, metavar="SECONDS")
    add("--renew-deadline", type=_positive, default=10.0, metavar="SECONDS")
    add("--retry-period", type=_positive, default=2.0, metavar="SECONDS")
    add("--identity", default="", help="name in the Lease (default: <hostname>_<uuid>)")
    add("--stall-after", type=_positive, default=300.0, metavar="SECONDS", help="no progress: Stalled")
    add(
        "--manage-statefulsets",
        action="store_true",
        help="also reconcile apps/v1 StatefulSets (off: kube-controller-manager owns them)",
    )
    add("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    add(
        "--health-probe-bind-address",
        default=":8081",
        metavar="ADDR",
        help="/healthz and /readyz address, 0 to turn off (default :8081)",
    )
    add(
        "--metrics-bind-address",
        default=":8080",
        metavar="ADDR",
        help="/metrics address, 0 to turn off (default :8080)",
    )
    return parser


def _lease(args: argparse.Namespace) -> LeaseConfig:
    config = LeaseConfig(
        name=args.lease_name,
        namespace=args.lease_namespace,
        identity=args.identity or default_identity(),
        lease_duration=args.lease_duration,
        renew_deadline=args.renew_deadline,
        retry_period=args.retry_period,
    )
    problems = config.problems()
    if problems:
        raise ValueError("; ".join(problems))
    return config


async def _serve(conn: auth.Connection, args: argparse.Namespace, *, lease: LeaseConfig | None) -> None:
    config = ControllerConfig(
        namespace=args.namespace,
        workers=args.workers,
        stall_after=args.stall_after,
        manage_statefulsets=args.manage_statefulsets,
    )
    async with Client(conn, user_agent=PROG) as client:
        elector = LeaderElector(client, lease) if lease is not None else None
        main = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, main.cancel if main is not None else lambda: None)
        controller = Controller(client, config=config, elector=elector)
        async with probes.serving(controller, health_at=args.health_at, metrics_at=args.metrics_at) as bound:
            for (host, _), port in bound:
                log.info("serving HTTP on %s:%d", host, port)
            with contextlib.suppress(asyncio.CancelledError):
                await controller.run()


def _run(coro: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        asyncio.run(coro)
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(coro)


def main(argv: list[str] | None = None) -> int:
    """0 after a signal, 1 when the lease was lost, 2 on bad arguments or configuration."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        if args.workers < 1:
            raise ValueError("--workers must be at least 1")
        lease = _lease(args) if args.leader_elect else None
        args.health_at = probes.parse_bind(args.health_probe_bind_address)
        args.metrics_at = probes.parse_bind(args.metrics_bind_address)
        conn = auth.load(args.kubeconfig, args.context)
    except (ValueError, OSError, auth.ConfigError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    try:
        _run(_serve(conn, args, lease=lease))
    except LeadershipLost as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # an HTTP address that cannot be bound
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
