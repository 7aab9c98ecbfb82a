"""The PetSet controller: stable identities, claims and ordered scaling, as a pure core/ and a runtime/ shell.
May import kubeapi, the standard library and (optionally) uvloop; never petdns or localcluster."""
