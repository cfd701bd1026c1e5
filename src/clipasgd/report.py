"""What the notebooks and the landing page show: a claim's verdict, its figure, its details.

Everything shown comes from the verdict file or the data tables the pipeline wrote; nothing
here computes a statistic. Figures are saved to ``figures/<scale>/<name>.{pdf,png}`` and
shown inline as that same PNG, so an executed notebook (and its HTML) holds every figure
whatever matplotlib backend the kernel runs.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

__all__ = ["load_verdict", "load_table", "figure_paths", "save_figure", "verdict_table",
           "summary_markdown", "introduction_markdown", "falsifier_markdown", "mechanism_lines",
           "mechanism_brief",
           "details_tables", "fmt", "show_summary", "show_introduction", "show_figure",
           "show_falsifier", "show_verdict_table", "show_table", "show_details",
           "control_reading", "open_controls"]

HEADLINE = ["claim", "paper_ref", "statement", "test", "verdict", "statistic", "ci", "margin",
            "note", "scale", "seed", "config_hash", "version", "git_commit"]


def load_verdict(root: str | Path, scale: str, claim: str) -> dict:
    """``data/<scale>/claims/<claim>.json``."""
    path = Path(root) / "data" / scale / "claims" / f"{claim}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no verdict file {path}: run the pipeline for claim "
                                f"{claim!r} at scale {scale!r} first")
    return json.loads(path.read_text())


def load_table(root: str | Path, scale: str, folder: str, name: str) -> pd.DataFrame:
    """``data/<scale>/<folder>/<name>.csv``."""
    return pd.read_csv(Path(root) / "data" / scale / folder / f"{name}.csv")


def figure_paths(root: str | Path, scale: str, name: str) -> tuple[Path, Path]:
    """``figures/<scale>/<name>.pdf`` and ``.png``."""
    out = Path(root) / "figures" / scale
    return out / f"{name}.pdf", out / f"{name}.png"


def save_figure(fig: Figure, root: str | Path, scale: str, name: str) -> tuple[Path, Path]:
    """Write the figure as PDF and as a 150-dpi PNG."""
    pdf, png = figure_paths(root, scale, name)
    pdf.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(pdf, bbox_inches="tight")
    fig.savefig(png, bbox_inches="tight", dpi=150)
    return pdf, png


def fmt(x: Any, digits: int = 4) -> str:
    """A value for a table cell: numbers to ``digits`` significant figures, short lists
    inline, ``None`` as an en dash; JSON's ``"inf"`` stays readable."""
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        return "n/a" if math.isnan(x) else ("∞" if x == math.inf else f"{x:.{digits}g}")
    if isinstance(x, list | tuple):
        return "[" + ", ".join(fmt(v, digits) for v in x) + "]"
    if isinstance(x, dict):
        return ", ".join(f"{k}: {fmt(v, digits)}" for k, v in x.items())
    return str(x)


def introduction_markdown(rec: dict) -> str:
    """The notebook's opening, from the claim's one source of words (rendered into the
    verdict file with the config that ran): title, claim, test, what ran at this scale."""
    text = (f"# {rec['paper_ref']}: `{rec['claim']}`\n\n**Claim.** {rec['statement']}\n\n"
            f"**Test.** {rec['test']}")
    if rec.get("ran"):
        text += f"\n\n**What ran ({rec.get('scale', '?')} scale).** {rec['ran']}"
    return text


def _pct(x: float | None) -> str:
    return "not recorded" if x is None else f"{100 * x:.3g}%"


def mechanism_lines(rec: dict) -> list[str]:
    """What the claim credits and whether it acts: the fraction of the claim arm's updates
    clipped, each ablation's outcome (the same design and test without the mechanism) and
    the theorem's step conditions the design breaks. Plain sentences, one per fact."""
    m = rec.get("mechanism") or {}
    credits = m.get("credits") or []
    lines = [f"Credits: {', '.join(credits) if credits else 'no mechanism (a check)'}."]
    if "fraction_clipped" in m:
        lines.append(f"Updates clipped (claim arm): {_pct(m['fraction_clipped'])}.")
    for mech, ab in (m.get("ablations") or {}).items():
        if not ab.get("run"):
            lines.append(f"Without {mech}: not run ({ab.get('why', '')}).")
            continue
        stat = fmt(ab.get("statistic")) + (f" {fmt(ab['ci'])}" if ab.get("ci") else "")
        lines.append(f"Without {mech} ({ab.get('how', '')}): the test reads {ab['verdict']} "
                     f"(statistic {stat}; updates clipped {_pct(ab.get('fraction_clipped'))})"
                     + (": the claim holds without it, so it is not support for it."
                        if ab["verdict"] == "supported" else "."))
    edges = grid_ends(rec)
    if edges:
        lines.append(f"Tuned at an end of its grid (the best value may lie beyond it): "
                     f"{', '.join(edges)}.")
    broken = m.get("conditions_broken") or []
    lines.append("Theorem's step conditions broken: " + (
        "; ".join(f"{b['condition']} by {b['factor']:.3g}x" for b in broken) if broken
        else "none found (or not computed by this claim)") + ".")
    return lines


