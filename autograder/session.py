"""The grader's side of one sandboxed worker: start it, run cells, carry channel requests.

Every read has a deadline and a size limit; every reply is validated before use. A worker
that stops answering is killed (:class:`~autograder.frames.SandboxTimeout`), one that dies
or breaks the protocol is reported as crashed (:class:`~autograder.frames.SandboxCrashed`);
either way only this worker is affected.

Time limits count the worker's CPU time (its own and that of every process it started),
read from ``/proc`` while waiting on its pipe, so that a busy machine does not make honest
code run out of time; a far larger wall-clock ceiling catches code that sleeps or blocks.
That ceiling counts only the time spent waiting for the worker's answers (:attr:`Sandbox.
waited`): not the grader's own work between them, nor its wait for a CPU once an answer is
there, which a starved grader would otherwise charge to the student.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import signal
import time

from . import frames, sandbox
from .channel import MAX_MESSAGE_BYTES
from .frames import CpuDeadline, Patience, SandboxCrashed, SandboxFailure, SandboxTimeout
from .worker import REQUEST_LIMITS

# A fresh worker entering its sandbox runs no student code: it is given up on only if it
# died, used START_CPU seconds of CPU, or used none for a while once START_TIMEOUT passed.
START_TIMEOUT = 60.0
START_CPU = 60.0
HARD_GRACE = 3.0  # seconds (of CPU time, or of wall-clock time) past a soft limit: killed
_SIGNALS = {
    signal.SIGSEGV: "a segmentation fault", signal.SIGBUS: "a bus error",
    signal.SIGABRT: "an abort", signal.SIGFPE: "a floating-point exception",
    signal.SIGILL: "an illegal instruction", signal.SIGXCPU: "its CPU time running out",
}


def _nonblocking(fd: int) -> None:
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)


def describe_exit(info: dict | None) -> str:
    """How a worker ended, in words: "crashed with a segmentation fault (SIGSEGV)"."""
    if not info:
        return "ended"
    if "signal" in info:
        sig = info["signal"]
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        if sig == signal.SIGKILL:
            return ("was killed (SIGKILL: it ran past a grader deadline, or out of memory or "
                    "CPU time)")
        return f"crashed with {_SIGNALS.get(sig, 'a signal')} ({name})"
    return (f"exited with code {info.get('exit_code')} (os._exit, or a crash in compiled "
            "code)")


class Sandbox:
    """One worker process. ``request`` is the channel transport (see ``Client``)."""

    def __init__(self, zygote, limits: dict):
        self.zygote = zygote
        self.limits = limits
        self.pid: int | None = None
        self.hello: dict = {}
        self.failure: SandboxFailure | None = None
        self.exit_info: dict | None = None
        self.cpu_measured = False  # False: /proc cannot show it, wall time stands in
        self._last_cpu = 0.0
        self._cpu_read_at = float("-inf")
        self._started = 0.0
        self._item_cpu_end = self._item_wall_end = 0.0
        self.waited = 0.0  # wall-clock seconds spent waiting on the student's code
        self._to = self._from = None

    # -- life cycle
    def start(self) -> dict:
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        try:
            self.pid = self.zygote.spawn(self.limits, [to_r, from_w])
        finally:
            os.close(to_r)
            os.close(from_w)
        self._to, self._from = to_w, from_r
        self._started = time.monotonic()
        self.cpu_measured = sandbox.cpu_seconds(self.pid) is not None
        _nonblocking(to_w)
        _nonblocking(from_r)
        try:
            patience = Patience(self.pid, START_TIMEOUT, START_CPU)
            _, payload = frames.read_frame(self._from, patience,
                                           {b"H": frames.MAX_JSON_BYTES})
            self.hello = frames.parse_json(payload)
        except SandboxFailure as exc:
            self._fail(exc)
            raise SandboxCrashed(f"the sandbox did not start: {exc} "
                                 f"({describe_exit(self.exit_info)})") from None
        if "error" in self.hello:
            self._fail(SandboxCrashed("start"))
            raise SandboxCrashed(f"the sandbox could not start: {self.hello['error']}")
        return self.hello

    def close(self) -> dict | None:
        """Stop the worker (and everything it started); how it ended."""
        if self.pid is not None:
            if self.failure is None:
                try:
                    frames.write_frame(self._to, b"Q", b"", time.monotonic() + 1)
                except SandboxFailure:
                    pass
            self.exit_info = self.zygote.finish(self.pid)
            self.pid = None
        for fd in (self._to, self._from):
            if fd is not None:
                os.close(fd)
        self._to = self._from = None
        return self.exit_info

    @property
    def alive(self) -> bool:
        return self.pid is not None and self.failure is None

    def cpu_used(self, max_age: float = 0.0) -> float:
        """Seconds of CPU time used by the worker and what it started (wall time since its
        start where /proc cannot show it); ``max_age``: a reading that many seconds old
        will do (back-to-back channel requests need not each read /proc)."""
        now = time.monotonic()
        if not self.cpu_measured:
            return now - self._started
        if self.pid is not None and now - self._cpu_read_at >= max_age:
            used = sandbox.cpu_seconds(self.pid)
            if used is not None:
                self._last_cpu, self._cpu_read_at = max(used, self._last_cpu), now
        return self._last_cpu

    @contextlib.contextmanager
    def _waiting(self):
        """Count the time in this block, but for this thread's wait for a CPU, as waited."""
        start, delay = time.monotonic(), sandbox.run_delay()
        try:
            yield
        finally:
            slow = sandbox.run_delay() - delay
            self.waited += max(0.0, time.monotonic() - start - slow)

    def _deadline(self, cpu_end: float, wall_end: float) -> CpuDeadline:
        """The hard limit on a request whose soft limits end at ``cpu_end`` (CPU time used)
        and ``wall_end`` (time.monotonic())."""
        return CpuDeadline(self.cpu_used, cpu_end + HARD_GRACE, wall_end + HARD_GRACE)

    def _fail(self, exc: SandboxFailure) -> SandboxFailure:
        """The worker is unusable: kill it now, remember why."""
        self.failure = exc
        if self.pid is not None:
            self.exit_info = self.zygote.finish(self.pid)
            self.pid = None
        return exc

    def _guard(self, fn):
        if self.failure is not None:
            raise type(self.failure)(str(self.failure))
        try:
            return fn()
        except SandboxTimeout as exc:
            if exc.soft:
                raise
            raise self._fail(SandboxTimeout(str(exc), exc.limit)) from None
        except SandboxFailure as exc:
            self._fail(exc)
            raise SandboxCrashed(f"the notebook's process {describe_exit(self.exit_info)}"
                                 ) from None

    # -- cells
    def run_cell(self, source: str, timeout: float, wall: float) -> dict:
        """Run one cell with soft limits of ``timeout`` seconds of CPU time and ``wall``
        seconds; a validated ``{status, error, output, dropped, seconds, cpu_seconds,
        limit}``. Raises SandboxTimeout / SandboxCrashed if the worker is lost."""
        def go():
            start, cpu_start = time.monotonic(), self.cpu_used()
            deadline = self._deadline(cpu_start + timeout, start + wall)
            request = json.dumps({"source": source, "timeout": timeout, "wall": wall})
            with self._waiting():
                frames.write_frame(self._to, b"R", request.encode(), deadline)
                _, payload = frames.read_frame(self._from, deadline,
                                               {b"D": frames.MAX_JSON_BYTES})
            result = _cell_result(frames.parse_json(payload))
            # measured here, not reported there
            result["seconds"] = time.monotonic() - start
            result["cpu_seconds"] = self.cpu_used() - cpu_start
            return result

        return self._guard(go)

    # -- the channel transport
    def begin_item(self, cpu: float, wall: float) -> None:
        """The channel requests that follow share ``cpu`` seconds of the worker's CPU time
        and ``wall`` seconds of waiting for it (one graded item's checks)."""
        self._item_cpu_end = self.cpu_used() + cpu
        self._item_wall_end = self.waited + wall

    def request(self, data: bytes) -> bytes:
        def go():
            used = self.cpu_used(max_age=frames.CPU_POLL / 5)
            cpu = self._item_cpu_end - used
            wall = self._item_wall_end - self.waited
            if cpu <= 0 or wall <= 0:
                raise SandboxTimeout("no time left for this item",
                                     "cpu" if cpu <= 0 else "wall", soft=True)
            deadline = self._deadline(self._item_cpu_end, time.monotonic() + wall)
            with self._waiting():
                frames.write_frame(self._to, b"C", REQUEST_LIMITS.pack(cpu, wall) + data,
                                   deadline)
                kind, payload = frames.read_frame(self._from, deadline,
                                                  {b"A": MAX_MESSAGE_BYTES, b"T": 16})
            if kind == b"T":
                limit = "wall" if payload == b"wall" else "cpu"
                raise SandboxTimeout("the student's code did not return in time", limit,
                                     soft=True)
            return payload

        return self._guard(go)


BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")  # the figures' PNG data, as it may reach HTML


def _cell_result(raw: dict) -> dict:
    status = raw.get("status")
    if status not in ("ok", "error", "timeout"):
        raise frames.ProtocolError("a cell result with an unknown status")
    text = raw.get("output")
    error = raw.get("error")
    seconds = raw.get("seconds")
    dropped = raw.get("dropped")
    limit = raw.get("limit")
    figures = raw.get("figures")
    return {
        "status": status,
        "figures": [f for f in figures[:3] if isinstance(f, str) and len(f) <= 360_000
                    and BASE64.fullmatch(f)] if isinstance(figures, list) else [],
        "limit": limit if limit in ("cpu", "wall") else None,
        "error": error[:1000] if isinstance(error, str) else None,
        "output": text[:20000] if isinstance(text, str) else "",
        "dropped": dropped if type(dropped) is int and dropped >= 0 else 0,
        "seconds": float(seconds) if type(seconds) in (int, float) else 0.0,
    }
