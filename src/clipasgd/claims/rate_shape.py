"""Claim T4.2-rate: the shape of Thm 4.2's bound in ``eps``, ``tau_C`` and ``sigma``.

Each sweep varies one quantity, sets Clipped ASGD's ``(eta, c)`` by the reconstructed
theory rule (``theory.clipped_params`` with the config's ``K``), and fits the local
exponent of ``T`` (Tobit on logs; censored runs at the budget). The bound is an
upper bound, so the pre-registered test is one-sided: the exponent is *at most*
the implied bound ``1/(eta eps^2)``'s largest local exponent plus a margin.

Evidence (issue 9): every sweep runs with sub-Weibull noise, ``sigma > 0``, so the rule's
``c`` is of order ``sigma`` (not ``eps``) and ``T`` is random:

* ``eps`` at ``sigma = eps.sigma``; ``tau_c``: ``n`` equally fast workers (``tau_C = n``) at
  ``sigma = tau_c.sigma``; ``sigma`` at fixed ``eps``, reaching the noise-dominated regime.

Sanity checks (reported, not evidence): ``eps_det`` and ``tau_c_det`` at ``sigma = 0``, where
the rule sets ``c = eps`` and ``T ~ 1/(eta c eps)`` holds by construction (identical runs).

Negative controls per sweep, both refuted by the same test: the planted false claim
"``T`` does not grow at all" (exponent at most 0), and a planted run whose step shrinks
like ``1/x`` over the grid (its ``T`` grows one power faster) held to the prediction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..experiment import run_experiment
from ..stats import censored_slope_fit
from ..theory import clipped_params
from .base import (
    ClaimInfo,
    Control,
    Progress,
    Verdict,
    combine,
    control_outcome,
    read_tables,
    run_grid,
    smoothness,
    upper_bound_verdict,
)

SWEEPS = ("eps", "tau_c", "sigma")  # evidence
SANITY = ("eps_det", "tau_c_det")  # sigma = 0: hold by the rule's algebra
AMENDMENT = ("Issue 9: the eps and tau_C sweeps ran at sigma = 0, where the rule sets c = "
             "eps and T ~ 1/(eta c eps) holds by construction (identical runs; old quick "
             "verdict supported, both controls refuted). They now run at sigma = 0.2 (c = "
             "1.6-1.8, of order sigma) as evidence; the sigma = 0 sweeps stay as sanity "
             "checks outside the verdict; quick grids end at tau_C = 16 and sigma = 0.4 (CPU: "
             "the planted runs at tau_C = 32, sigma = 0.8 cost 80k-320k steps). Earlier: "
             "Design amended once, after the first smoke/quick runs and recorded here: the "
             "sigma sweep first ran at eps = 0.4 with sigma <= eps and was held to the "
             "log-free rate shape; its control ('T does not grow') was not refuted there (no "
             "power: the tau_C/eps^2 term dominated). It now runs at eps = 0.2 with sigma up "
             "to 4 eps, and every sweep's prediction is the implied bound 1/(eta eps^2) with "
             "the rule's eta (log factors included). After review a second planted control "
             "was added (a run whose step shrinks like 1/x, one power faster than the "
             "clipped run), with budgets raised to fit it. Margins, levels and the test "
             "are unchanged.")


NO_POWER = ("Open finding (issue 9): the implied bound is loose (largest local exponent ~3.3 "
            "in 1/eps against a measured ~2.1), so the planted 1/x step (one power faster) "
            "stays under it and the sweep reads inconclusive. A mechanism control was probed "
            "and rejected: (eta, c) frozen at the easiest grid point's rule values is faster "
            "than the rule at every point (smoke, 3 runs: tau_C = 8 median T 1432 vs 5307; "
            "sigma = 0.4: 5687 vs 12141), because the rule's step is far below the noise "
            "floor's threshold. No design here makes T outgrow the bound, so no verdict "
            "beyond inconclusive is claimed.")


def _spec(cfg: dict, sweep: str, value: float, seed: int) -> tuple[dict, float]:
    """The experiment at one grid point, and the swept quantity's value."""
    base, kind = cfg[sweep], sweep.removesuffix("_det")
    eps = value if kind == "eps" else base["eps"]
    n = int(value) if kind == "tau_c" else base.get("n", cfg["n"])
    sigma = value if kind == "sigma" else base["sigma"]
    L = smoothness(cfg)
    p = clipped_params(eps, L, sigma, n, theta=cfg["theta"], K=cfg["K"])
    noise = {"name": "subweibull", "theta": cfg["theta"], "sigma": sigma} if sigma > 0 \
        else {"name": "none"}
    grid = np.asarray(base["grid"], dtype=float)
    easiest = grid.max() if kind == "eps" else grid.min()
    slow = value / easiest if kind == "eps" else easiest / value  # in (0, 1]
    spec = {"name": f"rate-{sweep}-{value}", "seed": seed, "replications": cfg["replications"],
            "horizon": base["horizon"], "problem": cfg["problem"], "noise": noise,
            "workers": {"n": n}, "scheduler": "algorithm1", "eps": [eps],
            "stop_when_hit": True,
            "algorithms": [{"name": "clipped_asgd", "label": "clipped", "eta": p.eta, "c": p.c},
                           {"name": "clipped_asgd", "label": "planted", "eta": p.eta * slow,
                            "c": p.c}]}
    return spec, value


