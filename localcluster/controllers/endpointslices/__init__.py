"""The EndpointSlice controller: slim models, the pure slice plan, its own-writes tracker, the watch shell.
May import kubeapi; model, slices and tracker are pure (no asyncio, aiohttp or kubeapi.client)."""
