"""Command line: ``clipasgd schedule | run | bench | fit-tail | fetch-data | rerun | assess``.

Every command prints JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

import numpy as np

from . import __version__
from .guard import check_memory, naming
from .provenance import describe_os_error, provenance, to_jsonable, write_csv, write_json
from .spec import load_array, schedule_memory

__all__ = ["main", "one_blas_thread"]

BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def one_blas_thread() -> contextlib.AbstractContextManager:
    """One BLAS thread while a simulation runs (its work is one thread: more BLAS threads
    burn several times the CPU on a loaded machine), as ``rules/common.smk`` sets for
    pipeline jobs; a user who set any of :data:`BLAS_THREAD_VARS` keeps their setting.
    numpy is loaded by the time a command runs, so the limit goes through threadpoolctl."""
    if any(v in os.environ for v in BLAS_THREAD_VARS):
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _split_top(text: str) -> list[str]:
    """Split on commas outside brackets, so ``means=[1,4],law=fixed`` is two items."""
    items, depth, cur = [], 0, ""
    for ch in text:
        depth += (ch == "[") - (ch == "]")
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
        else:
            cur += ch
    return [*items, cur]


def _key_values(text: str) -> dict:
    """``"n=16,stragglers=1,D=100"`` -> dict with numbers (and ``[..]`` lists) parsed."""
    out: dict = {}
    for item in filter(None, _split_top(text)):
        if "=" not in item:
            raise ValueError(f"--workers: expected key=value, got {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value.strip()
    return out


DEFAULT_WORKERS = "n=16,stragglers=1,D=10"  # schedule's workers without --workers


def _cmd_schedule(args: argparse.Namespace) -> dict:
    from .compute_times import TraceTimes, make_compute_times
    from .schedules import (
        calls_within,
        from_delays,
        make_schedule,
        mva_time_per_call,
        past_events,
        schedule_past,
    )

    given = [o for o, v in (("--delays", args.delays), ("--trace", args.trace),
                            ("--workers", args.workers)) if v is not None]
    if len(given) > 1:  # each sets the workers' times: one would be dropped unread
        raise ValueError(f"{' and '.join(given)}: give one (each sets the compute times)")
    if args.delays:
        raw = load_array(args.delays, "--delays")
        if raw.ndim != 1 or not np.all(np.isfinite(raw)) or np.any(raw != np.round(raw)):
            raise ValueError(f"--delays {args.delays}: expected a 1-D array of whole numbers")
        delays = raw.astype(np.int64)
        C = args.concurrency if args.concurrency is not None else \
            int(np.sum(np.arange(delays.size) == delays))
        return naming("--delays", from_delays, delays, C).summary()
    if args.trace:
        arr = load_array(args.trace, "--trace")
        if arr.ndim != 2:
            raise ValueError("--trace: expected a 2-D array (workers x recorded times)")
        times = naming("--trace", TraceTimes, tuple(arr))
    else:
        workers = _key_values(args.workers or DEFAULT_WORKERS)
        n = workers.get("n", 1)
        if isinstance(n, int | float) and not isinstance(n, bool) and np.isfinite(n):
            check_memory(schedule_memory(n, 1), "--workers n", "schedule")
        times = naming("--workers", make_compute_times, workers)
    jobs = max(times.n, args.concurrency or 0)
    check_memory(schedule_memory(jobs, args.events), "--events, --workers n, --concurrency",
                 "schedule")
    if args.time_cap is not None:
        if not (np.isfinite(args.time_cap) and args.time_cap > 0):
            raise ValueError(f"--time-cap must be a positive finite number, got {args.time_cap}")
        check_memory(schedule_memory(jobs, past_events(times, args.time_cap)), "--time-cap",
                     "schedule")  # one schedule at a time: seeds run in turn
    opts = {"concurrency": args.concurrency} if args.concurrency is not None else {}
    root = np.random.SeedSequence(args.seed)
    seeds = [root] if args.seeds == 1 else root.spawn(args.seeds)
    runs = []
    for ss in seeds:
        if args.time_cap is None:
            out = make_schedule(args.scheduler, times, args.events, np.random.default_rng(ss),
                                **opts).summary()
        else:  # run until the wall-clock cap, as Fig. 4 does; --events is ignored
            sched = schedule_past(args.scheduler, times, args.time_cap, ss, **opts)
            out = sched.truncate(calls_within(sched, args.time_cap)[0]).summary()
            out["time_cap"] = args.time_cap
            out["time_per_call"] = calls_within(sched, args.time_cap)[1]
        runs.append(out)
    out = runs[0] if len(runs) == 1 else {
        "seeds": len(runs), "time_per_call": float(np.mean([r["time_per_call"] for r in runs])),
        "runs": runs}
    exact = getattr(times, "law", None) == "exponential" and not np.any(times.shift)
    if args.scheduler == "algorithm2" and exact:  # product form: MVA is exact only then
        out["time_per_call_mva"] = mva_time_per_call(times.means, runs[0]["tau_C"])
    return out


def _cmd_run(args: argparse.Namespace) -> dict:
    from .engine import engines
    from .experiment import run_experiment
    from .spec import check_spec, load_yaml

    if args.engine is not None and args.engine not in engines():
        raise ValueError(f"--engine: {args.engine!r} is not one of {list(engines())}")
    data = load_yaml(args.spec, "spec")
    if args.engine is not None and isinstance(data, dict):
        data = {**data, "engine": args.engine}
    spec = check_spec(data)
    out = Path(args.out or Path("results") / spec["name"])
    _check_writable(out)
    for old in (out / "chunks").glob("*.csv"):  # a reused folder: chunks of this run only
        old.unlink()

    def keep_chunk(label: str, first: int, res) -> None:  # written as soon as it finishes
        for which in ("hits", "reps"):
            frame = getattr(res, f"{which}_frame")()
            write_csv(out / "chunks" / f"{label}-{first}.{which}.csv",
                      frame.assign(rep=frame["rep"] + first, algorithm=label))

    with one_blas_thread():
        result = run_experiment(spec, progress=None if not args.quiet else (lambda m: None),
                                on_chunk=keep_chunk)
    for which in ("checkpoints", "hits", "reps"):
        write_csv(out / f"{which}.csv", result.frame(which))
    summary = result.summary()
    write_json(out / "summary.json", summary)
    write_json(out / "meta.json", provenance(spec, spec["seed"]))
    return {"out": str(out), **summary}


def _cmd_bench(args: argparse.Namespace) -> dict:
    from .bench import run_bench

    return run_bench(quick=args.quick, repeats=args.repeats)


def _cmd_fit_tail(args: argparse.Namespace) -> dict:
    from .tails import fit_tail

    return naming(f"file {args.file}", fit_tail, load_array(args.file, "file"), k=args.k,
                  seed=args.seed)


def _check_writable(out: Path) -> None:
    """Create ``out`` and write a probe file in it, so a bad ``--out`` fails before any work."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".clipasgd-write-probe"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise ValueError(f"--out {out}: output folder is not writable ({err.strerror or err})"
                         ) from None


