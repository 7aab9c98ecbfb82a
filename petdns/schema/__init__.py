"""petdns.schema (pure): the slim model, object files, the catalog, the name grammar, records, lookup.

May import petdns.dns, petdns.settings.values and kubeapi.manifests; no asyncio, aiohttp or API client."""
