"""Source edits a rule proposes for one of its findings, made on the concrete syntax tree.

A rule's ``propose`` reads the project's files through ``Sources`` (each parsed once with LibCST,
which keeps the user's formatting and comments) and returns a ``Proposal``: what the edit does in
one line, the edits as ranges of text, and whether it only restores what the user evidently
intended (``safe``) or changes what the model computes (``--unsafe-fixes``). Nothing here writes
a file or runs user code: ``gradlint.fix`` verifies a proposal on a private copy of the project
before it applies one.

Positions follow LibCST's: lines from 1, columns from 0, ``end`` exclusive.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import libcst as cst
    from libcst.metadata import CodeRange


@dataclasses.dataclass(frozen=True, order=True)
class Edit:
    """Replace the text of ``path`` from (line, col) to (end_line, end_col) by ``text``."""

    path: str        # the file, absolute
    line: int
    col: int
    end_line: int
    end_col: int
    text: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Proposal:
    """A rule's repair of one finding: ``title`` says what it does ("insert `clip_grad_norm_(...)`
    before `optimizer.step()`"), ``safe`` is False where it changes the model's function (an
    activation, an added layer) rather than restoring what the code evidently intended;
    ``fallback`` is the rule's next repair, tried when this one does not verify (or is unsafe and
    unsafe fixes were not asked for)."""

    title: str
    edits: tuple[Edit, ...]
    safe: bool = True
    fallback: Proposal | None = None

    def alternatives(self, unsafe: bool) -> tuple[Proposal, ...]:
        """This repair and its fallbacks, in order, that may be made (safe ones, and unsafe
        ones when ``unsafe``)."""
        chain, proposal = [], self
        while proposal is not None:
            if proposal.edits and (proposal.safe or unsafe):
                chain.append(proposal)
            proposal = proposal.fallback
        return tuple(chain)


class SourceFile:
    """One file of the project, parsed once; positions of its nodes on demand."""

    def __init__(self, path: Path) -> None:
        import libcst as cst
        from libcst.metadata import MetadataWrapper, PositionProvider

        self.path = path.resolve()
        with open(self.path, encoding="utf-8", newline="") as handle:  # line endings as they are
            self.text = handle.read()
        self.wrapper = MetadataWrapper(cst.parse_module(self.text), unsafe_skip_copy=True)
        self.module: cst.Module = self.wrapper.module
        self._positions = self.wrapper.resolve(PositionProvider)

    def position(self, node: cst.CSTNode) -> CodeRange:
        return self._positions[node]

    def nodes(self, kind: type | tuple[type, ...] = ()) -> Iterator[cst.CSTNode]:
        """Every node of the file (of ``kind`` when given), in source order."""
        for node in self._positions:
            if not kind or isinstance(node, kind):
                yield node

    def at_line(self, line: int, kind: type | tuple[type, ...]) -> list[cst.CSTNode]:
        """The nodes of ``kind`` whose range covers ``line``, outermost first."""
        found = [n for n in self.nodes(kind) if self._positions[n].start.line <= line <= self._positions[n].end.line]
        return sorted(found, key=lambda n: (self._positions[n].start.line, self._positions[n].start.column,
                                            -self._positions[n].end.line, -self._positions[n].end.column))

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)

    def replace(self, node: cst.CSTNode, new: cst.CSTNode | str) -> Edit:
        """An edit replacing ``node``'s text by ``new`` (a node, or its source text)."""
        where = self._positions[node]
        text = new if isinstance(new, str) else self.module.code_for_node(new)
        return Edit(str(self.path), where.start.line, where.start.column, where.end.line, where.end.column, text)

    def set_keyword(self, call: cst.Call, name: str, value: str) -> Edit | None:
        """An edit giving ``call`` the keyword argument ``name=value``: its value replaced where
        the keyword is written, else the keyword added after the last argument (before a trailing
        comma). None where ``**kwargs`` may already hold it, or the call has no argument."""
        given = next((a for a in call.args if a.keyword is not None and a.keyword.value == name), None)
        if given is not None:
            return self.replace(given.value, value)
        if not call.args or any(a.star == "**" for a in call.args):
            return None
        end = self._positions[call.args[-1]].end   # an argument's range ends before its comma
        return Edit(str(self.path), end.line, end.column, end.line, end.column, f", {name}={value}")

    def insert_after(self, statement: cst.CSTNode, line_text: str) -> Edit:
        """An edit adding ``line_text`` as a new line after ``statement`` (a simple statement
        line or a compound statement), at that statement's indentation."""
        where = self._positions[statement]
        first = self.text.splitlines()[where.start.line - 1]
        indent = first[: len(first) - len(first.lstrip())]
        end = self._line_end(where.end.line)
        return Edit(str(self.path), where.end.line, end, where.end.line, end, "\n" + indent + line_text)

    def insert_before(self, statement: cst.CSTNode, line_text: str) -> Edit:
        """An edit adding ``line_text`` as a new line before ``statement``, at its indentation."""
        where = self._positions[statement]
        first = self.text.splitlines()[where.start.line - 1]
        indent = first[: len(first) - len(first.lstrip())]
        return Edit(str(self.path), where.start.line, 0, where.start.line, 0, indent + line_text + "\n")

    def _line_end(self, line: int) -> int:
        return len(self.text.splitlines()[line - 1])


