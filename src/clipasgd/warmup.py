"""CPU a process spends once, on its first use of something: loading the numba kernel,
reading a data set, an evaluation set's input features.

A shard job pays it inside whichever grid point comes first, so that point's stamp reads
0.4-2 CPU-s more than its own work (at quick scale a sixth to a third of a figure claim's
first grid: 15% of fig2_speedup's, 37% of delay_sweep's).
:func:`clipasgd.claims.base.cached_point` records the part spent here in each stamp
(``warmup_cpu_seconds``), and the estimate scales a point's own work, not the warm-up, to
a larger scale. Numba's compiling is part of the warm-up and also counted alone
(``compile_cpu_seconds``): it is paid once per machine and code change (the machine code
is cached on disk), not once per process, so the estimate does not repeat it per job.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache, wraps
from typing import Any, TypeVar

__all__ = ["compiled", "spent", "warm_cache", "warming", "watch_numba"]

F = TypeVar("F", bound=Callable[..., Any])


class _Clock:
    """CPU seconds spent inside blocks that may nest: the outermost one counts."""

    def __init__(self) -> None:
        self.depth, self.cpu, self.start = 0, 0.0, 0.0

    def enter(self) -> None:
        if self.depth == 0:
            self.start = time.process_time()
        self.depth += 1

    def exit(self) -> None:
        self.depth -= 1
        if self.depth == 0:
            self.cpu += time.process_time() - self.start


_WARM, _COMPILE = _Clock(), _Clock()  # the warm-up, and the compiling within it
_watching = {"numba": False}


def spent() -> float:
    """CPU seconds this process has spent warming up so far."""
    return _WARM.cpu


def compiled() -> float:
    """CPU seconds of :func:`spent` that numba spent compiling (not loading its cache)."""
    return _COMPILE.cpu


@contextmanager
def warming() -> Iterator[None]:
    """Count the CPU of the block as warm-up (a block inside another counts once)."""
    _WARM.enter()
    try:
        yield
    finally:
        _WARM.exit()


def watch_numba() -> None:
    """From now on in this process, count numba's loading of cached machine code (and any
    compiling) as warm-up: the time its compiler lock is held, at a function's first call
    with new argument types (about 0.2-0.6 CPU-s per process for the engine's kernels);
    and its compiling (the ``numba:compile`` event, which a cache hit does not raise) also
    alone, in :func:`compiled` (tens of CPU-s for the engine's kernels, once per machine)."""
    if _watching["numba"]:
        return
    from numba.core import event

    class _Held(event.Listener):
        def __init__(self, clock: _Clock) -> None:
            self.clock = clock

        def on_start(self, _: event.Event) -> None:
            self.clock.enter()

        def on_end(self, _: event.Event) -> None:
            self.clock.exit()

    event.register("numba:compiler_lock", _Held(_WARM))
    event.register("numba:compile", _Held(_COMPILE))
    _watching["numba"] = True


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
