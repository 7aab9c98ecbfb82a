"""Query counters (pure): plain integers that one thread updates cheaply and a scrape reads.

The UDP threads never touch a metrics library per query: the fast path appends one byte per answered
query (its type code) to a per-batch bytearray; after each batch `BatchCounter.commit` appends that,
the reply flags (read from the send buffer in one copy) and the batch's time to buffers, and every few
thousand replies, or when a scrape asks (`Tally.settle`), `fold` counts them. The event loop records
its queries (TCP, forwarded answers) one by one with `Tally.record`.

Every counter only ever grows. A reader settles the tallies, then copies each dict with one C-level
call (`list(d.items())`, which the GIL makes atomic) and reads the integers: each counter is
monotonic, different counters may be a batch apart.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Final

from petdns.dns.constants import RCODE_NAMES, TYPE_NAMES

# CoreDNS's buckets: plugin.TimeBuckets (0.25 ms doubling to 8.192 s) and the request/response sizes.
TIME_BOUNDS: Final = tuple(0.00025 * 2**i for i in range(16))
SIZE_BOUNDS: Final = (0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16000, 32000, 48000, 64000)
# Programming latency (API object to zone): 1 ms doubling to about 17 minutes, as CoreDNS.
PROGRAMMING_BOUNDS: Final = tuple(0.001 * 2**i for i in range(20))

# A type code is the low byte of the query type when its high byte is zero, else 0 (every named
# type is below 256).
OTHER: Final = "other"
FOLD_AT: Final = 4096  # replies a UDP thread appends before it counts them
_RCODE_OF_FLAGS: Final = bytes(b & 0x0F for b in range(256))  # header byte 3 -> its rcode

# Which part of petdns wrote a response, as CoreDNS's `plugin` label: the zones, the forward cache,
# an upstream, the recursion ACL, or nobody (a name no zone or upstream serves).
KUBERNETES: Final = "kubernetes"
CACHE: Final = "cache"
FORWARD: Final = "forward"
ACL: Final = "acl"
NO_PLUGIN: Final = ""

# A listener: (server label, proto, family)
Listener = tuple[str, str, str]


def type_name(code: int) -> str:
    """The `type` label of a type code."""
    return TYPE_NAMES.get(code, OTHER)


def rcode_name(rcode: int) -> str:
    """The `rcode` label, as CoreDNS spells it (`RCODE15` for unnamed ones)."""
    return RCODE_NAMES.get(rcode, f"RCODE{rcode}")


def type_code(data: bytes) -> int:
    """The type code of a raw query (0, "other", when the question cannot be found)."""
    end = data.find(0, 12)
    if end < 0 or end + 2 >= len(data):
        return 0
    return 0 if data[end + 1] else data[end + 2]


def server_label(host: str, port: int) -> str:
    """CoreDNS's `server` label: `dns://:53` for a wildcard address, `dns://127.0.0.1:53`,
    `dns://[::1]:53`."""
    if host in ("0.0.0.0", "::", ""):
        return f"dns://:{port}"
    return f"dns://[{host}]:{port}" if ":" in host else f"dns://{host}:{port}"


class Histogram:
    """Cumulative-at-read bucket counts: `counts[i]` holds the observations <= bounds[i] and above the
    bound before; the last slot is +Inf."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float] = TIME_BOUNDS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float, times: int = 1) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += times
        self.total += value * times

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations up to it), ending with +Inf: the Prometheus buckets."""
        out, running = [], 0
        for bound, n in zip((*self.bounds, float("inf")), list(self.counts), strict=True):
            running += n
            out.append((bound, running))
        return out

    def merge(self, other: Histogram) -> None:
        for i, n in enumerate(list(other.counts)):
            self.counts[i] += n
        self.total += other.total


def histogram(table: dict[int, Histogram], code: int) -> Histogram:
    """The duration histogram of one type code in a listener's table, made when first needed."""
    hist = table.get(code)
    if hist is None:
        hist = table[code] = Histogram()
    return hist


class Tally:
    """The query counters one thread owns.

    `durations[listener][type code]` is a histogram of request durations (its count is the request
    count); `responses[(server, plugin)][rcode]` counts responses; `request_sizes` and
    `response_sizes` are histograms by (server, proto), kept for TCP only.
    """

    def __init__(self) -> None:
        self.durations: dict[Listener, dict[int, Histogram]] = {}
        self.responses: dict[tuple[str, str], list[int]] = {}
        self.request_sizes: dict[tuple[str, str], Histogram] = {}
        self.response_sizes: dict[tuple[str, str], Histogram] = {}
        self.folds: list[Callable[[], None]] = []  # of the BatchCounters feeding it

    def settle(self) -> None:
        """Count everything committed so far (before reading the tally)."""
        for fold in list(self.folds):
            fold()

    def table(self, listener: Listener) -> dict[int, Histogram]:
        """The duration histograms of one listener, by type code."""
        table = self.durations.get(listener)
        if table is None:
            table = self.durations[listener] = {}
        return table

    def rcodes(self, server: str, plugin: str) -> list[int]:
        """Response counts of one server and plugin, by rcode (0-15)."""
        row = self.responses.get((server, plugin))
        if row is None:
            row = self.responses[(server, plugin)] = [0] * 16
        return row

    def batches(self, listener: Listener) -> BatchCounter:
        """What a UDP thread folds its batches in with."""
        return BatchCounter(self, listener)

    def record(  # noqa: PLR0917
        self,
        listener: Listener,
        code: int,
        rcode: int,
        plugin: str,
        seconds: float,
        request_size: int,
        response_size: int,
    ) -> None:
        """One query and its response (the event loop's queries); sizes -1 when not measured."""
        histogram(self.table(listener), code).observe(seconds)
        self.rcodes(listener[0], plugin)[rcode] += 1
        if request_size < 0:  # not measured (UDP: it would cost the hot path)
            return
        skey = (listener[0], listener[1])
        for sizes, size in ((self.request_sizes, request_size), (self.response_sizes, response_size)):
            shist = sizes.get(skey)
            if shist is None:
                shist = sizes[skey] = Histogram(SIZE_BOUNDS)
            shist.observe(size)


