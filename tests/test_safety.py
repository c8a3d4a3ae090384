"""Linting leaves the user's machine as it found it.

Each test lays out a git repository with precious files (tracked and git-ignored: results, logs,
checkpoints, run folders), runs gradlint on scripts that try to change them the ways real training
scripts do, and asserts what the user would check afterwards: every byte and folder unchanged,
nothing new anywhere but `.gradlint_cache`, no process left behind, the run back within its
limit, and the model still checked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from gradlint.guard.sandbox import landlock_abi

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the safety suite reads /proc")

PRECIOUS = {
    "results.csv": b"epoch,loss\n0,1.0\n",
    "old.log": b"an old log\n",
    "ckpt.pt": b"a trained checkpoint",
    "data.txt": b"input data\n",
    "arr.npy": b"not really numpy",
    "runs/exp1/events.out": b"tensorboard events",
    "checkpoints/best.pt": b"best weights",
}

SIGMOID_NET = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(*[nn.Sequential(nn.Linear(16, 16), nn.Sigmoid()) for _ in range(8)])

    def forward(self, x):
        return self.layers(x)


model = Net()
"""

# everything a script does before it builds its model that creates or writes: it must still have
# its model checked (the creations succeed in a scratch copy)
CREATES = """
import logging, os, pathlib, shutil
import numpy as np
import torch
from torch import nn

os.makedirs("checkpoints", exist_ok=True)
os.makedirs("outputs/2026-12-06", exist_ok=True)
pathlib.Path("wandb").mkdir(exist_ok=True)
logging.basicConfig(filename="outputs/train.log", level=logging.INFO)
logging.info("starting")
open("results.csv", "w").write("epoch,loss\\n")      # truncates an existing file
with open("old.log", "a") as log:                     # appends to one
    log.write("appended\\n")
pathlib.Path("notes.txt").write_text("new file")
pathlib.Path("touched").touch()
torch.save({"step": 0}, "ckpt.pt")                    # written by C++, past Python's open
np.save("arr.npy", np.zeros(3))
shutil.copy("data.txt", "outputs/data_copy.txt")
assert open("results.csv").read() == "epoch,loss\\n"   # the script reads back what it wrote
""" + SIGMOID_NET + """
torch.save(model.state_dict(), "checkpoints/best.pt")
"""

# everything that deletes, renames, leaves the project or reaches out: refused, and the script goes on
DESTROYS = """
import os, shutil, socket, subprocess
import torch
from torch import nn

for attempt in (lambda: shutil.rmtree("runs"), lambda: os.remove("old.log"),
                lambda: os.rename("data.txt", "data2.txt"), lambda: os.replace("ckpt.pt", "ckpt.bak"),
                lambda: socket.create_connection(("127.0.0.1", 9), timeout=1),
                lambda: os.truncate("data.txt", 0)):
    try:
        attempt()
    except OSError:
        pass
shutil.rmtree("runs", ignore_errors=True)
subprocess.run(["sh", "-c", "rm -rf runs checkpoints; rm -f old.log; echo x > dropped.txt"])
os.chdir("..")
try:
    open("outside.txt", "w").write("outside the repository")
except OSError:
    pass
os.chdir(os.path.dirname(os.path.abspath(__file__)))
try:
    if os.fork() == 0:   # the child would run the rest of the import, and gradlint, twice
        os._exit(0)
except OSError:
    pass
""" + SIGMOID_NET + """
os.remove("results.csv")   # not caught: the file stops here, after its model was built
"""


def _repo(tmp_path: Path, files: dict[str, str]) -> Path:
    repo = tmp_path / "repo"
    for name, data in PRECIOUS.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_bytes(data)
    (repo / "pyproject.toml").write_text('[project]\nname = "precious"\n')
    (repo / ".gitignore").write_text("runs/\ncheckpoints/\n*.pt\nwandb/\noutputs/\n")
    for name, text in files.items():
        (repo / name).write_text(text)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"], cwd=repo, check=True)
    (tmp_path / "tmp").mkdir()
    return repo


