"""The hostPath volume provisioner: pure claim, volume and class rules (volumes) and the controller shell.
May import kubeapi; volumes is pure (no asyncio, aiohttp or kubeapi.client)."""
