"""petdns.dns."""
