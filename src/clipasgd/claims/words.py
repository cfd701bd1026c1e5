"""Each claim's words in one place, rendered with its config wherever they appear.

The templates live in ``words.yaml`` beside the claim's module (``Claim.words`` for a claim
that carries its own); placeholders are the claim's merged config section at the scale
run (``{ratio_margin:g}``, ``{workers[n]}``), so thresholds and grids are never retyped.
Verdict files, notebook introductions, the landing page, the summary and the README's
claim table all call :func:`render`. The YAML is not code: editing it reruns no
simulation (only the jobs that print words, through :func:`words_hash`).
"""

from __future__ import annotations

import hashlib
import json
import string
from functools import cache
from pathlib import Path

import yaml

from . import claim_folder, get_claim

__all__ = ["FIELDS", "REQUIRED", "templates", "render", "words_hash"]

FIELDS = ("statement", "test", "falsifier", "ran")
REQUIRED = ("statement", "test", "falsifier")


@cache
def _file(folder: Path) -> dict:
    path = folder / "words.yaml"
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of claim ids to their words")
    return data


def templates(claim_id: str) -> dict[str, str]:
    """The claim's word templates (``Claim.words``, else its folder's ``words.yaml``)."""
    claim = get_claim(claim_id)
    words = dict(claim.words) if claim.words is not None else \
        _file(claim_folder(claim_id)).get(claim_id, {})
    missing = [f for f in REQUIRED if not words.get(f)]
    unknown = [f for f in words if f not in FIELDS]
    if missing or unknown:
        where = "Claim.words" if claim.words is not None else \
            str(claim_folder(claim_id) / "words.yaml")
        raise ValueError(f"claim {claim_id!r}: words in {where}: "
                         + (f"missing {missing}" if missing else f"unknown fields {unknown}")
                         + f"; fields: {', '.join(FIELDS)}")
    return {f: " ".join(str(words[f]).split()) for f in FIELDS if f in words}


class _Section(string.Formatter):
    def get_value(self, key, args, kwargs):  # noqa: ANN001, ANN201 (Formatter's signature)
        if isinstance(key, str) and key not in kwargs:
            raise KeyError(key)
        return super().get_value(key, args, kwargs)


def render(claim_id: str, cfg: dict) -> dict[str, str]:
    """The claim's words with ``{placeholders}`` filled from its merged section ``cfg``;
    a placeholder the section lacks is named in the error."""
    out = {}
    for field, text in templates(claim_id).items():
        try:
            out[field] = _Section().vformat(text, (), cfg)
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(f"claim {claim_id!r}: words field {field!r}: placeholder "
                             f"{err} is not in its config section") from None
    return out


def words_hash(claim_id: str) -> str:
    """A digest of the claim's templates: the verdict and page jobs rerun when it changes."""
    text = json.dumps(templates(claim_id), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
