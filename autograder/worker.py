"""The sandboxed side of grading one notebook: run its cells, then answer channel requests.

Runs in a process forked from the zygote after :func:`autograder.sandbox.enter`. It
executes the code cells the grader sends (the submission's answers with the instructor's
locked cells restored; test cells are never sent) in an IPython shell, as a kernel would,
then serves :class:`~autograder.channel.ObjectServer` requests against the notebook's
namespace. Nothing here is trusted by the grader: student code can patch any of it, and
the worst it can do is answer wrongly, which costs only the student.

Each cell and each request runs under two soft timers that interrupt it: one on this
process's CPU time (``ITIMER_PROF``: the student's work, however busy the machine is) and a
much later one on wall-clock time (``ITIMER_REAL``: code that sleeps or blocks). The grader
keeps hard limits on both and kills the process when the soft ones are defeated.
"""

from __future__ import annotations

import io
import json
import os
import signal
import struct
import sys
import time

from . import frames
from .channel import ObjectServer, _error_payload, pack

OUTPUT_LIMIT = 8 * 1024  # characters of a cell's output kept for feedback
REQUEST_LIMITS = struct.Struct("<dd")  # before a channel request: its CPU and wall limits


class CellTimeout(BaseException):
    """Raised by a soft timer inside student code; ``args[0]`` is "cpu" or "wall"."""


_cpu_end: float | None = None  # time.process_time() at which the current budget ends


def _on_timer(signum, frame):
    if signum == signal.SIGPROF and _cpu_end is not None:
        # ITIMER_PROF counts sampled ticks, and fires up to ~15% early on a busy machine:
        # the process's precise CPU clock decides
        left = _cpu_end - time.process_time()
        if left > 0.01:
            signal.setitimer(signal.ITIMER_PROF, left)
            return
    raise CellTimeout("cpu" if signum == signal.SIGPROF else "wall")


def _install_timers() -> dict:
    return {sig: signal.signal(sig, _on_timer) for sig in (signal.SIGPROF, signal.SIGALRM)}


def _arm(cpu: float, wall: float) -> None:
    global _cpu_end
    _cpu_end = time.process_time() + cpu
    signal.setitimer(signal.ITIMER_PROF, max(cpu, 0.001))
    signal.setitimer(signal.ITIMER_REAL, max(wall, 0.001))


def _disarm() -> None:
    global _cpu_end
    signal.setitimer(signal.ITIMER_PROF, 0)
    signal.setitimer(signal.ITIMER_REAL, 0)
    _cpu_end = None


def _limit_of(exc: BaseException) -> str:
    return exc.args[0] if exc.args and exc.args[0] in ("cpu", "wall") else "cpu"


class CappedOutput(io.TextIOBase):
    """stdout/stderr for a cell: keeps the first OUTPUT_LIMIT characters, counts the rest."""

    encoding = "utf-8"

    def __init__(self, limit: int = OUTPUT_LIMIT):
        self.limit, self.kept, self.size, self.dropped = limit, [], 0, 0

    def write(self, text) -> int:
        text = text if isinstance(text, str) else str(text)
        room = self.limit - self.size
        if room > 0:
            self.kept.append(text[:room])
            self.size += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def text(self) -> str:
        return "".join(self.kept)


def make_shell():
    """An IPython shell without history (no files, no thread), as a kernel runs cells."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    cfg = Config()
    cfg.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=cfg)
    shell.colors = "nocolor"
    return shell


def warm_up(shell) -> None:
    """Run a cell and format a traceback once, so that workers do not pay for the lazy
    imports behind them (a fresh worker's first error costs ~0.5 s otherwise)."""
    previous = _install_timers()
    try:
        for source in ("None", "raise ValueError('warm-up')"):
            run_cell(shell, source, 60, 600)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    shell.user_ns.pop("_", None)


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except BaseException:
        text = "<unprintable>"
    return f"{type(exc).__name__}: {text}"[:1000]


def run_cell(shell, source: str, cpu: float, wall: float) -> dict:
    """Run one cell with soft limits of ``cpu`` seconds of CPU time and ``wall`` seconds."""
    out = CappedOutput()
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = out
    start = time.perf_counter()
    status, error, limit = "ok", None, None
    try:
        _arm(cpu, wall)
        try:
            result = shell.run_cell(source, store_history=False)
        finally:
            _disarm()
        exc = result.error_in_exec or result.error_before_exec
        if isinstance(exc, CellTimeout):
            status, limit = "timeout", _limit_of(exc)
        elif exc is not None:
            status, error = "error", _describe(exc)
    except CellTimeout as exc:
        status, limit = "timeout", _limit_of(exc)
    except BaseException as exc:  # noqa: BLE001 - student code may raise anything
        status, error = "error", _describe(exc)
    finally:
        sys.stdout, sys.stderr = saved
    figures = _figures() if status == "ok" else []
    _close_figures()
    return {"status": status, "error": error, "output": out.text(), "dropped": out.dropped,
            "seconds": time.perf_counter() - start, "limit": limit, "figures": figures}


MAX_FIGURES = 3  # per cell, for the autograded notebook and the feedback
MAX_FIGURE_BYTES = 256 * 1024


def _figures() -> list[str]:
    """The figures the cell left open, as small base64 PNGs, as Jupyter's inline backend
    would show them (the formgrader and the feedback show them under the cell)."""
    import base64

    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return []
    out = []
    try:
        for number in pyplot.get_fignums()[:MAX_FIGURES]:
            buffer = io.BytesIO()
            pyplot.figure(number).savefig(buffer, format="png", dpi=60)
            if buffer.tell() <= MAX_FIGURE_BYTES:
                out.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
    except BaseException:  # noqa: BLE001 - the student's code may have broken pyplot
        pass
    return out


def _close_figures() -> None:
    """As Jupyter's inline backend does after every cell: figures do not pile up."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        try:
            pyplot.close("all")
        except BaseException:  # noqa: BLE001 - the student's code may have broken pyplot
            pass


def answer(server: ObjectServer, data: bytes, cpu: float, wall: float
           ) -> tuple[bytes, bytes]:
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = CappedOutput(0)
    try:
        _arm(cpu, wall)
        try:
            return b"A", server.handle(data)
        finally:
            _disarm()
    except CellTimeout as exc:
        return b"T", _limit_of(exc).encode()
    except BaseException as exc:  # noqa: BLE001 - SystemExit and friends from student code
        return b"A", pack({"error": _error_payload(exc)}, [])
    finally:
        sys.stdout, sys.stderr = saved


def serve(fd_in: int, fd_out: int, shell, hello: dict) -> None:
    """The worker's loop; never returns (the process exits when the grader is done)."""
    _install_timers()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    server = ObjectServer(shell.user_ns)
    owner = os.getpid()
    frames.send(fd_out, b"H", json.dumps(hello).encode())
    while True:
        frame = frames.receive(fd_in)
        if frame is None or frame[0] == b"Q":
            break
        kind, payload = frame
        if kind == b"R":
            request = json.loads(payload)
            reply = b"D", json.dumps(run_cell(shell, request["source"],
                                              float(request["timeout"]),
                                              float(request["wall"]))).encode()
        elif kind == b"C":
            cpu, wall = REQUEST_LIMITS.unpack_from(payload)
            reply = answer(server, payload[REQUEST_LIMITS.size:], cpu, wall)
        else:
            continue
        if os.getpid() != owner:  # a child the student's code forked: it must not answer
            os._exit(0)
        frames.send(fd_out, *reply)
        _reap()


def _reap() -> None:
    """Collect finished children (the worker is process 1 of its namespace: orphans of the
    student's processes end up here)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
