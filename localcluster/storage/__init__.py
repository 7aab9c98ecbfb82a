"""localcluster.storage."""
