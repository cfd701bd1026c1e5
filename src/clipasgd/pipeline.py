"""Pipeline steps called by the Snakemake rules (``python -m clipasgd.pipeline ...``).

* ``simulate CLAIM``: run the claim's experiments into ``data/<scale>/<claim>/``.
* ``verdict CLAIM``: compute the verdict from that data into ``data/<scale>/claims/<claim>.json``.
* ``simulate CLAIM --shard k/K``: run only the k-th of K shares of the claim's grid points
  (their cached parts; one Snakemake job each); the plain ``simulate`` then gathers.
* ``summary``: gather every verdict into ``data/<scale>/summary.json``, ``summary.md``,
  the landing page ``index.html`` and the tidy table of all runs ``runs.csv``.
* ``check-config``: validate the config and build every claim's problems, workers and grid.
* ``estimate``: jobs and core-hours of a scale, from per-point seconds measured earlier.

The config is validated (JSON schema, draft 2020-12) before any work, so a wrong key
fails at once with its name.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
import time
from pathlib import Path

from .claims import CLAIM_IDS, SIMULATED, base, get_claim
from .guard import MAX_SHARDS, check_count
from .provenance import (
    atomic_write_text,
    config_hash,
    describe_os_error,
    provenance,
    read_stamp,
    with_inputs,
    write_json,
)
from .spec import SpecError, check_finite, load_yaml, validate
from .tables import TableMismatch, damaged_tables

__all__ = ["load_config", "claim_config", "run_simulate", "run_verdict", "run_summary",
           "parse_shard", "run_shard", "check_claims", "plan_points", "estimate",
           "tidy_runs", "ALGORITHM_NAMES", "check_config", "write_merged_config",
           "shard_count", "logged_shell", "section_hash", "tables_state", "check_configfiles"]

ROOT = Path.cwd()
SCHEMA = "config/config.schema.json"


def load_config(path: str | Path = "config/config.yaml", schema: str | Path = SCHEMA) -> dict:
    """Read and validate the pipeline config."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"config file not found: {path}")
    return check_config(load_yaml(path, what=str(path)), schema, str(path))


def check_config(cfg: dict, schema: str | Path = SCHEMA, what: str = "config") -> dict:
    """Validate a config already read (the Snakefile's, after ``--config`` overrides):
    finite numbers, the schema, each claim's section merged at every scale."""
    check_finite(cfg, what)
    schema_path = Path(schema)
    if not schema_path.is_file():
        raise SpecError(f"config schema not found: {schema_path}")
    schema_doc = json.loads(schema_path.read_text())
    validate(cfg, schema_doc, what=what)
    for claim, section in cfg["claims"].items():  # each scale's merged section, too
        for scale, over in section.get("scales", {}).items():
            merged = _merge({k: v for k, v in section.items() if k != "scales"}, over)
            validate(merged, {"$ref": f"#/$defs/{claim}", "$defs": schema_doc["$defs"]},
                     what=f"{what}: claims.{claim} at scale {scale}")
    missing = [c for c in SIMULATED if c not in cfg["claims"]]
    if missing:
        raise SpecError(f"{what}: claims: no section for claim(s) {', '.join(missing)} "
                        "(every claim with its own simulation needs one)")
    if "shards" in cfg:
        shard_count(cfg, cfg["scale"])
    return cfg


def write_merged_config(cfg: dict, folder: str | Path = ".snakemake/clipasgd") -> Path:
    """The config as Snakemake merged it (config file, ``--configfile``, ``--config``),
    written once to ``<folder>/config-<hash>.yaml``: the jobs read exactly this, so an
    override reaches them (and a later plain run sees its own config again)."""
    path = Path(folder) / f"config-{config_hash(cfg)}.yaml"
    if not path.is_file():
        import yaml

        atomic_write_text(path, yaml.safe_dump(cfg, sort_keys=False))
    return path


def check_configfiles(paths: list[str]) -> None:
    """Re-read the config files Snakemake merged with this package's loader: a duplicate key,
    an alias or an oversized file is refused (Snakemake's own loader accepts them)."""
    for path in paths:
        load_yaml(path, what=str(path))


def section_hash(cfg: dict, claim: str, scale: str) -> str:
    """What decides a claim's reruns: its merged section and the content of every file the
    section names (user data, user code), so a file edited in place reruns the claim."""
    return config_hash(with_inputs(claim_config(cfg, claim, scale)))