def _state(root: Path) -> dict[str, bytes | str]:
    """Every file's bytes and every folder under ``root``, but gradlint's own cache."""
    state: dict[str, bytes | str] = {}
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".gradlint_cache"]
        for name in dirnames:
            state[os.path.relpath(os.path.join(directory, name), root)] = "folder"
        for name in filenames:
            path = os.path.join(directory, name)
            state[os.path.relpath(path, root)] = "link" if os.path.islink(path) else Path(path).read_bytes()
    return state


def _gradlint(tmp_path: Path, *args: str, timeout: float = 300,
              tmpdir: Path | None = None) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore", "TMPDIR": str(tmpdir or tmp_path / "tmp")}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "gradlint", *args], cwd=tmp_path / "repo", env=env,
                            capture_output=True, text=True, timeout=timeout)
    return result, time.monotonic() - started


def _left_running(marker: str) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                cmdline = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if marker in cmdline:
                found.append(int(entry.name))
    return found


def _status(result: subprocess.CompletedProcess) -> dict[str, str]:
    return {m["name"]: m["status"] for f in json.loads(result.stdout)["files"] for m in f["model_status"]}


def _notes(result: subprocess.CompletedProcess) -> str:
    return "\n".join(n["message"] for f in json.loads(result.stdout)["files"] for n in f["notes"])


def test_a_script_that_creates_and_overwrites_before_its_model_changes_nothing_and_is_checked(tmp_path):
    repo = _repo(tmp_path, {"train.py": CREATES})
    before = _state(tmp_path)
    result, _ = _gradlint(tmp_path, "train.py", "--output-format", "json")
    assert _state(tmp_path) == before
    assert result.returncode == 1, result.stderr
    assert _status(result) == {"model": "checked"}
    assert [f["code"] for f in json.loads(result.stdout)["files"][0]["findings"]] == ["GL101"]
    notes = _notes(result)
    assert "write 'results.csv' at train.py:12 went to a scratch copy that was discarded" in notes
    assert "write 'ckpt.pt' at train.py:17 went to a scratch copy that was discarded" in notes
    assert "`if __name__ == \"__main__\":`" in notes
    assert not (repo / ".gradlint_cache").exists() or (repo / ".gradlint_cache").is_dir()


def test_deleting_renaming_leaving_the_project_and_the_network_are_refused(tmp_path):
    _repo(tmp_path, {"train.py": DESTROYS})
    before = _state(tmp_path)
    result, _ = _gradlint(tmp_path, "train.py", "--output-format", "json")
    assert _state(tmp_path) == before
    assert _status(result) == {"model": "checked"}   # built before the uncaught os.remove
    notes = _notes(result)
    assert "delete 'runs' at train.py:6 was blocked" in notes
    assert "network connection '127.0.0.1:9' at train.py:8 was blocked" in notes
    assert "process start (os.fork) 'train.py' at train.py:23 was blocked" in notes
    assert "the file stopped at train.py:39 (PermissionError" in notes
    assert not [p for p in json.loads(result.stdout)["files"][0]["problems"]]   # the model was built


def test_a_notebook_and_a_directory_change_nothing(tmp_path):
    cells = [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
              "source": ["import os, torch\n", "from torch import nn\n", "open('results.csv', 'w').write('')\n",
                         "os.makedirs('outputs', exist_ok=True)\n"]},
             {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
              "source": SIGMOID_NET.splitlines(keepends=True)}]
    notebook = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    _repo(tmp_path, {"explore.ipynb": json.dumps(notebook), "train.py": CREATES, "wipe.py": DESTROYS})
    before = _state(tmp_path)
    result, _ = _gradlint(tmp_path, ".", "--output-format", "json")
    assert _state(tmp_path) == before
    statuses = {(Path(f["path"]).name, m["name"]): m["status"] for f in json.loads(result.stdout)["files"]
                for m in f["model_status"]}
    assert statuses == {("explore.ipynb", "model"): "checked", ("train.py", "model"): "checked",
                        ("wipe.py", "model"): "checked"}


