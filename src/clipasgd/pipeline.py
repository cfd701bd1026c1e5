"""Pipeline steps called by the Snakemake rules (``python -m clipasgd.pipeline ...``).

* ``simulate CLAIM``: run the claim's experiments into ``data/<scale>/<claim>/``.
* ``verdict CLAIM``: compute the verdict from that data into ``data/<scale>/claims/<claim>.json``.
* ``simulate CLAIM --shard k/K``: run only the k-th of K shares of the claim's grid points
  (their cached parts; one Snakemake job each); ``--stage NAME`` the same share of a later
  stage, once every shard of the stages before it is done; the plain ``simulate`` then
  gathers.
* ``summary``: gather every verdict into ``data/<scale>/summary.json``, ``summary.md``,
  the landing page ``index.html`` and the tidy table of all runs ``runs.csv``.
* ``check-config``: validate the config and build every claim's problems, workers and grid.
* ``estimate``: jobs and core-hours of a scale, from per-point seconds measured earlier.
* ``publish --run-record FILE``: copy the scale's current verdicts, summary, landing page,
  figures and notebooks' HTML under ``published/<scale>/`` with the run record
  (:mod:`clipasgd.publish`).

The config is validated (JSON schema, draft 2020-12) before any work, so a wrong key
fails at once with its name.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Literal

from . import claims as registry
from .algorithms import name_of
from .claims import CLAIM_IDS, base, get_claim, words
from .guard import MAX_SHARDS, check_count
from .mechanism import ablation_outcome, conditions_broken, fraction_clipped
from .provenance import (
    atomic_write_text,
    config_hash,
    describe_os_error,
    provenance,
    read_stamp,
    with_inputs,
    write_json,
)
from .runner import (
    Shard,
    Variant,
    ablated,
    check_stage,
    later_stages,
    plan,
    run_claim,
    run_variants,
)
from .spec import SpecError, check_finite, load_yaml, validate
from .tables import TableMismatch, damaged_tables

__all__ = ["load_config", "claim_config", "run_simulate", "run_verdict", "run_summary",
           "needed_ablations", "reuse_summary",
           "parse_shard", "run_shard", "check_claims", "plan_points", "estimate",
           "tidy_runs", "run_tables", "check_config", "write_merged_config",
           "shard_count", "logged_shell", "check_scale", "section_hash", "select_claims",
           "tables_state",
           "check_configfiles", "shard_name"]

ROOT = Path.cwd()
SCHEMA = "config/config.schema.json"


def load_config(path: str | Path = "config/config.yaml", schema: str | Path = SCHEMA,
                claims: list[str] | None = None) -> dict:
    """Read and validate the pipeline config (sections required: see :func:`check_config`)."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"config file not found: {path}")
    return check_config(load_yaml(path, what=str(path)), schema, str(path), claims)


def check_config(cfg: dict, schema: str | Path = SCHEMA, what: str = "config",
                 claims: list[str] | None = None) -> dict:
    """Validate a config already read (the Snakefile's, after ``--config`` overrides):
    finite numbers, the schema, each claim's section merged at every scale, and a section
    for every simulated claim (for the data of ``claims`` only, if given: a job on one
    claim imports no other claim's module)."""
    check_finite(cfg, what)
    schema_path = Path(schema)
    if not schema_path.is_file():
        raise SpecError(f"config schema not found: {schema_path}")
    schema_doc = json.loads(schema_path.read_text())
    validate(cfg, schema_doc, what=what)
    defs = schema_doc.get("$defs", {})
    for claim, section in cfg["claims"].items():  # as written, and merged at every scale
        if claim not in CLAIM_IDS:
            raise SpecError(f"{what}: claims.{claim}: no such claim; registered: "
                            f"{', '.join(CLAIM_IDS)}")
        if claim not in defs:
            raise SpecError(f"{what}: claims.{claim}: the schema {schema_path} has no "
                            f"$defs/{claim} entry to check it against")
        validate(section, {"$ref": f"#/$defs/{claim}", "$defs": defs}, what=what,
                 at=f"claims.{claim}")
        for scale, over in section.get("scales", {}).items():
            merged = _merge({k: v for k, v in section.items() if k != "scales"}, over)
            validate(merged, {"$ref": f"#/$defs/{claim}", "$defs": defs},
                     what=f"{what}: claims.{claim} at scale {scale}")
    needs = registry.SIMULATED if claims is None else {get_claim(c).source for c in claims}
    missing = [c for c in needs if c not in cfg["claims"]]
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


def select_claims(only: list[str] | None) -> list[str]:
    """The claims a run covers: ``only`` (in registry order), or every claim."""
    if not only:
        return list(CLAIM_IDS)
    unknown = sorted(set(only) - set(CLAIM_IDS))
    if unknown:
        raise SpecError(f"config 'only': unknown claim(s) {', '.join(unknown)}; valid: "
                        f"{', '.join(CLAIM_IDS)}")
    return [c for c in CLAIM_IDS if c in only]


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


def check_scale(cfg: dict, scale: str) -> str:
    """``scale`` if the config defines it, else a :class:`SpecError` naming the ones it does."""
    if scale not in cfg["scales"]:
        raise SpecError(f"unknown scale {scale!r}; configured: {', '.join(cfg['scales'])}")
    return scale


def claim_config(cfg: dict, claim: str, scale: str) -> dict:
    """The claim's section with its ``scales[scale]`` overrides applied, and the config's
    ``engine`` (so changing it reruns the simulations: their hashes and caches see it)."""
    check_scale(cfg, scale)
    info = get_claim(claim)
    section = cfg["claims"][claim if claim in cfg["claims"] else info.source]
    overrides = section.get("scales", {}).get(scale, {})
    merged = _merge({k: v for k, v in section.items() if k != "scales"}, overrides)
    return merged | {"engine": cfg.get("engine", base.DEFAULT_ENGINE)}


