"""Experiment specs (YAML or JSON): schema, loading and validation.

An experiment is one problem, one noise model, one worker population and
scheduler, and a list of algorithms, run for ``replications`` independent runs
of ``horizon`` server steps each. See the README for a commented example.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Callable
from numbers import Real
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import yaml

from .guard import (
    MAX_COUNT,
    MAX_YAML_BYTES,
    SpecError,
    check_array_file,
    check_file_size,
    check_memory,
    memory_limit,
    naming,
)

__all__ = ["spec_schema", "load_spec", "check_spec", "validate", "SpecError", "load_yaml",
           "check_finite", "check_name", "estimate_memory", "memory_terms", "schedule_memory",
           "memory_limit", "check_memory", "load_array"]


_NUM = {"type": "number"}
_POS = {"type": "number", "exclusiveMinimum": 0}
_POSINT = {"type": "integer", "minimum": 1}
_NAMED = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}

_SPEC_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "clipasgd experiment spec",
    "type": "object",
    "additionalProperties": False,
    "required": ["problem", "noise", "workers", "algorithms", "horizon"],
    "properties": {
        "name": {"type": "string"},
        "seed": {"type": "integer", "minimum": 0},
        "replications": _POSINT,
        "chunk": _POSINT,
        "horizon": _POSINT,
        "problem": _NAMED,
        "noise": _NAMED,
        "workers": {"type": "object"},
        "scheduler": {"enum": ["algorithm1", "algorithm2"]},
        "concurrency": _POSINT,
        "per_replication_schedules": {"type": "boolean"},
        "eps": {"type": "array", "items": _POS},
        "diverge_at": _POS,
        "stop_when_hit": {"type": "boolean"},
        "checkpoints": {"type": "array", "items": _POSINT},
    },
}


def spec_schema() -> dict[str, Any]:
    """The spec's JSON schema. ``engine`` and each ``algorithms`` entry come from the
    registries (:data:`clipasgd.engine.BACKENDS`, :data:`clipasgd.algorithms.REGISTRY`:
    every builder's parameters with their types and bounds, plus an optional ``label``), so
    an algorithm or backend registered at run time is valid here too."""
    from .algorithms import REGISTRY
    from .engine import engines

    entries = [{"if": {"properties": {"name": {"const": name}}, "required": ["name"]},
                "then": e.schema()} for name, e in REGISTRY.items()]
    algorithm = {"type": "object", "required": ["name"],
                 "properties": {"name": {"enum": list(REGISTRY)}}, "allOf": entries}
    return {**_SPEC_SCHEMA, "properties": {
        **_SPEC_SCHEMA["properties"], "engine": {"enum": list(engines())},
        "algorithms": {"type": "array", "minItems": 1, "items": algorithm}}}


DEFAULTS = {"name": "experiment", "seed": 0, "replications": 10, "chunk": 1000,
            "scheduler": "algorithm1", "per_replication_schedules": False, "eps": [],
            "diverge_at": 1e10, "stop_when_hit": False}  # engine: engine.DEFAULT_ENGINE


def validate(data: Any, schema: dict, what: str = "spec", at: str = "") -> None:
    """Raise :class:`SpecError` naming the first offending key path (below ``at``, the
    path of ``data`` in a larger document)."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
    if errors:
        err = errors[0]
        where = ".".join([at] * bool(at) + [str(p) for p in err.path]) or "(top level)"
        raise SpecError(f"{what}: {where}: {err.message}")


# ---------------------------------------------------------------------------- reading


class _Loader(yaml.SafeLoader):
    """Safe loading with duplicate keys and aliases refused and YAML 1.2 floats (``1.0e10``,
    ``1e9``). An alias (``*name``) is refused because nested ones expand without bound (a
    few hundred bytes can stand for billions of nodes); no config of ours needs one."""

    def compose_node(self, parent, index):  # noqa: ANN001, ANN201 (PyYAML's signature)
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"alias *{event.anchor} refused (anchors and aliases are not "
                "accepted: they can expand without bound)", event.start_mark)
        return super().compose_node(parent, index)


