"""Storage object in-use protection: the `kubernetes.io/pvc-protection` and `kubernetes.io/pv-protection`
finalizers, added to claims and volumes and removed once a deleted one is no longer in use.
May import kubeapi; rules is pure (no asyncio, aiohttp or kubeapi.client)."""
