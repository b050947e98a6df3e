"""bipe.experiments: the composition root, where tasks meet models.

Modules:

- runs: ``config`` (nested frozen run configs, dotted overrides), ``presets`` (named starting
  configs), ``tasks/`` (the task registry), ``segmentation`` (which positions a model
  receives), ``prepare`` (seed streams, the device, a run's data in memory), ``train`` (runs,
  checkpoints, exact resume), ``resume_changes`` (what a resume may change), ``compiled`` (the
  training step, optionally ``torch.compile``\\ d), ``distributed`` (data-parallel training
  under torchrun), ``rundir`` (run-folder files), ``tblog`` (TensorBoard event files);
- evaluation: ``evaluate`` (the length-extrapolation protocol, ``eval.json``), ``metrics``
  (language-model metrics), ``online_decode`` (entropy segmentation while decoding);
- many runs: ``sweep`` (grids of runs), ``sweep_run`` (one run of a sweep), ``ensemble`` and
  ``ensemble_sweep`` (runs trained together as one ensemble), ``cluster`` (sweeps as
  submitit/Slurm jobs), ``width_search`` (``bipe study width``: the smallest width reaching a
  target accuracy), ``progress`` (the terminal bar of many runs);
- sharing: ``hf`` (``bipe export-hf`` / ``bipe import-hf``: a run as a Hugging Face model
  folder and back) and ``hf_tokenizer`` (the run's tokenizer for transformers);
- ``battery`` and ``battery_tasks`` (``bipe battery``: a fixed task list measuring encodings
  against the committed studies' baselines), ``demo`` (``bipe demo``) and ``cli`` with
  ``commands/`` (the ``bipe`` command).
"""
