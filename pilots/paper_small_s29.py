"""Session 29: the paper run of the ten non-network claims on this (slower) host, read against
the published paper results and against the estimate recorded before it
(``pilots/estimate_small_paper_s29_pre.txt``).

Run from the clone that ran it:
``python pilots/paper_small_s29.py PUBLISHED_ROOT pilots/estimate_small_paper_s29_pre.txt``
(the prediction is read from the record's copy of ``estimate.json``: a later ``estimate``
overwrites the clone's). Prints,
per claim, whether the verdict file equals the published one in every field but its
provenance (``created``, ``git_commit``, ``python``, ``numpy``, ``version``), whether its
input tables hash the same, and the CPU seconds in its part stamps against the prediction;
then CPU and wall per rule from the run's benchmark files.
"""

from __future__ import annotations

import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

from clipasgd.pipeline import _stamped

PROVENANCE = {"created", "git_commit", "python", "numpy", "version", "tables_commit", "inputs"}


def _leaves(a: object, b: object, path: str = "") -> list[tuple[str, object, object]]:
    """The differing leaves of two verdict files (paths, theirs, ours)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in _leaves(a.get(k), b.get(k),
                                                                     f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        pairs = enumerate(zip(a, b, strict=True))
        return [d for i, (x, y) in pairs for d in _leaves(x, y, f"{path}[{i}]")]
    return [] if a == b or (a != a and b != b) else [(path, a, b)]


def _compare(mine: dict, pub: dict) -> str:
    """'same' where only provenance differs, else how many numbers differ and by how much
    at most (relative, to a floor of 1e-12: a gradient norm of 3.6e-15 is rounding);
    timing records left out; any other difference by name."""
    diffs = [d for d in _leaves(mine, pub) if d[0].split(".")[1] not in PROVENANCE
             and ".timing." not in d[0]]
    nums = [(a, b) for _, a, b in diffs if isinstance(a, float) and isinstance(b, float)]
    other = [p for p, a, b in diffs if not (isinstance(a, float) and isinstance(b, float))]
    if other:
        return "DIFFERENT: " + ", ".join(other[:3])
    rel = [abs(a - b) / max(abs(a), abs(b), 1e-12) for a, b in nums]
    return f"{len(nums)} floats, max rel {max(rel, default=0.0):.0e}" if nums else "same"


def _verdicts(root: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (root / "data/paper/claims").glob("*.json")}


def _cpu(root: Path, claim: str) -> tuple[float, float]:
    """CPU seconds and warm-up in a claim's part stamps, its ablations' included."""
    return tuple(_stamped(root, "paper", claim, part) for part in ("all", "warmup"))


def _prediction(record: Path) -> dict[str, float]:
    text = record.read_text()
    return json.loads(text[text.index("{"):])["cpu_seconds"]


def main(published: Path, record: Path) -> None:
    here, there = _verdicts(Path(".")), _verdicts(published)
    predicted = _prediction(record)
    print(f"{'claim':20s} {'verdict':26s} {'against published':28s} {'tables':7s} "
          f"{'CPU-s':>8s} {'warm-up':>8s} {'predicted':>9s} {'meas/pred':>9s}")
    tot_m = tot_p = 0.0
    for claim, mine in sorted(here.items()):
        pub = there[claim]
        same = _compare(mine, pub)
        tables = "equal" if mine.get("inputs") == pub.get("inputs") else "differ"
        cpu, warm = _cpu(Path("."), claim)
        pred = predicted.get(claim)
        ratio = f"{cpu / pred:9.2f}" if pred else f"{'-':>9s}"
        if pred:
            tot_m, tot_p = tot_m + cpu, tot_p + pred
        print(f"{claim:20s} {mine['verdict']:26s} {same:28s} {tables:7s} {cpu:8.1f} "
              f"{warm:8.1f} {pred or 0:9.1f} {ratio}")
    print(f"{'predicted claims':20s} {'':26s} {'':28s} {'':7s} {tot_m:8.1f} {'':8s} "
          f"{tot_p:9.1f} {tot_m / tot_p:9.2f}")
    rules: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for tsv in Path("logs/paper/bench").glob("*/*.tsv"):
        with tsv.open() as fh:
            row = next(csv.DictReader(fh, delimiter="\t"))
        r = rules[tsv.parent.name]
        r[0] += 1
        r[1] += float(row["cpu_time"])
        r[2] += float(row["s"])
    print("\nper rule (benchmark files, sampled: a lower bound)")
    for name, (jobs, cpu, wall) in sorted(rules.items(), key=lambda kv: -kv[1][1]):
        print(f"  {name:22s} {jobs:4d} jobs {cpu:9.1f} CPU-s {wall:9.1f} wall-s")
    print(f"  {'total':22s} {sum(r[0] for r in rules.values()):4d} jobs "
          f"{sum(r[1] for r in rules.values()):9.1f} CPU-s")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
