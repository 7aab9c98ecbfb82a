"""Controller for the PetSet resource: stable identities, claims and ordered scaling."""
