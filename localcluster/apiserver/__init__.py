"""localcluster.apiserver."""
