"""Frames on the pipes between the grader and a sandboxed worker.

A frame is one kind byte, an 8-byte little-endian length, then the payload. The grader's
side reads with a deadline and a size limit, because the other end runs student code and
may send garbage, nothing, or far too much. The worker's side blocks.

Kinds, grader -> worker: ``R`` run a cell (JSON), ``C`` a channel request (8-byte float
timeout, then the :mod:`autograder.channel` message), ``Q`` quit.
Worker -> grader: ``H`` hello (JSON: what isolation is in force), ``D`` a cell is done
(JSON), ``A`` a channel answer, ``T`` a channel request ran out of time.
"""

from __future__ import annotations

import json
import os
import select
import struct
import time

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
    status = "timeout"


class SandboxCrashed(SandboxFailure):
    status = "crashed"


class ProtocolError(SandboxCrashed):
    """The worker sent something that is not a well-formed frame."""


# --------------------------------------------------------------------------- grader side

def _wait(fd: int, events: int, deadline: float, what: str) -> None:
    poller = select.poll()
    poller.register(fd, events | select.POLLHUP | select.POLLERR)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise SandboxTimeout(what)
        if poller.poll(min(left, 3600) * 1000):
            return


def write_frame(fd: int, kind: bytes, payload: bytes, deadline: float) -> None:
    """Write one frame to a non-blocking fd before ``deadline`` (time.monotonic())."""
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


def _read_exact(fd: int, n: int, deadline: float, what: str) -> bytes:
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


def read_frame(fd: int, deadline: float, allowed: dict[bytes, int]) -> tuple[bytes, bytes]:
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
