"""Reader-facing output: readable tables, the falsifier, the landing page, inline figures."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from clipasgd import landing, report

PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def _record(claim: str, verdict: str = "supported", **extra) -> dict:
    long = "A statement long enough to be cut off by pandas' default column width. " * 3
    return {"claim": claim, "paper_ref": "Theorem 4.2", "statement": long, "test": "TOST <b>",
            "verdict": verdict, "statistic": 0.0123456, "ci": [-0.05, 0.07], "margin": 0.1,
            "control": {"description": "vanilla ASGD", "verdict": "refuted", "statistic": 0.9,
                        "ci": [0.5, 1.2]},
            "details": {"theta=0.5": {"verdict": "supported", "slope": 0.01, "ci": [-0.1, 0.1]},
                        "theta=1.0": {"verdict": "supported", "slope": 0.02, "ci": [-0.1, 0.2]},
                        "rule": "all must pass", "cells": [{"n": 10, "bias": 0.123456}]},
            "git_commit": "abc", **extra}


def _root(tmp_path: Path, records: list[dict], figures: tuple[str, ...] = ()) -> Path:
    for rec in records:
        path = tmp_path / "data" / "quick" / "claims" / f"{rec['claim']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rec))
    for name in figures:
        png = report.figure_paths(tmp_path, "quick", name)[1]
        png.parent.mkdir(parents=True, exist_ok=True)
        png.write_bytes(PNG_1PX)
    return tmp_path


def test_verdict_table_keeps_the_full_statement():
    rec = _record("tau_max")
    table = report.verdict_table(rec)
    assert table.loc["statement", "value"] == rec["statement"]
    assert "refuted: vanilla ASGD" in table.loc["negative control", "value"]
    assert "falsifier" not in table.index


def test_details_tables_group_settings_and_keep_records():
    tables = dict(report.details_tables(_record("x")["details"]))
    grouped = next(t for t in tables.values() if "setting" == t.index.name)
    assert list(grouped.index) == ["theta=0.5", "theta=1.0"]
    assert grouped.loc["theta=1.0", "ci"] == "[-0.1, 0.2]"
    assert tables["single values"].iloc[0].to_dict() == {"section": "(top)", "field": "rule",
                                                         "value": "all must pass"}
    assert tables["cells"].iloc[0].to_dict() == {"n": "10", "bias": "0.1235"}


def test_falsifier_is_shown_only_when_present():
    assert report.falsifier_markdown(_record("x")) == ""
    text = report.falsifier_markdown(_record("x", falsifier="A slope above 0.1."))
    assert text.endswith("A slope above 0.1.") and "fail" in text


def test_summary_names_a_control_without_power():
    rec = _record("x", verdict="inconclusive")
    rec["control"]["verdict"] = "supported"
    assert "no power" in report.summary_markdown(rec)


def test_show_figure_saves_and_displays_the_png(tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(report, "_display", lambda *objs: shown.extend(objs))
    fig = Figure(figsize=(2, 1))
    fig.subplots().plot([0, 1], [0, 1])
    png = report.show_figure(fig, "a caption", tmp_path, "quick", "demo")
    assert png.is_file() and png.with_suffix(".pdf").is_file()
    assert shown[0].data == png.read_bytes()  # the inline image is the saved file
    assert "a caption" in shown[1].data


def test_landing_page_embeds_figures_and_links_notebooks(tmp_path):
    recs = [_record("tau_max", falsifier="Slope CI outside +-0.1."),
            _record("virtual", verdict="refuted")]
    root = _root(tmp_path, recs, figures=("tau_max", "tau_max_curves"))
    out = landing.write_landing(root, "quick", ["tau_max", "virtual"])
    assert out == root / "data" / "quick" / "index.html"
    page = out.read_text()
    assert page.count("data:image/png;base64,") == 2
    assert base64.b64encode(PNG_1PX).decode() in page
    assert "../../notebooks/executed/quick/tau_max.html" in page
    assert "Slope CI outside +-0.1." in page
    assert "figures/quick/virtual.png" in page  # missing figure named, not silently dropped
    assert "TOST &lt;b&gt;" in page  # text is escaped
    assert html.escape(recs[0]["statement"]) in page and "what the paper says" in page


def test_landing_page_names_a_missing_verdict_before_writing(tmp_path):
    root = _root(tmp_path, [_record("tau_max")])
    with pytest.raises(FileNotFoundError, match="high_prob.json"):
        landing.write_landing(root, "quick", ["tau_max", "high_prob"])
    assert not (root / "data" / "quick" / "index.html").exists()


def test_an_open_control_interval_is_named_wherever_the_control_is_read() -> None:
    """A control 'contains 1' also when its interval is open (runs missed the target): the
    landing page, notebooks and figure titles say so (fig3_speedup's D = 1 at paper)."""
    from clipasgd.landing import _control
    from clipasgd.plots.style import control_words
    from clipasgd.report import control_reading, open_controls, summary_markdown

    closed = {"ratio": 1.0, "ci_low": 0.95, "ci_high": 1.05}
    rec = {"verdict": "inconclusive", "paper_ref": "Figure 3", "statistic": 1.0,
           "control": {"verdict": "refuted", "description": "D = 1"},
           "details": {"D=1": {"mechanism_control": closed}, "D=4": {"control": closed}}}
    assert open_controls(rec) == [] and control_reading(rec) == "as it must be"
    rec["details"]["D=1"]["mechanism_control"] = {**closed, "ci_high": None}
    assert open_controls(rec) == ["D=1 mechanism control"]
    for text in (control_reading(rec), _control(rec), control_words(rec),
                 summary_markdown(rec)):
        assert "D=1 mechanism control: its interval is open" in text, text
    rec["control"]["verdict"] = "supported"
    assert "not refuted: a broken control" in control_reading(rec)
    assert control_words(rec).startswith("negative control SUPPORTED (not refuted")
