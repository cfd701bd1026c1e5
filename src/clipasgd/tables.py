"""A claim's merged tables, written with a manifest and verified before a verdict reads them.

:func:`write_tables` writes ``<name>.csv`` per table and records each file's SHA-256 and
row count in ``tables.json`` (written last); :func:`read_tables` checks every table the
manifest lists against it, so a table damaged or edited after the gather is named
(:class:`TableMismatch`) instead of silently changing a verdict. The pipeline's verdict
step regathers such tables from the cached grid points.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pandas as pd

from .provenance import atomic_write_text, write_json

__all__ = ["MANIFEST", "TableMismatch", "write_tables", "remove_tables", "read_tables",
           "damaged_tables"]

MANIFEST = "tables.json"


class TableMismatch(ValueError):
    """A merged table that does not match its manifest (damaged or edited)."""

    def __init__(self, folder: Path, names: list[str]) -> None:
        files = ", ".join(str(folder / f"{n}.csv") for n in names)
        super().__init__(f"{files}: does not match its hash in {folder / MANIFEST} (damaged or "
                         "edited after the gather): regather it (pipeline simulate) or delete it")
        self.folder, self.names = folder, names


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _manifest(folder: Path) -> dict:
    """The folder's manifest (``{}`` when there is none or it does not parse: tables then
    read unverified, as they did before manifests existed)."""
    try:
        found = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def write_tables(out: str | Path, tables: dict[str, pd.DataFrame]) -> None:
    """Write each table to ``out/<name>.csv`` and its hash and rows to the manifest (kept
    for tables written by an earlier call, e.g. a claim's second grid)."""
    out = Path(out)
    manifest = _manifest(out)
    for name, frame in tables.items():
        text = frame.to_csv(index=False)
        atomic_write_text(out / f"{name}.csv", text)
        manifest[name] = {"sha256": _sha256(text.encode()), "rows": len(frame)}
    write_json(out / MANIFEST, manifest)


def remove_tables(out: str | Path, names: tuple[str, ...]) -> None:
    """Delete tables an earlier run wrote and this one does not, with their manifest entries."""
    out = Path(out)
    manifest = _manifest(out)
    for name in names:
        (out / f"{name}.csv").unlink(missing_ok=True)
        manifest.pop(name, None)
    if (out / MANIFEST).is_file():
        write_json(out / MANIFEST, manifest)


def _check(folder: Path, name: str, entry: object) -> bytes | None:
    """The table's bytes if they match the manifest ``entry``, else ``None``."""
    path = folder / f"{name}.csv"
    if not isinstance(entry, dict) or not path.is_file():
        return None
    data = path.read_bytes()
    return data if _sha256(data) == entry.get("sha256") else None


def damaged_tables(folder: str | Path) -> list[str]:
    """Tables the manifest lists whose files are missing or do not match it."""
    folder = Path(folder)
    return [name for name, entry in sorted(_manifest(folder).items())
            if _check(folder, name, entry) is None]


def read_tables(folder: str | Path, names: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    """Load ``<name>.csv`` tables written by a claim's ``simulate``, each verified against
    the manifest where it lists the table; a missing table is a ``FileNotFoundError``, a
    mismatch a :class:`TableMismatch`, both naming the files."""
    folder = Path(folder)
    manifest = _manifest(folder)
    out, bad = {}, []
    for name in names:
        path = folder / f"{name}.csv"
        if not path.is_file():
            raise FileNotFoundError(f"missing result table {path}: run the claim's simulation "
                                    "first (snakemake does this for you)")
        if name not in manifest:
            out[name] = pd.read_csv(path)
            continue
        data = _check(folder, name, manifest[name])
        if data is None:
            bad.append(name)
        else:
            out[name] = pd.read_csv(io.BytesIO(data))
    if bad:
        raise TableMismatch(folder, bad)
    return out
