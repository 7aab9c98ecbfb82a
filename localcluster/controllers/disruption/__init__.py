"""The disruption controller: PodDisruptionBudget status from the pods each selects (pure `budget`), and
the shell watching budgets and pods. May import kubeapi; `budget` is pure (no asyncio, aiohttp or client)."""
