"""`kubectl petset rollout status|history|undo|restart|pause|resume NAME`: the reads and writes over the
project's API client; every decision is in the pure modules (rollout_status, rollout_history, rollout_args).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

from kubeapi import auth
from kubeapi.client import JSON_PATCH, MERGE_PATCH, Client
from kubeapi.errors import ApiError, Gone, Unreachable
from kubeapi.meta import Obj, rfc3339
from kubeapi.paths import CONTROLLER_REVISIONS, PETSETS
from kubectl_petset.rollout_args import not_supported, printed, restart_patch
from kubectl_petset.rollout_history import controlled_by, dry_run_text, history_text, plan_undo
from kubectl_petset.rollout_status import RolloutError, rollout_progress

Out = Callable[[str], None]
WATCH_SECONDS = 60
RETRY_SECONDS = 1.0


def _client(conn: auth.Connection) -> Client:
    return Client(conn, timeout=10, retries=2)


async def _history(client: Client, namespace: str, name: str) -> tuple[Obj, list[Mapping[str, Any]]]:
    pet_set = await client.get(PETSETS, namespace, name)
    revisions, _ = await client.list(CONTROLLER_REVISIONS, namespace)
    return pet_set, controlled_by(pet_set, revisions)


async def _follow(client: Client, namespace: str, name: str, watch: bool, out: Out) -> None:
    """Print the status at once and after every change of the set until it is complete (or once)."""
    while True:
        pet_set = await client.get(PETSETS, namespace, name)
        progress = rollout_progress(pet_set)
        out(progress.text)
        if progress.done or not watch:
            return
        version = str(pet_set["metadata"].get("resourceVersion", ""))
        try:
            async for event in client.watch(
                PETSETS,
                namespace,
                resource_version=version,
                timeout_seconds=WATCH_SECONDS,
                field_selector=f"metadata.name={name}",
            ):
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "DELETED":
                    raise RolloutError("object has been deleted")
                if kind not in ("ADDED", "MODIFIED"):
                    continue
                progress = rollout_progress(obj)
                out(progress.text)
                if progress.done:
                    return
        except (Gone, Unreachable):
            await asyncio.sleep(RETRY_SECONDS)
        # the watch ended or broke: read the set again and go on from there


async def status(
    conn: auth.Connection, namespace: str, name: str, *, watch: bool, timeout: float, out: Out
) -> None:
    """`rollout status`: RolloutError("timed out waiting for the condition") after `timeout` (0: never)."""
    async with _client(conn) as client:
        try:
            async with asyncio.timeout(timeout if timeout > 0 else None):
                await _follow(client, namespace, name, watch, out)
        except TimeoutError:
            raise RolloutError("timed out waiting for the condition") from None


async def history(conn: auth.Connection, namespace: str, name: str, *, revision: int, out: Out) -> None:
    """`rollout history [--revision N]`."""
    async with _client(conn) as client:
        _, revisions = await _history(client, namespace, name)
    text = history_text(revisions, revision)
    out(printed(name, f"with revision #{revision}\n{text}" if revision > 0 else f"\n{text}") + "\n")


async def undo(
    conn: auth.Connection, namespace: str, name: str, *, to_revision: int, dry_run: str, out: Out
) -> None:
    """`rollout undo [--to-revision N] [--dry-run=none|client|server]`."""
    suffix = {"client": " (dry run)", "server": " (server dry run)"}.get(dry_run, "")
    async with _client(conn) as client:
        pet_set, revisions = await _history(client, namespace, name)
        plan = plan_undo(pet_set, revisions, to_revision)
        if dry_run == "client":
            out(printed(name, dry_run_text(plan) + suffix) + "\n")
            return
        if plan.patch is not None:
            params = {"dryRun": "All"} if dry_run == "server" else None
            try:
                await client.request(
                    "PATCH",
                    PETSETS.path(namespace, name),
                    params=params,
                    body=plan.patch,
                    content_type=JSON_PATCH,
                )
            except ApiError as err:
                raise RolloutError(f"failed restoring revision {to_revision}: {err}") from err
    out(printed(name, plan.message + suffix) + "\n")


async def restart(conn: auth.Connection, namespace: str, name: str, *, out: Out) -> None:
    """`rollout restart`: the template's `kubectl.kubernetes.io/restartedAt` set to now (RFC 3339)."""
    async with _client(conn) as client:
        pet_set = await client.get(PETSETS, namespace, name)
        patch = restart_patch(pet_set, rfc3339(time.time()))
        try:
            await client.patch(PETSETS, namespace, name, patch, content_type=MERGE_PATCH)
        except ApiError as err:
            raise RolloutError(f"failed to patch: {err}") from err
    out(printed(name, "restarted") + "\n")


async def pause(conn: auth.Connection, namespace: str, name: str, *, verb: str) -> None:
    """`rollout pause` and `resume`: the set is read (it must exist), then refused as kubectl refuses a
    StatefulSet."""
    async with _client(conn) as client:
        await client.get(PETSETS, namespace, name)
    raise not_supported(verb, name)
