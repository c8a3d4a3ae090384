"""Linting leaves the machine as it found it: the confinement of the process that runs user code.

The worker (``gradlint.run.worker``) calls :func:`confine` before any user code runs: a file's import, a
script's top level, notebook cells, the command under ``gradlint run``, and every process they
start. Three layers, from the hardest to the most helpful:

* **Kernel** (Linux 5.13 and newer, Landlock): the worker and every process it starts may read
  everything, but create, write, truncate, rename or delete only inside the run's private scratch
  folder (and write ``/dev/null``); TCP connections and binds are refused (Landlock ABI 4, Linux
  6.7); signals and abstract Unix sockets cannot reach outside processes (ABI 6, Linux 6.12). It
  cannot be undone from inside, and covers native code (``torch.save`` writes through C++) and
  child processes (``sh -c "rm -rf runs"``).
* **Audit hook** (PEP 578, every platform): the same operations, seen by the interpreter, refused
  with the user's ``file:line`` recorded; where the kernel layer is missing it is the guard on its
  own, and process starts are refused too (a child would run unconfined).
* **Redirection**, so scripts still build their models: a script that makes its output folders,
  opens a log or ``torch.save``s before it builds the model gets its way, inside a shadow tree in
  the scratch folder (``scratch/shadow/<absolute path>``): new files and folders are created there,
  an existing file opened for appending is copied there first, and reads see the shadow copy. The
  scratch folder is removed when the file is done (by the runner, which made it). Deleting or
  renaming an existing file or folder is refused (``PermissionError``), and said.

What the user's code tried is kept as :class:`Event` records and turned into one note per file
(:func:`Sandbox.note`). A refused operation never becomes a finding; it changes the exit code only
when it stopped the model from being built (the import error says so).
"""

from __future__ import annotations

import builtins
import ctypes
import dataclasses
import errno
import io
import os
import shutil
import stat
import sys
from typing import Any

# --- the kernel layer: Landlock, three system calls -------------------------------------------

_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446   # the same on every arch
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38
# filesystem rights that change something (reading and executing stay allowed everywhere)
_WRITE_FILE, _REMOVE_DIR, _REMOVE_FILE = 1 << 1, 1 << 4, 1 << 5
_MAKE_ANY = sum(1 << bit for bit in range(6, 13))   # char, dir, reg, sock, fifo, block, sym
_REFER, _TRUNCATE = 1 << 13, 1 << 14                # ABI 2, ABI 3
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1    # ABI 4
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 where there is none (not Linux, an old kernel, a
    container that forbids it, Landlock disabled at boot)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        version = libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), _CREATE_RULESET_VERSION)
    except (OSError, AttributeError):
        return 0
    return max(int(version), 0)


def _restrict_writes(writable: list[str]) -> tuple[int, str | None]:
    """Landlock: from now on this thread and every process it starts may change files only
    beneath ``writable`` (and write the files among them). Returns (ABI, None) or (0, why not)."""
    abi = landlock_abi()
    if abi < 1:
        return 0, "the kernel offers no Landlock (Linux 5.13 or newer, enabled)"
    if len(os.listdir("/proc/self/task")) != 1:   # Landlock confines the calling thread only
        return 0, "the worker already runs several threads"
    fs = _WRITE_FILE | _REMOVE_DIR | _REMOVE_FILE | _MAKE_ANY
    fs |= (_REFER if abi >= 2 else 0) | (_TRUNCATE if abi >= 3 else 0)
    attr = _RulesetAttr(fs, _NET_BIND_TCP | _NET_CONNECT_TCP if abi >= 4 else 0,
                        _SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL if abi >= 6 else 0)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    libc = ctypes.CDLL(None, use_errno=True)
    ruleset = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0)
    if ruleset < 0:
        return 0, f"landlock_create_ruleset failed ({os.strerror(ctypes.get_errno())})"
    try:
        for path in writable:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                is_dir = os.path.isdir(path)
                rule = _PathBeneathAttr(fs if is_dir else _WRITE_FILE | (_TRUNCATE if abi >= 3 else 0), fd)
                if libc.syscall(_SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0) < 0:
                    return 0, f"landlock_add_rule failed on {path} ({os.strerror(ctypes.get_errno())})"
            finally:
                os.close(fd)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or libc.syscall(_SYS_RESTRICT_SELF, ruleset, 0) < 0:
            return 0, f"landlock_restrict_self failed ({os.strerror(ctypes.get_errno())})"
    finally:
        os.close(ruleset)
    return abi, None