def test_gradlint_run_stops_a_hand_written_training_loop_before_its_first_update(tmp_path):
    script = """
import torch
from torch import nn

model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1))
x, y = torch.randn(64, 8), torch.randn(64, 1)
for epoch in range(1_000_000):
    loss = ((model(x) - y) ** 2).mean()
    model.zero_grad()
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= 0.1 * p.grad
    torch.save(model.state_dict(), "ckpt.pt")
"""
    _repo(tmp_path, {"train.py": script})
    before = _state(tmp_path)
    result, seconds = _gradlint(tmp_path, "run", "--output-format", "json", "--", "python", "train.py")
    assert _state(tmp_path) == before
    assert result.returncode == 0, result.stderr
    assert _status(result) == {"model": "checked"}
    assert ("stopped the command before its first parameter update (an in-place change of a parameter of "
            "`Sequential` (`sub_`) with no optimizer at train.py:13)") in _notes(result)
    assert seconds < 60


def test_a_process_that_escapes_into_its_own_session_is_ended_and_the_timeout_is_a_wall(tmp_path):
    marker = f"{3000 + os.getpid() % 1000}.5"
    escape = f"""
import subprocess, sys, time
import torch
from torch import nn
subprocess.Popen(["sleep", "{marker}"], start_new_session=True)
subprocess.Popen(["sh", "-c", "sleep {marker} &"], start_new_session=True)
model = nn.Linear(4, 4)
"""
    hang = escape + "time.sleep(3600)\n"
    _repo(tmp_path, {"escape.py": escape, "hang.py": hang})
    result, seconds = _gradlint(tmp_path, "escape.py", "--output-format", "json")
    assert _status(result) == {"model": "checked"}
    assert _left_running(marker) == []
    result, seconds = _gradlint(tmp_path, "hang.py", "--timeout", "5", timeout=120)
    assert result.returncode == 2
    assert "timed out after 5 s" in result.stderr
    assert seconds < 5 + 30   # the limit, the start-up and the grace for pipes
    time.sleep(0.5)
    assert _left_running(marker) == []


def test_fifos_are_skipped_in_a_directory_and_refused_by_name(tmp_path):
    repo = _repo(tmp_path, {"train.py": SIGMOID_NET.replace("class Net", "import torch\nfrom torch import nn\n\n\nclass Net")})
    os.mkfifo(repo / "stream.py")
    result, _ = _gradlint(tmp_path, ".", timeout=120)
    assert "stream.py: note: skipped: not a regular file (a FIFO)" in result.stderr
    assert "1 model found, 1 checked" in result.stderr
    result, _ = _gradlint(tmp_path, "stream.py", timeout=60)
    assert result.returncode == 2
    assert "stream.py: error: not a regular file (a FIFO); gradlint reads only regular .py and .ipynb files" in result.stderr


@pytest.mark.skipif(landlock_abi() < 1, reason="the kernel layer needs Landlock")
def test_the_kernel_layer_refuses_what_python_never_sees(tmp_path):
    script = """
import ctypes, torch
from torch import nn
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.open(b"results.csv", 0o1 | 0o1000)   # O_WRONLY | O_TRUNC straight to the C library
refused = fd < 0 and ctypes.get_errno() == 13
model = nn.Sequential(nn.Linear(4, 4), nn.Sigmoid()) if refused else None
"""
    _repo(tmp_path, {"native.py": script})
    before = _state(tmp_path)
    result, _ = _gradlint(tmp_path, "native.py", "--output-format", "json")
    assert _state(tmp_path) == before
    assert _status(result) == {"model": "checked"}   # built only when the kernel refused the write


