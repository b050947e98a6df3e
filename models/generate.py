"""Batched greedy or sampled decoding with a KV cache and streaming positions.

Shape legend: B batch, T0 prompt length, N new tokens, S cached length, V vocabulary.

The prompt is run once (prefill); each new token is then a single-token forward against the
cache. Its positions come from :func:`~bipe.models.positions.next_positions`: the token index
grows by one and, when the previous token was a separator, the segment index grows and the
intra position restarts at 0 (the official BiPE code recomputes the whole prefix instead).
``use_cache=False`` recomputes the full forward for every token (the reference the tests and the
benchmark compare against); both give the same tokens.

Positions from outside the model (``positions``, e.g. another segmentation at evaluation):
a function ``positions(tokens, lengths)`` of the right-aligned tokens so far (B, S) and the row
lengths (B,) that returns their :class:`Positions` (B, S) (padding: 0). Without the cache it is
called on the whole prefix before every step; with the cache it is called on each prefix in turn
(the prompt, then one token longer per step) and only the new token's positions are used, so it
must be causal (a token's positions never depend on later tokens), and a streaming source may
advance one token per call instead of recomputing.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .positions import Positions, default_positions, left_padded_positions, next_positions
from .transformer import KVCache, Transformer

# positions(tokens (B, S) right-aligned, lengths (B,)) -> Positions (B, S); see the docstring
PositionFn = Callable[[Tensor, Tensor], Positions]


def pick_next(
    logits: Tensor, temperature: float, top_k: int | None, generator: torch.Generator | None
) -> Tensor:
    """(B,) next tokens from last-step logits (B, V): argmax at temperature 0, else a sample of
    ``softmax(logits / temperature)`` restricted to the ``top_k`` largest, drawn from
    ``generator``."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    scaled = logits.float() / temperature  # (B, V)
    if top_k is not None:
        kth = scaled.topk(min(top_k, scaled.shape[-1]), dim=-1).values[:, -1:]  # (B, 1)
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    probs = scaled.softmax(dim=-1)  # (B, V)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]  # (B,)


@torch.no_grad()
def generate(
    model: Transformer,
    prompt: Tensor,
    max_new_tokens: int,
    *,
    prompt_lengths: Tensor | None = None,
    temperature: float = 0.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
    eos: int | None = None,
    use_cache: bool = True,
    positions: PositionFn | None = None,
) -> Tensor:
    """Tokens (B, T0 + N): the prompt followed by ``max_new_tokens`` decoded tokens.

    ``prompt_lengths`` (B,) marks left-padded prompts: row b's prompt is its last
    ``prompt_lengths[b]`` tokens (the padding is masked and does not count for positions).
    Once a row has produced ``eos`` it keeps producing ``eos``, and decoding stops early when
    every row has. ``positions`` supplies the positions instead of the model's separator
    rule (see the module docstring). Runs in eval mode (the module's mode is restored
    afterwards).
    """
    B, T0 = prompt.shape
    _check_arguments(prompt, max_new_tokens, prompt_lengths, temperature, top_k)
    if use_cache and not model.config.causal:
        raise ValueError(
            "a non-causal model (model.causal=false) cannot decode with a KV cache "
            "(use_cache=False recomputes every prefix)"
        )
    was_training = model.training
    model.eval()
    try:
        decode = _decode_cached if use_cache else _decode_recompute
        new = decode(
            model,
            prompt,
            max_new_tokens,
            prompt_lengths,
            lambda logits: pick_next(logits, temperature, top_k, generator),
            eos,
            positions,
        )
    finally:
        model.train(was_training)
    return torch.cat([prompt, new], dim=1)  # (B, T0 + N)


def _check_arguments(
    prompt: Tensor,
    max_new_tokens: int,
    prompt_lengths: Tensor | None,
    temperature: float,
    top_k: int | None,
) -> None:
    if prompt.dim() != 2 or prompt.shape[1] == 0 or prompt.dtype != torch.long:
        raise ValueError(
            f"prompt must be a non-empty (B, T0) long tensor, got "
            f"{tuple(prompt.shape)} {prompt.dtype}"
        )
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if prompt_lengths is not None:
        lengths = prompt_lengths
        if (
            lengths.shape != (prompt.shape[0],)
            or int(lengths.min()) < 1
            or int(lengths.max()) > prompt.shape[1]
        ):
            raise ValueError(f"prompt_lengths must be (B,) in [1, {prompt.shape[1]}]")


def _row_lengths(prompt: Tensor, prompt_lengths: Tensor | None) -> Tensor:
    """(B,) prompt lengths (all T0 without padding)."""
    if prompt_lengths is not None:
        return prompt_lengths.to(prompt.device)
    return torch.full((prompt.shape[0],), prompt.shape[1], device=prompt.device, dtype=torch.long)


