"""`petdns peers`: the PetSet peer-finder (a pet learns its set's members from the governing service's SRV
records and runs a script with them). May import petdns.dns and dnslib; `core` imports no sockets."""
