"""Delay-sweep pilot (cost only): CPU-s per run of the figure claims' quick problems at
D in {1, 4, 16} (seeds: named_seed(cfg seed, "pilot", i), never selection/fresh seeds).
Usage: python pilots/delay_sweep_pilot.py CLAIM ETA n_seeds"""

from __future__ import annotations

import sys
import time

import pandas as pd

from clipasgd.claims import get_claim
from clipasgd.claims._speedup import _run
from clipasgd.claims.base import Run
from clipasgd.pipeline import claim_config, load_config
from clipasgd.time_to_target import run_times

claim, eta, n = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
cfg = claim_config(load_config(), claim, "quick")
run = Run(cfg, get_claim(claim).arms, lambda *a, **k: None)
for D in (1.0, 4.0, 16.0):
    for alg in ("clipped", "vanilla"):
        frames, t0 = [], time.process_time()
        for i in range(n):
            p = {"phase": "pilot", "seed_index": i, "D": D, "algorithm": alg, "eta": eta,
                 "c": 1.0 if alg == "clipped" else float("nan"), "max_delay": 0}
            frames.append(_run(run, p, 0)["pilot"])
        cpu = (time.process_time() - t0) / n
        f = pd.concat(frames)
        T = run_times(f, cfg["metric"], cfg["target"], cfg["goal"], ["algorithm"])
        print(f"{claim} D={D:g} {alg} eta={eta:g}: {cpu:.2f} CPU-s/run "
              f"events={f.groupby('seed')['iter'].max().tolist()} T={T['T'].tolist()}",
              flush=True)
