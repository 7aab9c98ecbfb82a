"""Listen addresses: `HOST:PORT` parsing, a socket's metrics label, a UDP and a TCP socket on one port."""

from __future__ import annotations

import contextlib
import socket

from petdns.serve.tally import Listener, server_label

UDP_BUFFER_BYTES = 4 << 20
# a TCP client that does not read its replies holds at most this much of the kernel's memory per
# connection (the kernel doubles it); the rest waits in the connection's own bounded queue
TCP_SEND_BUFFER_BYTES = 16 << 10
# queries are small: a client may have this much (doubled) waiting unread before its sends block, so a
# client that pipelines without reading pushes little more than this into the server before it stops
TCP_RECEIVE_BUFFER_BYTES = 8 << 10
# replies the kernel holds for a client that is not taking them, at most about this much: the rest waits
# in the connection's own queue, which `TcpLimits.max_queued` bounds (TCP_NOTSENT_LOWAT, where there is one)
TCP_UNSENT_BYTES = 4 << 10


def parse_listen(text: str) -> tuple[str, int]:
    """`127.0.0.1:5353`, `[::1]:5353` or `:53` (all IPv4 addresses) into (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"listen address {text!r} is not HOST:PORT")
    host = host.strip("[]") or "0.0.0.0"
    socket.getaddrinfo(host, None, proto=socket.IPPROTO_UDP, flags=socket.AI_NUMERICHOST)
    return host, int(port)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def listener(host: str, port: int, proto: str) -> Listener:
    return server_label(host, port), proto, "2" if _family(host) == socket.AF_INET6 else "1"


def udp_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A bound UDP socket; with `reuse_port`, one of several on the port that the kernel spreads
    datagrams over (SO_REUSEPORT), each read by its own thread."""
    udp = socket.socket(_family(host), socket.SOCK_DGRAM)
    try:
        with contextlib.suppress(OSError):  # room for bursts; the kernel caps it at net.core.rmem_max
            udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_BUFFER_BYTES)
        if udp.family == socket.AF_INET6:
            udp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if reuse_port:
            udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        udp.bind((host, port))
    except OSError:
        udp.close()
        raise
    return udp


def bind_pair(
    host: str, port: int, attempts: int = 20, *, reuse_port: bool = False
) -> tuple[socket.socket, socket.socket]:
    """A UDP and a TCP socket bound to the same address and port (port 0: any free port for both);
    with `reuse_port`, more UDP sockets can join the port (`udp_socket`)."""
    family = _family(host)
    for _ in range(attempts):
        udp = udp_socket(host, port, reuse_port=reuse_port)
        tcp = socket.socket(family, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # accepted connections inherit the buffer sizes
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, TCP_SEND_BUFFER_BYTES)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, TCP_RECEIVE_BUFFER_BYTES)
        if hasattr(socket, "TCP_NOTSENT_LOWAT"):
            tcp.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, TCP_UNSENT_BYTES)
        if family == socket.AF_INET6:
            tcp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            tcp.bind((host, udp.getsockname()[1]))
        except OSError:
            udp.close()
            tcp.close()
            if port:
                raise
            continue
        tcp.listen(128)
        tcp.setblocking(False)
        return udp, tcp
    raise OSError(f"no free port pair on {host}")
