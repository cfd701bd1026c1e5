"""Exploratory (not a verdict, decided after the runs): does Clipped ASGD's speedup over
Vanilla ASGD grow from D = 4 to D = 8, as the paper's figures say (fig4_federated 1.2x at D = 4,
1.3x at D = 8)? Per seed, log speedup at D = 8 less log speedup at D = 4 (seed i shares its
initialisation at every D), exp of its Hodges-Lehmann median with the exact signed-rank 95%
interval: the between-straggler-D form of the 'stragglers' effect', which the verdicts report
against the no-straggler D = 1 point instead. Reads the paper-scale tables of a published
run (fig4_federated: /work/fresh9 at 45e2652; fig2_speedup has one straggler D, 4, as the
paper's Figure 2).

    python pilots/straggler_effect_between_D.py /work/fresh9 fig4_federated
"""
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from clipasgd.claims._speedup import straggler_effect
from clipasgd.pipeline import claim_config
from clipasgd.time_to_target import run_times


def main(pairs: list[str]) -> None:
    cfg_all = yaml.safe_load(Path("config/config.yaml").read_text())
    for root, claim in zip(pairs[::2], pairs[1::2], strict=True):
        cfg = claim_config(cfg_all, claim, "paper")
        curves = pd.read_csv(Path(root) / "data" / "paper" / claim / "curves.csv")
        t = run_times(curves, cfg["metric"], cfg["target"], cfg["goal"],
                      ["D", "phase", "algorithm"])
        by_D = {float(D): {(ph, a): g.sort_values("seed")["T"].to_numpy()
                           for (ph, a), g in d.groupby(["phase", "algorithm"])}
                for D, d in t.groupby("D")}
        straggler_D = sorted(float(d) for d in cfg["D"])
        if len(straggler_D) < 2:
            print(f"{claim}: one straggler D ({straggler_D}): no between-D effect to read")
            continue
        lo, hi = straggler_D[:2]
        e = straggler_effect(by_D[hi], by_D[lo], cfg["cap"], cfg["level"])
        print(f"{claim}: speedup over vanilla at D = {hi:g} / at D = {lo:g}: {e['ratio']:.3f}x "
              f"[{e['ci_low']}, {e['ci_high']}], {e['n_pairs']} pairs, "
              f"{e['dropped_with_a_miss']} dropped; {e['reading']}")
        for D in (lo, hi):
            c, v = by_D[D]["fresh", "clipped"], by_D[D]["fresh", "vanilla"]
            print(f"  D = {D:g}: median T clipped {np.median(c):g}, vanilla {np.median(v):g}")


if __name__ == "__main__":
    main(sys.argv[1:])
