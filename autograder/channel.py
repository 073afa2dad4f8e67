"""The narrow channel between the grader and a process where student code runs.

The grader never unpickles or evaluates anything from the student's process. Messages are
a JSON header plus raw array buffers, and decode only into plain data: None, bool, int,
float, str, tuple, list, dict (str or int keys), exact ``numpy.ndarray`` of a numeric
dtype. Any other object stays in the student's process and crosses the channel as a
handle number; the grader sees it as a :class:`RemoteRef`, a ``course_lib``
``RemoteHandle`` that forwards calls, attribute access and arithmetic.

Two halves:

* :class:`ObjectServer` runs in the student's process, next to the notebook's namespace.
* :class:`Client` / :class:`RemoteRef` run in the grader; a transport moves bytes between
  them (:class:`Loopback` in one process for tests; the sandbox uses a pipe).
"""

from __future__ import annotations

import inspect
import json
import operator
import struct
import traceback

import numpy as np

from course_lib.checks._core import StudentCodeError
from course_lib.checks._student import (
    RemoteHandle,
    not_implemented,
    raised,
    restore_random,
    seed_random,
    trace_steps,
)

MAX_MESSAGE_BYTES = 512 * 1024 * 1024
MAX_DEPTH = 32
MAX_ITEMS = 1_000_000
_DTYPES = {"|b1", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8", "<f2", "<f4", "<f8"}
_NUMPY_SCALARS = {
    np.float64: float, np.float32: float, np.float16: float,
    np.int64: int, np.int32: int, np.int16: int, np.int8: int,
    np.uint64: int, np.uint32: int, np.uint16: int, np.uint8: int, np.bool_: bool,
}
_NUMPY_INTS = (np.int64, np.int32, np.int16, np.int8, np.uint64, np.uint32, np.uint16, np.uint8)
BINOPS = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul,
    "truediv": operator.truediv, "pow": operator.pow, "matmul": operator.matmul,
    "neg": operator.neg,
}


class ChannelError(Exception):
    """A malformed or oversized message: the other side is broken or hostile."""


class NotPlain(Exception):
    """Raised while encoding in strict mode: the value is not plain data."""


# --------------------------------------------------------------------------- codec

def _encode(value, buffers: list, to_handle, depth: int = 0):
    """Value -> JSON-able tree; arrays go to ``buffers``; the rest through ``to_handle``."""
    if depth > MAX_DEPTH:
        return to_handle(value)
    t = type(value)
    if value is None or t in (bool, str):
        return value
    if t is int:
        return {"int": str(value)}
    if t is float:
        return {"float": repr(value)}
    if t in _NUMPY_SCALARS:
        return _encode(_NUMPY_SCALARS[t](value), buffers, to_handle, depth)
    if t is np.ndarray and value.dtype.kind in "biuf":
        little = value.dtype.newbyteorder("<")
        if little.str not in _DTYPES:  # e.g. float128: not plain data
            return to_handle(value)
        arr = np.ascontiguousarray(value, dtype=little)
        buffers.append(arr.tobytes())
        return {"array": len(buffers) - 1, "dtype": arr.dtype.str, "shape": list(arr.shape)}
    if t in (list, tuple):
        items = [_encode(v, buffers, to_handle, depth + 1) for v in value]
        return {"list" if t is list else "tuple": items}
    if t is dict and all(type(k) in (str, int) or type(k) in _NUMPY_INTS for k in value):
        items = [[k if type(k) in (str, int) else int(k), _encode(v, buffers, to_handle, depth + 1)]
                 for k, v in value.items()]
        return {"dict": items}
    return to_handle(value)


def pack(message, buffers: list[bytes]) -> bytes:
    header = json.dumps(message, allow_nan=False).encode()
    parts = [struct.pack("<QI", len(header), len(buffers)), header]
    for buf in buffers:
        parts += [struct.pack("<Q", len(buf)), buf]
    return b"".join(parts)


def unpack(data: bytes):
    """bytes -> (header, buffers), refusing anything malformed or oversized."""
    try:
        if len(data) > MAX_MESSAGE_BYTES:
            raise ChannelError(f"message of {len(data):,} bytes is over the limit")
        header_len, count = struct.unpack_from("<QI", data, 0)
        offset = 12
        if offset + header_len > len(data):
            raise ChannelError("truncated header")
        header = json.loads(data[offset:offset + header_len])
        offset += header_len
        buffers = []
        for _ in range(count):
            (n,) = struct.unpack_from("<Q", data, offset)
            offset += 8
            if offset + n > len(data):
                raise ChannelError("truncated buffer")
            buffers.append(data[offset:offset + n])
            offset += n
        if offset != len(data):
            raise ChannelError("trailing bytes after the message")
        return header, buffers
    except ChannelError:
        raise
    except Exception as exc:
        raise ChannelError(f"malformed message: {exc}") from None


