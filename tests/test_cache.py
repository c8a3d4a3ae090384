"""The result cache hits when nothing changed and misses when any input of the result changed."""

from __future__ import annotations

from pathlib import Path

from conftest import run_cli

MODEL = """import torch
from torch import nn
from helpers import WIDTH


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(WIDTH, WIDTH) for _ in range(4))

    def forward(self, x):
        for layer in self.layers:
            x = torch.sigmoid(layer(x))
        return x
"""


def lint(root: Path, *args: str):
    """Run gradlint on net.py; True in ``.fresh`` when the file was checked, not answered from the
    cache (the -v note says which)."""
    result = run_cli("net.py", "-v", *args, cwd=root)
    result.fresh = "result from the cache" not in result.stderr
    return result


def setup(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\n')
    (tmp_path / "helpers.py").write_text("WIDTH = 16\n")
    (tmp_path / "net.py").write_text(MODEL)
    return tmp_path


def test_unchanged_rerun_is_answered_from_the_cache(tmp_path):
    root = setup(tmp_path)
    first, second = lint(root), lint(root)
    assert first.fresh and not second.fresh  # the second run did not import the file
    assert second.stdout == first.stdout and second.returncode == first.returncode == 1
    assert (root / ".gradlint_cache" / ".gitignore").read_text().endswith("*\n")
    assert lint(root, "--no-cache").fresh


def test_a_forged_entry_is_not_trusted_and_a_linked_cache_is_not_followed(tmp_path):
    import json

    root = setup(tmp_path)
    assert lint(root).returncode == 1
    (entry,) = (root / ".gradlint_cache" / "v1").glob("*.json")
    data = json.loads(entry.read_text())
    data["result"]["findings"] = []   # an all-clear, hand-written into the repository
    entry.write_text(json.dumps(data))
    again = lint(root)
    assert again.fresh and again.returncode == 1 and "GL101" in again.stdout

    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    elsewhere.mkdir()
    import shutil

    shutil.rmtree(root / ".gradlint_cache")
    (root / ".gradlint_cache").symlink_to(elsewhere)
    assert lint(root).fresh and lint(root).fresh   # never read or written through the link
    assert list(elsewhere.iterdir()) == []
    result = run_cli("clean", cwd=root)
    assert result.returncode == 2
    assert "is a symbolic link; gradlint removes only a cache folder of its own" in result.stderr


def test_any_changed_input_misses(tmp_path):
    root = setup(tmp_path)
    assert lint(root).fresh
    (root / "net.py").write_text(MODEL + "\n# edited\n")
    assert lint(root).fresh  # the file changed
    (root / "helpers.py").write_text("WIDTH = 8\n")
    assert lint(root).fresh  # a local module it imports changed
    assert lint(root, "--seed", "1").fresh  # the settings changed
    (root / "pyproject.toml").write_text('[project]\nname = "p"\n[tool.gradlint.rules.GL101]\nsigmoid-error-length = 5\n')
    result = lint(root)
    assert result.fresh and "GL101 warning" in result.stdout  # the configuration changed
    assert not lint(root).fresh


def test_versions_are_part_of_the_key(tmp_path, monkeypatch):
    import ast

    from gradlint.run import cache

    root = setup(tmp_path)
    tree = ast.parse((root / "net.py").read_text())
    key = cache.Cache().key(root / "net.py", tree, {"a": 1})
    monkeypatch.setattr(cache, "_torch_version", lambda: "0.0.1")
    assert cache.Cache().key(root / "net.py", tree, {"a": 1}) != key
    monkeypatch.setattr(cache, "__version__", "9.9")
    monkeypatch.setattr(cache, "_torch_version", lambda: cache.importlib.metadata.version("torch"))
    assert cache.Cache().key(root / "net.py", tree, {"a": 1}) != key


def test_clean_removes_the_cache(tmp_path):
    root = setup(tmp_path)
    run_cli("net.py", cwd=root)
    result = run_cli("clean", cwd=root)
    assert result.returncode == 0 and "removed" in result.stdout
    assert not (root / ".gradlint_cache").exists()
