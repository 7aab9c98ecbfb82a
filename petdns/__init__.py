"""petdns: cluster DNS for Kubernetes pets."""
