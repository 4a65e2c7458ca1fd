"""Optimisation: parameterisations, transforms, objectives, update rules and the batched optimiser."""
