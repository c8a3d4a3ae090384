"""MkDocs hook: the site's rule pages, written at build time from the rules themselves.

Each ``Rule`` subclass found in ``rules/`` (the registry ``gradlint rule --all`` lists) gets one page,
``rules/GLNNN.md``: its code, name, default severity and summary, the sections of its docstring
(What it does / Why is this bad? / Example / Use instead / Options / References), its options with
their defaults as ``[tool.gradlint.rules.GLNNN]`` would set them, and its ``invalid`` and ``valid``
example files (the ones ``tests/test_rule_examples.py`` runs). ``rules/index.md`` is the rule table.
Nothing is kept by hand: a new rule module gets its page, and its entry under "Rules" in the nav.

The rules are imported from this source tree (``rules/`` installs as ``gradlint.rules``); importing
them needs the standard library only, so the site builds from a fresh clone with nothing but
``pip install mkdocs mkdocs-material`` (or ``pip install -e '.[docs]'``).
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
THEORY = ROOT / "docs" / "THEORY.md"

SCOPES = {
    "model": "the traced model graph and the probe's measurements",
    "source": "the project's source (no model is built for it)",
    "suppression": "a linted file's suppression comments, after every other rule's findings",
}


def load_rules() -> tuple[type, ...]:
    """``gradlint.rules.ALL_RULES`` of this source tree, installed or not."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    rules_dir = ROOT / "rules"
    module = sys.modules.get("gradlint.rules")
    if module is None:
        try:
            spec = importlib.util.find_spec("gradlint.rules")
        except ImportError:
            spec = None
        if spec is None or spec.origin is None or Path(spec.origin).resolve().parent != rules_dir:
            # not installed, or installed from elsewhere: load rules/ under its installed name
            spec = importlib.util.spec_from_file_location(
                "gradlint.rules", rules_dir / "__init__.py", submodule_search_locations=[str(rules_dir)])
        module = importlib.util.module_from_spec(spec)
        sys.modules["gradlint.rules"] = module
        spec.loader.exec_module(module)
    return tuple(module.ALL_RULES)


def theory_anchors() -> dict[str, str]:
    """THEORY.md's section numbers ("3") → their heading's anchor on the site."""
    from markdown.extensions.toc import slugify

    anchors = {}
    for line in THEORY.read_text().splitlines():
        match = re.match(r"## (\d+)\. ", line)
        if match:
            anchors[match.group(1)] = slugify(line[3:].strip(), "-")
    return anchors


def _link_prose(text: str, codes: set[str], own: str, anchors: dict[str, str]) -> str:
    """Links in prose (never inside code): rule codes to their pages, "THEORY.md §N" to its section."""
    def link(piece: str) -> str:
        piece = re.sub(r"\bGL\d{3}\b",
                       lambda m: f"[{m.group(0)}]({m.group(0)}.md)" if m.group(0) in codes - {own} else m.group(0),
                       piece)
        return re.sub(r"THEORY\.md(\s+§(\d+))?",
                      lambda m: f"[THEORY.md{m.group(1) or ''}](../THEORY.md"
                                f"{'#' + anchors[m.group(2)] if m.group(2) in anchors else ''})",
                      piece)

    out = []
    for i, block in enumerate(re.split(r"(^```.*?^```$)", text, flags=re.M | re.S)):
        if i % 2:  # a fenced code block
            out.append(block)
            continue
        parts = re.split(r"(`[^`]*`)", block)
        out.append("".join(p if j % 2 else link(p) for j, p in enumerate(parts)))
    return "".join(out)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def options_block(rule: type) -> str:
    if not rule.options:
        return "This rule has no options: it has no threshold to set.\n"
    rows = ["| option | default |", "|---|---|"]
    rows += [f"| `{name}` | `{toml_value(value)}` |" for name, value in rule.options.items()]
    table = "\n".join(rows)
    toml = "\n".join(f"{name} = {toml_value(value)}" for name, value in rule.options.items())
    return (f"Defaults, as the rule declares them (`gradlint rule {rule.code} --output-format json` "
            f"prints them too):\n\n{table}\n\nTo change one, in `pyproject.toml` "
            f"(see [Configuration](../configuration.md)):\n\n"
            f"```toml\n[tool.gradlint.rules.{rule.code}]\n{toml}\n```\n")


