"""Strict validation of what student code returns.

Every value a check compares first goes through one of these. They accept only exact
``numpy.ndarray`` (no subclasses), Python or numpy numbers, and plain tuples, lists and
dicts, so an object that overrides ``__eq__`` or subclasses ndarray never passes. They
return fresh copies in canonical types (``float``, ``int``, float64 or int64 arrays).
"""

from __future__ import annotations

import numpy as np

from ._core import MISTAKES, CheckFailed, Mistake
from ._student import RemoteHandle, materialize

_FLOAT_SCALARS = (float, int, np.floating, np.integer)
NON_FINITE_SCALAR = Mistake(
    "non-finite", "overflow or division by zero (inf or nan)",
    "for exp of large numbers, subtract the maximum first; for log, make sure its argument "
    "cannot be 0")
NON_FINITE_ARRAY = Mistake(
    "non-finite", "overflow or division by zero (inf or nan)",
    "an overflow in exp or a division by zero? Subtract the max before exp.")


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


TRANSPOSED = Mistake("transposed", MISTAKES["transposed"],
                     "it looks transposed: check the order of the axes (a .T too many or too "
                     "few?)")


def _matches(shape: tuple, expected: tuple) -> bool:
    return len(shape) == len(expected) and all(
        e is None or e == g for g, e in zip(shape, expected))


def _shape_hint(got: tuple, expected: tuple) -> Mistake | None:
    """What a shape mismatch most likely means: transposed, flattened, an axis reduced
    away, an extra axis of length 1 (``None`` in ``expected`` matches any length)."""
    got, expected = tuple(got), tuple(expected)
    want = _fmt_shape(expected)
    if len(got) == len(expected) >= 2 and _matches(got[::-1], expected):
        return TRANSPOSED
    for i in range(len(expected)):
        if _matches(got, expected[:i] + expected[i + 1:]) and len(expected) > len(got):
            if expected[i] == 1:
                return Mistake("reduced-axis", MISTAKES["reduced-axis"],
                               f"the axis of length 1 at position {i} is missing: keep it "
                               f"(keepdims=True, or reshape to {want})")
            return Mistake("reduced-axis", MISTAKES["reduced-axis"],
                           f"axis {i} is missing: did you sum or take max over an axis you "
                           "should keep? Reduce over the other axis, or use keepdims=True "
                           "where the shape must stay")
    for i in range(len(got)):
        if got[i] == 1 and _matches(got[:i] + got[i + 1:], expected):
            return Mistake("extra-axis", MISTAKES["extra-axis"],
                           f"there is an extra axis of length 1 at position {i}: drop it "
                           "(no keepdims there, or index [:, 0])")
    if None not in expected and got != expected and \
            int(np.prod(got, dtype=np.int64)) == int(np.prod(expected, dtype=np.int64)):
        return Mistake("flattened", MISTAKES["flattened"],
                       f"it has the right number of entries in the wrong shape: flattened? "
                       f"reshape to {want}")
    return None


def shape_failure(name: str, got: tuple, expected: tuple) -> CheckFailed:
    """The failure for a value of shape ``got`` where ``expected`` was due (mistake id from
    the recognised pattern, else ``wrong-shape``)."""
    hint = _shape_hint(got, expected)
    return CheckFailed(f"{name} has shape {_fmt_shape(got)}, expected {_fmt_shape(expected)}.",
                       hint=hint, mistake=None if hint else "wrong-shape")


def _not_plain_array(value, name: str) -> CheckFailed | None:
    """np.matrix, pandas objects, lists of numbers...: the one-line fix is np.asarray."""
    kind = _type_name(value)
    if isinstance(value, np.ndarray) and type(value).__module__ != "numpy":
        kind += " (a subclass of ndarray)"
    remote_array = isinstance(value, RemoteHandle) and (
        "subclass of ndarray" in kind or kind.startswith(("numpy.", "pandas.")))
    if remote_array or isinstance(value, np.ndarray) or (
            not isinstance(value, RemoteHandle) and hasattr(value, "__array__")):
        return CheckFailed(
            f"{name} should be a plain numpy array, but it is a {kind}.",
            hint=Mistake("not-ndarray", MISTAKES["not-ndarray"],
                         "return np.asarray(...) of your result (it keeps the values and "
                         "makes a plain numpy.ndarray)"))
    if type(value) in (list, tuple):
        return CheckFailed(
            f"{name} should be a numpy array, but it is a {kind}.",
            hint=Mistake("not-ndarray", MISTAKES["not-ndarray"],
                         "wrap it with np.array(...) (or build the result with numpy "
                         "operations)"))
    return None


