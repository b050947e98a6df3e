"""bipe.analysis."""
