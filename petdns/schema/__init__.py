"""petdns.schema."""
