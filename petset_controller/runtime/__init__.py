"""The I/O shell: informers, the executor, expectations, events, the leader lease, the controller's workers.
May import core/ and all of kubeapi (client, reflector, store, workqueue); never petdns or localcluster."""
