"""Add delay_sweep's paper run to the paper-scale publication (issue 24, item 4).

The thirteen claims published before come from the repository's ``published/paper`` as they
are; delay_sweep's verdict file, notebook HTML and figures from RUN (the clone that ran
``make publish SCALE=paper ONLY=delay_sweep CORES=2``; with ``--redraw`` its notebook is
re-executed in PUB, so its figure is drawn by the publishing commit's plotting code, the
legend below the panels). The run record is the published one (8 segments) with RUN's
``logs/paper/run.json`` as the last segment, its CPU per rule from RUN's benchmark files. A
piece of the run stopped before it (``--interrupted START END``: its session's end killed it,
and the resumed run reused every finished point) is a segment of its own, its wall from the
two times, its CPU not recorded (the points' stamps hold theirs). PUB is a fresh clone of the
commit that publishes (set up with ``make setup``); the script copies the files into it,
publishes there and checks the result:

    PUB/.venv/bin/python pilots/merge_publication_26.py --run /work/fresh30 --pub /work/pub26 \
        --repo /work/main --redraw --note "..."

then copy PUB/published/paper over the repository's ``published/paper``.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

CLAIM = "delay_sweep"


def redraw(pub: Path) -> None:
    """The notebook rule's commands (rules/claims.smk), run in PUB for delay_sweep at paper."""
    nb, out = f"notebooks/executed/paper/{CLAIM}.ipynb", "notebooks/executed/paper"
    subprocess.run([sys.executable, "-m", "papermill", f"notebooks/{CLAIM}.ipynb", nb,
                    "-k", "python3", "-p", "scale", "paper", "--cwd", ".", "-p", "root", "."],
                   cwd=pub, check=True)
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html",
                    "--log-level", "WARN", "--TagRemovePreprocessor.enabled=True",
                    "--TagRemovePreprocessor.remove_input_tags=hide-input",
                    "--TagRemovePreprocessor.remove_cell_tags=parameters",
                    "--TagRemovePreprocessor.remove_cell_tags=injected-parameters",
                    nb, "--output-dir", out], cwd=pub, check=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True, help="the clone that ran delay_sweep")
    ap.add_argument("--pub", type=Path, required=True, help="a fresh clone to publish from")
    ap.add_argument("--repo", type=Path, required=True, help="holds published/paper now")
    ap.add_argument("--note", required=True, help="how the run went (commit, load, pieces)")
    ap.add_argument("--redraw", action="store_true",
                    help="re-execute delay_sweep's notebook in PUB (its figure and HTML drawn "
                         "by PUB's presentation code from the run's verdict file)")
    ap.add_argument("--interrupted", nargs=2, action="append", default=[],
                    metavar=("START", "END"), help="a piece of the run killed before the "
                    "recorded one (ISO times, UTC); repeat for each")
    args = ap.parse_args()
    sys.path.insert(0, str(args.pub / "src"))
    from clipasgd.pipeline import _measured
    from clipasgd.publish import published_files, rule_cpu

    old = json.loads((args.repo / "published/paper/RUN.json").read_text())
    if CLAIM in old["claims"] or CLAIM not in old["not_run"]:
        raise SystemExit(f"{CLAIM} is already published")
    record = args.run / "logs/paper/run.json"
    seg = json.loads(record.read_text())
    if seg["returncode"] != 0:
        raise SystemExit(f"{record}: the run failed (returncode {seg['returncode']})")
    for f in published_files("paper", old["claims"])[3:]:
        (args.pub / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(args.repo / "published/paper" / f, args.pub / f)
    for f in published_files("paper", [CLAIM])[3:]:
        (args.pub / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(args.run / f, args.pub / f)
    if args.redraw:  # the notebook reads only the verdict file: PUB's plotting code draws it
        redraw(args.pub)

    run = dict(old["run"])
    first, last = len(run["segments"]) + 1, len(run["segments"]) + 1 + len(args.interrupted)
    for start, end in args.interrupted:
        wall = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
        run["segments"] = [*run["segments"], {
            "cores": 2, "wall_s": wall, "cpu_s": None, "returncode": None, "started": start,
            "ended": end, "claims": [CLAIM], "note": "killed at its session's end; resumed by "
            "the next segment from the cached points (the killed jobs' points in progress were "
            "lost), so its CPU is not recorded here: the points' stamps hold it"}]
        run["wall_s"] += wall
    seg = {k: seg[k] for k in ("wall_s", "cpu_s", "returncode", "started", "ended", "command")}
    seg.update(claims=[CLAIM], per_rule=rule_cpu(args.run, "paper"),
               # every piece's points, the killed ones' included: what `estimate` compares
               stamp_cpu_s=round(_measured(args.run, "paper", CLAIM), 2))
    run["segments"] = [*run["segments"], seg]
    run["wall_s"] += seg["wall_s"]
    run["cpu_s"] += seg["cpu_s"]
    run["ended"] = seg["ended"]
    run["command"] = [*run["command"][:-1], f"({len(run['segments'])} segments: see segments; "
                      "the later ones by `make publish SCALE=paper ONLY=...`)"]
    pieces = f"{first}" if last == first else f"{first}-{last}"
    run["how"] = run["how"].replace(  # the first run's words, written when it had three
        "Three segments, resumed each time", "The first four segments, resumed each time").replace(
        "cpu_s sums the other two", "cpu_s leaves it out") + f" ({pieces}) {CLAIM}: {args.note}"
    combined = args.pub / "logs/paper/combined-run.json"
    combined.parent.mkdir(parents=True, exist_ok=True)
    combined.write_text(json.dumps(run, indent=1))
    subprocess.run([sys.executable, "-m", "clipasgd.pipeline", "publish", "--scale", "paper",
                    "--run-record", str(combined)], cwd=args.pub, check=True)
    from clipasgd.pipeline import load_config
    from clipasgd.publish import check_published

    problems = check_published(args.pub, load_config(args.pub / "config/config.yaml"), "paper")
    print("\n".join(problems) or "check_published: nothing wrong")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