def tables_state(scale: str, claim: str) -> str:
    """``"ok"``, or which merged tables of the claim's data no longer match their manifest:
    a changed value reruns the verdict (which regathers them)."""
    bad = damaged_tables(_data_dir(scale, get_claim(claim).source))
    return "damaged: " + ", ".join(bad) if bad else "ok"


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def claim_config(cfg: dict, claim: str, scale: str) -> dict:
    """The claim's section with its ``scales[scale]`` overrides applied, and the config's
    ``engine`` (so changing it reruns the simulations: their hashes and caches see it)."""
    if scale not in cfg["scales"]:
        raise SpecError(f"unknown scale {scale!r}; configured: {', '.join(cfg['scales'])}")
    info = get_claim(claim)
    section = cfg["claims"][claim if claim in cfg["claims"] else info.source]
    overrides = section.get("scales", {}).get(scale, {})
    merged = _merge({k: v for k, v in section.items() if k != "scales"}, overrides)
    return merged | {"engine": cfg.get("engine", base.DEFAULT_ENGINE)}


def _data_dir(scale: str, claim: str) -> Path:
    return ROOT / "data" / scale / claim


def _simulate(cfg: dict, claim: str, scale: str, part: base.Shard | None = None
              ) -> tuple[dict, Path, dict]:
    """Run a claim's simulation (one shard's points if ``part``) into its data folder, with
    progress on stderr. Returns ``(merged section, folder, timing)``: wall ``seconds`` and
    this process's ``cpu_seconds`` (all threads), the numbers a before/after comparison
    of engines reads."""
    info = get_claim(claim)
    if info.simulate is None:
        raise SpecError(f"claim {claim!r} has no simulation of its own: it reads the data of "
                        f"{info.source!r} (simulate that one)")
    ccfg = claim_config(cfg, claim, scale)
    out = _data_dir(scale, claim)
    out.mkdir(parents=True, exist_ok=True)
    tag = f"[{claim}:{scale}" + (f" shard {part.index + 1}/{part.count}]" if part else "]")
    start, cpu = time.time(), time.process_time()
    with base.shard(part):
        try:
            info.simulate(ccfg, out, lambda m: print(f"{tag} {m}", file=sys.stderr, flush=True))
        except base.ShardDone:
            pass  # this shard's points are cached; later stages run in the gather job
    return ccfg, out, {"seconds": round(time.time() - start, 1),
                       "cpu_seconds": round(time.process_time() - cpu, 1)}


def run_simulate(cfg: dict, claim: str, scale: str) -> Path:
    """Run (or gather, from the cached points) a claim's whole grid; write ``meta.json``."""
    ccfg, out, timing = _simulate(cfg, claim, scale)
    meta = provenance(ccfg, ccfg.get("seed")) | {"claim": claim, "scale": scale,
                                                 "engine": ccfg["engine"], **timing}
    write_json(out / "meta.json", meta)
    return out


def parse_shard(text: str) -> base.Shard:
    """``"k/K"`` (1 <= k <= K) -> the shard with index ``k - 1`` of ``K``."""
    try:
        k, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise SpecError(f"--shard: expected k/K with integers, got {text!r}") from None
    if not 1 <= k <= count:
        raise SpecError(f"--shard {text}: need 1 <= k <= K")
    return base.Shard(k - 1, count)


def run_shard(cfg: dict, claim: str, scale: str, part: base.Shard) -> Path:
    """Run one shard's grid points (parts only) and write its stamp
    ``data/<scale>/<claim>/shards/<k>-of-<K>.json`` (the Snakemake job's output)."""
    ccfg, out, timing = _simulate(cfg, claim, scale, part)
    stamp = out / "shards" / f"{part.index + 1}-of-{part.count}.json"
    return write_json(stamp, {"claim": claim, "scale": scale, "shard": part.index + 1,
                              "of": part.count, "config_hash": config_hash(ccfg),
                              "code": base.code_fingerprint(), "engine": ccfg["engine"],
                              **timing})


def plan_points(ccfg: dict, claim: str) -> list[dict]:
    """The claim's grid points, from its ``simulate`` in planning mode (nothing runs;
    whatever it builds before its grid is checked on the way). Empty for a real-data claim
    whose data set is not fetched yet (its check runs again in its simulate job)."""
    import tempfile

    info = get_claim(claim)
    if info.simulate is None:
        return []
    from .datasets import DataUnavailable

    with tempfile.TemporaryDirectory() as tmp, base.planning():
        try:
            info.simulate(ccfg, Path(tmp), lambda msg: None)
        except base.Planned as plan:
            return plan.points
        except DataUnavailable:
            return []  # a real-data claim before its fetch_data job: grid known after it
    raise SpecError(f"claim {claim!r}: its simulate did not declare a grid (run_grid)")


