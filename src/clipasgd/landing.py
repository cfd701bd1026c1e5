"""The page a reader opens first: ``data/<scale>/index.html``, one self-contained file.

Every claim with its verdict, its negative control, statistic and interval, its figures
(embedded as base64 PNG, so the file can be mailed or opened offline; a publication, whose
PNGs are committed beside it, links them instead: ``embed=False``), the "what would have
made this fail" text when the verdict file has one, and a link to its executed notebook;
on top, a table of what the paper says beside what the suite found.
"""

from __future__ import annotations

import base64
import json
from html import escape
from pathlib import Path

from .plots import CLAIM_FIGURES
from .plots.style import OUTCOME_COLORS, outcome
from .provenance import atomic_write_text
from .report import control_reading, figure_paths, fmt, mechanism_brief, mechanism_lines

__all__ = ["write_landing", "render_landing"]

CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
     line-height:1.45;color:#222}
table{border-collapse:collapse;width:100%;margin:1em 0;font-size:0.92em}
th,td{border:1px solid #ccc;padding:0.35em 0.5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}
.badge{display:inline-block;padding:0.1em 0.55em;border-radius:0.4em;color:#fff;
       font-weight:600;font-size:0.9em}
section{border-top:2px solid #ddd;margin-top:2.5em;padding-top:0.5em}
img{max-width:100%;height:auto;display:block;margin:0.8em 0}
.falsifier{background:#f6f6fb;border-left:4px solid #889;padding:0.5em 1em}
.missing{color:#a00}
"""


# Scales whose verdicts are not evidence (shown at the top of the page and the summary).
SCALE_WARNINGS = {"smoke": "Smoke scale: a plumbing check of the pipeline at tiny sizes (CI). "
                           "Its verdicts are not evidence about the paper: short horizons and a "
                           "few runs can read supported, refuted or inconclusive by chance. "
                           "Read the quick or paper scale."}


def _badge(verdict: str, control: bool = False) -> str:
    """The verdict coloured by whether it is the expected outcome (see ``plots.style``)."""
    kind = outcome(verdict, control)
    return (f'<span class="badge {kind}" style="background:{OUTCOME_COLORS[kind]}" '
            f'title="{kind} outcome">{escape(verdict)}</span>')


def _control(rec: dict) -> str:
    v = rec["control"]["verdict"]
    return f"{_badge(v, control=True)} ({escape(control_reading(rec))})"


def _figure(root: Path, scale: str, name: str, embed: bool = True) -> str:
    """The figure's PNG as an ``<img>``: inline (base64) or, ``embed=False``, a link relative
    to ``data/<scale>/index.html``."""
    png = figure_paths(root, scale, name)[1]
    if not png.is_file():
        return (f'<p class="missing">Figure <code>{escape(str(png.relative_to(root)))}</code> '
                "is not drawn yet: run the claim's notebook.</p>")
    src = (f"data:image/png;base64,{base64.b64encode(png.read_bytes()).decode('ascii')}"
           if embed else f"../../figures/{escape(scale)}/{escape(png.name)}")
    return f'<img alt="figure {escape(name)}" src="{src}">'


def _paper_table(records: list[dict]) -> str:
    rows = "".join(
        f"<tr><td><a href='#{escape(r['claim'])}'>{escape(r['claim'])}</a></td>"
        f"<td>{escape(r['paper_ref'])}</td><td>{escape(r['statement'])}</td>"
        f"<td>{escape(r['test'])}</td>"
        f"<td>{escape(fmt(r.get('statistic')))}<br>{escape(fmt(r.get('ci')))}</td>"
        f"<td>{_badge(r['verdict'])}</td>"
        f"<td>{_badge(r['control']['verdict'], control=True)}</td>"
        f"<td>{'<br>'.join(escape(x) for x in mechanism_brief(r))}</td></tr>"
        for r in records)
    return ("<table><tr><th>claim</th><th>paper</th><th>what the paper says</th>"
            "<th>what the suite tested</th><th>statistic, interval</th><th>verdict</th>"
            "<th>negative control</th><th>does the credited mechanism act? (fraction "
            f"clipped, ablation, step conditions broken)</th></tr>{rows}</table>")


def _section(root: Path, scale: str, rec: dict, embed: bool = True) -> str:
    claim = rec["claim"]
    link = f"../../notebooks/executed/{scale}/{claim}.html"
    stat = f"statistic {fmt(rec.get('statistic'))}"
    if rec.get("ci"):
        stat += f", interval {fmt(rec['ci'])}"
    if rec.get("margin") is not None:
        stat += f", margin {fmt(rec['margin'])}"
    parts = [f'<section id="{escape(claim)}"><h2>{escape(claim)} '
             f"<small>({escape(rec['paper_ref'])})</small> {_badge(rec['verdict'])}</h2>",
             f"<p><b>Claim.</b> {escape(rec['statement'])}</p>",
             f"<p><b>Test.</b> {escape(rec['test'])}</p>",
             f"<p><b>Result.</b> {escape(stat)}.</p>",
             f"<p><b>Negative control:</b> {_control(rec)}. "
             f"{escape(rec['control']['description'])}</p>",
             "<p><b>Does the credited mechanism act?</b> "
             f"{' '.join(escape(x) for x in mechanism_lines(rec))}</p>"]
    if rec.get("note"):
        parts.append(f"<p><i>Note:</i> {escape(rec['note'])}</p>")
    if rec.get("falsifier"):
        parts.append(f'<div class="falsifier"><b>What would have made this fail.</b> '
                     f"{escape(rec['falsifier'])}</div>")
    parts += [_figure(root, scale, name, embed)
              for name in CLAIM_FIGURES.get(claim, [claim])]
    parts.append(f'<p><a href="{escape(link)}">Executed notebook</a> (every number, the '
                 f"captions) &middot; verdict file <code>data/{escape(scale)}/claims/"
                 f"{escape(claim)}.json</code></p></section>")
    return "\n".join(parts)


def _not_run(not_run: dict[str, str]) -> str:
    rows = "".join(f"<tr><td>{escape(c)}</td><td>{escape(why)}</td></tr>"
                   for c, why in sorted(not_run.items()))
    return (f'<p class="missing"><b>Not run at this scale ({len(not_run)} claims):</b> no '
            "verdict, read their quick-scale pages.</p><table><tr><th>claim</th>"
            f"<th>why</th></tr>{rows}</table>")


def render_landing(root: Path, scale: str, records: list[dict],
                   not_run: dict[str, str] | None = None, embed: bool = True) -> str:
    """The page's HTML for the given verdict records (figures read from ``root``) and the
    claims ``not_run`` at this scale; ``embed=False`` links the PNGs instead of inlining them
    (for a publication, which commits them under ``figures/<scale>/``)."""
    commits = sorted({r.get("git_commit", "unknown") for r in records})
    head = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>clipasgd: claim verdicts ({escape(scale)})</title><style>{CSS}</style>"
            "</head><body>")
    intro = (f"<h1>Clipping makes asynchronous SGD robust to stragglers: claim verdicts "
             f"({escape(scale)} scale)</h1><p>Each claim of the paper was turned into a test "
             "fixed before any run, with a negative control: a planted false variant the same "
             "test must <i>refute</i>. <b>supported</b>: the test passed and its control was "
             "refuted; <b>refuted</b>: the test rejects the claim (whatever its control read); "
             "<b>inconclusive</b>: neither, or the test passed but its control was not "
             "refuted. Badge colours say whether an outcome is the one "
             "a sound test should give: green for a supported claim or a refuted control, red "
             "for a refuted claim or a control that was not refuted, amber for inconclusive or "
             "for <b>holds without &lt;mechanism&gt;</b>: the test passed, but it passed as "
             "well with the mechanism the statement credits removed (same design, seeds and "
             "test), so it is not support for that mechanism.</p>"
             f"<p>Code version: {escape(', '.join(commits))}.</p>")
    if scale in SCALE_WARNINGS:
        intro += f'<p class="missing"><b>{escape(SCALE_WARNINGS[scale])}</b></p>'
    claims = [r for r in records if r.get("kind", "claim") == "claim"]
    checks = [r for r in records if r.get("kind", "claim") != "claim"]
    body = "\n".join(_section(root, scale, r, embed) for r in claims)
    page = (f"{head}{intro}<h2>The paper beside the suite</h2>{_paper_table(claims)}"
            f"{_not_run(not_run) if not_run else ''}{body}")
    if checks:
        page += ("<h2>Simulator checks (not evidence about the paper)</h2><p>These hold by "
                 "construction when the simulator is right (a triangle inequality, a "
                 "bookkeeping identity): they test the code, not the theorems.</p>"
                 f"{_paper_table(checks)}"
                 + "\n".join(_section(root, scale, r, embed) for r in checks))
    return page + "</body></html>\n"


def write_landing(root: Path, scale: str, claims: list[str],
                  not_run: dict[str, str] | None = None) -> Path:
    """Write ``data/<scale>/index.html`` for ``claims``; every verdict file must exist.
    ``not_run``: claims left out of this scale, each with why (listed on the page)."""
    root = Path(root)
    paths = [root / "data" / scale / "claims" / f"{c}.json" for c in claims]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"landing page: no verdict file {', '.join(missing)}")
    records = [json.loads(p.read_text()) for p in paths]
    return atomic_write_text(root / "data" / scale / "index.html",
                             render_landing(root, scale, records, not_run))
