"""Calling student code: the one door between a check and what the student wrote.

Checks never call a student's function directly. They use :func:`call` (and
:func:`call_many`, :func:`set_attr`, :func:`materialize`), which

* turn ``NotImplementedError`` into a "not implemented yet" lesson,
* turn any other exception into a lesson that shows the student's own traceback lines,
* notice when the student's code changed one of its input arrays in place,
* work the same whether the object is the student's real object (in their kernel) or a
  :class:`RemoteHandle` for an object living in the autograder's sandbox process.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
import sysconfig
import traceback
from pathlib import Path

import numpy as np

from ._core import ChangedInput, NotImplementedYet, StudentCodeError

_COURSE_LIB_DIR = str(Path(__file__).resolve().parent.parent)


class RemoteHandle:
    """Base class for a proxy of an object that lives in another (sandboxed) process.

    The autograder subclasses it. Everything a check does with student objects goes
    through these four methods; results arrive as plain data (numbers, strings, exact
    ``numpy.ndarray``, lists, tuples, dicts) with further handles where the value is not
    plain data.
    """

    __slots__ = ()

    def _course_label(self) -> str:
        raise NotImplementedError

    def _course_call(self, args: tuple, kwargs: dict, echo: bool):
        """Call the remote object; return ``(result, args_after)``.

        ``args_after`` is the positional arguments as they were after the call (for the
        in-place mutation check) when ``echo`` is true, else None.
        """
        raise NotImplementedError

    def _course_call_many(self, calls: list[tuple[tuple, dict]]) -> list:
        """Several calls in one round trip; returns their results in order."""
        return [self._course_call(args, kwargs, False)[0] for args, kwargs in calls]

    def _course_materialize(self):
        """Fetch the remote value: plain data, with handles where parts of it are not."""
        raise NotImplementedError

    def _course_type_name(self) -> str:
        """The remote object's type, for messages (``"object"`` when not yet fetched)."""
        return "object"

    def _course_setattr(self, name: str, value) -> None:
        raise NotImplementedError

    def _course_count_steps(self, args: tuple, kwargs: dict) -> dict[str, int]:
        """Call the remote object under :func:`trace_steps` where it runs; return the
        line counts per function of the student's own code."""
        raise NotImplementedError

    def _course_param_names(self) -> list[str]:
        """The remote callable's positional parameter names (for messages)."""
        raise NotImplementedError

    def _course_session(self):
        """What identifies the process the object lives in (one seed request per process)."""
        return self

    def _course_seed_random(self, seed: int | None) -> None:
        """Seed the remote process's global ``np.random`` and ``random`` with ``seed`` (saving
        their states), or restore the saved states when ``seed`` is None. A handle whose
        process has no random state to seed may keep this no-op."""


def label_of(fn) -> str:
    """The name a student knows their function or method by."""
    if isinstance(fn, RemoteHandle):
        return fn._course_label()
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    return name if isinstance(name, str) else type(fn).__name__


def student_traceback(exc: BaseException, limit: int = 4) -> str:
    """The last few frames of ``exc`` that are the student's, not course_lib's."""
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__)
        if not f.filename.startswith(_COURSE_LIB_DIR)
    ]
    lines = []
    for frame in frames[-limit:]:
        cell = frame.filename.startswith("<") or "ipykernel_" in frame.filename
        where = "your cell" if cell else Path(frame.filename).name
        lines.append(f"  {where}, line {frame.lineno}, in {frame.name}")
        if frame.line:
            lines.append(f"    {frame.line.strip()}")
    return "\n".join(lines)


def not_implemented(label: str) -> NotImplementedYet:
    return NotImplementedYet(
        f"{label} still raises NotImplementedError: it is not implemented yet. Replace "
        "`raise NotImplementedError()` in its cell with your code, run that cell, then run "
        "this check again."
    )


def raised(label: str, type_name: str, message: str, tb_text: str) -> StudentCodeError:
    text = f"{label} raised {type_name}: {message}"
    if tb_text:
        text += f"\n{tb_text}"
    return StudentCodeError(text)


def _arg_names(fn, n: int) -> list[str]:
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        params = []
    return [params[i] if i < len(params) else f"argument {i + 1}" for i in range(n)]


def _remote_arg_names(fn, n: int) -> list[str]:
    """The parameter names of a remote function (for messages only: plain strings)."""
    try:
        names = fn._course_param_names()
    except Exception:  # an older or minimal RemoteHandle, or a function without a signature
        names = []
    ok = type(names) is list and all(type(v) is str and v.isidentifier() for v in names)
    names = names[:n] if ok else []
    return names + [f"argument {i + 1}" for i in range(len(names), n)]


