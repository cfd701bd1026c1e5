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
from .base import Claim, Control, Design, Run, Stage, Tables, Verdict, control_outcome, read_tables


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


def _run(run: Run, point: dict, seed: int) -> Tables:
    """One (model, D): ``replications`` single runs' ``cap / N(cap)`` (table ``runs``)."""
    times = model_times(run.cfg, point["model"], point["D"])
    vals = [calls_within(schedule_past("algorithm2", times, point["cap"], ss), point["cap"])[1]
            for ss in np.random.SeedSequence(seed).spawn(run.cfg["replications"])]
    return {"runs": pd.DataFrame({"model": point["model"], "D": point["D"],
                                  "cap": point["cap"], "rep": np.arange(len(vals)),
                                  "time_per_call": vals})}


def _points(run: Run, _: Tables) -> list[dict]:
    return [{"key": f"{m}-D{s['D']}", "model": m, "D": s["D"], "cap": s["cap"]}
            for m in run.cfg["models"] for s in run.cfg["settings"]]


DESIGN = Design(stages=(Stage("models", _points, _run),), check=_check)


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


CLAIM = Claim(id="scheduler_caption", paper_ref="Figure 4 (caption)", reading=verdict,
              design=DESIGN)