def _prompt_state(
    model: Transformer,
    prompt: Tensor,
    prompt_lengths: Tensor | None,
    positions: PositionFn | None = None,
):
    """Positions (B, T0) and key validity (B, T0) (None without padding) of the prompt."""
    seps = model.config.level_separators()
    valid = None
    if prompt_lengths is not None:
        T0 = prompt.shape[1]
        pad = T0 - prompt_lengths.to(prompt.device)  # (B,)
        valid = torch.arange(T0, device=prompt.device)[None, :] >= pad[:, None]  # (B, T0)
    if positions is not None:
        return positions(prompt, _row_lengths(prompt, prompt_lengths)), valid
    if prompt_lengths is None:
        return default_positions(prompt, seps), None
    return left_padded_positions(prompt, prompt_lengths, seps), valid


def _decode_cached(model, prompt, n_new, prompt_lengths, pick, eos, positions=None) -> Tensor:
    B, T0 = prompt.shape
    seps = model.config.level_separators()
    pos, valid = _prompt_state(model, prompt, prompt_lengths, positions)
    tokens, lengths = prompt, _row_lengths(prompt, prompt_lengths)  # for ``positions``
    cache = KVCache.empty(
        model.config,
        B,
        T0 + n_new,
        len(pos.outer),
        prompt.device,
        model.compute_dtype(),
        model.encoding.key_state_width,
        like=pos,
    )
    cache.key_valid[:, :T0] = True if valid is None else valid
    cache.key_valid[:, T0:] = True
    key_valid = None if valid is None else cache.key_valid
    out, done = [], torch.zeros(B, dtype=torch.bool, device=prompt.device)
    logits = model.run(
        prompt,
        pos,
        cache=cache,
        start=0,
        key_valid=None if key_valid is None else key_valid[:, :T0],
    )
    last_pos, last_token = pos.select(T0 - 1, T0), prompt[:, -1]
    for step in range(n_new):
        token = _finish(pick(logits[:, -1]), done, eos)  # (B,)
        out.append(token)
        if step == n_new - 1 or (eos is not None and bool(done.all())):
            break
        S = T0 + step + 1
        if positions is None:
            last_pos = next_positions(last_pos, last_token, seps)  # (B, 1) per stream, of token
        else:
            tokens = torch.cat([tokens, token[:, None]], dim=1)  # (B, S)
            last_pos = positions(tokens, lengths + step + 1).select(S - 1, S)  # (B, 1)
        last_token = token
        logits = model.run(
            token[:, None],
            last_pos,
            cache=cache,
            start=T0 + step,
            key_valid=None if key_valid is None else key_valid[:, :S],
        )
    return _pad_out(out, B, n_new, eos, prompt)


def _decode_recompute(model, prompt, n_new, prompt_lengths, pick, eos, positions=None) -> Tensor:
    B, T0 = prompt.shape
    seps = model.config.level_separators()
    pos, valid = _prompt_state(model, prompt, prompt_lengths, positions)
    lengths = _row_lengths(prompt, prompt_lengths)  # (B,)
    tokens, out = prompt, []
    done = torch.zeros(B, dtype=torch.bool, device=prompt.device)
    for _ in range(n_new):
        logits = model.run(tokens, pos, key_valid=valid)
        token = _finish(pick(logits[:, -1]), done, eos)  # (B,)
        out.append(token)
        if eos is not None and bool(done.all()):
            break
        tokens = torch.cat([tokens, token[:, None]], dim=1)  # (B, S + 1)
        lengths = lengths + 1
        if valid is not None:
            valid = torch.cat([valid, torch.ones_like(valid[:, :1])], dim=1)  # (B, S + 1)
        if positions is not None:
            pos = positions(tokens, lengths)
        elif valid is None:
            pos = default_positions(tokens, seps)
        else:
            pos = left_padded_positions(tokens, lengths, seps)
    return _pad_out(out, B, n_new, eos, prompt)


def _finish(token: Tensor, done: Tensor, eos: int | None) -> Tensor:
    """Rows already done emit eos; rows emitting eos become done (``done`` updated in place)."""
    if eos is None:
        return token
    token = torch.where(done, torch.full_like(token, eos), token)
    done |= token == eos
    return token


def _pad_out(out: list[Tensor], B: int, n_new: int, eos: int | None, prompt: Tensor) -> Tensor:
    """(B, N): the produced tokens, padded with eos after an early stop."""
    new = torch.stack(out, dim=1) if out else prompt.new_zeros(B, 0)  # (B, n)
    if new.shape[1] < n_new:
        fill = new.new_full((B, n_new - new.shape[1]), eos if eos is not None else 0)
        new = torch.cat([new, fill], dim=1)  # (B, N)
    return new