def _data_dir(scale: str, claim: str) -> Path:
    return ROOT / "data" / scale / claim


_POINT_DONE = re.compile(r"^(?:[\w-]+: )?grid point \d+/(\d+) \(.*\) done$")
_JOB_SHARE = re.compile(r"^(?:[\w-]+: )?(\d+) of (\d+) points in this job$")  # runner's
PROGRESS_MARK = " progress: "  # logged_shell copies the lines holding it to the console


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


class ProgressLine:
    """A simulate job's progress callback: every message goes to stderr (the job's log)
    under ``tag``; after each finished grid point also a line with :data:`PROGRESS_MARK`:
    points done / this job's share of the grid, elapsed, estimated remaining (elapsed per
    point so far times the points left), which ``logged_shell`` shows on the console."""

    def __init__(self, tag: str, part: Shard | None = None) -> None:
        self.tag, self.part, self.start = tag, part, time.time()
        self.done: dict[int, int] = {}
        self.owned: dict[int, int] = {}

    def share(self, size: int) -> int:
        """Points of a ``size``-point grid this job runs: as the runner said (an ablation's
        points run beside the claim's points they share), else round-robin."""
        if size in self.owned:
            return self.owned[size]
        return size if self.part is None else len(range(self.part.index, size, self.part.count))

    def __call__(self, msg: str) -> None:
        print(f"{self.tag} {msg}", file=sys.stderr, flush=True)
        said = _JOB_SHARE.match(msg)
        if said:
            self.owned[int(said.group(2))] = int(said.group(1))
            return
        hit = _POINT_DONE.match(msg)
        if not hit:
            return
        size = int(hit.group(1))
        done = self.done[size] = self.done.get(size, 0) + 1
        total, elapsed = self.share(size), time.time() - self.start
        left = elapsed / done * max(total - done, 0)
        print(f"{self.tag}{PROGRESS_MARK}{done}/{total} points, {_clock(elapsed)} elapsed, "
              f"~{_clock(left)} left", file=sys.stderr, flush=True)


def _variant(cfg: dict, claim: str, scale: str, part: Shard | None = None,
             ablate: str | None = None) -> Variant:
    """A claim's design (without the mechanism ``ablate``: into ``ablation-<mechanism>/``)
    as the runner takes it, with progress on stderr."""
    info = get_claim(claim)
    if info.design is None:
        raise SpecError(f"claim {claim!r} has no simulation of its own: it reads the data of "
                        f"{info.source!r} (simulate that one)")
    ccfg = claim_config(cfg, claim, scale)
    out, arms, variant = _data_dir(scale, claim), None, None
    if ablate is not None:
        ccfg, arms = ablated(info, ccfg, ablate)
        out, variant = out / f"ablation-{ablate}", f"without-{ablate}"
    tag = f"[{claim}:{scale}" + (f" without {ablate}" if ablate else "") + \
        (f" shard {part.index + 1}/{part.count}]" if part else "]")
    return Variant(ccfg, out, arms, variant, ProgressLine(tag, part))


def _simulate(cfg: dict, claim: str, scale: str, part: Shard | None = None,
              ablate: str | None = None) -> tuple[dict, Path, dict]:
    """Run a claim's design (one shard's points if ``part``; without the mechanism
    ``ablate``, into ``ablation-<mechanism>/``) into its data folder, with progress on
    stderr. Returns ``(merged section, folder, timing)``: wall ``seconds`` and this
    process's ``cpu_seconds`` (all threads), the numbers a before/after comparison of
    engines reads."""
    v = _variant(cfg, claim, scale, part, ablate)
    start, cpu = time.time(), time.process_time()
    run_claim(get_claim(claim), v.cfg, v.out, arms=v.arms, variant=v.variant, shard=part,
              progress=v.progress)
    return v.cfg, v.out, {"seconds": round(time.time() - start, 1),
                          "cpu_seconds": round(time.process_time() - cpu, 1)}


def needed_ablations(claim: str) -> list[str]:
    """The ablations of ``claim``'s design that some claim reading its data credits (each
    one's data are made beside the claim's, in its shard jobs)."""
    info = get_claim(claim)
    credited = {m for c in CLAIM_IDS if get_claim(c).source == claim
                for m in get_claim(c).credits}
    return [a.mechanism for a in info.ablations if a.mechanism in credited]


def reuse_summary(folder: Path) -> dict:
    """What the points in ``folder/parts`` reused instead of simulating, from their stamps:
    per label, the runs it took from which owner's arm (``{"clipped": {"tau_max:vanilla":
    5}}``), and how many points reused anything."""
    arms: dict[str, dict[str, int]] = {}
    points = reusing = 0
    for stamp in sorted((folder / "parts").glob("*.done.json")):
        done, _ = read_stamp(stamp, ())
        if done is None:
            continue
        points += 1
        reusing += bool(done.get("reused"))
        for r in done.get("reused", []):
            where = f"{r['from_owner']}:{r['from_label']}" if r["from_owner"] else r["from_label"]
            counts = arms.setdefault(r["label"], {})
            counts[where] = counts.get(where, 0) + 1
    return {"points": points, "points_reusing": reusing, "runs_reused": arms}


def run_simulate(cfg: dict, claim: str, scale: str, ablate: str | None = None) -> Path:
    """Run (or gather, from the cached points) a claim's whole grid, or its ablation's;
    write ``meta.json``."""
    ccfg, out, timing = _simulate(cfg, claim, scale, ablate=ablate)
    meta = provenance(ccfg, ccfg.get("seed")) | {"claim": claim, "scale": scale,
                                                 "engine": ccfg["engine"], **timing}
    if ablate is not None:
        meta["ablation"] = {"mechanism": ablate, "how": get_claim(claim).ablation(ablate).how,
                            "reused": reuse_summary(out)}
    write_json(out / "meta.json", meta)
    return out


