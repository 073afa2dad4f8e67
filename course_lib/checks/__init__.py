"""The embedded grader: one check per graded item, in ``CHECKS``.

In a notebook::

    from course_lib.checks import CHECKS
    CHECKS["svm_loss_naive"](svm_loss_naive)          # one green line, or a lesson

``CHECKS[name](obj, seed=None, hidden=False)`` takes the student's function or class as
defined in the notebook (for a method such as ``"KNearestNeighbor.predict_labels"``, the
whole class), returns normally when it is right and raises ``CheckFailed`` (an
``AssertionError``) with a student-readable lesson when it is not. ``hidden=True`` runs the
larger set of cases used for grading, with a fresh seed unless one is given.
``CHECKS[name].evaluate(...)`` returns an :class:`Outcome` instead of printing or raising.

Writing a check (one module per notebook in this package, picked up automatically)::

    @register("svm_loss_naive", "multiclass SVM loss and gradient, with loops")
    def _(ctx, svm_loss_naive):
        W, X, y = ...small case from ctx.rng...
        loss, dW = as_tuple(call(svm_loss_naive, W, X, y, 0.1), "svm_loss_naive", 2)
        expect_close(as_float(loss, "loss"), stored_value, "loss", hints={...})
        check_gradient(svm_loss_naive, (W, X, y, 0.1), 0, dW, "dW", output=loss_of,
                       rng=ctx.rng)

Rules every check follows: reach student code only through ``call`` / ``call_many`` /
``get_attr`` / ``set_attr`` and validate every value with an ``as_*`` function before
comparing it; never contain a callable reference solution (expected values come from stored
results, identities, hand-computable entries and numerical gradients of the student's own
forward pass).

Vectorized items: ``expect_vectorized(fn, lambda N: (W, X[:N], y[:N], reg), name)`` fails
(mistake ``python-loop``) when the Python lines the student's own code runs grow with N
(``count_steps`` counts them where the code runs, in the kernel or the grader's sandbox).
Every check runs with the global ``np.random`` and ``random`` seeded with its seed (here and
in the sandbox), so code drawing from them gives the same message every run.

Mistakes: every hint is a ``Mistake(id, title, text)`` (one title per id across modules;
``tests/test_mistake_ids.py`` proves it). The shared helpers name the generic ones in
:data:`MISTAKES` themselves: shapes (``flattened``, ``reduced-axis``, ``transposed``,
``extra-axis``, else ``wrong-shape``), types (``not-ndarray`` for np.matrix and other
array-likes, ``low-precision``, ``non-finite``, ``wrong-count``, ``wrong-type``), values
(``all-zeros``, ``sign-flip``, ``times-N`` / ``over-N`` when given ``n=``, ``times-2`` /
``half`` on arrays only, else ``wrong-value`` / ``wrong-gradient``), ``changed-input``
(:class:`ChangedInput`), ``no-response`` (:func:`expect_responds`: the output does not
move when its input moves). ``COURSE_STRICT_HINTS=1`` makes a hint without an id an error.
"""

import importlib
import pkgutil

from ._compare import (
    check_gradient,
    diagnose,
    expect_close,
    expect_equal,
    expect_responds,
    expect_vectorized,
    fmt,
    loss_of,
    numerical_gradient,
    rel_errors,
)
from ._core import (
    CHECKS,
    MISTAKES,
    ChangedInput,
    Check,
    CheckFailed,
    Context,
    Mistake,
    NotImplementedYet,
    Outcome,
    StudentCodeError,
    fail,
    public_seed,
    register,
    seeded_globals,
)
from ._student import (
    RemoteHandle,
    call,
    call_many,
    count_steps,
    get_attr,
    label_of,
    materialize,
    set_attr,
    step_counts,
)
from ._values import as_array, as_dict, as_float, as_int, as_list, as_tuple, shape_failure

__all__ = [
    "CHECKS", "MISTAKES", "ChangedInput", "Check", "CheckFailed", "Context", "Mistake",
    "NotImplementedYet", "Outcome", "RemoteHandle", "StudentCodeError", "as_array", "as_dict",
    "as_float", "as_int", "as_list", "as_tuple", "call", "call_many", "check_gradient",
    "count_steps", "diagnose", "expect_close", "expect_equal", "expect_responds",
    "expect_vectorized", "fail", "fmt", "get_attr", "label_of", "loss_of", "materialize",
    "numerical_gradient", "public_seed", "register", "rel_errors", "seeded_globals",
    "set_attr", "shape_failure", "step_counts",
]

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
