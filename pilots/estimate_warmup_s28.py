"""Session 28: the estimate with the warm-up recorded apart (2527dd2), against the model
before it, on the same quick stamps, and against measured paper-scale CPU.

Run from a clone that has run quick scale at 2527dd2 or later (its stamps carry
``warmup_cpu_seconds``) and has the data sets fetched::

    python pilots/estimate_warmup_s28.py --quick /work/fresh33 --paper-run /work/fresh30

* "new": :func:`clipasgd.pipeline._predict` on the quick stamps as they are;
* "old": the same stamps with the field removed (the warm-up read as work, as before);
* delay_sweep also with its 29-point pilot: the first 29 first-grid points the paper run
  in ``--paper-run`` stamped (by modification time), as recorded in session 26's
  ``estimate_delay_sweep_paper_pilot_s26.txt``, its mean read pooled (before) and per
  problem (``pipeline._pilot_means``); "pooled" reads every point as one problem, in the
  quick-alone prediction too. The pilot's paper stamps (d74df03) carry no warm-up field:
  only quick's warm-up is taken apart.

delay_sweep's paper run was measured on this host; the other claims' on the earlier,
faster one, against predictions from that host's quick stamps (README, "Checked against
measured paper-scale runs"). For those, measured / new is read as
(measured / old there) x (old / new here): the warm-up's share of the quick stamps is
taken to be the same on both hosts (an assumption, not a measurement).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from clipasgd import claims as registry
from clipasgd import pipeline

# measured / predicted from quick alone, recorded in the README before this session
# (CPU-s in the part stamps, ablations included; predictions from the earlier host's quick
# stamps). fig3's 8.25 core-hours is quick alone recorded before its run.
EARLIER = {"fig2_speedup": (10891, 16460), "fig4_federated": (11050, 13160),
           "fig3_speedup": (21636, 8.25 * 3600), "tau_max": (623, 703),
           "rate_shape": (997, 1438), "scheduler_caption": (175, 192),
           "federated_high_prob": (275, 267), "high_prob": (97, 113),
           "high_prob_tau_max": (40, 58), "federated": (27, 43), "tails": (504, 480)}


def _copy_stamps(src: Path, dst: Path, scale: str, strip: bool) -> None:
    for stamp in (src / "data" / scale).glob("*/**/*.done.json"):
        out = dst / stamp.relative_to(src)
        out.parent.mkdir(parents=True, exist_ok=True)
        done = json.loads(stamp.read_text())
        if strip:
            done.pop("warmup_cpu_seconds", None)
        out.write_text(json.dumps(done))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", type=Path, required=True)
    ap.add_argument("--paper-run", type=Path, required=True)
    ap.add_argument("--pilot-points", type=int, default=29)
    args = ap.parse_args()
    cfg = pipeline.load_config(args.quick / "config/config.yaml",
                               args.quick / "config/config.schema.json")
    tmp = Path(tempfile.mkdtemp())
    roots = {"new": tmp / "new", "old": tmp / "old"}
    for name, root in roots.items():
        _copy_stamps(args.quick, root, "quick", strip=name == "old")
    warm = {c: pipeline._warmup(args.quick, "quick", c) for c in registry.SIMULATED}
    quick = {c: pipeline._measured(args.quick, "quick", c) for c in registry.SIMULATED}
    print(f"{'claim':<20} {'quick CPU-s':>11} {'warm-up':>8} {'old pred':>9} {'new pred':>9}"
          f" {'old/new':>7} {'measured/new':>12}")
    there = {"old": 0.0, "new": 0.0, "measured": 0.0, "in_old": 0, "in_new": 0}
    for claim in registry.SIMULATED:
        got = {k: pipeline._predict(cfg, claim, "paper", r) for k, r in roots.items()}
        if any(isinstance(v, str) for v in got.values()):
            print(f"{claim:<20} n/a: {got['new']}")
            continue
        old, new = got["old"][2], got["new"][2]
        if claim == "delay_sweep":
            measured = pipeline._measured(args.paper_run, "paper", claim)
            ratio, how = measured / new, f"{measured:.0f} CPU-s here"
        elif claim in EARLIER:
            m, p = EARLIER[claim]
            ratio, how = m / p * old / new, f"{m / p:.2f} there x {old / new:.2f}"
            there["measured"] += m
            there["old"] += p
            there["new"] += p * new / old
            there["in_old"] += abs(m / p - 1) <= 0.25
            there["in_new"] += abs(ratio - 1) <= 0.25
        else:
            ratio, how = float("nan"), "not measured"
        print(f"{claim:<20} {quick[claim]:>11.1f} {warm[claim]:>8.1f} {old:>9.0f} {new:>9.0f}"
              f" {old / new:>7.2f} {ratio:>12.2f}  ({how})")
    print(f"the {len(EARLIER)} claims measured on the earlier host: measured / predicted "
          f"{there['measured']:.0f} / {there['old']:.0f} = "
          f"{there['measured'] / there['old']:.2f} before, {there['measured']:.0f} / "
          f"{there['new']:.0f} = {there['measured'] / there['new']:.2f} now (derived); "
          f"within 25%: {there['in_old']} before, {there['in_new']} now")
    # delay_sweep with its pilot: the first points the paper run stamped
    parts = args.paper_run / "data/paper/delay_sweep/parts"
    first = {p["key"] for p in pipeline.plan_points(
        pipeline.claim_config(cfg, "delay_sweep", "paper"), "delay_sweep")}
    stamps = sorted((s for s in parts.glob("*.done.json")
                     if s.name.removesuffix(".done.json") in first),
                    key=lambda s: s.stat().st_mtime)[:args.pilot_points]
    measured = pipeline._measured(args.paper_run, "paper", "delay_sweep")
    per_problem = pipeline._strata
    for name, root in roots.items():
        dst = root / "data/paper/delay_sweep/parts"
        dst.mkdir(parents=True, exist_ok=True)
        for s in stamps:
            shutil.copy(s, dst / s.name)
        for read in ("pooled", "per problem"):  # pooled: one stratum for every point
            try:
                pipeline._strata = (per_problem if read == "per problem" else
                                    lambda points: {p["key"]: "" for p in points})
                n, where, secs = pipeline._predict(cfg, "delay_sweep", "paper", root)
            finally:
                pipeline._strata = per_problem
            print(f"delay_sweep with the pilot ({where}), {name} model, {read}: "
                  f"{secs / 3600:.2f} core-hours; measured {measured / 3600:.2f}: "
                  f"measured / predicted {measured / secs:.2f}")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
