"""Claim T4.2-rate: the shape of Thm 4.2's bound in ``eps``, ``tau_C`` and ``sigma``.

Each sweep varies one quantity and sets Clipped ASGD's ``(eta, c)`` by the reconstructed
theory rule (``theory.clipped_params`` with the config's ``K``). The bound the descent
argument gives for those parameters is ``B(x) = 1/(eta eps^2)`` (log factors included). The
claim "``T = O(B)``" is read one-sidedly on ``T/B`` along the grid (easiest point first),
with :func:`clipasgd.stats.growth_reading`: ``rho`` = max median ``T/B`` over the grid /
median at the easiest point (exact Bonferroni median intervals; censored runs ``+inf``) and
the upper end of the Tobit slope of ``log(T/B)`` on the log of the swept quantity (``1/eps``,
``tau_C``, ``sigma``). Supported iff ``rho_hi <= ratio_margin`` and ``slope_hi <= margin``;
refuted iff ``rho_lo > ratio_margin`` or ``slope_lo > margin``. A falling ``T/B`` (the bound
is loose) never refutes; a bump anywhere on the grid is caught by ``rho``.

Evidence (issue 9): every sweep runs with sub-Weibull noise, ``sigma > 0``, so the rule's ``c``
is of order ``sigma`` and ``T`` is random. ``eps`` at ``sigma = eps.sigma`` with ``eps.n``
workers; ``tau_c``: ``n`` equally fast workers (``tau_C = n``); ``sigma`` at fixed ``eps``,
into the noise-dominated regime.

Controls, each read by the same test:

* mechanism: Vanilla ASGD at the rule's step for the grid's *easiest* point, held fixed along
  the sweep. It breaks the step condition the swept term comes from (``eta <= eps^2/(K L R)``
  for ``eps`` and ``sigma``: a noise floor above ``eps``; ``eta <= 1/(K tau_C L)`` for
  ``tau_C``: stale unclipped gradients destabilise), so its ``T/B`` must grow;
* "``T`` does not grow at all" on the measured runs (``T`` itself, not ``T/B``);
* power check, reported only: a planted run whose step shrinks like ``1/x`` (one power
  faster than the clipped run): the bound is loose, so it need not exceed it.

Sanity checks (reported, not evidence): ``eps_det`` and ``tau_c_det`` at ``sigma = 0``, where
the rule sets ``c = eps`` and ``T ~ 1/(eta c eps)`` holds by construction (identical runs).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..experiment import run_experiment
from ..runner import replace_arms
from ..stats import growth_test
from ..theory import clipped_params, step_conditions
from .base import (
    WITHOUT_CLIPPING,
    Ablation,
    Arm,
    Claim,
    Control,
    Design,
    Run,
    Stage,
    Tables,
    Verdict,
    combine,
    control_outcome,
    engine,
    read_tables,
    smoothness,
)

SWEEPS = ("eps", "tau_c", "sigma")  # evidence
SANITY = ("eps_det", "tau_c_det")  # sigma = 0: hold by the rule's algebra
AMENDMENT = ("Issue 9, second redesign (session 16), fixed before the quick run. Old design "
             "(all sweeps n = 8, grids eps 0.4-0.14, tau_C 2-16, sigma 0.1-0.4, 5 runs; test: "
             "Tobit exponent of T <= the implied bound's largest local exponent + 0.25; "
             "controls 'T does not grow' and the planted 1/x step) read at quick scale on three "
             "seeds: inconclusive, control NOT refuted (eps exponent 2.07 vs bound 3.29 + "
             "0.25; the planted run's 3.03 stays under the loose bound: no power). New: the "
             "reading is on T/B (does T outgrow the bound's own shape anywhere on the grid), "
             "with rho and the slope, like tau_max; a mechanism control (vanilla at the "
             "easiest point's rule step, fixed: noise floor / stale-gradient instability); "
             "grids extended to where the rule's step conditions bind (eps to 0.1 at sigma = "
             "0.8 with one worker; tau_C to 64; sigma to 1.6 with two workers), located with "
             "probes of median T at seed 11 (notes in the closing note); 20 runs per point; "
             "the planted step kept as a reported power check. After the first smoke run (before "
             "any quick run) the eps sweep's horizon went from 4e5 to 1.2e6: its control read "
             "inconclusive because a run censored at 4e5 only shows T/B > 1.18 at eps = 0.1 "
             "(B = 338k), below 1.25x its value at eps = 0.4; tau_C and sigma controls were "
             "refuted, all clipped readings supported. Earlier amendments: the eps "
             "and tau_C sweeps ran at sigma = 0 (T ~ 1/(eta c eps) by construction) and now "
             "stay only as sanity checks; the sigma sweep first ran at eps = 0.4.")
NO_POWER = ("The planted 1/x step is a power check only: the implied bound is loose, so a run "
            "one power slower than the clipped one can stay under it (read, reported, not "
            "deciding).")


def _rule(cfg: dict, sweep: str, value: float) -> tuple[float, int, float, object]:
    """``(eps, n, sigma, params)`` at one grid point: the rule's ``(eta, c)`` there."""
    base, kind = cfg[sweep], sweep.removesuffix("_det")
    eps = value if kind == "eps" else base["eps"]
    n = int(value) if kind == "tau_c" else base.get("n", cfg["n"])
    sigma = value if kind == "sigma" else base["sigma"]
    p = clipped_params(eps, smoothness(cfg), sigma, n, theta=cfg["theta"], K=cfg["K"])
    return eps, n, sigma, p


