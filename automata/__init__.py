"""bipe.automata."""
