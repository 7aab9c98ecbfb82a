"""Owns the spec checks of built-in kinds (Service, Pod, PersistentVolumeClaim, EndpointSlice,
ConfigMap), with upstream's field paths and messages. Pure: imports only kubeapi, the storage package's
errors, validation and meta modules, and the standard library.
"""
