"""petset_controller.runtime."""
