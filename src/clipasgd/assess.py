"""Assess your own update rule: every claim's design run with the rule in place of Clipped
ASGD, read with the claim's own test, beside Clipped ASGD's verdict.

``clipasgd assess path/to/my_rule.py:my_rule`` (or ``package.module:my_rule``). The rule is
a builder with keyword parameters typed ``int``/``float`` (``eta``, and ``c`` if it clips;
:func:`clipasgd.algorithms.register`'s contract) that returns a transform; it is loaded
from the user's file, registered under ``user_<name>`` and never written into the
package, so the package's code fingerprint and the claims' caches are untouched. For each
claim whose design has a ``clipped`` claim arm, the runner replaces that arm by the rule
(its parameters taken from the values the design computes at each point: the rule's step
where the claim sets Clipped ASGD's, tuned on the same selection seeds in the figure
claims) and runs the same grid, seeds and reading. Output, under
``assess/<name>/`` laid out like the pipeline's (``data/<scale>/<claim>/``,
``data/<scale>/claims/<claim>.json``, ``figures/<scale>/``, ``data/<scale>/index.html``)
and a table ``data/<scale>/assess.md``. The user file's digest keys the caches.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import algorithms
from .claims import CLAIM_IDS, get_claim, words
from .claims.base import Arm, Progress
from .pipeline import check_scale, claim_config, load_config
from .provenance import atomic_write_text, provenance, write_json
from .runner import replace_arms, run_claim

__all__ = ["AssessError", "load_rule", "assessable", "assess", "probe"]

ARM = "clipped"  # the claim arm a rule stands in for


class AssessError(ValueError):
    """A rule that cannot be assessed: named with the file, the claim and the step."""


def _from_file(path: Path, attr: str) -> tuple[Callable, str]:
    if not path.is_file():
        raise AssessError(f"rule file not found: {path}")
    source = path.read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:12]
    name = f"clipasgd_user_rule_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # noqa: BLE001 (any error in user code is named, not raised)
        raise AssessError(f"{path}: importing the rule's file failed: "
                          f"{type(err).__name__}: {err}") from None
    if not hasattr(module, attr):
        raise AssessError(f"{path}: no function {attr!r} (found: "
                          f"{', '.join(n for n in dir(module) if not n.startswith('_'))})")
    return getattr(module, attr), digest


def load_rule(target: str) -> tuple[str, Callable, str]:
    """``"file.py:function"`` or ``"package.module:function"`` -> ``(function name,
    builder, digest of its source)``."""
    if ":" not in target:
        raise AssessError(f"rule {target!r}: expected path/to/file.py:function or "
                          "package.module:function")
    where, attr = target.rsplit(":", 1)
    if where.endswith(".py") or Path(where).is_file():
        build, digest = _from_file(Path(where), attr)
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as err:
            raise AssessError(f"rule {target!r}: cannot import {where!r} ({err})") from None
        build = getattr(module, attr, None)
        if build is None:
            raise AssessError(f"rule {target!r}: module {where!r} has no {attr!r}")
        source = inspect.getsource(module).encode()
        digest = hashlib.sha256(source).hexdigest()[:12]
    if not callable(build):
        raise AssessError(f"rule {target!r}: {attr!r} is not callable")
    return attr, build, digest


def assessable() -> list[str]:
    """Claims whose data come from a design with a ``clipped`` claim arm."""
    out = []
    for cid in CLAIM_IDS:
        source = get_claim(get_claim(cid).source)
        if cid != "virtual" and any(a.label == ARM and a.role == "claim" for a in source.arms):
            out.append(cid)
    return out


def _params(entry: algorithms.Entry, at: dict, claim: str) -> dict:
    missing = [p for p, spec in entry.params.items() if spec.required and p not in at]
    if missing:
        raise AssessError(f"rule {entry.name!r} in claim {claim!r}: the design gives "
                          f"{sorted(at)} but the rule requires {missing}")
    return {p: at[p] for p in entry.params if p in at}


def _arm(entry: algorithms.Entry, claim: str) -> Arm:
    return Arm(ARM, entry.name, lambda at: _params(entry, dict(at), claim), role="claim")


def probe(entry: algorithms.Entry, claim: str, at: dict, steps: int = 5) -> None:
    """Build the rule and feed it a few gradients before any run: a rule that raises,
    returns NaN or changes the gradient's shape is named with the claim and step."""
    params = _params(entry, at, claim)
    where = f"rule {entry.name!r} in claim {claim!r}"
    try:
        rule = algorithms.make_algorithm(entry.name, 8, **params).rule
        state = rule.init(np.zeros((2, 3)))
    except Exception as err:  # noqa: BLE001 (named, not raised)
        raise AssessError(f"{where}: building it with {params} failed: "
                          f"{type(err).__name__}: {err}") from None
    g = np.random.default_rng(0).standard_normal((2, 3))
    for step in range(steps):
        try:
            u, state = rule.update(g * (1 + step), state, np.array([0, step]))
        except Exception as err:  # noqa: BLE001
            raise AssessError(f"{where}: step {step}: update raised "
                              f"{type(err).__name__}: {err}") from None
        u = np.asarray(u)
        if u.shape != g.shape:
            raise AssessError(f"{where}: step {step}: update returned shape {u.shape} for a "
                              f"gradient of shape {g.shape}")
        if not np.all(np.isfinite(u)):
            raise AssessError(f"{where}: step {step}: update returned non-finite values")


