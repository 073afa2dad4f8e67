"""Frames on the pipes between the grader and a sandboxed worker.

A frame is one kind byte, an 8-byte little-endian length, then the payload. The grader's
side reads with a deadline and a size limit, because the other end runs student code and
may send garbage, nothing, or far too much. The worker's side blocks.

Kinds, grader -> worker: ``R`` run a cell (JSON), ``C`` a channel request (two 8-byte
floats: its CPU and wall-clock limits in seconds, then the :mod:`autograder.channel`
message), ``Q`` quit.
Worker -> grader: ``H`` hello (JSON: what isolation is in force), ``D`` a cell is done
(JSON), ``A`` a channel answer, ``T`` a channel request ran out of time (``cpu`` or
``wall``: which limit).

How long the grader waits is a *deadline*: a wall-clock instant (``time.monotonic()``), or
an object whose ``check(what)`` raises when the wait must end and otherwise says how long
to wait before asking again: :class:`CpuDeadline` (a budget of the worker's CPU time, for
student code) and :class:`Patience` (for processes that run no student code, which a slow
machine must not make us give up on).
"""

from __future__ import annotations

import json
import os
import select
import struct
import time

from . import sandbox

HEADER = struct.Struct("<cQ")
MAX_JSON_BYTES = 4 * 1024 * 1024
_CHUNK = 1 << 20


class SandboxFailure(BaseException):
    """The sandboxed process stopped answering as it should.

    A BaseException, so that no ``except Exception`` in a check can swallow it: it always
    reaches the grading loop, which records the item as timed out or crashed.
    """

    status = "crashed"


class SandboxTimeout(SandboxFailure):
    """Out of time. ``limit``: which one ran out ("cpu" or "wall"); ``soft``: the worker
    stopped the code itself and is still usable."""

    status = "timeout"

    def __init__(self, message: str = "", limit: str = "cpu", soft: bool = False):
        super().__init__(message)
        self.limit, self.soft = limit, soft


class SandboxCrashed(SandboxFailure):
    status = "crashed"


class ProtocolError(SandboxCrashed):
    """The worker sent something that is not a well-formed frame."""


# --------------------------------------------------------------------------- deadlines

CPU_POLL = 0.5  # seconds between two looks at a worker's CPU time while waiting on it
STALL = 60.0  # seconds without using any CPU after which a process past its ceiling is stuck


def time_left(deadline, what: str) -> float:
    """Seconds to wait before looking at ``deadline`` again; raises SandboxTimeout if over."""
    if isinstance(deadline, (int, float)):
        left = deadline - time.monotonic()
        if left <= 0:
            raise SandboxTimeout(what, limit="wall")
        return left
    return deadline.check(what)


class CpuDeadline:
    """A hard limit on student code: the wait ends when ``meter(max_age)`` (the worker's CPU
    time, what it started included, read at most ``max_age`` seconds ago) reaches
    ``cpu_end``, or at the wall-clock ceiling ``wall`` (time.monotonic())."""

    def __init__(self, meter, cpu_end: float, wall: float):
        self.meter, self.cpu_end, self.wall = meter, cpu_end, wall

    def check(self, what: str) -> float:
        now = time.monotonic()
        if now >= self.wall:
            raise SandboxTimeout(what, limit="wall")
        # a request makes several short waits: a reading of /proc this recent will do
        left = self.cpu_end - self.meter(max_age=CPU_POLL / 5)
        if left <= 0:
            raise SandboxTimeout(what, limit="cpu")
        return min(self.wall - now, left, CPU_POLL)