def _int_in(low: int, high: int | None = None):
    """An argparse type: an integer in ``[low, high]`` (argparse names the option)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            span = f">= {low}" if high is None else f"in [{low}, {high}]"
            raise argparse.ArgumentTypeError(f"expected an integer {span}, got {value}")
        return value
    return parse


_SEED = _int_in(0)


def _count(text: str) -> int:
    """A whole number; scientific notation (``1e6``) is accepted (the range is checked later)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (np.isfinite(value) and value == int(value)):
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    return int(value)


def _cmd_fetch_data(args: argparse.Namespace) -> dict:
    from .datasets import DataUnavailable, fetch

    try:
        return {"dataset": args.dataset, "path": str(fetch(args.dataset, args.dest))}
    except DataUnavailable as err:
        raise ValueError(str(err)) from err


def _cmd_rerun(args: argparse.Namespace) -> dict:
    from .rerun import rerun

    return rerun(args.claim, args.scale, args.cores, args.dry_run)


def _cmd_assess(args: argparse.Namespace) -> dict:
    from .assess import assess

    table = assess(args.rule, args.scale, args.claims, args.out, args.config)
    return {"table": str(table), "verdicts": str(table.parent / "claims")}


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="clipasgd", description=__doc__)
    ap.add_argument("--version", action="version", version=f"clipasgd {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("schedule", help="simulate a schedule and print its delay summary")
    s.add_argument("--workers", default=None,
                   help=f"(default {DEFAULT_WORKERS}) key=value list: n, stragglers, D, law "
                        "(fixed, exponential, uniform, "
                        "halfnormal, pareto), spread, alpha, shift (every time is shift + "
                        "(mean - shift) B); or means=[..] (per-worker means) with law, "
                        "shift=[..]")
    s.add_argument("--scheduler", default="algorithm1",
                   choices=["algorithm1", "algorithm2", "synchronous"])
    s.add_argument("--events", type=_count, default=10_000)
    s.add_argument("--concurrency", type=int, default=None, help="jobs in flight (Algorithm 2)")
    s.add_argument("--seed", type=_SEED, default=0)
    s.add_argument("--seeds", type=_int_in(1, 10_000), default=1,
                   help="independent schedules (children of --seed); prints their mean")
    s.add_argument("--time-cap", type=float, default=None,
                   help="stop at this wall-clock time; time per call = cap / calls by then")
    s.add_argument("--trace", help=".npy/.csv of recorded compute times, workers x jobs")
    s.add_argument("--delays", help=".npy/.csv of a recorded delay sequence to replay")
    s.set_defaults(func=_cmd_schedule)
    r = sub.add_parser("run", help="run an experiment spec (YAML or JSON)")
    r.add_argument("spec")
    r.add_argument("--out", help="output folder (default results/<name>)")
    r.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    r.add_argument("--engine", default=None,
                   help="event loop, a name in clipasgd.engine.BACKENDS: compiled (numba, "
                        "the default) or numpy (the reference); overrides the spec's engine")
    r.set_defaults(func=_cmd_run)
    b = sub.add_parser("bench", help="engine oracle calls/s against the compiled limit")
    b.add_argument("--quick", action="store_true", help="a small grid (well under a minute)")
    b.add_argument("--repeats", type=_int_in(1, 100), default=None,
                   help="interleaved runs per row")
    b.set_defaults(func=_cmd_bench)
    f = sub.add_parser("fit-tail", help="fit the sub-Weibull tail parameter of noise samples")
    f.add_argument("file", help=".npy or .csv: 1-D noise norms or 2-D noise vectors (rows)")
    f.add_argument("--k", type=_int_in(3), default=None, help="upper order statistics used")
    f.add_argument("--seed", type=_SEED, default=0)
    f.set_defaults(func=_cmd_fit_tail)
    d = sub.add_parser("fetch-data", help="locate or fetch a data set, checksums verified")
    d.add_argument("dataset", choices=["fashion-mnist", "shakespeare"])
    d.add_argument("--dest", default="data/raw", help="folder for fetched files")
    d.set_defaults(func=_cmd_fetch_data)
    e = sub.add_parser("rerun", help="rerun one claim with Snakemake, then what reads its data "
                                     "and the summary (run from the repository root)")
    e.add_argument("claim")
    e.add_argument("--scale", default="quick")
    e.add_argument("--cores", default="all")
    e.add_argument("-n", "--dry-run", action="store_true", help="show the jobs, run nothing")
    e.set_defaults(func=_cmd_rerun)
    a = sub.add_parser("assess", help="run your own update rule through every claim's design "
                                      "(in place of Clipped ASGD) and print a verdict table")
    a.add_argument("rule", help="path/to/file.py:builder or package.module:builder")
    a.add_argument("--scale", default="smoke", help="smoke (default), quick or paper")
    a.add_argument("--claims", nargs="*", default=None, help="only these claims")
    a.add_argument("--out", default="assess", help="output folder (default assess/)")
    a.add_argument("--config", default="config/config.yaml")
    a.set_defaults(func=_cmd_assess)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        out = args.func(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"clipasgd {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a full disk, a read-only file system: one line naming the path
        print(f"clipasgd {args.command}: error: {describe_os_error(err)}", file=sys.stderr)
        return 2
    print(json.dumps(to_jsonable(out), indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
