"""petdns.dns: DNS numbers (`constants`), the wire codec (`wire`) and the one query parse (`query`).

May import dnslib and itself only: nothing else of petdns, no asyncio, sockets or threads."""
