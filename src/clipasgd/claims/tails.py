"""Claim F1 / Definition 3.1: gradient noise is sub-Weibull, with a finite tail parameter.

Two parts, one verdict (every band and level is in ``config/config.yaml``, fixed before
any run):

1. **Calibration** of the tools. Exact Weibull samples ``X = E^theta`` (``E ~ Exp(1)``)
   with known ``theta`` and size ``n``: relative bias of Girard's ``theta_hat`` and coverage
   of its asymptotic and bootstrap intervals over many replicates, against fixed bands.
   Girard's estimator is scale- and power-equivariant (``log X = theta log E``), so the law
   of ``theta_hat / theta`` does not depend on ``theta``: each ``theta`` is an independent
   replicate of the same check. Known biases of Gaussian-type laws (``|N(0,1)|`` reads
   ~0.64 for 0.5) are measured and reported, not tested. The plausibility check
   :func:`clipasgd.tails.is_sub_weibull` is calibrated too: its false-flag rate on the exact
   Weibull samples (size) and, as the **negative control**, its power to reject the planted
   false variant "this heavy-tailed sample (Student-t(3), Pareto(2), log-normal) is
   sub-Weibull".
2. **Real gradient noise** (:mod:`clipasgd.gradnoise`): a 64-32-10 MLP on digits and a
   Poisson GLM on randhie, at several batch sizes and checkpoints, plus any user-supplied
   ``.npy`` files (``user_files``). Noise norms (the object of Definition 3.1) *and* a 1-D
   projection are fitted: ``theta_hat`` with asymptotic and bootstrap CIs, the QQ slope,
   theta-vs-k curves, the plausibility check, and the scale ``K`` at the fitted ``theta``.
   The paper's ``theta = 2.71`` (ResNet-18 / CIFAR-10, setting unstated) is shown beside
   ours as a comparison of different settings, never as a verification.

Pre-registered decision (:func:`decide`): see the claim's ``test`` in ``words.yaml``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from .. import gradnoise, tails
from ..guard import check_array_file
from .base import (
    Claim,
    Control,
    Design,
    Progress,
    Run,
    Stage,
    Tables,
    Verdict,
    combine,
    control_outcome,
    named_seed,
    read_tables,
)

# Negative control (decided): power laws of infinite variance, which the likelihood-ratio
# test flags at the claim's n (pilots/ISSUE19_tails.md).
CONTROL_LAWS = {
    "pareto1.5": lambda rng, n: 1.0 + rng.pareto(1.5, n),
    "cauchy": lambda rng, n: np.abs(rng.standard_cauchy(n)),
}
# Heavy tails out of the decision's reach at n <= 2e5 (the control before issue 19): only
# the drift test flagged them, and it flags sub-Weibull batch means too. Power reported.
REPORTED_LAWS = {
    "student_t3": lambda rng, n: np.abs(rng.standard_t(3, n)),
    "pareto2": lambda rng, n: 1.0 + rng.pareto(2.0, n),
    "lognormal": lambda rng, n: rng.lognormal(0.0, 1.0, n),
}
HEAVY_LAWS = CONTROL_LAWS | REPORTED_LAWS
# Gaussian-type laws: theta known, but the estimator converges only like 1/log n.
KNOWN_LAWS = {
    "halfnormal": (0.5, lambda rng, n: np.abs(rng.standard_normal(n))),
    "normal_product": (1.0, lambda rng, n: np.abs(rng.standard_normal(n)
                                                  * rng.standard_normal(n))),
    "normal_cubed": (1.5, lambda rng, n: np.abs(rng.standard_normal(n)) ** 3),
    "gauss_norm_d10": (0.5, lambda rng, n: np.linalg.norm(rng.standard_normal((n, 10)),
                                                          axis=1)),
}
# exact quantile functions, where scipy has them: the value the estimate scatters around
KNOWN_QUANTILES = {"halfnormal": lambda p: stats.halfnorm.isf(p),
                   "normal_cubed": lambda p: stats.halfnorm.isf(p) ** 3,
                   "gauss_norm_d10": lambda p: np.sqrt(stats.chi2.isf(p, 10))}
PAPER_SETTING = "ResNet-18 on CIFAR-10, norms of gradient errors; checkpoint, batch size, k " \
                "and sample count unstated"
TAIL_POINTS = 200  # ranks kept per sample for QQ and survival plots


def _seed(cfg: dict, *keys: object) -> np.random.SeedSequence:
    return named_seed(cfg["seed"], *keys)


# ------------------------------------------------------------------------- user files


def check_user_files(cfg: dict, root: Path | None = None) -> dict[str, np.ndarray]:
    """Load and validate every ``user_files`` entry *before any work*.

    Paths are relative to ``root`` (default: the working directory, the repository root in
    the pipeline). Missing files raise ``FileNotFoundError`` naming all of them; bad content
    (not 1-D/2-D real numbers, NaN, too few nonzero points) raises ``ValueError``.
    """
    root = Path.cwd() if root is None else Path(root)
    paths = [str(p) for p in cfg.get("user_files", [])]
    missing = [p for p in paths if not (root / p).is_file()]
    if missing:
        raise FileNotFoundError(f"tails.user_files: file(s) not found (relative to {root}): "
                                + ", ".join(missing))
    out = {}
    for p in paths:
        check_array_file(root / p, f"tails.user_files: {p}")
        try:
            a = np.load(root / p, allow_pickle=False)
        except ValueError as err:
            raise ValueError(f"tails.user_files: {p}: not a plain .npy array ({err})") from err
        if a.ndim not in (1, 2) or not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
            raise ValueError(f"tails.user_files: {p}: expected a 1-D sample or 2-D (m, d) "
                             f"array of real numbers, got shape {a.shape}, dtype {a.dtype}")
        a = a.astype(float)
        if not np.all(np.isfinite(a)):
            raise ValueError(f"tails.user_files: {p}: contains NaN or infinite values")
        n_pos = int(np.count_nonzero(np.linalg.norm(a, axis=1) if a.ndim == 2 else a))
        if n_pos < tails.FIT_MIN_POINTS:
            raise ValueError(f"tails.user_files: {p}: need at least {tails.FIT_MIN_POINTS} "
                             f"nonzero samples, got {n_pos}")
        out[p] = a
    return out


# ------------------------------------------------------------------------- simulation


def fit_sample(x: np.ndarray, cfg: dict, seed: np.random.SeedSequence) -> dict:
    """Every statistic of one positive sample that the claim reports (one row of ``real``)."""
    frac, level, pl = cfg["calibration"]["frac"], cfg["calibration"]["level"], cfg["plausibility"]
    s_boot, s_check = seed.spawn(2)
    fit = tails.weibull_tail(x, frac=frac, level=level)
    boot = tails.weibull_tail_bootstrap_ci(x, k=fit.k, n_boot=cfg["real"]["n_boot"],
                                           rng=s_boot, level=level)
    qq = tails.weibull_qq(x, k=fit.k)
    chk = tails.is_sub_weibull(x, frac=frac, rng=s_check, **pl)
    return {"n": fit.n, "k": fit.k, "theta": fit.theta, "ci_low": fit.ci_low,
            "ci_high": fit.ci_high, "boot_low": boot.ci_low, "boot_high": boot.ci_high,
            "qq_theta": qq.theta, "qq_intercept": qq.intercept, "plausible": chk.plausible,
            **_flags(chk, pl), "reason": chk.reason, "lr_z": chk.lr_z, "lr_p": chk.lr_p,
            "pareto_alpha": chk.pareto_alpha, "theta_se": chk.theta_se,
            "drift_slope": chk.drift_slope, "drift_z": chk.drift_z,
            "envelope_K": tails.envelope_scale(x, fit.theta),
            "orlicz_K": tails.orlicz_norm(x, fit.theta)}


def _flags(chk: tails.SubWeibullCheck, pl: dict) -> dict[str, bool]:
    """Which of :func:`tails.is_sub_weibull`'s two tests fired: ``lr_flag`` (test 1, the
    decision's) and ``drift_flag`` (test 2, reported only)."""
    return {"lr_flag": bool(chk.lr_z > 0 and chk.lr_p < pl["lr_alpha"]),
            "drift_flag": "drifts upward" in chk.reason}


