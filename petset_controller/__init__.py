"""The PetSet controller: stable identities, claims and ordered scaling, as a pure core/ and a runtime/ shell.
May import kubeapi and the standard library; never petdns or localcluster."""
