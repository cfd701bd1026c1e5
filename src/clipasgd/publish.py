"""Published results: a finished scale's small outputs (verdict files, summary, landing page,
figure PNGs, executed notebooks' HTML) copied under ``published/<scale>/`` with a record of the
run (commit, machine, wall and CPU time), so a reader sees the verdicts without computing
them. Raw tables and cached parts stay out.

``python -m clipasgd.publish --record FILE -- COMMAND...`` runs COMMAND (the pipeline) and
writes its wall time and the CPU time of it and every process it waited for into FILE;
``python -m clipasgd.pipeline publish --scale S --run-record FILE`` then publishes;
``python -m clipasgd.publish --relink S`` rewrites a publication's landing page after a change
of the page's code (nothing recomputed); ``--cpu-per-rule S`` prints CPU seconds per rule.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from .claims import CLAIM_IDS, get_claim
from .provenance import atomic_write_text, config_hash, write_json

RESULTS = "published"

__all__ = ["RESULTS", "check_published", "current_claims", "machine", "publish",
           "published_files", "render_rule_cpu", "rule_cpu", "timed_run",
           "write_published_landing"]


def machine() -> dict:
    """What ran it: CPU model, cores, memory (Linux /proc where readable)."""
    info = {"system": platform.platform(), "cores": os.cpu_count(), "python":
            platform.python_version()}
    for path, key, field in (("/proc/cpuinfo", "cpu", "model name"),
                             ("/proc/meminfo", "memory", "MemTotal")):
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(field):
                    info[key] = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
    return info


def timed_run(cmd: list[str], record: Path) -> int:
    """Run ``cmd``; record its wall time and the user + system CPU of every process it
    waited for (``RUSAGE_CHILDREN``), the command, start and end (UTC)."""
    start, t0 = datetime.now(UTC), time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    rc = subprocess.call(cmd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    write_json(record, {"command": cmd, "returncode": rc, "wall_s": time.perf_counter() - t0,
                        "cpu_s": cpu, "started": start.isoformat(timespec="seconds"),
                        "ended": datetime.now(UTC).isoformat(timespec="seconds"),
                        "machine": machine()})
    return rc


def rule_cpu(root: Path, scale: str, since: float | None = None
             ) -> dict[str, dict[str, float]]:
    """Per Snakemake rule at ``scale``: jobs, wall and CPU seconds summed over its benchmark
    files (``logs/<scale>/bench/<rule>/*.tsv``, and ``logs/bench/fetch_data/``), those
    written at or after ``since`` (a POSIX time: the run's start) where given. A lower
    bound on CPU: Snakemake samples a job's processes every 0.5 s for its first 15 s, then
    every 30 s, and the CPU after the last sample is lost (NA: never sampled)."""
    out: dict[str, dict[str, float]] = {}
    logs = Path(root) / "logs"
    for path in sorted([*(logs / scale / "bench").glob("*/*.tsv"),
                        *(logs / "bench").glob("*/*.tsv")]):
        lines = path.read_text().splitlines()
        if len(lines) < 2 or (since is not None and path.stat().st_mtime < since):
            continue
        row = dict(zip(lines[0].split("\t"), lines[-1].split("\t"), strict=False))
        acc = out.setdefault(path.parent.name, {"jobs": 0, "wall_s": 0.0, "cpu_s": 0.0})
        acc["jobs"] += 1
        acc["wall_s"] += float(row.get("s", 0) or 0)
        cpu = row.get("cpu_time", "NA")
        acc["cpu_s"] += float(cpu) if cpu not in ("NA", "") else 0.0
    return out