def _decode(tree, buffers, from_handle, from_ref=None, depth: int = 0, budget=None):
    """JSON tree -> plain Python data; handles become ``from_handle(id)``."""
    budget = budget if budget is not None else [MAX_ITEMS]
    budget[0] -= 1
    if depth > MAX_DEPTH + 1 or budget[0] < 0:
        raise ChannelError("value too deep or too large")
    if tree is None or type(tree) in (bool, str):
        return tree
    if type(tree) is not dict or len(tree) == 0:
        raise ChannelError(f"unexpected {type(tree).__name__} in message")
    if "int" in tree:
        return int(tree["int"])
    if "float" in tree:
        return float(tree["float"])
    if "array" in tree:
        dtype = tree["dtype"]
        if dtype not in _DTYPES:
            raise ChannelError(f"dtype {dtype!r} not allowed")
        shape = tuple(int(s) for s in tree["shape"])
        raw = buffers[int(tree["array"])]
        arr = np.frombuffer(raw, dtype=np.dtype(dtype))
        if arr.size != int(np.prod(shape)):
            raise ChannelError("array size does not match its shape")
        return arr.reshape(shape).astype(np.dtype(dtype).newbyteorder("="), copy=True)
    if "list" in tree or "tuple" in tree:
        items = [_decode(v, buffers, from_handle, from_ref, depth + 1, budget)
                 for v in tree.get("list", tree.get("tuple"))]
        return items if "list" in tree else tuple(items)
    if "dict" in tree:
        out = {}
        for k, v in tree["dict"]:
            if type(k) not in (str, int):
                raise ChannelError("dict key must be str or int")
            out[k] = _decode(v, buffers, from_handle, from_ref, depth + 1, budget)
        return out
    if "handle" in tree:
        return from_handle(int(tree["handle"]), str(tree.get("type", "object"))[:200])
    if "ref" in tree and from_ref is not None:
        return from_ref(tree["ref"])
    raise ChannelError(f"unknown tag {sorted(tree)}")


# --------------------------------------------------------------------------- server

def _error_payload(exc: BaseException) -> dict:
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.endswith(("channel.py", "worker.py"))]
    lines = []
    for frame in frames[-4:]:
        cell = frame.filename.startswith("<") or "ipykernel_" in frame.filename
        where = "your cell" if cell else frame.filename.rsplit("/", 1)[-1]
        lines.append(f"  {where}, line {frame.lineno}, in {frame.name}")
        if frame.line:
            lines.append(f"    {frame.line.strip()}")
    try:
        message = str(exc)[:2000]
    except Exception:
        message = "<unprintable exception>"
    return {"type": type(exc).__name__[:100], "message": message, "tb": "\n".join(lines)}


class _Undefined(Exception):
    """A name the grader asked for is not in the notebook's namespace (not student code's
    own NameError: that one arrives as the student's error)."""