_Loader.yaml_implicit_resolvers = {k: [r for r in v if r[0] != "tag:yaml.org,2002:float"]
                                   for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                  |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                  |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                  |[-+]?\.(?:inf|Inf|INF)
                  |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def _mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {seen[key] + 1})",
                key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml(path: str | Path, what: str = "config") -> Any:
    """Read a YAML (or ``.json``) file of at most :data:`~clipasgd.guard.MAX_YAML_BYTES`; a
    syntax error, a duplicate key or an alias is a :class:`SpecError` naming the file, line
    and key instead of a parser traceback."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{what} file not found: {path}")
    check_file_size(path, what, MAX_YAML_BYTES)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(f"{what} {path}: cannot read: {err}") from None
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise SpecError(f"{what} {path}: not valid json: line {err.lineno}: {err.msg}"
                            ) from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise SpecError(f"{what} {path}: not valid YAML: {where}{problem}") from None


def check_finite(data: Any, what: str = "spec") -> None:
    """Refuse NaN and infinite numbers anywhere in nested dicts/lists, naming the key path
    (JSON Schema's bounds let NaN through), and integers above
    :data:`~clipasgd.guard.MAX_COUNT` (a count that large is a typo or a run that never
    ends; a ``seed`` may be any size)."""
    def walk(value: Any, path: list[str]) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, [*path, str(k)])
        elif isinstance(value, list | tuple):
            for i, v in enumerate(value):
                walk(v, [*path, str(i)])
        elif isinstance(value, Real) and not isinstance(value, bool) \
                and not math.isfinite(value):
            raise SpecError(f"{what}: {'.'.join(path) or '(top level)'}: {value} is not a "
                            "finite number")
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_COUNT \
                and path[-1:] != ["seed"]:
            raise SpecError(f"{what}: {'.'.join(path)}: {value} is over the limit of "
                            f"{MAX_COUNT:.0e} for a count")
    walk(data, [])


def check_name(name: str, what: str = "spec") -> None:
    """An output-folder name: no path separators, no ``..``, nothing hidden or empty."""
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.+=-]*", name) or ".." in name:
        raise SpecError(f"{what}: name: {name!r} must be a plain folder name (letters, digits, "
                        "'_', '-', '.', no path separators or '..')")


def load_array(path: str | Path, what: str) -> np.ndarray:
    """A numeric array from ``.npy``/``.csv``/``.txt``; any problem is a ``ValueError``
    naming ``what`` (the key or option) and the file."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{what}: file not found: {p}")
    check_array_file(p, what)
    try:
        if p.suffix == ".npy":
            arr = np.load(p, allow_pickle=False)
        elif p.suffix in (".csv", ".txt"):
            with warnings.catch_warnings():  # an empty file is reported below, not warned
                warnings.simplefilter("ignore", UserWarning)
                arr = np.loadtxt(p, delimiter="," if p.suffix == ".csv" else None, ndmin=1)
        else:
            raise ValueError(f"{what}: {p}: expected a .npy, .csv or .txt file")
    except (EOFError, OSError, ValueError, UnicodeDecodeError) as err:
        if str(err).startswith(what):
            raise
        kind = "a NumPy .npy array" if p.suffix == ".npy" else f"numbers in {p.suffix} form"
        why = "empty file" if p.stat().st_size == 0 else type(err).__name__
        raise ValueError(f"{what}: {p}: not {kind} ({why})") from None
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise ValueError(f"{what}: {p}: expected real numbers, got dtype {arr.dtype}")
    if arr.size == 0:
        raise ValueError(f"{what}: {p}: contains no numbers")
    return arr


# ----------------------------------------------------------------------------- memory

_EVENT_BYTES = 160  # a schedule event with the engine's plan (measured ~136 B, tracemalloc)
_WORKER_BYTES = 1100  # a worker in a scheduler's event loop (measured ~1,010 B, algorithm2)


def schedule_memory(n_workers: float, events: float, per_replication: float = 1) -> float:
    """Bytes to build ``per_replication`` schedules of ``events`` events for ``n_workers``."""
    return per_replication * (events * _EVENT_BYTES + n_workers * _WORKER_BYTES)


def _num(value: Any, default: float = 1.0) -> float:
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    return max(float(value), 1.0) if ok else default


def _n_workers(workers: Any) -> float:
    if not isinstance(workers, dict):
        return 1.0
    for key in ("means", "trace"):
        if isinstance(workers.get(key), list):
            return float(len(workers[key]))
    return _num(workers.get("n"))


