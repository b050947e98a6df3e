"""bipe.synthetic: the data BiPE experiments train on (numpy only, never torch).

Modules (import the one you need; nothing is imported eagerly):

- ``distributions``: the length-spec grammar (``uniform:2:8``, ``zipf:1.2:10``, ...).
- ``segment``: segmenters, tokens -> ``(seg, intra)`` (separator, fixed length, oracle,
  multi-level), batched and streaming.
- ``perturb``: seeded boundary perturbations (drop, insert, shift, fixed length).
- ``ngram`` / ``entropy``: entropy segmentation for data without separators: an n-gram model's
  next-token entropies, a calibrated threshold, batched and streaming.
- ``sequence_sampling`` / ``sequences`` / ``sequence_verify``: Bi-NFA, flat NFA and 3-level
  sequences with labels (drawn by :class:`bipe.automata.MemberSampler`, the one sampler),
  dataset configs and generation, and verification.
- ``arithmetic``: chain-of-thought arithmetic over Z_p (``feng``, ``direct``, ``steps``) and its
  strict verifier; ``feng``: the reference generator's file layout, read and written.
- ``dataset``: atomic, hash-checked dataset folders (``data.jsonl``/``data.npz`` + ``meta.json``).
- ``family`` / ``families``: the data families: the shared ``DataConfig`` base and the one
  registry (family name -> config class, dataset generator names, ``generate_dataset`` and
  record verifier); ``arith_data`` (``ArithmeticData``) and ``sequence_data``
  (``AutomatonData``) are the families' configs.
"""
