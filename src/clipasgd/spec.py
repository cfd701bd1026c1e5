"""Experiment specs (YAML or JSON): schema, loading and validation.

An experiment is one problem, one noise model, one worker population and
scheduler, and a list of algorithms, run for ``replications`` independent runs
of ``horizon`` server steps each. See the README for a commented example.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml

__all__ = ["SPEC_SCHEMA", "load_spec", "validate", "SpecError"]


class SpecError(ValueError):
    """A spec or config that does not validate; the message names the offending key."""


_NUM = {"type": "number"}
_POS = {"type": "number", "exclusiveMinimum": 0}
_POSINT = {"type": "integer", "minimum": 1}
_NAMED = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}

SPEC_SCHEMA: dict[str, Any] = {
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
        "algorithms": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["name"],
            "properties": {"name": {"type": "string"}, "label": {"type": "string"},
                           "eta": _POS, "c": _POS, "tau_c": _POSINT, "max_delay": _POSINT},
            "additionalProperties": False}},
    },
}

DEFAULTS = {"name": "experiment", "seed": 0, "replications": 10, "chunk": 1000,
            "scheduler": "algorithm1", "per_replication_schedules": False, "eps": [],
            "diverge_at": 1e10, "stop_when_hit": False}


def validate(data: Any, schema: dict, what: str = "spec") -> None:
    """Raise :class:`SpecError` naming the first offending key path."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
    if errors:
        err = errors[0]
        where = ".".join(str(p) for p in err.path) or "(top level)"
        raise SpecError(f"{what}: {where}: {err.message}")


def load_spec(source: str | Path | dict) -> dict:
    """Read a YAML/JSON file (or take a dict), validate it and fill defaults."""
    if isinstance(source, dict):
        data = source
    else:
        path = Path(source)
        if not path.is_file():
            raise SpecError(f"spec file not found: {path}")
        text = path.read_text()
        try:
            data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as err:
            raise SpecError(f"spec {path}: not valid {path.suffix.lstrip('.') or 'YAML'}: {err}"
                            ) from None
    if not isinstance(data, dict):
        raise SpecError("spec: top level must be a mapping")
    validate(data, SPEC_SCHEMA)
    return {**DEFAULTS, **data}