def render_rule_cpu(per_rule: dict[str, dict[str, float]]) -> str:
    """A Markdown table of :func:`rule_cpu`, the costliest rule first, with a total."""
    lines = ["| rule | jobs | wall s (summed) | CPU s (sampled: a lower bound) |",
             "|---|---|---|---|"]
    for rule, r in sorted(per_rule.items(), key=lambda kv: -kv[1]["cpu_s"]):
        lines.append(f"| {rule} | {r['jobs']} | {r['wall_s']:.0f} | {r['cpu_s']:.0f} |")
    total = {k: sum(r[k] for r in per_rule.values()) for k in ("jobs", "wall_s", "cpu_s")}
    lines.append(f"| total | {total['jobs']} | {total['wall_s']:.0f} | {total['cpu_s']:.0f} |")
    return "\n".join(lines)


def current_claims(root: Path, cfg: dict, scale: str) -> tuple[list[str], dict[str, str]]:
    """Claims whose verdict file at ``scale`` matches the current config section (by its
    recorded hash), and the others with why they are left out."""
    from .pipeline import claim_config

    have, left = [], {}
    for claim in CLAIM_IDS:
        path = root / "data" / scale / "claims" / f"{claim}.json"
        if not path.is_file():
            shards = root / "data" / scale / claim / "shards"
            done = len(list(shards.glob("*.json"))) if shards.is_dir() else 0
            left[claim] = (f"started, not finished: {done} of its shard jobs done (their "
                           "points are cached; the same run resumes)" if done else
                           "not run at this scale")
            continue
        rec = json.loads(path.read_text())
        if rec.get("config_hash") != config_hash(claim_config(cfg, claim, scale)):
            left[claim] = "its verdict file is from another config (stale): not published"
        else:
            have.append(claim)
    return have, left


def published_files(scale: str, claims: list[str]) -> list[str]:
    """Paths (relative to the repository root) a publication copies, in the same layout, so
    the landing page's links to notebooks keep working."""
    files = [f"data/{scale}/{name}" for name in ("summary.json", "summary.md", "index.html")]
    for claim in claims:
        files += [f"data/{scale}/claims/{claim}.json",
                  f"notebooks/executed/{scale}/{claim}.html"]
        files += [f"figures/{scale}/{name}.png" for name in get_claim(claim).figure_names]
    return files


def _reason(root: Path, scale: str, claim: str, why: str) -> str:
    """``why``, with the predicted cost where ``estimate`` stored one."""
    est = root / "data" / scale / "estimate.json"
    if est.is_file() and why == "not run at this scale":
        seconds = json.loads(est.read_text()).get("cpu_seconds", {}).get(claim)
        if seconds:
            why += f" (estimated {seconds / 3600:.1f} core-hours)"
    return why


def tables_line(rows: list[dict]) -> list[str]:
    """Where a verdict was read from tables simulated by another commit (re-read after a
    change of its reading only), the commits that simulated them, per claim."""
    other = {r["claim"]: r["tables_commit"] for r in rows
             if r.get("tables_commit") and r["tables_commit"] != r["git_commit"]}
    if not other:
        return []
    return ["* Tables simulated by another commit than their verdict's (the verdict re-read "
            "from them): " + ", ".join(f"`{c}` {h[:7]}" for c, h in sorted(other.items()))]