def grid_ends(rec: dict) -> list[str]:
    """The (algorithm, parameter) pairs tuned at an end of their grid anywhere in a
    verdict's details (an ``at_grid_edge`` list at any depth: per ``D`` of a figure claim,
    per problem of ``delay_sweep``), each with where (``D=4``, ``fig3``), first-seen order;
    an end that won a tie on time with an interior value says so."""
    def found(d: dict, where: str):
        for key, v in d.items():
            if key == "at_grid_edge" and isinstance(v, list):
                yield from ((where, e) for e in v)
            elif isinstance(v, dict):
                yield from found(v, key)

    places: dict[str, list[str]] = {}
    for where, e in found(rec.get("details") or {}, ""):
        what = f"{e['algorithm']} {e['parameter']} ({e['end']}" + (
            ", won a tie" if e.get("tied") else "")
        places.setdefault(what, []).append(where)
    return [f"{what}: {', '.join(dict.fromkeys(ws))})" for what, ws in places.items()]


def mechanism_brief(rec: dict) -> list[str]:
    """:func:`mechanism_lines` in a few words each, for table cells."""
    m = rec.get("mechanism") or {}
    out = [f"credits: {', '.join(m.get('credits') or []) or 'none (a check)'}"]
    if "fraction_clipped" in m:
        out.append(f"clipped: {_pct(m['fraction_clipped'])}")
    for mech, ab in (m.get("ablations") or {}).items():
        out.append(f"without {mech}: {ab['verdict'] if ab.get('run') else 'not run'}")
    edges = grid_ends(rec)
    if edges:
        out.append(f"tuned at a grid end: {', '.join(edges)}")
    broken = m.get("conditions_broken") or []
    out.append("broken: " + (", ".join(f"{b['condition']} ({b['factor']:.3g}x)"
                                       for b in broken) if broken else "none found"))
    return out


SETTING_CONTROLS = ("mechanism_control", "control")  # a setting's control readings


def open_controls(rec: dict) -> list[str]:
    """The settings whose control interval is open on one side (runs missed the target: a
    bound only), e.g. ``["D=1"]``: such a control 'contains 1' with no power that way."""
    out = []
    for key, value in (rec.get("details") or {}).items():
        for name in SETTING_CONTROLS:
            c = value.get(name) if isinstance(value, dict) else None
            if isinstance(c, dict) and "ci_low" in c and None in (c["ci_low"], c["ci_high"]):
                out.append(f"{key} {name.replace('_', ' ')}")
    return out


def control_reading(rec: dict) -> str:
    """What the negative control's verdict means to a reader (it should be refuted), any
    control whose interval is open named: the one wording of the landing page, the
    notebooks and the figure titles, each of which puts the verdict before it."""
    if rec["control"]["verdict"] != "refuted":
        return ("not refuted: a broken control (no power, or a difference where there must "
                "be none), so the verdict is no support")
    opened = open_controls(rec)
    return "as it must be" + (
        f" (but {', '.join(opened)}: its interval is open, runs missed the target; no power "
        "in that direction)" if opened else "")


def summary_markdown(rec: dict) -> str:
    """The verdict in two sentences: outcome, statistic with interval, negative control."""
    c = rec["control"]
    ctrl = (f"refuted, {control_reading(rec)}" if c["verdict"] == "refuted"
            else f"**{c['verdict']}**: {control_reading(rec)}")
    stat = f"statistic {fmt(rec.get('statistic'))}"
    if rec.get("ci"):
        stat += f", interval {fmt(rec['ci'])}"
    if rec.get("margin") is not None:
        stat += f", margin {fmt(rec['margin'])}"
    text = (f"**Verdict: {rec['verdict'].upper()}** ({rec['paper_ref']}; {stat}).\n\n"
            f"Negative control ({c['description']}): {ctrl}.\n\n"
            "**Does the credited mechanism act?** " + " ".join(mechanism_lines(rec)))
    if rec.get("note"):
        text += f"\n\n*Note:* {rec['note']}"
    return text


def falsifier_markdown(rec: dict) -> str:
    """The pipeline's "what would have made this claim fail" text, or ``""`` if absent."""
    text = rec.get("falsifier")
    return f"### What would have made this fail\n\n{text}" if text else ""


