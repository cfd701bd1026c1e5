"""README.md renders as written: every table keeps one column count (GitHub splits a row
on every unescaped ``|``, also inside a code span) and it points at nothing outside the
repository."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


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


def test_every_readme_table_has_one_column_count():
    found = tables(README.read_text())
    assert len(found) >= 3
    bad = [f"line {start + i}: {len(cells(row))} cells, header has {len(cells(rows[0]))}"
           for start, rows in found for i, row in enumerate(rows)
           if len(cells(row)) != len(cells(rows[0]))]
    assert bad == []


def test_readme_points_at_nothing_outside_the_repository():
    text = README.read_text()
    assert re.findall(r"notes/|DESIGN\.md|/work/", text) == []
