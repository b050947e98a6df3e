"""Exact parameter accounting of a :class:`bipe.models.ModelConfig`, symbolic and numeric.

Per component, as sympy expressions in the config's symbols and as numbers equal to
``sum(p.numel() for p in Transformer(config).parameters())`` (tested against real models):

==================  =========================================================
token_embedding     ``V*D``
positional          per encoding (:data:`POSITIONAL`): ``R*D`` for a learned table of
                    R rows (``learned``: R = max_len; BiPE intra: R = max_intra),
                    ``N_b*H`` for T5 buckets, ``F_h*(H+2) + H + 2`` for FIRE,
                    ``L*(D/H)*P`` for CoPE's tables (``cope``, ``bipe_cope``),
                    ``L*H*(D+1)`` for fox's forget gates; 0 otherwise
attention           ``L*4*D**2`` (fused qkv ``D x 3D`` and output ``D x D``, no biases)
mlp                 ``L*3*D*F`` (SwiGLU: gate, up ``D x F`` and down ``F x D``)
norms               ``(2*L + 1)*D`` (two RMSNorm weights per block and a final one)
head                ``V*D``, or 0 with tied embeddings
==================  =========================================================

with V vocabulary, D ``d_model``, L ``n_layers``, H ``n_heads``, F the SwiGLU width
(``d_ff``, default ``4*D``). :func:`fit_width` solves for the largest width whose count fits a
budget.

Worked example::

    >>> from bipe.models.config import ModelConfig
    >>> cfg = ModelConfig(32, 64, 2, 4, pe="bipe_rope", separators=(9,), max_intra=16)
    >>> counts = parameter_counts(cfg)
    >>> counts["positional"], counts["attention"], counts["total"]
    (1024, 32768, 136512)
    >>> str(component_formulas(cfg)["mlp"])
    '12*D**2*L'
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import sympy as sp

from bipe.models.config import ModelConfig

V, D, L, H, F = sp.symbols("V D L H F", positive=True, integer=True)
R_POS, R_INTRA, N_B, F_H, P_COPE = sp.symbols("R_pos R_intra N_b F_h P", positive=True,
                                              integer=True)
COMPONENTS = ("token_embedding", "positional", "attention", "mlp", "norms", "head")
SYMBOL_MEANING = {
    V: "vocab_size", D: "d_model", L: "n_layers", H: "n_heads", F: "SwiGLU width (d_ff)",
    R_POS: "max_len", R_INTRA: "max_intra", N_B: "t5_n_buckets", F_H: "fire_d_hidden",
    P_COPE: "cope_max_pos",
}

# Relative encodings' own parameters (rope, alibi, xpos: none; t5: a table; fire: an MLP).
RELATIVE: dict[str, sp.Expr] = {
    "rope": sp.Integer(0),
    "alibi": sp.Integer(0),
    "xpos": sp.Integer(0),
    "t5": N_B * H,
    "fire": F_H + F_H + F_H * H + H + 2,  # Linear(1,F_h)+bias, Linear(F_h,H)+bias, c, L
    "cope": L * (D / H) * P_COPE,  # one (K, P) table per layer
}
# Absolute encodings of the intra stream (BiPE family).
INTRA: dict[str, sp.Expr] = {"learned": R_INTRA * D, "sinusoidal": sp.Integer(0)}

# pe registry name -> positional parameters of that encoding (mirrors bipe.models.ENCODINGS).
POSITIONAL: dict[str, Callable[[ModelConfig], sp.Expr]] = {
    "nope": lambda cfg: sp.Integer(0),
    "sinusoidal": lambda cfg: sp.Integer(0),
    "learned": lambda cfg: R_POS * D,
    "rope": lambda cfg: RELATIVE["rope"],
    "alibi": lambda cfg: RELATIVE["alibi"],
    "xpos": lambda cfg: RELATIVE["xpos"],
    "randomized_rope": lambda cfg: sp.Integer(0),
    "t5": lambda cfg: RELATIVE["t5"],
    "fire": lambda cfg: RELATIVE["fire"],
    "bipe_rope": lambda cfg: INTRA["learned"] + RELATIVE["rope"],
    "bipe_alibi": lambda cfg: INTRA["learned"] + RELATIVE["alibi"],
    "bipe": lambda cfg: INTRA[cfg.bipe_intra] + RELATIVE[cfg.bipe_inter],
    "hbipe": lambda cfg: INTRA[cfg.bipe_intra] + RELATIVE[cfg.bipe_inter],
    "bipe_cope": lambda cfg: INTRA["learned"] + RELATIVE["cope"],
    "cope": lambda cfg: RELATIVE["cope"],
    "fox": lambda cfg: L * H * (D + 1),  # a Linear(D, H) with bias per layer
    "hirope": lambda cfg: sp.Integer(0),
    "resonance_rope": lambda cfg: sp.Integer(0),
    "p_rope": lambda cfg: sp.Integer(0),
}


def component_formulas(config: ModelConfig, *, symbolic_ff: bool = False) -> dict[str, sp.Expr]:
    """Parameter count per component (and ``total``) as sympy expressions.

    F is replaced by ``4*D`` when ``d_ff`` is None (the model's default), unless
    ``symbolic_ff``; every other symbol stays free (see :data:`SYMBOL_MEANING`).
    """
    if config.pe not in POSITIONAL:
        raise ValueError(f"no parameter formula for pe {config.pe!r}; known: "
                         f"{', '.join(POSITIONAL)}")
    ff = F if (symbolic_ff or config.d_ff is not None) else 4 * D
    out = {
        "token_embedding": V * D,
        "positional": POSITIONAL[config.pe](config),
        "attention": L * 4 * D**2,
        "mlp": sp.expand(L * 3 * D * ff),
        "norms": (2 * L + 1) * D,
        "head": sp.Integer(0) if config.tie_embeddings else V * D,
    }
    out["total"] = sp.expand(sum(out.values(), sp.Integer(0)))
    return out


def symbol_values(config: ModelConfig) -> dict[sp.Symbol, int]:
    """The config's value of every symbol."""
    return {V: config.vocab_size, D: config.d_model, L: config.n_layers, H: config.n_heads,
            F: config.ff_width, R_POS: config.max_len, R_INTRA: config.max_intra,
            N_B: config.t5_n_buckets, F_H: config.fire_d_hidden, P_COPE: config.cope_max_pos}


def parameter_counts(config: ModelConfig) -> dict[str, int]:
    """Exact parameter count per component and ``total`` (integers)."""
    values = symbol_values(config)
    return {name: int(expr.subs(values)) for name, expr in component_formulas(config).items()}


def width_step(config: ModelConfig) -> int:
    """Widths must be multiples of this: ``2 * n_heads`` (head width even, for rotary pairs)."""
    return 2 * config.n_heads


def fit_width(config: ModelConfig, budget: int) -> ModelConfig:
    """``config`` with the largest ``d_model`` (a multiple of :func:`width_step`) whose total
    parameter count is at most ``budget``.

    The total is a quadratic in D; sympy solves it for the real root, which is then rounded
    down to the width grid (and checked exactly). A fixed ``d_ff`` stays fixed; the default
    ``d_ff=None`` scales as ``4*D``.
    """
    if budget <= 0:
        raise ValueError(f"parameter budget must be positive, got {budget}")
    step = width_step(config)
    values = {s: v for s, v in symbol_values(config).items() if s is not D}
    total = component_formulas(config)["total"].subs(values)
    roots = [r for r in sp.solve(sp.Eq(total, budget), D) if r.is_real and r > 0]
    guess = int(math.floor(float(max(roots)))) if roots else step
    width = max(step, guess - guess % step)

    def count(w: int) -> int:
        return int(total.subs(D, w))

    while width > step and count(width) > budget:
        width -= step
    while count(width + step) <= budget:
        width += step
    if count(width) > budget:
        smallest = parameter_counts(dataclasses.replace(config, d_model=step))["total"]
        raise ValueError(f"budget {budget} is below the smallest model's {smallest} parameters "
                         f"(d_model={step})")
    return dataclasses.replace(config, d_model=width)


def params_table(config: ModelConfig) -> str:
    """A plain-text table: component, formula, count, share of the total."""
    formulas = component_formulas(config)
    counts = parameter_counts(config)
    total = counts["total"]
    rows = [(name, str(formulas[name]), f"{counts[name]:,}",
             f"{100 * counts[name] / total:.1f}%") for name in (*COMPONENTS, "total")]
    widths = [max(len(r[i]) for r in rows + [("component", "formula", "count", "share")])
              for i in range(4)]
    def line(r):
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(r, widths, strict=True)))
    head = line(("component", "formula", "count", "share"))
    legend = ", ".join(f"{s}={SYMBOL_MEANING[s]}" for s in sorted(SYMBOL_MEANING, key=str)
                       if s in formulas["total"].free_symbols)
    return "\n".join([head, "-" * len(head), *map(line, rows[:-1]), "-" * len(head),
                      line(rows[-1]), "", f"symbols: {legend}"]) + "\n"
