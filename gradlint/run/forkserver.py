"""Start the worker processes from a server that has imported torch once.

Importing torch costs about a second and a half of CPU; a worker process started afresh for
every file pays it every time. Instead, the first file that needs a worker starts one server
(``python -m gradlint.run.forkserver``) that imports torch and gradlint's engine, and then forks one
child per file. Each child is what a worker was before: a session and process group of its own,
its own memory limit, its own stdin/stdout/stderr pipes to the runner (passed over a Unix socket),
and ``gradlint.run.worker.main`` run from the start. So a hang, a crash or an ``os._exit`` still
costs that file only, and the runner reads, times out and kills a child exactly as it did a
process it started itself.

Nothing can leak from one file into another: the server never imports or runs user code (only
its children do), it runs no torch operation (so no thread pool exists when it forks), and a
child's writes to the memory it shares with the server are copy-on-write and die with the child.
Every child therefore starts from the same state: the server's, just after the imports.

How the processes die together (see ``processes``): the server gets SIGKILL from the kernel when
gradlint dies (``PR_SET_PDEATHSIG``, then a check that gradlint is still its parent); each child
runs ``processes.guard_worker`` first, whose guard kills the child's whole group when the server
dies. The runner kills the server at the end of a run (``lint()``); should the control socket
close first, the server kills every group it still has and exits.

The runner's side (``ForkServer``, ``ForkedWorker``) never imports torch. Linux only: elsewhere,
or if the server cannot start, the runner starts a ``python -m gradlint.run.worker`` per file as
before.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import NoReturn

from gradlint.guard import processes

# the pipes handed to a child with each request: its stdin, stdout, stderr, and the socket on
# which the server answers with the child's pid and, when it is done, its exit status
_FDS_PER_REQUEST = 4
_READY = b"ready"


def available() -> bool:
    return sys.platform.startswith("linux") and hasattr(socket, "send_fds") and hasattr(os, "pidfd_open")


class ForkServer:
    """The runner's handle on the server: ``spawn`` starts the process for one file."""

    def __init__(self, process: subprocess.Popen, control: socket.socket) -> None:
        self._process = process
        self._control = control
        self._lock = threading.Lock()  # one request at a time on the shared socket

    @classmethod
    def start(cls, env: dict[str, str], timeout: float = 300) -> ForkServer | None:
        """Start the server and wait until it has imported torch; None when it cannot run here
        or did not come up in ``timeout`` seconds (the caller then starts processes itself)."""
        if not available():
            return None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            # a session of its own: a Ctrl-C at the terminal reaches gradlint, which stops the
            # workers; the server dies with gradlint
            process = subprocess.Popen(
                [sys.executable, "-m", "gradlint.run.forkserver", str(theirs.fileno())],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                env=env, pass_fds=(theirs.fileno(),), start_new_session=True)
        except OSError:
            ours.close()
            return None
        finally:
            theirs.close()
        ours.settimeout(timeout)
        try:
            ready = ours.recv(len(_READY))
        except OSError:
            ready = b""
        if ready != _READY:
            process.kill()
            process.wait()
            ours.close()
            return None
        ours.settimeout(None)
        return cls(process, ours)

    def spawn(self, memory_limit: int | None, warm_up: bool = False) -> ForkedWorker:
        """Fork the process for one file; ``warm_up``: more files are to come, worth importing
        what some of them need while this one is checked (see _warm_up). Raises OSError when the
        server is gone."""
        stdin_r, stdin_w = os.pipe()
        stdout_r, stdout_w = os.pipe()
        stderr_r, stderr_w = os.pipe()
        reply, reply_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        theirs = [stdin_r, stdout_w, stderr_w, reply_theirs.fileno()]
        try:
            with self._lock:
                socket.send_fds(self._control, [json.dumps({"memory_limit": memory_limit, "warm_up": warm_up}).encode()], theirs)
        except OSError:
            for fd in (stdin_w, stdout_r, stderr_r):
                os.close(fd)
            reply.close()
            raise
        finally:
            for fd in theirs[:3]:
                os.close(fd)
            reply_theirs.close()
        pid_line = b""
        while not pid_line.endswith(b"\n"):
            data = reply.recv(64)
            if not data:
                for fd in (stdin_w, stdout_r, stderr_r):
                    os.close(fd)
                reply.close()
                raise OSError("the fork server stopped")
            pid_line += data
        return ForkedWorker(int(pid_line), stdin_w, stdout_r, stderr_r, reply.detach())

    def close(self) -> None:
        """Stop the server. Nothing of a run's work is in it, and the guard of any child still
        running kills that child's group when the server dies."""
        self._process.kill()
        self._process.wait()
        with self._lock:   # not under a request another thread is sending
            self._control.close()