def as_float(value, name: str) -> float:
    """A finite real number (Python or numpy scalar, or a 0-d float array) -> ``float``."""
    value = materialize(value)
    if type(value) is bool or isinstance(value, np.bool_):
        raise CheckFailed(f"{name} should be a number, but it is a boolean ({value}).",
                          mistake="wrong-type")
    if type(value) is np.ndarray and value.ndim == 0 and value.dtype.kind in "fiu":
        value = value[()]
    if not (type(value) in (float, int) or type(value) in _numpy_scalar_types()):
        shape = f" of shape {value.shape}" if type(value) is np.ndarray else ""
        raise CheckFailed(
            f"{name} should be a single number (a Python or numpy float), "
            f"but it is a {_type_name(value)}{shape}.",
            hint=Mistake("not-a-scalar", "an array where a single number is due",
                         "sum or average to a scalar") if shape else None,
            mistake=None if shape else "wrong-type",
        )
    out = float(value)
    if not np.isfinite(out):
        raise CheckFailed(
            f"{name} is {out}. Something overflowed or divided by zero.",
            hint=NON_FINITE_SCALAR,
        )
    return out


def as_int(value, name: str) -> int:
    """An integer (Python or numpy, or a float with an integer value) -> ``int``."""
    value = materialize(value)
    if type(value) is np.ndarray and value.ndim == 0:
        value = value[()]
    if type(value) is bool or isinstance(value, np.bool_):
        raise CheckFailed(f"{name} should be an integer, but it is a boolean ({value}).",
                          mistake="wrong-type")
    if type(value) is int or type(value) in _numpy_scalar_types():
        if float(value) == int(value):
            return int(value)
    elif type(value) is float and value.is_integer():
        return int(value)
    raise CheckFailed(f"{name} should be an integer, but it is {value!r} ({_type_name(value)}).",
                      mistake="wrong-type")


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
        raise _not_plain_array(value, name) or CheckFailed(
            f"{name} should be a numpy array, but it is a {_type_name(value)}.",
            mistake="wrong-type")
    if shape is not None:
        shape = tuple(shape)
        if not _matches(value.shape, shape):
            raise shape_failure(name, value.shape, shape)
    if value.dtype.kind not in "biuf":
        raise CheckFailed(f"{name} has dtype {value.dtype}; expected numbers.",
                          mistake="wrong-type")
    if kind == "float":
        if value.dtype.kind == "f" and value.dtype != np.float64:
            raise CheckFailed(
                f"{name} has dtype {value.dtype}; expected float64.",
                hint=Mistake("low-precision", MISTAKES["low-precision"],
                             "something converted to lower precision: keep the float64 "
                             "inputs' dtype"),
            )
        out = np.array(value, dtype=np.float64, copy=True)
    elif kind == "int":
        if value.dtype.kind == "f":
            if not np.all(np.isfinite(value)) or not np.all(value == np.round(value)):
                raise CheckFailed(f"{name} should hold integer labels, but has fractions.",
                                  mistake="wrong-type")
        elif value.dtype.kind == "b":
            raise CheckFailed(f"{name} should hold integers, but it is a boolean array.",
                              mistake="wrong-type")
        out = np.array(value, dtype=np.int64, copy=True)
    else:
        out = np.array(value, copy=True)
    if finite and out.dtype.kind == "f" and not np.all(np.isfinite(out)):
        bad = np.argwhere(~np.isfinite(out))
        where = tuple(int(i) for i in bad[0])
        raise CheckFailed(
            f"{name} contains {int((~np.isfinite(out)).sum())} non-finite values "
            f"(e.g. {out[where]} at index {where}).",
            hint=NON_FINITE_ARRAY,
        )
    return out


def as_tuple(value, name: str, length: int, parts: tuple[str, ...] | None = None) -> tuple:
    """A tuple or list of exactly ``length`` items -> a tuple (items not yet validated)."""
    value = materialize(value)
    what = f"({', '.join(parts)})" if parts else f"{length} values"
    if type(value) not in (tuple, list):
        raise CheckFailed(f"{name} should return {what}, but it returned a {_type_name(value)}.",
                          mistake="wrong-type")
    if len(value) != length:
        raise CheckFailed(f"{name} should return {what}, but it returned {len(value)} values.",
                          mistake="wrong-count")
    return tuple(value)


def as_dict(value, name: str, keys=None) -> dict:
    """A plain dict (with at least ``keys``) -> a dict (values not yet validated)."""
    value = materialize(value)
    if type(value) is not dict:
        raise CheckFailed(f"{name} should be a dict, but it is a {_type_name(value)}.",
                          mistake="wrong-type")
    if keys is not None:
        missing = [k for k in keys if k not in value]
        if missing:
            raise CheckFailed(f"{name} is missing the key(s) {', '.join(map(repr, missing))}.",
                              mistake="missing-keys")
    return dict(value)


def as_list(value, name: str) -> list:
    """A list or tuple -> a list (items not yet validated)."""
    value = materialize(value)
    if type(value) not in (list, tuple):
        if type(value) is np.ndarray and value.ndim == 1:
            return list(value)
        raise CheckFailed(f"{name} should be a list, but it is a {_type_name(value)}.",
                          mistake="wrong-type")
    return list(value)
