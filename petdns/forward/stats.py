"""The forwarder's counters (plain attributes, read by `/metrics` when scraped)."""

from __future__ import annotations

from dataclasses import dataclass, field

from petdns.serve.tally import Histogram


@dataclass
class UpstreamStats:
    """Per upstream: queries sent, replies, failures (timeouts included), TCP retries, error rcodes,
    health probes and the failed ones; replies by rcode and the time each exchange took by rcode."""

    queries: int = 0
    replies: int = 0
    failures: int = 0
    timeouts: int = 0
    tcp_retries: int = 0
    error_rcodes: int = 0  # SERVFAIL, REFUSED, ...: the next upstream was tried
    probes: int = 0
    probe_failures: int = 0
    rcodes: dict[int, int] = field(default_factory=dict)
    durations: dict[int, Histogram] = field(default_factory=dict)


@dataclass
class ForwardStats:
    """Queries for forwarded names: accepted (`requests`), replies by rcode, refused by the ACL,
    joined to a fetch in flight, answered stale, refused beyond `max_concurrent`; and the counters of
    each upstream by `str(upstream)`."""

    requests: int = 0
    responses: dict[int, int] = field(default_factory=dict)
    refused: int = 0
    coalesced: int = 0
    stale: int = 0
    all_down: int = 0  # queries that found every upstream of their route marked down
    max_concurrent_rejects: int = 0  # REFUSED: `max_concurrent` fetches were already in flight
    upstreams: dict[str, UpstreamStats] = field(default_factory=dict)
