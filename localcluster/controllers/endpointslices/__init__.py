"""localcluster.controllers.endpointslices."""
