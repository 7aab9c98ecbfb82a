"""kubeapi: the ground floor every package shares: API shapes (meta, labels, codec, paths, errors),
manifests, auth, the async client, and the store, reflector and work queue controllers build on.
May import the standard library and third-party packages only (no petdns, petset_controller, localcluster)."""
