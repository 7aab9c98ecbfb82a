"""petdns.answer: the rendered zone, rendering, the fast path and the one dispatcher (fast, full, outside).

May import petdns.dns, petdns.schema and petdns.settings.values; nothing of forward, serve or asyncio."""
