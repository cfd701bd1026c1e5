"""Session 30: does ``estimate``'s per-point price hold for the figure claims on this host?

The figure claims (about 28 of the 30 core-hours) were measured at paper scale on this host
only for ``delay_sweep``. A whole figure claim is 5-10 core-hours, more than a session, so
this checks the part of the model that carries most of their cost: the price of a first-grid
point at paper scale (the quick stamps' mean per problem, less warm-up, times
:func:`clipasgd.pipeline._work`) and the warm-up added once per shard job, on one shard job
(shard 1 of 16) of each of ``fig2_speedup``, ``fig3_speedup`` and ``fig4_federated``.

``python pilots/figure_shard_s30.py predict`` (before the run) prints, per claim, the
points shard 1 should own (first-grid index i with i % 16 == 0), the price per point and
the shard's predicted CPU seconds; ``python pilots/figure_shard_s30.py measure`` (after)
adds the CPU seconds in the paper stamps of the points that shard ran.
Run from the clone that runs the shards.
"""

from __future__ import annotations

import sys
from pathlib import Path

from clipasgd.pipeline import (
    _by_stratum,
    _mean,
    _stamps,
    _strata,
    _warmup,
    _work,
    claim_config,
    load_config,
    plan_points,
    shard_count,
)

CLAIMS = ("fig2_speedup", "fig3_speedup", "fig4_federated")
SHARD = 0  # index: the first of 16


def _predict(cfg: dict, root: Path, claim: str) -> tuple[list[str], dict[str, float], float]:
    """The keys shard 1 owns, the price per point by key, the warm-up added per job."""
    ccfg, mcfg = (claim_config(cfg, claim, s) for s in ("paper", "quick"))
    first = _strata(plan_points(ccfg, claim))
    mine = _strata(plan_points(mcfg, claim))
    secs = _stamps(root, "quick", claim, part="own")
    ref = _by_stratum({k: v for k, v in secs.items() if k in mine}, mine)
    work = _work(ccfg, mcfg)
    keys = [k for i, k in enumerate(first) if i % shard_count(cfg, "paper") == SHARD]
    price = {k: _mean(ref[first[k]]) * work for k in keys}
    warm = _warmup(root, "quick", claim) / shard_count(cfg, "quick")
    return keys, price, warm


def main(mode: str) -> None:
    cfg, root = load_config(), Path(".")
    print(f"{'claim':16s} {'points':>6s} {'per point':>9s} {'warm-up':>8s} {'predicted':>9s}"
          + (f" {'measured':>9s} {'warm-up':>8s} {'points':>6s} {'meas/pred':>9s}"
             if mode == "measure" else ""))
    for claim in CLAIMS:
        keys, price, warm = _predict(cfg, root, claim)
        pred = sum(price.values()) + warm
        line = (f"{claim:16s} {len(keys):6d} {_mean(list(price.values())):9.1f} {warm:8.1f} "
                f"{pred:9.1f}")
        if mode == "measure":
            got = _stamps(root, "paper", claim)
            warm_got = sum(_stamps(root, "paper", claim, part="warmup").values())
            ran = sum(k in got for k in keys)
            extra = sorted(set(got) - set(keys))
            cpu = sum(got.values())
            line += f" {cpu:9.1f} {warm_got:8.1f} {ran:6d} {cpu / pred:9.2f}"
            if extra:
                line += f"  (stamped but not predicted for shard 1: {len(extra)})"
        print(line)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "predict")
