"""petdns.schema (pure): the slim model, object files, the catalog, the name grammar, records, lookup, scope.

May import petdns.dns, petdns.settings.values, kubeapi.manifests and kubeapi.labels; no asyncio, aiohttp
or API client."""
