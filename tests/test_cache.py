"""The result cache hits when nothing changed and misses when any input of the result changed."""

from __future__ import annotations

from pathlib import Path

from conftest import run_cli

MODEL = """import pathlib
import torch
from torch import nn
from helpers import WIDTH

pathlib.Path(__file__).with_name("imported.log").open("a").write("x")  # counts real imports


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(WIDTH, WIDTH) for _ in range(4))

    def forward(self, x):
        for layer in self.layers:
            x = torch.sigmoid(layer(x))
        return x
"""


def imports(root: Path) -> int:
    log = root / "imported.log"
    return len(log.read_text()) if log.exists() else 0


def setup(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\n')
    (tmp_path / "helpers.py").write_text("WIDTH = 16\n")
    (tmp_path / "net.py").write_text(MODEL)
    return tmp_path


def test_unchanged_rerun_is_answered_from_the_cache(tmp_path):
    root = setup(tmp_path)
    first = run_cli("net.py", cwd=root)
    second = run_cli("net.py", cwd=root)
    assert imports(root) == 1  # the second run did not import the file
    assert second.stdout == first.stdout and second.returncode == first.returncode == 1
    assert (root / ".gradlint_cache" / ".gitignore").read_text().endswith("*\n")
    run_cli("net.py", "--no-cache", cwd=root)
    assert imports(root) == 2


def test_any_changed_input_misses(tmp_path):
    root = setup(tmp_path)
    run_cli("net.py", cwd=root)
    (root / "net.py").write_text(MODEL + "\n# edited\n")
    run_cli("net.py", cwd=root)
    assert imports(root) == 2  # the file changed
    (root / "helpers.py").write_text("WIDTH = 8\n")
    run_cli("net.py", cwd=root)
    assert imports(root) == 3  # a local module it imports changed
    run_cli("net.py", "--seed", "1", cwd=root)
    assert imports(root) == 4  # the settings changed
    (root / "pyproject.toml").write_text('[project]\nname = "p"\n[tool.gradlint.rules.GL101]\nsigmoid-error-length = 5\n')
    result = run_cli("net.py", cwd=root)
    assert imports(root) == 5 and "GL101 warning" in result.stdout  # the configuration changed
    run_cli("net.py", cwd=root)
    assert imports(root) == 5


def test_versions_are_part_of_the_key(tmp_path, monkeypatch):
    import ast

    from gradlint import cache

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
