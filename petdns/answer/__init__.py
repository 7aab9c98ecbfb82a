"""petdns.answer."""
