"""bipe.experiments: the composition root, where tasks meet models.

Modules: ``config`` (nested frozen run configs, dotted overrides), ``presets`` (``tiny``,
``demo``, ``paper_arith``, ``cpu_arith``), ``tasks`` (the task registry), ``segmentation``
(which positions a model receives), ``train`` (runs, checkpoints, exact resume), ``evaluate``
(the length-extrapolation protocol, ``eval.json``), ``sweep`` and ``study`` (grids of runs),
``cluster`` (sweeps as submitit/Slurm jobs), ``tblog`` (TensorBoard event files), ``progress``
(the terminal bar of many runs),
``demo`` (``bipe demo``), ``rundir`` (run-folder files) and ``cli`` with ``commands/`` (the
``bipe`` command).
"""
