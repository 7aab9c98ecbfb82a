"""The Deployment and ReplicaSet controllers: Deployments -> ReplicaSets (`pod-template-hash`, rolling
updates, status) -> pods. May import kubeapi; `objects`, `rollout` and `replicas` are pure (no asyncio,
aiohttp or kubeapi.client); `controller` is the watch shell."""
