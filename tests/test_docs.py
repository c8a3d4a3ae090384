"""The documentation: the site builds strictly (every link and anchor resolves, every page is in the
nav), every rule has its page written from its own class, and the README stays a front page whose
commands, links and sample output are true."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib

import pytest
from conftest import ROOT, run_cli

from gradlint.rules import ALL_RULES

README = (ROOT / "README.md").read_text()
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


def test_site_builds_strictly_with_a_page_per_rule(site):
    index = (site / "rules" / "index.html").read_text()
    for rule in ALL_RULES:
        page = site / "rules" / rule.code / "index.html"
        assert page.exists(), f"no page for {rule.code}"
        html = page.read_text()
        assert rule.name in html and f"{rule.code}/" in index
        for heading in ("What it does", "Why is this bad?", "Use instead:", "Options", "References", "Try it"):
            assert heading in html, (rule.code, heading)
        for option in rule.options:
            assert f"<code>{option}</code>" in html, (rule.code, option)
        assert f"expect: {rule.code}" in html  # its invalid example, with the line it flags
    assert not (site / "hooks.py").exists()


def test_rule_pages_set_options_as_the_configuration_reads_them():
    sys.path.insert(0, str(DOCS))
    try:
        import hooks
    finally:
        sys.path.remove(str(DOCS))
    codes = {rule.code for rule in ALL_RULES}
    for rule in ALL_RULES:
        page = hooks.rule_page(rule, codes, hooks.theory_anchors())
        if not rule.options:
            continue
        block = re.search(r"```toml\n(.*?)```", page, re.S).group(1)
        table = tomllib.loads(block)["tool"]["gradlint"]["rules"][rule.code]
        assert table == rule.options
        rule(table)  # a table of exactly its options is accepted


def test_readme_is_a_front_page():
    lines = README.splitlines()
    assert len(lines) <= 400, f"README.md has {len(lines)} lines: move reference material to docs/"
    # its relative links resolve, as on GitHub
    for target in re.findall(r"\]\((?!https?:|#)([^)#\s]+)", README):
        assert (ROOT / target).exists(), f"README links to {target}, which does not exist"
    for page in ("getting-started", "cli", "configuration", "evaluation", "benchmarks", "safety"):
        assert f"(docs/{page}.md" in README


def test_getting_started_shows_the_readme_set_up_commands():
    # the two commands .ci/run and the README use, the same on the site
    commands = re.findall(r"```sh\n(python3 -m venv .venv .*?)\n```", README)
    assert len(commands) == 2
    started = (DOCS / "getting-started.md").read_text()
    for command in commands:
        assert f"```sh\n{command}\n```" in started


def test_readme_sample_output_is_what_the_example_gives():
    shown = re.search(r"```\n\$ gradlint examples/\n(.*?)```", README, re.S).group(1).splitlines()
    result = run_cli("examples/")
    got = result.stdout.splitlines()
    assert len(got) == len(shown) - 1
    for line, actual in zip(shown, got):
        where = re.match(r"\S+:\d+:\d+: GL\d{3} \w+:", line).group(0)
        assert actual.startswith(where), (line, actual)
    assert shown[-1] in result.stderr


def test_python_blocks_of_the_pages_parse():
    pages = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
    for page in pages:
        for block in re.findall(r"^```python\n(.*?)^```", page.read_text(), re.S | re.M):
            try:
                ast.parse(block)
            except SyntaxError as error:
                pytest.fail(f"{page.relative_to(ROOT)}: a python block does not parse: {error}\n{block}")
