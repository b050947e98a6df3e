"""The Hugging Face configuration of an exported bipe model (``configuration_bipe.py``).

Shape legend: none (plain data).

``BipeConfig`` holds the whole :class:`ModelConfig` as a dict (``bipe_model``), so every
registry encoding and option travels unchanged; the standard fields transformers reads
(``vocab_size``, ``hidden_size``, ``num_hidden_layers``, ``num_attention_heads``,
``tie_word_embeddings``) mirror it. Separator ids are ``bipe_model["separators"]``. A plug-in
encoding's file is copied beside this one as ``bipe_plugin.py``; ``bipe_plugin`` names its
entry, which the model is built with (``bipe_model["pe"]`` keeps the original spec).
This module is copied into every export (``bipe export-hf``): it imports only transformers and
the copied model code, never ``bipe``.
"""

from __future__ import annotations

from typing import Any

try:  # transformers 5 renamed the base class; 4.x has only the old name
    from transformers import PreTrainedConfig as _BaseConfig
except ImportError:  # pragma: no cover - transformers 4.x
    from transformers import PretrainedConfig as _BaseConfig

from .config import ModelConfig


class BipeConfig(_BaseConfig):
    """A bipe Transformer's :class:`ModelConfig` (``bipe_model``) as a transformers config."""

    model_type = "bipe"

    def __init__(
        self,
        bipe_model: dict[str, Any] | None = None,
        bipe_plugin: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.bipe_model = dict(bipe_model) if bipe_model is not None else None
        self.bipe_plugin = bipe_plugin
        if bipe_model is not None:
            cfg = self.model_config()
            kwargs.setdefault("tie_word_embeddings", cfg.tie_embeddings)
            self.vocab_size = cfg.vocab_size
            self.hidden_size = cfg.d_model
            self.num_hidden_layers = cfg.n_layers
            self.num_attention_heads = cfg.n_heads
        super().__init__(**kwargs)

    def model_config(self) -> ModelConfig:
        """The bipe :class:`ModelConfig` (validated; a bad dict is a ValueError)."""
        if self.bipe_model is None:
            raise ValueError("BipeConfig has no bipe_model (an export always writes one)")
        data = dict(self.bipe_model)
        if self.bipe_plugin is not None:  # the plug-in's copy beside this file
            data["pe"] = f"{__package__}.bipe_plugin:{self.bipe_plugin}"
        return ModelConfig.from_dict(data)