def curve_points(x: np.ndarray, n_k: int) -> pd.DataFrame:
    """theta_hat against k on a log grid from 10 to n/5."""
    n = int(np.count_nonzero(x))
    ks = np.unique(np.geomspace(10, max(11, n // 5), n_k).astype(int))
    return pd.DataFrame({"k": ks, "theta": tails.theta_vs_k(x, ks)})


def tail_points(x: np.ndarray) -> pd.DataFrame:
    """Order statistics at log-spaced ranks i: ``x = X_(n-i+1)``, survival ``i/n`` and the
    Weibull QQ abscissa ``log log((n+1)/i)``."""
    xs = np.sort(np.asarray(x, dtype=float)[np.asarray(x) > 0])[::-1]
    n = xs.size
    i = np.unique(np.geomspace(1, n, TAIL_POINTS).astype(int))
    return pd.DataFrame({"rank": i, "x": xs[i - 1], "surv": i / n,
                         "qq": np.log(np.log((n + 1) / i))})


def _calibration_cell(cfg: dict, theta: float, n: int) -> dict[str, pd.DataFrame]:
    cal = cfg["calibration"]
    rng = np.random.default_rng(_seed(cfg, "calibration", theta, n))
    boot_cfg = cal["bootstrap"]
    n_boot_reps = boot_cfg["replicates"] if n <= boot_cfg["max_n"] else 0
    rows, checks, tail = [], [], None
    for rep in range(cal["replicates"]):
        x = rng.exponential(size=n) ** theta
        fit = tails.weibull_tail(x, frac=cal["frac"], level=cal["level"])
        rows.append({"method": "asymptotic", "rep": rep, "theta_hat": fit.theta,
                     "ci_low": fit.ci_low, "ci_high": fit.ci_high, "k": fit.k})
        if rep < n_boot_reps:
            b = tails.weibull_tail_bootstrap_ci(x, k=fit.k, n_boot=boot_cfg["n_boot"],
                                                rng=rng.integers(2 ** 63), level=cal["level"])
            rows.append({"method": "bootstrap", "rep": rep, "theta_hat": b.theta,
                         "ci_low": b.ci_low, "ci_high": b.ci_high, "k": b.k})
        if rep < cal["size_replicates"]:
            checks.append(_check_row(x, cfg, rng, rep))
        if rep == 0 and n == max(cal["ns"]):
            tail = tail_points(x).assign(source="weibull", name=f"Weibull theta={theta}")
    frame = pd.DataFrame(rows).assign(kind="weibull", law="weibull", theta_true=theta, n=n)
    out = {"calibration": frame,
           "plausibility": pd.DataFrame(checks).assign(role="size", law="weibull",
                                                       theta_true=theta, n=n)}
    if tail is not None:
        out["tail"] = tail
    return out


def _check_row(x: np.ndarray, cfg: dict, rng: np.random.Generator, rep: int) -> dict:
    chk = tails.is_sub_weibull(x, frac=cfg["calibration"]["frac"], rng=rng.integers(2 ** 63),
                               **cfg["plausibility"])
    return {"rep": rep, "plausible": chk.plausible, **_flags(chk, cfg["plausibility"]),
            "theta": chk.theta, "lr_z": chk.lr_z,
            "lr_p": chk.lr_p, "drift_slope": chk.drift_slope, "drift_z": chk.drift_z,
            "reason": chk.reason}


def _known_cell(cfg: dict, law: str, n: int) -> dict[str, pd.DataFrame]:
    cal = cfg["calibration"]
    theta, draw = KNOWN_LAWS[law]
    rng = np.random.default_rng(_seed(cfg, "known", law, n))
    rows = []
    for rep in range(cal["known_bias_replicates"]):
        fit = tails.weibull_tail(draw(rng, n), frac=cal["frac"], level=cal["level"])
        rows.append({"method": "asymptotic", "rep": rep, "theta_hat": fit.theta,
                     "ci_low": fit.ci_low, "ci_high": fit.ci_high, "k": fit.k})
    frame = pd.DataFrame(rows).assign(kind="known_bias", law=law, theta_true=theta, n=n)
    if law in KNOWN_QUANTILES:  # the estimator on exact quantiles F^-1(1 - i/(n+1))
        ref = tails.weibull_tail(KNOWN_QUANTILES[law](np.arange(1, n + 1) / (n + 1)),
                                 frac=cal["frac"]).theta
        frame["theta_reference"] = ref
    return {"calibration": frame}


def _control_cell(cfg: dict, law: str, n: int) -> dict[str, pd.DataFrame]:
    ctl = cfg["control"]
    rng = np.random.default_rng(_seed(cfg, "control", law, n))
    rows, tail = [], None
    for rep in range(ctl["replicates"]):
        x = HEAVY_LAWS[law](rng, n)
        rows.append(_check_row(x, cfg, rng, rep))
        if rep == 0 and n == max(ctl["ns"]):
            tail = tail_points(x).assign(source="control", name=law)
    out = {"plausibility": pd.DataFrame(rows).assign(role="control", law=law,
                                                     theta_true=np.nan, n=n)}
    if tail is not None:
        out["tail"] = tail
    return out


def _real_model(cfg: dict, name: str, progress: Progress) -> dict[str, pd.DataFrame]:
    real = cfg["real"]
    opts = dict(real["models"][name])
    steps, lr = opts.pop("steps"), opts.pop("lr")
    model = gradnoise.make_model(name, **opts)
    training = gradnoise.train(model, steps, lr, seed=_seed(cfg, "init", name))
    progress(f"{name}: trained {steps} steps, loss {training.loss['initial']:.3g} -> "
             f"{training.loss['converged']:.3g}")
    rows, curves, tail_frames = [], [], []
    for ckpt in real["checkpoints"]:
        w = training.weights[ckpt]
        errors = gradnoise.per_example_errors(model, w)
        u = gradnoise.random_directions(model.dim, 1, _seed(cfg, "direction", name, ckpt))
        for b in real["batch_sizes"]:
            norms, proj = gradnoise.noise_sample(errors, b, real["n_batches"],
                                                 _seed(cfg, "batches", name, ckpt, b), u)
            key = {"source": "builtin", "model": name, "checkpoint": ckpt, "batch": b}
            for quantity, x in (("norm", norms), ("projection", np.abs(proj[:, 0]))):
                case = key | {"quantity": quantity}
                fit = fit_sample(x, cfg, _seed(cfg, "fit", name, ckpt, b, quantity))
                rows.append(case | fit | {
                    "d": model.dim, "n_examples": model.n_examples,
                    "step": training.step[ckpt], "loss": training.loss[ckpt],
                    "grad_norm": training.grad_norm[ckpt],
                    "noise_rms": float(np.sqrt(np.mean(norms ** 2)))})
                curves.append(curve_points(x, real["ks"]).assign(**case))
                tail_frames.append(tail_points(x).assign(**case))
        progress(f"{name}: {ckpt} checkpoint fitted")
    return {"real": pd.DataFrame(rows), "curves": pd.concat(curves, ignore_index=True),
            "tail": pd.concat(tail_frames, ignore_index=True).assign(
                name=lambda f: f["model"] + " b=" + f["batch"].astype(str) + " "
                + f["checkpoint"] + " " + f["quantity"])}


def _user_case(cfg: dict, path: str, a: np.ndarray) -> dict[str, pd.DataFrame]:
    if a.ndim == 2:
        u = gradnoise.random_directions(a.shape[1], 1, _seed(cfg, "direction", path))
        samples = {"norm": np.linalg.norm(a, axis=1), "projection": np.abs(a @ u[0])}
    else:
        samples = {"sample": np.abs(a)}
    rows, curves, tail_frames = [], [], []
    for quantity, x in samples.items():
        case = {"source": "user", "model": path, "checkpoint": "user", "batch": np.nan,
                "quantity": quantity}
        fit = fit_sample(x, cfg, _seed(cfg, "fit", path, quantity))
        rows.append(case | fit | {"d": a.shape[1] if a.ndim == 2 else 1,
                                  "noise_rms": float(np.sqrt(np.mean(samples[
                                      "norm" if a.ndim == 2 else "sample"] ** 2)))})
        curves.append(curve_points(x, cfg["real"]["ks"]).assign(**case))
        tail_frames.append(tail_points(x).assign(**case, name=f"{path} {quantity}"))
    return {"real": pd.DataFrame(rows), "curves": pd.concat(curves, ignore_index=True),
            "tail": pd.concat(tail_frames, ignore_index=True)}


def _points(run: Run, _: Tables) -> list[dict]:
    """Every cell, named; each seeds itself by its names (``_seed``), so it draws the same
    numbers at every scale and whatever else is in the grid. A user file's point is
    keyed by its content's digest."""
    cfg = run.cfg
    cal = cfg["calibration"]
    points = [{"key": f"calib-theta{theta}-n{n}", "part": "calibration", "theta": theta, "n": n}
              for theta in cal["thetas"] for n in cal["ns"]]
    points += [{"key": f"known-{law}-n{n}", "part": "known", "law": law, "n": n}
               for law in KNOWN_LAWS for n in cal["ns"]]
    points += [{"key": f"control-{law}-n{n}", "part": "control", "law": law, "n": n}
               for law in HEAVY_LAWS for n in cfg["control"]["ns"]]
    points += [{"key": f"real-{name}", "part": "real", "model": name}
               for name in cfg["real"]["models"]]
    user = check_user_files(cfg)  # a missing file fails at once
    digests = {path: hashlib.sha256(a.tobytes() + str(a.shape).encode()).hexdigest()[:16]
               for path, a in user.items()}
    points += [{"key": f"user{i}-{digests[path]}", "part": "user", "path": path,
                "sha": digests[path]} for i, path in enumerate(user)]
    return points


def _run(run: Run, p: dict, seed: int) -> Tables:
    cfg = run.cfg
    if p["part"] == "calibration":
        return _calibration_cell(cfg, p["theta"], p["n"])
    if p["part"] == "known":
        return _known_cell(cfg, p["law"], p["n"])
    if p["part"] == "control":
        return _control_cell(cfg, p["law"], p["n"])
    if p["part"] == "real":
        return _real_model(cfg, p["model"], run.progress)
    return _user_case(cfg, p["path"], check_user_files(cfg)[p["path"]])


DESIGN = Design(stages=(Stage("cells", _points, _run),), check=check_user_files,
                settings=lambda cfg: {k: v for k, v in cfg.items()
                                      if k not in ("scales", "user_files")})


# ---------------------------------------------------------------------------- verdict


def coverage_band(level: float, reps: int, slack: float, z: float) -> tuple[float, float]:
    """Nominal coverage +- (slack + z binomial sd of a coverage estimate from ``reps``)."""
    half = slack + z * np.sqrt(level * (1 - level) / reps)
    return max(0.0, level - half), min(1.0, level + half)


def girard_bias_approx(k: int) -> float:
    """Second-order relative bias of Girard's theta_hat on a Weibull law, ``(ln k + 0.58)/(2k)``
    (Renyi: ``E E_(n-i+1) = log(n/i) + ~1/(2i)``): the prediction quoted in the config."""
    return (np.log(k) + 0.5772) / (2 * k)


def calibration_summary(cal: pd.DataFrame, cfg: dict) -> list[dict]:
    """Bias and coverage per exact-Weibull cell, each against its band."""
    c = cfg["calibration"]
    out = []
    for (theta, n), g in cal[cal["kind"] == "weibull"].groupby(["theta_true", "n"]):
        asym = g[g["method"] == "asymptotic"]
        rel = asym["theta_hat"].to_numpy() / theta - 1
        r = rel.size
        tol = c["bias_tol"] + c["band_z"] * rel.std(ddof=1) / np.sqrt(r)
        k = int(asym["k"].iloc[0])
        cell = {"theta": float(theta), "n": int(n), "k": k, "reps": r,
                "rel_bias": float(rel.mean()), "rel_bias_se": float(rel.std(ddof=1) / np.sqrt(r)),
                "bias_band": float(tol), "bias_predicted": girard_bias_approx(k),
                "within_10pct": float(np.mean(np.abs(rel) <= 0.10)),
                "bias_ok": bool(abs(rel.mean()) <= tol)}
        oks = [cell["bias_ok"]]
        for method in ("asymptotic", "bootstrap"):
            m = g[g["method"] == method]
            if m.empty:
                cell[method] = None
                continue
            cov = float(((m["ci_low"] <= theta) & (theta <= m["ci_high"])).mean())
            band = coverage_band(c["level"], len(m), c["coverage_slack"], c["band_z"])
            ok = band[0] <= cov <= band[1]
            cell[method] = {"coverage": cov, "band": band, "reps": int(len(m)), "ok": bool(ok),
                            "mean_rel_width": float(((m["ci_high"] - m["ci_low"]) / theta).mean())}
            oks.append(ok)
        cell["ok"] = bool(all(oks))
        out.append(cell)
    return out


def known_bias_summary(cal: pd.DataFrame) -> list[dict]:
    """Gaussian-type laws: mean theta_hat against the truth and the exact-quantile reference."""
    out = []
    for (law, n), g in cal[cal["kind"] == "known_bias"].groupby(["law", "n"], sort=False):
        theta = float(g["theta_true"].iloc[0])
        cov = float(((g["ci_low"] <= theta) & (theta <= g["ci_high"])).mean())
        ref = g["theta_reference"].iloc[0] if "theta_reference" in g else np.nan
        out.append({"law": law, "n": int(n), "theta_true": theta,
                    "mean_theta_hat": float(g["theta_hat"].mean()),
                    "sd_theta_hat": float(g["theta_hat"].std(ddof=1)),
                    "theta_reference": None if pd.isna(ref) else float(ref),
                    "coverage_of_true": cov, "reps": int(len(g))})
    return out


def _flagged(rows: pd.DataFrame, old: bool) -> pd.Series:
    """Samples flagged by the decision's test (the likelihood ratio) or, ``old``, by the
    check before issue 19 (either of :func:`tails.is_sub_weibull`'s tests)."""
    return ~rows["plausible"].astype(bool) if old else rows["lr_flag"].astype(bool)


def size_check(plaus: pd.DataFrame, cfg: dict, old: bool = False) -> dict:
    """False flags on exact Weibull samples: at most the 99% binomial quantile at the
    nominal rate ``lr_alpha`` (``old``: the whole check, ``lr_alpha + drift_alpha``)."""
    s = plaus[plaus["role"] == "size"]
    pl = cfg["plausibility"]
    rate = pl["lr_alpha"] + (pl["drift_alpha"] if old else 0.0)
    flagged = _flagged(s, old)
    flags = int(flagged.sum())
    bound = int(stats.binom.ppf(0.99, len(s), rate))
    by_cell = flagged.groupby([s["theta_true"], s["n"]]).sum()
    return {"checks": int(len(s)), "false_flags": flags, "max_allowed": bound,
            "nominal_rate": rate, "ok": bool(flags <= bound),
            "drift_flags_reported": int(s["drift_flag"].astype(bool).sum()),
            "flags_by_theta_n": {f"theta={t}, n={n}": int(v) for (t, n), v in by_cell.items()}}


def control_summary(plaus: pd.DataFrame, cfg: dict, old: bool = False
                    ) -> tuple[dict, list[str]]:
    """Flag rate (power) of every heavy-tailed law at every n, by the decision's test and by
    each sub-test; decided at the largest n on ``CONTROL_LAWS`` (``old``: the whole check on
    ``REPORTED_LAWS``, the control before issue 19). A control sample counts as flagged
    only by the likelihood ratio: its bootstrap CI is not computed, so the rate is a lower
    bound on the share the case rule would not read supported."""
    c = plaus[plaus["role"] == "control"]
    n_max = max(cfg["control"]["ns"])
    decided = REPORTED_LAWS if old else CONTROL_LAWS
    power, by_test, verdicts, means = {}, {}, [], {}
    for (law, n), g in c.groupby(["law", "n"], sort=False):
        rate = float(_flagged(g, old).mean())
        power.setdefault(law, {})[int(n)] = rate
        by_test.setdefault(law, {})[int(n)] = {
            "lr": float(g["lr_flag"].astype(bool).mean()),
            "drift": float(g["drift_flag"].astype(bool).mean())}
        means.setdefault(law, {})[int(n)] = float(g["theta"].mean())
        if n == n_max and law in decided:
            verdicts.append("refuted" if rate >= cfg["control"]["power"]
                            else "supported" if rate < 0.5 else "inconclusive")
    return {"n_decision": int(n_max), "required_power": cfg["control"]["power"],
            "decided_laws": list(decided), "power": power, "power_by_test": by_test,
            "mean_theta_hat": means,
            "example_reasons": {law: str(g["reason"].iloc[0]) for law, g in
                                c[c["n"] == n_max].groupby("law")}}, verdicts


def case_verdict(lr_flag: bool, ci_high: float, theta_max: float) -> str:
    """One real-noise sample: a power law beats every stretched exponential -> refuted; else
    supported if the bootstrap CI of theta ends below ``theta_max``, inconclusive if not.
    The drift test is reported, not used (design amendment, issue 19)."""
    if lr_flag:
        return "refuted"
    return "supported" if np.isfinite(ci_high) and ci_high <= theta_max else "inconclusive"


def old_case_verdict(lr_flag: bool, drift_flag: bool, ci_high: float, theta_max: float) -> str:
    """The case rule before issue 19: as :func:`case_verdict`, but the drift test alone
    reads inconclusive."""
    return "inconclusive" if drift_flag and not lr_flag else case_verdict(lr_flag, ci_high,
                                                                         theta_max)


def decide(calibration_ok: bool, size_ok: bool, case_verdicts: list[str]) -> tuple[str, str]:
    """The pre-registered rule (the claim's ``test`` words); returns ``(verdict, reason)``."""
    if not size_ok:
        return "inconclusive", ("the plausibility check flagged too many exact Weibull "
                                "samples: its rejections cannot be trusted")
    if not case_verdicts:
        return "inconclusive", "no real-noise sample"
    overall = combine(case_verdicts)
    if overall == "refuted":
        return "refuted", ("a power law fits some real-noise tail better than every "
                           "stretched exponential with theta <= theta_max")
    if not calibration_ok:
        return "inconclusive", ("the estimator's calibration failed its fixed bands, so "
                                "fitted theta values are not trusted for support")
    if overall == "supported":
        return "supported", ("every real-noise sample is plausibly sub-Weibull with a "
                             "bootstrap CI of theta below theta_max; calibration passed")
    return "inconclusive", ("some real-noise sample is not supported: its bootstrap CI of "
                            "theta reaches theta_max")


def verdict(cfg: dict, data: Path) -> Verdict:
    t = read_tables(data, ("calibration", "plausibility", "real"))
    cal_cells = calibration_summary(t["calibration"], cfg)
    calibration_ok = bool(cal_cells) and all(c["ok"] for c in cal_cells)
    size = size_check(t["plausibility"], cfg)
    ctrl_info, ctrl_v = control_summary(t["plausibility"], cfg)
    theta_max = cfg["plausibility"]["theta_max"]
    real = t["real"].copy()
    real["verdict"] = [case_verdict(bool(lr), h, theta_max) for lr, h in
                       zip(real["lr_flag"], real["boot_high"], strict=True)]
    v, reason = decide(calibration_ok, size["ok"], real["verdict"].tolist())
    # the rules before issue 19: the whole check's size and control; drift alone inconclusive
    old_size = size_check(t["plausibility"], cfg, old=True)
    old_ctrl_v = control_summary(t["plausibility"], cfg, old=True)[1]
    old_cases = [old_case_verdict(bool(lr), bool(dr), h, theta_max) for lr, dr, h in
                 zip(real["lr_flag"], real["drift_flag"], real["boot_high"], strict=True)]
    old_v = decide(calibration_ok, old_size["ok"], old_cases)[0]
    # the rule as first written (before the smoke run): any flag of the check refutes
    first = [("refuted" if not p else case_verdict(False, h, theta_max))
             for p, h in zip(real["plausible"], real["boot_high"], strict=True)]
    first_v = decide(calibration_ok, old_size["ok"], first)[0]
    cases = real.drop(columns=["reason"]).to_dict(orient="records")
    for rec, why in zip(cases, real["reason"], strict=True):
        rec["reason"] = why
    norms = real[(real["source"] == "builtin") & (real["quantity"] == "norm")]
    worst = norms.loc[norms["theta"].idxmax()] if len(norms) else None
    paper = cfg["paper_theta"]
    comparison = {
        "paper": {"theta": paper, "setting": PAPER_SETTING},
        "ours_norms": {f"{r.model} b={r.batch} {r.checkpoint}": {
            "theta": r.theta, "boot_ci": [r.boot_low, r.boot_high],
            "paper_in_ci": bool(r.boot_low <= paper <= r.boot_high)}
            for r in real[real["quantity"] != "projection"].itertuples()},
        "note": "A comparison of different settings (model, data, batch, checkpoint, k), not a "
                "verification of the paper's number: Figure 1 cannot be reproduced here "
                "(no CIFAR-10 download); pass ResNet-18 gradient errors via user_files."}
    failed = [f"theta={c['theta']}, n={c['n']}" for c in cal_cells if not c["ok"]]
    details = {
        "decision_reason": reason,
        "rule_amendment": {
            "first_rule": "any flag of tails.is_sub_weibull (likelihood ratio or drift) on a "
                          "real-noise sample refutes",
            "verdict_under_first_rule": first_v,
            "superseded_by": "design_amendment (issue 19): drift is no longer decided",
            "why": "Amended after the smoke-scale pipeline test, before any quick or paper "
                   "run: batch-mean norms of the Poisson GLM were flagged by the drift test "
                   "alone. The drift test also fires for sub-Weibull laws whose theta_hat "
                   "approaches its limit from below (documented in is_sub_weibull); a mean of "
                   "b bounded per-example errors has a near-Gaussian bulk and a tail set by "
                   "its largest term, so theta_hat rises with n although the law is bounded. "
                   "Drift alone now reads inconclusive, a likelihood-ratio rejection still "
                   "refutes; both outcomes are reported."},
        "design_amendment": {
            "issue": "19, item 7",
            "change": "The drift test of tails.is_sub_weibull is reported, no longer decided: "
                      "a sample is refuted by the likelihood-ratio test alone, and drift no "
                      "longer makes it inconclusive; the check's size is that of the "
                      "likelihood-ratio test (nominal lr_alpha); the negative control is "
                      "Pareto(1.5) and |Cauchy| (flagged by the likelihood ratio), with the "
                      "old control laws' power reported.",
            "why": "An outside review, confirmed by pilots/ISSUE19_tails.md, found the drift "
                   "test flagging batch means of exactly sub-Weibull noise (batch 8 and 32, "
                   "n = 2e5, the claim's levels) far above its nominal rate: the mean of b "
                   "sub-Weibull(theta) terms is sub-Weibull(theta), but its theta_hat rises "
                   "toward theta with n (near-Gaussian bulk, tail set by one large term), "
                   "so drift is the law's, not evidence against it. Its drift slopes overlap "
                   "the log-normal's, so no threshold separates them; calibrating it would "
                   "need the unknown per-example law. Without it the decision cannot reject "
                   "Student-t(3), Pareto(2) or log-normal tails at n <= 2e5 (their power is "
                   "reported): 'supported' means no detectable power law, finite-variance "
                   "power laws included.",
            "old_rule": "drift alone -> inconclusive; size of the whole check (lr_alpha + "
                        "drift_alpha); control Student-t(3), Pareto(2), log-normal flagged by "
                        "either test",
            "verdict_under_old_rule": old_v,
            "control_under_old_rule": control_outcome(old_ctrl_v),
            "old_size_check": old_size},
        "calibration": {"ok": calibration_ok, "failed_cells": failed, "cells": cal_cells,
                        "bands": {k: cfg["calibration"][k] for k in
                                  ("bias_tol", "coverage_slack", "band_z", "level")}},
        "known_biases": {
            "note": "Gaussian-type laws have Weibull-type tails with a slowly varying factor: "
                    "theta_hat converges only like 1/log n (|N(0,1)| reads ~0.64 for 0.5) and "
                    "norms of d-dim Gaussians concentrate (theta_hat far below 0.5). Reported, "
                    "not tested: theta_reference is the estimator on exact quantiles, the value "
                    "the estimates scatter around at that n.",
            "cells": known_bias_summary(t["calibration"])},
        "plausibility_size": size,
        "control": ctrl_info,
        "real_noise": {"cases": cases,
                       "counts": real["verdict"].value_counts().to_dict(),
                       "lr_flags": int(real["lr_flag"].sum()),
                       "drift_only_flags": int((real["drift_flag"] & ~real["lr_flag"]).sum()),
                       "flagged": [f"{r.model} b={r.batch} {r.checkpoint} {r.quantity}: "
                                   f"{r.reason}" for r in real.itertuples() if not r.plausible],
                       "user_files": list(cfg.get("user_files", []))},
        "paper_comparison": comparison,
        "caveats": [
            "A finite dataset has bounded noise, hence sub-Weibull for every theta: fitted "
            "values are effective tail parameters over the observed range; read them with "
            "their theta-vs-k curves.",
            "At batch size 1 the sample is the whole population of per-example errors "
            "(n = dataset size), where the plausibility check has little power (see the "
            "control's power at small n).",
            "Norms of high-dimensional noise concentrate, which pulls theta_hat down; the "
            "1-D projection is reported beside each norm for that reason.",
        ],
    }
    ctrl = Control(
        description=f"Planted false variant 'this power-law sample is sub-Weibull' for "
                    f"Pareto(1.5) and |Cauchy| samples of size {ctrl_info['n_decision']}: the "
                    f"decision's likelihood-ratio test (same level) must flag each law (so "
                    f"it cannot read 'supported') in >= {cfg['control']['power']:.0%} of "
                    f"{cfg['control']['replicates']} replicates. Student-t(3), Pareto(2) and "
                    f"log-normal power reported (out of the decision's reach).",
        verdict=control_outcome(ctrl_v),
        statistic=min((ctrl_info["power"][law][ctrl_info["n_decision"]]
                       for law in CONTROL_LAWS if law in ctrl_info["power"]), default=None))
    return Verdict(
        verdict=v, statistic=None if worst is None else float(worst["theta"]),
        ci=None if worst is None else (float(worst["boot_low"]), float(worst["boot_high"])),
        margin=theta_max, control=ctrl, details=details,
        note="statistic/ci: the largest theta_hat (bootstrap CI) over the built-in real-noise "
             "norm samples; margin: theta_max, the largest theta the plausibility check "
             f"admits. Paper's Figure 1 value {paper} is a comparison only. {reason}.")


CLAIM = Claim(id="tails", paper_ref="Definition 3.1, Figure 1", reading=verdict,
              design=DESIGN,
              figures=("tails", "tails_calibration"))
