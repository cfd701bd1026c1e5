"""Parameter rules and rate shapes from the theory (the paper's Theorems 4.2-5.2, as reconstructed).

The constants hidden in the O-notation are explicit arguments (``K``), never
tuned silently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["vanilla_step", "ClippedParams", "clipped_params", "step_conditions"]


def _positive(**values: float) -> None:
    for name, v in values.items():
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be positive and finite, got {v}")


def vanilla_step(L: float, tau_max: int, K: float = 1.0) -> float:
    """Constant step ``1 / (K L tau_max)`` of classical ASGD analyses (Stich & Karimireddy)."""
    _positive(L=L, K=K)
    return 1.0 / (K * L * max(int(tau_max), 1))


@dataclass(frozen=True)
class ClippedParams:
    eta: float
    c: float
    q: float
    W: float
    R: float


def clipped_params(eps: float, L: float, sigma: float, tau_c: int, theta: float = 0.5,
                   zeta: float = 0.0, K: float = 8.0, K_theta: float = 1.0) -> ClippedParams:
    """The audit's reconstruction of Thm 4.2/5.1's ``(eta, c)``.

    ``W = K_theta sigma^2 + 2 zeta^2``, ``q = max(1, log(2 + K W / eps^2)^theta)``,
    ``c = eps + 2 zeta + 4 sigma q + sqrt(8 W)``, ``R = eps^2 + (sigma^2 + zeta^2) q^2``,
    ``eta = min(1/(K tau_C L), eps^2/(K L R), eps/(K c tau_C L))``.
    Neither depends on ``tau_max``; ``c`` does not shrink with ``eps``.
    """
    _positive(eps=eps, L=L, K=K, K_theta=K_theta, theta=theta)
    if sigma < 0 or zeta < 0 or tau_c < 1:
        raise ValueError("need sigma >= 0, zeta >= 0 and tau_c >= 1")
    W = K_theta * sigma**2 + 2 * zeta**2
    q = max(1.0, math.log(2 + K * W / eps**2) ** theta)
    c = eps + 2 * zeta + 4 * sigma * q + math.sqrt(8 * W)
    R = eps**2 + (sigma**2 + zeta**2) * q**2
    eta = min(1 / (K * tau_c * L), eps**2 / (K * L * R), eps / (K * c * tau_c * L))
    return ClippedParams(eta=eta, c=c, q=q, W=W, R=R)


def step_conditions(eta: float, c: float, eps: float, L: float, sigma: float, tau_c: int,
                    theta: float = 0.5, K: float = 1.0) -> dict[str, dict]:
    """Which of the theorem's conditions on ``(eta, c)`` a design meets at constant ``K``.

    For each of ``eta <= 1/(K tau_C L)``, ``eta <= eps^2/(K L R)``, ``eta <= eps/(K c tau_C L)``
    and the radius ``c >= eps + 4 sigma q + sqrt(8 W)`` (:func:`clipped_params`'s terms):
    ``bound`` (the right-hand side), ``value`` and ``holds``. Computed, so a verdict file can
    state which conditions a departure from the rule breaks.
    """
    p = clipped_params(eps, L, sigma, tau_c, theta=theta, K=K)
    c_min = p.c
    rows = {"eta <= 1/(K tau_C L)": (eta, 1 / (K * tau_c * L)),
            "eta <= eps^2/(K L R)": (eta, eps**2 / (K * L * p.R)),
            "eta <= eps/(K c tau_C L)": (eta, eps / (K * c * tau_c * L)),
            "c >= eps + 4 sigma q + sqrt(8 W)": (c, c_min)}
    out = {}
    for name, (value, bound) in rows.items():
        holds = value >= bound if name.startswith("c >=") else value <= bound
        out[name] = {"value": value, "bound": bound, "holds": bool(holds)}
    return out
