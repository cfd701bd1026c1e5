"""Small helpers the notebooks share: load a claim's verdict and data, save figures.

Notebooks only load and draw; every number they show comes from the verdict file
or the data tables the pipeline wrote.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

__all__ = ["load_verdict", "load_table", "save_figure", "verdict_frame", "caption", "COLORS"]

COLORS = {"clipped": "C0", "vanilla": "C3", "vanilla_theory": "C1", "delay_adaptive": "C2",
          "ringmaster": "C4", "minibatch": "C5"}


def load_verdict(root: str | Path, scale: str, claim: str) -> dict:
    return json.loads((Path(root) / "data" / scale / "claims" / f"{claim}.json").read_text())


def load_table(root: str | Path, scale: str, folder: str, name: str) -> pd.DataFrame:
    return pd.read_csv(Path(root) / "data" / scale / folder / f"{name}.csv")


def save_figure(fig: plt.Figure, root: str | Path, scale: str, claim: str) -> list[Path]:
    """Write ``figures/<scale>/<claim>.pdf`` and ``.png``."""
    out = Path(root) / "figures" / scale
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{claim}.pdf", out / f"{claim}.png"]
    fig.savefig(paths[0], bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight", dpi=150)
    return paths


def verdict_frame(record: dict) -> pd.DataFrame:
    """The headline fields of a verdict record as a one-column table."""
    keys = ["claim", "paper_ref", "statement", "test", "verdict", "statistic", "ci", "margin",
            "scale", "seed", "config_hash", "version", "git_commit"]
    rows = {k: record.get(k) for k in keys}
    rows["negative control"] = f"{record['control']['verdict']}: {record['control']['description']}"
    return pd.DataFrame({"value": [str(v) for v in rows.values()]}, index=list(rows))


def caption(fig: plt.Figure, text: str, width: int = 150) -> None:
    """A caption under the axes that states the setup (figures must explain themselves)."""
    fig.text(0.01, -0.02, textwrap.fill(text, width), ha="left", va="top", fontsize=8)
