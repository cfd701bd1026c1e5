"""Rebuild the paper-scale publication after the fourth design amendment of the figure
claims (the slower stragglers' effect) and the grid-end report: fig2_speedup (/work/fresh5, simulated at
ab7340e), fig3_speedup (/work/fresh12, 84e66f6) and fig4_federated (/work/fresh9, 45e2652)
have their verdicts re-read from their paper tables by this commit's code (`pipeline verdict
CLAIM --scale paper`, nothing simulated again: every other field of the three records equal,
/work/rederive24/compare.py) and their notebooks re-executed; the other ten claims come from
/work/pub22 as published. The run record is merge_publication_23.py's (8 segments). Run with
the PUB clone (a clone of this commit) on PYTHONPATH:

    PYTHONPATH=/work/pub23/src python pilots/merge_publication_24.py
then in /work/pub23: python -m clipasgd.pipeline publish --scale paper --run-record
/work/pilot21/combined-run-24.json ; copy published/paper into the repository.
"""
import json
import shutil
import sys
from pathlib import Path

PUB = Path("/work/pub23")
sys.path.insert(0, str(PUB / "src"))
from clipasgd.publish import published_files  # noqa: E402

REREAD = {"fig2_speedup": "/work/fresh5", "fig3_speedup": "/work/fresh12",
          "fig4_federated": "/work/fresh9"}
PUB22 = Path("/work/pub22/published/paper/RUN.json")  # the 12 claims published before
others = [c for c in json.loads(PUB22.read_text())["claims"] if c not in REREAD]
for src, claims in [("/work/pub22", others)] + [(r, [c]) for c, r in REREAD.items()]:
    for f in published_files("paper", claims)[3:]:
        (PUB / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(src) / f, PUB / f)
run = json.loads(Path("/work/pilot21/combined-run-23.json").read_text())
run["how"] += (" Then (2026-12-07, commit eaa7538, the figure claims' fourth design "
               "amendment and the grid-end report): the verdicts of fig2_speedup, fig3_speedup and fig4_federated "
               "re-read from their paper tables and their notebooks re-executed, nothing "
               "simulated again (a few CPU-seconds, not in cpu_s).")
Path("/work/pilot21/combined-run-24.json").write_text(json.dumps(run, indent=1))
print(run["how"][-400:])