def _readme(scale: str, rows: list[dict], not_run: dict[str, str], run: dict) -> str:
    from .pipeline import _fmt

    m = run.get("machine", {})
    unrecorded = any(seg.get("cpu_s") is None for seg in run.get("segments", []))
    lines = [f"# Published results ({scale} scale)", "",
             f"The landing page: [data/{scale}/index.html](data/{scale}/index.html) (every "
             f"claim, verdict, figure); the table: [data/{scale}/summary.md]"
             f"(data/{scale}/summary.md); run record: [RUN.json](RUN.json).", "",
             f"* Code: commit {', '.join(sorted({r['git_commit'] for r in rows}))}",
             *tables_line(rows),
             f"* Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, "
             f"{m.get('memory', '?')} ({m.get('system', '?')})",
             f"* Run: {run.get('started', '?')} to {run.get('ended', '?')}, "
             f"{run.get('wall_s', 0) / 60:.1f} min wall, "
             f"{'at least ' if unrecorded else ''}{run.get('cpu_s', 0) / 3600:.2f} "
             "CPU-hours (the pipeline and every job it ran"
             + ("; a segment's CPU was not recorded, see RUN.json" if unrecorded else "")
             + ")",
             f"* Command: `{' '.join(run.get('command', []))}`", "",
             "| claim | verdict | negative control | statistic | interval |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['claim']} | **{r['verdict']}** | {r['control']['verdict']} | "
              f"{_fmt(r['statistic'])} | {_fmt(r.get('ci'))} |" for r in rows]
    if not_run:
        lines += ["", "Not published at this scale:", ""]
        lines += [f"* `{c}`: {why}" for c, why in sorted(not_run.items())]
    if run.get("per_rule"):
        lines += ["", "CPU per Snakemake rule, from the benchmark files the run wrote "
                  "(Snakemake samples each job every 0.5 s, then every 30 s after 15 s: the "
                  "CPU after a job's last sample is missing, so these are lower bounds; the "
                  "grid points' own stamps record their CPU exactly):", "",
                  render_rule_cpu(run["per_rule"])]
    return "\n".join(lines) + "\n"


def write_published_landing(pub: Path, scale: str) -> Path:
    """Rewrite ``<pub>/data/<scale>/index.html`` from the published verdict files and
    RUN.json, linking the committed PNGs (``figures/<scale>/``) instead of embedding them:
    the same page, a few tens of kB in place of megabytes of base64 in git."""
    from .landing import render_landing

    pub = Path(pub)
    run = json.loads((pub / "RUN.json").read_text())
    rows = [json.loads((pub / "data" / scale / "claims" / f"{c}.json").read_text())
            for c in run["claims"]]
    return atomic_write_text(pub / "data" / scale / "index.html",
                             render_landing(pub, scale, rows, run["not_run"], embed=False))


RELINK = "python -m clipasgd.publish --relink {scale}"


def _published(pub: Path, page_dir: Path, src: str) -> bool:
    """Whether ``src`` (an ``<img>`` link of the page in ``page_dir``) is a relative link
    to a file inside the publication ``pub``."""
    if src.startswith("/") or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", src):
        return False
    target = (page_dir / src).resolve()
    return target.is_relative_to(pub.resolve()) and target.is_file()


def _page_problems(pub: Path, scale: str, page: str) -> list[str]:
    """An embedded image, or a figure link in the landing page's text ``page`` that does not
    resolve to a file inside ``pub``."""
    page_dir = pub / "data" / scale
    links = re.findall(r'<img [^>]*src="([^"]+)"', page)
    problems = [f"the landing page links {src}, which is not a published file" for src in links
                if not src.startswith("data:") and not _published(pub, page_dir, src)]
    if any(src.startswith("data:") for src in links):
        problems.append("the landing page embeds its figures: rewrite it with "
                        + RELINK.format(scale=scale))
    return problems


