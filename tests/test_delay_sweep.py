"""The delay sweep's reading on planted tables: flat calls to target read supported, a rise
between two interior straggler points or a dip-and-return do not, D = 1 (no stragglers)
never enters the statistic, and the planted power control is refuted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clipasgd.claims.delay_sweep import PAPER_FRESH_SEEDS, decisive_at, growth, run_rows
from clipasgd.pipeline import claim_config, load_config

CFG = {"ratio_margin": 1.5, "slope_margin": 0.2, "alpha": 0.05, "reference_D": [1]}
GRID = (1.0, 2.0, 4.0, 8.0, 16.0)


def _runs(medians: dict[float, float], n: int = 20, sd: float = 0.05, seed: int = 0
          ) -> pd.DataFrame:
    """Runs of one algorithm: calls lognormal around ``medians[D]``, tau_max = 8 D + 7."""
    rng = np.random.default_rng(seed)
    rows = [{"D": D, "algorithm": "clipped", "seed": i,
             "calls": float(m * np.exp(sd * rng.standard_normal())),
             "calls_cap": 1e6, "tau_max": 8 * D + 7}
            for D, m in medians.items() for i in range(n)]
    return pd.DataFrame(rows).assign(T=lambda f: f["calls"] / 10)


def test_flat_calls_read_supported_and_the_planted_rise_refuted():
    runs = _runs(dict.fromkeys(GRID, 500.0))
    assert growth(runs, CFG)["verdict"] == "supported"
    assert growth(runs, CFG, planted=True)["verdict"] == "refuted"


def test_a_rise_between_two_interior_straggler_points_is_refuted():
    runs = _runs({1.0: 500.0, 2.0: 500.0, 4.0: 500.0, 8.0: 1500.0, 16.0: 500.0})
    g = growth(runs, CFG)
    assert g["verdict"] == "refuted"
    assert g["rise"][1] == 8.0  # the rise ends at D = 8


def test_a_dip_and_return_is_not_flat():
    runs = _runs({1.0: 500.0, 2.0: 500.0, 4.0: 200.0, 8.0: 500.0, 16.0: 500.0})
    g = growth(runs, CFG)
    assert g["verdict"] == "refuted"
    assert g["rho"] == pytest.approx(2.5, rel=0.1)


@pytest.mark.parametrize("at_D1", [5.0, 500.0, 50_000.0, np.inf])
def test_D1_never_enters_the_statistic(at_D1):
    base = _runs(dict.fromkeys(GRID[1:], 500.0))
    runs = pd.concat([base, _runs({1.0: at_D1}, seed=1)], ignore_index=True)
    g, without = growth(runs, CFG), growth(base, CFG)
    assert g["D"] == [2.0, 4.0, 8.0, 16.0]
    assert g["verdict"] == without["verdict"] == "supported"
    assert g["rho"] == without["rho"] and g["rho_ci"] == without["rho_ci"]
    assert g["slope"] == without["slope"]


def test_few_seeds_read_inconclusive_not_refuted():
    """Too few runs for a bounded median box: no reading either way (not a refutation)."""
    runs = _runs(dict.fromkeys(GRID, 500.0), n=2)
    assert growth(runs, CFG)["verdict"] == "inconclusive"


def test_run_rows_count_calls_to_target_and_misses_above_the_cap():
    curves = pd.DataFrame({
        "D": 2.0, "algorithm": "clipped", "tau_max": 23,
        "seed": [0, 0, 0, 1, 1, 1], "iter": [10, 20, 30, 10, 20, 30],
        "time": [1.0, 2.0, 3.0, 1.0, 2.0, 3.0],
        "test_accuracy": [0.5, 0.8, 0.9, 0.5, 0.6, 0.7]})
    pc = {"metric": "test_accuracy", "target": 0.75, "goal": "max"}
    rows = run_rows(curves, pc).set_index("seed")
    assert rows.loc[0, "calls"] == 20 and rows.loc[0, "T"] == 2.0
    assert np.isinf(rows.loc[1, "calls"]) and rows.loc[1, "calls_cap"] == 30
    assert (rows["tau_max"] == 23).all()


def test_grid_end_ties_read_the_problems_own_selection_at_select_D(tmp_path):
    """delay_sweep's grid ends say whether the end won only a tie on time: medians from the
    selection runs of that problem at ``select_D``, never another problem's or D's."""
    from clipasgd.claims.delay_sweep import _tuning_medians
    from clipasgd.time_to_target import at_grid_edge

    pc = {"metric": "acc", "target": 0.5, "goal": "max", "cap": 100.0, "select_D": 4,
          "lrs": [0.125, 0.25, 0.5], "clip": [1.0]}
    rows = []
    for name, D, eta, hit in [("a", 4, 0.125, 3.0), ("a", 4, 0.25, 3.0), ("a", 4, 0.5, 9.0),
                              ("a", 8, 0.25, 1.0), ("b", 4, 0.25, 1.0)]:
        for seed in range(2):
            rows += [{"problem_name": name, "D": D, "algorithm": "vanilla", "eta": eta,
                      "c": np.nan, "max_delay": 0, "seed": seed, "time": t,
                      "acc": float(t >= hit)} for t in (1.0, 3.0, 9.0)]
    pd.DataFrame(rows).to_csv(tmp_path / "select.csv", index=False)
    med = _tuning_medians(tmp_path, pc, "a")
    assert sorted(med["eta"]) == [0.125, 0.25, 0.5] and set(med["D"]) == {4}
    assert med.set_index("eta")["T"].to_dict() == {0.125: 3.0, 0.25: 3.0, 0.5: 9.0}
    chosen = [{"algorithm": "vanilla", "eta": 0.125, "c": None, "max_delay": 0,
               "select_median_T": 3.0}]
    assert at_grid_edge(chosen, pc, med)[0]["tied"] is True
    assert at_grid_edge(chosen, pc, _tuning_medians(tmp_path, pc, "b"))[0]["tied"] is False
    (tmp_path / "select.csv").unlink()
    assert _tuning_medians(tmp_path, pc, "a") is None


def test_the_decisive_seed_count_named_in_verdicts_is_the_configs_paper_scale():
    """The verdict says "pre-registered: paper scale (N fresh seeds ...)" and calls a run
    with fewer seeds' intervals wider: N must be the paper scale's config value."""
    cfg = load_config("config/config.yaml", "config/config.schema.json")
    assert claim_config(cfg, "delay_sweep", "paper")["fresh_seeds"] == PAPER_FRESH_SEEDS
    assert claim_config(cfg, "delay_sweep", "quick")["fresh_seeds"] < PAPER_FRESH_SEEDS
    assert decisive_at(PAPER_FRESH_SEEDS).endswith(f"this run: {PAPER_FRESH_SEEDS} fresh seeds")
    assert decisive_at(10).endswith("this run: 10 fresh seeds (wider intervals)")
