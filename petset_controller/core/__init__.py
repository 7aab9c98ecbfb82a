"""petset_controller.core."""
