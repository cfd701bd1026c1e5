"""Issue 20 pilot: CPU-s per run and time to target of clipped/vanilla at candidate quick
settings of fig2/fig3/fig4 (seeds: named_seed(cfg seed, "pilot", i)).
Usage: python pilots/fig_stats_pilot.py CLAIM 'json overrides' n_seeds [lrs...]"""

from __future__ import annotations

import json
import sys
import time

from clipasgd.claims import get_claim
from clipasgd.claims._speedup import _run
from clipasgd.claims.base import Run
from clipasgd.pipeline import claim_config, load_config
from clipasgd.time_to_target import run_times


def merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = merge(a[k], v) if isinstance(v, dict) and isinstance(a.get(k), dict) else v
    return out


claim, over, n = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
cfg = merge(claim_config(load_config(), claim, "quick"), over)
run = Run(cfg, get_claim(claim).arms, lambda *a, **k: None)
D = float(over.get("pilot_D", cfg["D"][0]))
for alg in ("clipped", "vanilla"):
    for eta in cfg["lrs"]:
        frames, t0 = [], time.process_time()
        for i in range(n):
            p = {"phase": "pilot", "seed_index": i, "D": D, "algorithm": alg, "eta": eta,
                 "c": float(cfg["clip"][0]) if alg == "clipped" else float("nan"),
                 "max_delay": 0}
            frames.append(_run(run, p, 0)["pilot"])
        cpu = (time.process_time() - t0) / n
        import pandas as pd
        T = run_times(pd.concat(frames), cfg["metric"], cfg["target"], cfg["goal"],
                      ["algorithm"])
        fin = T["final"].round(3).tolist()
        print(f"{claim} D={D:g} {alg} eta={eta:g}: {cpu:.2f} CPU-s/run T={T['T'].tolist()} "
              f"final={fin}", flush=True)
