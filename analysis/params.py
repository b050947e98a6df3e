"""Exact parameter accounting of a :class:`bipe.models.ModelConfig`, symbolic and numeric.

Per component, as sympy expressions in the config's symbols and as numbers equal to
``sum(p.numel() for p in Transformer(config).parameters())`` (tested against real models):

==================  =========================================================
token_embedding     ``V*D``
positional          per encoding, from the registry (each
                    :class:`~bipe.models.registry.EncodingEntry`'s ``n_params``, evaluated on
                    :class:`SymbolicConfig`; :data:`POSITIONAL`): ``R*D`` for a learned table of
                    R rows (``learned``: R = max_len; BiPE intra: R = max_intra),
                    ``N_b*H`` for T5 buckets, ``F_h*(H+2) + H + 2`` for FIRE,
                    ``L*(D/H)*P`` for CoPE's tables (``cope``, ``bipe_cope``),
                    ``L*H*(D+1)`` for fox's forget gates, ``L*D`` (L H K) for PoPE's phase
                    biases (``pope``, ``bipe_pope``), ``L*(2*D*R_w + 3*D + H*(D+1))`` for
                    PaTH's projections (``path``, ``bipe_path``); 0 otherwise
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

from bipe.models.config import BIPE_INTER, BIPE_INTRA, ModelConfig
from bipe.models.registry import REGISTRY, intra_params, parameter_count, relative_params

V, D, L, H, F = sp.symbols("V D L H F", positive=True, integer=True)
R_POS, R_INTRA, N_B, F_H, P_COPE, R_W = sp.symbols(
    "R_pos R_intra N_b F_h P R_w", positive=True, integer=True
)
COMPONENTS = ("token_embedding", "positional", "attention", "mlp", "norms", "head")
# ModelConfig size -> its symbol (``d_head`` is D/H).
FIELD_SYMBOLS: dict[str, sp.Symbol] = {
    "vocab_size": V,
    "d_model": D,
    "n_layers": L,
    "n_heads": H,
    "ff_width": F,
    "max_len": R_POS,
    "max_intra": R_INTRA,
    "t5_n_buckets": N_B,
    "fire_d_hidden": F_H,
    "cope_max_pos": P_COPE,
    "path_w_rank": R_W,
}
# The positional parameters of a plug-in encoding that gives no formula (n_params None).
P_UNKNOWN = sp.Symbol("P_unknown", nonnegative=True, integer=True)
SYMBOL_MEANING = {
    **{s: name for name, s in FIELD_SYMBOLS.items()},
    F: "SwiGLU width (d_ff)",
    P_UNKNOWN: "the encoding's parameters (unknown: its entry gives no formula)",
}


class SymbolicConfig:
    """A :class:`ModelConfig` seen with every size of :data:`FIELD_SYMBOLS` as its symbol
    (``d_head`` = D/H); every other attribute (``pe``, ``bipe_intra``, ...) is the config's.
    The registry's parameter formulas run on it unchanged (``config`` None: sizes only)."""

    def __init__(self, config: ModelConfig | None = None) -> None:
        self._config = config

    def __getattr__(self, name: str):
        if name in FIELD_SYMBOLS:
            return FIELD_SYMBOLS[name]
        if name == "d_head":
            return D / H
        if self._config is None:
            raise AttributeError(f"no symbol for {name!r} and no config to read it from")
        return getattr(self._config, name)


def _symbolic(count) -> sp.Expr:
    return sp.sympify(count)


# Relative (``bipe_inter``) and intra (``bipe_intra``) parts of the BiPE family, from the registry.
RELATIVE: dict[str, sp.Expr] = {
    k: _symbolic(relative_params(SymbolicConfig(), k)) for k in BIPE_INTER
}
INTRA: dict[str, sp.Expr] = {k: _symbolic(intra_params(SymbolicConfig(), k)) for k in BIPE_INTRA}

# pe registry name -> positional parameters of that encoding (each REGISTRY entry's n_params).
POSITIONAL: dict[str, Callable[[ModelConfig], sp.Expr]] = {
    name: (lambda cfg, entry=entry: _symbolic(entry.n_params(SymbolicConfig(cfg))))
    for name, entry in REGISTRY.items()
}


def component_formulas(config: ModelConfig, *, symbolic_ff: bool = False) -> dict[str, sp.Expr]:
    """Parameter count per component (and ``total``) as sympy expressions.

    F is replaced by ``4*D`` when ``d_ff`` is None (the model's default), unless
    ``symbolic_ff``; every other symbol stays free (see :data:`SYMBOL_MEANING`).
    """
    ff = F if (symbolic_ff or config.d_ff is not None) else 4 * D
    out = {
        "token_embedding": V * D,
        "positional": _positional(config),
        "attention": L * 4 * D**2,
        "mlp": sp.expand(L * 3 * D * ff),
        "norms": (2 * L + 1) * D,
        "head": sp.Integer(0) if config.tie_embeddings else V * D,
    }
    out["total"] = sp.expand(sum(out.values(), sp.Integer(0)))
    return out


def _positional(config: ModelConfig) -> sp.Expr:
    count = parameter_count(SymbolicConfig(config))
    return P_UNKNOWN if count is None else _symbolic(count)


def symbol_values(config: ModelConfig) -> dict[sp.Symbol, int]:
    """The config's value of every symbol."""
    return {s: getattr(config, name) for name, s in FIELD_SYMBOLS.items()}


def parameter_counts(config: ModelConfig) -> dict[str, int]:
    """Exact parameter count per component and ``total`` (integers); ``positional`` and
    ``total`` are None when the encoding's entry gives no formula (``P_unknown``)."""
    values = symbol_values(config)
    counts = {name: expr.subs(values) for name, expr in component_formulas(config).items()}
    return {name: None if c.free_symbols else int(c) for name, c in counts.items()}


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
    values[P_UNKNOWN] = 0  # an encoding without a formula counts as none (the table says so)
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
        raise ValueError(
            f"budget {budget} is below the smallest model's {smallest} parameters (d_model={step})"
        )
    return dataclasses.replace(config, d_model=width)


def params_table(config: ModelConfig) -> str:
    """A plain-text table: component, formula, count, share of the total."""
    formulas = component_formulas(config)
    counts = parameter_counts(config)
    known = {name: c for name, c in counts.items() if c is not None and name != "total"}
    total = counts["total"] if counts["total"] is not None else sum(known.values())
    rows = [
        (name, str(formulas[name]), f"{counts[name]:,}", f"{100 * counts[name] / total:.1f}%")
        if counts[name] is not None
        else (name, str(formulas[name]), "unknown", "")
        for name in COMPONENTS
    ]
    rows.append(
        ("total", str(formulas["total"]), f"{total:,}", "100.0%")
        if counts["total"] is not None
        else ("total", "(without the unknown)", f"{total:,} + unknown", "")
    )
    widths = [
        max(len(r[i]) for r in rows + [("component", "formula", "count", "share")])
        for i in range(4)
    ]

    def line(r):
        return "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )

    head = line(("component", "formula", "count", "share"))
    legend = ", ".join(
        f"{s}={SYMBOL_MEANING[s]}"
        for s in sorted(SYMBOL_MEANING, key=str)
        if s in formulas["total"].free_symbols
    )
    return (
        "\n".join(
            [
                head,
                "-" * len(head),
                *map(line, rows[:-1]),
                "-" * len(head),
                line(rows[-1]),
                "",
                f"symbols: {legend}",
            ]
        )
        + "\n"
    )