def parse_shard(text: str, claim: str | None = None, stage: str | None = None) -> Shard:
    """``"k/K"`` (1 <= k <= K) -> the shard with index ``k - 1`` of ``K`` (of ``claim``'s
    later stage ``stage``, checked against its design, if given)."""
    try:
        k, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise SpecError(f"--shard: expected k/K with integers, got {text!r}") from None
    if not 1 <= k <= count:
        raise SpecError(f"--shard {text}: need 1 <= k <= K")
    if stage is not None:
        try:
            check_stage(get_claim(claim), stage)
        except ValueError as e:
            raise SpecError(f"--stage {stage}: {e}") from None
    return Shard(k - 1, count, stage)


def shard_name(part: Shard) -> str:
    """A shard job's stamp file name: ``<k>-of-<K>.json`` for the first grid,
    ``<stage>-<k>-of-<K>.json`` for a later stage (the Snakemake rules' outputs)."""
    prefix = f"{part.stage}-" if part.stage else ""
    return f"{prefix}{part.index + 1}-of-{part.count}.json"


def run_shard(cfg: dict, claim: str, scale: str, part: Shard,
              ablations: list[str] | None = None) -> Path:
    """Run one shard's grid points (parts only) of the claim and of its needed ablations
    (:func:`needed_ablations`; a run an ablation shares with the claim is simulated once:
    :func:`clipasgd.runner.run_variants`; of the later stage ``part.stage`` if set) and
    write its stamp ``data/<scale>/<claim>/shards/`` + :func:`shard_name` (the Snakemake
    job's output).
    ``ablations`` given (the Snakemake rule passes them), no other claim is imported."""
    ablations = needed_ablations(claim) if ablations is None else ablations
    variants = [_variant(cfg, claim, scale, part)] + [
        _variant(cfg, claim, scale, part, m) for m in ablations]
    start, cpu = time.time(), time.process_time()
    run_variants(get_claim(claim), variants, part)
    ccfg, out = variants[0].cfg, variants[0].out
    stamp = out / "shards" / shard_name(part)
    return write_json(stamp, {"claim": claim, "scale": scale, "stage": part.stage,
                              "shard": part.index + 1,
                              "of": part.count, "config_hash": config_hash(ccfg),
                              "code": base.code_fingerprint(), "engine": ccfg["engine"],
                              "ablations": ablations,
                              "seconds": round(time.time() - start, 1),
                              "cpu_seconds": round(time.process_time() - cpu, 1)})


def plan_points(ccfg: dict, claim: str) -> list[dict]:
    """The claim's first grid (what its shard jobs split), declared without running
    anything. Empty for a claim without a design, and for a real-data claim whose data
    set is not fetched yet (its check runs again in its simulate job)."""
    from .datasets import DataUnavailable

    info = get_claim(claim)
    if info.design is None:
        return []
    try:
        return plan(info, ccfg)
    except DataUnavailable:
        return []  # a real-data claim before its fetch_data job: grid known after it


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
    problems and workers build, its words render and its grid can be declared. Returns
    the number of grid points per claim."""
    counts = {}
    for claim in claims or list(CLAIM_IDS):
        ccfg = claim_config(cfg, claim, scale)
        where = f"claims.{get_claim(claim).source} (scale {scale})"
        check_finite(ccfg, where)
        _build_parts(ccfg, where)
        try:
            words.render(claim, ccfg)
            counts[claim] = len(plan_points(ccfg, claim))
        except (SpecError, TypeError, ValueError, KeyError, FileNotFoundError) as err:
            raise SpecError(f"{where}: {err}") from None
    return counts


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def ablation_mechanisms(claim: str) -> list[str]:
    """The credited mechanisms of ``claim`` whose removal its data's claim declares."""
    info = get_claim(claim)
    source = get_claim(info.source)
    return [m for m in info.credits if source.ablation(m) is not None]


def _ablations(info, ccfg: dict, scale: str) -> dict[str, dict]:
    """Each credited mechanism: the same reading on the design without it (or why not)."""
    source = get_claim(info.source)
    out = {}
    for mechanism in info.credits:
        ab = source.ablation(mechanism)
        if ab is None:
            why = (info.unablated or {}).get(
                mechanism, f"{info.source}'s design declares no ablation of {mechanism}")
            out[mechanism] = {"run": False, "why": why}
            continue
        acfg, _ = ablated(source, ccfg, mechanism)
        folder = _data_dir(scale, info.source) / f"ablation-{mechanism}"
        va = info.reading(acfg, folder)
        labels = [a.label for a in source.arms if a.role == "claim"]
        meta = folder / "meta.json"
        reused = json.loads(meta.read_text()).get("ablation", {}).get("reused") \
            if meta.is_file() else None
        out[mechanism] = {"run": True, "how": ab.how, "reused": reused, "verdict": va.verdict,
                          "statistic": va.statistic, "ci": va.ci,
                          "control": va.control.verdict,
                          "fraction_clipped": fraction_clipped(folder, labels,
                                                               info.clip_rows),
                          "data": str(folder.relative_to(ROOT))}
    return out