class Sources:
    """The project's files as a rule's ``propose`` reads them: each parsed at most once."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root
        self._files: dict[Path, SourceFile | None] = {}

    def file(self, path: str | Path) -> SourceFile | None:
        """The parsed file, or None when it cannot be read or parsed (nothing to propose there)."""
        import libcst as cst

        key = Path(path).resolve()
        if key not in self._files:
            try:
                self._files[key] = SourceFile(key)
            except (OSError, UnicodeDecodeError, cst.ParserSyntaxError):
                self._files[key] = None
        return self._files[key]


def apply_edits(text: str, edits: list[Edit] | tuple[Edit, ...]) -> str:
    """``text`` with ``edits`` made (positions refer to ``text`` before any edit). Raises
    ValueError when two edits overlap: one of them would be made on text the other replaced."""
    starts = _line_starts(text)

    def offset(line: int, col: int) -> int:
        return starts[line - 1] + col

    spans = sorted(((offset(e.line, e.col), offset(e.end_line, e.end_col), e.text) for e in edits),
                   key=lambda s: (s[0], s[1]))
    for (_, end, _), (start, _, _) in zip(spans, spans[1:]):
        if start < end:
            raise ValueError("overlapping edits")
    for start, end, new in reversed(spans):
        text = text[:start] + new + text[end:]
    return text


def _line_starts(text: str) -> list[int]:
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


# temporary files and folders of a write or a re-check in progress: a stop signal ends gradlint
# with os._exit, which runs no `finally`, so the CLI's handler removes them (remove_leftovers)
_IN_PROGRESS: set[str] = set()


def in_progress(path: str | Path) -> None:
    _IN_PROGRESS.add(str(path))


def _unused_name(folder: str | Path, prefix: str, suffix: str = "") -> str:
    """A path in ``folder`` that is registered as in progress before anything is created there:
    a Ctrl-C between creating it and registering it would leave it behind."""
    import os
    import secrets

    path = os.path.join(folder, f"{prefix}{secrets.token_hex(8)}{suffix}")
    in_progress(path)
    return path


def new_scratch_folder(prefix: str) -> str:
    """A new private folder in the temporary directory (as ``tempfile.mkdtemp``), registered
    before it exists so that a stop at any moment removes it."""
    import os
    import tempfile

    while True:
        path = _unused_name(tempfile.gettempdir(), prefix)
        try:
            os.mkdir(path, 0o700)
            return path
        except FileExistsError:
            done(path)


def done(path: str | Path) -> None:
    _IN_PROGRESS.discard(str(path))


def remove_leftovers() -> None:
    """Remove what a write or a re-check had created when gradlint is stopped in the middle."""
    import os
    import shutil

    for path in list(_IN_PROGRESS):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            os.unlink(path)
        _IN_PROGRESS.discard(path)


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path``'s content by ``text`` in one step (a reader sees the old file or the new
    one, never a part), keeping its permissions."""
    import os

    path = Path(path)
    mode = path.stat().st_mode
    temporary = _unused_name(path.parent, f".{path.name}.", ".gradlint")   # registered first
    handle = None
    try:
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.chmod(temporary, mode & 0o7777)
        os.replace(temporary, path)
    except BaseException:
        if handle is not None and os.path.exists(temporary):   # ours, not a name taken already
            os.unlink(temporary)
        raise
    finally:
        done(temporary)