# Typical values of what a design gives its clipped arm (for the probe only).
PROBE_POINT = {"eta": 0.05, "c": 1.0, "n_workers": 8, "max_delay": 8}


def assess(target: str, scale: str = "smoke", claims: list[str] | None = None,
           out_root: str | Path = "assess", config: str | Path = "config/config.yaml",
           progress: Progress | None = None) -> Path:
    """Run every assessable claim's design with the rule; write verdicts, the table and
    the page under ``<out_root>/<name>/``; returns the table's path."""
    name, build, digest = load_rule(target)
    cfg = load_config(config)
    try:
        check_scale(cfg, scale)
        chosen = claims or assessable()
        for cid in chosen:
            get_claim(cid)  # an unknown id is named as such, with the registered ones
    except ValueError as err:
        raise AssessError(str(err)) from None
    bad = [c for c in chosen if c not in assessable()]
    if bad:
        raise AssessError(f"claim(s) {bad} cannot be assessed (no clipped arm); "
                          f"assessable: {', '.join(assessable())}")
    entry = algorithms.register(f"user_{name}", build, label=f"user_{name}", replace=True)
    for cid in chosen:  # every check before any run
        probe(entry, cid, PROBE_POINT)
    root = Path(out_root) / name
    say = progress or (lambda m: print(m, file=sys.stderr, flush=True))
    rows = []
    for cid in chosen:
        claim = get_claim(cid)
        source = get_claim(claim.source)
        ccfg = claim_config(cfg, cid, scale)
        data = root / "data" / scale / claim.source
        if not (data / "meta.json").is_file():
            scfg = claim_config(cfg, claim.source, scale)
            try:
                run_claim(source, scfg, data, arms=replace_arms(source.arms, _arm(entry, cid)),
                          variant=f"assess-{name}-{digest}",
                          progress=lambda m, c=cid: say(f"[assess {name}: {c}] {m}"))
            except AssessError:
                raise
            except Exception as err:  # noqa: BLE001 (the user's rule failed mid-run)
                raise AssessError(f"rule {entry.name!r} in claim {cid!r}: the run failed: "
                                  f"{type(err).__name__}: {err}") from None
            write_json(data / "meta.json", provenance(scfg, scfg.get("seed"))
                       | {"claim": claim.source, "scale": scale, "rule": target,
                          "rule_digest": digest})
        v = claim.reading(ccfg, data)
        said = words.render(cid, ccfg)
        rec = {"claim": cid, "paper_ref": claim.paper_ref,
               "statement": f"[{name} in place of Clipped ASGD] {said['statement']}",
               "test": said["test"], "falsifier": said["falsifier"], "rule": target,
               "rule_digest": digest, **v.to_dict(), "scale": scale, "config_section": ccfg,
               "git_commit": provenance(ccfg, ccfg.get("seed")).get("git_commit")}
        write_json(root / "data" / scale / "claims" / f"{cid}.json", rec)
        own = Path("data") / scale / "claims" / f"{cid}.json"
        theirs = json.loads(own.read_text()) if own.is_file() else None
        rows.append({"claim": cid, "verdict": v.verdict, "statistic": v.statistic,
                     "ci": v.ci, "control": v.control.verdict,
                     "clipped_verdict": theirs["verdict"] if theirs else "not run",
                     "clipped_statistic": theirs["statistic"] if theirs else None})
    table = _write_table(root, scale, name, target, rows)
    _write_page(root, scale, chosen, say)
    return table


def _write_page(root: Path, scale: str, claims: list[str], say: Progress) -> None:
    """Each claim's figures drawn from the rule's tables, and the landing page."""
    from .landing import write_landing
    from .plots import CLAIM_FIGURES, draw

    for cid in claims:
        for fig in CLAIM_FIGURES.get(cid, []):
            try:
                draw(fig, root, scale)
            except Exception as err:  # noqa: BLE001 (a figure that needs the claim's own arms)
                say(f"[assess] figure {fig}: not drawn ({type(err).__name__}: {err})")
    write_landing(root, scale, claims)


def _fmt(x: object) -> str:
    if isinstance(x, float):
        return f"{x:.3g}"
    if isinstance(x, list | tuple):
        return "[" + ", ".join(_fmt(v) for v in x) + "]"
    return "–" if x is None else str(x)


def _write_table(root: Path, scale: str, name: str, target: str, rows: list[dict]) -> Path:
    lines = [f"# `{name}` through every claim's design ({scale} scale)", "",
             f"Rule: `{target}` in place of Clipped ASGD (arm `{ARM}`), each claim's own "
             "grid, seeds and test. Clipped ASGD's verdict beside it comes from "
             f"`data/{scale}/claims/` of the pipeline run (if any).", "",
             "| claim | rule's verdict | statistic | interval | its control | Clipped ASGD's "
             "verdict | Clipped's statistic |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['claim']} | **{r['verdict']}** | {_fmt(r['statistic'])} | "
                     f"{_fmt(r['ci'])} | {r['control']} | {r['clipped_verdict']} | "
                     f"{_fmt(r['clipped_statistic'])} |")
    out = root / "data" / scale / "assess.md"
    atomic_write_text(out, "\n".join(lines) + "\n")
    write_json(out.with_suffix(".json"), {"rule": target, "scale": scale, "rows": rows})
    print("\n".join(lines))
    return out
