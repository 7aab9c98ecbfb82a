"""localcluster.kubelet."""
