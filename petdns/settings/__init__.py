"""petdns.settings."""