def run_verdict(cfg: dict, claim: str, scale: str) -> Path:
    info = get_claim(claim)
    ccfg = claim_config(cfg, claim, scale)
    data = _data_dir(scale, info.source)
    try:
        v = info.reading(ccfg, data)
    except TableMismatch as err:  # regather from the cached points, then read again
        print(f"[{claim}:{scale}] {err}: regathering", file=sys.stderr)
        _simulate(cfg, info.source, scale)
        v = info.reading(ccfg, data)
    inputs = sorted(p for p in data.glob("*.csv"))
    said = words.render(claim, ccfg)
    ablations = _ablations(info, ccfg, scale)
    verdict = ablation_outcome(v.verdict, ablations)
    labels = [a.label for a in get_claim(info.source).arms if a.role == "claim"]
    record = {"claim": info.id, "kind": info.kind, "paper_ref": info.paper_ref,
              "statement": said["statement"],
              "test": said["test"], "falsifier": said["falsifier"], "ran": said.get("ran"),
              **v.to_dict(), "verdict": verdict, "verdict_of_the_test": v.verdict,
              "mechanism": {"credits": list(info.credits), "ablations": ablations,
                            "fraction_clipped": fraction_clipped(data, labels,
                                                                 info.clip_rows),
                            "conditions_broken": conditions_broken(v.details)},
              "scale": scale,
              "inputs": {str(p.relative_to(ROOT)): _sha256(p) for p in inputs},
              "config_section": ccfg, **{k: val for k, val in provenance(ccfg, ccfg.get("seed"))
                                         .items() if k != "config"}}
    meta = data / "meta.json"  # the simulation's provenance: a verdict may be re-read later
    record["tables_commit"] = (json.loads(meta.read_text()).get("git_commit")
                               if meta.is_file() else None)
    out = ROOT / "data" / scale / "claims" / f"{claim}.json"
    write_json(out, record)
    print(f"[{claim}:{scale}] verdict: {verdict} (test: {v.verdict}, control: "
          f"{v.control.verdict})", file=sys.stderr)
    return out


def run_summary(scale: str, claims: list[str], not_run: dict[str, str] | None = None
                ) -> Path:
    from .report import mechanism_brief

    rows = []
    for claim in claims:
        path = ROOT / "data" / scale / "claims" / f"{claim}.json"
        rec = json.loads(path.read_text())
        rows.append({"claim": claim, "kind": rec.get("kind", "claim"),
                     "paper_ref": rec["paper_ref"], "verdict": rec["verdict"],
                     "control": rec["control"]["verdict"], "statistic": rec["statistic"],
                     "ci": rec["ci"], "margin": rec["margin"],
                     "mechanism": mechanism_brief(rec),
                     "figure": f"figures/{scale}/{claim}.png",
                     "notebook": f"notebooks/executed/{scale}/{claim}.html",
                     "verdict_file": str(path.relative_to(ROOT))})
    out = ROOT / "data" / scale / "summary.json"
    write_json(out, {"scale": scale, "claims": rows, "config_hash": config_hash(rows),
                     **({"not_run": not_run} if not_run else {})})
    atomic_write_text(out.with_suffix(".md"), render_summary(scale, rows, not_run))
    from .landing import write_landing

    write_landing(ROOT, scale, claims, not_run)
    tidy_runs(scale)
    return out


def run_tables(folder: Path) -> list[str]:
    """A simulated claim's per-run tables: the CSVs in its data folder with a ``rep``
    column (a row per run, or per run and target) and no ``iter`` column (trajectories, a
    row per checkpoint, stay in the claim's folder: ``curves.csv``)."""
    import pandas as pd

    names = []
    for path in sorted(folder.glob("*.csv")):
        columns = set(pd.read_csv(path, nrows=0).columns)
        if "rep" in columns and "iter" not in columns:
            names.append(path.stem)
    return names


def tidy_runs(scale: str, root: Path | None = None) -> Path:
    """One long table of every run across claims: ``data/<scale>/runs.csv`` with columns
    ``claim``, ``table``, ``algorithm`` (consistent names), ``label`` and each table's own
    columns (empty where a table has none), from every per-run table (:func:`run_tables`)
    of every simulated claim (claims reading another's data add none of their own)."""
    import pandas as pd

    root = root or ROOT
    frames = []
    for claim in registry.SIMULATED:
        folder = root / "data" / scale / claim
        for name in run_tables(folder):
            frame = pd.read_csv(folder / f"{name}.csv")
            if "algorithm" in frame:
                frame = frame.rename(columns={"algorithm": "label"})
                frame.insert(0, "algorithm", frame["label"].map(
                lambda label: name_of(label) or label))
            frame.insert(0, "table", name)
            frame.insert(0, "claim", claim)
            frames.append(frame)
    out = root / "data" / scale / "runs.csv"
    tidy = pd.concat(frames, ignore_index=True) if frames else \
        pd.DataFrame(columns=["claim", "table", "algorithm", "label"])
    atomic_write_text(out, tidy.to_csv(index=False))
    return out


def logged_shell(command: str, log: str = "log") -> str:
    """A rule's shell ``command`` with its output in the rule's log (this attempt; ``log``
    names the placeholder, e.g. ``log.txt``) and appended to ``<log>.history`` under a
    dated header: a run resumed after a kill keeps the killed attempt's log (Snakemake
    itself would overwrite the log). Progress lines (:class:`ProgressLine`) also go to the
    console (stderr)."""
    path = f"{{{log}:q}}"
    return ('( echo "=== attempt $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname) ==="; '
            f"{command} ) 2>&1 | tee -a {path}.history | tee {path}"
            f" | ( grep --line-buffered -F '{PROGRESS_MARK}' >&2 || true )")


DEFAULT_SHARDS = {"smoke": 3, "quick": 4, "paper": 16}


def shard_count(cfg: dict, scale: str) -> int:
    """Shard jobs per simulated claim: the config's top-level ``shards`` if set, else a
    default per scale (more at paper scale, where each point takes minutes)."""
    return check_count(cfg.get("shards", DEFAULT_SHARDS.get(scale, 4)), "shards", 1, MAX_SHARDS)


