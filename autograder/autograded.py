"""``autograded/<student>/<assignment>/<notebook>.ipynb``: the notebook as graded, in nbgrader's
layout, for the formgrader (and the source of each student's feedback page).

It is the notebook the grader ran: the instructor's locked cells, the student's answers and
added cells, in the instructor's order, each code cell with its output from the sandbox, and
each test cell (hidden tests included: the formgrader is the instructor's view) with the
check's verdict as its output. Graded and solution cells carry the instructor source's
nbgrader metadata, so the formgrader finds each grade and comment by its ``grade_id``.
``metadata.course_grade`` says where each cell came from (for the feedback page).
"""

from __future__ import annotations

import copy
import os
import re
import tempfile
import textwrap
from pathlib import Path

import nbformat

from . import course

_OUTPUT_CHARS = 8000


def _source_meta(source_nb) -> dict:
    """``{cell key: nbgrader metadata}`` with the keys NotebookSpec gives cells."""
    out = {}
    for n, cell in enumerate(source_nb.cells):
        meta = course.nbgrader_meta(cell)
        key = course.grade_id(cell) or cell.get("id") or f"cell-{n}"
        out[key] = copy.deepcopy(meta) if meta else None
    return out


def _outputs(run: dict | None) -> list:
    if not run:
        return []
    outputs = []
    if run.get("output"):
        outputs.append(nbformat.v4.new_output("stream", name="stdout",
                                              text=run["output"][-_OUTPUT_CHARS:]))
    for png in run.get("figures") or []:
        outputs.append(nbformat.v4.new_output("display_data", data={"image/png": png}))
    if run["status"] != "ok":
        what = run.get("error") or run["status"]
        name, _, value = what.partition(": ")
        outputs.append(nbformat.v4.new_output("error", ename=name or run["status"],
                                              evalue=value, traceback=[what]))
    return outputs


def _wrap(text: str, width: int = 100) -> str:
    """Long check messages wrapped to the output box (code-like lines kept as they are)."""
    out = []
    for line in text.splitlines():
        if len(line) <= width or line.startswith((" ", "\t")):
            out.append(line)
        else:
            out += textwrap.wrap(line, width, break_long_words=False) or [""]
    return "\n".join(out)


def _verdict_output(row) -> list:
    head = (f"{row.item}: {'to be graded by hand' if row.points is None else f'{row.points:g}'}"
            f" / {row.max_points:g} points, {row.status}")
    text = head if row.status == "passed" else f"{head}\n{_wrap(row.detail or row.message)}"
    return [nbformat.v4.new_output("stream", name="stdout", text=text + "\n")]


def build(result, spec, source_nb):
    """The graded notebook of one ``NotebookResult`` (None if it could not be read)."""
    plan = result.assembled
    if plan is None:
        return None
    metas = _source_meta(source_nb)
    rows = {r.item: r for r in result.rows}
    roles = {c.key: c.role for c in spec.cells}
    test_source = {c.key: c.source for c in spec.cells if c.role == "test"}
    nb = nbformat.v4.new_notebook()
    nb.metadata = copy.deepcopy(source_nb.metadata)
    for n, shown in enumerate(plan.shown):
        meta = metas.get(shown.key)
        origin = "instructor"
        if shown.kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(shown.text)
        elif shown.kind in ("code", "added"):
            cell = nbformat.v4.new_code_cell(shown.text)
            run = result.cell_runs.get(shown.run) if shown.run is not None else None
            cell.outputs = _outputs(run)
            if shown.kind == "added":
                origin, meta = "added", None
            elif shown.run is not None and plan.run[shown.run].origin != "instructor":
                origin = "student"
            elif roles.get(shown.key) == "exercise":
                origin = "student"
            if run is not None:  # In [n]: the grader ran it, n-th; In [ ]: it did not
                cell.execution_count = shown.run + 1
            if run and run["status"] != "ok":
                cell.metadata["course_grade_run"] = {"status": run["status"],
                                                     "error": run.get("error")}
        elif shown.kind == "test":
            cell = nbformat.v4.new_code_cell(test_source.get(shown.key, shown.text))
            origin = "test"
            if shown.item in rows:
                cell.outputs = _verdict_output(rows[shown.item])
        elif shown.kind == "answer":
            cell = nbformat.v4.new_markdown_cell(shown.text)
            origin = "student" if roles.get(shown.key) == "answer" else "added"
            if origin == "added":
                meta = None
        else:  # missing
            cell = nbformat.v4.new_markdown_cell(f"**{shown.text}**")
            origin = "missing"
            if roles.get(shown.key) != "answer":
                meta = None  # the exercise's grade lives on its test cell
        cell.id = re.sub(r"[^A-Za-z0-9_-]", "-", f"c{n}-{shown.key}")[:64]
        if meta:
            cell.metadata["nbgrader"] = meta
        cell.metadata["course_grade"] = {"origin": origin, "note": shown.note,
                                         "item": shown.item}
        nb.cells.append(cell)
    return nb


def replace_atomically(path: Path, write, newline: str | None = None) -> None:
    """Create or replace ``path`` through a temporary file beside it that ``write(f)`` fills:
    a reader (the formgrader, a spreadsheet) and an interrupted run never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write(path: Path, nb) -> None:
    replace_atomically(path, lambda f: nbformat.write(nb, f))


def write_text(path: Path, text: str) -> None:
    replace_atomically(path, lambda f: f.write(text))
