"""A pod sandbox's first process (standard library only): run by `unshare --uts --mount --pid --fork
--mount-proc --propagation private` as PID 1 of the pod's namespaces, it dies with its parent, sets the
hostname, bind-mounts the pod's resolv.conf and hosts over /etc's (in its own mount namespace only) and its
volumes, prints `ready`, then reaps children until killed.

    python holder.py --hostname web-0 --resolv FILE --hosts FILE [--bind SRC:DST ...]
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import signal
import socket
import sys
import time

PR_SET_PDEATHSIG = 1
MS_BIND = 4096


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def bind(libc: ctypes.CDLL, source: str, target: str) -> None:
    """mount --bind source target; OSError when refused."""
    if libc.mount(source.encode(), target.encode(), None, MS_BIND, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"bind mount of {source} on {target}: {os.strerror(err)}")


def main(argv: list[str]) -> int:
    """Set up the sandbox, then reap children forever."""
    parser = argparse.ArgumentParser(prog="holder")
    parser.add_argument("--hostname", required=True)
    parser.add_argument("--resolv", required=True)
    parser.add_argument("--hosts", required=True)
    parser.add_argument("--bind", action="append", default=[])
    args = parser.parse_args(argv)
    libc = _libc()
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    try:
        socket.sethostname(args.hostname)
        bind(libc, args.resolv, "/etc/resolv.conf")
        bind(libc, args.hosts, "/etc/hosts")
    except OSError as err:
        print(f"sandbox: {err}", file=sys.stderr, flush=True)
        return 1
    for pair in args.bind:
        source, _, target = pair.partition(":")
        try:
            bind(libc, source, target)
        except OSError as err:
            print(f"sandbox: {err} (volume not mounted)", file=sys.stderr, flush=True)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # stopped by SIGKILL only, which ends the whole namespace
    print("ready", flush=True)
    os.close(1)
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            time.sleep(0.5)
        except InterruptedError:
            continue


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
