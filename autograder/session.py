"""The grader's side of one sandboxed worker: start it, run cells, carry channel requests.

Every read has a deadline and a size limit; every reply is validated before use. A worker
that stops answering is killed (:class:`~autograder.frames.SandboxTimeout`), one that dies
or breaks the protocol is reported as crashed (:class:`~autograder.frames.SandboxCrashed`);
either way only this worker is affected.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import struct
import time

from . import frames
from .channel import MAX_MESSAGE_BYTES
from .frames import SandboxCrashed, SandboxFailure, SandboxTimeout

START_TIMEOUT = 60.0  # seconds for a fresh worker to enter its sandbox and say hello
HARD_GRACE = 3.0  # seconds past a soft timeout before the worker is killed
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
        self.request_deadline = 0.0
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
        _nonblocking(to_w)
        _nonblocking(from_r)
        try:
            _, payload = frames.read_frame(self._from, time.monotonic() + START_TIMEOUT,
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
            if getattr(exc, "soft", False):
                raise
            raise self._fail(SandboxTimeout(str(exc))) from None
        except SandboxFailure as exc:
            self._fail(exc)
            raise SandboxCrashed(f"the notebook's process {describe_exit(self.exit_info)}"
                                 ) from None

    # -- cells
    def run_cell(self, source: str, timeout: float) -> dict:
        """Run one cell with a soft ``timeout``; a validated ``{status, error, output,
        dropped, seconds}``. Raises SandboxTimeout / SandboxCrashed if the worker is lost."""
        def go():
            start = time.monotonic()
            deadline = start + timeout + HARD_GRACE
            request = json.dumps({"source": source, "timeout": timeout}).encode()
            frames.write_frame(self._to, b"R", request, deadline)
            _, payload = frames.read_frame(self._from, deadline, {b"D": frames.MAX_JSON_BYTES})
            result = _cell_result(frames.parse_json(payload))
            result["seconds"] = time.monotonic() - start  # measured here, not reported there
            return result

        return self._guard(go)

    # -- the channel transport
    def request(self, data: bytes) -> bytes:
        def go():
            left = self.request_deadline - time.monotonic()
            if left <= 0:
                exc = SandboxTimeout("no time left for this item")
                exc.soft = True
                raise exc
            deadline = time.monotonic() + left + HARD_GRACE
            frames.write_frame(self._to, b"C", struct.pack("<d", left) + data, deadline)
            kind, payload = frames.read_frame(self._from, deadline,
                                              {b"A": MAX_MESSAGE_BYTES, b"T": 0})
            if kind == b"T":
                exc = SandboxTimeout("the student's code did not return in time")
                exc.soft = True
                raise exc
            return payload

        return self._guard(go)


def _cell_result(raw: dict) -> dict:
    status = raw.get("status")
    if status not in ("ok", "error", "timeout"):
        raise frames.ProtocolError("a cell result with an unknown status")
    text = raw.get("output")
    error = raw.get("error")
    seconds = raw.get("seconds")
    dropped = raw.get("dropped")
    return {
        "status": status,
        "error": error[:1000] if isinstance(error, str) else None,
        "output": text[:20000] if isinstance(text, str) else "",
        "dropped": dropped if type(dropped) is int and dropped >= 0 else 0,
        "seconds": float(seconds) if type(seconds) in (int, float) else 0.0,
    }
