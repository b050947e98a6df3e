"""bipe.synthetic."""
