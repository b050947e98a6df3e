"""Interop with transformers' Llama: ``to_hf_llama`` / ``from_hf_llama``.

Shape legend: D model width, F feed-forward width, V vocabulary, R intra table rows.

``pe="rope"`` maps to a ``LlamaForCausalLM`` with the same weights (our fused qkv and gate/up
projections are split into q/k/v_proj and gate/up_proj). ``pe="bipe_rope"`` maps to a pair
``(llama, intra_table)`` with ``intra_table`` an ``nn.Embedding(R, D)`` such that::

    llama(inputs_embeds=llama.get_input_embeddings()(tokens) + intra_table(intra),
          position_ids=seg).logits

equals our logits. The intra overflow policy is ours: clamp or check ``intra`` yourself before
indexing ``intra_table``. Residual dropout has no Llama counterpart (compare in eval mode).
``transformers`` is optional and imported only inside these functions.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import nn

from .config import ModelConfig
from .transformer import Block, Transformer

_SCALING_TO_HF = {"none": "default", "pi": "linear"}


def to_hf_llama(model: Transformer):
    """A ``LlamaForCausalLM`` (pe="rope") or ``(llama, intra_table)`` (pe="bipe_rope")."""
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = model.config
    if cfg.pe not in ("rope", "bipe_rope"):
        raise ValueError(f"to_hf_llama supports pe 'rope' and 'bipe_rope', not {cfg.pe!r}")
    options = {
        "rope_variant": (cfg.rope_variant, "none"),
        "log_scale": (cfg.log_scale, "none"),
        "pose_target_len": (cfg.pose_target_len, None),
        "layer_pattern": (cfg.layer_pattern, ""),
        "window": (cfg.window, None),
    }
    for name, (value, plain) in options.items():
        if value != plain:
            raise ValueError(
                f"to_hf_llama cannot express {name}={value!r} (Llama has plain RoPE only)"
            )
    if cfg.rope_scaling not in _SCALING_TO_HF:
        raise ValueError(f"to_hf_llama supports rope_scaling none and pi, not {cfg.rope_scaling!r}")
    rope = {"rope_type": _SCALING_TO_HF[cfg.rope_scaling], "rope_theta": float(cfg.rope_base)}
    if cfg.rope_scaling == "pi":
        rope["factor"] = float(cfg.rope_scaling_factor)
    hf_cfg = LlamaConfig(
        vocab_size=cfg.vocab_size,
        hidden_size=cfg.d_model,
        intermediate_size=cfg.ff_width,
        num_hidden_layers=cfg.n_layers,
        num_attention_heads=cfg.n_heads,
        num_key_value_heads=cfg.n_heads,
        head_dim=cfg.d_head,
        rms_norm_eps=cfg.norm_eps,
        max_position_embeddings=cfg.max_len,
        rope_parameters=rope,
        tie_word_embeddings=cfg.tie_embeddings,
        attention_dropout=cfg.dropout,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=None,
        attn_implementation="sdpa",  # type: ignore[call-arg]  # a PretrainedConfig kwarg
    )
    param = next(model.parameters())
    llama = LlamaForCausalLM(hf_cfg)
    llama = llama.to(device=param.device, dtype=param.dtype)  # type: ignore[call-arg]
    llama.load_state_dict(_to_hf_state(model), strict=True)
    llama.train(model.training)
    if cfg.pe == "rope":
        return llama
    table = model.encoding.parts[0].table
    intra_table = nn.Embedding(table.num_embeddings, cfg.d_model).to(param.device, param.dtype)
    with torch.no_grad():
        intra_table.weight.copy_(table.weight)
    return llama, intra_table


def from_hf_llama(
    llama,
    intra_table: nn.Embedding | None = None,
    *,
    separators: tuple[int, ...] = (),
    intra_overflow: str = "clamp",
) -> Transformer:
    """Our Transformer from a ``LlamaForCausalLM`` (pe="rope") or, given ``intra_table`` (or a
    ``(llama, intra_table)`` pair as first argument), a pe="bipe_rope" model whose intra table
    counts as fully trained."""
    if isinstance(llama, tuple):
        llama, intra_table = llama
    hf = llama.config
    rope = dict(hf.rope_parameters or {})
    kind = rope.get("rope_type", "default")
    scaling = {v: k for k, v in _SCALING_TO_HF.items()}.get(kind)
    problems = [
        ("rope_type", kind, scaling is not None),
        (
            "num_key_value_heads",
            hf.num_key_value_heads,
            hf.num_key_value_heads == hf.num_attention_heads,
        ),
        ("attention_bias", hf.attention_bias, not hf.attention_bias),
        ("mlp_bias", hf.mlp_bias, not hf.mlp_bias),
        ("hidden_act", hf.hidden_act, hf.hidden_act == "silu"),
        ("head_dim", hf.head_dim, hf.head_dim * hf.num_attention_heads == hf.hidden_size),
    ]
    for name, value, ok in problems:
        if not ok:
            raise ValueError(f"from_hf_llama: unsupported Llama {name}={value!r}")
    extra: dict[str, Any] = (
        {"max_intra": intra_table.num_embeddings} if intra_table is not None else {}
    )
    cfg = ModelConfig(
        hf.vocab_size,
        hf.hidden_size,
        hf.num_hidden_layers,
        hf.num_attention_heads,
        d_ff=hf.intermediate_size,
        pe="rope" if intra_table is None else "bipe_rope",
        separators=tuple(separators),
        tie_embeddings=bool(hf.tie_word_embeddings),
        norm_eps=float(hf.rms_norm_eps),
        rope_base=float(rope.get("rope_theta", 10000.0)),
        rope_scaling=scaling,  # type: ignore[arg-type]  # None refused above
        rope_scaling_factor=float(rope.get("factor", 1.0)),
        max_len=int(hf.max_position_embeddings),
        intra_overflow=intra_overflow,
        **extra,
        compute_dtype="float32",  # no autocast: compute in the weights' dtype, as transformers
    )
    param = next(llama.parameters())
    model = Transformer(cfg).to(device=param.device, dtype=param.dtype)
    state = _from_hf_state(llama.state_dict(), cfg)
    if intra_table is not None:
        state["encoding.parts.0.table.weight"] = intra_table.weight.detach()
        state["encoding.parts.0.n_trained"] = torch.tensor(intra_table.num_embeddings)
    model.load_state_dict(state, strict=True)
    return model.train(llama.training)


def _to_hf_state(model: Transformer) -> dict[str, torch.Tensor]:
    """Our state dict renamed (and split) to LlamaForCausalLM's names."""
    D, Fw = model.config.d_model, model.config.ff_width
    out = {
        "model.embed_tokens.weight": model.embed.weight.detach(),
        "model.norm.weight": model.norm.weight.detach(),
        "lm_head.weight": model.head.weight.detach(),
    }
    for i, block in enumerate(cast("list[Block]", list(model.blocks))):
        p = f"model.layers.{i}."
        q, k, v = block.attn.qkv.weight.detach().split(D, dim=0)  # 3 x (D, D)
        gate, up = block.mlp.gate_up.weight.detach().split(Fw, dim=0)  # 2 x (F, D)
        out.update(
            {
                p + "self_attn.q_proj.weight": q,
                p + "self_attn.k_proj.weight": k,
                p + "self_attn.v_proj.weight": v,
                p + "self_attn.o_proj.weight": block.attn.out.weight.detach(),
                p + "mlp.gate_proj.weight": gate,
                p + "mlp.up_proj.weight": up,
                p + "mlp.down_proj.weight": block.mlp.down.weight.detach(),
                p + "input_layernorm.weight": block.attn_norm.weight.detach(),
                p + "post_attention_layernorm.weight": block.mlp_norm.weight.detach(),
            }
        )
    return out


