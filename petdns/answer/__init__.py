"""petdns.answer: the rendered zone, rendering, the fast path and the one dispatcher (fast, full, outside).

May import petdns.dns, petdns.schema, petdns.plugins and petdns.settings.values; nothing of forward,
serve or asyncio."""