class BatchCounter:
    """Folds the UDP batches of one listener into a tally.

    Per batch, under an uncontended lock, only C-level appends: the batch's type codes to the
    bytearray of its duration bucket (`types`), the reply flags to another (`flags`), and the
    batch's time (`seconds`); the UDP thread does that inline, `commit` is the same as a call. Every
    `FOLD_AT` replies, and before each scrape (`Tally.settle`), `fold` counts them into the tally.
    The `_sum` of each type's duration histogram gives the type its share of each bucket's time (the
    queries of one batch share one duration, and batches mix types); the buckets and counts are exact.
    """

    __slots__ = ("flags", "kube", "lock", "others", "seconds", "server", "table", "tally", "types")

    def __init__(self, tally: Tally, listener: Listener) -> None:
        self.tally = tally
        self.server = listener[0]
        self.table = tally.table(listener)
        self.kube = tally.rcodes(listener[0], KUBERNETES)
        self.lock = threading.Lock()
        self.types = [bytearray() for _ in range(len(TIME_BOUNDS) + 1)]  # per duration bucket
        self.seconds = [0.0] * (len(TIME_BOUNDS) + 1)  # per bucket: the time of its replies, summed
        self.flags = bytearray()  # byte 3 of each reply's header
        self.others: list[tuple[str, int]] = []  # (plugin, rcode) of replies the zones did not write
        tally.folds.append(self.fold)

    def commit(self, types: bytearray, flags: bytes, seconds: float, others: list[tuple[str, int]]) -> None:
        """One batch: `types` holds the type code of each reply sent and `flags` byte 3 of its header,
        all of them `seconds` in the server; `others` names the replies the zones did not write, as
        (plugin, rcode)."""
        bucket = bisect.bisect_left(TIME_BOUNDS, seconds)
        with self.lock:
            self.types[bucket] += types
            self.seconds[bucket] += seconds * len(types)
            self.flags += flags
            if others:
                self.others += others
        if len(self.flags) >= FOLD_AT:
            self.fold()

    def count(
        self,
        replies: Iterable[tuple[int, int, int]],
        seconds: Iterable[tuple[int, float]],
        rcodes: Iterable[tuple[int, int]],
    ) -> None:
        """Counts taken elsewhere (the compiled loop): replies by (duration bucket, type code), their
        seconds by type code, replies by rcode, all written by the zones."""
        with self.lock:
            table = self.table
            for bucket, code, n in replies:
                histogram(table, code).counts[bucket] += n
            for code, took in seconds:  # a reply counted since the replies were read: its time too
                histogram(table, code).total += took
            for rcode, n in rcodes:
                self.kube[rcode] += n

    def fold(self) -> None:
        """Count what the batches since the last fold appended (any thread)."""
        with self.lock:
            if not self.flags:
                return
            table = self.table
            for bucket, codes in enumerate(self.types):
                if not codes:
                    continue
                mean = self.seconds[bucket] / len(codes)
                for code in set(codes):
                    n = codes.count(code)
                    hist = histogram(table, code)
                    hist.counts[bucket] += n
                    hist.total += mean * n
                codes.clear()
                self.seconds[bucket] = 0.0
            rcodes = self.flags.translate(_RCODE_OF_FLAGS)
            net = {rcode: rcodes.count(rcode) for rcode in set(rcodes)}
            for plugin, rcode in self.others:  # the net first: a reader never sees a count go down
                net[rcode] -= 1
                self.tally.rcodes(self.server, plugin)[rcode] += 1
            for rcode, n in net.items():
                if n:
                    self.kube[rcode] += n
            self.flags.clear()
            self.others.clear()


def merged_durations(tallies: Iterable[Tally]) -> dict[tuple[Listener, int], Histogram]:
    """Every thread's duration histograms summed by (listener, type code), each table copied in one
    atomic step."""
    out: dict[tuple[Listener, int], Histogram] = {}
    for tally in tallies:
        tally.settle()
        for listener, table in list(tally.durations.items()):
            for code, hist in list(table.items()):
                mine = out.get((listener, code))
                if mine is None:
                    mine = out[(listener, code)] = Histogram(hist.bounds)
                mine.merge(hist)
    return out