def memory_terms(spec: dict) -> dict[str, float]:
    """Rough peak bytes of ``run_experiment(spec)`` by part, keyed by the spec keys that drive
    each: the engine (``3 * 8 R tau_C d`` plus ``6 R d`` vectors per chunk of ``R`` runs), the
    schedule(s) (:func:`schedule_memory`), the problem, and the kept results (wall-clock times
    per event, metrics per checkpoint)."""
    problem = spec.get("problem") if isinstance(spec.get("problem"), dict) else {}
    d = _num(problem.get("dim"), 20.0)
    n = _n_workers(spec.get("workers"))
    R = _num(spec.get("replications", DEFAULTS["replications"]))
    R_c = min(R, _num(spec.get("chunk", DEFAULTS["chunk"])))
    T = _num(spec.get("horizon"))
    tau_c = max(n, _num(spec.get("concurrency"), n))
    per_rep = bool(spec.get("per_replication_schedules"))
    events = T + T // 4 + 10 * n  # as experiment.schedule_slack
    rotate = problem.get("name") == "nonconvex" and problem.get("rotate", True)
    n_algos = len(spec.get("algorithms") or [1])
    return {
        "problem.dim, workers.n, chunk": 8 * R_c * d * (3 * tau_c + 6),
        "horizon, workers.n": schedule_memory(n, events, R if per_rep else 1)
        + (3 * 8 * T * R_c if per_rep else 0),
        "problem.dim": 8 * d * (3 * d if rotate else 2 * _num(problem.get("n_parts")) + 3),
        "horizon, replications": n_algos * 8 * (T * (R if per_rep else 1)
                                                + 7 * (10 * math.log10(T) + 2) * R),
    }


def estimate_memory(spec: dict) -> float:
    """Rough peak bytes of ``run_experiment(spec)``: the sum of :func:`memory_terms`."""
    return sum(memory_terms(spec).values())


# ---------------------------------------------------------------------------- validate


def load_spec(source: str | Path | dict) -> dict:
    """Read a YAML/JSON file (or take a dict), validate it and fill defaults.

    Cheap checks only (no problem is built): finite numbers, the schema, the workers,
    ``name``, ``concurrency`` and the memory estimate. :func:`check_spec` also builds
    every piece.
    """
    data = load_yaml(source, "spec") if isinstance(source, str | Path) else source
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise SpecError(f"spec: top level must be a mapping of keys (problem, noise, ...), "
                        f"got {kind}")
    check_finite(data, "spec")
    if isinstance(data.get("workers"), dict):
        _section("workers", _workers_check, data["workers"])  # before algorithms' tau_c
    validate(data, spec_schema())
    check_name(data.get("name", DEFAULTS["name"]))
    if "concurrency" in data and data.get("scheduler", DEFAULTS["scheduler"]) != "algorithm2":
        raise SpecError("spec: concurrency: applies to scheduler algorithm2 only (algorithm1 "
                        "keeps one job per worker in flight)")
    terms = memory_terms(data)
    check_memory(sum(terms.values()), max(terms, key=terms.__getitem__))
    from .engine import DEFAULT_ENGINE

    return {**DEFAULTS, "engine": DEFAULT_ENGINE, **data}


def _workers_check(workers: dict) -> None:
    from .compute_times import make_compute_times

    n = _n_workers(workers)
    check_memory(schedule_memory(n, 1), "workers.n", "spec")
    make_compute_times(workers)


def _section(key: str, build: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``build(...)``, with an error turned into a SpecError naming ``key``."""
    return naming(key, build, *args, prefix="spec: ", **kwargs)


def check_spec(source: str | Path | dict) -> dict:
    """:func:`load_spec` plus building the problem, noise and every algorithm (cheap next
    to a run), so a bad parameter is a :class:`SpecError` naming its key before any work."""
    from .algorithms import make_algorithm
    from .compute_times import make_compute_times
    from .noise import make_noise
    from .problems import make_problem

    spec = load_spec(source)
    _section("problem", make_problem, **spec["problem"])
    _section("noise", make_noise, **spec["noise"])
    n = _section("workers", make_compute_times, spec["workers"]).n
    for i, a in enumerate(spec["algorithms"]):
        params = {k: v for k, v in a.items() if k not in ("name", "label")}
        _section(f"algorithms.{i}", make_algorithm, a["name"], n, **params)
    labels = [a.get("label", a["name"]) for a in spec["algorithms"]]
    if len(set(labels)) != len(labels):
        raise SpecError(f"spec: algorithms: labels must be unique, got {labels} "
                        "(add 'label' to tell runs of one algorithm apart)")
    return spec