MODEL = "import torch\nfrom torch import nn\n\nmodel = nn.Sequential(nn.Linear(4, 4), nn.Sigmoid())\n"
BROKEN_NOTEBOOK = json.dumps({"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                                         "source": ["import torch\n", 5]}],
                              "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


@pytest.mark.parametrize(("files", "args", "said"), [
    ({"nb.ipynb": BROKEN_NOTEBOOK}, ["nb.ipynb"],
     "nb.ipynb: error: cannot read the file: cell 1's `source` is not text (a string or a list of strings)"),
    ({"pyproject.toml": "[tool]\ngradlint = 5\n", "m.py": MODEL}, ["m.py"],
     "pyproject.toml: `tool.gradlint` must be a table ([tool.gradlint]), got 5"),
    # a broken pyproject.toml is reported, not passed over for the parent folder's configuration
    ({"pyproject.toml": "[tool.gradlint\nselect = 1\n", "m.py": MODEL}, ["m.py"],
     "pyproject.toml: invalid TOML: Expected ']' at the end of a table declaration (at line 1, column 15)"),
    ({"pyproject.toml": '[tool.gradlint]\noptimizer = "SGD"\nlr = nan\n', "m.py": MODEL}, ["m.py"],
     "`tool.gradlint.lr` must be a finite number, got nan"),
    ({"pyproject.toml": "[tool.gradlint.probe]\nbatch-size = 100000000\n", "m.py": MODEL}, ["m.py"],
     "`tool.gradlint.probe.batch-size` must be between 1 and 4096, got 100000000"),
    ({"m.py": MODEL}, ["m.py", "--batch-size", "100000000"],
     "Invalid value for '--batch-size': 100000000 is not in the range 1<=x<=4096."),
    ({"m.py": MODEL}, ["m.py", "--batch-size", "-3"],
     "Invalid value for '--batch-size': -3 is not in the range 1<=x<=4096."),
])
def test_bad_input_is_one_clear_line_and_exit_2(tmp_path, files, args, said):
    repo = tmp_path / "repo"
    repo.mkdir()
    (tmp_path / "pyproject.toml").write_text('[tool.gradlint]\nselect = ["GL1"]\n')   # the parent's
    (repo / "pyproject.toml").write_text('[project]\nname = "p"\n')
    for name, text in files.items():
        (repo / name).write_text(text)
    (tmp_path / "tmp").mkdir()
    result, _ = _gradlint(tmp_path, *args, timeout=120)
    assert result.returncode == 2, result.stderr
    assert said in result.stderr
    assert "Traceback" not in result.stderr


def test_odd_objects_and_links_in_a_folder_do_not_stop_the_others(tmp_path):
    weird = MODEL + "\n\nclass Weird:\n    @property\n    def __class__(self):\n        raise RuntimeError('no')\n\n\nweird = Weird()\n"
    repo = _repo(tmp_path, {"weird.py": weird})
    (repo / "loop.py").symlink_to("loop.py")
    result, _ = _gradlint(tmp_path, ".", timeout=120)
    assert "loop.py: error: a symbolic link that loops (it points at itself); remove it or exclude it" in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert "1 model found, 1 checked" in result.stderr


def test_clean_refuses_a_linked_cache_in_one_line(tmp_path):
    repo = _repo(tmp_path, {})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("keep")
    (repo / ".gradlint_cache").symlink_to(elsewhere)
    result, _ = _gradlint(tmp_path, "clean", timeout=60)
    assert result.returncode == 2
    assert "is a symbolic link; gradlint removes only a cache folder of its own" in result.stderr
    assert (elsewhere / "keep.txt").read_text() == "keep"


def test_gradlint_run_with_dataloader_workers_reaches_its_first_step_and_leaves_no_shared_memory(tmp_path):
    script = """
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
loader = DataLoader(TensorDataset(torch.randn(256, 10), torch.randn(256, 1)), batch_size=32, num_workers=2)

if __name__ == "__main__":
    for epoch in range(3):
        for x, y in loader:
            optimizer.zero_grad()
            nn.functional.mse_loss(model(x), y).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
"""
    _repo(tmp_path, {"train.py": script})
    before = _state(tmp_path)
    shared = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
    # a TMPDIR as short as a user's: multiprocessing's Unix sockets live under it (107 bytes at most)
    short = Path(tempfile.mkdtemp(prefix="gl-", dir="/tmp"))
    try:
        result, _ = _gradlint(tmp_path, "run", "--output-format", "json", "--", "python", "train.py",
                              timeout=300, tmpdir=short)
        assert os.listdir(short) == []   # the scratch folder was removed
    finally:
        shutil.rmtree(short, ignore_errors=True)
    assert _state(tmp_path) == before
    assert _status(result) == {"model": "checked"}, result.stderr[-2000:]
    assert "stopped the command at its first optimizer step (SGD.step() at train.py:16)" in _notes(result)
    if os.path.isdir("/dev/shm"):
        assert set(os.listdir("/dev/shm")) - shared == set()
