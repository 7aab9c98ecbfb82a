"""`kubectl petset ...`: the kubectl plugin for PetSets (a `kubectl-petset` executable on the PATH).

It sits on top: it may import kubeapi, petdns and petset_controller; nothing imports it.
"""