class ForkedWorker:
    """A forked child as the runner sees it: like ``subprocess.Popen`` where the runner uses it
    (``pid``, ``communicate``, ``returncode``), its exit status told by the server."""

    def __init__(self, pid: int, stdin: int, stdout: int, stderr: int, reply: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._stdin = stdin
        self._input = b""
        self._output = {stdout: bytearray(), stderr: bytearray(), reply: bytearray()}
        self._stdout, self._stderr, self._reply = stdout, stderr, reply
        self._open = [stdin, stdout, stderr, reply]
        os.set_blocking(stdin, False)

    def communicate(self, input: bytes | None = None, timeout: float | None = None) -> tuple[bytes, bytes]:
        """Write ``input``, read stdout and stderr until both end and the exit status arrives.
        Raises subprocess.TimeoutExpired after ``timeout`` seconds; call again to go on."""
        if input:
            self._input = input
        deadline = None if timeout is None else time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            for fd in self._open:
                selector.register(fd, selectors.EVENT_WRITE if fd == self._stdin else selectors.EVENT_READ)
            while self._open:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise subprocess.TimeoutExpired("gradlint worker", timeout)
                for key, _ in selector.select(remaining):
                    if self._transfer(key.fd):
                        selector.unregister(key.fd)
                        os.close(key.fd)
                        self._open.remove(key.fd)
        status = self._output[self._reply].split(b"\n")
        # no status: the server died, and with it (its guard) the child's whole group
        self.returncode = int(status[0]) if status[0] else -signal.SIGKILL
        return bytes(self._output[self._stdout]), bytes(self._output[self._stderr])

    def close(self) -> None:
        """Stop reading: close our ends of the pipes (``runner.abandon``, after a kill)."""
        for fd in self._open:
            try:
                os.close(fd)
            except OSError:
                pass
        self._open = []
        if self.returncode is None:
            self.returncode = -signal.SIGKILL

    def _transfer(self, fd: int) -> bool:
        """Move what is ready on ``fd``; True when it is done with."""
        if fd == self._stdin:
            try:
                written = os.write(fd, self._input)
            except BlockingIOError:
                return False
            except BrokenPipeError:   # the child ended without reading: its status tells why
                return True
            self._input = self._input[written:]
            return not self._input
        data = os.read(fd, 65536)
        self._output[fd] += data
        return not data


# --- the server ---------------------------------------------------------------------------------

def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    runner = int(os.environ.pop(processes.PARENT_ENV, "0") or 0)
    # set, then check: a gradlint that died before the call would never send the signal
    if not processes.die_with_parent(signal.SIGKILL) or os.getppid() != runner:
        os._exit(1)
    import gradlint.check.engine  # noqa: F401  the point of the server: torch, the engine and every rule
    import gradlint.run.worker  # noqa: F401

    try:   # what every check imports next (model_state saves numpy's random state): 50 ms each
        import numpy.random  # noqa: F401
    except ImportError:
        pass

    control.sendall(_READY)
    _serve(control)


def _serve(control: socket.socket) -> None:
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ)
    children: dict[int, tuple[int, int]] = {}   # pidfd -> (pid, reply fd)
    warmed = False
    while True:
        for key, _ in selector.select():
            if key.fd != control.fileno():   # a child ended: tell the runner its status
                pid, reply = children.pop(key.fd)
                selector.unregister(key.fd)
                os.close(key.fd)
                _, status = os.waitpid(pid, 0)
                try:
                    os.write(reply, f"{os.waitstatus_to_exitcode(status)}\n".encode())
                except OSError:
                    pass
                os.close(reply)
                continue
            message, fds, _, _ = socket.recv_fds(control, 4096, _FDS_PER_REQUEST)
            if not message:   # the runner is done (or gone): nothing of ours may outlive it
                for pid, _ in children.values():
                    processes.kill(pid)
                os._exit(0)
            request = json.loads(message)
            inherited = [control.fileno(), selector.fileno(), *children, *(r for _, r in children.values())]
            try:
                pid = os.fork()
            except OSError:   # out of processes or memory: closing the reply tells the runner
                pid = -1
            if pid == 0:
                _run_child(request, fds, inherited)
            for fd in fds[:3]:
                os.close(fd)
            reply = fds[3]
            if pid < 0:
                os.close(reply)
                continue
            try:
                os.write(reply, f"{pid}\n".encode())
            except OSError:   # nobody waits for this child any more
                processes.kill(pid)
            pidfd = os.pidfd_open(pid)
            children[pidfd] = (pid, reply)
            selector.register(pidfd, selectors.EVENT_READ)
            # while the files already forked are checked, when no other is waiting to be forked
            waiting = any(k.fd == control.fileno() for k, _ in selector.select(0))
            if request["warm_up"] and not warmed and not waiting:
                warmed = True
                _warm_up()


def _warm_up() -> None:
    """Import what many checks import later, once a file is being checked and more are queued.
    Building a model on the meta device (sizing) imports torch._dynamo (torch keeps dynamo off
    some init functions, nn.init.normal_ for one, so nn.Embedding and most transformers): 1.2 s
    of CPU for each file that needs it. Too much to add to a run of one file, or of files that
    all start at once (-j), which may not need it. Imports only: still no torch operation, no
    thread."""
    try:
        import torch._dynamo  # noqa: F401
    except Exception:   # an optional speed-up; the children import it themselves if they can
        pass


def _run_child(request: dict, fds: list[int], inherited: list[int]) -> NoReturn:
    """In the forked child: become the worker for one file. Never returns."""
    status = 1
    try:
        os.setsid()   # the group that processes.kill stops, as start_new_session did
        for fd in inherited + [fds[3]]:
            os.close(fd)
        if request["memory_limit"]:
            from gradlint.core.limits import apply_memory_limit

            apply_memory_limit(request["memory_limit"])
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
            os.close(fd)
        os.environ[processes.PARENT_ENV] = str(os.getppid())  # guard_worker's parent: the server
        from gradlint.run import worker

        sys.argv[:] = [worker.__file__]   # as `python -m gradlint.run.worker` had it
        worker.main()   # ends in os._exit
    except SystemExit as stop:   # what the interpreter would make of it
        code = stop.code
        if code is None or isinstance(code, int):
            status = code or 0
        else:
            print(code, file=sys.stderr)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(status)


if __name__ == "__main__":
    main()
