"""Notebook set-up: readable messages for unfinished exercises.

Every course notebook calls :func:`setup_notebook` in its first code cell after the
imports. Afterwards, running a cell that reaches an exercise still raising
``NotImplementedError`` shows one red line naming the exercise instead of a traceback, and
a later cell that fails only because that earlier cell stopped says so.
"""

from __future__ import annotations

import ast
import linecache
import re
import traceback

from .checks._core import BOLD, RED, RESET, wrap_lines

#: names a cell stopped by an unfinished exercise would have defined -> that exercise
_state: dict = {"missing": {}, "unfinished": None}


def _is_cell(filename: str) -> bool:
    return filename.startswith("<") or "ipykernel_" in filename


def _exercise_name(tb) -> str | None:
    """The innermost function of the student's (cell) code in a traceback."""
    name = None
    for frame, _ in traceback.walk_tb(tb):
        if _is_cell(frame.f_code.co_filename):
            name = frame.f_code.co_qualname
    return None if name == "<module>" else name


def _cell_source(tb) -> str | None:
    """The source of the cell that was run (the outermost cell frame of the traceback)."""
    for frame, _ in traceback.walk_tb(tb):
        filename = frame.f_code.co_filename
        if _is_cell(filename) and frame.f_code.co_name == "<module>":
            lines = linecache.getlines(filename)
            return "".join(lines) if lines else None
    return None


def _bound_names(source: str) -> set[str] | None:
    """The names a cell binds at its top level (assignments, imports, def, class, for
    and with targets), or None when it cannot be parsed."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    names: set[str] = set()
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        if isinstance(node, ast.Lambda):
            continue
        todo.extend(ast.iter_child_nodes(node))
    return names


def _missing_name(value: BaseException) -> str | None:
    name = getattr(value, "name", None)
    if isinstance(name, str):
        return name
    match = re.search(r"name '(\w+)' is not defined", str(value))
    return match.group(1) if match else None


def _red(text: str) -> list[str]:
    first, *rest = wrap_lines(text).splitlines()
    return [f"{RED}{BOLD}✘ {first}{RESET}"] + [f"{RED}{line}{RESET}" for line in rest]


def _on_not_implemented(shell, etype, value, tb, tb_offset=None):
    name = _exercise_name(tb)
    exercise = name or "an exercise"
    if name is None:
        # The exercise is the cell's own top-level code: its stub binds none of the names the
        # answer will, so any name missing later is blamed on this exercise.
        _state["unfinished"] = exercise
    else:
        _remember_unbound(shell, tb, exercise)
    what = f"{name} is not implemented yet" if name else "an exercise is not implemented yet"
    where = f"the cell that defines {name}" if name else "the exercise's cell"
    return _red(
        f"{what}.\nIn {where}, replace `raise NotImplementedError()` with your code\n"
        "(under `# YOUR CODE HERE`), run that cell, then run this one again."
    )


def _remember_unbound(shell, tb, exercise: str) -> None:
    """Blame ``exercise`` for the names the stopped cell of ``tb`` would have bound (every
    name missing later, when that cannot be told)."""
    source = _cell_source(tb)
    bound = _bound_names(source) if source is not None else None
    if bound is None:
        _state["unfinished"] = exercise
        return
    namespace = getattr(shell, "user_ns", {})
    for missing in bound - set(namespace):
        _state["missing"][missing] = exercise


def _on_name_error(shell, etype, value, tb, tb_offset=None):
    name = _missing_name(value)
    unfinished = _state["missing"].get(name) if name else None
    if unfinished is None and name not in _state["missing"]:
        unfinished = _state["unfinished"]
    if unfinished is None:  # the student's own NameError (a typo, a cell not run): as usual
        return shell.InteractiveTB.structured_traceback(etype, value, tb, tb_offset=tb_offset)
    _remember_unbound(shell, tb, unfinished)  # this cell stopped too: so do the names it binds
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
    _state["missing"].clear()
    shell.set_custom_exc((NotImplementedError, NameError), _handler)
