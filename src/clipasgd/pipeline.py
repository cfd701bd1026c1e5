"""Pipeline steps called by the Snakemake rules (``python -m clipasgd.pipeline ...``).

* ``simulate CLAIM``: run the claim's experiments into ``data/<scale>/<claim>/``.
* ``verdict CLAIM``: compute the verdict from that data into ``data/<scale>/claims/<claim>.json``.
* ``summary``: gather every verdict into ``data/<scale>/summary.json`` and ``summary.md``.

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

from .claims import CLAIM_IDS, SIMULATED, get_claim
from .provenance import atomic_write_text, config_hash, provenance, write_json
from .spec import SpecError, check_finite, load_yaml, validate

__all__ = ["load_config", "claim_config", "run_simulate", "run_verdict", "run_summary"]

ROOT = Path.cwd()
SCHEMA = "config/config.schema.json"


def load_config(path: str | Path = "config/config.yaml", schema: str | Path = SCHEMA) -> dict:
    """Read and validate the pipeline config."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"config file not found: {path}")
    cfg = load_yaml(path, what=str(path))
    check_finite(cfg, str(path))
    schema_path = Path(schema)
    if not schema_path.is_file():
        raise SpecError(f"config schema not found: {schema_path}")
    schema_doc = json.loads(schema_path.read_text())
    validate(cfg, schema_doc, what=str(path))
    for claim, section in cfg["claims"].items():  # each scale's merged section, too
        for scale, over in section.get("scales", {}).items():
            merged = _merge({k: v for k, v in section.items() if k != "scales"}, over)
            validate(merged, {"$ref": f"#/$defs/{claim}", "$defs": schema_doc["$defs"]},
                     what=f"{path}: claims.{claim} at scale {scale}")
    missing = [c for c in SIMULATED if c not in cfg["claims"]]
    if missing:
        raise SpecError(f"{path}: claims: no section for claim(s) {', '.join(missing)} "
                        "(every claim with its own simulation needs one)")
    return cfg


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def claim_config(cfg: dict, claim: str, scale: str) -> dict:
    """The claim's section with its ``scales[scale]`` overrides applied."""
    if scale not in cfg["scales"]:
        raise SpecError(f"unknown scale {scale!r}; configured: {', '.join(cfg['scales'])}")
    info = get_claim(claim)
    section = cfg["claims"][claim if claim in cfg["claims"] else info.source]
    overrides = section.get("scales", {}).get(scale, {})
    return _merge({k: v for k, v in section.items() if k != "scales"}, overrides)


def _data_dir(scale: str, claim: str) -> Path:
    return ROOT / "data" / scale / claim


def run_simulate(cfg: dict, claim: str, scale: str) -> Path:
    info = get_claim(claim)
    if info.simulate is None:
        raise SpecError(f"claim {claim!r} has no simulation of its own: it reads the data of "
                        f"{info.source!r} (simulate that one)")
    ccfg = claim_config(cfg, claim, scale)
    out = _data_dir(scale, claim)
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    info.simulate(ccfg, out, lambda msg: print(f"[{claim}:{scale}] {msg}", file=sys.stderr,
                                                 flush=True))
    meta = provenance(ccfg, ccfg.get("seed")) | {"claim": claim, "scale": scale,
                                                 "seconds": round(time.time() - start, 1)}
    write_json(out / "meta.json", meta)
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def run_verdict(cfg: dict, claim: str, scale: str) -> Path:
    info = get_claim(claim)
    ccfg = claim_config(cfg, claim, scale)
    data = _data_dir(scale, info.source)
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
    return out


def _fmt(x) -> str:
    if x is None:
        return "–"
    if isinstance(x, list | tuple):
        return "[" + ", ".join(_fmt(v) for v in x) + "]"
    return f"{x:.3g}" if isinstance(x, float) else str(x)


def render_summary(scale: str, rows: list[dict]) -> str:
    lines = [f"# Claim verdicts ({scale} scale)", "",
             "| claim | paper | verdict | negative control | statistic | CI | margin | figure |"
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
    ap.add_argument("step", choices=["simulate", "verdict", "summary", "check-config"])
    ap.add_argument("claim", nargs="?", help=f"one of {', '.join(CLAIM_IDS)}")
    ap.add_argument("--scale", default=None)
    ap.add_argument("--config", default="config/config.yaml")
    ap.add_argument("--claims", nargs="*", default=None, help="for summary")
    args = ap.parse_args(argv)
    try:
        cfg = load_config(args.config)
        scale = args.scale or cfg["scale"]
        if scale not in cfg["scales"]:
            raise SpecError(f"unknown scale {scale!r}; configured: {', '.join(cfg['scales'])}")
        if args.step == "check-config":
            for c in CLAIM_IDS:
                claim_config(cfg, c, scale)
            print(f"config OK (scale={scale}, hash {config_hash(cfg)})")
        elif args.step == "summary":
            run_summary(scale, args.claims or list(CLAIM_IDS))
        else:
            if not args.claim:
                raise SpecError(f"{args.step}: name a claim ({', '.join(CLAIM_IDS)})")
            (run_simulate if args.step == "simulate" else run_verdict)(cfg, args.claim, scale)
    except (SpecError, ValueError, FileNotFoundError) as err:
        print(f"pipeline {args.step}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
