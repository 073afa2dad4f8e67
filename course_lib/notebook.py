"""Notebook set-up: readable messages for unfinished exercises.

Every course notebook calls :func:`setup_notebook` in its first code cell after the
imports. Afterwards, running a cell that reaches an exercise still raising
``NotImplementedError`` shows one red line naming the exercise instead of a traceback, and
a later cell that fails only because that earlier cell stopped says so.
"""

from __future__ import annotations

import traceback

from .checks._core import BOLD, RED, RESET

_state = {"unfinished": None}


def _exercise_name(tb) -> str | None:
    """The innermost function of the student's (cell) code in a traceback."""
    name = None
    for frame, _ in traceback.walk_tb(tb):
        filename = frame.f_code.co_filename
        if filename.startswith("<") or "ipykernel_" in filename:
            name = frame.f_code.co_qualname
    return None if name == "<module>" else name


def _red(text: str) -> list[str]:
    first, *rest = text.splitlines()
    return [f"{RED}{BOLD}✘ {first}{RESET}"] + [f"{RED}{line}{RESET}" for line in rest]


def _on_not_implemented(shell, etype, value, tb, tb_offset=None):
    name = _exercise_name(tb)
    _state["unfinished"] = name or "an exercise"
    what = f"{name} is not implemented yet" if name else "an exercise is not implemented yet"
    return _red(
        f"{what}.\nFind its `# YOUR CODE HERE` cell above, replace `raise "
        "NotImplementedError()` with your code, run that cell, then run this one again."
    )


def _on_name_error(shell, etype, value, tb, tb_offset=None):
    unfinished = _state["unfinished"]
    if unfinished is None:  # an ordinary NameError: the usual traceback
        return shell.InteractiveTB.structured_traceback(etype, value, tb, tb_offset=tb_offset)
    return _red(
        f"{value}: an earlier cell stopped because {unfinished} is not implemented yet.\n"
        "Finish that exercise, then run the cells from there down again."
    )


def _handler(shell, etype, value, tb, tb_offset=None):
    if issubclass(etype, NotImplementedError):
        stb = _on_not_implemented(shell, etype, value, tb, tb_offset)
    else:
        stb = _on_name_error(shell, etype, value, tb, tb_offset)
    # IPython >= 9 ignores what a custom handler returns: show it ourselves (in a kernel this
    # publishes an ordinary error output, so "Run All" still stops here).
    shell._showtraceback(etype, value, stb)
    return stb


def setup_notebook() -> None:
    """Install the readable-error handlers in the running IPython kernel (no-op elsewhere)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    _state["unfinished"] = None
    shell.set_custom_exc((NotImplementedError, NameError), _handler)