# Config keys whose value multiplies the simulation work of every point that reads them
# (anywhere in a claim's section: nested sweep horizons, a problem's evaluation set), and
# the later stages' sizes (tuning -> fresh seeds -> control seeds of the figure claims).
WORK_KEYS = ("replications", "replicates", "horizon", "cap", "n_eval", "n_batches")
PER_KEYS = ("eval_every",)  # work divides by these (an evaluation every so many steps)
STAGE_KEYS = ("fresh_seeds", "control_seeds")
ESTIMATE_FILE = "estimate.json"


def _leaves(section: object, path: tuple = ()) -> dict[tuple, float]:
    """Numeric leaves of a config section by path (through dicts and lists of dicts)."""
    if isinstance(section, dict):
        return {k: v for key, val in section.items() for k, v in _leaves(val, (*path, key))
                .items()}
    if isinstance(section, list) and section and all(isinstance(x, dict) for x in section):
        return {k: v for i, val in enumerate(section) for k, v in _leaves(val, (*path, i))
                .items()}
    if isinstance(section, int | float) and not isinstance(section, bool) and section > 0:
        return {path: float(section)}
    return {}


def _work(target: dict, measured: dict) -> float:
    """Per-point work at ``target`` relative to ``measured`` (two merged sections of one
    claim): for each key of :data:`WORK_KEYS`, the mean ratio over the paths holding it
    (sweeps with their own horizons each scale their own points), multiplied together, and
    divided likewise by :data:`PER_KEYS`. Every step's cost is taken to grow with the
    evaluation set: an upper bound where evaluation is not most of a step's cost."""
    t, m = _leaves(target), _leaves(measured)
    work = 1.0
    for key in (*WORK_KEYS, *PER_KEYS):
        ratios = [t[p] / m[p] for p in t if p[-1] == key and p in m]
        if ratios:
            mean = sum(ratios) / len(ratios)
            work *= mean if key in WORK_KEYS else 1 / mean
    return work


def _stage_size(ccfg: dict) -> float:
    """Size of a claim's later stages: the sum of its :data:`STAGE_KEYS` (0 where none)."""
    return sum(float(ccfg.get(k, 0)) for k in STAGE_KEYS)


def _stages(target: dict, measured: dict) -> float | None:
    """Size of the later stages at ``target`` relative to ``measured``, or None where a
    claim has no later stage."""
    size = _stage_size(measured)
    return _stage_size(target) / size if size > 0 else None


# Of a point's CPU: all, less the warm-up, the warm-up, numba's compiling within it.
Part = Literal["all", "own", "warmup", "compile"]


def _stamps(root: Path, scale: str, claim: str, folder: str = "parts", part: Part = "all"
            ) -> dict[str, float]:
    """CPU seconds (wall where a stamp predates them) per grid point key in the part stamps
    of ``data/<scale>/<claim>/<folder>`` (every stage's points: each is cached there):
    ``part="own"`` less the process's warm-up paid inside the point
    (``warmup_cpu_seconds``, :mod:`clipasgd.warmup`; none in stamps older than that
    field), ``part="warmup"`` that warm-up alone, ``part="compile"`` the numba compiling
    within it (``compile_cpu_seconds``; none in older stamps)."""
    out = {}
    for stamp in (root / "data" / scale / claim).glob(f"{folder}/*.done.json"):
        done, _ = read_stamp(stamp, ())
        value = done.get("cpu_seconds", done.get("seconds")) if done else None
        if value is not None:
            warm = float(done.get("warmup_cpu_seconds", 0.0))
            out[stamp.name.removesuffix(".done.json")] = {
                "all": float(value), "own": float(value) - warm, "warmup": warm,
                "compile": float(done.get("compile_cpu_seconds", 0.0))}[part]
    return out


def _ablation_seconds(root: Path, scale: str, claim: str, part: Part = "all") -> float:
    """CPU seconds in the part stamps of a claim's ablations (``ablation-*/parts``; ``part``
    as in :func:`_stamps`)."""
    folders = (root / "data" / scale / claim).glob("ablation-*/parts")
    return sum(sum(_stamps(root, scale, claim, f"{f.parent.name}/parts", part).values())
               for f in folders)


def _stamped(root: Path, scale: str, claim: str, part: Part = "all") -> float:
    """CPU seconds (``part`` as in :func:`_stamps`) stamped for a claim at ``scale``: its
    points' and its ablations'."""
    return (sum(_stamps(root, scale, claim, part=part).values())
            + _ablation_seconds(root, scale, claim, part))


def _warmup(root: Path, scale: str, claim: str) -> float:
    """The warm-up CPU seconds stamped for a claim at ``scale``, its ablations' included,
    less numba's compiling: that is paid once per machine and code change, by whichever
    process comes first (a fresh clone's quick run compiles the kernels inside a few of
    its points), not once per job, so it is not repeated per job at another scale."""
    return _stamped(root, scale, claim, "warmup") - _stamped(root, scale, claim, "compile")


def _measured(root: Path, scale: str, claim: str) -> float:
    """Every CPU second stamped for a claim at ``scale``: its points' and its ablations'."""
    return _stamped(root, scale, claim)


def _missing_data(ccfg: dict) -> str | None:
    """Why a claim's grid is unknown here (its data set is not fetched), else None."""
    from .datasets import DataUnavailable, needed, require, section_problems

    for problem in section_problems(ccfg):
        for name in needed(problem):
            try:
                require(name, problem.get("data_dir", "data/raw"))
            except DataUnavailable:
                return f"{name} not fetched (clipasgd fetch-data {name})"
    return None


PILOT_MIN_POINTS = 3  # a pilot's mean is used from this many first-grid points ...
PILOT_MAX_CV = 0.5    # ... whose costs agree (coefficient of variation at most this)


