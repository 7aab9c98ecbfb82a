"""petdns.forward."""
