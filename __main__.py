"""``python -m bipe`` is the ``bipe`` command."""

from bipe.experiments.cli import main

raise SystemExit(main())
