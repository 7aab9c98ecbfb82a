"""Batched UDP I/O on Linux: recvmmsg/sendmmsg through ctypes, one system call per batch of datagrams.

Per datagram the Python side only slices a receive buffer and copies the reply into a send buffer
through memoryviews; the peer address stays in kernel format and is handed back unparsed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import socket
import struct
import sys
from typing import Any

Address = tuple[str, int] | tuple[str, int, int, int]

MSG_WAITFORONE = 0x10000
RECV_SIZE = 4096
SEND_SIZE = 65536


class _IoVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _MsgHdr(ctypes.Structure):
    _fields_ = [
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.POINTER(_IoVec)),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    ]


class _MMsgHdr(ctypes.Structure):
    _fields_ = [("msg_hdr", _MsgHdr), ("msg_len", ctypes.c_uint)]


def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    libc = ctypes.CDLL(name, use_errno=True)
    if not (hasattr(libc, "recvmmsg") and hasattr(libc, "sendmmsg")):
        return None
    libc.recvmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
    libc.recvmmsg.restype = ctypes.c_int
    libc.sendmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
    libc.sendmmsg.restype = ctypes.c_int
    return libc


_LIBC = _libc()


def available() -> bool:
    """Whether batched I/O can be used on this system."""
    return _LIBC is not None


class BatchedSocket:
    """Receive up to `size` datagrams per call and send the staged replies back in one call."""

    def __init__(self, sock: socket.socket, size: int = 64) -> None:
        if _LIBC is None:
            raise OSError("recvmmsg/sendmmsg are not available")
        self.sock = sock
        self.size = size
        self._fd = sock.fileno()
        namelen = 28 if sock.family == socket.AF_INET6 else 16
        stride = ctypes.sizeof(_MMsgHdr)
        self._recv_buf = ctypes.create_string_buffer(size * RECV_SIZE)
        self._send_buf = ctypes.create_string_buffer(size * SEND_SIZE)
        self._names = ctypes.create_string_buffer(size * 32)
        self._recv_iov = (_IoVec * size)()
        self._send_iov = (_IoVec * size)()
        self._recv = (_MMsgHdr * size)()
        self._send = (_MMsgHdr * size)()
        names = ctypes.addressof(self._names)
        for i in range(size):
            self._recv_iov[i].iov_base = ctypes.addressof(self._recv_buf) + i * RECV_SIZE
            self._recv_iov[i].iov_len = RECV_SIZE
            self._send_iov[i].iov_base = ctypes.addressof(self._send_buf) + i * SEND_SIZE
            for msgs, iov in ((self._recv, self._recv_iov), (self._send, self._send_iov)):
                hdr = msgs[i].msg_hdr
                hdr.msg_name = names + i * 32
                hdr.msg_namelen = namelen
                hdr.msg_iov = ctypes.pointer(iov[i])
                hdr.msg_iovlen = 1
        self._recv_view = memoryview(self._recv_buf).cast("B")
        self._send_view = memoryview(self._send_buf).cast("B")
        self._recv_words = memoryview(self._recv).cast("B").cast("I")
        self._send_ptrs = memoryview(self._send).cast("B").cast("Q")
        self._send_iov_words = memoryview(self._send_iov).cast("B").cast("Q")
        self._len_index = _MMsgHdr.msg_len.offset // 4
        self._stride = stride
        self._stride_words = stride // 4
        self._stride_ptrs = stride // 8
        self._name_base = names
        self._names_view = memoryview(self._names).cast("B")
        self._recv_addr = ctypes.addressof(self._recv)
        self._send_addr = ctypes.addressof(self._send)
        # byte 3 of the header (RA, Z, AD, CD, rcode) of the first n staged replies, n = 0..size:
        # `flag_views[n].tobytes()` copies them in one C-level call
        self.flag_views = [self._send_view[3 : n * SEND_SIZE : SEND_SIZE] for n in range(size + 1)]

    def receive(self) -> list[bytes]:
        """Block until at least one datagram is there; return every datagram then available (<= size)."""
        n = _LIBC.recvmmsg(self._fd, self._recv_addr, self.size, MSG_WAITFORONE, None)
        if n < 0:
            err = ctypes.get_errno()
            if err in (errno.EINTR, errno.EAGAIN):
                return []
            raise OSError(err, os.strerror(err))
        words, view, first, stride = self._recv_words, self._recv_view, self._len_index, self._stride_words
        return [bytes(view[i * RECV_SIZE : i * RECV_SIZE + words[first + i * stride]]) for i in range(n)]

    def peer(self, source: int) -> Address:
        """The sender of received datagram `source` as a socket address (valid until the next receive)."""
        raw = bytes(self._names_view[source * 32 : source * 32 + 28])
        port = struct.unpack_from("!H", raw, 2)[0]
        if int.from_bytes(raw[:2], sys.byteorder) == socket.AF_INET6:
            flowinfo, scope = struct.unpack_from("!I", raw, 4)[0], struct.unpack_from("=I", raw, 24)[0]
            return socket.inet_ntop(socket.AF_INET6, raw[8:24]), port, flowinfo, scope
        return socket.inet_ntop(socket.AF_INET, raw[4:8]), port

    def stage(self, slot: int, source: int, reply: bytes) -> None:
        """Put `reply` in send slot `slot`, addressed to the sender of received datagram `source`."""
        start = slot * SEND_SIZE
        self._send_view[start : start + len(reply)] = reply
        self._send_iov_words[slot * 2 + 1] = len(reply)
        self._send_ptrs[slot * self._stride_ptrs] = self._name_base + source * 32

    def staged(self, slot: int) -> tuple[int, bytes]:
        """The received datagram that staged reply `slot` answers, and the reply."""
        start = slot * SEND_SIZE
        source = (self._send_ptrs[slot * self._stride_ptrs] - self._name_base) // 32
        return source, bytes(self._send_view[start : start + self._send_iov_words[slot * 2 + 1]])

    def flush(self, count: int) -> int:
        """Send the first `count` staged replies; returns how many failed (and were skipped)."""
        sent = failed = 0
        while sent < count:
            n = _LIBC.sendmmsg(self._fd, self._send_addr + sent * self._stride, count - sent, 0)
            if n > 0:
                sent += n
            elif ctypes.get_errno() != errno.EINTR:
                sent += 1  # the datagram at the head failed: skip it, as the network may drop any
                failed += 1
        return failed