def easiest(cfg: dict, sweep: str) -> float:
    """The grid point where ``T`` is smallest: the largest ``eps``, smallest ``tau_C``/``sigma``."""
    grid = cfg[sweep]["grid"]
    return max(grid) if sweep.startswith("eps") else min(grid)


def _spec(run: Run, sweep: str, value: float, seed: int) -> tuple[dict, float, float]:
    """The experiment at one grid point, and the swept quantity's value. Evidence sweeps run
    the clipped rule, the planted power check and the mechanism control; sanity sweeps only
    the clipped rule. Also returns the rule's ``c`` there."""
    cfg = run.cfg
    base, kind = cfg[sweep], sweep.removesuffix("_det")
    eps, n, sigma, p = _rule(cfg, sweep, value)
    noise = {"name": "subweibull", "theta": cfg["theta"], "sigma": sigma} if sigma > 0 \
        else {"name": "none"}
    x0 = easiest(cfg, sweep)
    slow = value / x0 if kind == "eps" else x0 / value  # in (0, 1]
    at = {"eta": p.eta, "c": p.c, "slow": slow, "eta_easiest": _rule(cfg, sweep, x0)[3].eta}
    algos = run.algorithms(at, None if sweep in SWEEPS else ("clipped",))
    spec = {"name": f"rate-{sweep}-{value}", "seed": seed, "replications": cfg["replications"],
            "horizon": base["horizon"], "problem": cfg["problem"], "noise": noise,
            "workers": {"n": n}, "scheduler": "algorithm1", "eps": [eps],
            "stop_when_hit": True, "algorithms": algos, "engine": engine(cfg)}
    return spec, value, p.c


def _check(cfg: dict) -> None:
    for sweep in SWEEPS + SANITY:
        if sweep != "sigma" and "sigma" not in cfg[sweep]:
            raise ValueError(f"rate_shape.{sweep}.sigma is required (the noise level of the "
                             "sweep; 0 only for the sanity sweeps)")


def _points(run: Run, _: Tables) -> list[dict]:
    return [{"key": f"{sweep}-{value}", "sweep": sweep, "value": value}
            for sweep in SWEEPS + SANITY for value in run.cfg[sweep]["grid"]]


def _run(run: Run, point: dict, seed: int) -> Tables:
    sweep = point["sweep"]
    spec, x, c = _spec(run, sweep, point["value"], seed)
    res = run_experiment(spec, run.progress)
    clipped = res.frame("reps")[["algorithm", "rep", "clip_fraction"]]
    hits = res.frame("hits").merge(clipped, on=["algorithm", "rep"], how="left")
    etas = {a["label"]: a["eta"] for a in spec["algorithms"]}
    return {"hits": hits.assign(sweep=sweep, x=x, eta=hits["algorithm"].map(etas), c=c,
                                horizon=spec["horizon"])}


ARMS = (
    Arm("clipped", "clipped_asgd", lambda at: {"eta": at["eta"], "c": at["c"]}),
    Arm("planted", "clipped_asgd", lambda at: {"eta": at["eta"] * at["slow"], "c": at["c"]},
        role="control"),
    Arm("vanilla_fixed", "asgd", lambda at: {"eta": at["eta_easiest"]}, role="control"),
)
DESIGN = Design(stages=(Stage("grid", _points, _run),), check=_check)
WITHOUT_RULE = Ablation(
    "step_rule", arms=lambda arms: replace_arms(arms, Arm(
        "clipped", "clipped_asgd", lambda at: {"eta": at["eta_easiest"], "c": at["c"]})),
    how="the rule's step held fixed at its value for the grid's easiest point (the radius "
        "still the rule's): Clipped ASGD without the step rule, same seeds and test")


def implied_bound(cfg: dict, sweep: str, value: float) -> float:
    """``B = 1 / (eta eps^2)`` for the rule's ``eta``: the oracle complexity the descent
    argument gives for these parameters, log factors (``q``) included."""
    eps, _, _, p = _rule(cfg, sweep, value)
    return 1.0 / (p.eta * eps**2)


def predicted_exponent(cfg: dict, sweep: str) -> float:
    """The implied bound's largest local exponent over the grid (shown in the figure):
    2 in ``1/eps`` and 1 in ``tau_C`` with deterministic gradients; larger where the noise
    terms and their log factors dominate."""
    grid = np.asarray(cfg[sweep]["grid"], dtype=float)
    x = 1 / grid if sweep.startswith("eps") else grid
    b = np.log([implied_bound(cfg, sweep, v) for v in grid])
    order = np.argsort(x)
    return float(np.max(np.diff(b[order]) / np.diff(np.log(x[order]))))


