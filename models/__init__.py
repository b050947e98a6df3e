"""bipe.models."""
