"""petdns.forward: recursion ACL, upstreams and their health, relayed messages, response cache, forwarder.

May import petdns.dns and petdns.serve.tally (its counters and plugin labels); nothing of answer."""
