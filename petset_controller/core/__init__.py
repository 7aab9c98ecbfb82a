"""The pure reconcile step: the spec and its rules, models, identities, revisions, plan() and actions, status,
volume growth. May import kubeapi's pure modules (meta, labels, quantity); never asyncio, aiohttp,
kubeapi.client or runtime/."""
