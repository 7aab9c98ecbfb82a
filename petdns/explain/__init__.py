"""petdns.explain (pure): why a name does or does not resolve, from the objects petdns answers from.

May import petdns.dns, petdns.schema and petdns.settings.values; no asyncio, aiohttp, sockets or API
client (the command line and the server's HTTP route are its shells)."""