# --- what the user's code tried -----------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Event:
    operation: str     # "write", "create folder", "delete", "rename", "network connection", ...
    path: str          # the path (or address, or command) as the user's code named it
    where: str | None  # the user's file:line
    outcome: str       # "discarded" (done in the scratch copy) or "blocked"


_OUTCOMES = {"discarded": "went to a scratch copy that was discarded", "blocked": "was blocked",
             "confined": "ran confined (it could change nothing outside the scratch folder)"}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_ALWAYS_WRITABLE = ("/dev/null",)
# POSIX shared memory and semaphores, for native code only: multiprocessing's locks and torch's
# shared tensors (a DataLoader with workers) are created there and unlinked at once. Python-level
# writes to these paths still go to the shadow copy; only sem_open/shm_open reach them.
_SHARED_MEMORY = ("/dev/shm",)


class Sandbox:
    """The confinement of this process; one per worker (:func:`confine`)."""

    def __init__(self, scratch: str) -> None:
        self.scratch = os.path.realpath(scratch)
        self.shadow = os.path.join(self.scratch, "shadow")
        self.events: list[Event] = []
        self.kernel_abi = 0
        self.kernel_missing: str | None = None
        self._real: dict[str, Any] = {}
        self._shadowed = False   # the shadow folder was seen to exist (from then on: the full test)

    # --- paths ---------------------------------------------------------------------------------
    def inside(self, path: str, resolve: bool = True) -> bool:
        """Whether ``path`` is the scratch folder's (links resolved, unless ``resolve`` is False:
        the redirection's own test, which the audit layer and the kernel back up)."""
        real = os.path.realpath(path) if resolve else os.path.abspath(path)
        return real == self.scratch or real.startswith(self.scratch + os.sep) or real in _ALWAYS_WRITABLE

    def shadow_of(self, path: Any) -> str:
        """Where a change to ``path`` goes: itself inside the scratch folder, else its shadow."""
        absolute = os.path.abspath(os.fsdecode(path))
        if self.inside(absolute, resolve=False):
            return absolute
        return self.shadow + absolute

    def seen_as(self, path: Any) -> Any:
        """What a read of ``path`` opens: its shadow copy when the user's code made one."""
        if isinstance(path, int) or not self._any_shadow():
            return path
        shadow = self.shadow_of(path)
        if shadow == os.path.abspath(os.fsdecode(path)) or not self._real["lexists"](shadow):
            return path
        # a folder that exists for real as well is only the shadow's mirror of it
        mirror = self._real["lexists"](path) and stat.S_ISDIR(self._real["stat"](shadow).st_mode)
        return path if mirror else shadow

    def _any_shadow(self) -> bool:
        """Whether the shadow folder exists: while no write was redirected, by this process or
        another (a DataLoader's worker), none does, and a read is its own path after one lstat.
        Every stat and lstat passes here: torch's import of its compiler stack resolves the paths
        of its modules (20,000 lstats), which the full test below made 0.2 s slower."""
        if not self._shadowed:
            self._shadowed = self._real["lexists"](self.shadow)
        return self._shadowed

    def _prepare(self, path: Any, keep_content: bool) -> str:
        """The shadow of a file about to be written, with its folder; a copy of the real file
        first when the write keeps its content (append, read-write)."""
        shadow = self.shadow_of(path)
        if shadow == os.path.abspath(os.fsdecode(path)):
            return shadow
        real_parent = os.path.dirname(os.path.abspath(os.fsdecode(path)))
        if os.path.isdir(real_parent):
            self._real["makedirs"](os.path.dirname(shadow), exist_ok=True)
        if keep_content and not self._real["lexists"](shadow) and os.path.isfile(path):
            with self._real["open"](path, "rb") as src, self._real["open"](shadow, "wb") as dst:
                shutil.copyfileobj(src, dst)
        return shadow

    def record(self, operation: str, path: Any, outcome: str) -> None:
        where = _user_frame(sys._getframe(1))
        if where is None:   # gradlint's own work (the scratch folder is its own anyway)
            return
        from gradlint.core.findings import display_path

        shown = os.fsdecode(path) if _is_path(path) else str(path)
        self.events.append(Event(operation, shown, f"{display_path(where.f_code.co_filename)}:{where.f_lineno}",
                                 outcome))

    def refuse(self, operation: str, path: Any) -> PermissionError:
        """Record a refused operation; the error to raise in the user's code."""
        self.record(operation, path, "blocked")
        shown = os.fsdecode(path) if _is_path(path) else str(path)
        return PermissionError(errno.EACCES, f"gradlint blocks this {operation} while it lints "
                                             "(nothing outside its scratch folder may change)", shown)

    # --- the note -----------------------------------------------------------------------------
    def note(self, limit: int = 6) -> str | None:
        """One line for the file: what was kept from happening, where, and how to keep it out."""
        if not self.events:
            return None
        seen = list(dict.fromkeys(self.events))
        parts = []
        for event in seen[:limit]:
            parts.append(f"{event.operation} {event.path!r} at {event.where} {_OUTCOMES[event.outcome]}")
        more = f"; and {len(seen) - limit} more (-v lists them)" if len(seen) > limit else ""
        return ("linting left your files as they were: " + "; ".join(parts) + more +
                ". Keep such code out of linting under `if __name__ == \"__main__\":` or in a `main()` function")

    def details(self) -> list[str]:
        """Every operation kept from happening, one line each (the -v notes)."""
        return [f"kept from happening: {e.operation} {e.path!r} at {e.where} {_OUTCOMES[e.outcome]}"
                for e in dict.fromkeys(self.events)]


