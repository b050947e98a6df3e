"""Length distributions: one spec-string grammar for the CLI and the configs.

A spec names a distribution over non-negative integers (segment counts, segment lengths,
operator counts)::

    fixed:K                 always K
    uniform:LO:HI           uniform on LO..HI (both inclusive)
    geometric:P[:LO[:HI]]   LO + Geometric(P) failures, truncated to HI if given (LO defaults to 1)
    poisson:LAM[:LO[:HI]]   Poisson(LAM) truncated to LO..HI (LO defaults to 0)
    zipf:S:HI               P(k) proportional to k^-S on 1..HI
    choice:K1,K2,...        uniform over the listed values (repeats weigh more)
    linear:LO:HI            P(k) proportional to k on LO..HI (the arithmetic reference's --under)

Truncation is exact: a truncated distribution is the conditional law on its bounds, sampled
by inverse transform on the bounded support (unbounded tails by rejection-free formulas), so
bounds hold for every draw.

>>> d = parse_length_spec("uniform:2:5")
>>> str(d), d.lo, d.hi
('uniform:2:5', 2, 5)
>>> d.sample(np.random.default_rng(0), 4).tolist()
[4, 3, 2, 2]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

GRAMMAR = (
    "fixed:K | uniform:LO:HI | geometric:P[:LO[:HI]] | poisson:LAM[:LO[:HI]] | zipf:S:HI | "
    "choice:K1,K2,... | linear:LO:HI"
)


def _fmt(x: float) -> str:
    """Shortest text that parses back to the same float."""
    return repr(float(x)).removesuffix(".0") if float(x).is_integer() else repr(float(x))


@dataclass(frozen=True, kw_only=True)
class LengthDist:
    """Base of all length distributions: bounds ``lo``..``hi`` (``hi`` None if unbounded)."""

    lo: int
    hi: int | None

    def support(self) -> tuple[np.ndarray, np.ndarray]:
        """``(values, probs)`` with positive probability; only for bounded distributions."""
        if self.hi is None:
            raise ValueError(f"{self} is unbounded: give an upper bound to list its support")
        values = np.arange(self.lo, self.hi + 1, dtype=np.int64)
        weights = self._weights(values)
        keep = weights > 0
        return values[keep], weights[keep] / weights[keep].sum()

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` independent draws, shape (n,), int64."""
        values, probs = self.support()
        return values[_inverse_cdf(rng, probs, n)]

    def _weights(self, values: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _check_bounds(self) -> None:
        if self.lo < 0:
            raise ValueError(f"lower bound {self.lo} is negative")
        if self.hi is not None and self.hi < self.lo:
            raise ValueError(f"upper bound {self.hi} < lower bound {self.lo}")


def _inverse_cdf(rng: np.random.Generator, probs: np.ndarray, n: int) -> np.ndarray:
    cdf = np.cumsum(probs)
    cdf[-1] = 1.0
    return np.searchsorted(cdf, rng.random(n), side="right").clip(0, len(probs) - 1)


@dataclass(frozen=True, kw_only=True)
class Fixed(LengthDist):
    """Always ``k``."""

    def __post_init__(self) -> None:
        self._check_bounds()

    def __str__(self) -> str:
        return f"fixed:{self.lo}"

    def _weights(self, values: np.ndarray) -> np.ndarray:
        return np.ones(len(values))


@dataclass(frozen=True, kw_only=True)
class Uniform(LengthDist):
    """Uniform on ``lo..hi`` inclusive."""

    def __post_init__(self) -> None:
        self._check_bounds()

    def __str__(self) -> str:
        return f"uniform:{self.lo}:{self.hi}"

    def _weights(self, values: np.ndarray) -> np.ndarray:
        return np.ones(len(values))


@dataclass(frozen=True, kw_only=True)
class Linear(LengthDist):
    """P(k) proportional to k on ``lo..hi``: the reference arithmetic generator's ``--under``."""

    def __post_init__(self) -> None:
        self._check_bounds()
        if self.hi == 0:
            raise ValueError("all weights are zero")

    def __str__(self) -> str:
        return f"linear:{self.lo}:{self.hi}"

    def _weights(self, values: np.ndarray) -> np.ndarray:
        return values.astype(np.float64)


@dataclass(frozen=True, kw_only=True)
class Zipf(LengthDist):
    """P(k) proportional to ``k ** -s`` on ``1..hi``."""

    s: float

    def __post_init__(self) -> None:
        self._check_bounds()
        if not 0 < self.s < math.inf:
            raise ValueError("exponent S must be a positive number")

    def __str__(self) -> str:
        return f"zipf:{_fmt(self.s)}:{self.hi}"

    def _weights(self, values: np.ndarray) -> np.ndarray:
        return values.astype(np.float64) ** -self.s


@dataclass(frozen=True, kw_only=True)
class Choice(LengthDist):
    """Uniform over the listed ``values`` (a value listed twice is twice as likely)."""

    values: tuple[int, ...]

    def __post_init__(self) -> None:
        self._check_bounds()
        if not self.values or min(self.values) != self.lo or max(self.values) != self.hi:
            raise ValueError(f"lo/hi must be the min/max of {self.values}")

    def __str__(self) -> str:
        return "choice:" + ",".join(str(v) for v in self.values)

    def _weights(self, values: np.ndarray) -> np.ndarray:
        return np.array([self.values.count(int(v)) for v in values], dtype=np.float64)


@dataclass(frozen=True, kw_only=True)
class Geometric(LengthDist):
    """``lo`` plus the number of failures before a success of probability ``p``; at most ``hi``."""

    p: float

    def __post_init__(self) -> None:
        self._check_bounds()
        if not 0 < self.p <= 1:
            raise ValueError("P must be in (0, 1]")

    def __str__(self) -> str:
        return f"geometric:{_fmt(self.p)}:{self.lo}" + ("" if self.hi is None else f":{self.hi}")

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.hi is not None:
            return super().sample(rng, n)
        return self.lo + rng.geometric(self.p, n).astype(np.int64) - 1

    def _weights(self, values: np.ndarray) -> np.ndarray:
        return (1 - self.p) ** (values - self.lo).astype(np.float64)


@dataclass(frozen=True, kw_only=True)
class Poisson(LengthDist):
    """Poisson(``lam``) conditioned on ``lo..hi``."""

    lam: float

    def __post_init__(self) -> None:
        self._check_bounds()
        if not 0 < self.lam < 1e6:
            raise ValueError("LAM must be in (0, 1e6)")

    def __str__(self) -> str:
        tail = "" if self.hi is None else f":{self.hi}"
        return f"poisson:{_fmt(self.lam)}:{self.lo}{tail}"

    def support(self) -> tuple[np.ndarray, np.ndarray]:
        if self.hi is not None:
            return super().support()
        # Unbounded: cut where the remaining tail mass is below double precision.
        hi = max(self.lo, int(self.lam + 40 * math.sqrt(self.lam) + 40))
        return Poisson(lo=self.lo, hi=hi, lam=self.lam).support()

    def _weights(self, values: np.ndarray) -> np.ndarray:
        v = values.astype(np.float64)
        logw = v * math.log(self.lam) - np.array([math.lgamma(x + 1) for x in v])
        return np.exp(logw - logw.max())


def _ints(spec: str, parts: list[str]) -> list[int]:
    try:
        return [int(p) for p in parts]
    except ValueError:
        raise ValueError(
            f"malformed length spec {spec!r}: expected integers; grammar: {GRAMMAR}"
        ) from None


def parse_length_spec(spec: str) -> LengthDist:
    """Parse ``spec`` (see the module docstring); a malformed spec is a ``ValueError``."""
    if isinstance(spec, LengthDist):
        return spec
    kind, _, rest = str(spec).strip().partition(":")
    args = rest.split(":") if rest else []
    bad = ValueError(f"malformed length spec {spec!r}; grammar: {GRAMMAR}")
    try:
        if kind == "fixed" and len(args) == 1:
            (k,) = _ints(spec, args)
            return Fixed(lo=k, hi=k)
        if kind in ("uniform", "linear") and len(args) == 2:
            lo, hi = _ints(spec, args)
            return (Uniform if kind == "uniform" else Linear)(lo=lo, hi=hi)
        if kind == "zipf" and len(args) == 2:
            return Zipf(s=float(args[0]), lo=1, hi=_ints(spec, args[1:])[0])
        if kind == "choice" and len(args) == 1:
            values = tuple(_ints(spec, args[0].split(",")))
            return Choice(values=values, lo=min(values), hi=max(values))
        if kind in ("geometric", "poisson") and 1 <= len(args) <= 3:
            bounds = _ints(spec, args[1:])
            lo = bounds[0] if bounds else (1 if kind == "geometric" else 0)
            hi = bounds[1] if len(bounds) == 2 else None  # type: ignore[assignment]
            if kind == "geometric":
                return Geometric(p=float(args[0]), lo=lo, hi=hi)
            return Poisson(lam=float(args[0]), lo=lo, hi=hi)
    except ValueError as err:
        if "grammar" in str(err):
            raise
        raise ValueError(f"malformed length spec {spec!r}: {err}; grammar: {GRAMMAR}") from None
    raise bad
