"""CPU a process spends once, on its first use of something: loading the numba kernel,
reading a data set, an evaluation set's input features.

A shard job pays it inside whichever grid point comes first, so that point's stamp reads
0.4-2 CPU-s more than its own work (at quick scale a sixth to a third of a figure claim's
first grid: 15% of fig2_speedup's, 37% of delay_sweep's).
:func:`clipasgd.claims.base.cached_point` records the part spent here in each stamp
(``warmup_cpu_seconds``), and the estimate scales a point's own work, not the warm-up, to
a larger scale.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache, wraps
from typing import Any, TypeVar

__all__ = ["spent", "warm_cache", "warming", "watch_numba"]

F = TypeVar("F", bound=Callable[..., Any])

_state = {"depth": 0, "cpu": 0.0, "start": 0.0, "numba": False}


def spent() -> float:
    """CPU seconds this process has spent warming up so far."""
    return _state["cpu"]


def _enter() -> None:
    if _state["depth"] == 0:
        _state["start"] = time.process_time()
    _state["depth"] += 1


def _exit() -> None:
    _state["depth"] -= 1
    if _state["depth"] == 0:
        _state["cpu"] += time.process_time() - _state["start"]


@contextmanager
def warming() -> Iterator[None]:
    """Count the CPU of the block as warm-up (a block inside another counts once)."""
    _enter()
    try:
        yield
    finally:
        _exit()


def watch_numba() -> None:
    """From now on in this process, count numba's loading of cached machine code (and any
    compiling) as warm-up: the time its compiler lock is held, at a function's first call
    with new argument types (about 0.2-0.6 CPU-s per process for the engine's kernels)."""
    if _state["numba"]:
        return
    from numba.core import event

    class _Loads(event.Listener):
        def on_start(self, _: event.Event) -> None:
            _enter()

        def on_end(self, _: event.Event) -> None:
            _exit()

    event.register("numba:compiler_lock", _Loads())
    _state["numba"] = True


def warm_cache(maxsize: int) -> Callable[[F], F]:
    """``functools.lru_cache(maxsize)`` whose calls count as warm-up: a miss (the first
    call with an argument) is the work, a hit costs about a microsecond."""
    def wrap(fn: F) -> F:
        cached = lru_cache(maxsize=maxsize)(fn)

        @wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            with warming():
                return cached(*args, **kwargs)

        call.cache_info = cached.cache_info  # type: ignore[attr-defined]
        call.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
        return call  # type: ignore[return-value]
    return wrap
