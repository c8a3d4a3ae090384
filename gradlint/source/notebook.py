"""Jupyter notebooks as one Python source, and findings mapped back to their cells.

A notebook's code cells, in order, are joined into one *virtual source* that keeps every cell's
line numbers: IPython magics and shell escapes (``%time ...``, ``!pip install ...``,
``files = !ls``, ``obj?``) become ``pass`` at their indentation, and a cell run by a cell magic
(``%%bash``, ``%%time``) is blanked whole. gradlint runs that source the way it runs a script
(``gradlint.models.load.import_notebook``, under the same interception), parses it for the source rules and reads
suppression comments from it; at the end every location in the notebook is mapped back to
``(cell, line in the cell)`` (:func:`locate_cells`), ruff's ``notebook.ipynb:cell 3:4:5``.

Cells are numbered from 1 among the code cells, as ruff numbers them. The notebook is read as
plain JSON (nbformat 4): no Jupyter kernel, no server, no extra dependency.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import re
from pathlib import Path

SUFFIX = ".ipynb"

# A line IPython runs itself, not Python: a magic, a shell escape, an assignment from either,
# or a help request (``obj?``, ``??obj``).
_MAGIC = re.compile(r"^(?P<indent>\s*)(?:[%!]|[\w.]+\s*=\s*[%!]|\?\??\w|[\w.]+\?\??\s*$)")




class NotebookError(Exception):
    """The notebook could not be read; the message is one line for the user."""


@dataclasses.dataclass(frozen=True)
class Notebook:
    """The virtual source of a notebook and where each code cell starts in it."""

    path: Path
    source: str
    starts: tuple[int, ...]     # the virtual line of each code cell's first line (1-based)

    def cell_of(self, line: int) -> tuple[int, int]:
        """``(cell, line within the cell)`` of a line of the virtual source, both from 1."""
        index = max(bisect.bisect_right(self.starts, line) - 1, 0)
        return index + 1, line - self.starts[index] + 1 if self.starts else line


def is_notebook(path: Path | str) -> bool:
    return str(path).endswith(SUFFIX)


def read(path: Path) -> Notebook:
    """The notebook's virtual source. Raises NotebookError for a file that is no notebook."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        cells = data["cells"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise NotebookError(f"not a Jupyter notebook ({type(exc).__name__}: {exc})") from None
    lines: list[str] = []
    starts: list[int] = []
    if not isinstance(cells, list):
        raise NotebookError(f"not a Jupyter notebook (`cells` is a {type(cells).__name__}, not a list)")
    for number, cell in enumerate(cells, 1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        text = cell.get("source", "")
        if isinstance(text, list) and all(isinstance(line, str) for line in text):
            text = "".join(text)
        elif not isinstance(text, str):
            raise NotebookError(f"cell {number}'s `source` is not text (a string or a list of strings); "
                                "open and save the notebook in Jupyter to repair it")
        starts.append(len(lines) + 1)
        lines.extend(_python_lines(text.splitlines()))
    return Notebook(Path(path), "".join(line + "\n" for line in lines), tuple(starts))


def _python_lines(cell: list[str]) -> list[str]:
    """The cell's lines with what IPython would run itself replaced, line for line. A cell with
    no line at all still takes one, so the next cell starts on its own line."""
    if not cell:
        return [""]
    if cell[0].lstrip().startswith("%%"):
        return [""] * len(cell)  # a cell magic owns the whole cell (%%bash, %%writefile)
    out = []
    magic_indent = None  # inside a magic continued on the next line with a backslash
    for line in cell:
        if magic_indent is None and (match := _MAGIC.match(line)):
            magic_indent = match["indent"]
        if magic_indent is None:
            out.append(line)
            continue
        out.append(f"{magic_indent}pass")
        if not line.rstrip().endswith("\\"):
            magic_indent = None
    return out


def source_text(path: Path, errors: str = "strict") -> str:
    """What gradlint parses for ``path``: a notebook's virtual source, else the file's text."""
    if is_notebook(path):
        return read(path).source
    return Path(path).read_text(encoding="utf-8", errors=errors)


def locate_cells(results: list) -> None:
    """Point every finding, note and problem about a notebook at its cell: a finding's
    ``Location`` gets ``cell`` and the line within the cell; ``nb.ipynb:42`` in a message
    becomes ``nb.ipynb:cell 3:4``. Runs once, after suppressions (which read virtual lines)."""
    from gradlint.core.findings import display_path

    notebooks: dict[str, Notebook | None] = {}

    def notebook(path: str) -> Notebook | None:
        if path not in notebooks:
            try:
                notebooks[path] = read(Path(path))
            except NotebookError:
                notebooks[path] = None
        return notebooks[path]

    for result in results:
        for index, finding in enumerate(result.findings):
            loc = finding.location
            if not is_notebook(loc.path) or loc.cell is not None or (nb := notebook(loc.path)) is None:
                continue
            cell, line = nb.cell_of(loc.line)
            end_line = None if loc.end_line is None else loc.end_line - (loc.line - line)
            result.findings[index] = dataclasses.replace(
                finding, location=dataclasses.replace(loc, line=line, end_line=end_line, cell=cell))
        if is_notebook(result.path) and (nb := notebook(result.path)) is not None:
            shown = re.escape(display_path(str(Path(result.path).resolve())))
            pattern = re.compile(rf"(?<![\w/.]){shown}:(\d+)(?!\d)")

            def mapped(text: str, nb: Notebook = nb) -> str:
                def one(match: re.Match) -> str:
                    cell, line = nb.cell_of(int(match.group(1)))
                    return f"{match.group(0).rsplit(':', 1)[0]}:cell {cell}:{line}"
                return pattern.sub(one, text)

            result.notes = [dataclasses.replace(n, message=mapped(n.message)) for n in result.notes]
            result.problems = [dataclasses.replace(p, message=mapped(p.message)) for p in result.problems]
