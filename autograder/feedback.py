"""``feedback/<student>/<assignment>/<notebook>.html`` (nbgrader's layout, so that
``nbgrader release_feedback`` can hand it out): the notebook as graded, with the verdicts.

The page is rendered from the autograded notebook (:mod:`autograder.autograded`) and the
gradebook's rows, so it shows the final grade: autograded points, the points and comments a
grader gave in the formgrader, and the late penalty. It shows the notebook the grader ran (the
instructor's locked cells, the student's answers and added cells, in the instructor's order)
and, after each graded item, its points and the check's full message. Test cells appear as
the student saw them: hidden tests are removed before rendering; the instructor's solutions,
mark schemes and notes to graders never appear. Everything that came from the student is
HTML-escaped.
"""

from __future__ import annotations

import functools
import html
from pathlib import Path

from .session import BASE64
from .submissions import _hide_tests, safe_name


@functools.cache
def _markdown_renderer():
    # nbconvert's renderer, as Jupyter renders markdown: formulas are kept out of markdown's
    # reach ($a_i$, \\ in matrices); imported on first use (it takes a second).
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return markdown2html_mistune


def _markdown(text: str) -> str:
    return _markdown_renderer()(text)

CSS = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; color: #222;
       line-height: 1.45; padding: 0 1rem; }
pre { background: #f6f8fa; padding: .6rem .8rem; overflow-x: auto; border-radius: 4px;
      font-size: .88rem; white-space: pre-wrap; }
