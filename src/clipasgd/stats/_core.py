"""The interval type, the result mixin and input checks shared by the statistics modules."""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any, ClassVar, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..lazy import LazyModule
from ..provenance import to_jsonable

sps = LazyModule("scipy.stats")  # imported at first use


class Interval(NamedTuple):
    """A confidence (or prediction) interval ``[low, high]``; ends may be infinite."""

    low: float
    high: float


class _Result:
    """Mixin giving frozen result dataclasses a JSON-ready ``to_dict`` and read-only
    mapping access (``r["estimate"]``) for verdict code and details.

    ``_flat`` names the keys an :class:`Interval` field is written as (``{"ci": ("ci_low",
    "ci_high")}``): the verdict files keep the names they always had; an Interval field not
    listed is written as ``[low, high]``."""

    _flat: ClassVar[dict[str, tuple[str, str]]] = {}

    def __getitem__(self, key: str) -> Any:
        if key not in {f.name for f in fields(self)}:  # type: ignore[arg-type]
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)

    def to_dict(self) -> dict[str, Any]:
        """Fields as plain JSON values; ``inf``/``nan`` become ``None``."""
        out: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.name in self._flat:
                low, high = self._flat[f.name]
                out[low], out[high] = to_jsonable(value.low), to_jsonable(value.high)
            else:
                out[f.name] = to_jsonable(value)
        return out


def with_constant(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """The design matrix ``[1, x]`` of a straight-line fit."""
    return np.column_stack([np.ones_like(x), x])


def as_1d(a: ArrayLike, name: str) -> NDArray[np.float64]:
    """Finite 1-D float array or ValueError."""
    arr = np.asarray(a, dtype=float).ravel()
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


def censored_1d(a: ArrayLike, name: str) -> NDArray[np.float64]:
    """1-D float array whose entries are finite or ``+inf`` (a run censored at its budget,
    or diverged: its value lies beyond everything observed); NaN and ``-inf`` are errors."""
    arr = np.asarray(a, dtype=float).ravel()
    if np.any(np.isnan(arr)) or np.any(arr == -np.inf):
        raise ValueError(f"{name} must be finite or +inf (censored), got NaN or -inf")
    return arr


def sample_quantile(xs: NDArray[np.float64], q: float) -> float:
    """``numpy.quantile`` (linear) of sorted ``xs`` that may end in ``+inf``: ``inf`` when
    the interpolation touches a censored value, else exactly numpy's number."""
    n = xs.size
    if np.isfinite(xs[-1]):
        return float(np.quantile(xs, q))
    h = (n - 1) * q
    j = int(math.floor(h))
    if not np.isfinite(xs[j]) or (h > j and not np.isfinite(xs[min(j + 1, n - 1)])):
        return math.inf
    fin = xs[np.isfinite(xs)]
    return float(np.quantile(np.where(np.isfinite(xs), xs, fin.max()), q))


def check_level(level: float) -> None:
    """ValueError unless ``0 < level < 1``."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")


def ref_quantile(p: float, df: float) -> float:
    """Quantile of the t(df) reference, normal when df is infinite."""
    return float(sps.norm.ppf(p) if math.isinf(df) else sps.t.ppf(p, df))