def _build_parts(section: object, path: str) -> None:
    """Build every ``problem`` and ``workers`` section found in a claim's config."""
    from .compute_times import make_compute_times
    from .datasets import DataUnavailable
    from .noise import make_noise
    from .problems import make_problem

    if isinstance(section, list):
        for i, item in enumerate(section):
            _build_parts(item, f"{path}.{i}")
        return
    if not isinstance(section, dict):
        return
    for key, value in section.items():
        where = f"{path}.{key}"
        try:
            if key == "problem" and isinstance(value, dict):
                try:
                    make_problem(**value)  # parameters are checked before the data load
                except DataUnavailable:  # not fetched yet: the simulate job builds it again
                    pass
            elif key == "workers" and isinstance(value, dict):
                make_compute_times(value)
            elif key == "noise" and isinstance(value, dict):
                make_noise(**value)
        except (TypeError, ValueError, KeyError) as err:
            raise SpecError(f"{where}: {err}") from None
        _build_parts(value, where)


def check_claims(cfg: dict, scale: str, claims: list[str] | None = None) -> dict[str, int]:
    """Before any simulation: every claim's merged section at ``scale`` is finite, its
    problems and workers build, its specs check (when the module exposes ``specs(cfg)``)
    and its grid can be declared. Returns the number of grid points per claim."""
    from importlib import import_module

    from .spec import check_spec

    counts = {}
    for claim in claims or list(CLAIM_IDS):
        ccfg = claim_config(cfg, claim, scale)
        where = f"claims.{get_claim(claim).source} (scale {scale})"
        check_finite(ccfg, where)
        _build_parts(ccfg, where)
        specs = getattr(import_module(f"clipasgd.claims.{claim}"), "specs", None)
        try:
            for spec in specs(ccfg) if callable(specs) else []:
                check_spec(spec)
            counts[claim] = len(plan_points(ccfg, claim))
        except (SpecError, TypeError, ValueError, KeyError, FileNotFoundError) as err:
            raise SpecError(f"{where}: {err}") from None
    return counts


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def run_verdict(cfg: dict, claim: str, scale: str) -> Path:
    info = get_claim(claim)
    ccfg = claim_config(cfg, claim, scale)
    data = _data_dir(scale, info.source)
    try:
        v = info.verdict(ccfg, data)
    except TableMismatch as err:  # regather from the cached points, then read again
        print(f"[{claim}:{scale}] {err}: regathering", file=sys.stderr)
        _simulate(cfg, info.source, scale)
        v = info.verdict(ccfg, data)
    inputs = sorted(p for p in data.glob("*.csv"))
    record = {"claim": info.id, "paper_ref": info.paper_ref, "statement": info.statement,
              "test": info.test, "falsifier": info.falsifier, **v.to_dict(), "scale": scale,
              "inputs": {str(p.relative_to(ROOT)): _sha256(p) for p in inputs},
              "config_section": ccfg, **{k: val for k, val in provenance(ccfg, ccfg.get("seed"))
                                         .items() if k != "config"}}
    out = ROOT / "data" / scale / "claims" / f"{claim}.json"
    write_json(out, record)
    print(f"[{claim}:{scale}] verdict: {v.verdict} (control: {v.control.verdict})",
          file=sys.stderr)
    return out


def run_summary(scale: str, claims: list[str]) -> Path:
    rows = []
    for claim in claims:
        path = ROOT / "data" / scale / "claims" / f"{claim}.json"
        rec = json.loads(path.read_text())
        rows.append({"claim": claim, "paper_ref": rec["paper_ref"], "verdict": rec["verdict"],
                     "control": rec["control"]["verdict"], "statistic": rec["statistic"],
                     "ci": rec["ci"], "margin": rec["margin"],
                     "figure": f"figures/{scale}/{claim}.png",
                     "notebook": f"notebooks/executed/{scale}/{claim}.html",
                     "verdict_file": str(path.relative_to(ROOT))})
    out = ROOT / "data" / scale / "summary.json"
    write_json(out, {"scale": scale, "claims": rows, "config_hash": config_hash(rows)})
    atomic_write_text(out.with_suffix(".md"), render_summary(scale, rows))
    from .landing import write_landing

    write_landing(ROOT, scale, claims)
    tidy_runs(scale)
    return out


