"""Owns the spec checks of built-in kinds (Service, Pod, PersistentVolumeClaim, EndpointSlice,
ConfigMap; Deployment, ReplicaSet, Job in `apps`; PodDisruptionBudget, NetworkPolicy, RBAC, Secret in
`policy`), with upstream's field paths and messages. Pure: imports only kubeapi, the storage package's
errors, validation and meta modules, and the standard library.
"""
