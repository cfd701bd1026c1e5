"""Provenance and atomic writes: every result file says where it came from."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__

__all__ = ["config_hash", "git_commit", "provenance", "atomic_write_text", "write_json",
           "write_csv", "to_jsonable"]


def to_jsonable(obj: Any) -> Any:
    """The package's one JSON converter: numpy scalars/arrays, tuples and dataclass results
    (anything with ``to_dict``) to plain JSON types; non-finite floats become ``None``, so
    ``json.dumps(..., allow_nan=False)`` never fails (results keep flags such as
    ``upper_bounded`` where an infinite bound carries meaning)."""
    if hasattr(obj, "to_dict") and not isinstance(obj, type):
        return to_jsonable(obj.to_dict())
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.bool_ | bool):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        f = float(obj)
        return f if np.isfinite(f) else None
    return obj


def config_hash(config: Any) -> str:
    """SHA-256 of the canonical JSON of a config (first 16 hex digits)."""
    text = json.dumps(to_jsonable(config), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def git_commit(root: str | Path | None = None) -> str:
    """``HEAD`` of the enclosing git repository, with ``+dirty`` for uncommitted changes."""
    cwd = Path(root or Path(__file__).resolve().parent)
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                              text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=cwd, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def provenance(config: Any, seed: int | None) -> dict:
    """Config, its hash, seed, package and library versions, git commit, time."""
    return {"config": to_jsonable(config), "config_hash": config_hash(config), "seed": seed,
            "package": "clipasgd", "version": __version__, "git_commit": git_commit(),
            "python": platform.python_version(), "numpy": np.__version__,
            "created": datetime.now(UTC).isoformat(timespec="seconds")}


def _file_mode() -> int:
    """``0666`` minus the process umask: what ``open()`` would give (0644 under umask 022)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write via a temporary file in the same folder and ``os.replace``: a reader never
    sees a half-written file, and an interrupted run leaves the old one intact. The file
    gets the usual umask-based mode (``mkstemp`` alone would leave it private, 0600)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            os.fchmod(fh.fileno(), _file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(to_jsonable(obj), indent=2, sort_keys=False,
                                              allow_nan=False) + "\n")


def write_csv(path: str | Path, frame) -> Path:
    return atomic_write_text(path, frame.to_csv(index=False))
