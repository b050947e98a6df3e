"""The Hugging Face model class of an exported bipe model (``modeling_bipe.py``).

Shape legend: B batch, T query length, S key length (cached plus new), V vocabulary.

:class:`BipeForCausalLM` wraps the bipe :class:`Transformer` (``self.model``) as a
``PreTrainedModel`` with ``GenerationMixin``. Positions (token index, segment index, intra
position, outer levels) come from ``input_ids`` and the separator ids in the config, as in bipe:

- a forward without a cache computes them from the ids; a left-padded ``attention_mask``
  (zeros then ones per row) gives the positions of the unpadded rows and masks the padding
  keys; a right-padded one (ones then zeros, as in training batches) masks the padding keys;
- with a cache (``generate``: prefill, then one token at a time) each new token's positions
  continue from the last cached token's (a separator closes its segment), so a token's
  positions are the ones the whole prefix would give: never plain token indices.

``labels`` give the shifted next-token cross-entropy (``-100`` ignored), so ``Trainer`` can
fine-tune it. The cache is a :class:`BipeCache` (bipe's own KV cache, grown by doubling,
reordered for beam search). Computation runs in the weights' dtype (``bipe_model``'s
``compute_dtype`` is kept for re-import but not applied here). This module is copied into
every export (``bipe export-hf``) with the bipe model code it imports: loading needs only
torch and transformers.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import GenerationMixin, PreTrainedModel
from transformers import __version__ as _hf_version
from transformers.modeling_outputs import CausalLMOutputWithPast

from .hf_config import BipeConfig
from .positions import Positions, default_positions, left_padded_positions, next_positions
from .transformer import KVCache, Transformer

# transformers 5 renamed ``past_key_values`` to ``cache`` (outputs and generate's kwargs).
CACHE_FIELD = (
    "cache"
    if "cache" in {f.name for f in dataclasses.fields(CausalLMOutputWithPast)}
    else "past_key_values"
)
_HF_MAJOR = int(_hf_version.split(".")[0])


class BipeCache:
    """Decoding state: bipe's :class:`KVCache` (capacity grows by doubling), the number of
    filled slots ``seen``, the positions (B, 1) and id (B,) of the last token, and whether key
    validity (padding) must be applied."""

    is_compileable = False
    is_croppable = False

    def __init__(self, kv: KVCache, seen: int, last: Positions, last_token: Tensor, padded: bool):
        self.kv, self.seen, self.last, self.last_token, self.padded = (
            kv,
            seen,
            last,
            last_token,
            padded,
        )

    def get_seq_length(self, layer_idx: int = 0) -> int:
        """Tokens held (the transformers cache interface)."""
        return self.seen

    def reorder_cache(self, beam_idx: Tensor) -> None:
        """Keep rows ``beam_idx`` (B,) of every tensor, in that order (beam search)."""
        kv, idx = self.kv, beam_idx.to(self.kv.key_valid.device)
        pos = kv.positions
        for t in (*kv.keys, *kv.values, *kv.states, kv.key_valid, pos.index, pos.seg, pos.intra):
            t.copy_(t.index_select(0, idx))
        for t in pos.outer:
            t.copy_(t.index_select(0, idx))
        last = self.last
        self.last = Positions(
            last.index.index_select(0, idx),
            last.seg.index_select(0, idx),
            last.intra.index_select(0, idx),
            tuple(o.index_select(0, idx) for o in last.outer),
        )
        self.last_token = self.last_token.index_select(0, idx)

    def reserve(self, model: Transformer, n_slots: int) -> None:
        """Make room for ``n_slots`` slots in all (copying the filled ones into a larger cache)."""
        capacity = self.kv.key_valid.shape[1]
        if n_slots <= capacity:
            return
        old, S = self.kv, self.seen
        new = _empty_cache(model, old.key_valid.shape[0], max(n_slots, 2 * capacity))
        for dst, src in zip(
            new.keys + new.values + new.states, old.keys + old.values + old.states, strict=True
        ):
            dst[:, :, :S] = src[:, :, :S]
        new.write_positions(old.positions.select(0, S), 0)
        new.key_valid[:, :S] = old.key_valid[:, :S]
        self.kv = new


def _empty_cache(model: Transformer, batch: int, n_slots: int) -> KVCache:
    """An empty cache of ``n_slots`` slots for ``model``."""
    n_outer = len(model.config.level_separators()) - 1
    device = model.embed.weight.device
    return KVCache.empty(
        model.config,
        batch,
        n_slots,
        n_outer,
        device,
        model.compute_dtype(),
        model.encoding.key_state_width,
    )


class BipeForCausalLM(PreTrainedModel, GenerationMixin):
    """A bipe Transformer as a transformers causal LM (``trust_remote_code=True``)."""

    config_class = BipeConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    _no_split_modules = ["Block"]
    _tied_weights_keys: Any = (  # transformers 5: target -> source; 4.x: a list
        {"model.head.weight": "model.embed.weight"} if _HF_MAJOR >= 5 else ["model.head.weight"]
    )

    def __init__(self, config: BipeConfig) -> None:
        super().__init__(config)
        self._derived: dict[str, Tensor] | None = None
        cfg = dataclasses.replace(config.model_config(), compute_dtype="float32")
        self.model = Transformer(cfg)
        self.post_init()

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        return False  # the cache is a BipeCache, made by forward

    def get_input_embeddings(self) -> nn.Embedding:
        return self.model.embed

    def get_output_embeddings(self) -> nn.Linear:
        return self.model.head

    def _init_weights(self, module: nn.Module) -> None:
        """Weights come from bipe's own initialisation (or the checkpoint); only the
        encodings' derived buffers (ALiBi slopes, RoPE frequencies, head groups: not saved,
        and left undefined by transformers' loading) are recomputed."""
        names = getattr(module, "_non_persistent_buffers_set", ())
        model = self.__dict__.get("_modules", {}).get("model")
        if not names or model is None:
            return
        prefix = next((n for n, m in model.named_modules() if m is module), None)
        if prefix is None:
            return
        fresh = self._derived_buffers()
        with torch.no_grad():
            for name in names:
                buffer, key = getattr(module, name), f"{prefix}.{name}".lstrip(".")
                if buffer is not None and key in fresh:
                    buffer.copy_(fresh[key].to(buffer.device, buffer.dtype))

    def _derived_buffers(self) -> dict[str, Tensor]:
        """Non-persistent buffers of a freshly built model (built once, on the CPU, without
        touching torch's global random state)."""
        if self._derived is None:
            with torch.random.fork_rng(devices=[]), torch.device("cpu"):
                fresh = Transformer(self.model.config)
            saved = set(fresh.state_dict())
            self._derived = {n: b for n, b in fresh.named_buffers() if n not in saved}
        return self._derived

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        past_key_values: BipeCache | None = None,
        cache: BipeCache | None = None,
        labels: Tensor | None = None,
        use_cache: bool | None = None,
        position_ids: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> CausalLMOutputWithPast:
        """input_ids (B, T) -> logits (B, T, V); see the module docstring."""
        if input_ids is None or inputs_embeds is not None:
            raise ValueError("bipe models need input_ids (positions come from the separators)")
        if position_ids is not None:
            raise ValueError("bipe models compute positions from input_ids; drop position_ids")
        state = cache if cache is not None else past_key_values
        if state is not None and not isinstance(state, BipeCache):
            if state.get_seq_length() > 0:
                raise ValueError(f"bipe models need their own cache, got {type(state).__name__}")
            state = None
        if use_cache is None:
            use_cache = bool(getattr(self.config, "use_cache", True)) and not self.training
        mask = None if attention_mask is None else attention_mask.to(torch.bool)
        if state is None:
            logits, state = self._forward_fresh(input_ids, mask, use_cache)
        else:
            logits = self._forward_cached(input_ids, mask, state)
        loss = None if labels is None else _shifted_loss(logits, labels)
        extra: dict[str, Any] = {CACHE_FIELD: state if use_cache else None}
        return CausalLMOutputWithPast(loss=loss, logits=logits, **extra)

    def _forward_fresh(self, ids: Tensor, mask: Tensor | None, use_cache: bool):
        """Logits (B, T, V) and the cache (or None) of a fresh sequence."""
        B, T = ids.shape
        seps = self.model.config.level_separators()
        key_valid = None if mask is None or bool(mask.all()) else mask
        if key_valid is None:
            pos = default_positions(ids, seps)
        else:
            lengths = key_valid.sum(dim=1)  # (B,)
            t = torch.arange(T, device=ids.device)[None, :]  # (1, T)
            if torch.equal(key_valid, t >= T - lengths[:, None]):
                pos = left_padded_positions(ids, lengths, seps)
            elif torch.equal(key_valid, t < lengths[:, None]):
                pos = default_positions(ids, seps)
            else:
                raise ValueError("attention_mask must be left or right padding (no holes)")
        if not use_cache:
            return self.model.run(ids, pos, key_valid=key_valid), None
        kv = _empty_cache(self.model, B, T)
        kv.key_valid[:, :T] = True if key_valid is None else key_valid
        logits = self.model.run(ids, pos, cache=kv, start=0, key_valid=key_valid)
        last = pos.select(T - 1, T)
        return logits, BipeCache(kv, T, last, ids[:, -1], key_valid is not None)

    def _forward_cached(self, ids: Tensor, mask: Tensor | None, state: BipeCache) -> Tensor:
        """Logits (B, T, V) of ``ids`` continuing the cached tokens (positions streamed)."""
        B, T = ids.shape
        S = state.seen + T
        seps = self.model.config.level_separators()
        steps, last, last_token = [], state.last, state.last_token
        for t in range(T):
            last = next_positions(last, last_token, seps)  # (B, 1) per stream
            steps.append(last)
            last_token = ids[:, t]
        pos = Positions(
            torch.cat([p.index for p in steps], dim=1),
            torch.cat([p.seg for p in steps], dim=1),
            torch.cat([p.intra for p in steps], dim=1),
            tuple(torch.cat([p.outer[k] for p in steps], dim=1) for k in range(len(last.outer))),
        )  # (B, T) per stream
        state.reserve(self.model, S)
        new_valid = True if mask is None else mask[:, -T:]
        state.kv.key_valid[:, state.seen : S] = new_valid
        padded = state.padded or (mask is not None and not bool(mask[:, -T:].all()))
        logits = self.model.run(
            ids,
            pos,
            cache=state.kv,
            start=state.seen,
            key_valid=state.kv.key_valid[:, :S] if padded else None,
        )
        state.seen, state.last, state.last_token, state.padded = S, last, ids[:, -1], padded
        return logits

    def prepare_inputs_for_generation(
        self, input_ids: Tensor, attention_mask: Tensor | None = None, **kwargs
    ) -> dict:
        """Only the tokens the cache has not seen go in (all of them without a cache)."""
        state = kwargs.get("cache", kwargs.get("past_key_values"))
        if not isinstance(state, BipeCache):
            state = None
        if state is not None:
            input_ids = input_ids[:, state.seen :]
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            CACHE_FIELD: state,
            "use_cache": kwargs.get("use_cache", True),
        }


def _shifted_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean cross-entropy of token t + 1 from position t; labels -100 are ignored."""
    V = logits.shape[-1]
    pred = logits[:, :-1].reshape(-1, V).float()  # (B * (T - 1), V)
    return F.cross_entropy(pred, labels[:, 1:].reshape(-1).to(pred.device), ignore_index=-100)
