"""localcluster.controllers."""
