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

import inspect
import traceback
from pathlib import Path

import numpy as np

from ._core import NotImplementedYet, StudentCodeError

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
    for name, old, new in zip(names, before, after):
        for (where, a), (_, b) in zip(_arrays_in(old, name), _arrays_in(new, name)):
            if a.shape != b.shape or not np.array_equal(a, b, equal_nan=True):
                base = where.split("[")[0]
                fix = "work on a copy"
                if not base.startswith("argument"):
                    fix += f" ({base}.copy())"
                raise StudentCodeError(
                    f"{label} changed its input {where} in place. A function must not modify "
                    f"the arrays it is given: {fix} or build new arrays instead of assigning "
                    "into the input."
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
            names = names or [f"argument {i + 1}" for i in range(len(args))]
            _check_not_mutated(label, names, snapshot, after)
        return result
    names = names or _arg_names(fn, len(args))
    snapshot = _copy_args(args)
    try:
        result = fn(*args, **kwargs)
    except NotImplementedError:
        raise not_implemented(label) from None
    except (NotImplementedYet, StudentCodeError):
        raise
    except Exception as exc:  # the student's bug, reported as a lesson
        raise raised(label, type(exc).__name__, str(exc), student_traceback(exc)) from None
    _check_not_mutated(label, names, snapshot, args)
    return result


def call_many(fn, calls: list[tuple], label: str | None = None) -> list:
    """Call ``fn(*args)`` for every ``args`` in ``calls``; one round trip when remote.

    Used for numerical gradients, which need the student's function at many points.
    No mutation check here (the inputs are throw-away perturbed copies).
    """
    label = label or label_of(fn)
    if isinstance(fn, RemoteHandle):
        return fn._course_call_many([(tuple(args), {}) for args in calls])
    results = []
    for args in calls:
        try:
            results.append(fn(*args))
        except NotImplementedError:
            raise not_implemented(label) from None
        except Exception as exc:
            raise raised(label, type(exc).__name__, str(exc), student_traceback(exc)) from None
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
            "where the instructions say?"
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
