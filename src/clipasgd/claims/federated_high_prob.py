"""Claim T5.2: high-probability convergence under Algorithm 2 with heterogeneity (Thm 5.2).

Theorem 5.2 is Theorem 4.3 with ``sigma`` replaced by ``sigma + zeta``: the failure
probability at a given ``eps`` depends on the sum, not on how it splits. The test compares
a heterogeneous problem (noise ``sigma``, worker optima ``+-zeta``) with a homogeneous one
at the same ``sigma + zeta`` (all noise): ``P(S_T > eps)`` of Clipped ASGD under Algorithm
2 must not exceed the homogeneous one by more than a margin (one-sided, Newcombe interval).

Negative control by mechanism: Algorithm 1 on the heterogeneous problem (biased fixed
point: it fails almost surely), held to the same test. Reported, not decisive: clipped vs
vanilla ASGD failure probabilities, the scale-free tail comparison (``S_T`` over its median,
exceedance test at a high quantile) and ``(1 - delta)``-quantiles of ``S_T``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..stats import proportion_difference, two_sample_tail_test
from ._federated import (
    WITHOUT_ALGORITHM2,
    noise,
    opposed_offsets,
    quadratic,
    run,
    scheduler,
    schedules,
    two_groups,
)
from .base import (
    WITHOUT_CLIPPING,
    Arm,
    Claim,
    Control,
    Design,
    Run,
    Stage,
    Tables,
    Verdict,
    engine,
    named_seed,
    read_tables,
    upper_bound_verdict,
)

AMENDMENT = ("Departures from issue 10's pre-registered design, part 2: the difference of failure "
             "probabilities uses Newcombe's score interval (the DESIGN's pilot used Wald); "
             'schedules are shared by both cases (common random numbers). Margin, eps, eta, c and '
             "sizes as designed. Issue 19, item 6: 'noise of the same size' stays matched in sigma"
             " + zeta as a scale of the same law (the theorem's quantity, the verdict's "
             'convention); a homogeneous case matched in second moment (sigma 0.51 at theta 2, '
             'against 1.0) is run beside and its reading reported under details.conventions. A '
             'review found that matching second moments flips the reading to refuted (+0.141 '
             '[0.123, 0.160]).')


def _runs(run_: Run, case: str) -> list[tuple[str, str, object]]:
    """(algorithm label, scheduler slot, algorithm) triples run for ``case`` (a slot's
    runs use :func:`scheduler`: Algorithm 1 in the ablation of Algorithm 2)."""
    cfg = run_.cfg
    at = {"eta": cfg["eta"], "c": cfg["c"]}
    out = [("clipped", "algorithm2", run_.build("clipped", at)),
           ("vanilla", "algorithm2", run_.build("vanilla", at))]
    if cases(cfg)[case]["zeta"] > 0:
        out.append(("clipped", "algorithm1", out[0][2]))
    return out


M2 = "homog_m2"


def cases(cfg: dict) -> dict[str, dict]:
    """The configured cases and, with ``second_moment``, the homogeneous case matched to
    the heterogeneous one in second moment rather than in ``sigma + zeta``: the noise law
    ``sigma E^theta u`` has ``E||xi||^2 = Gamma(1 + 2 theta) sigma^2`` and the worker
    offsets add ``zeta^2``, so ``sigma_m2 = sqrt(sigma_h^2 + zeta^2 / Gamma(1 + 2 theta))``
    (issue 19, item 6: both conventions reported; the theorem's is the verdict's)."""
    out = dict(cfg["cases"])
    if cfg.get("second_moment"):
        het = next(v for v in out.values() if v["zeta"] > 0)
        g = math.gamma(1 + 2 * cfg["noise"]["theta"])
        out[M2] = {"sigma": math.sqrt(het["sigma"] ** 2 + het["zeta"] ** 2 / g), "zeta": 0.0}
    return out


def _run(run_: Run, point: dict, seed: int) -> Tables:
    """One case: final ``S_T`` of every run (table ``final``). Both cases share schedules."""
    cfg = run_.cfg
    times = two_groups(cfg["workers"])
    R, T = cfg["replications"], cfg["horizon"]
    case = cases(cfg)[point["case"]]
    prob = quadratic(opposed_offsets(times, case["zeta"]))
    law = noise(case["sigma"], **cfg["noise"])
    frames = []
    for label, kind, algo in _runs(run_, point["case"]):
        ran = scheduler(cfg, kind)
        sc = schedules(ran, times, T, named_seed(cfg["seed"], "schedules", ran), R)
        res = run(prob, law, algo, sc, T, np.random.SeedSequence(seed), engine=engine(cfg))
        S = np.where(res.diverged_at >= 0, np.inf, res.metrics["avg"][-1])
        frames.append(pd.DataFrame({"case": point["case"], "algorithm": label,
                                    "scheduler": kind, "rep": np.arange(R), "S_T": S,
                                    "clip_fraction": res.clip_fraction}))
    return {"final": pd.concat(frames, ignore_index=True)}


ARMS = (Arm("clipped", "clipped_asgd", lambda at: {"eta": at["eta"], "c": at["c"]}),
        Arm("vanilla", "asgd", lambda at: {"eta": at["eta"]}, role="reference"))
DESIGN = Design(stages=(Stage("cases", lambda run_, _: [{"key": f"case-{c}", "case": c}
                                                        for c in cases(run_.cfg)], _run),))


def _fails(frame: pd.DataFrame, case: str, algorithm: str, scheduler: str, eps: float
           ) -> tuple[int, int]:
    s = frame.query("case == @case and algorithm == @algorithm and scheduler == @scheduler")
    return int((s["S_T"] > eps).sum()), int(len(s))


def _series(frame: pd.DataFrame, case: str, algorithm: str) -> np.ndarray:
    s = frame.query("case == @case and algorithm == @algorithm and scheduler == 'algorithm2'")
    return s["S_T"].to_numpy(float)


def verdict(cfg: dict, data: Path) -> Verdict:
    f = read_tables(data, ("final",))["final"]
    eps, margin, level = cfg["eps"], cfg["margin"], 1 - 2 * cfg["alpha"]
    het, hom = (next(c for c, v in cfg["cases"].items() if (v["zeta"] > 0) == z)
                for z in (True, False))
    main = proportion_difference(*_fails(f, het, "clipped", "algorithm2", eps),
                                 *_fails(f, hom, "clipped", "algorithm2", eps), level)
    ctrl = proportion_difference(*_fails(f, het, "clipped", "algorithm1", eps),
                                 *_fails(f, hom, "clipped", "algorithm2", eps), level)
    v = upper_bound_verdict((main.ci.low, main.ci.high), 0.0, margin)
    c = upper_bound_verdict((ctrl.ci.low, ctrl.ci.high), 0.0, margin)
    details: dict = {"main": main.to_dict(), "control": ctrl.to_dict(),
                     "conventions": {"theorem (sigma + zeta as a scale of one law)": {
                         "homogeneous sigma": cfg["cases"][hom]["sigma"], "reading": v,
                         "difference": main.difference, "ci": main.ci}}}
    if M2 in set(f["case"]):
        m2 = proportion_difference(*_fails(f, het, "clipped", "algorithm2", eps),
                                   *_fails(f, M2, "clipped", "algorithm2", eps), level)
        details["conventions"]["second moment matched (reported)"] = {
            "homogeneous sigma": cases(cfg)[M2]["sigma"],
            "reading": upper_bound_verdict((m2.ci.low, m2.ci.high), 0.0, margin),
            "difference": m2.difference, "ci": m2.ci}
    for case in (het, hom):
        k_c, n = _fails(f, case, "clipped", "algorithm2", eps)
        k_v, _ = _fails(f, case, "vanilla", "algorithm2", eps)
        clip, van = _series(f, case, "clipped"), _series(f, case, "vanilla")
        tail = two_sample_tail_test(van / np.median(van), clip / np.median(clip),
                                    q=cfg["tail_q"], alpha=cfg["alpha"])
        details[f"{case}: clipped vs vanilla"] = {
            "P_fail_clipped": k_c / n, "P_fail_vanilla": k_v / n,
            "vanilla_tail_heavier_scale_free": tail.heavier, "tail_pvalue": tail.pvalue,
            "q_over_median_clipped": tail.quantile_b, "q_over_median_vanilla": tail.quantile_a,
            **{f"q{1 - d:g}_clipped": float(np.quantile(clip, 1 - d)) for d in cfg["deltas"]}}
    details["design_amendment"] = AMENDMENT
    control = Control(
        description="Algorithm 1 (the finisher gets the next job) on the heterogeneous "
                    "problem: its fixed point is biased by the workers' speeds, so its failure "
                    "probability exceeds the homogeneous one; the same one-sided test must "
                    "refute 'no more than margin above'.",
        verdict=c, statistic=ctrl.difference, ci=(ctrl.ci.low, ctrl.ci.high))
    note = ("statistic: P(S_T > eps) heterogeneous minus homogeneous (matched sigma + zeta), "
            "Clipped ASGD, Algorithm 2.")
    other = details["conventions"].get("second moment matched (reported)")
    if other is not None:  # the page says what the verdict rests on, not only the details
        note += (f" With the homogeneous noise matched in second moment instead (sigma "
                 f"{other['homogeneous sigma']:.3g}) the same test reads {other['reading']} "
                 f"({other['difference']:+.3g} [{other['ci'].low:.3g}, "
                 f"{other['ci'].high:.3g}]): the verdict rests on the theorem's convention.")
    return Verdict(verdict=v, statistic=main.difference, ci=(main.ci.low, main.ci.high),
                   margin=margin, control=control, details=details, note=note)


CLAIM = Claim(id="federated_high_prob", paper_ref="Theorem 5.2", reading=verdict,
              design=DESIGN, arms=ARMS, credits=("clipping", "algorithm2"),
              ablations=(WITHOUT_CLIPPING, WITHOUT_ALGORITHM2))
