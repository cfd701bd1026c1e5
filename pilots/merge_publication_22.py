"""Merge fig4_federated's paper run (/work/fresh9, commit 45e2652) into the publication:
the 11 claims already published come from /work/pub21 (their verdicts, notebooks, figures);
a seventh run segment is added to the combined run record."""
import json, shutil, sys
from pathlib import Path

PUB = Path("/work/pub22")
sys.path.insert(0, str(PUB / "src"))
from clipasgd.publish import published_files, rule_cpu  # noqa: E402

old_claims = json.loads(Path("/work/main/published/paper/RUN.json").read_text())["claims"]
for src, claims in (("/work/pub21", old_claims), ("/work/fresh9", ["fig4_federated"])):
    for f in published_files("paper", claims)[3:]:
        (PUB / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(src) / f, PUB / f)
old = json.loads(Path("/work/pilot21/combined-run.json").read_text())
segs = list(old["segments"])
rec = json.loads(Path("/work/fresh9/logs/paper/run.json").read_text())
seg = {k: rec[k] for k in ("wall_s", "cpu_s", "returncode", "started", "ended")}
seg.update(claims=["fig4_federated"], command=rec.get("command"),
           per_rule=rule_cpu(Path("/work/fresh9"), "paper"))
segs.append(seg)
known = [s["cpu_s"] for s in segs if s.get("cpu_s") is not None]
run = {**old, "wall_s": sum(s["wall_s"] for s in segs), "cpu_s": sum(known), "segments": segs,
       "command": ["snakemake", "--config", "scale=paper", "only=[...]", "(seven segments: "
                   "see segments; the last three by `make publish SCALE=paper ONLY=...`)"],
       "how": old["how"] + " (7) fig4_federated at commit 45e2652 (its later stage in 16 "
              "stage shards) by `make publish SCALE=paper ONLY=fig4_federated CORES=2` on a "
              "fresh clone, install included, beside light work (targeted tests, edits) in "
              "its first 20 minutes."}
run["ended"] = max(s["ended"] for s in segs)
Path("/work/pilot21/combined-run-22.json").write_text(json.dumps(run, indent=1))
shutil.copy2("/tmp/eroot/data/paper/estimate.json", PUB / "data" / "paper" / "estimate.json")
print(json.dumps({k: v for k, v in run.items() if k != "segments"}, indent=1)[:1200])
print(json.dumps(seg, indent=1))