def _from_hf_state(hf: dict[str, torch.Tensor], cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """LlamaForCausalLM's state dict in our names (q/k/v and gate/up fused)."""
    head = hf.get("lm_head.weight", hf["model.embed_tokens.weight"])
    out = {
        "embed.weight": hf["model.embed_tokens.weight"],
        "norm.weight": hf["model.norm.weight"],
        "head.weight": head,
    }
    for i in range(cfg.n_layers):
        p = f"model.layers.{i}."
        out.update(
            {
                f"blocks.{i}.attn.qkv.weight": torch.cat(
                    [hf[p + f"self_attn.{n}_proj.weight"] for n in "qkv"], dim=0
                ),  # (3D, D)
                f"blocks.{i}.attn.out.weight": hf[p + "self_attn.o_proj.weight"],
                f"blocks.{i}.mlp.gate_up.weight": torch.cat(
                    [hf[p + "mlp.gate_proj.weight"], hf[p + "mlp.up_proj.weight"]], dim=0
                ),  # (2F, D)
                f"blocks.{i}.mlp.down.weight": hf[p + "mlp.down_proj.weight"],
                f"blocks.{i}.attn_norm.weight": hf[p + "input_layernorm.weight"],
                f"blocks.{i}.mlp_norm.weight": hf[p + "post_attention_layernorm.weight"],
            }
        )
    return out
