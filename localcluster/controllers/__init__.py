"""The local control plane's controllers (EndpointSlices, volume provisioning, Deployments, disruption
budgets), each a sub-package.
May import kubeapi only (they talk to the API through its client); never storage, apiserver or kubelet."""
