"""The course's notebooks as data: sources, student versions, answers and check cells.

An instructor source is an nbgrader notebook ``course/source/<id>/<id>.ipynb``:

* solution cells (``nbgrader.solution``) hold the answer between ``### BEGIN SOLUTION`` and
  ``### END SOLUTION`` (markdown answers between the ``=== BEGIN/END MARK SCHEME ===``
  markers are model answers for manually graded questions);
* autograded test cells (``nbgrader.grade`` and ``locked``) hold only check calls,
  ``CHECKS["item"](name, ...)``, the hidden ones between ``### BEGIN HIDDEN TESTS`` and
  ``### END HIDDEN TESTS``;
* cells tagged ``autograde-skip`` only show things (plots, widgets, timings, long
  searches); the course grader does not run them, so no check may depend on them.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import config

SKIP_TAG = "autograde-skip"
COLAB_CELL_ID = "colab-setup"
_SOLUTION_BLOCK = re.compile(
    r"^[ \t]*### BEGIN SOLUTION[^\n]*\n(.*?)^[ \t]*### END SOLUTION[^\n]*\n?", re.M | re.S)
_HIDDEN_BLOCK = re.compile(
    r"^[ \t]*### BEGIN HIDDEN TESTS[^\n]*\n(.*?)^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.M | re.S)
_MARK_SCHEME = re.compile(
    r"^=== BEGIN MARK SCHEME ===\n.*?^=== END MARK SCHEME ===\n?", re.M | re.S)


def notebook_ids() -> list[str]:
    """Every notebook of the course, in order (``01_knn``, ``02_linear_classifiers``, ...)."""
    return sorted(p.parent.name for p in config.SOURCE_DIR.glob("*/*.ipynb")
                  if p.stem == p.parent.name)


def source_path(nb_id: str) -> Path:
    return config.SOURCE_DIR / nb_id / f"{nb_id}.ipynb"


def student_path(nb_id: str) -> Path:
    return config.NOTEBOOKS_DIR / f"{nb_id}.ipynb"


def read(path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_solution(cell) -> bool:
    return bool(nbgrader_meta(cell).get("solution"))


def is_autograded_test(cell) -> bool:
    meta = nbgrader_meta(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def is_manually_graded(cell) -> bool:
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade")) and bool(meta.get("solution"))


def grade_id(cell) -> str | None:
    return nbgrader_meta(cell).get("grade_id")


def is_skipped(cell) -> bool:
    return SKIP_TAG in cell.get("metadata", {}).get("tags", [])


def strip_solution_markers(source: str) -> str:
    """The instructor's answer with the ``### BEGIN/END SOLUTION`` lines removed."""
    text = _SOLUTION_BLOCK.sub(lambda m: m.group(1), source)
    return text if source.endswith("\n") else text.rstrip("\n")


def run_instructor_cells(nb_id: str, cell_ids, namespace: dict | None = None) -> dict:
    """Run the instructor's cells ``cell_ids`` of notebook ``nb_id`` in order, solution
    markers stripped, in one namespace (a fresh ``__main__`` one by default); return it."""
    cells = {c.get("id"): c for c in read(source_path(nb_id)).cells}
    namespace = {"__name__": "__main__"} if namespace is None else namespace
    for cell_id in cell_ids:
        exec(compile(strip_solution_markers(cells[cell_id].source), f"<{nb_id}:{cell_id}>",
                     "exec"), namespace)
    return namespace


def reference_answers(source_nb) -> dict[str, str]:
    """``grade_id -> answer`` for every solution cell of an instructor notebook."""
    answers = {}
    for cell in source_nb.cells:
        if is_solution(cell):
            text = strip_solution_markers(cell.source)
            if cell.cell_type == "markdown":
                # the instructor's cell may hold only the stub and a mark scheme: a reference
                # student still writes something (nbgrader scores an untouched stub 0)
                text = _MARK_SCHEME.sub("", text).strip()
                if text in ("", "YOUR ANSWER HERE"):
                    text = "(model answer)"
            answers[grade_id(cell)] = text
    return answers


def fill_in_answers(student_nb, source_nb, only: set[str] | None = None):
    """A copy of a student notebook with the reference answers typed into its answer cells.

    only: the grade_ids to fill in (default: all), e.g. to build a partly right submission.
    """
    answers = reference_answers(source_nb)
    nb = nbformat.from_dict(student_nb)
    for cell in nb.cells:
        gid = grade_id(cell)
        if is_solution(cell) and gid in answers and (only is None or gid in only):
            cell.source = answers[gid]
    return nb


@dataclass
class CheckCall:
    """One ``CHECKS["item"](args..., hidden=..., seed=...)`` statement of a test cell."""

    item: str
    args: list = field(default_factory=list)  # ("name", str) | ("value", literal)
    kwargs: dict = field(default_factory=dict)
    hidden: bool = False


class CheckCellError(ValueError):
    """A test cell holds something other than check calls."""


def _arg(node):
    if isinstance(node, ast.Name):
        return ("name", node.id)
    try:
        return ("value", ast.literal_eval(node))
    except ValueError:
        pass
    if isinstance(node, ast.Dict) and all(isinstance(k, ast.Constant) for k in node.keys):
        return ("dict", {k.value: _arg(v) for k, v in zip(node.keys, node.values)})
    raise CheckCellError(f"unsupported argument {ast.unparse(node)!r}")


def parse_check_cell(source: str) -> list[CheckCall]:
    """The check calls of an autograded test cell, public first, hidden marked as such.

    Allowed statements: imports and ``CHECKS["item"](...)`` calls whose arguments are names,
    literals or dicts of those. Anything else raises :class:`CheckCellError`.
    """
    hidden_spans = [m.span(1) for m in _HIDDEN_BLOCK.finditer(source)]
    try:
        tree = ast.parse(source)  # the hidden-test markers are comments
    except SyntaxError as exc:
        raise CheckCellError(f"test cell is not valid Python: {exc}") from None
    line_offsets = [0]
    for line in source.splitlines(keepends=True):
        line_offsets.append(line_offsets[-1] + len(line))
    calls = []
    for stmt in tree.body:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            continue
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Subscript)
                and isinstance(call.func.value, ast.Name) and call.func.value.id == "CHECKS"
                and isinstance(call.func.slice, ast.Constant)
                and isinstance(call.func.slice.value, str)):
            raise CheckCellError(f"only CHECKS[...](...) calls are allowed, got "
                                 f"{ast.unparse(stmt)!r}")
        kwargs = {}
        for kw in call.keywords:
            kind, value = _arg(kw.value)
            if kind != "value" or kw.arg not in ("hidden", "seed"):
                raise CheckCellError(f"unsupported keyword {ast.unparse(kw)!r}")
            kwargs[kw.arg] = value
        start = line_offsets[stmt.lineno - 1] + stmt.col_offset
        in_hidden = any(a <= start < b for a, b in hidden_spans)
        calls.append(CheckCall(call.func.slice.value, [_arg(a) for a in call.args],
                               kwargs, bool(kwargs.get("hidden", False)) or in_hidden))
    return calls


def graded_items(source_nb) -> list[dict]:
    """``[{"grade_id", "points", "kind": "auto"|"manual", "calls"}]`` in notebook order."""
    items = []
    for cell in source_nb.cells:
        meta = nbgrader_meta(cell)
        if not meta.get("grade"):
            continue
        item = {"grade_id": meta["grade_id"], "points": float(meta.get("points", 0))}
        if is_autograded_test(cell):
            item.update(kind="auto", calls=parse_check_cell(cell.source))
        else:
            item.update(kind="manual", calls=[])
        items.append(item)
    return items