def simulate(cfg: dict, out: Path, progress: Progress) -> None:
    for sweep in SWEEPS + SANITY:
        if sweep != "sigma" and "sigma" not in cfg[sweep]:
            raise ValueError(f"rate_shape.{sweep}.sigma is required (the noise level of the "
                             "sweep; 0 only for the sanity sweeps)")
    points = [{"key": f"{sweep}-{value}", "sweep": sweep, "value": value}
              for sweep in SWEEPS + SANITY for value in cfg[sweep]["grid"]]

    def run_point(point: dict, seed: int) -> dict[str, pd.DataFrame]:
        sweep = point["sweep"]
        spec, x = _spec(cfg, sweep, point["value"], seed)
        hits = run_experiment(spec, progress).frame("hits")
        etas = {a["label"]: a["eta"] for a in spec["algorithms"]}
        return {"hits": hits.assign(sweep=sweep, x=x, eta=hits["algorithm"].map(etas),
                                    c=spec["algorithms"][0]["c"], horizon=spec["horizon"])}

    settings = {k: v for k, v in cfg.items() if k != "scales"}
    run_grid(out, points, run_point, cfg["seed"], settings, progress)


def implied_bound(cfg: dict, sweep: str, value: float) -> float:
    """``1 / (eta eps^2)`` for the rule's ``eta``: the oracle complexity the descent
    argument gives for these parameters, log factors (``q``) included."""
    spec, _ = _spec(cfg, sweep, value, 0)
    eps = spec["eps"][0]
    return 1.0 / (spec["algorithms"][0]["eta"] * eps**2)


def predicted_exponent(cfg: dict, sweep: str) -> float:
    """The implied bound's largest local exponent over the grid (upper-bound reading):
    2 in ``1/eps`` and 1 in ``tau_C`` with deterministic gradients; about 2 (plus the
    log factor) in ``sigma`` where noise dominates."""
    grid = np.asarray(cfg[sweep]["grid"], dtype=float)
    x = 1 / grid if sweep.startswith("eps") else grid
    b = np.log([implied_bound(cfg, sweep, v) for v in grid])
    order = np.argsort(x)
    return float(np.max(np.diff(b[order]) / np.diff(np.log(x[order]))))


