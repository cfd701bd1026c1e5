"""Merge fig3_speedup's paper run (/work/fresh12, commit 84e66f6) into the publication:
the 12 claims already published come from /work/pub22 (their verdicts, notebooks, figures);
an eighth run segment (or more, if the run was resumed: pass each run.json copy) is added to
the combined run record. Run with the PUB clone's own interpreter, after `git -C PUB pull`.

    /work/pub23/.venv/bin/python /work/merge_publish23.py /work/fresh12/logs/paper/run.json [...]
then in /work/pub23: python -m clipasgd.pipeline publish --scale paper --run-record
/work/pilot21/combined-run-23.json ; copy published/paper into /work/main.
"""
import json
import shutil
import sys
from pathlib import Path

PUB, RUN, CLAIM = Path("/work/pub23"), Path("/work/fresh12"), "fig3_speedup"
sys.path.insert(0, str(PUB / "src"))
from clipasgd.publish import published_files, rule_cpu  # noqa: E402

PUB22 = Path("/work/pub22/published/paper/RUN.json")  # the 12 claims published before
old_claims = [c for c in json.loads(PUB22.read_text())["claims"] if c != CLAIM]
for src, claims in (("/work/pub22", old_claims), (str(RUN), [CLAIM])):
    for f in published_files("paper", claims)[3:]:
        (PUB / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(src) / f, PUB / f)
old = json.loads(Path("/work/pilot21/combined-run-22.json").read_text())
segs = list(old["segments"])
for record in sys.argv[1:]:
    rec = json.loads(Path(record).read_text())
    seg = {k: rec[k] for k in ("wall_s", "cpu_s", "returncode", "started", "ended")}
    seg.update(claims=[CLAIM], command=rec.get("command"))
    segs.append(seg)
segs[-1]["per_rule"] = rule_cpu(RUN, "paper")  # every job's benchmark file of the run
known = [s["cpu_s"] for s in segs if s.get("cpu_s") is not None]
n = len(segs)
run = {**old, "wall_s": sum(s["wall_s"] for s in segs), "cpu_s": sum(known), "segments": segs,
       "command": ["snakemake", "--config", "scale=paper", "only=[...]", f"({n} segments: "
                   "see segments; the later ones by `make publish SCALE=paper ONLY=...`)"],
       "how": old["how"] + f" (8) {CLAIM} at commit 84e66f6 (its ablation's unclipped arm "
              "reused from the Vanilla runs) by `make publish SCALE=paper ONLY=fig3_speedup "
              "CORES=2` on a fresh clone, install included, beside two fresh-clone make + "
              "make test cycles in its first 70 minutes; its notebook re-executed afterwards on the same "
              "tables with the figure-layout fix of plots/speedup.py (the table beside the "
              "panels had spilled below them and squashed the curves), nothing recomputed."}
run["ended"] = max(s["ended"] for s in segs)
Path("/work/pilot21/combined-run-23.json").write_text(json.dumps(run, indent=1))
est = Path("/work/fresh13/data/paper/estimate.json")  # 3111e08's quick stamps (delay_sweep 5.6)
shutil.copy2(est, PUB / "data" / "paper" / "estimate.json")
print(json.dumps({k: v for k, v in run.items() if k != "segments"}, indent=1)[:1200])
