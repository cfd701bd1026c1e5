"""The figures on small planted tables: theory lines, diverged runs, legends, font sizes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

from clipasgd import landing
from clipasgd.plots.federated import scheduler_caption
from clipasgd.plots.high_prob import event_region
from clipasgd.plots.rate_shape import dominant_term, rate_shape
from clipasgd.plots.speedup import diverged_seeds, speedup_figure
from clipasgd.plots.style import OUTCOME_COLORS, new_figure, outcome, style
from clipasgd.plots.tau_max import growth_panel, virtual

MIN_PT = 9.0


def _record(claim: str, cfg: dict, details: dict, verdict: str = "supported",
            control: str = "refuted") -> dict:
    return {"claim": claim, "paper_ref": "Theorem 4.2", "statement": "s", "test": "t",
            "verdict": verdict, "statistic": 1.0, "ci": [0.9, 1.1],
            "control": {"verdict": control, "statistic": 2.0, "ci": [1.5, 3.0],
                        "description": "d"},
            "config_section": cfg, "details": details, "git_commit": "abc"}


def _write(root: Path, rec: dict,
           tables: dict[tuple[str, str], pd.DataFrame] | None = None) -> Path:
    path = root / "data" / "quick" / "claims" / f"{rec['claim']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rec))
    for (folder, name), df in (tables or {}).items():
        out = root / "data" / "quick" / folder / f"{name}.csv"
        out.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(out, index=False)
    return root


def _readable(fig) -> None:
    """Every visible text of the figure (ticks, legends, titles) is at least MIN_PT."""
    small = [(t.get_text(), t.get_fontsize()) for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip() and t.get_fontsize() < MIN_PT]
    assert not small, f"text below {MIN_PT} pt: {small[:5]}"


def _labels(ax) -> list[str]:
    return [h.get_label() for h in ax.get_legend_handles_labels()[0]]


# ---- badges -----------------------------------------------------------------------------

@pytest.mark.parametrize(("verdict", "control", "kind"), [
    ("refuted", True, "expected"), ("supported", True, "unexpected"),
    ("inconclusive", True, "unexpected"), ("supported", False, "expected"),
    ("refuted", False, "unexpected"), ("inconclusive", False, "undecided")])
def test_outcome_reads_a_refuted_control_as_good_news(verdict, control, kind):
    assert outcome(verdict, control) == kind


def test_landing_badges_colour_the_expected_outcome(tmp_path):
    good = _record("tau_max", {}, {}, verdict="supported", control="refuted")
    bad = _record("fig4_federated", {}, {}, verdict="inconclusive", control="supported")
    _write(tmp_path, good)
    _write(tmp_path, bad)
    page = landing.write_landing(tmp_path, "quick", ["tau_max", "fig4_federated"]).read_text()
    green, red = OUTCOME_COLORS["expected"], OUTCOME_COLORS["unexpected"]
    assert f'background:{green}" title="expected outcome">refuted<' in page
    assert f'background:{red}" title="unexpected outcome">supported<' in page
    assert f'background:{green}" title="expected outcome">supported<' in page


# ---- fig3: a diverged seed is marked, not drawn -----------------------------------------

def _speedup_record(goal: str = "min") -> dict:
    s = {"ratio": 1.1, "ci_low": 0.9, "ci_high": 1.3, "censored_a": 0, "n_pairs": 3,
         "censored_b": 1, "paper": 1.8, "reading": "inconclusive"}
    cfg = {"metric": "perplexity", "eval_every": 10.0, "target": 5.0, "goal": goal,
           "cap": 100.0, "level": 0.9, "selection_seeds": 1, "fresh_seeds": 3,
           "target_source": "planted"}
    return _record("fig3_speedup", cfg, {"D=4": {"speedups": {"vanilla": s}, "control": s,
                                                  "chosen": [{"select_median_T": None}]},
                                         "D=1": {"mechanism_control": s},
                                         "straggler_effect": "not measured: one straggler D",
                                         "deciding_comparison": "vanilla at D = 4"},
                   verdict="inconclusive")


def _speedup_curves() -> pd.DataFrame:
    t = np.arange(0, 101, 10.0)
    rows = []
    for alg in ("clipped", "vanilla"):
        for seed in range(3):
            y = 60 * np.exp(-t / 30) + 3
            if alg == "vanilla" and seed == 2:
                y = np.where(t >= 40, 1e56, y)  # blows up at t = 40
            rows += [{"phase": "fresh", "D": 4.0, "algorithm": alg, "seed": seed, "time": ti,
                      "perplexity": yi, "diverged": False} for ti, yi in zip(t, y, strict=True)]
    return pd.DataFrame(rows)


def test_diverged_seed_is_found_with_its_time():
    gone = diverged_seeds(_speedup_curves(), "perplexity", "min")
    assert gone.loc[("vanilla", 2)] == 40.0
    assert gone.drop(("vanilla", 2)).isna().all()


def test_fig3_marks_a_diverged_seed_and_keeps_readable_limits(tmp_path):
    root = _write(tmp_path, _speedup_record(),
                  {("fig3_speedup", "curves"): _speedup_curves()})
    with style():
        drawn = speedup_figure(root, "quick", "fig3_speedup")
    ax = drawn.fig.axes[0]
    assert ax.get_ylim()[1] < 1e3  # the 1e56 run does not set the scale
    assert any("1 of 3 seeds blew up" in lab for lab in _labels(ax))
    marks = [ln for ln in ax.get_lines() if ln.get_marker() == "x"]
    assert len(marks) == 1 and list(marks[0].get_xdata()) == [40.0]
    assert any(lab.startswith("target") for lab in _labels(ax))
    text = drawn.fig.axes[-1].texts[0].get_text()  # the table beside, deciding one in words
    assert "Deciding comparison: clipped over vanilla at D = 4" in text
    assert "no stragglers" in text and "self-control" in text
    assert "Stragglers' effect: not measured: one straggler D" in text
    _readable(drawn.fig)


def test_speedup_table_fits_beside_the_panels(tmp_path):
    """A paper-scale table (two straggler D, three baselines: ~37 lines) stays inside the
    figure instead of spilling below it (where a tight save squashes the curves)."""
    rec = _speedup_record()
    s = rec["details"]["D=4"]["speedups"]["vanilla"]
    many = {"speedups": {b: s for b in ("vanilla", "delay_adaptive", "ringmaster")},
            "control": s, "chosen": [{"select_median_T": None}],
            "at_grid_edge": [{"algorithm": "vanilla", "parameter": "step", "value": 0.125,
                              "end": "smallest"}],
            "straggler_effect": {"ratio": 1.0, "ci_low": 0.9, "ci_high": 1.1, "anchor_D": 4.0,
                                 "reading": "no change with slower stragglers detected"}}
    rec["details"].update({"D=4": many, "D=8": many})
    curves = _speedup_curves()
    root = _write(tmp_path, rec, {("fig3_speedup", "curves"):
                                  pd.concat([curves, curves.assign(D=8.0)])})
    with style():
        drawn = speedup_figure(root, "quick", "fig3_speedup")
    fig = drawn.fig
    text = fig.axes[-1].texts[0]
    assert text.get_text().count("\n") >= 30
    words = text.get_text().replace("\n    ", " ")
    assert "(speedup over vanilla at D=8 / at D=4)" in words
    assert ("Tuned at an end of its grid: D=4: vanilla step 0.125 (smallest of the grid); "
            "D=8: vanilla step 0.125") in words
    fig.draw_without_rendering()  # lays out the constrained layout
    box = text.get_window_extent()
    assert box.y0 >= 0 and box.y1 <= fig.bbox.y1  # inside the figure: nothing spills
    assert fig.axes[0].get_position().height > 0.5  # the curves keep most of the height


# ---- theory reference lines -------------------------------------------------------------

def _points(xs, ys) -> list[dict]:
    return [{"x": x, "estimate": y, "lower": y * 0.8, "upper": y * 1.2} for x, y in
            zip(xs, ys, strict=True)]


def test_tau_max_panel_draws_the_flat_bound_and_slope_one(tmp_path):
    tests = {"clipped": {"ratio": {"points": _points([8, 16, 64], [100, 110, 105])},
                         "rho": 1.1, "rho_ci": [1.0, 1.2], "verdict": "supported"}}
    with style():
        fig, ax = new_figure(6, 4)
        growth_panel(ax, tests, horizon=1e4, margin=1.25)
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    flat = next(ln for lab, ln in lines.items() if lab.startswith("Thm 4.2: flat"))
    assert np.allclose(flat.get_ydata(), 125.0)
    one = next(ln for lab, ln in lines.items() if lab.startswith("slope 1"))
    assert np.allclose(one.get_ydata(), [100, 800])


def test_high_prob_shades_where_the_theorems_event_fails():
    with style():
        fig, ax = new_figure(4, 3)
        ax.set(xscale="log", yscale="log", xlim=(1e-3, 1), ylim=(1e-2, 1))
        event_region(ax, eps=0.05, delta=0.1)
    assert any(lab.startswith("Thm 4.3 excludes") for lab in _labels(ax))
    assert ax.get_xlim() == pytest.approx((1e-3, 1))


def test_dominant_term_of_theorem_4_2():
    assert dominant_term(0.2, 1, 0.8) == "sigma^2/eps^4"
    assert dominant_term(0.2, 8, 0.2) in ("sigma tau_C/eps^3", "tau_C/eps^2")
    assert dominant_term(0.2, 2, 0.1) == "tau_C/eps^2"


def _reading(xs, ys) -> dict:
    return {"points": _points(xs, ys), "rho": 1.0, "rho_ci": [0.9, 1.1], "verdict": "supported"}


def _rate_record() -> dict:
    sweeps = {"eps": [0.4, 0.2, 0.1], "tau_c": [2, 8, 32], "sigma": [0.1, 0.4, 1.6]}
    cfg = {"n": 8, "theta": 1.0, "K": 1.0, "replications": 5, "alpha": 0.05,
           "problem": {"name": "nonconvex"},
           "eps": {"grid": sweeps["eps"], "sigma": 0.8, "n": 1},
           "tau_c": {"grid": sweeps["tau_c"], "eps": 0.2, "sigma": 0.2},
           "sigma": {"grid": sweeps["sigma"], "eps": 0.2, "n": 2}}
    det = {}
    for sweep, grid in sweeps.items():
        r = _reading(grid, [1.0, 0.9, 0.8])
        det[sweep] = {**r, "control_verdict": "refuted",
                      "mechanism_control": _reading(grid, [1.0, 3.0, 9.0]),
                      "power_check_planted": _reading(grid, [1.0, 1.1, 1.2]),
                      "no_growth_control": _reading(grid, [100.0, 1000.0, 1e4])}
    rec = _record("rate_shape", cfg, det)
    rec["margin"] = 1.25
    return rec


def test_rate_shape_plots_T_with_the_theorems_slopes(tmp_path):
    root = _write(tmp_path, _rate_record())
    with style():
        drawn = rate_shape(root, "quick")
    eps_ax, tau_ax, sigma_ax = drawn.fig.axes[:3]
    assert eps_ax.get_xscale() == "log" and eps_ax.get_yscale() == "log"
    slopes = {ax: [lab for lab in _labels(ax) if lab.startswith("slope")]
              for ax in (eps_ax, tau_ax, sigma_ax)}
    assert [s.split(":")[0] for s in slopes[eps_ax]] == ["slope 4", "slope 3", "slope 2"]
    assert "(dominant)" in slopes[eps_ax][0]  # sigma^2/eps^4 at sigma = 0.8, tau_C = 1
    assert [s.split(":")[0] for s in slopes[tau_ax]] == ["slope 1"]
    assert [s.split(":")[0] for s in slopes[sigma_ax]] == ["slope 2", "slope 1"]
    guide = next(ln for ln in eps_ax.get_lines() if ln.get_label().startswith("slope 4"))
    x, y = guide.get_xdata(), guide.get_ydata()
    assert np.allclose(np.log(y[-1] / y[0]) / np.log(x[-1] / x[0]), 4)
    assert y[0] == pytest.approx(100.0) and x[0] == pytest.approx(2.5)  # at the data
    _readable(drawn.fig)


# ---- legends ----------------------------------------------------------------------------

def test_scheduler_caption_explains_its_colours_and_star(tmp_path):
    models = {m: {"verdict": v, "D=4": {"interval": [0.3, 0.4], "mean": 0.35,
                                        "exact_mva": 0.33, "caption": 0.337}}
              for m, v in (("exponential", "compatible"), ("deterministic", "refuted"))}
    root = _write(tmp_path, _record("scheduler_caption", {}, {"models": models}))
    with style():
        drawn = scheduler_caption(root, "quick")
    texts = [t.get_text() for leg in drawn.fig.legends for t in leg.get_texts()]
    assert any("compatible" in t for t in texts) and any("refuted" in t for t in texts)
    assert any("mean-value" in t for t in texts) and any("caption" in t for t in texts)
    _readable(drawn.fig)


def test_virtual_labels_the_bound_in_both_panels(tmp_path):
    reps = pd.DataFrame([{"algorithm": a, "tau_max": tm, "virtual_max": 0.5 * f,
                          "eta": 0.1, "tau_C": 8, "virtual_late": 0.01 * tm * f}
                         for a, f in (("clipped", 1), ("vanilla", 3)) for tm in (8, 16, 32)
                         for _ in range(2)])
    rec = _record("virtual", {"c": 4.0, "eta": 0.1, "virtual_from": 100},
                  {"bound_eta_c_tau_C": 3.2})
    root = _write(tmp_path, rec, {("tau_max", "reps"): reps})
    with style():
        drawn = virtual(root, "quick")
    for ax in drawn.fig.axes[:2]:
        assert any("bound" in lab for lab in _labels(ax))
    _readable(drawn.fig)


def _delay_record() -> dict:
    """A planted delay_sweep verdict: one problem, D = 1 the no-straggler reference with the
    most calls (its markers sit at the top left, where a default legend goes)."""
    def row(D, alg, tau, calls):
        return {"D": D, "algorithm": alg, "tau_max": tau,
                "T": {"median": calls / 16, "ci": [calls / 20, calls / 12], "censored": 0,
                      "n": 10},
                "calls": {"median": calls, "ci": [calls * 0.8, calls * 1.2], "censored": 0,
                          "n": 10}}
    table = [row(1.0, "clipped", 15.0, 480.0), row(1.0, "vanilla", 15.0, 470.0),
             row(2.0, "clipped", 23.0, 260.0), row(2.0, "vanilla", 23.0, 270.0),
             row(4.0, "clipped", 39.0, 200.0), row(4.0, "vanilla", 39.0, 190.0)]
    test = {"verdict": "supported", "rho": 1.0, "rho_ci": [0.7, 1.3]}
    problem = {"table": table, "tests": {"clipped": test, "vanilla": test},
               "power_control": {"verdict": "refuted"}}
    cfg = {"reference_D": [1], "fresh_seeds": 10, "level": 0.95, "select_D": 2,
           "ratio_margin": 1.5}
    return _record("delay_sweep", cfg, {"problems": {"fig2": problem}})


def test_delay_sweep_keeps_its_legend_off_the_reference_and_ticks_the_measured_delays(
        tmp_path):
    from clipasgd.plots.delay_sweep import delay_sweep

    root = _write(tmp_path, _delay_record())
    with style():
        drawn = delay_sweep(root, "quick")
    ax = drawn.fig.axes[0]
    drawn.fig.canvas.draw()
    legend, box = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert legend.y1 <= box.y0  # below the axes: no marker can hide behind it
    refs = [ln for ln in ax.get_lines() if ln.get_marker() == "s" and len(ln.get_xdata())]
    assert sorted((ln.get_xdata()[0], ln.get_ydata()[0]) for ln in refs) == [
        (15.0, 470.0), (15.0, 480.0)]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["15", "23", "39"]
    _readable(drawn.fig)
