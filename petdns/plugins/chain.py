"""The plugins in CoreDNS's order in front of the zones: rewrite, then template, then hosts.

`Plugins.step` takes a well-formed query and gives either the reply (a template or hosts answered,
already given back the client's question) or the query the zones and the forwarder are to answer,
with the `restore` that turns their reply to it into the reply to the client's question.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from petdns.dns.query import Query
from petdns.plugins import hosts as hosts_plugin
from petdns.plugins import template as template_plugin
from petdns.plugins.message import RecordRule, limit_of, name_of, reply, requery, restore
from petdns.plugins.rewrite import Question, Rewriter
from petdns.plugins.touched import Touched, touched

SERVFAIL: Final = 2
Restore = Callable[[bytes], bytes]


@dataclass(frozen=True, slots=True)
class Step:
    """The query to answer next and how to give its reply back to the client (None: as it is)."""

    query: Query
    restore: Restore | None = None


class Plugins:
    """rewrite, template and hosts, as configured (any may be absent)."""

    def __init__(
        self,
        rewrite: Sequence[str] = (),
        templates: Sequence[Mapping[str, object]] = (),
        hosts: Sequence[hosts_plugin.HostsSpec] = (),
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rewriter = Rewriter(rewrite) if rewrite else None
        self.templates = [template_plugin.build_template(t) for t in templates]
        self.hosts = [hosts_plugin.Hosts(spec) for spec in hosts]
        self.clock = clock
        self.due = float("-inf")  # when a hosts file is next looked at
        self._touch(touched(self.rewriter, self.templates, self.hosts))
        self.refresh()

    def _touch(self, found: Touched) -> None:
        """What the fast path asks (see `declines`): the exact names, then the rest when there is any."""
        self.touched = found
        self.names = found.names
        self.others = found if found.everything or found.parents or found.suffixes or found.types else None

    def refresh(self) -> None:
        """Read changed hosts files (each at most every `reload` seconds)."""
        now = self.clock()
        changed = False
        for h in self.hosts:
            changed |= h.refresh(now)
        if changed:
            self._touch(touched(self.rewriter, self.templates, self.hosts))
        self.due = min((h.next_look for h in self.hosts), default=float("inf"))

    def declines(self, name: bytes, tail: bytes) -> bool:
        """Whether the fast path must leave a question (lower-case wire name, type and class bytes) to
        the full path: the plugins could change it, or a hosts file is due for a look (the full path
        reads it, under the zone's lock). The fast path asks the same inline: `name in names`, then
        `others` (None when there are only names), then the clock."""
        return self.touched(name, tail) or self.clock() >= self.due

    def step(self, query: Query, *, opt: bytes, max_udp: int, tcp: bool) -> bytes | Step:
        """The reply, or the query to answer next (see the module)."""
        if self.hosts and self.clock() >= self.due:
            self.refresh()
        limit = limit_of(query, max_udp, tcp=tcp)
        asked = query
        rules: list[RecordRule] | None = None
        name = name_of(query)
        if self.rewriter is not None:
            q = Question(name, query.qtype, query.qclass)
            done = self.rewriter.rewrite(q)
            if done is not None:
                try:
                    asked = requery(query, q.name, q.qtype, q.qclass)
                except ValueError:  # not a domain name after the rewrite
                    return reply(query, SERVFAIL, opt=opt, limit=limit)
                name = q.name
                rules = done.records if done.restore else None  # else: the reply as the zones make it
        back: Restore | None = None
        if rules is not None:
            record_rules = rules

            def back(data: bytes) -> bytes:
                return restore(data, query, record_rules, limit)

        local = self._local(asked, name, opt, limit)
        if local is not None:
            return back(local) if back is not None else local
        return Step(asked, back)

    def _local(self, query: Query, name: str, opt: bytes, limit: int) -> bytes | None:
        if self.templates:
            found = template_plugin.resolve(self.templates, name, query.qtype, query.qclass)
            if isinstance(found, template_plugin.Answer):
                return reply(
                    query, found.rcode, found.answer, found.authority, found.additional, opt=opt, limit=limit
                )
        if self.hosts and query.qclass == 1:
            for h in self.hosts:
                records = h.resolve(name, query.qtype)
                if records == hosts_plugin.SERVFAIL:
                    return reply(query, SERVFAIL, opt=opt, limit=limit)
                if isinstance(records, list):
                    return reply(query, 0, records, opt=opt, limit=limit)
        return None
