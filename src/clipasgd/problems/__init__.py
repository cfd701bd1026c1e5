"""Test problems with known smoothness, optimum and heterogeneity, and a registry."""

from __future__ import annotations

import inspect

from clipasgd.problems.base import Problem
from clipasgd.problems.fashion import FashionMLP
from clipasgd.problems.logistic import Logistic
from clipasgd.problems.nonconvex import NonConvex
from clipasgd.problems.quadratic import HeterogeneousQuadratic, Quadratic
from clipasgd.problems.shakespeare import ShakespeareMLP

PROBLEMS: dict[str, type[Problem]] = {
    "quadratic": Quadratic,
    "nonconvex": NonConvex,
    "logistic": Logistic,
    "fashion_mlp": FashionMLP,
    "shakespeare_mlp": ShakespeareMLP,
}


def make_problem(name: str, **params: object) -> Problem:
    """Build the registered problem ``name``; any bad name or parameter is a ValueError."""
    if name not in PROBLEMS:
        raise ValueError(f"unknown problem {name!r}; valid problems: {', '.join(PROBLEMS)}")
    cls = PROBLEMS[name]
    valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    for key in params:
        if key not in valid:
            raise ValueError(f"unknown parameter {key!r} for problem {name!r}; "
                             f"valid parameters: {', '.join(valid)}")
    return cls(**params)  # type: ignore[arg-type]


__all__ = ["PROBLEMS", "FashionMLP", "HeterogeneousQuadratic", "Logistic", "NonConvex",
           "Problem", "Quadratic", "ShakespeareMLP", "make_problem"]
