"""petdns: cluster DNS for Kubernetes pets; owns the sub-packages below, `app` (composition) and `cli`.

May import kubeapi only (never petset_controller; `cli` starts `petdns local` lazily from localcluster)."""
