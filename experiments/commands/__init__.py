"""One module per ``bipe`` sub-command (see ``bipe.experiments.cli``)."""
