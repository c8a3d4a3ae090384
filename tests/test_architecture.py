"""The package layout keeps the road a file travels (docs/architecture.md, "Packages, bottom to top").

The stage order is read from that page's table, so the page and this test cannot disagree. Every
``import`` of a gradlint module is an arrow: module level, inside a function, and under
``if TYPE_CHECKING:`` alike (a type-only import still says which way the knowledge flows). The
arrows must point to the importer's own stage (its row of the table) or a lower one;
``gradlint.rules`` (the top-level ``rules/`` folder, installed under gradlint) belongs to the stage
its table row names. Circles are ruled out separately, module by module.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gradlint"
DOC = ROOT / "docs" / "architecture.md"
MAX_TOP_LEVEL_MODULES = 12
MAX_CLASS_LINES = 250


def stages() -> dict[str, int]:
    """``{name in the table: rank}`` from the table under "Packages, bottom to top"."""
    text = DOC.read_text(encoding="utf-8").split("## Packages, bottom to top", 1)[1].split("\n## ", 1)[0]
    ranks: dict[str, int] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].isdigit():
            for name in re.findall(r"`([\w.]+)/?`", cells[1]):
                ranks[name.removesuffix(".py")] = int(cells[0])
    assert ranks, "no stage table in docs/architecture.md"
    return ranks


def modules() -> dict[str, Path]:
    """Every module gradlint ships, by dotted name (``rules/`` as ``gradlint.rules``)."""
    found = {}
    for base, prefix in ((PACKAGE, "gradlint"), (ROOT / "rules", "gradlint.rules")):
        for path in base.rglob("*.py"):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([prefix, *parts])] = path
    return found


def stage_key(module: str) -> str:
    """The table's name for ``module``'s stage: its package under gradlint, or the top-level
    module's own name (``cli``, ``__init__``, ``__main__``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports(module: str, path: Path, known: dict[str, Path]) -> list[tuple[str, str, int]]:
    """``(target module, imported name or '', line)`` for every gradlint import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target != "gradlint" and not target.startswith("gradlint."):
                continue
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                if submodule in known:
                    out.append((submodule, "", node.lineno))
                else:
                    out.append((target, alias.name, node.lineno))
        elif isinstance(node, ast.Import):
            out += [(a.name, "", node.lineno) for a in node.names
                    if a.name == "gradlint" or a.name.startswith("gradlint.")]
    return out


def _graph():
    known = modules()
    edges = {m: imports(m, p, known) for m, p in known.items()}
    return known, edges


def test_the_table_names_every_package_and_top_level_module() -> None:
    ranks = stages()
    known = modules()
    missing = sorted({stage_key(m) for m in known} - set(ranks))
    assert not missing, f"docs/architecture.md's stage table lacks {missing}"


def test_imports_point_down_the_stages() -> None:
    ranks = stages()
    known, edges = _graph()
    wrong = []
    for module, targets in edges.items():
        own = stage_key(module)
        for target, _name, line in targets:
            theirs = stage_key(target)
            if ranks[theirs] > ranks[own]:
                wrong.append(f"{known[module].relative_to(ROOT)}:{line}: {module} ({own}, stage "
                             f"{ranks[own]}) imports {target} ({theirs}, stage {ranks[theirs]})")
    assert not wrong, "imports against the flow:\n" + "\n".join(sorted(set(wrong)))


def test_no_import_circle() -> None:
    known, edges = _graph()
    graph = nx.DiGraph()
    graph.add_nodes_from(known)
    for module, targets in edges.items():
        for target, _name, _line in targets:
            if target in known and target != module:
                graph.add_edge(module, target)
    cycles = sorted(" -> ".join([*c, c[0]]) for c in nx.simple_cycles(graph))
    assert not cycles, "import circles:\n" + "\n".join(cycles)


def test_no_private_name_crosses_a_package() -> None:
    known, edges = _graph()
    wrong = []
    for module, targets in edges.items():
        for target, name, line in targets:
            private = name.startswith("_") and not name.startswith("__")
            if private and stage_key(target) != stage_key(module):
                wrong.append(f"{known[module].relative_to(ROOT)}:{line}: {module} imports {target}.{name}")
    # a module imported whole, then a private attribute of it read: ``runner._FileChecker``
    for module, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gradlint"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    if full in known:
                        aliases[alias.asname or alias.name] = full
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname and alias.name in known:
                        aliases[alias.asname] = alias.name
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and node.attr.startswith("_")
                    and not node.attr.startswith("__")
                    and stage_key(aliases[node.value.id]) != stage_key(module)):
                wrong.append(f"{path.relative_to(ROOT)}:{node.lineno}: {module} reads "
                             f"{aliases[node.value.id]}.{node.attr}")
    assert not wrong, "private names across packages:\n" + "\n".join(wrong)


def test_few_modules_at_the_top() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


def test_no_long_class() -> None:
    long = []
    for module, path in modules().items():
        if not module.startswith("gradlint.rules"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > MAX_CLASS_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.name} "
                                f"({node.end_lineno - node.lineno + 1} lines)")
    assert not long, f"classes over {MAX_CLASS_LINES} lines:\n" + "\n".join(long)
