"""`make bench` times the engine and the network gradients with one BLAS thread, as the
pipeline's jobs run (rules/common.smk), unless the user set a thread count."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from threadpoolctl import threadpool_info, threadpool_limits

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_engine.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_engine_under_test", BENCH)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _blas_threads() -> set[int]:
    return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}


def test_the_bench_runs_with_one_blas_thread(monkeypatch):
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    bench, seen = _bench(), []
    record = lambda *a, **k: seen.append(_blas_threads())  # noqa: E731
    monkeypatch.setattr(bench, "bench_row", record)
    monkeypatch.setattr(bench, "schedule_rates", record)
    monkeypatch.setattr(bench, "run_network_bench", record)
    with threadpool_limits(limits=2, user_api="blas"):  # a start with more than one
        outside = _blas_threads()  # thread, so that the pin is what makes it one
        result = bench.run_bench(quick=True)
    assert outside == {2}, outside
    assert seen and all(s == {1} for s in seen), seen
    assert result["blas"] == "one thread (as pipeline jobs)"
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")  # a user's setting wins, and is said
    assert bench.run_bench(quick=True)["blas"] == {"OPENBLAS_NUM_THREADS": "2"}
