"""petdns.serve."""
