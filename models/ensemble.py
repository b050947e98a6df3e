"""EnsembleTransformer: M Transformers of one trunk shape trained as one module.

Shape legend: M members, B batch (per member), T padded length, T_m member m's length,
N = B * T, D model width, H heads, K head width, F feed-forward width, V vocabulary.

Trunk weights are stacked with a leading M axis and applied with batched matmuls
(``torch.bmm``); norms scale by each member's own gains. Attention has no weights: it runs
once on the merged (M * B) batch through ``scaled_dot_product_attention``. Positional
encodings may hold parameters (the intra table, T5, FIRE) or sample (randomized RoPE), so
each member keeps its own encoding module and its hooks run per member, on that member's
unpadded positions; their outputs are padded to T and concatenated. Members may therefore
differ in encoding (and in batch length), never in trunk shape. Padding sits at the end of
a row, so causal attention keeps it away from every real position.

Members are built from ordinary :class:`~bipe.models.transformer.Transformer` objects
(:meth:`EnsembleTransformer.__init__` stacks them) and come back as ordinary ones
(:meth:`member`), so initialisation and saved weights are exactly those of separate runs.
Refused: dropout (a member's dropout masks could not follow its separate run's generator)
and encodings with a content hook (``uses_content``: cope, fox, bipe_cope), which need q and k
inside attention.
The pieces both models share (norm, q/k rotation, compute dtype, positional hooks, mask) are
``models/trunk.py``'s. See ``docs/guide.md#ensembles``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import ModelConfig
from .encoding import Encoding, Rotation
from .positions import Positions
from .transformer import Transformer
from .trunk import (
    PositionalTerms,
    allowed_keys,
    compute_dtype,
    in_compute_dtype,
    positional_terms,
    prepared_positions,
    rms_norm,
    split_qkv,
)

__all__ = ["TRUNK_FIELDS", "EnsembleTransformer", "trunk_key"]

# ModelConfig fields every member must share (the stacked weights' shapes and the trunk math)
TRUNK_FIELDS = (
    "vocab_size",
    "d_model",
    "n_layers",
    "n_heads",
    "d_ff",
    "dropout",
    "tie_embeddings",
    "norm_eps",
    "compute_dtype",
)


def trunk_key(config: ModelConfig) -> tuple:
    """The trunk fields of ``config``: members of one ensemble must have equal keys."""
    return tuple(getattr(config, name) for name in TRUNK_FIELDS)


def _stacked_name(name: str) -> str:
    return name.replace(".", "__")


class EnsembleTransformer(nn.Module):
    """M Transformers with one trunk shape; ``forward`` maps M batches to M logits."""

    def __init__(self, members: Sequence[Transformer]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        first = members[0].config
        for m, member in enumerate(members):
            if trunk_key(member.config) != trunk_key(first):
                diff = [f for f in TRUNK_FIELDS if getattr(member.config, f) != getattr(first, f)]
                raise ValueError(
                    f"ensemble member {m} differs from member 0 in {diff[0]}; "
                    f"members must share {', '.join(TRUNK_FIELDS)}"
                )
        for m, member in enumerate(members):
            if not member.config.causal:
                raise ValueError(
                    f"ensemble member {m} is non-causal (model.causal=false); ensembles "
                    "run causal members only"
                )
            if member.config.layer_pattern or member.config.window is not None:
                raise ValueError(
                    f"ensemble member {m}: layer_pattern/window (per-layer encodings or "
                    "windows), which ensembles do not support: train it separately"
                )
            if member.encoding.uses_content:
                raise ValueError(
                    f"ensemble member {m}: pe={member.config.pe!r} reads attention "
                    "content (content hook), which ensembles do not support: "
                    "train it separately"
                )
        if first.dropout:
            raise ValueError(
                f"ensembles do not support dropout (model.dropout={first.dropout}):"
                " train these runs separately"
            )
        self.configs = tuple(member.config for member in members)
        self.trunk_names = tuple(
            n for n, _ in members[0].named_parameters() if not n.startswith("encoding.")
        )
        self.stacked = nn.ParameterDict(
            {
                _stacked_name(n): nn.Parameter(
                    torch.stack([member.get_parameter(n).detach() for member in members]).clone()
                )
                for n in self.trunk_names
            }
        )
        self.encodings = nn.ModuleList(_copy_encoding(member) for member in members)

    @property
    def n_members(self) -> int:
        """M, the number of members."""
        return len(self.configs)

    def weight(self, name: str) -> Tensor:
        """The stacked trunk parameter of a member parameter name, (M, ...)."""
        return self.stacked[_stacked_name(name)]

    def locate(self, m: int, name: str) -> tuple[Tensor, int | None]:
        """Where member m's parameter ``name`` lives: (stacked tensor, m) or (own tensor, None)."""
        if name.startswith("encoding."):
            return self.encodings[m].get_parameter(name.removeprefix("encoding.")), None
        return self.weight(name), m

    def member_state_dict(self, m: int) -> dict[str, Tensor]:
        """Member m's state dict (detached copies), loadable into its ``Transformer``."""
        state = {n: self.weight(n)[m].detach().clone() for n in self.trunk_names}
        for name, value in self.encodings[m].state_dict().items():
            state[f"encoding.{name}"] = value.detach().clone()
        if self.configs[m].tie_embeddings:
            state["head.weight"] = state["embed.weight"]
        return state

    def load_member_state_dict(self, m: int, state: dict[str, Tensor]) -> None:
        """Overwrite member m with a ``Transformer`` state dict (strict)."""
        expected = set(self.trunk_names) | {f"encoding.{n}" for n in self.encodings[m].state_dict()}
        if self.configs[m].tie_embeddings:
            expected.add("head.weight")
        if set(state) != expected:
            odd = sorted(set(state) ^ expected)
            raise ValueError(f"member {m}: state dict keys do not match the model ({odd[:3]})")
        with torch.no_grad():
            for n in self.trunk_names:
                self.weight(n)[m].copy_(state[n])
        self.encodings[m].load_state_dict(
            {n.removeprefix("encoding."): v for n, v in state.items() if n.startswith("encoding.")}
        )

    def member(self, m: int) -> Transformer:
        """Member m as an ordinary ``Transformer`` (a copy, on the ensemble's device)."""
        with torch.random.fork_rng(devices=[]):
            model = Transformer(self.configs[m])
        model.load_state_dict(self.member_state_dict(m))
        return model.to(self.weight("embed.weight").device).train(self.training)

    def compute_dtype(self) -> torch.dtype:
        """dtype of activations: the weights' or bfloat16 (autocast), as
        :meth:`Transformer.compute_dtype` resolves it."""
        return compute_dtype(self.configs[0], self.weight("embed.weight"))

    def forward(
        self,
        tokens: Sequence[Tensor],
        positions: Sequence[Positions | None] | None = None,
        generators: Sequence[torch.Generator | None] | None = None,
    ) -> list[Tensor]:
        """M token batches (B, T_m) -> M logits (B, T_m, V); ``positions[m]`` None means the
        member's own streams; ``generators[m]`` feeds its sampling encodings."""
        M = self.n_members
        if len(tokens) != M:
            raise ValueError(f"expected {M} token batches, got {len(tokens)}")
        positions = positions if positions is not None else [None] * M
        generators = generators if generators is not None else [None] * M
        return in_compute_dtype(
            self.compute_dtype(), tokens[0].device, lambda: self._run(tokens, positions, generators)
        )

    def _run(self, tokens, positions, generators) -> list[Tensor]:
        cfg, M = self.configs[0], self.n_members
        B, T = tokens[0].shape[0], max(t.shape[1] for t in tokens)
        V, D = cfg.vocab_size, cfg.d_model
        dtype = self.compute_dtype()
        hooks = [
            self._member_hooks(m, tokens[m], positions[m], generators[m], T, dtype)
            for m in range(M)
        ]
        padded = torch.stack([F.pad(t, (0, T - t.shape[1])) for t in tokens])  # (M, B, T)
        offsets = torch.arange(M, device=padded.device).view(M, 1, 1) * V  # (M, 1, 1)
        table = self.weight("embed.weight").reshape(M * V, D)  # (M * V, D)
        x = F.embedding(padded + offsets, table)  # (M, B, T, D)
        x = torch.stack(
            [
                x[m]
                if h.embed is None
                else x[m] + F.pad(h.embed.to(x.dtype), (0, 0, 0, T - h.embed.shape[1]))
                for m, h in enumerate(hooks)
            ]
        )  # (M, B, T, D)
        rot = _merge_rotations([h.rotation for h in hooks], B, T, cfg.n_heads)
        mask = _merge_biases([h.bias for h in hooks], B, T, dtype)  # (M * B, H|1, T, T) | None
        x = x.reshape(M, B * T, D)  # (M, N, D)
        for i in range(cfg.n_layers):
            x = self._block(i, x, rot, mask, B, T)
        head = "embed.weight" if cfg.tie_embeddings else "head.weight"
        h = _member_norm(x, self.weight("norm.weight"), cfg.norm_eps)  # (M, N, D)
        logits = torch.bmm(h, self.weight(head).transpose(1, 2)).view(M, B, T, V)
        return [logits[m, :, : t.shape[1]] for m, t in enumerate(tokens)]  # M x (B, T_m, V)

    def _member_hooks(
        self,
        m: int,
        tokens: Tensor,
        pos: Positions | None,
        generator: torch.Generator | None,
        T: int,
        dtype: torch.dtype,
    ) -> PositionalTerms:
        """Member m's positional terms on its unpadded tokens (B, T_m)."""
        enc = cast(Encoding, self.encodings[m])
        pos = prepared_positions(enc, self.configs[m], tokens, pos, generator)
        Tm = tokens.shape[1]
        allowed = allowed_keys(Tm, 0, None, tokens.device) if enc.uses_bias else None
        return positional_terms(enc, pos, pos, allowed, dtype)  # bias (B|1, H|1, T_m, T_m)

    def _block(
        self, i: int, x: Tensor, rot: Rotation | None, mask: Tensor | None, B: int, T: int
    ) -> Tensor:
        """One pre-norm block on the stacked residual stream x (M, N, D)."""
        cfg, M = self.configs[0], self.n_members
        H, K, D = cfg.n_heads, cfg.d_head, cfg.d_model
        w = f"blocks.{i}."
        h = _member_norm(x, self.weight(w + "attn_norm.weight"), cfg.norm_eps)  # (M, N, D)
        qkv = torch.bmm(h, self.weight(w + "attn.qkv.weight").transpose(1, 2))  # (M, N, 3D)
        qkv = qkv.view(M * B, T, 3, H, K)  # (M * B, T, 3, H, K)
        q, k, v = split_qkv(qkv, rot)  # 3 x (M * B, H, T, K)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=mask is None
        )  # (M * B, H, T, K)
        y = y.transpose(1, 2).reshape(M, B * T, D)  # (M, N, D)
        x = x + torch.bmm(y, self.weight(w + "attn.out.weight").transpose(1, 2))
        h = _member_norm(x, self.weight(w + "mlp_norm.weight"), cfg.norm_eps)  # (M, N, D)
        gu = torch.bmm(h, self.weight(w + "mlp.gate_up.weight").transpose(1, 2))  # (M, N, 2F)
        gate, up = gu.chunk(2, dim=-1)  # 2 x (M, N, F)
        down = self.weight(w + "mlp.down.weight").transpose(1, 2)  # (M, F, D)
        return x + torch.bmm(F.silu(gate) * up, down)  # (M, N, D)