# Consistent algorithm names across claims and the CLI (the claims' table labels -> the
# names `clipasgd run` uses); the original label stays in column `label`.
ALGORITHM_NAMES = {"clipped": "clipped_asgd", "vanilla": "asgd", "vanilla_theory": "asgd",
                   "clipped_asgd": "clipped_asgd", "asgd": "asgd"}
RUN_TABLES = ("runs", "hits")  # per-run tables, in order of preference


def tidy_runs(scale: str, root: Path | None = None) -> Path:
    """One long table of every run across claims: ``data/<scale>/runs.csv`` with columns
    ``claim``, ``table``, ``algorithm`` (consistent names), ``label`` and each claim's
    own columns (empty where a claim has none). Uses each simulated claim's ``runs.csv``,
    else its ``hits.csv`` (a claim with neither adds no rows)."""
    import pandas as pd

    root = root or ROOT
    frames = []
    for claim in SIMULATED:
        for name in RUN_TABLES:
            path = root / "data" / scale / claim / f"{name}.csv"
            if path.is_file():
                frame = pd.read_csv(path)
                if "algorithm" in frame:
                    frame = frame.rename(columns={"algorithm": "label"})
                    frame.insert(0, "algorithm", frame["label"].map(ALGORITHM_NAMES)
                                 .fillna(frame["label"]))
                frame.insert(0, "table", name)
                frame.insert(0, "claim", claim)
                frames.append(frame)
                break
    out = root / "data" / scale / "runs.csv"
    tidy = pd.concat(frames, ignore_index=True) if frames else \
        pd.DataFrame(columns=["claim", "table", "algorithm", "label"])
    atomic_write_text(out, tidy.to_csv(index=False))
    return out


def logged_shell(command: str, log: str = "log") -> str:
    """A rule's shell ``command`` with its output in the rule's log (this attempt; ``log``
    names the placeholder, e.g. ``log.txt``) and appended to ``<log>.history`` under a
    dated header: a run resumed after a kill keeps the killed attempt's log (Snakemake
    itself would overwrite the log)."""
    path = f"{{{log}:q}}"
    return ('( echo "=== attempt $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname) ==="; '
            f"{command} ) 2>&1 | tee -a {path}.history > {path}")


DEFAULT_SHARDS = {"smoke": 3, "quick": 4, "paper": 16}


def shard_count(cfg: dict, scale: str) -> int:
    """Shard jobs per simulated claim: the config's top-level ``shards`` if set, else a
    default per scale (more at paper scale, where each point takes minutes)."""
    return check_count(cfg.get("shards", DEFAULT_SHARDS.get(scale, 4)), "shards", 1, MAX_SHARDS)


def _work(ccfg: dict) -> float:
    """A claim's work per point relative to another scale: replications x horizon x cap
    (a time-to-target run's simulated time) where the section has them at its top level. A
    rough guide, not a model of the cost: evaluation sets and per-sweep horizons are left out."""
    work = 1.0
    for key in ("replications", "horizon", "cap"):
        value = ccfg.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            work *= value
    return work


def _measured(cfg: dict, claim: str, scale: str, root: Path) -> tuple[str, float] | None:
    """(scale, mean seconds per grid point) from the part stamps of an earlier run,
    preferring ``scale`` itself, then the largest other scale with data. CPU seconds where
    the stamp has them (a loaded machine inflates wall seconds, not CPU), else wall."""
    for s in [scale, *reversed([x for x in cfg["scales"] if x != scale])]:
        secs = []
        for stamp in (root / "data" / s / claim / "parts").glob("*.done.json"):
            done, _ = read_stamp(stamp, ())
            value = done.get("cpu_seconds", done.get("seconds")) if done else None
            if value is not None:
                secs.append(value)
        if secs:
            return s, sum(secs) / len(secs)
    return None