# --- the Python layer: redirection and the audit hook -----------------------------------------

_SANDBOX: Sandbox | None = None


def current() -> Sandbox | None:
    return _SANDBOX


def _is_path(value: Any) -> bool:
    return isinstance(value, (str, bytes, os.PathLike))


def _install_redirection(box: Sandbox) -> None:
    real = box._real
    real_lstat = os.lstat

    def lexists(path: Any) -> bool:   # os.path.lexists would call the os.lstat patched below
        try:
            real_lstat(path)
        except (OSError, ValueError):
            return False
        return True

    real.update(open=builtins.open, os_open=os.open, mkdir=os.mkdir, makedirs=os.makedirs,
                stat=os.stat, lstat=os.lstat, lexists=lexists, remove=os.remove,
                unlink=os.unlink, rmdir=os.rmdir, rename=os.rename, replace=os.replace,
                rmtree=shutil.rmtree, truncate=os.truncate)

    def open_(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if not _is_path(file):
            return real["open"](file, mode, *args, **kwargs)
        if any(c in mode for c in "wax+"):
            shadow = box._prepare(file, keep_content="a" in mode or "+" in mode and "w" not in mode)
            if shadow != os.path.abspath(os.fsdecode(file)):
                box.record("write", file, "discarded")
            return real["open"](shadow, mode, *args, **kwargs)
        return real["open"](box.seen_as(file), mode, *args, **kwargs)

    def os_open(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        if dir_fd is not None or not flags & _WRITE_FLAGS:
            return real["os_open"](box.seen_as(path) if dir_fd is None else path, flags, mode, dir_fd=dir_fd)
        shadow = box._prepare(path, keep_content=not flags & os.O_TRUNC)
        if shadow != os.path.abspath(os.fsdecode(path)):
            box.record("write", path, "discarded")
        return real["os_open"](shadow, flags, mode)

    def mkdir(path: Any, mode: int = 0o777, *, dir_fd: int | None = None) -> None:
        if dir_fd is not None:
            return real["mkdir"](path, mode, dir_fd=dir_fd)
        absolute = os.path.abspath(os.fsdecode(path))
        shadow = box.shadow_of(path)
        if shadow == absolute:
            return real["mkdir"](path, mode)
        if real["lexists"](absolute):
            raise FileExistsError(errno.EEXIST, "File exists", os.fsdecode(path))
        parent = os.path.dirname(absolute)
        if not os.path.isdir(parent):   # through stat below: a shadow folder counts
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", os.fsdecode(path))
        real["makedirs"](os.path.dirname(shadow), exist_ok=True)
        real["mkdir"](shadow, mode)
        box.record("create folder", path, "discarded")

    def stat(path: Any, *, dir_fd: int | None = None, follow_symlinks: bool = True) -> os.stat_result:
        if dir_fd is None and _is_path(path):
            path = box.seen_as(path)
        return real["stat"](path, dir_fd=dir_fd, follow_symlinks=follow_symlinks)

    def lstat(path: Any, *, dir_fd: int | None = None) -> os.stat_result:
        if dir_fd is None and _is_path(path):
            path = box.seen_as(path)
        return real["lstat"](path, dir_fd=dir_fd)

    def removing(name: str, what: str) -> Any:
        def remove(path: Any, *, dir_fd: int | None = None) -> None:
            shadow = box.shadow_of(path) if dir_fd is None else None
            if shadow is not None and (shadow == os.path.abspath(os.fsdecode(path)) or real["lexists"](shadow)):
                if shadow != os.path.abspath(os.fsdecode(path)):
                    box.record(what, path, "discarded")
                return real[name](shadow)
            if dir_fd is None and not real["lexists"](path):
                return real[name](path)   # the error the user's code expects
            raise box.refuse(what, path)
        return remove

    def renaming(name: str) -> Any:
        def rename(src: Any, dst: Any, *, src_dir_fd: int | None = None, dst_dir_fd: int | None = None) -> None:
            if src_dir_fd is not None or dst_dir_fd is not None:
                return real[name](src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)
            source = box.shadow_of(src)
            if source == os.path.abspath(os.fsdecode(src)) and box.inside(os.fsdecode(dst)):
                return real[name](src, dst)
            if source != os.path.abspath(os.fsdecode(src)) and real["lexists"](source):
                target = box._prepare(dst, keep_content=False)
                box.record("rename", src, "discarded")
                return real[name](source, target)
            if not real["lexists"](src):
                return real[name](src, dst)
            raise box.refuse("rename", src)
        return rename

    def rmtree(path: Any, ignore_errors: bool = False, onerror: Any = None, **kwargs: Any) -> None:
        shadow = box.shadow_of(path)
        if shadow == os.path.abspath(os.fsdecode(path)):
            return real["rmtree"](path, ignore_errors, onerror, **kwargs)
        if real["lexists"](shadow) and not real["lexists"](path):
            return real["rmtree"](shadow, ignore_errors, onerror, **kwargs)
        if not real["lexists"](path):
            return real["rmtree"](path, ignore_errors, onerror, **kwargs)
        error = box.refuse("delete", path)
        if not ignore_errors:
            raise error

    def truncate(path: Any, length: int) -> None:
        if not _is_path(path):
            return real["truncate"](path, length)
        shadow = box._prepare(path, keep_content=True)
        if shadow != os.path.abspath(os.fsdecode(path)):
            box.record("truncate", path, "discarded")
        return real["truncate"](shadow, length)

    def metadata(name: str, what: str) -> Any:
        """chmod, utime, chown: on the shadow copy (shutil.copy sets the copy's mode); refused on
        a real file outside the scratch folder."""
        def change(path: Any, *args: Any, **kwargs: Any) -> None:
            if _is_path(path) and kwargs.get("dir_fd") is None:
                shadow = box.shadow_of(path)
                if shadow != os.path.abspath(os.fsdecode(path)):
                    if not real["lexists"](shadow):
                        raise box.refuse(what, path)
                    path = shadow
            return real[name](path, *args, **kwargs)
        return change

    builtins.open = io.open = open_  # type: ignore[assignment]
    os.open, os.mkdir, os.stat, os.lstat, os.truncate = os_open, mkdir, stat, lstat, truncate
    os.remove, os.unlink = removing("remove", "delete"), removing("unlink", "delete")
    os.rmdir = removing("rmdir", "delete")
    os.rename, os.replace = renaming("rename"), renaming("replace")
    for name, what in (("chmod", "change of permissions"), ("utime", "change of file times"),
                       ("chown", "change of owner")):
        if hasattr(os, name):
            real[name] = getattr(os, name)
            setattr(os, name, metadata(name, what))
    shutil.rmtree = rmtree  # type: ignore[assignment]
    try:
        import torch
        import torch.serialization
    except ImportError:
        return
    save = torch.save

    def torch_save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        if _is_path(f):   # torch writes a path through C++, past Python's open
            shadow = box._prepare(f, keep_content=False)
            if shadow != os.path.abspath(os.fsdecode(f)):
                box.record("write", f, "discarded")
            f = shadow
        return save(obj, f, *args, **kwargs)

    torch.save = torch.serialization.save = torch_save


_CHANGES = {"os.remove": "delete", "os.rmdir": "delete", "os.rename": "rename", "os.mkdir": "create folder",
            "os.truncate": "truncate", "os.chmod": "change of permissions", "os.chown": "change of owner",
            "os.utime": "change of file times", "os.symlink": "create a link", "os.link": "create a link",
            "shutil.rmtree": "delete", "os.mkfifo": "create", "os.mknod": "create"}
_PROCESS_STARTS = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.startfile",
                   "pty.spawn"}
_WATCHED = frozenset({"open", "socket.connect", "socket.bind", "socket.getaddrinfo", "os.fork", "os.forkpty",
                      *_CHANGES, *_PROCESS_STARTS})


def _audit(event: str, args: tuple) -> None:
    if event not in _WATCHED:
        return
    box = _SANDBOX
    if box is None:
        return
    if event == "open":
        path, _, flags = args
        if _is_path(path) and isinstance(flags, int) and flags & _WRITE_FLAGS and not box.inside(os.fsdecode(path)):
            raise box.refuse("write", path)
    elif event in _CHANGES:
        path = args[0] if args else None
        if event == "os.symlink" or event == "os.link":
            path = args[1]
        if _is_path(path) and not box.inside(os.fsdecode(path)):
            raise box.refuse(_CHANGES[event], path)
    elif event.startswith("socket."):
        address = args[1] if len(args) > 1 else args[0]
        if event == "socket.getaddrinfo":
            address = f"{args[0]}:{args[1]}"
        elif isinstance(address, tuple):
            address = ":".join(str(part) for part in address[:2])
        if isinstance(address, (str, bytes)) and str(address).startswith(("/", "\0")):
            return   # a Unix socket: a path, not the network (and the kernel layer scopes it)
        raise box.refuse("network connection", str(address))
    elif event in ("os.fork", "os.forkpty"):
        caller = sys._getframe(1).f_code.co_filename
        if not _library_file(caller):
            # a fork from the user's own code would run the rest of gradlint twice
            raise box.refuse("process start (os.fork)", os.path.basename(caller))
    elif event in _PROCESS_STARTS:
        command = args[1] if event == "subprocess.Popen" and len(args) > 1 else args[0] if args else event
        shown = " ".join(map(str, command)) if isinstance(command, (list, tuple)) else str(command)
        if box.kernel_abi:
            box.record("process start", shown[:120], "confined")
        else:   # a child would run with nothing but the kernel's own limits
            raise box.refuse("process start", shown[:120])


def _library_roots() -> tuple[str, ...]:
    import sysconfig

    paths = sysconfig.get_paths()
    from gradlint.core.frames import GRADLINT_DIR

    gradlint_dir = GRADLINT_DIR.rstrip(os.sep)
    return tuple({paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")} | {gradlint_dir})


_LIBRARIES: tuple[str, ...] = ()


def _library_file(filename: str) -> bool:
    """Python's own library, installed packages, or gradlint (never the user's code)."""
    global _LIBRARIES
    if not _LIBRARIES:
        _LIBRARIES = _library_roots()
    return filename.startswith(("<", *_LIBRARIES))


def _user_frame(frame: Any) -> Any:
    """The innermost frame of the user's own code (a library's frames are skipped: a log file
    opened by logging.basicConfig is the line that called it), or None."""
    while frame is not None:
        if not _library_file(frame.f_code.co_filename):
            return frame
        frame = frame.f_back
    return None


def confine(scratch: str) -> Sandbox:
    """Confine this process (call once, first thing in a worker, while it has one thread)."""
    global _SANDBOX
    box = Sandbox(scratch)
    tmp = os.path.join(box.scratch, "t")   # short: Unix socket paths under it (multiprocessing) hold 107 bytes
    os.makedirs(tmp, exist_ok=True)
    os.environ["TMPDIR"] = tmp   # tempfile, and the processes the user's code starts
    import tempfile

    tempfile.tempdir = tmp
    sys.dont_write_bytecode = True  # no __pycache__ in the user's project
    box.kernel_abi, box.kernel_missing = _restrict_writes([box.scratch, *_ALWAYS_WRITABLE, *_SHARED_MEMORY])
    _install_redirection(box)
    _SANDBOX = box
    sys.addaudithook(_audit)
    return box


def describe_kernel_layer(box: Sandbox) -> str:
    if box.kernel_abi:
        net = "TCP refused" if box.kernel_abi >= 4 else "network by the audit layer only (Landlock ABI < 4)"
        return f"kernel layer: Landlock ABI {box.kernel_abi} (writes only to the scratch folder; {net})"
    return (f"kernel layer unavailable ({box.kernel_missing}): the Python audit layer alone guards your "
            "files, and native code that writes by itself is not stopped")


# bench/guard.py only: measure the run without the guard, to say what the guard costs
_BENCH_UNCONFINED = "GRADLINT_BENCH_UNCONFINED"


def scratch_folder() -> str | None:
    """A new private scratch folder for one worker (the runner removes it afterwards); the
    worker is confined to it. None only for the guard's own benchmark."""
    import tempfile

    if os.environ.get(_BENCH_UNCONFINED) == "1":
        return None
    return tempfile.mkdtemp(prefix="gradlint-")


def remove_scratch(path: str | None) -> None:
    if path:
        shutil.rmtree(path, ignore_errors=True)


__all__ = ["Event", "Sandbox", "confine", "current", "describe_kernel_layer", "landlock_abi",
           "remove_scratch", "scratch_folder"]
