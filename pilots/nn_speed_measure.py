"""CPU-s of one fig2 quick run (time_to_target.run_one) and of building its problem.

Usage: PYTHONPATH=src OPENBLAS_NUM_THREADS=1 python pilots/nn_speed_measure.py [data_dir [dtype]]
Seed: named_seed(cfg['seed'], 'fresh', 0) (the fresh phase's first seed), clipped arm.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from clipasgd.algorithms import make_algorithm
from clipasgd.claims.base import named_seed
from clipasgd.pipeline import claim_config, load_config
from clipasgd.problems import make_problem
from clipasgd.time_to_target import Setting, run_one


def main(data_dir: str, dtype: str | None = None) -> None:
    cfg = claim_config(load_config(), "fig2_speedup", "quick")
    cfg["problem"] = {**cfg["problem"], "data_dir": data_dir,
                      **({"dtype": dtype} if dtype else {})}
    t0 = time.process_time()
    problem = make_problem(**cfg["problem"])
    build_s = time.process_time() - t0
    t0 = time.process_time()
    make_problem(**cfg["problem"])
    rebuild_s = time.process_time() - t0
    s = Setting("clipped", cfg["lrs"][0], c=cfg["clip"][0])
    build = lambda n: make_algorithm("clipped_asgd", n, eta=s.eta, c=s.c).rule  # noqa: E731
    t0 = time.process_time()
    frame = run_one(problem, cfg, cfg["D"][0], s, build, named_seed(cfg["seed"], "fresh", 0))
    run_s = time.process_time() - t0
    print(json.dumps({"build_cpu_s": round(build_s, 2), "rebuild_cpu_s": round(rebuild_s, 2),
                      "run_one_cpu_s": round(run_s, 2), "rows": len(frame),
                      "final_acc": float(frame["test_accuracy"].iloc[-1]),
                      "acc_checksum": float(np.nansum(frame["test_accuracy"])),
                      "clip_checksum": float(np.nansum(frame["clip_fraction"]))}))


if __name__ == "__main__":
    main(*(sys.argv[1:] or ["data/raw"]))