class ObjectServer:
    """Answers the grader's requests against a namespace (the notebook's globals).

    Runs inside the process where student code runs; nothing it sends is trusted.
    """

    def __init__(self, namespace: dict):
        self.namespace = namespace
        self.handles: dict[int, object] = {}
        self._next = 1
        self._random_states: list = []  # saved by "seed", restored by "unseed"

    def _to_handle(self, value) -> dict:
        hid = self._next
        self._next += 1
        self.handles[hid] = value
        kind = type(value)
        module = kind.__module__
        type_name = kind.__qualname__ if module in ("builtins", "__main__") else (
            f"{module}.{kind.__qualname__}")
        if isinstance(value, np.ndarray):
            type_name += " (a subclass of ndarray)"
        return {"handle": hid, "type": type_name[:200]}

    def _resolve(self, ref: dict):
        root = ref["root"]
        if "global" in root:
            name = root["global"]
            if name not in self.namespace:
                raise _Undefined(name)
            obj = self.namespace[name]
        else:
            obj = self.handles[int(root["handle"])]
        for kind, key in ref["path"]:
            obj = getattr(obj, key) if kind == "attr" else obj[key]
        return obj

    def _decode(self, tree, buffers):
        return _decode(tree, buffers, lambda hid, _type: self.handles[hid], self._resolve)

    def _reply(self, value, extra=None) -> bytes:
        buffers: list[bytes] = []
        message = {"ok": _encode(value, buffers, self._to_handle)}
        if extra is not None:
            message["echo"] = _encode(extra, buffers, self._to_handle)
        return pack(message, buffers)

    def handle(self, data: bytes) -> bytes:
        """One request in, one reply out; the student's exceptions become error replies."""
        try:
            request, buffers = unpack(data)
            op = request["op"]
            if op == "reset":
                self.handles.clear()
                return self._reply(None)
            target = self._resolve(request["target"]) if "target" in request else None
            if op == "call":
                args = self._decode(request["args"], buffers)
                kwargs = self._decode(request["kwargs"], buffers)
                result = target(*args, **kwargs)
                return self._reply(result, list(args) if request.get("echo") else None)
            if op == "call_many":
                results = []
                for args, kwargs in self._decode(request["calls"], buffers):
                    results.append(target(*args, **kwargs))
                return self._reply(results)
            if op == "count_steps":
                args = self._decode(request["args"], buffers)
                kwargs = self._decode(request["kwargs"], buffers)
                return self._reply(trace_steps(target, args, kwargs)[1])
            if op == "param_names":
                params = inspect.signature(target).parameters.values()
                return self._reply([p.name[:100] for p in params if p.kind in (
                    p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)])
            if op == "seed":
                seed = request.get("seed")
                if seed is None:
                    if self._random_states:
                        restore_random(self._random_states.pop())
                elif type(seed) is int:
                    self._random_states.append(seed_random(seed))
                else:
                    raise ChannelError("a seed must be an int or null")
                return self._reply(None)
            if op == "fetch":
                return self._reply(target)
            if op == "setattr":
                setattr(target, request["name"], self._decode(request["value"], buffers))
                return self._reply(None)
            if op == "setitem":
                key = self._decode(request["key"], buffers)
                target[key] = self._decode(request["value"], buffers)
                return self._reply(None)
            if op == "binop":
                fn = BINOPS[request["name"]]
                operands = self._decode(request["operands"], buffers)
                return self._reply(fn(*operands))
            raise ChannelError(f"unknown op {op!r}")
        except ChannelError as exc:
            return pack({"channel_error": str(exc)}, [])
        except _Undefined as exc:
            return pack({"undefined": str(exc.args[0])[:200]}, [])
        except Exception as exc:  # the student's code failed: report it, keep serving
            return pack({"error": _error_payload(exc)}, [])


# --------------------------------------------------------------------------- client

class Loopback:
    """A transport that hands bytes to an ObjectServer in the same process (for tests)."""

    def __init__(self, server: ObjectServer):
        self.server = server

    def request(self, data: bytes) -> bytes:
        return self.server.handle(data)


class Client:
    """The grader's side: sends requests, decodes replies into plain data and RemoteRefs."""

    def __init__(self, transport):
        self.transport = transport

    def ref(self, name: str) -> RemoteRef:
        """A reference to the global ``name`` in the student's namespace."""
        return RemoteRef(self, {"global": name}, (), name)

    def reset(self) -> None:
        self._send({"op": "reset"}, [], "reset")

    def _send(self, message: dict, buffers: list, label: str, echo_label=None):
        reply, reply_buffers = unpack(self.transport.request(pack(message, buffers)))
        if "channel_error" in reply:
            raise ChannelError(str(reply["channel_error"])[:500])
        if "undefined" in reply:
            name = str(reply["undefined"])[:200]
            raise StudentCodeError(
                f"name {name!r} is not defined in the notebook: the cell that defines it is "
                "missing, renamed, or stopped before defining it (an error above it?).",
                mistake="not-defined")
        if "error" in reply:
            err = reply["error"]
            kind, msg, tb = (str(err.get(k, ""))[:2000] for k in ("type", "message", "tb"))
            if kind == "NotImplementedError":
                raise not_implemented(label)
            raise raised(label, kind, msg, tb)
        if "ok" not in reply:
            raise ChannelError("reply without a result")

        def handle(hid: int, type_name: str) -> RemoteRef:
            return RemoteRef(self, {"handle": hid}, (), label, type_name)

        result = _decode(reply["ok"], reply_buffers, handle)
        echo = None
        if "echo" in reply:
            echo = _decode(reply["echo"], reply_buffers, handle)
        return result, echo

    def encode_args(self, value, buffers: list):
        def refuse(obj):
            if isinstance(obj, RemoteRef):
                if obj._client is not self:
                    raise ChannelError("a RemoteRef from another client")
                return {"ref": {"root": obj._root, "path": [list(p) for p in obj._path]}}
            raise TypeError(f"cannot send a {type(obj).__name__} to the student's process")

        return _encode(value, buffers, refuse)


