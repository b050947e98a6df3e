"""bipe.experiments."""
