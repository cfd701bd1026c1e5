"""Rerun one claim and refresh what depends on it: ``clipasgd rerun CLAIM`` (``make rerun``).

Snakemake reruns a job when its code, config section or inputs change, not on request;
this forces the claim's first job (its ``check_claim`` stamp, or its verdict for a claim
that reads another claim's data) with ``--forcerun``, so Snakemake reruns it and every job
downstream of it: the claim's shards and gather, the verdicts and notebooks of the claims
reading its data (e.g. ``virtual`` reads ``tau_max``'s runs), and
the summary and landing page (where a summary exists: other claims are not run for it).
Cached grid points whose cache key still matches are reused (a rerun
with unchanged code and config gives the same tables); delete ``data/<scale>/<claim>/``
first to recompute every point.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .claims import DATA_FROM, REGISTRY, get_claim

__all__ = ["dependents", "forced_files", "targets", "rerun_command", "rerun", "check_cores"]


def dependents(claim: str) -> list[str]:
    """The claims whose verdicts read ``claim``'s data (itself included), in registry order."""
    source = get_claim(claim).source
    if source != claim:
        return [claim]
    return [c for c in REGISTRY if DATA_FROM[c] == claim]


def forced_files(claim: str, scale: str) -> list[str]:
    """The outputs ``--forcerun`` names: the claim's check stamp (a simulated claim) or its
    verdict (a claim reading another's data); Snakemake reruns everything downstream."""
    if get_claim(claim).design is not None:
        return [f"data/{scale}/{claim}/checked.json"]
    return [f"data/{scale}/claims/{claim}.json"]


def targets(claim: str, scale: str, root: Path | str = ".") -> list[str]:
    """What the rerun refreshes: ``claim_<id>`` of the claim and of every claim reading its
    data, and the summary (landing page, ``runs.csv``) if one was built at ``scale``."""
    summary = f"data/{scale}/summary.json"
    return [*(f"claim_{c}" for c in dependents(claim)),
            *([summary] if (Path(root) / summary).is_file() else [])]


def rerun_command(claim: str, scale: str, cores: str = "all", dry_run: bool = False,
                  snakemake: str | None = None, root: Path | str = ".") -> list[str]:
    """The Snakemake command line that reruns ``claim`` at ``scale`` (run in ``root``)."""
    exe = [snakemake] if snakemake else [sys.executable, "-m", "snakemake"]
    return [*exe, *targets(claim, scale, root), "--cores", str(cores),
            *(["--dry-run"] if dry_run else []), "--forcerun", *forced_files(claim, scale),
            "--config", f"scale={scale}"]


def check_cores(cores: str) -> str:
    """``all`` or a whole number of cores >= 1, else a ``ValueError`` naming the value."""
    if cores != "all" and not (cores.isdigit() and int(cores) >= 1):
        raise ValueError(f"--cores: expected 'all' or a whole number >= 1, got {cores!r}")
    return cores


def rerun(claim: str, scale: str, cores: str = "all", dry_run: bool = False,
          config: str | Path = "config/config.yaml") -> dict:
    """Run :func:`rerun_command` (Snakemake's output goes to the console) after checking
    the claim, the scale (against ``config``) and the cores, so a typo is named before
    Snakemake starts; raises ``ValueError`` if one is wrong or Snakemake fails."""
    from .pipeline import check_scale, load_config

    get_claim(claim)
    check_scale(load_config(config), scale)
    cmd = rerun_command(claim, scale, check_cores(str(cores)), dry_run)
    code = subprocess.run(cmd, check=False).returncode
    if code != 0:
        raise ValueError(f"snakemake exited with {code}: {' '.join(cmd)}")
    return {"claim": claim, "scale": scale, "refreshed": dependents(claim),
            "forced": forced_files(claim, scale), "command": cmd}