class Patience:
    """Waiting on a process that runs no student code (the zygote, a worker entering its
    sandbox), however slow the machine: give up only if it ended, if it used more than
    ``cpu`` seconds of CPU time on this wait (a loop), or if it is past the wall-clock
    ``ceiling`` (seconds) and neither it nor its children used any CPU for STALL seconds
    (stuck waiting). A starved process still gets some CPU every few seconds."""

    def __init__(self, pid: int, ceiling: float, cpu: float, poll: float = 1.0):
        self.pid, self.ceiling, self.cpu, self.poll = pid, ceiling, cpu, poll
        self.start = self.last_progress = time.monotonic()
        self.own_start = self.progress = None
        self.visible = True  # False: /proc does not show the process, only the ceiling holds

    def _first_look(self) -> None:
        """Most waits end within ``poll`` seconds: /proc is read only for the others."""
        self.own_start = sandbox.cpu_seconds(self.pid, descendants=False) or 0.0
        self.progress = sandbox.cpu_seconds(self.pid)
        self.visible = self.progress is not None

    def check(self, what: str) -> float:
        now = time.monotonic()
        if self.own_start is None:
            if now - self.start < self.poll:
                return self.poll
            self._first_look()
        if self.visible and not sandbox.alive(self.pid):
            raise SandboxCrashed(f"{what}: the process ended")
        own = sandbox.cpu_seconds(self.pid, descendants=False)
        if own is not None and own - self.own_start > self.cpu:
            raise SandboxTimeout(f"{what}: it used {own - self.own_start:.0f} s of CPU time "
                                 "without answering")
        progress = sandbox.cpu_seconds(self.pid)
        if progress is not None and (self.progress is None or progress > self.progress):
            self.progress, self.last_progress = progress, now
        idle = now - self.last_progress
        if now - self.start > self.ceiling and idle >= STALL:
            raise SandboxTimeout(f"{what} within {now - self.start:.0f} s, and used no CPU "
                                 f"for the last {idle:.0f} s", limit="wall")
        return self.poll


# --------------------------------------------------------------------------- grader side

def _wait(fd: int, events: int, deadline, what: str) -> None:
    poller = select.poll()
    poller.register(fd, events | select.POLLHUP | select.POLLERR)
    while True:
        try:
            left = time_left(deadline, what)
        except SandboxTimeout:
            if poller.poll(0):  # the answer came in time: this process was slow to look
                return
            raise
        if poller.poll(min(left, 3600) * 1000):
            return


def write_frame(fd: int, kind: bytes, payload: bytes, deadline) -> None:
    """Write one frame to a non-blocking fd before ``deadline`` (see above)."""
    data = memoryview(HEADER.pack(kind, len(payload)) + payload)
    while data:
        _wait(fd, select.POLLOUT, deadline, "the sandbox stopped reading its input")
        try:
            n = os.write(fd, data[:_CHUNK])
        except BlockingIOError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            raise SandboxCrashed("the sandbox closed its input") from None
        data = data[n:]


def _read_exact(fd: int, n: int, deadline, what: str) -> bytes:
    out = bytearray()
    while len(out) < n:
        _wait(fd, select.POLLIN, deadline, what)
        try:
            chunk = os.read(fd, min(_CHUNK, n - len(out)))
        except BlockingIOError:
            continue
        if not chunk:
            raise SandboxCrashed("the sandbox process ended")
        out += chunk
    return bytes(out)


def read_frame(fd: int, deadline, allowed: dict[bytes, int]) -> tuple[bytes, bytes]:
    """One frame from a non-blocking fd; ``allowed`` maps each acceptable kind to its size
    limit. Raises SandboxTimeout, SandboxCrashed (EOF) or ProtocolError."""
    kind, length = HEADER.unpack(_read_exact(fd, HEADER.size, deadline, "no answer in time"))
    if kind not in allowed:
        raise ProtocolError(f"unexpected frame {kind!r} from the sandbox")
    if length > allowed[kind]:
        raise ProtocolError(f"a frame of {length:,} bytes from the sandbox is over the limit")
    return kind, _read_exact(fd, length, deadline, "the answer did not arrive in time")


def parse_json(payload: bytes) -> dict:
    """A JSON object from the sandbox (untrusted: anything else is a protocol error)."""
    try:
        value = json.loads(payload)
    except (ValueError, RecursionError):
        raise ProtocolError("the sandbox sent malformed JSON") from None
    if type(value) is not dict:
        raise ProtocolError("the sandbox sent JSON that is not an object")
    return value


# --------------------------------------------------------------------------- worker side

def send(fd: int, kind: bytes, payload: bytes) -> None:
    """Blocking write of one frame (worker side)."""
    data = memoryview(HEADER.pack(kind, len(payload)) + payload)
    while data:
        data = data[os.write(fd, data):]


def receive(fd: int) -> tuple[bytes, bytes] | None:
    """Blocking read of one frame (worker side); None at end of input."""
    header = _recv_exact(fd, HEADER.size)
    if header is None:
        return None
    kind, length = HEADER.unpack(header)
    payload = _recv_exact(fd, length)
    return None if payload is None else (kind, payload)


def _recv_exact(fd: int, n: int) -> bytes | None:
    out = bytearray()
    while len(out) < n:
        chunk = os.read(fd, min(_CHUNK, n - len(out)))
        if not chunk:
            return None
        out += chunk
    return bytes(out)