def verdict_table(rec: dict) -> pd.DataFrame:
    """The headline fields of a verdict file, full text (no truncation), one row each."""
    rows = {k: fmt(rec.get(k)) for k in HEADLINE if k in rec}
    c = rec["control"]
    rows["negative control"] = f"{c['verdict']}: {c['description']}"
    if c.get("statistic") is not None:
        rows["control statistic"] = fmt(c["statistic"]) + (
            f", interval {fmt(c['ci'])}" if c.get("ci") else "")
    if rec.get("falsifier"):
        rows["falsifier"] = rec["falsifier"]
    return pd.DataFrame({"value": list(rows.values())}, index=pd.Index(list(rows), name="field"))


def _leaves(obj: Any, path: tuple[str, ...], out: dict, tables: list) -> None:
    """Walk ``details``: scalar leaves grouped by their parent path; lists of records apart."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            _leaves(v, (*path, str(k)), out, tables)
    elif isinstance(obj, list) and obj and all(isinstance(v, dict) for v in obj):
        frame = pd.DataFrame([{k: fmt(v) for k, v in r.items()} for r in obj])
        tables.append((" / ".join(path), frame))
    else:
        out.setdefault(path[:-1], {})[path[-1] if path else "value"] = fmt(obj)


def details_tables(details: dict, skip: Iterable[str] = ()) -> list[tuple[str, pd.DataFrame]]:
    """``details`` as readable tables instead of a JSON dump.

    Settings that share the same fields (e.g. one per ``theta``) become one table, a row per
    setting; the remaining single values one ``section / field / value`` table; lists of
    records (curves, calibration cells) a table each. Top-level keys in ``skip`` are left out.
    """
    skip = set(skip)
    leaves: dict[tuple[str, ...], dict[str, str]] = {}
    records: list[tuple[str, pd.DataFrame]] = []
    _leaves({k: v for k, v in details.items() if k not in skip}, (), leaves, records)
    groups: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for parent, fields in leaves.items():
        groups.setdefault(tuple(fields), []).append(parent)
    out, loose = [], []
    for fields, parents in groups.items():
        if len(parents) > 1 and len(fields) > 1:
            frame = pd.DataFrame([leaves[p] for p in parents],
                                 index=pd.Index([" / ".join(p) for p in parents], name="setting"))
            out.append((f"{len(parents)} settings with the same fields", frame))
        else:
            loose += [{"section": (" / ".join(p) or "(top)") if i == 0 else "", "field": k,
                       "value": v}
                      for p in parents for i, (k, v) in enumerate(leaves[p].items())]
    if loose:
        out.insert(0, ("single values", pd.DataFrame(loose)))
    return out + records


# --- display in a notebook (IPython imported lazily: the package does not need it) ---

def _display(*objs: Any) -> None:
    from IPython.display import display

    display(*objs)


def _markdown(text: str) -> None:
    from IPython.display import Markdown

    if text:
        _display(Markdown(text))


def _styled(frame: pd.DataFrame, index: bool = True) -> Any:
    """Left-aligned, wrapped, never truncated."""
    sty = frame.style.set_properties(**{"text-align": "left", "white-space": "pre-wrap",
                                        "vertical-align": "top"})
    sty = sty.set_table_styles([{"selector": "th", "props": "text-align: left;"}])
    return sty if index else sty.hide(axis="index")


def show_summary(rec: dict) -> None:
    """The verdict in words (notebook)."""
    _markdown(summary_markdown(rec))


def show_figure(fig: Figure, caption: str, root: str | Path, scale: str, name: str) -> Path:
    """Save the figure, then show that PNG inline with its caption underneath."""
    from IPython.display import Image

    _, png = save_figure(fig, root, scale, name)
    _display(Image(filename=str(png)))
    _markdown(f"*Figure ({html.escape(name)}).* {caption}")
    return png


def show_introduction(rec: dict) -> None:
    _markdown(introduction_markdown(rec))


def show_falsifier(rec: dict) -> None:
    _markdown(falsifier_markdown(rec))


def show_verdict_table(rec: dict) -> None:
    _display(_styled(verdict_table(rec)))


def show_table(frame: pd.DataFrame) -> None:
    """A derived table (a plotting module's), styled like the others, without its index."""
    _display(_styled(frame, index=False))


def show_details(rec: dict, skip: Iterable[str] = ()) -> None:
    """Every number in ``details`` as tables, each under a small heading."""
    for title, frame in details_tables(rec["details"], skip):
        _markdown(f"**{title}**")
        _display(_styled(frame, index=frame.index.name is not None))

