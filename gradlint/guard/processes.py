"""Worker processes never outlive gradlint: the one place that knows how they are stopped.

A worker runs user code, which may hang, ignore signals or start processes of its own. So:

- every worker is started in a session (and process group) of its own, which its children join:
  killing the group kills the worker and everything it started;
- the parent keeps a registry of the live worker groups: ``register`` when one starts,
  ``unregister`` when it is done, and ``stop_all`` (for a signal handler or a KeyboardInterrupt)
  SIGKILLs every group still registered. However workers are started (forked by the fork
  server, or a process started afresh per file), registering their group is all that stopping
  them needs;
- a SIGKILLed gradlint runs no handler, so the worker side guards itself (``guard_worker``, the
  first thing a worker does, before any user code): on Linux the worker process forks; it stays
  behind as a small guard whose parent-death signal (``PR_SET_PDEATHSIG``) makes it kill the
  whole group when its parent dies (gradlint, or the fork server, which itself gets SIGKILL when
  gradlint dies), and the forked process, which does the work, dies with the guard. When the
  worker is done, the guard kills what the user's code left running in the group before it
  exits. (The kernel sends the signal when the *thread* that started the process ends: the
  runner's threads outlive their workers and the fork server, and the server is
  single-threaded.) Elsewhere the guard is skipped and only the parent's handlers apply.

Nothing here imports torch.
"""

from __future__ import annotations

import os
import signal
import sys

_PR_SET_PDEATHSIG = 1
# environment variable naming the process that started the worker (see guard_worker)
PARENT_ENV = "GRADLINT_PARENT_PID"

_live: set[int] = set()    # process group ids of running workers
_stopping = False


def register(group: int) -> None:
    """A worker group started. Once ``stop_all`` has run, it is killed at once instead."""
    _live.add(group)
    if _stopping:   # checked after adding: stop_all either saw the group or we see the flag
        kill(group)


def unregister(group: int) -> None:
    _live.discard(group)


def kill(group: int) -> None:
    """SIGKILL the worker whose pid (= group id) is ``group``, its group, and every process
    descended from it, including one that escaped into a session of its own (Linux: found from
    /proc, frozen, then killed, so none is missed by being reparented meanwhile)."""
    if sys.platform.startswith("linux"):
        _kill_tree(group, include_root=True)
    try:
        os.killpg(group, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def stop_all() -> int:
    """SIGKILL every live worker group; later ``register`` calls kill theirs at once. Safe in a
    signal handler: no lock, and the set is copied in one step. Returns how many were running."""
    global _stopping
    _stopping = True
    groups = tuple(_live)
    for group in groups:
        kill(group)
    return len(groups)


def resume() -> None:
    """Allow workers again after ``stop_all`` (the Python API: a KeyboardInterrupt in one
    ``lint()`` call must not stop the next one)."""
    global _stopping
    _stopping = False


def child_environment() -> dict[str, str]:
    """For a worker or the fork server started by this process: who its parent must be."""
    return {PARENT_ENV: str(os.getpid())}


def die_with_parent(signum: int) -> bool:
    """Ask the kernel to send ``signum`` when our parent dies (Linux); False where unsupported."""
    return _prctl(_PR_SET_PDEATHSIG, signum)


def guard_worker() -> None:
    """Call first in a worker process, before any user code. Returns in the process that does
    the work; the process the parent started becomes its guard and never returns.

    The guard is told (SIGTERM, by the kernel) when gradlint dies, and answers by killing its
    whole process group: the worker and every process the user's code started. The worker gets
    SIGKILL when its guard dies. Each parent-death signal is set and *then* the parent checked,
    since a parent that died before the call would never send it."""
    parent = int(os.environ.pop(PARENT_ENV, "0") or 0)
    if not parent or not hasattr(os, "fork") or not die_with_parent(signal.SIGTERM):
        return
    # what escapes into a session of its own and loses its parent is reparented to the guard,
    # not to init: still a descendant, and found by the guard's last sweep
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    signal.signal(signal.SIGTERM, _kill_own_group)
    if os.getppid() != parent:
        _kill_own_group()
    guard = os.getpid()
    worker = os.fork()
    if worker == 0:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        die_with_parent(signal.SIGKILL)
        if os.getppid() != guard:
            os._exit(1)
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only the parent or the kernel stop the guard
    _, status = os.waitpid(worker, 0)
    # what the user's code started and left running would hold the worker's pipes open, and the
    # parent would wait for it until the time limit
    _kill_rest_of_group(guard)
    if os.WIFSIGNALED(status):   # report the worker's death as our own: the parent reads it
        signum = os.WTERMSIG(status)
        if signum not in (signal.SIGKILL, signal.SIGSTOP):   # these have no handler to reset
            signal.signal(signum, signal.SIG_DFL)
        os.kill(guard, signum)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


def _kill_own_group(*_: object) -> None:
    _kill_tree(os.getpid(), include_root=False)
    os.killpg(os.getpgrp(), signal.SIGKILL)


def _kill_rest_of_group(me: int) -> None:
    """SIGKILL every other living process of our group and every descendant of ours (one that
    left the group with setsid); orphans reparented to us (the subreaper) are reaped."""
    _kill_tree(me, include_root=False, group=os.getpgrp())
    while True:   # the zombies of the processes that became our children
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


_PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, value: int) -> bool:
    """``prctl(option, value)`` (Linux); False where unsupported or refused."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _processes() -> dict[int, tuple[int, int]]:
    """Every living process: pid -> (parent pid, process group), from /proc."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != b"Z":   # state, ppid, pgrp
            table[int(entry.name)] = (int(fields[1]), int(fields[2]))
    return table


def _group_and_descendants(root: int, group: int | None = None) -> set[int]:
    table = _processes()
    found = {pid for pid, (_, pgrp) in table.items() if pgrp == group} if group is not None else set()
    found.add(root)
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _) in table.items():
            if ppid in found and pid not in found:
                found.add(pid)
                grew = True
    return found & (set(table) | {root})


def _kill_tree(root: int, include_root: bool, group: int | None = None) -> None:
    """Freeze ``root``'s descendants and the members of ``group`` (SIGSTOP: a frozen process
    neither forks nor dies, so none is reparented out of sight), until no new one appears, then
    SIGKILL them all."""
    frozen: set[int] = set()
    for _ in range(20):
        found = _group_and_descendants(root, group)
        if not include_root:
            found.discard(root)
        new = found - frozen
        if not new:
            break
        for pid in new:
            try:
                os.kill(pid, signal.SIGSTOP)
            except OSError:
                pass
        frozen |= new
    for pid in frozen:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