def publish(root: Path, cfg: dict, scale: str, run: dict) -> Path:
    """Summarise the claims with a current verdict at ``scale`` (the others listed as not
    run), then copy the small files under ``published/<scale>/`` with ``RUN.json`` (the run
    record, commit, claims) and a README. Replaces an earlier publication whole."""
    from .pipeline import run_summary

    root = Path(root)
    claims, left = current_claims(root, cfg, scale)
    if not claims:
        raise FileNotFoundError(f"publish: no current verdict under data/{scale}/claims")
    not_run = {c: _reason(root, scale, c, why) for c, why in left.items()}
    started = run.get("started")
    since = datetime.fromisoformat(started).timestamp() if started else None
    run = {**run, "per_rule": run.get("per_rule") or rule_cpu(root, scale, since)}
    run_summary(scale, claims, not_run)
    files = published_files(scale, claims)
    missing = [f for f in files if not (root / f).is_file()]
    if missing:
        raise FileNotFoundError(f"publish: missing {', '.join(missing)}")
    dest = root / RESULTS / scale
    tmp = dest.with_name(f".{scale}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for f in files:
        (tmp / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / f, tmp / f)
    rows = [json.loads((root / "data" / scale / "claims" / f"{c}.json").read_text())
            for c in claims]
    commits = sorted({r["git_commit"] for r in rows})
    write_json(tmp / "RUN.json", {"scale": scale, "claims": claims, "not_run": not_run,
                                  "git_commits": commits, "run": run,
                                  "published": datetime.now(UTC).isoformat(timespec="seconds")})
    atomic_write_text(tmp / "README.md", _readme(scale, rows, not_run, run))
    write_published_landing(tmp, scale)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest


def check_published(root: Path, cfg: dict, scale: str) -> list[str]:
    """What is wrong with ``published/<scale>/`` against ``cfg`` (empty when nothing): every
    published verdict carries the hash of its own config section, that hash is the current
    config's (else the publication is stale: republish), its commit is recorded, every
    file is there, the landing page names every claim, run or not, and links (not embeds)
    figures that are published."""
    from .pipeline import claim_config

    pub = Path(root) / RESULTS / scale
    if not (pub / "RUN.json").is_file():
        return [f"{pub}: no RUN.json (nothing published)"]
    run, problems = json.loads((pub / "RUN.json").read_text()), []
    for claim in run["claims"]:
        rec = json.loads((pub / "data" / scale / "claims" / f"{claim}.json").read_text())
        if rec["scale"] != scale or rec["config_hash"] != config_hash(rec["config_section"]):
            problems.append(f"{claim}: its hash is not its own config section's")
        if rec["config_hash"] != config_hash(claim_config(cfg, claim, scale)):
            problems.append(f"{claim}: published from another config (stale): republish")
        if rec["git_commit"] not in run["git_commits"]:
            problems.append(f"{claim}: commit {rec['git_commit']} not in RUN.json")
    if set(run["claims"]) | set(run["not_run"]) != set(CLAIM_IDS):
        problems.append("RUN.json does not account for every claim")
    problems += [f"missing {f}" for f in published_files(scale, run["claims"])
                 if not (pub / f).is_file()]
    page_file = pub / "data" / scale / "index.html"
    page = page_file.read_text() if page_file.is_file() else ""
    problems += [f"the landing page does not name {c}" for c in CLAIM_IDS
                 if page and c not in page]
    return problems + _page_problems(pub, scale, page)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m clipasgd.publish", description=__doc__)
    ap.add_argument("--record", type=Path, help="where the run record goes")
    ap.add_argument("--cpu-per-rule", metavar="SCALE",
                    help="print CPU seconds per Snakemake rule at SCALE (benchmark files)")
    ap.add_argument("--relink", metavar="SCALE",
                    help="rewrite published/SCALE's landing page from its verdict files and "
                         "RUN.json (after a change of the page's code; nothing recomputed)")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ARGS...")
    args = ap.parse_args(argv)
    if (args.cpu_per_rule or args.relink) and (args.record or args.command):
        ap.error("--cpu-per-rule and --relink run no command (drop --record and --)")
    if args.relink:
        pub = Path.cwd() / RESULTS / args.relink
        if not (pub / "RUN.json").is_file():
            ap.error(f"--relink: {pub} holds no publication (no RUN.json)")
        print(write_published_landing(pub, args.relink))
        return 0
    if args.cpu_per_rule:
        per_rule = rule_cpu(Path.cwd(), args.cpu_per_rule)
        print(render_rule_cpu(per_rule) if per_rule else
              f"no benchmark files under logs/{args.cpu_per_rule}/bench/")
        return 0
    if args.record is None:
        ap.error("--record FILE is required to run a command")
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        ap.error("no command to run (give it after --)")
    return timed_run(cmd, args.record)


if __name__ == "__main__":
    sys.exit(main())
