"""Claim F4-caption: Figure 4's mean time per oracle call (0.337 at D = 4, 0.668 at D = 8).

Sixteen workers at full concurrency, eight with mean compute time 1 and eight with mean
``D``, Algorithm 2; the paper averages 3 seeds and stops at time caps 8000 / 12000. The
compute-time model is not stated. Each candidate model is simulated with the paper's
sampling (statistic ``cap / N(cap)``, calls finished by the cap) and judged by the
prediction interval of a 3-seed mean (Bonferroni over models x values): compatible if both
caption values fall inside, refuted if either falls outside. Several models may fit; the
claim is only that at least one plausible model reproduces the caption, never which one.

Negative control: a model known not to produce the caption (deterministic times) must be
refuted by the same interval. Exact mean-value analysis (exponential times without shift:
a product-form network) is reported beside the simulation as a check of the simulator.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..compute_times import make_compute_times
from ..schedules import calls_within, mva_time_per_call, schedule_past
from ..stats import k_mean_interval
from .base import ClaimInfo, Control, Progress, Verdict, control_outcome, read_tables, run_grid


def model_times(cfg: dict, model: str, D: float):
    """The compute times of candidate ``model`` at delay factor ``D``."""
    return make_compute_times({**cfg["workers"], "D": D, **cfg["models"][model]})


def exact_value(cfg: dict, model: str, D: float) -> float | None:
    """MVA time per call where it is exact (exponential, no shift), else ``None``."""
    t = model_times(cfg, model, D)
    return mva_time_per_call(t.means, t.n) if t.law == "exponential" and \
        not np.any(t.shift) else None


def _check(cfg: dict) -> None:
    """Every model builds and every control is a model: errors name the key, before work."""
    for m in cfg["controls"]:
        if m not in cfg["models"]:
            raise ValueError(f"scheduler_caption: controls: {m!r} is not in models")
    for m in cfg["models"]:
        for s in cfg["settings"]:
            try:
                model_times(cfg, m, s["D"])
            except ValueError as err:
                raise ValueError(f"scheduler_caption: models: {m}: {err}") from None


def simulate(cfg: dict, out: Path, progress: Progress) -> None:
    """Per (model, D): ``replications`` single runs' ``cap / N(cap)`` (table ``runs``)."""
    _check(cfg)
    def run_point(point: dict, seed: int) -> dict[str, pd.DataFrame]:
        times = model_times(cfg, point["model"], point["D"])
        vals = [calls_within(schedule_past("algorithm2", times, point["cap"], ss),
                             point["cap"])[1]
                for ss in np.random.SeedSequence(seed).spawn(cfg["replications"])]
        return {"runs": pd.DataFrame({"model": point["model"], "D": point["D"],
                                      "cap": point["cap"], "rep": np.arange(len(vals)),
                                      "time_per_call": vals})}

    points = [{"key": f"{m}-D{s['D']}", "model": m, "D": s["D"], "cap": s["cap"]}
              for m in cfg["models"] for s in cfg["settings"]]
    run_grid(out, points, run_point, cfg["seed"], {k: v for k, v in cfg.items()
                                                   if k != "scales"}, progress)


def model_readings(cfg: dict, runs: pd.DataFrame) -> dict:
    """Per model: the 3-seed-mean interval at each D, compatible (caption inside at every
    D) or refuted (outside at some D)."""
    level = 1 - cfg["alpha"] / (len(cfg["models"]) * len(cfg["settings"]))  # Bonferroni
    out = {}
    for model in cfg["models"]:
        per_d, inside = {}, []
        for s in cfg["settings"]:
            x = runs.query("model == @model and D == @s['D']")["time_per_call"]
            iv = k_mean_interval(x, cfg["seeds_per_mean"], level, cfg["rounding"])
            ok = iv.ci.low <= s["caption"] <= iv.ci.high
            inside.append(ok)
            per_d[f"D={s['D']:g}"] = {"mean": iv.mean, "interval": (iv.ci.low, iv.ci.high),
                                      "caption": s["caption"], "inside": ok,
                                      "z": (s["caption"] - iv.mean) / (iv.sd / np.sqrt(iv.k)),
                                      "exact_mva": exact_value(cfg, model, s["D"])}
        out[model] = {"verdict": "compatible" if all(inside) else "refuted", "level": level,
                      **per_d}
    return out


def verdict(cfg: dict, data: Path) -> Verdict:
    _check(cfg)
    runs = read_tables(data, ("runs",))["runs"]
    models = model_readings(cfg, runs)
    candidates = [m for m in cfg["models"] if m not in cfg["controls"]]
    fits = [m for m in candidates if models[m]["verdict"] == "compatible"]
    ctrl = control_outcome(["refuted" if models[m]["verdict"] == "refuted" else "supported"
                            for m in cfg["controls"]])
    best = min(candidates, key=lambda m: max(abs(v["z"]) for k, v in models[m].items()
                                             if k.startswith("D=")))
    details = {"compatible": fits, "refuted": [m for m in candidates if m not in fits],
               "models": models}
    control = Control(
        description=f"Model(s) {', '.join(cfg['controls'])} (known not to produce the "
                    "caption: the deterministic schedule is too regular) must be refuted by "
                    "the same 3-seed-mean interval.", verdict=ctrl)
    return Verdict(verdict="supported" if fits else "refuted", statistic=float(len(fits)),
                   ci=None, margin=cfg["rounding"], control=control, details=details,
                   note=f"statistic: number of compatible candidate models (closest: {best}). "
                        "Compatibility does not identify the model: several may fit.")


CLAIM = ClaimInfo(
    id="scheduler_caption", paper_ref="Figure 4 (caption)",
    statement="The caption's mean time per oracle call (0.337 at D = 4, 0.668 at D = 8; 16 "
              "workers, 8 slow, Algorithm 2, 3 seeds at time caps 8000 / 12000) is reproduced "
              "by at least one plausible compute-time model; several may fit, and none is "
              "identified.",
    test="Per model and D: prediction interval of a 3-seed mean of cap / N(cap) from single "
         "runs (t quantile, Bonferroni over models x D, plus the caption's rounding); a model "
         "is compatible if both values fall inside. Supported if some candidate is "
         "compatible, refuted if none is.",
    falsifier="Every candidate model refuted at some D (the caption is not a 3-seed mean of "
              "Algorithm 2 under any of these models). If the control (deterministic times) "
              "came out compatible, the interval would be too wide to tell models apart.",
    simulate=simulate, verdict=verdict)
