"""bipe.analysis: turns run folders into figures and relates them to the theory.

Modules (imported on demand; nothing here imports torch or matplotlib eagerly):

- ``params``: exact parameter counts per component as sympy formulas and numbers; ``fit_width``.
- ``theory``: Bi-NFA and flattening state/transition counts; width-scaling ``HYPOTHESES``.
- ``efficiency``: smallest width reaching a target (early-stopping grid search), power-law fits
  with bootstrap intervals on the exponent.
- ``stats``: bootstrap intervals and seed-paired differences.
- ``runs``: reading run and sweep folders.
- ``report``: ``write_report(run_dirs, out_dir, title=...)`` -> report.md, report.html, PNGs.
- ``plots``: matplotlib (Agg) figures, grayscale-readable.
- ``segstats``: tokens per segment and segments per sequence of datasets and text corpora;
  ``segmethods``: the segmentations it compares (separator, fixed:K, entropy[:L]).
- ``attention``: same-segment attention mass and distance profiles of trained models.
"""
