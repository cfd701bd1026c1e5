"""Does the mechanism a claim credits act? Facts for its verdict file and landing page.

* :func:`fraction_clipped`: the share of the claim arm's updates that clipping changed,
  from any table of the claim's data with ``algorithm`` and ``clip_fraction`` columns.
* :func:`conditions_broken`: the theorem's step conditions the design breaks, by what
  factor, from every ``{value, bound, holds}`` row the reading computed
  (:func:`clipasgd.theory.step_conditions`).
* :func:`ablation_outcome`: the verdict a claim may carry once the same design with the
  credited mechanism removed has been read by the same test.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["fraction_clipped", "conditions_broken", "ablation_outcome", "holds_without",
           "CONTROL_KEYS"]


def fraction_clipped(data: Path, labels: Iterable[str],
                     rows: Mapping[str, str] | None = None) -> float | None:
    """Mean ``clip_fraction`` over every run (row) of the arms ``labels`` in the tables
    under ``data``, only the rows whose columns equal ``rows`` where given (a data folder
    shared by claims, or holding control runs: ``high_prob``'s sub-Weibull ``part`` is not
    ``high_prob_tail``'s Pareto one); ``None`` when no table records it."""
    labels, rows, values = set(labels), dict(rows or {}), []
    for path in sorted(Path(data).glob("*.csv")):
        head = path.open().readline().rstrip("\n").split(",")
        if not {"clip_fraction", "algorithm", *rows} <= set(head):
            continue
        frame = pd.read_csv(path, usecols=["algorithm", "clip_fraction", *rows])
        keep = frame["algorithm"].isin(labels)
        for column, value in rows.items():
            keep &= frame[column].astype(str) == value
        values.append(frame.loc[keep, "clip_fraction"])
    if not values:
        return None
    joined = pd.concat(values)
    return float(joined.mean()) if len(joined) else None


def _rows(obj: Any, path: tuple[str, ...]) -> Iterable[tuple[tuple[str, ...], dict]]:
    if isinstance(obj, dict):
        if {"value", "bound", "holds"} <= set(obj):
            yield path, obj
            return
        for key, value in obj.items():
            yield from _rows(value, (*path, str(key)))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from _rows(value, (*path, str(i)))


CONTROL_KEYS = ("fixed_step", "control")  # details keys of a control's conditions


def conditions_broken(details: dict) -> list[dict]:
    """Each condition the claim's own design breaks, once (the largest factor over the
    settings that compute it): ``condition``, ``factor`` (how far the value is on the
    wrong side of its bound) and ``where`` (the details path of that setting). Rows under
    a key naming a control (:data:`CONTROL_KEYS`: a control breaks conditions on purpose)
    are left out."""
    worst: dict[str, dict] = {}
    for path, row in _rows(details, ()):
        if any(k in part for part in path for k in CONTROL_KEYS):
            continue
        if row["holds"] or not row["bound"] or not row["value"]:
            continue
        name = path[-1]
        ratio = row["value"] / row["bound"]
        factor = float(1 / ratio if name.startswith("c >=") else ratio)
        if name not in worst or factor > worst[name]["factor"]:
            worst[name] = {"condition": name, "factor": factor, "where": ".".join(path[:-1])}
    return sorted(worst.values(), key=lambda r: -r["factor"])


def holds_without(mechanism: str) -> str:
    return f"holds without {mechanism.replace('_', ' ')}"


def ablation_outcome(verdict: str, ablations: dict[str, dict]) -> str:
    """A supported claim whose ablation (the same design without the credited mechanism,
    same seeds and test) reads supported too is not support for the mechanism: its
    verdict becomes ``holds without <mechanism>``. Any other verdict stands."""
    if verdict != "supported":
        return verdict
    for mechanism, record in ablations.items():
        if record.get("verdict") == "supported":
            return holds_without(mechanism)
    return verdict
