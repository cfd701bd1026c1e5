"""Claim T4.3-tail: under heavy noise, unclipped ASGD's metric has a heavier tail than
Clipped ASGD's.

Uses the ``high_prob`` runs: Pareto(1.5) gradient noise (infinite variance, outside the
sub-Weibull assumption), Clipped and vanilla ASGD with the same constant ``eta`` on the
same straggler schedule and the same noise draws (common random numbers: positively
correlated samples make the independent-samples test below conservative).

Pre-registered test (:func:`tail_compare`): each sample is divided by its median, so only
the *shape* of the tail counts, not the speed of the algorithm; then
:func:`clipasgd.stats.two_sample_tail_test` at the pooled ``tail_q`` quantile (Fisher's exact
test on the exceedance counts, one-sided, AND non-overlapping exact quantile CIs). Primary
metric: ``S_T``, the average gradient norm at the horizon (never censored). Supported if
vanilla is heavier, refuted if clipped is heavier, inconclusive otherwise. ``T(eps_heavy)``
and the sub-Weibull settings are compared the same way and reported.

Negative control: two clipped heavy-noise runs that differ only in the seed. The same test,
in both directions, must not report a difference (control ``refuted`` = no difference
reported; the chance of a false report is at most ``2 alpha``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..stats import quantile_ci, tail_summary, two_sample_tail_test
from .base import Claim, Control, Verdict
from .high_prob import heavy_noise, load, metric, timing_summary


def tail_compare(a: np.ndarray, b: np.ndarray, q: float, alpha: float) -> dict:
    """Scale-free comparison: is the tail of ``a/median(a)`` heavier than ``b/median(b)``?

    ``+inf`` entries (censored runs) stay ``+inf``: they count as exceedances. Returns both
    one-sided decisions and the three-way reading for "a heavier than b".
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    ma, mb = np.median(a), np.median(b)
    if not (np.isfinite(ma) and np.isfinite(mb) and ma > 0 and mb > 0):
        return {"verdict": "inconclusive", "reason": "a median is censored or not positive"}
    na, nb = a / ma, b / mb  # censored runs stay +inf

    ab = two_sample_tail_test(na, nb, q=q, alpha=alpha)
    ba = two_sample_tail_test(nb, na, q=q, alpha=alpha)
    verdict = "supported" if ab.heavier else "refuted" if ba.heavier else "inconclusive"
    ratio = {k: quantile_ci(v, 0.99).estimate for k, v in (("a", na), ("b", nb))}
    return {"verdict": verdict, "a_heavier": ab.to_dict(), "b_heavier": ba.to_dict(),
            "median_a": float(ma), "median_b": float(mb),
            "q99_over_median": ratio}


def verdict(cfg: dict, data: Path) -> Verdict:
    tabs = load(data)
    q, alpha = cfg["tail_q"], cfg["alpha"]
    main = tail_compare(metric(tabs, "heavy", "vanilla", "S_T"),
                        metric(tabs, "heavy", "clipped", "S_T"), q, alpha)
    details: dict = {
        "noise": heavy_noise(cfg), "primary": {"metric": "S_T", **main},
        "secondary": {"metric": f"T(eps={cfg['eps_heavy']})",
                      **tail_compare(metric(tabs, "heavy", "vanilla", cfg["eps_heavy"]),
                                     metric(tabs, "heavy", "clipped", cfg["eps_heavy"]),
                                     q, alpha)},
        "tails_S_T": {alg: tail_summary(metric(tabs, "heavy", alg, "S_T"))
                      for alg in ("vanilla", "clipped")},
        "sub_weibull": {f"theta={t}": {"S_T": tail_compare(
            metric(tabs, f"theta{t}", "vanilla", "S_T"),
            metric(tabs, f"theta{t}", "clipped", "S_T"), q, alpha)["verdict"]}
            for t in cfg["thetas"]},
        "timing": timing_summary(tabs["timing"])}
    seed_a = metric(tabs, "heavy", "clipped", "S_T")
    seed_b = metric(tabs, "heavy-repeat", "clipped", "S_T")
    ctrl = tail_compare(seed_a, seed_b, q, alpha)
    different = ctrl["verdict"] != "inconclusive"
    details["control"] = ctrl
    test = main.get("a_heavier", {})
    rate_gap = test["rate_a"] - test["rate_b"] if test else None
    odds = "inf" if test and test["statistic"] is None else test.get("statistic")
    control = Control(
        description="Two Clipped ASGD runs of the heavy-noise setting that differ only in the "
                    "seed: the same test, in both directions, must not report a difference.",
        verdict="supported" if different else "refuted",
        statistic=(ctrl["a_heavier"]["rate_a"] - ctrl["a_heavier"]["rate_b"])
        if "a_heavier" in ctrl else None)
    return Verdict(verdict=main["verdict"], statistic=rate_gap, ci=None, margin=None,
                   control=control, details=details,
                   note=f"statistic: fraction of vanilla runs minus fraction of clipped runs above "
                        f"the pooled {q}-quantile of S_T/median (Fisher one-sided p = "
                        f"{test.get('pvalue')}, odds ratio {odds}).")


CLAIM = Claim(id="high_prob_tail", paper_ref="Theorem 4.3 (comparative)", reading=verdict,
              data_from="high_prob", credits=("clipping",),
              figures=("high_prob_tail", "high_prob_tail_drift"),
              clip_rows={"part": "heavy"})  # its Pareto runs, not its seed-B repeat