def sweep_fit(h: pd.DataFrame, sweep: str, level: float) -> dict:
    censored = (h["censored"] | h["diverged"]).to_numpy()
    x = h["x"].to_numpy(float)
    x = np.log(1 / x) if sweep.startswith("eps") else np.log(x)
    y = np.log(h["T"].to_numpy(float))
    if censored.all() or np.unique(x).size < 2:
        return {"slope": None, "ci": None, "n_censored": int(censored.sum())}
    try:
        fit = censored_slope_fit(x, y, censored, level=level)
    except (RuntimeError, ArithmeticError) as err:  # identical runs: no residual variance
        return {"slope": None, "ci": None, "n_censored": int(censored.sum()),
                "reason": str(err)}
    return {"slope": fit.slope, "ci": (fit.ci_low, fit.ci_high),
            "n_censored": int(censored.sum()), "n_runs": int(len(h))}


def verdict(cfg: dict, data: Path) -> Verdict:
    hits = read_tables(data, ("hits",))["hits"]
    if "algorithm" not in hits:
        hits = hits.assign(algorithm="clipped")
    margin, alpha = cfg["margin"], cfg["alpha"]
    details, verdicts, controls = {"sanity": {}}, [], []
    for sweep in SWEEPS + SANITY:
        h = hits[hits["sweep"] == sweep]
        fit = sweep_fit(h[h["algorithm"] == "clipped"], sweep, 1 - 2 * alpha)
        planted = sweep_fit(h[h["algorithm"] == "planted"], sweep, 1 - 2 * alpha)
        pred = predicted_exponent(cfg, sweep)
        v = upper_bound_verdict(fit["ci"], pred, margin)
        grows = upper_bound_verdict(fit["ci"], 0.0, margin)
        faster = upper_bound_verdict(planted["ci"], pred, margin)
        c = "refuted" if grows == faster == "refuted" else \
            ("supported" if "supported" in (grows, faster) else "inconclusive")
        if v == "supported" and c != "refuted":
            v = "inconclusive"  # no power in this sweep
        entry = {**fit, "predicted_max_exponent": pred, "verdict": v, "control_verdict": c,
                 "control_no_growth": grows, "control_planted_faster": faster,
                 "planted_fit": planted, "sigma": cfg[sweep].get("sigma")}
        if sweep in SANITY:  # sigma = 0: holds by the step rule's algebra
            details["sanity"][sweep] = entry | {"note": "sanity check, not evidence"}
            continue
        details[sweep] = entry
        verdicts.append(v)
        controls.append(c)
    ctrl = Control(description="Two planted false variants per sweep, each refuted by the same "
                               "one-sided test: 'T does not grow' (exponent <= 0) on the "
                               "measured runs, and 'exponent <= prediction' on a planted run "
                               "whose step shrinks like 1/x over the grid (one power faster).",
                   verdict=control_outcome(controls))
    main = details["eps"]
    details["design_amendment"] = AMENDMENT
    details["control_power"] = NO_POWER
    return Verdict(verdict=combine(verdicts), statistic=main["slope"], ci=main["ci"],
                   margin=margin, control=ctrl, details=details,
                   note="statistic/ci: the eps sweep's exponent of 1/eps; see details for the "
                        "others.")


CLAIM = ClaimInfo(
    id="rate_shape", paper_ref="Theorem 4.2",
    statement="T(eps) = O(sigma^2/eps^4 + sigma tau_C/eps^3 + tau_C/eps^2): no faster growth "
              "in 1/eps, tau_C or sigma than the bound's local exponent, with noise (sigma > "
              "0) in every sweep and (eta, c) from the rule.",
    test="Per sweep: Tobit slope of log T on the log of the swept quantity; supported if the "
         "upper end of the (1 - 2 alpha) CI is <= predicted + margin, refuted if the lower "
         "end is > predicted + margin, else inconclusive.",
    falsifier="A noisy sweep whose exponent interval lies above the implied bound's exponent "
              "plus the margin (T grows faster in 1/eps, tau_C or sigma than the bound allows). "
              "A sweep whose controls are not refuted cannot support. The sigma = 0 sweeps "
              "(eps_det, tau_c_det) hold by the rule's algebra: sanity checks, not evidence.",
    simulate=simulate, verdict=verdict)
