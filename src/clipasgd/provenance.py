"""Provenance and atomic writes: every result file says where it came from."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import platform
import re
import subprocess
import tempfile
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__

__all__ = ["config_hash", "git_commit", "provenance", "atomic_write_text", "write_json",
           "write_csv", "to_jsonable", "describe_os_error", "input_fingerprint", "with_inputs",
           "read_stamp"]


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
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            os.fchmod(fh.fileno(), _file_mode())
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):  # name the file we meant, not the temporary one
            raise OSError(err.errno, err.strerror or str(err), str(path)) from None
        raise
    return path


def describe_os_error(err: OSError) -> str:
    """One line for a failed read or write, naming the path and, for the usual causes
    (full disk, read-only file system, no permission), what to do."""
    hint = {errno.ENOSPC: "the disk is full: free space or choose another folder",
            errno.EROFS: "the file system is read-only: choose another folder",
            errno.EACCES: "permission denied: choose a folder you can write"}.get(err.errno)
    where = f"{err.filename}: " if err.filename else ""
    return f"{where}{hint or err.strerror or err}"


def write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(to_jsonable(obj), indent=2, sort_keys=False,
                                              allow_nan=False) + "\n")


def write_csv(path: str | Path, frame) -> Path:
    return atomic_write_text(path, frame.to_csv(index=False))


# A section value that names a file whose content a result depends on: a data file, or
# user code as ``path.py`` or ``path.py:function`` (a user's update rule, say).
_FILE_VALUE = re.compile(r"^(?P<path>[^:\n]+\.(?:npy|npz|csv|txt|json|ya?ml|py))(?::\w+)?$")


def _named_files(section: Any) -> list[str]:
    if isinstance(section, dict):
        return [f for v in section.values() for f in _named_files(v)]
    if isinstance(section, list | tuple):
        return [f for v in section for f in _named_files(v)]
    if isinstance(section, str) and (m := _FILE_VALUE.match(section)):
        return [m["path"]]
    return []


def input_fingerprint(section: Any, root: str | Path | None = None) -> str:
    """SHA-256 (16 hex digits) over the content of every file a config section names
    (relative paths from ``root``, default the working directory), ``""`` if it names
    none: a file edited in place changes it, so the rules and caches keyed on it rerun.
    A missing file hashes as missing (the claim's own check names it)."""
    files = sorted(set(_named_files(section)))
    if not files:
        return ""
    base = Path.cwd() if root is None else Path(root)
    h = hashlib.sha256()
    for name in files:
        path = base / name
        h.update(name.encode() + b"\0")
        if path.is_file():
            st = path.stat()
            h.update(_file_digest(str(path.resolve()), st.st_mtime_ns, st.st_size))
        else:
            h.update(b"missing")
    return h.hexdigest()[:16]


@lru_cache(maxsize=256)
def _file_digest(path: str, mtime_ns: int, size: int) -> bytes:
    """A file's SHA-256, once per version (Snakemake asks for every job of a claim)."""
    return hashlib.sha256(Path(path).read_bytes()).digest()


def with_inputs(key: dict, root: str | Path | None = None) -> dict:
    """``key`` plus ``inputs``: the :func:`input_fingerprint` of the files it names (the
    key unchanged when it names none, so existing hashes stay valid)."""
    fingerprint = input_fingerprint(key, root)
    return {**key, "inputs": fingerprint} if fingerprint else key


def read_stamp(path: str | Path, required: tuple[str, ...] = ("hash", "tables", "files")
               ) -> tuple[dict | None, str]:
    """A JSON stamp as a dict with the ``required`` keys, or ``(None, why)`` when it is
    missing, truncated, empty or not such a dict: a damaged stamp is recomputed, not
    trusted, and never stops the run."""
    path = Path(path)
    if not path.is_file():
        return None, "missing"
    try:
        stamp = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as err:
        return None, f"unreadable ({type(err).__name__})"
    if not isinstance(stamp, dict) or any(k not in stamp for k in required):
        return None, f"not a stamp (need keys {', '.join(required)})"
    return stamp, ""
