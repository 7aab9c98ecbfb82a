"""localcluster.controllers.provisioner."""