.cell { margin: .8rem 0; }
.student pre { border-left: 4px solid #4a7bd0; }
.added pre { border-left: 4px dashed #4a7bd0; }
.test pre { border-left: 4px solid #999; }
.note { font-size: .85rem; color: #555; margin: .2rem 0; }
.ran-error { color: #a33; }
.verdict { border-radius: 6px; padding: .6rem .8rem; margin: .4rem 0 1.4rem; }
.verdict pre { background: transparent; padding: 0; margin: .3rem 0 0; }
.passed { background: #e8f6ea; border: 1px solid #7bc47f; }
.failed, .error, .missing { background: #fdeeee; border: 1px solid #e08b8b; }
.timeout, .crashed { background: #fff4e0; border: 1px solid #e0b060; }
.manual { background: #eef2fb; border: 1px solid #93a9d8; }
.answer { background: #fafafa; border: 1px dashed #bbb; padding: .4rem .8rem; }
.summary td, .summary th { padding: .15rem .8rem; text-align: left; }
img.figure { max-width: 100%; display: block; margin: .3rem 0; }
"""

_ICON = {"passed": "✔", "manual": "✎"}
# Formulas in the instructor's markdown, typeset when the page is viewed online (as
# nbconvert's pages do); offline they stay readable TeX.
MATHJAX = ("<script>window.MathJax = {tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']]}};"
           "</script><script async src='https://cdn.jsdelivr.net/npm/mathjax@3/es5/"
           "tex-mml-chtml.js'></script>")


def _pre(text: str) -> str:
    return f"<pre>{html.escape(text)}</pre>"


def _num(x) -> str:
    return f"{x:g}"


def _verdict(row) -> str:
    points = "to be graded" if row.points is None else f"{_num(row.points)}"
    head = (f"{_ICON.get(row.status, '✘')} <b>{html.escape(row.item)}</b>: {points} / "
            f"{_num(row.max_points)} points &mdash; {html.escape(_status(row))}")
    text = _student_message(row, detail=True)
    body = "" if row.status == "passed" or not text else _pre(text)
    return f'<div class="verdict {html.escape(row.status)}">{head}{body}</div>'


def _status(row) -> str:
    if row.status == "manual":
        return "graded by hand" if row.points is not None else "written answer, to be graded"
    return row.status


def _student_message(row, detail: bool = False) -> str:
    """What the student reads about an item: never the note to graders."""
    if row.status == "manual":
        comment = getattr(row, "comment", None) or ""
        return comment if row.points is not None else "your instructor will grade this answer"
    text = (row.detail or row.message) if detail else row.message
    comment = getattr(row, "comment", None)
    return f"{text}\n\nGrader's comment: {comment}" if comment else text


def _ran(meta: dict | None, output: str) -> str:
    if not meta:
        return ""
    what = meta.get("error") or meta.get("status")
    out = f'<div class="note ran-error">When the grader ran this cell: {html.escape(what)}'
    if output:
        out += "<details><summary>its output</summary>" + _pre(output[-4000:])
        out += "</details>"
    return out + "</div>"


def _figures(cell) -> str:
    """The figures the grader saw this cell draw (validated: only base64 PNG data)."""
    out = []
    for o in cell.get("outputs", []):
        png = o.get("data", {}).get("image/png") if o.get("output_type") == "display_data" \
            else None
        if isinstance(png, str) and BASE64.fullmatch(png):
            out.append(f"<img class='figure' alt='a figure drawn by this cell' "
                       f"src='data:image/png;base64,{png}'>")
    return "".join(out)


def _stream_text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream")


def render(nb, rows, student: str, notebook: str, *, graded_at: str = "",
           late_penalty: float = 0.0, problem: str = "") -> str:
    """The feedback page: ``nb`` the autograded notebook (None: it could not be read),
    ``rows`` the notebook's graded items with their final points."""
    by_item = {r.item: r for r in rows}
    total = sum(r.points or 0.0 for r in rows) - late_penalty
    max_total = sum(r.max_points for r in rows)
    pending = [r for r in rows if r.points is None]
    title = f"{notebook}: feedback for {student}"
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
             f"</title><style>{CSS}</style>{MATHJAX}</head><body>",
             f"<h1>{html.escape(notebook)}</h1>",
             f"<p>Student <b>{html.escape(student)}</b> &middot; points: "
             f"<b>{_num(total)} / {_num(max_total)}</b>"
             + (f" (after a late penalty of {_num(late_penalty)})" if late_penalty else "")
             + (f" &middot; {len(pending)} written answer(s) still to be graded"
                if pending else "")
             + (f" &middot; graded {html.escape(graded_at)}" if graded_at else "") + "</p>"]
    parts.append("<table class='summary'><tr><th>item</th><th>points</th><th>status</th>"
                 "<th>message</th></tr>")
    for r in rows:
        pts = "&mdash;" if r.points is None else _num(r.points)
        first = (_student_message(r).strip().splitlines() or [""])[0]
        parts.append(f"<tr><td>{html.escape(r.item)}</td><td>{pts} / {_num(r.max_points)}"
                     f"</td><td>{html.escape(_status(r))}</td><td>{html.escape(first)}"
                     "</td></tr>")
    parts.append("</table><hr>")
    if nb is None:
        parts.append(f"<p>This notebook could not be graded: {html.escape(problem)}</p>")
    else:
        shown_items = set()
        for cell in nb.cells:
            info = cell.metadata.get("course_grade", {})
            origin, note = info.get("origin", "instructor"), info.get("note") or ""
            item = info.get("item")
            if origin == "test":
                parts.append(f"<div class='cell test'>{_pre(_hide_tests(cell.source))}</div>")
            elif origin == "missing":
                parts.append(f"<div class='cell note ran-error'>"
                             f"{html.escape(cell.source.strip('*'))}</div>")
            elif cell.cell_type == "markdown" and origin == "instructor":
                parts.append(f"<div class='cell'>{_markdown(cell.source)}</div>")
            elif cell.cell_type == "markdown":
                parts.append(f"<div class='cell answer'>{_pre(cell.source)}</div>")
            else:
                cls = {"student": "student", "added": "added"}.get(origin, "")
                label = "<div class='note'>a cell you added</div>" if origin == "added" else ""
                note_html = f"<div class='note'>{html.escape(note)}</div>" if note else ""
                parts.append(f"<div class='cell {cls}'>{label}{_pre(cell.source)}{note_html}"
                             f"{_figures(cell)}"
                             f"{_ran(cell.metadata.get('course_grade_run'), _stream_text(cell))}"
                             "</div>")
            if item and item in by_item and item not in shown_items:
                shown_items.add(item)
                parts.append(_verdict(by_item[item]))
    parts.append("</body></html>")
    return "\n".join(parts)


def path_for(root: Path, student: str, assignment: str, notebook: str) -> Path:
    return Path(root) / safe_name(student) / assignment / f"{notebook}.html"


def write_all(course, assignments=None, students=None) -> list[Path]:
    """Every graded student's page, re-rendered with the final grade from the gradebook
    (``course-grade feedback``); returns the pages written."""
    import nbformat

    from . import autograded, batch, store
    from .grade import load_course

    specs = load_course(course.source_dir)
    notebooks = [nb for nb in specs if not assignments or nb in assignments]
    unknown = set(assignments or []) - set(specs)
    if unknown:
        raise ValueError(f"no assignment named {', '.join(sorted(unknown))} in this course")
    written = []
    with store.Store(course.db_url, course.course_id) as db:
        stored = {(s.student_id, s.notebook): s for s in db.results()}
        rows, _, _ = batch.item_rows(db, specs, notebooks)
    by_key: dict = {}
    for r in rows:
        by_key.setdefault((r.student_id, r.notebook), []).append(r)
    for (student, nb), mine in sorted(by_key.items()):
        got = stored.get((student, nb))
        if got is None or (students and student not in students):
            continue
        source = course.folder("autograded") / safe_name(student) / nb / f"{nb}.ipynb"
        graded = nbformat.read(str(source), as_version=4) if source.exists() else None
        penalty = max([r.late_penalty or 0.0 for r in mine] or [0.0])
        page = render(graded, mine, student, nb, late_penalty=penalty,
                      problem=str((got.log.get("problems") or [""])[0]),
                      graded_at=str(got.log.get("graded_at", "")))
        path = path_for(course.folder("feedback"), student, nb, nb)
        autograded.write_text(path, page)
        written.append(path)
    return written