def _copy_encoding(member: Transformer) -> nn.Module:
    import copy

    return copy.deepcopy(member.encoding)


def _member_norm(x: Tensor, gains: Tensor, eps: float) -> Tensor:
    """Per-member RMSNorm: x (M, N, D), gains (M, D) -> (M, N, D)."""
    return rms_norm(x, gains[:, None, :], eps)


def _merge_rotations(rots: list[Rotation | None], B: int, T: int, H: int) -> Rotation | None:
    """Members' rotations (B, T_m, 1|H, K/2) padded to T and stacked: (M * B, T, 1|H, K/2);
    a member without one gets the identity (cos 1, sin 0), as do padded positions."""
    present = [r for r in rots if r is not None]
    if not present:
        return None
    ref = present[0].cos_q
    heads = H if any(r.cos_q.shape[2] != 1 or r.cos_k.shape[2] != 1 for r in present) else 1
    shape = (B, T, heads, ref.shape[-1])
    shared = all(r.cos_q is r.cos_k and r.sin_q is r.sin_k for r in present)

    def pad(t: Tensor | None, fill: float) -> Tensor:
        out = torch.full(shape, fill, dtype=ref.dtype, device=ref.device)  # (B, T, h, K/2)
        if t is not None:
            out[:, : t.shape[1]] = t
        return out

    def merged(field: str, fill: float) -> Tensor:
        return torch.cat(
            [pad(None if r is None else getattr(r, field), fill) for r in rots]
        )  # (M * B, T, h, K/2)

    cos_q, sin_q = merged("cos_q", 1.0), merged("sin_q", 0.0)
    if shared:
        return Rotation(cos_q, sin_q, cos_q, sin_q)
    return Rotation(cos_q, sin_q, merged("cos_k", 1.0), merged("sin_k", 0.0))


def _merge_biases(biases: list[Tensor | None], B: int, T: int, dtype: torch.dtype) -> Tensor | None:
    """Members' biases (B|1, H|1, T_m, T_m) as one float mask (M * B, H|1, T, T): outside a
    member's block (padding, members without a bias) plain causal (0 allowed, -inf not)."""
    present = [b for b in biases if b is not None]
    if not present:
        return None
    heads = max(b.shape[1] for b in present)
    device = present[0].device
    causal = allowed_keys(T, 0, None, device)[0, 0]  # (T, T)
    base = torch.zeros(T, T, dtype=dtype, device=device).masked_fill(~causal, float("-inf"))
    out = []
    for bias in biases:
        full = base.expand(B, heads, T, T).clone()  # (B, h, T, T)
        if bias is not None:
            Tm = bias.shape[-1]
            full[:, :, :Tm, :Tm] = bias
        out.append(full)
    return torch.cat(out)  # (M * B, h, T, T)
