"""tests.petdns."""