def _log_x(sweep: str, x: np.ndarray) -> np.ndarray:
    return np.log(1 / x) if sweep.startswith("eps") else np.log(x)


def sweep_reading(h: pd.DataFrame, sweep: str, cfg: dict, relative: bool = True) -> dict:
    """The one-sided reading of one algorithm's runs in one sweep: ``T/B`` (``relative``) or
    ``T`` along the grid, easiest point first (see the module docstring)."""
    bad = (h["censored"] | h["diverged"]).to_numpy()
    x = h["x"].to_numpy(float)
    grid = sorted(set(x), reverse=sweep.startswith("eps"))
    bound = {v: implied_bound(cfg, sweep, v) if relative else 1.0 for v in grid}  # once each
    scale = np.array([bound[v] for v in x])
    y = h["T"].to_numpy(float) / scale
    floors = h["horizon"].to_numpy(float) / scale  # a censored run exceeds this
    samples = [np.where(bad[x == v], np.inf, y[x == v]) for v in grid]
    g = growth_test(samples, grid, cfg["ratio_margin"], cfg["margin"], alpha=cfg["alpha"],
                    floors=[float(floors[x == v][0]) for v in grid],
                    regressor=_log_x(sweep, np.asarray(grid, float)))
    slope = {"slope": g.slope, "ci": g.slope_ci} | ({"reason": g.slope_note}
                                                      if g.slope_note else {})
    return {"verdict": g.verdict, "rho": g.ratio.estimate,
            "rho_ci": (g.ratio.ci.low, g.ratio.ci.high), "argmax": g.ratio.argmax, **slope,
            "n_censored": int(bad.sum()), "points": g.ratio.points,
            "medians": {f"{v:g}": float(np.median(t)) for v, t in zip(grid, samples,
                                                                     strict=True)}}


def fixed_step_conditions(cfg: dict, sweep: str) -> dict:
    """Which of the theorem's step conditions the control's fixed step breaks at the grid's
    hardest point (vanilla: no clipping, so only the conditions on ``eta``)."""
    hard = max(cfg[sweep]["grid"], key=lambda v: implied_bound(cfg, sweep, v))
    eps, n, sigma, p = _rule(cfg, sweep, hard)
    eta0 = _rule(cfg, sweep, easiest(cfg, sweep))[3].eta
    rows = step_conditions(eta0, p.c, eps, smoothness(cfg), sigma, n, theta=cfg["theta"],
                           K=cfg["K"])
    return {"fixed_eta": eta0, "hardest_point": hard,
            **{k: v for k, v in rows.items() if k.startswith("eta")}}


def verdict(cfg: dict, data: Path) -> Verdict:
    hits = read_tables(data, ("hits",))["hits"]
    details: dict = {"sanity": {}, "design_amendment": AMENDMENT, "power_check": NO_POWER}
    verdicts, controls = [], []
    for sweep in SWEEPS + SANITY:
        h = hits[hits["sweep"] == sweep]
        runs = {a: h[h["algorithm"] == a] for a in ("clipped", "vanilla_fixed", "planted")}
        claim = sweep_reading(runs["clipped"], sweep, cfg)
        entry = {**claim, "predicted_max_exponent": predicted_exponent(cfg, sweep),
                 "sigma": cfg[sweep].get("sigma")}
        if sweep in SANITY:  # sigma = 0: holds by the step rule's algebra
            details["sanity"][sweep] = entry | {"note": "sanity check, not evidence"}
            continue
        mech = sweep_reading(runs["vanilla_fixed"], sweep, cfg)
        grows = sweep_reading(runs["clipped"], sweep, cfg, relative=False)
        power = sweep_reading(runs["planted"], sweep, cfg)
        c = control_outcome([mech["verdict"], grows["verdict"]])
        v = claim["verdict"]
        if v == "supported" and c != "refuted":
            v = "inconclusive"  # no power in this sweep
        details[sweep] = entry | {
            "verdict": v, "control_verdict": c, "mechanism_control": mech,
            "no_growth_control": grows, "power_check_planted": power,
            "fixed_step": fixed_step_conditions(cfg, sweep)}
        verdicts.append(v)
        controls.append(c)
    ctrl = Control(description="Per sweep, both refuted by the same one-sided test: (1, "
                               "mechanism) Vanilla ASGD at the rule's step for the easiest grid "
                               "point, held fixed (breaks the step condition of the swept "
                               "term: noise floor, stale-gradient instability), its T/B must "
                               "grow; (2) 'T does not grow' on the measured clipped runs.",
                   verdict=control_outcome(controls))
    main = details["eps"]
    return Verdict(verdict=combine(verdicts), statistic=main["rho"], ci=main["rho_ci"],
                   margin=cfg["ratio_margin"], control=ctrl, details=details,
                   note="statistic/ci: the eps sweep's rho of T/B (max median over the grid / "
                        "median at eps = max); see details for every sweep.")


CLAIM = Claim(id="rate_shape", paper_ref="Theorem 4.2", reading=verdict, design=DESIGN,
              arms=ARMS, credits=("step_rule", "clipping"),
              ablations=(WITHOUT_CLIPPING, WITHOUT_RULE))
