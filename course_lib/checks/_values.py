"""Strict validation of what student code returns.

Every value a check compares first goes through one of these. They accept only exact
``numpy.ndarray`` (no subclasses), Python or numpy numbers, and plain tuples, lists and
dicts, so an object that overrides ``__eq__`` or subclasses ndarray never passes. They
return fresh copies in canonical types (``float``, ``int``, float64 or int64 arrays).
"""

from __future__ import annotations

import numpy as np

from ._core import CheckFailed
from ._student import RemoteHandle, materialize

_FLOAT_SCALARS = (float, int, np.floating, np.integer)


def _type_name(value) -> str:
    if isinstance(value, RemoteHandle):
        return value._course_type_name()
    t = type(value)
    return t.__name__ if t.__module__ in ("builtins", "__main__") else (
        f"{t.__module__}.{t.__name__}")


def _fmt_shape(shape) -> str:
    return "(" + ", ".join("?" if s is None else str(s) for s in shape) + (
        ",)" if len(shape) == 1 else ")"
    )


def _shape_hint(got: tuple, expected: tuple) -> str | None:
    if len(got) == 2 and len(expected) == 2 and got == expected[::-1]:
        return "it looks transposed: check the order of the axes (a .T too many or too few?)"
    if len(got) == len(expected) + 1 and 1 in got:
        return "there is an extra axis of length 1: drop it (keepdims, or index [:, 0])"
    if len(got) + 1 == len(expected):
        return "an axis is missing: did you sum or take max over an axis you should keep?"
    return None


def as_float(value, name: str) -> float:
    """A finite real number (Python or numpy scalar, or a 0-d float array) -> ``float``."""
    value = materialize(value)
    if type(value) is bool or isinstance(value, np.bool_):
        raise CheckFailed(f"{name} should be a number, but it is a boolean ({value}).")
    if type(value) is np.ndarray and value.ndim == 0 and value.dtype.kind in "fiu":
        value = value[()]
    if not (type(value) in (float, int) or type(value) in _numpy_scalar_types()):
        shape = f" of shape {value.shape}" if type(value) is np.ndarray else ""
        raise CheckFailed(
            f"{name} should be a single number (a Python or numpy float), "
            f"but it is a {_type_name(value)}{shape}.",
            hint="sum or average to a scalar" if shape else None,
        )
    out = float(value)
    if not np.isfinite(out):
        raise CheckFailed(
            f"{name} is {out}. Something overflowed or divided by zero.",
            hint="for exp of large numbers, subtract the maximum first; for log, "
            "make sure its argument cannot be 0",
        )
    return out


def as_int(value, name: str) -> int:
    """An integer (Python or numpy, or a float with an integer value) -> ``int``."""
    value = materialize(value)
    if type(value) is np.ndarray and value.ndim == 0:
        value = value[()]
    if type(value) is bool or isinstance(value, np.bool_):
        raise CheckFailed(f"{name} should be an integer, but it is a boolean ({value}).")
    if type(value) is int or type(value) in _numpy_scalar_types():
        if float(value) == int(value):
            return int(value)
    elif type(value) is float and value.is_integer():
        return int(value)
    raise CheckFailed(f"{name} should be an integer, but it is {value!r} ({_type_name(value)}).")


def _numpy_scalar_types():
    return (np.float64, np.float32, np.float16, np.int64, np.int32, np.int16, np.int8,
            np.uint64, np.uint32, np.uint16, np.uint8, np.longlong, np.intc)


def as_array(value, name: str, *, shape=None, kind: str = "float", finite: bool = True
             ) -> np.ndarray:
    """An exact numpy array of the expected shape -> a float64 (or int64) copy.

    shape: a tuple, where None matches any length on that axis; kind: "float" (float64
    required, ints accepted and converted), "int" (integer dtype, or floats holding exact
    integers, as CS231n's ``np.zeros(num_test)`` label arrays do) or "any".
    """
    value = materialize(value)
    if type(value) is not np.ndarray:
        if isinstance(value, np.ndarray):
            raise CheckFailed(
                f"{name} should be a plain numpy array, but it is a {_type_name(value)} "
                "(a subclass of ndarray). Return np.asarray(...) of your result."
            )
        raise CheckFailed(
            f"{name} should be a numpy array, but it is a {_type_name(value)}.",
            hint="wrap it with np.array(...)" if type(value) in (list, tuple) else None,
        )
    if shape is not None:
        shape = tuple(shape)
        ok = value.ndim == len(shape) and all(
            s is None or s == g for s, g in zip(shape, value.shape)
        )
        if not ok:
            raise CheckFailed(
                f"{name} has shape {value.shape}, expected {_fmt_shape(shape)}.",
                hint=_shape_hint(value.shape, shape),
            )
    if value.dtype.kind not in "biuf":
        raise CheckFailed(f"{name} has dtype {value.dtype}; expected numbers.")
    if kind == "float":
        if value.dtype.kind == "f" and value.dtype != np.float64:
            raise CheckFailed(
                f"{name} has dtype {value.dtype}; expected float64.",
                hint="something converted to lower precision: keep the float64 inputs' dtype",
            )
        out = np.array(value, dtype=np.float64, copy=True)
    elif kind == "int":
        if value.dtype.kind == "f":
            if not np.all(np.isfinite(value)) or not np.all(value == np.round(value)):
                raise CheckFailed(f"{name} should hold integer labels, but has fractions.")
        elif value.dtype.kind == "b":
            raise CheckFailed(f"{name} should hold integers, but it is a boolean array.")
        out = np.array(value, dtype=np.int64, copy=True)
    else:
        out = np.array(value, copy=True)
    if finite and out.dtype.kind == "f" and not np.all(np.isfinite(out)):
        bad = np.argwhere(~np.isfinite(out))
        where = tuple(int(i) for i in bad[0])
        raise CheckFailed(
            f"{name} contains {int((~np.isfinite(out)).sum())} non-finite values "
            f"(e.g. {out[where]} at index {where}).",
            hint="an overflow in exp or a division by zero? Subtract the max before exp.",
        )
    return out


def as_tuple(value, name: str, length: int, parts: tuple[str, ...] | None = None) -> tuple:
    """A tuple or list of exactly ``length`` items -> a tuple (items not yet validated)."""
    value = materialize(value)
    what = f"({', '.join(parts)})" if parts else f"{length} values"
    if type(value) not in (tuple, list):
        raise CheckFailed(f"{name} should return {what}, but it returned a {_type_name(value)}.")
    if len(value) != length:
        raise CheckFailed(f"{name} should return {what}, but it returned {len(value)} values.")
    return tuple(value)


def as_dict(value, name: str, keys=None) -> dict:
    """A plain dict (with at least ``keys``) -> a dict (values not yet validated)."""
    value = materialize(value)
    if type(value) is not dict:
        raise CheckFailed(f"{name} should be a dict, but it is a {_type_name(value)}.")
    if keys is not None:
        missing = [k for k in keys if k not in value]
        if missing:
            raise CheckFailed(f"{name} is missing the key(s) {', '.join(map(repr, missing))}.")
    return dict(value)


def as_list(value, name: str) -> list:
    """A list or tuple -> a list (items not yet validated)."""
    value = materialize(value)
    if type(value) not in (list, tuple):
        if type(value) is np.ndarray and value.ndim == 1:
            return list(value)
        raise CheckFailed(f"{name} should be a list, but it is a {_type_name(value)}.")
    return list(value)
