"""The pure reconcile step: the spec and its rules, models, identities, revisions, plan() and actions, status.
May import kubeapi's pure modules (meta, labels); never asyncio, aiohttp, kubeapi.client or runtime/."""
