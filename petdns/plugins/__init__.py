"""petdns.plugins (pure): CoreDNS's `rewrite`, `template` and `hosts` in front of the zones and the forwarder.

May import petdns.dns and dnslib; no asyncio, sockets, threads, petdns.answer, forward or serve.
The hosts tables are re-read from their files when these change (`hosts.Hosts.refresh`).
"""
