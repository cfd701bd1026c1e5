"""``clipasgd bench``: run the repository's benchmark (``benchmarks/bench_engine.py``).

The benchmark and its compiled limit live in ``benchmarks/``, apart from the package, so
the limit is written independently of the engine; this loads them from the source
checkout the package is installed from (``pip install -e .``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

__all__ = ["run_bench"]

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_engine.py"


def run_bench(quick: bool = False, repeats: int | None = None) -> dict:
    """The benchmark's result dict (see ``benchmarks/bench_engine.py``)."""
    if not BENCH.is_file():
        raise ValueError(f"bench: {BENCH} not found; clipasgd bench needs a source checkout "
                         "installed with pip install -e .")
    spec = importlib.util.spec_from_file_location("clipasgd_bench_engine", BENCH)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.run_bench(quick=quick, repeats=repeats)
