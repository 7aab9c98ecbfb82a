"""Running one probe against a container run on the host: exec (inside its sandbox), httpGet, tcpSocket;
grpc is reported as not supported. The timing around it is probestate's."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp

from localcluster.kubelet.hostrun.probestate import ProbeResult, handler, timeout_seconds

__all__ = ["ProbeResult", "run_probe"]

MAX_OUTPUT = 10 * 1024  # the kubelet keeps this much of a probe's output or body
MAX_REDIRECTS = 10
USER_AGENT = "kube-probe/1.31"


async def run_probe(
    probe: Mapping[str, Any],
    *,
    pod_ip: str,
    ports: Mapping[str, int],
    enter_argv: Sequence[str] | None,
) -> ProbeResult:
    """Run the probe once within its timeoutSeconds. `ports`: the container's named ports; `enter_argv`:
    the prefix that runs a command inside the container ([] runs it on the host as is, None: the
    container is not running for real)."""
    timeout = timeout_seconds(probe)
    kind = handler(probe)
    if kind == "exec":
        return await _exec(probe["exec"], enter_argv, timeout)
    if kind == "grpc":
        return ProbeResult(False, "gRPC probes are not supported by the local kubelet")
    if kind not in ("httpGet", "tcpSocket"):
        return ProbeResult(False, "the probe has no handler (exec, httpGet, tcpSocket or grpc)")
    action: Mapping[str, Any] = probe[kind]
    port = _port(action.get("port"), ports)
    if isinstance(port, str):
        return ProbeResult(False, port)
    host = str(action.get("host") or pod_ip)
    if kind == "tcpSocket":
        return await _tcp(host, port, timeout)
    return await _http(action, host, port, timeout)


def _port(value: Any, ports: Mapping[str, int]) -> int | str:
    """The port number, or why there is none."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.isdigit():
        number = int(value)
    elif isinstance(value, str) and value in ports:
        number = ports[value]
    else:
        return f"unable to find port {value!r}" if value is not None else "the probe names no port"
    return number if 0 < number < 65536 else f"invalid port number: {number}"


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _exec(action: Mapping[str, Any], enter_argv: Sequence[str] | None, timeout: float) -> ProbeResult:
    command = [str(part) for part in action.get("command") or []]
    if not command:
        return ProbeResult(False, "the exec probe has no command")
    if enter_argv is None:
        return ProbeResult(False, "the container is not running")
    try:
        process = await asyncio.create_subprocess_exec(
            *enter_argv,
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # its own process group: a timeout kills what it started too
        )
    except FileNotFoundError:
        return ProbeResult(False, f'exec: "{command[0]}": executable file not found in $PATH')
    except OSError as err:
        return ProbeResult(False, f'exec: "{command[0]}": {err.strerror}')
    try:
        async with asyncio.timeout(timeout):
            output, _ = await process.communicate()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        return ProbeResult(False, f'command "{" ".join(command)}" timed out')
    text = output[:MAX_OUTPUT].decode(errors="replace")
    return ProbeResult(process.returncode == 0, text)


async def _tcp(host: str, port: int, timeout: float) -> ProbeResult:
    address = _hostport(host, port)
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        return ProbeResult(False, f"dial tcp {address}: i/o timeout")
    except OSError as err:
        return ProbeResult(False, f"dial tcp {address}: connect: {_reason(err)}")
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return ProbeResult(True, "")


def _reason(err: OSError) -> str:
    """The system's words for a failed connect (asyncio's own text names the address again)."""
    return os.strerror(err.errno).lower() if err.errno else str(err)


def _headers(action: Mapping[str, Any]) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
    for item in action.get("httpHeaders") or []:
        if isinstance(item, Mapping) and item.get("name"):
            name = str(item["name"])
            for known in list(headers):  # a header given replaces the default of that name
                if known.lower() == name.lower():
                    del headers[known]
            headers[name] = str(item.get("value", ""))
    return headers


async def _http(action: Mapping[str, Any], host: str, port: int, timeout: float) -> ProbeResult:
    scheme = str(action.get("scheme") or "HTTP").lower()
    if scheme not in ("http", "https"):
        return ProbeResult(False, f"unsupported scheme {scheme.upper()!r}")
    path = str(action.get("path") or "/")
    url = f"{scheme}://{_hostport(host, port)}{path if path.startswith('/') else '/' + path}"
    connector = aiohttp.TCPConnector(ssl=False)  # as the kubelet: HTTPS without verifying
    limit = aiohttp.ClientTimeout(total=timeout)
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=limit) as session:
            return await _follow(session, url, _headers(action))
    except TimeoutError:
        return ProbeResult(
            False, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
        )
    except aiohttp.ClientConnectorError as err:
        refused = f"dial tcp {_hostport(host, port)}: connect: {_reason(err.os_error)}"
        return ProbeResult(False, f'Get "{url}": {refused}')
    except aiohttp.ClientError as err:
        return ProbeResult(False, f'Get "{url}": {err}')


async def _follow(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> ProbeResult:
    """GET, following redirects that stay on the same host (as the kubelet; a redirect elsewhere is a
    success with its 3xx status)."""
    origin = urlsplit(url).hostname
    for _ in range(MAX_REDIRECTS + 1):
        async with session.get(url, headers=headers, allow_redirects=False) as response:
            body = await response.content.read(MAX_OUTPUT)
            status = response.status
            location = response.headers.get("Location")
        if 300 <= status < 400 and location:
            target = urljoin(url, location)
            if urlsplit(target).hostname == origin:
                url = target
                continue
            return ProbeResult(
                True, f"Probe terminated redirects, Response body: {body.decode(errors='replace')}"
            )
        if 200 <= status < 400:
            return ProbeResult(True, body.decode(errors="replace"))
        return ProbeResult(False, f"HTTP probe failed with statuscode: {status}")
    return ProbeResult(False, f'Get "{url}": stopped after {MAX_REDIRECTS} redirects')
