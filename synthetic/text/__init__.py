"""bipe.synthetic.text: real text for language modelling and the passkey probe (no torch).

Modules (docs/method.md#text): ``corpus`` (files, ``stdlib``, ``kjv``, Hugging Face datasets;
the name-hash split and its manifest), ``tokenizer`` (bytes, BPE), ``separators`` (text rules
-> separator ids per level), ``windows`` (token streams, training windows, the ``chunks`` and
``sliding`` evaluation protocols), ``passkey`` (the passkey generator), ``data`` (the text
data config and everything a run builds from it).
"""