def estimate(cfg: dict, scale: str, root: Path | None = None) -> str:
    """A dry-run estimate of ``scale``: Snakemake jobs and core-hours per claim,
    extrapolated from measured per-point seconds (scaled by replications x horizon)."""
    root = root or ROOT
    shards = shard_count(cfg, scale)
    lines = [f"Estimate for scale {scale!r} ({shards} shard jobs per simulated claim)",
             f"{'claim':<20} {'points':>6} {'s/point':>9} {'measured at':>11} {'core-h':>8}"]
    total, unknown = 0.0, []
    for claim in SIMULATED:
        ccfg = claim_config(cfg, claim, scale)
        n = len(plan_points(ccfg, claim))
        found = _measured(cfg, claim, scale, root)
        if found is None:
            unknown.append(claim)
            lines.append(f"{claim:<20} {n:>6} {'?':>9} {'-':>11} {'?':>8}")
            continue
        at, secs = found
        per = secs * _work(ccfg) / _work(claim_config(cfg, claim, at))
        total += n * per / 3600
        lines.append(f"{claim:<20} {n:>6} {per:>9.1f} {at:>11} {n * per / 3600:>8.2f}")
    jobs = shards * len(SIMULATED) + len(SIMULATED) + 2 * len(CLAIM_IDS) + 2
    lines.append(f"jobs: {jobs} ({shards * len(SIMULATED)} simulation shards, "
                 f"{len(SIMULATED)} gathers, {len(CLAIM_IDS)} verdicts, {len(CLAIM_IDS)} "
                 "notebooks, summary, all)")
    lines.append(f"core-hours: {total:.2f}" + (f" + unmeasured claims ({', '.join(unknown)}: "
                                                "run a smaller scale first)" if unknown else ""))
    lines.append("Wall time is about core-hours / cores while shards outnumber cores; the "
                 "longest grid point bounds it from below.")
    return "\n".join(lines)


def _fmt(x) -> str:
    if x is None:
        return "–"
    if isinstance(x, list | tuple):
        return "[" + ", ".join(_fmt(v) for v in x) + "]"
    return f"{x:.3g}" if isinstance(x, float) else str(x)


def render_summary(scale: str, rows: list[dict]) -> str:
    from .landing import SCALE_WARNINGS

    lines = [f"# Claim verdicts ({scale} scale)", ""]
    if scale in SCALE_WARNINGS:
        lines += [f"**{SCALE_WARNINGS[scale]}**", ""]
    lines += ["| claim | paper | verdict | negative control | statistic | CI | margin | figure |"
             " notebook |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['claim']} | {r['paper_ref']} | **{r['verdict']}** | {r['control']} |"
                     f" {_fmt(r['statistic'])} | {_fmt(r['ci'])} | {_fmt(r['margin'])} |"
                     f" [png](../../{r['figure']}) | [html](../../{r['notebook']}) |")
    lines += ["", "A negative control should read *refuted*: it is a planted false variant the "
              "same test must reject. See `data/<scale>/claims/<claim>.json` for every field."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m clipasgd.pipeline", description=__doc__)
    ap.add_argument("step", choices=["simulate", "verdict", "summary", "check-config",
                                     "estimate"])
    ap.add_argument("claim", nargs="?", help=f"one of {', '.join(CLAIM_IDS)}")
    ap.add_argument("--scale", default=None)
    ap.add_argument("--config", default="config/config.yaml",
                    help="the (merged) config file; Snakemake passes its own merged copy")
    ap.add_argument("--claims", nargs="*", default=None, help="for summary")
    ap.add_argument("--shard", default=None, help="k/K: simulate only this share of the grid")
    ap.add_argument("--stamp", default=None, help="check-config: write this file when OK")
    args = ap.parse_args(argv)
    try:
        cfg = load_config(args.config)
        scale = args.scale or cfg["scale"]
        if scale not in cfg["scales"]:
            raise SpecError(f"unknown scale {scale!r}; configured: {', '.join(cfg['scales'])}")
        if args.step == "check-config":
            claims = [args.claim] if args.claim else None
            counts = check_claims(cfg, scale, claims)
            points = ", ".join(f"{c} {n}" for c, n in counts.items() if n)
            print(f"config OK (scale={scale}, hash {config_hash(cfg)}; grid points: {points})")
            if args.stamp:
                write_json(args.stamp, {"scale": scale, "grid_points": counts,
                                        "code": base.code_fingerprint()})
        elif args.step == "estimate":
            print(estimate(cfg, scale))
        elif args.step == "summary":
            run_summary(scale, args.claims or list(CLAIM_IDS))
        else:
            if not args.claim:
                raise SpecError(f"{args.step}: name a claim ({', '.join(CLAIM_IDS)})")
            if args.shard is not None:
                if args.step != "simulate":
                    raise SpecError("--shard applies to simulate only")
                run_shard(cfg, args.claim, scale, parse_shard(args.shard))
            else:
                (run_simulate if args.step == "simulate" else run_verdict)(cfg, args.claim,
                                                                           scale)
    except (SpecError, ValueError, FileNotFoundError) as err:
        print(f"pipeline {args.step}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a full disk, a read-only file system: one line naming the path
        print(f"pipeline {args.step}: error: {describe_os_error(err)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