def _finished(root: Path, scale: str, claim: str, ccfg: dict) -> bool:
    """Whether the claim's grid was gathered at ``scale`` with this config section."""
    meta = root / "data" / scale / claim / "meta.json"
    return meta.is_file() and json.loads(meta.read_text()).get("config_hash") == config_hash(ccfg)


def _pilot_mean(pilot: list[float]) -> float | None:
    """The mean cost of a pilot's points, or None where they are too few or disagree: a
    shard owns every K-th point of the grid, a slice that misses the costly points of a
    grid whose points' costs vary (tails, rate_shape: up to 10x off)."""
    if len(pilot) < PILOT_MIN_POINTS:
        return None
    mean = sum(pilot) / len(pilot)
    sd = (sum((v - mean) ** 2 for v in pilot) / len(pilot)) ** 0.5
    return mean if mean > 0 and sd <= PILOT_MAX_CV * mean else None


STRATUM = "problem_name"  # a grid over several problems: a pilot is read per problem


def _strata(points: list[dict]) -> dict[str, str]:
    """Each grid point's stratum by key: its problem where the grid spans several."""
    return {p["key"]: str(p.get(STRATUM, "")) for p in points}


def _by_stratum(costs: dict[str, float], strata: dict[str, str]) -> dict[str, list[float]]:
    """Costs grouped by the stratum of their key (one group where ``strata`` is empty)."""
    out: dict[str, list[float]] = {}
    for key, value in costs.items():
        out.setdefault(strata.get(key, ""), []).append(value)
    return out


def _pilot_means(pilot: dict[str, float], strata: dict[str, str], needed: set[str]
                 ) -> dict[str, float] | None:
    """The pilot's mean per point in each stratum of ``needed``, or None unless
    :func:`_pilot_mean` accepts the pilot of every one. A pilot is the slice one shard ran
    first, and its mix of problems need not be the grid's (delay_sweep's first 29 paper
    points: 21 of fig2's and 8 of fig3's, which cost 2.2x as much; pooled, they read the
    grid cheap)."""
    groups = _by_stratum(pilot, strata)
    means = {s: _pilot_mean(groups.get(s, [])) for s in needed}
    return None if any(m is None for m in means.values()) else means  # type: ignore[misc]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _predict(cfg: dict, claim: str, scale: str, root: Path
             ) -> tuple[int, str, float] | str:
    """``(first-grid points, where measured, predicted CPU seconds)`` of a claim, or the
    reason it cannot be predicted.

    A claim gathered at ``scale`` with this config costs what its stamps say. Otherwise the
    largest other scale with stamps is the reference: the first grid's points at the
    reference's mean for their problem (where the grid spans several, ``problem_name``)
    and its later points (later stages, grids built from the first one's tables; grown with
    the stage sizes, else with the first grid's size), both scaled by :func:`_work`, then
    its ablations at their share of the claim's CPU there. Each point counts its own CPU,
    less the process's warm-up paid inside it (:mod:`clipasgd.warmup`: a shard's first
    point carries it, a sixth to a third of a quick figure claim's first grid), and the
    reference's warm-up, less numba's compiling (once per machine and code, not per job),
    is added once per shard job (not scaled by the work). A pilot
    (first-grid points already stamped at ``scale``: one shard run first), where
    :func:`_pilot_means` accepts it in every problem, prices the first grid at its means
    and scales the later points by its means over the reference's, weighted by each
    problem's share of the reference's CPU. Never less than stamped."""
    ccfg = claim_config(cfg, claim, scale)
    why = _missing_data(ccfg)
    if why:
        return why
    first = _strata(plan_points(ccfg, claim))
    so_far = _measured(root, scale, claim)
    if _finished(root, scale, claim, ccfg):
        return len(first), scale, so_far
    pilot = {k: v for k, v in _stamps(root, scale, claim, part="own").items() if k in first}
    for at in [s for s in reversed(cfg["scales"]) if s != scale]:
        secs = _stamps(root, at, claim, part="own")
        if not secs:
            continue
        mcfg = claim_config(cfg, claim, at)
        mine = _strata(plan_points(mcfg, claim))
        head = {k: v for k, v in secs.items() if k in mine}
        later = sum(v for k, v in secs.items() if k not in mine) if head else 0.0
        strata, ref = first, _by_stratum(head, mine)
        if not head or set(ref) != set(first.values()):  # an older grid, or a problem
            # with no stamped point here: every point in one pool
            strata, ref = dict.fromkeys(first, ""), {"": list((head or secs).values())}
        n = Counter(strata.values())  # target points per problem
        grow = _stages(ccfg, mcfg) or (len(first) / len(mine) if mine else 1.0)
        work, where = _work(ccfg, mcfg), at
        grid = sum(n[s] * _mean(ref[s]) for s in ref) * work
        means = _pilot_means(pilot, strata, set(ref))
        if means is not None:
            grid, where = sum(n[s] * means[s] for s in ref), f"{len(pilot)} {scale}+{at}"
            costly = [s for s in ref if sum(ref[s]) > 0]  # the reference grid re-priced
            if costly:  # by the pilot over what it cost: each problem by its CPU share
                work = sum(len(ref[s]) * means[s] for s in costly) / sum(
                    sum(ref[s]) for s in costly)
        elif pilot:
            where = f"{at} (pilot unused)"
        spent = sum(secs.values())
        ablations = _ablation_seconds(root, at, claim, "own") / spent if spent > 0 else 0.0
        warm = _warmup(root, at, claim) * shard_count(cfg, scale) / shard_count(cfg, at)
        total = (grid + later * grow * work) * (1 + ablations) + warm
        return len(first), where, max(so_far, total)
    means = _pilot_means(pilot, first, set(first.values()))
    pooled = _pilot_mean(list(pilot.values()))
    if means is not None or pooled is not None:  # nothing else measured: no later stage
        grid = (sum(means[s] for s in first.values()) if means is not None
                else len(first) * pooled)
        partial = _stage_size(ccfg) > 0 or bool(needed_ablations(claim))
        where = f"{len(pilot)} {scale}" + (", grid only" if partial else "")
        return len(first), where, max(so_far, grid)
    return f"{len(first)} points, never run at any scale (run a smaller scale first)"


