"""README.md and the pages under docs/ render as written: every table keeps one column
count (GitHub splits a row on every unescaped ``|``, also inside a code span), they point at
nothing outside the repository, and their relative links resolve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]


def cells(row: str) -> list[str]:
    """A table row's cells as GitHub-flavoured Markdown splits them (``\\|`` is a pipe)."""
    inner = row.strip().removeprefix("|").removesuffix("|")
    return re.split(r"(?<!\\)\|", inner)


def tables(text: str) -> list[tuple[int, list[str]]]:
    """``(first line number, rows)`` of every table outside code fences."""
    found: list[tuple[int, list[str]]] = []
    fenced, current = False, None
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and line.lstrip().startswith("|"):
            if current is None:
                current = (number, [])
                found.append(current)
            current[1].append(line)
        else:
            current = None
    return found


def test_cells_split_on_unescaped_pipes_only():
    assert cells("| a | `x \\| y` | c |") == [" a ", " `x \\| y` ", " c "]
    assert len(cells("| a | `x | y` | c |")) == 4


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_table_has_one_column_count(page):
    found = tables(page.read_text())
    assert len(found) >= (3 if page == README else 0)
    bad = [f"line {start + i}: {len(cells(row))} cells, header has {len(cells(rows[0]))}"
           for start, rows in found for i, row in enumerate(rows)
           if len(cells(row)) != len(cells(rows[0]))]
    assert bad == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_pages_point_at_nothing_outside_the_repository(page):
    assert re.findall(r"notes/|DESIGN\.md|/work/", page.read_text()) == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_resolve(page):
    """Every ``[text](target)`` that is not a URL names a file of the repository (relative
    to the page; a ``#fragment`` is dropped): moving a page must not leave links behind."""
    targets = re.findall(r"\]\(([^)\s]+)\)", page.read_text())
    local = [t.split("#", 1)[0] for t in targets if not re.match(r"[a-z]+:", t)]
    missing = [t for t in local if t and not (page.parent / t).exists()]
    assert missing == []
    assert local or page != README


def config_misuse(text: str) -> list[str]:
    """Snakemake commands (code spans and code blocks) with a target after ``--config``:
    Snakemake reads every word after it as ``key=value`` and fails on the target."""
    bad = []
    for command in re.findall(r"snakemake[^`\n]*", text):
        words = command.split("#", 1)[0].split()
        if "--config" in words:
            values = []
            for word in words[words.index("--config") + 1:]:
                if word.startswith("-"):
                    break  # another option: its words are not config values
                values.append(word)
            if any("=" not in w for w in values):
                bad.append(command.strip())
    return bad


def test_config_misuse_is_found():
    assert config_misuse("`snakemake --config scale=paper data/x.json`") != []
    assert config_misuse("`snakemake data/x.json --config scale=paper only=[a,b]`") == []
    assert config_misuse("`snakemake --config scale=paper --cores 2 claim_x`") == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_snakemake_commands_put_targets_before_config(page):
    assert config_misuse(page.read_text()) == []