class RemoteRef(RemoteHandle):
    """An object in the student's process, seen from the grader.

    Attribute and item access build a longer reference without a round trip; calling,
    arithmetic, assignment and :meth:`_course_materialize` send a request.
    """

    __slots__ = ("_client", "_root", "_path", "_label", "_type")

    def __init__(self, client: Client, root: dict, path: tuple, label: str,
                 type_name: str = "object"):
        object.__setattr__(self, "_type", type_name)
        object.__setattr__(self, "_client", client)
        object.__setattr__(self, "_root", root)
        object.__setattr__(self, "_path", tuple(path))
        object.__setattr__(self, "_label", label)

    def _target(self) -> dict:
        return {"root": self._root, "path": [list(p) for p in self._path]}

    def __repr__(self):
        return f"<remote {self._label}>"

    # course_lib's RemoteHandle protocol
    def _course_label(self) -> str:
        return self._label

    def _course_type_name(self) -> str:
        return self._type

    def _course_call(self, args, kwargs, echo):
        buffers: list[bytes] = []
        message = {
            "op": "call", "target": self._target(), "echo": bool(echo),
            "args": self._client.encode_args(list(args), buffers),
            "kwargs": self._client.encode_args(dict(kwargs), buffers),
        }
        result, after = self._client._send(message, buffers, self._label)
        return result, (list(after) if echo and after is not None else None)

    def _course_call_many(self, calls):
        buffers: list[bytes] = []
        encoded = self._client.encode_args([[list(a), dict(k)] for a, k in calls], buffers)
        message = {"op": "call_many", "target": self._target(), "calls": encoded}
        results, _ = self._client._send(message, buffers, self._label)
        if type(results) is not list or len(results) != len(calls):
            raise ChannelError("call_many reply has the wrong number of results")
        return results

    def _course_materialize(self):
        value, _ = self._client._send({"op": "fetch", "target": self._target()}, [], self._label)
        return value

    def _course_count_steps(self, args, kwargs):
        buffers: list[bytes] = []
        message = {
            "op": "count_steps", "target": self._target(),
            "args": self._client.encode_args(list(args), buffers),
            "kwargs": self._client.encode_args(dict(kwargs), buffers),
        }
        counts, _ = self._client._send(message, buffers, self._label)
        if type(counts) is not dict or not all(
                type(k) is str and type(v) is int and v >= 0 for k, v in counts.items()):
            raise ChannelError("count_steps reply is not a dict of line counts")
        return counts

    def _course_param_names(self):
        names, _ = self._client._send({"op": "param_names", "target": self._target()}, [],
                                      self._label)
        return names

    def _course_session(self):
        return self._client

    def _course_seed_random(self, seed):
        self._client._send({"op": "seed", "seed": None if seed is None else int(seed)}, [],
                           self._label)

    def _course_setattr(self, name, value):
        buffers: list[bytes] = []
        message = {"op": "setattr", "target": self._target(), "name": str(name),
                   "value": self._client.encode_args(value, buffers)}
        self._client._send(message, buffers, f"{self._label}.{name}")

    # Python protocol, forwarded
    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return RemoteRef(self._client, self._root, self._path + (("attr", name),),
                         f"{self._label}.{name}")

    def __getitem__(self, key):
        if type(key) not in (str, int):
            raise TypeError("remote items are indexed by str or int only")
        return RemoteRef(self._client, self._root, self._path + (("item", key),),
                         f"{self._label}[{key!r}]")

    def __setattr__(self, name, value):
        self._course_setattr(name, value)

    def __setitem__(self, key, value):
        buffers: list[bytes] = []
        message = {"op": "setitem", "target": self._target(),
                   "key": self._client.encode_args(key, buffers),
                   "value": self._client.encode_args(value, buffers)}
        self._client._send(message, buffers, f"{self._label}[{key!r}]")

    def __call__(self, *args, **kwargs):
        return self._course_call(args, kwargs, False)[0]

    def _binop(self, name, *operands):
        buffers: list[bytes] = []
        message = {"op": "binop", "name": name,
                   "operands": self._client.encode_args(list(operands), buffers)}
        result, _ = self._client._send(message, buffers, self._label)
        return result

    def __add__(self, o): return self._binop("add", self, o)
    def __radd__(self, o): return self._binop("add", o, self)
    def __sub__(self, o): return self._binop("sub", self, o)
    def __rsub__(self, o): return self._binop("sub", o, self)
    def __mul__(self, o): return self._binop("mul", self, o)
    def __rmul__(self, o): return self._binop("mul", o, self)
    def __truediv__(self, o): return self._binop("truediv", self, o)
    def __rtruediv__(self, o): return self._binop("truediv", o, self)
    def __pow__(self, o): return self._binop("pow", self, o)
    def __matmul__(self, o): return self._binop("matmul", self, o)
    def __neg__(self): return self._binop("neg", self)

    def __bool__(self):
        raise TypeError(f"{self._label} lives in the student's process: materialize it first")

    def __iter__(self):
        raise TypeError(f"{self._label} lives in the student's process: materialize it first")
