"""One memory and size guard for everything that allocates from user input.

Every command that reads a user's file or sizes work from a user's number asks here
first, so a bad input is refused with its key or option named *before* any work:
the memory a plan needs (:func:`check_memory`), a file's size (:func:`check_file_size`),
an array file's declared shape (:func:`check_array_file`) and a count's range
(:func:`check_count`). The limits are module constants (memory: ``CLIPASGD_MAX_MEMORY_GB``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SpecError", "memory_limit", "check_memory", "check_file_size", "check_array_file",
           "check_count", "naming", "MAX_COUNT", "MAX_YAML_BYTES", "MAX_ARRAY_ELEMENTS",
           "MAX_SHARDS", "TEXT_BYTES_FACTOR"]

MAX_YAML_BYTES = 8 * 2**20  # a config or spec; the shipped config is ~30 kB
MAX_ARRAY_ELEMENTS = 10**8  # 800 MB of float64 in one user array
MAX_COUNT = 10**9  # any integer in a config or spec (seeds aside): replications, horizons
MAX_SHARDS = 256  # shard jobs per claim: more only adds scheduling overhead
TEXT_BYTES_FACTOR = 20  # peak bytes per byte of a .csv/.txt array while np.loadtxt parses


class SpecError(ValueError):
    """A spec, config or input that is refused; the message names the offending key."""


def memory_limit() -> int:
    """Bytes one command may plan to use: ``$CLIPASGD_MAX_MEMORY_GB`` if set, else 60% of
    physical memory."""
    env = os.environ.get("CLIPASGD_MAX_MEMORY_GB")
    if env:
        try:
            gb = float(env)
        except ValueError:
            gb = math.nan
        if not (math.isfinite(gb) and gb > 0):
            raise SpecError(f"CLIPASGD_MAX_MEMORY_GB: expected a positive number, got {env!r}")
        return int(gb * 2**30)
    return int(0.6 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def check_memory(need: float, keys: str, what: str = "spec") -> None:
    """Refuse a plan needing more than :func:`memory_limit`, naming the keys that drive it."""
    limit = memory_limit()
    if not need <= limit:  # NaN refused too
        raise SpecError(f"{what}: {keys}: needs about {need / 2**30:.3g} GiB of memory, over the "
                        f"limit of {limit / 2**30:.3g} GiB (set CLIPASGD_MAX_MEMORY_GB to change)")


def check_file_size(path: str | Path, what: str, limit: int) -> int:
    """The file's size in bytes; refused (naming ``what`` and the file) above ``limit``."""
    size = Path(path).stat().st_size
    if size > limit:
        raise SpecError(f"{what}: {path}: {size / 2**20:.3g} MiB is over the limit of "
                        f"{limit / 2**20:.3g} MiB for this file")
    return size


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype] | None:
    """Shape and dtype a ``.npy`` header declares, without reading the data (``None`` if
    the header does not parse: the loader then names the problem)."""
    try:
        with open(path, "rb") as fh:
            read = {(1, 0): np.lib.format.read_array_header_1_0,
                    (2, 0): np.lib.format.read_array_header_2_0}.get(np.lib.format.read_magic(fh))
            if read is None:
                return None
            shape, _, dtype = read(fh)
    except (ValueError, OSError, EOFError, SyntaxError, TypeError):
        return None
    return tuple(int(s) for s in shape), dtype


def check_array_file(path: str | Path, what: str) -> None:
    """Before an array file is read: the elements a ``.npy`` header declares (at most
    :data:`MAX_ARRAY_ELEMENTS`, and their bytes within :func:`memory_limit`), or a text
    file's parsing memory (:data:`TEXT_BYTES_FACTOR` per byte)."""
    p = Path(path)
    if p.suffix == ".npy":
        header = _npy_header(p)
        if header is None:
            return
        shape, dtype = header
        elements = math.prod(shape)
        if elements > MAX_ARRAY_ELEMENTS:
            raise SpecError(f"{what}: {p}: declares {elements:.3g} numbers (shape {shape}), "
                            f"over the limit of {MAX_ARRAY_ELEMENTS:.3g}")
        check_memory(elements * max(dtype.itemsize, 8), what, "array file")
    else:
        check_memory(TEXT_BYTES_FACTOR * p.stat().st_size, what, "array file")


def check_count(value: object, what: str, low: int, high: int) -> int:
    """An integer in ``[low, high]``, else a :class:`SpecError` naming ``what``."""
    ok = isinstance(value, Real) and not isinstance(value, bool) and float(value).is_integer()
    if not ok or not low <= value <= high:  # type: ignore[operator]
        raise SpecError(f"{what}: {value!r} is not an integer in [{low}, {high}]")
    return int(value)  # type: ignore[arg-type]


def naming(key: str, build: Callable[..., Any], *args: Any, prefix: str = "",
           **kwargs: Any) -> Any:
    """``build(...)``, with a ``ValueError``/``TypeError`` turned into a :class:`SpecError`
    that names ``key`` (``prefix`` before it) unless its message already starts with it."""
    try:
        return build(*args, **kwargs)
    except SpecError:
        raise
    except (ValueError, TypeError) as err:
        msg = str(err)
        raise SpecError(msg if msg.startswith(key) else f"{prefix}{key}: {msg}") from None