def _arrays_in(value, path: str):
    """Yield (path, array) for arrays inside value, one container level deep."""
    if type(value) is np.ndarray:
        yield path, value
    elif type(value) in (list, tuple):
        for i, v in enumerate(value):
            if type(v) is np.ndarray:
                yield f"{path}[{i}]", v
    elif type(value) is dict:
        for k, v in value.items():
            if type(v) is np.ndarray:
                yield f"{path}[{k!r}]", v


def _check_not_mutated(label: str, names, before, after) -> None:
    """names: what to call each argument, or a function returning that list (asked only
    when an argument did change: for a remote function it costs a round trip)."""
    for i, (old, new) in enumerate(zip(before, after)):
        for (where, a), (_, b) in zip(_arrays_in(old, ""), _arrays_in(new, "")):
            if a.shape != b.shape or not np.array_equal(a, b, equal_nan=True):
                if callable(names):
                    names = names()
                base = names[i] if i < len(names) else f"argument {i + 1}"
                where = base + where
                fix = "work on a copy"
                if not base.startswith("argument"):
                    fix += f" ({base}.copy())"
                raise ChangedInput(
                    f"{label} changed its input {where} in place. A function must not modify "
                    f"the arrays it is given: a caller that uses {base} again afterwards gets "
                    "wrong results (backprop reuses `dout` at every branch of a graph, so "
                    f"the other branch would get wrong gradients). Fix: {fix} or build new "
                    "arrays instead of assigning into the input."
                )


def _copy_args(args):
    out = []
    for a in args:
        if type(a) is np.ndarray:
            out.append(a.copy())
        elif type(a) in (list, tuple):
            out.append(type(a)(v.copy() if type(v) is np.ndarray else v for v in a))
        elif type(a) is dict:
            out.append({k: (v.copy() if type(v) is np.ndarray else v) for k, v in a.items()})
        else:
            out.append(a)
    return out


def call(fn, *args, names=None, label: str | None = None, **kwargs):
    """Call student code ``fn(*args, **kwargs)`` the way every check must.

    names: what to call each positional argument in messages (default: the parameter
    names of ``fn`` when it can be inspected); label: what to call ``fn``.
    Raises NotImplementedYet / StudentCodeError (both CheckFailed) on the student's
    errors, including modifying an input array in place.
    """
    label = label or label_of(fn)
    if isinstance(fn, RemoteHandle):
        snapshot = _copy_args(args)
        result, after = fn._course_call(args, kwargs, True)
        if after is not None:
            _check_not_mutated(label, names or (lambda: _remote_arg_names(fn, len(args))),
                               snapshot, after)
        return result
    names = names or _arg_names(fn, len(args))
    snapshot = _copy_args(args)
    with student_errors(label):
        result = fn(*args, **kwargs)
    _check_not_mutated(label, names, snapshot, args)
    return result


@contextlib.contextmanager
def student_errors(label: str):
    """Run student code: its NotImplementedError becomes NotImplementedYet and any other
    exception (the student's bug) a StudentCodeError lesson; lessons pass through."""
    try:
        yield
    except NotImplementedError:
        raise not_implemented(label) from None
    except (NotImplementedYet, StudentCodeError):
        raise
    except Exception as exc:
        raise raised(label, type(exc).__name__, str(exc), student_traceback(exc)) from None


# --------------------------------------------------------------------------- step counting

@functools.cache
def _library_dirs() -> tuple[str, ...]:
    """Directories whose code is not the student's: the standard library, installed
    packages (numpy, IPython), course_lib and the autograder."""
    dirs = {_COURSE_LIB_DIR, str(Path(_COURSE_LIB_DIR).parent / "autograder")}
    paths = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        if paths.get(key):
            dirs.add(str(Path(paths[key]).resolve()))
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix}:
        dirs.add(str(Path(prefix).resolve()))
    dirs.discard("/")
    return tuple(d.rstrip("/") + "/" for d in dirs)


def _is_students(filename: str, library: tuple[str, ...]) -> bool:
    """Notebook cells (``<ipython-input-...>``, ``/tmp/ipykernel_*/...``, ``<string>``) and the
    student's own modules; not frozen bootstrap code or any library."""
    if filename.startswith("<"):
        return not filename.startswith("<frozen")
    if "ipykernel_" in filename:
        return True
    try:
        path = str(Path(filename).resolve())
    except (OSError, ValueError):
        path = filename
    return not path.startswith(library) and not filename.startswith(library)