def rule_page(rule: type, codes: set[str], anchors: dict[str, str]) -> str:
    docs = _link_prose(rule.docs(), codes, rule.code, anchors)
    # the docstring's sections; the option table goes at the end of its "## Options"
    sections = re.split(r"^(?=## )", docs, flags=re.M)
    body = []
    for section in sections:
        section = section.rstrip() + "\n"
        if section.startswith("## Options"):
            section += "\n" + options_block(rule)
        body.append(section)
    if not any(s.startswith("## Options") for s in sections):
        body.append("## Options\n\n" + options_block(rule))
    facts = [
        ("Code", f"`{rule.code}`"),
        ("Name", f"`{rule.name}`"),
        ("Default severity", f"{rule.severity}"),
        ("Reads", SCOPES.get(rule.scope, rule.scope)),
    ]
    if getattr(rule, "needs_weights", False):
        facts.append(("Needs the weights", "yes: skipped for a model checked on the meta device"))
    if rule.explained_by:
        facts.append(("Runs after", ", ".join(f"[{c}]({c}.md)" for c in rule.explained_by)
                      + " (their findings can explain its own)"))
    facts.append(("Fix", rule.fix.replace("|", "\\|")))
    table = "| | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in facts)
    examples = [
        "## Try it",
        "",
        f"Two complete files, the ones `tests/test_rule_examples.py` runs with only {rule.code} "
        f"selected. This one gets the finding on the line marked `# expect:`:",
        "",
        "```python",
        textwrap.dedent(rule.invalid).rstrip(),
        "```",
        "",
        "The same file fixed, which gets no finding:",
        "",
        "```python",
        textwrap.dedent(rule.valid).rstrip(),
        "```",
        "",
    ]
    return "\n".join([
        f"# {rule.code} {rule.name}",
        "",
        f"{rule.summary}.",
        "",
        table,
        "",
        f"`gradlint rule {rule.code}` prints this documentation in the terminal.",
        "",
        "".join(s if s.endswith("\n\n") else s + "\n" for s in body).rstrip(),
        "",
        *examples,
    ])


def index_page(rules: tuple[type, ...]) -> str:
    rows = ["| code | name | default | what it flags |", "|---|---|---|---|"]
    rows += [f"| [{r.code}]({r.code}.md) | {r.name} | {r.severity} | {r.summary} |" for r in rules]
    return "\n".join([
        "# Rules",
        "",
        "One page per rule, written when the site is built from the rule's own class: its "
        "documentation, its options with their defaults, and a file it flags next to the same file "
        "fixed. `gradlint rule --all` lists them in the terminal and `gradlint rule CODE` prints one.",
        "",
        *rows,
        "",
        "Severity: `error`, `warning` or `info`. A structural finding that the probe does not confirm "
        "is kept as `info`, with the measured number, so a healthy model does not fail your build. "
        "Thresholds come from [THEORY.md](../THEORY.md); each rule's page cites the section behind its "
        "thresholds. Select, ignore and configure rules in [Configuration](../configuration.md).",
        "",
    ])


def nav_title(rule: type) -> str:
    return f"{rule.code} {rule.name}"


# --- MkDocs events -----------------------------------------------------------------------------

def on_config(config, **kwargs):
    """Expand the nav's ``Rules: rules/index.md`` into the index and one entry per rule."""
    rules = load_rules()
    entries = ["rules/index.md"] + [{nav_title(r): f"rules/{r.code}.md"} for r in rules]
    for i, item in enumerate(config.nav or []):
        if isinstance(item, dict) and item.get("Rules") == "rules/index.md":
            config.nav[i] = {"Rules": entries}
    return config


def on_files(files, config, **kwargs):
    from mkdocs.structure.files import File

    rules = load_rules()
    codes = {r.code for r in rules}
    anchors = theory_anchors()
    files.append(File.generated(config, "rules/index.md", content=index_page(rules)))
    for rule in rules:
        files.append(File.generated(config, f"rules/{rule.code}.md", content=rule_page(rule, codes, anchors)))
    return files
