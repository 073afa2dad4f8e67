"""``OUT/feedback/<student>/<notebook>.html``: the notebook as graded, with the verdicts.

The page shows the notebook the grader ran (the instructor's locked cells, the student's
answers and added cells, in the instructor's order) and, after each graded item, its points
and the check's full message. Test cells appear as the student saw them: hidden tests are
removed before rendering, and the instructor's solutions and mark schemes never appear.
Everything that came from the student is HTML-escaped.
"""

from __future__ import annotations

import functools
import html
import time
from pathlib import Path

from .submissions import safe_name


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
            f"{_num(row.max_points)} points &mdash; {html.escape(row.status)}")
    body = "" if row.status == "passed" else _pre(row.detail or row.message)
    return f'<div class="verdict {html.escape(row.status)}">{head}{body}</div>'


def _ran(run: dict | None) -> str:
    if not run or run["status"] == "ok":
        return ""
    what = run.get("error") or run["status"]
    out = f'<div class="note ran-error">When the grader ran this cell: {html.escape(what)}'
    if run.get("output"):
        out += "<details><summary>its output</summary>" + _pre(run["output"][-4000:])
        out += "</details>"
    return out + "</div>"


def render(result, spec) -> str:
    rows = {r.item: r for r in result.rows}
    total = sum(r.points or 0.0 for r in result.rows)
    title = f"{result.notebook}: feedback for {result.student_id}"
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
             f"</title><style>{CSS}</style>{MATHJAX}</head><body>",
             f"<h1>{html.escape(result.notebook)}</h1>",
             f"<p>Student <b>{html.escape(result.student_id)}</b> &middot; autograded "
             f"points: <b>{_num(total)} / {_num(spec.max_auto)}</b> &middot; graded "
             f"{time.strftime('%Y-%m-%d %H:%M')}</p>"]
    parts.append("<table class='summary'><tr><th>item</th><th>points</th><th>status</th>"
                 "<th>message</th></tr>")
    for r in result.rows:
        pts = "&mdash;" if r.points is None else _num(r.points)
        parts.append(f"<tr><td>{html.escape(r.item)}</td><td>{pts} / {_num(r.max_points)}"
                     f"</td><td>{html.escape(r.status)}</td><td>{html.escape(r.message)}"
                     "</td></tr>")
    parts.append("</table><hr>")
    plan = result.assembled
    if plan is None:
        problem = (result.log.get("problems") or [result.log.get("status", "")])[0]
        parts.append(f"<p>This notebook could not be graded: {html.escape(str(problem))}</p>")
    else:
        for shown in plan.shown:
            run = result.cell_runs.get(shown.run) if shown.run is not None else None
            if shown.kind == "markdown":
                parts.append(f"<div class='cell'>{_markdown(shown.text)}</div>")
            elif shown.kind in ("code", "added"):
                cls = "added" if shown.kind == "added" else (
                    "student" if plan.run and shown.run is not None
                    and plan.run[shown.run].origin != "instructor" else "")
                note = f"<div class='note'>{html.escape(shown.note)}</div>" if shown.note else ""
                label = "<div class='note'>a cell you added</div>" if shown.kind == "added" \
                    else ""
                parts.append(f"<div class='cell {cls}'>{label}{_pre(shown.text)}{note}"
                             f"{_ran(run)}</div>")
            elif shown.kind == "test":
                parts.append(f"<div class='cell test'>{_pre(shown.text)}</div>")
            elif shown.kind == "answer":
                parts.append(f"<div class='cell answer'>{_pre(shown.text)}</div>")
            elif shown.kind == "missing":
                parts.append(f"<div class='cell note ran-error'>{html.escape(shown.text)}</div>")
            if shown.item and shown.item in rows:
                parts.append(_verdict(rows[shown.item]))
    parts.append("</body></html>")
    return "\n".join(parts)


def write(out: Path, result, spec) -> Path | None:
    """Write the feedback page of one graded notebook (none for a notebook not submitted)."""
    if result.log.get("status") == "not submitted":
        return None
    folder = Path(out) / "feedback" / safe_name(result.student_id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{result.notebook}.html"
    path.write_text(render(result, spec), encoding="utf-8")
    return path