def trace_steps(fn, args: tuple = (), kwargs: dict | None = None) -> tuple[object, dict[str, int]]:
    """Call ``fn(*args, **kwargs)`` counting the Python line events of the student's own code.

    Returns ``(result, counts)``, counts: ``{function qualname: line events}`` for every
    function of the student's code that ran (numpy, the standard library, course_lib and
    the autograder are not counted: one ``X @ W`` is one line whatever the size of ``X``).
    A Python loop adds its body's lines once per iteration; comprehensions and generator
    expressions count per item too. Exceptions propagate unchanged. Any tracer installed
    before (a debugger, coverage) is suspended for the call and restored after.
    """
    library = _library_dirs()
    counts: dict[str, int] = {}
    mine: dict[object, bool] = {}

    def local(frame, event, arg):
        if event == "line":
            name = frame.f_code.co_qualname
            counts[name] = counts.get(name, 0) + 1
        return local

    def on_call(frame, event, arg):
        code = frame.f_code
        ok = mine.get(code)
        if ok is None:
            ok = mine[code] = _is_students(code.co_filename, library)
        return local if ok else None

    previous = sys.gettrace()
    sys.settrace(on_call)
    try:
        result = fn(*args, **(kwargs or {}))
    finally:
        sys.settrace(previous)
    return result, counts


def step_counts(fn, *args, label: str | None = None, **kwargs) -> dict[str, int]:
    """``{function qualname: Python line events}`` of the student's own code while calling
    ``fn(*args, **kwargs)``, counted where the code runs (in this process, or in the
    grader's sandbox through a :class:`RemoteHandle`). The student's errors become lessons
    as with :func:`call`; the result of the call is discarded."""
    label = label or label_of(fn)
    if isinstance(fn, RemoteHandle):
        return fn._course_count_steps(tuple(args), dict(kwargs))
    with student_errors(label):
        return trace_steps(fn, args, kwargs)[1]


def count_steps(fn, *args, label: str | None = None, **kwargs) -> int:
    """The number of Python line events executed in the student's own code (not numpy's,
    not course_lib's) while calling ``fn(*args, **kwargs)``: in the student's kernel, or in
    the grader's sandbox when ``fn`` is a :class:`RemoteHandle`. A vectorized function's
    count does not grow with the size of its input; a Python loop over the data's does.
    See :func:`course_lib.checks.expect_vectorized`."""
    return sum(step_counts(fn, *args, label=label, **kwargs).values())


# --------------------------------------------------------------------------- global random state

def seed_random(seed: int) -> tuple:
    """Seed the global ``np.random`` and ``random`` with ``seed``; returns their previous
    states for :func:`restore_random`. (CS231n's ``LinearClassifier.train`` draws batches
    from the global ``np.random``: seeding makes a check's message reproducible.)"""
    import random

    saved = (np.random.get_state(), random.getstate())
    np.random.seed(int(seed) % 2**32)
    random.seed(int(seed))
    return saved


def restore_random(saved: tuple) -> None:
    import random

    np.random.set_state(saved[0])
    random.setstate(saved[1])


def call_many(fn, calls: list[tuple], label: str | None = None) -> list:
    """Call ``fn(*args)`` for every ``args`` in ``calls``; one round trip when remote.

    Used for numerical gradients, which need the student's function at many points.
    No mutation check here (the inputs are throw-away perturbed copies).
    """
    label = label or label_of(fn)
    if isinstance(fn, RemoteHandle):
        return fn._course_call_many([(tuple(args), {}) for args in calls])
    results = []
    with student_errors(label):
        for args in calls:
            results.append(fn(*args))
    return results


def materialize(value):
    """Plain data for ``value``: fetched from the sandbox when it is a RemoteHandle."""
    if isinstance(value, RemoteHandle):
        return value._course_materialize()
    return value


def get_attr(obj, name: str, label: str | None = None):
    """``obj.name``, or a lesson saying it is missing (works on remote objects too)."""
    if isinstance(obj, RemoteHandle):
        return getattr(obj, name)
    try:
        return getattr(obj, name)
    except AttributeError:
        raise StudentCodeError(
            f"{label or label_of(obj)} has no attribute {name!r}: did you set self.{name} "
            "where the instructions say?", mistake="missing-attribute"
        ) from None
    except Exception as exc:
        raise raised(f"{label or label_of(obj)}.{name}", type(exc).__name__, str(exc),
                     student_traceback(exc)) from None


def set_attr(obj, name: str, value) -> None:
    """``obj.name = value`` on a student object (works on remote objects too)."""
    if isinstance(obj, RemoteHandle):
        obj._course_setattr(name, value)
    else:
        setattr(obj, name, value)