def _last_prediction(root: Path, scale: str, claims: list[str]) -> str | None:
    """How far the prediction stored by the last ``estimate`` of ``scale`` was from the
    part stamps measured there since (claims with stamps only)."""
    path = root / "data" / scale / ESTIMATE_FILE
    if not path.is_file():
        return None
    last = json.loads(path.read_text())
    pairs = [(last["cpu_seconds"][c], _measured(root, scale, c))
             for c in claims if c in last["cpu_seconds"] and _stamps(root, scale, c)]
    if not pairs:
        return f"last prediction ({last['written']}): nothing measured at {scale} yet"
    pred, got = (sum(x) for x in zip(*pairs, strict=True))
    return (f"last prediction ({last['written']}, {len(pairs)} claims): {pred / 3600:.2f} "
            f"core-hours; measured in the part stamps: {got / 3600:.2f} "
            f"(measured / predicted = {got / pred:.2f})" if pred > 0 else None)


def estimate(cfg: dict, scale: str, root: Path | None = None) -> str:
    """A dry-run estimate of ``scale``: Snakemake jobs and core-hours per claim from the
    CPU seconds measured in part stamps of an earlier run (:func:`_predict`). Stores the
    prediction in ``data/<scale>/estimate.json`` and first says how far the previous one
    was from what was measured since."""
    root = root or ROOT
    shards = shard_count(cfg, scale)
    lines = [f"Estimate for scale {scale!r} ({shards} shard jobs per simulated claim)"]
    lines.append(_last_prediction(root, scale, list(registry.SIMULATED)) or
                 "no earlier prediction for this scale to compare with")
    lines.append(f"{'claim':<20} {'points':>6} {'measured at':>20} {'core-h':>8}")
    total, predicted, unknown = 0.0, {}, []
    for claim in registry.SIMULATED:
        got = _predict(cfg, claim, scale, root)
        if isinstance(got, str):
            unknown.append(claim)
            lines.append(f"{claim:<20} {'n/a':>6} {'-':>20} {'n/a':>8}  {got}")
            continue
        n, at, secs = got
        predicted[claim] = round(secs, 1)
        total += secs / 3600
        lines.append(f"{claim:<20} {n:>6} {at:>20} {secs / 3600:>8.2f}")
    stages = sum(1 + len(later_stages(get_claim(c))) for c in registry.SIMULATED)
    sims, ablations = len(registry.SIMULATED), sum(len(needed_ablations(c))
                                                   for c in registry.SIMULATED)
    jobs = shards * stages + 2 * sims + ablations + 2 * len(CLAIM_IDS) + 2
    lines.append(f"jobs: {jobs} ({sims} checks, {shards * stages} simulation shards, {sims} "
                 f"gathers, {ablations} ablation gathers, {len(CLAIM_IDS)} verdicts, "
                 f"{len(CLAIM_IDS)} notebooks, summary, all)")
    lines.append(f"core-hours: {total:.2f}" + (f" + n/a claims ({', '.join(unknown)})"
                                                if unknown else ""))
    lines.append("Points = the first (sharded) grid; later stages, nested grids and "
                 "ablations are scaled from their measured seconds ('5 paper+quick': the work per "
                 "point from 5 points already run at paper, a pilot shard, used where they "
                 "cost about the same, per problem where a grid spans several; the shares of "
                 "later stages and ablations from quick; "
                 "'5 paper, grid only': a pilot with no other scale measured, its later "
                 "stages and ablations left out, a lower bound: run quick first). "
                 "Otherwise work per point scales with "
                 f"{', '.join(WORK_KEYS)} (divided by {', '.join(PER_KEYS)}) wherever the "
                 "section sets them: an upper bound for the real-data claims. A point's CPU is "
                 "taken less the warm-up its process paid inside it (loading numba, a data set, "
                 "evaluation features), which is added once per shard job (numba's compiling, "
                 "once per machine and code change, is not). Wall time is about "
                 "core-hours / cores while shards outnumber cores.")
    write_json(root / "data" / scale / ESTIMATE_FILE,
               {"scale": scale, "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "cpu_seconds": predicted})
    return "\n".join(lines)


def _fmt(x) -> str:
    if x is None:
        return "–"
    if isinstance(x, list | tuple):
        return "[" + ", ".join(_fmt(v) for v in x) + "]"
    return f"{x:.3g}" if isinstance(x, float) else str(x)


def render_summary(scale: str, rows: list[dict], not_run: dict[str, str] | None = None
                   ) -> str:
    from .landing import SCALE_WARNINGS

    lines = [f"# Claim verdicts ({scale} scale)", ""]
    if scale in SCALE_WARNINGS:
        lines += [f"**{SCALE_WARNINGS[scale]}**", ""]
    lines += ["| claim | paper | verdict | negative control | statistic | CI | margin | does the "
              "credited mechanism act? | figure | notebook |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        name = r["claim"] + (" (simulator check)" if r.get("kind") == "check" else "")
        lines.append(f"| {name} | {r['paper_ref']} | **{r['verdict']}** | {r['control']} |"
                     f" {_fmt(r['statistic'])} | {_fmt(r['ci'])} | {_fmt(r['margin'])} |"
                     f" {_cell('; '.join(r.get('mechanism', [])))} |"
                     f" [png](../../{r['figure']}) | [html](../../{r['notebook']}) |")
    if not_run:
        lines += ["", f"Not run at this scale ({len(not_run)} claims): "
                  + "; ".join(f"`{c}`: {why}" for c, why in sorted(not_run.items()))]
    lines += ["", "A negative control should read *refuted*: it is a planted false variant the "
              "same test must reject. See `data/<scale>/claims/<claim>.json` for every field."]
    return "\n".join(lines) + "\n"


README_TABLE = ("<!-- claims table: generated from src/clipasgd/claims/words.yaml and the config "
                "by `python -m clipasgd.pipeline readme`; do not edit by hand -->",
                "<!-- end of claims table -->")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def readme_table(cfg: dict, scale: str) -> str:
    """The README's claims table: each claim's words rendered with its config at ``scale``
    (the same words as the verdict files, notebooks and landing page), under a line that
    says which scale's design "what ran" describes."""
    lines = [f"\"What ran\" is the design at the `{scale}` scale (the default; paper scale's "
             "is in each published verdict file, `published/paper/data/paper/claims/"
             "<claim>.json`, field `config_section`).", "",
             "| id | paper | credits | claim | what ran | what would have made it fail |",
             "|---|---|---|---|---|---|"]
    for claim in CLAIM_IDS:
        info = get_claim(claim)
        said = words.render(claim, claim_config(cfg, claim, scale))
        lines.append(f"| `{claim}` | {_cell(info.paper_ref)} | "
                     f"{', '.join(info.credits) or '–'} | {_cell(said['statement'])} | "
                     f"{_cell(said.get('ran', '–'))} | {_cell(said['falsifier'])} |")
    return "\n".join(lines)


def update_readme(cfg: dict, scale: str, path: Path, check: bool = False) -> bool:
    """Rewrite the README's generated claims table; with ``check``, only say whether it is
    current. Returns ``True`` when it is (or now is) current."""
    text = path.read_text()
    start, end = README_TABLE
    if start not in text or end not in text:
        raise SpecError(f"{path}: no generated claims table (markers {start!r} ... {end!r})")
    head, rest = text.split(start, 1)
    new = f"{head}{start}\n{readme_table(cfg, scale)}\n{end}{rest.split(end, 1)[1]}"
    if check or new == text:
        return new == text
    atomic_write_text(path, new)
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m clipasgd.pipeline", description=__doc__)
    ap.add_argument("step", choices=["simulate", "verdict", "summary", "check-config",
                                     "estimate", "readme", "publish"])
    ap.add_argument("claim", nargs="?", help=f"one of {', '.join(CLAIM_IDS)}")
    ap.add_argument("--scale", default=None)
    ap.add_argument("--config", default="config/config.yaml",
                    help="the (merged) config file; Snakemake passes its own merged copy")
    ap.add_argument("--claims", nargs="*", default=None, help="for summary")
    ap.add_argument("--shard", default=None, help="k/K: simulate only this share of the grid")
    ap.add_argument("--stage", default=None, metavar="NAME",
                    help="simulate --shard: split this later stage (after the first grid; "
                         "every earlier stage's points must be done) instead of the first grid")
    ap.add_argument("--ablate", default=None, metavar="MECHANISM",
                    help="simulate: the design with this credited mechanism removed")
    ap.add_argument("--ablations", default=None, metavar="M1,M2",
                    help="simulate --shard: the ablations to run beside the claim (default: "
                         "those a claim reading its data credits; Snakemake passes them)")
    ap.add_argument("--stamp", default=None, help="check-config: write this file when OK")
    ap.add_argument("--run-record", default=None, metavar="FILE",
                    help="publish: the run's record (python -m clipasgd.publish --record)")
    ap.add_argument("--check", action="store_true",
                    help="readme: only check that the generated claims table is current")
    args = ap.parse_args(argv)
    try:
        if args.claims is not None and args.step != "summary":
            raise SpecError(f"--claims is read by summary only, not by {args.step}")
        cfg = load_config(args.config, claims=[args.claim] if args.claim else None)
        scale = check_scale(cfg, args.scale or cfg["scale"])
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
        elif args.step == "readme":  # the claims table at the configured (default) scale
            if not update_readme(cfg, scale, ROOT / "README.md", check=args.check):
                raise SpecError("README.md's claims table is out of date: run "
                                "`python -m clipasgd.pipeline readme`")
        elif args.step == "summary":
            run_summary(scale, args.claims or list(CLAIM_IDS))
        elif args.step == "publish":
            from .publish import publish

            if not args.run_record or not Path(args.run_record).is_file():
                raise SpecError("publish: give --run-record FILE, the record written by "
                                "`python -m clipasgd.publish --record FILE -- snakemake ...`")
            run = json.loads(Path(args.run_record).read_text())
            print(publish(ROOT, cfg, scale, run))
        else:
            if not args.claim:
                raise SpecError(f"{args.step}: name a claim ({', '.join(CLAIM_IDS)})")
            if (args.shard or args.ablate) and args.step != "simulate":
                raise SpecError("--shard and --ablate apply to simulate only")
            if args.stage is not None and args.shard is None:
                raise SpecError("--stage applies to simulate --shard only")
            if args.ablate is not None and args.shard is not None:
                raise SpecError("--ablate and --shard do not combine: a shard job runs the "
                                "claim's ablations beside it (--ablations)")
            if args.ablate is not None:
                run_simulate(cfg, args.claim, scale, ablate=args.ablate)
            elif args.shard is not None:
                run_shard(cfg, args.claim, scale, parse_shard(args.shard, args.claim, args.stage),
                          None if args.ablations is None else
                          [m for m in args.ablations.split(",") if m])
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
