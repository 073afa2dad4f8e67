"""What the class got wrong: ``course-grade report``, from the gradebook alone.

Every autograded item of every graded notebook is stored with the verdict of its checks
(``course_grade_result``: status, the student's message, the qualified mistake id
``<check>/<id>`` and its title, the seconds the checks took). :func:`collect` counts them
per assignment and item: how many students submitted the notebook, how many passed the
item, the mistakes behind the failures with counts and shares (of those who submitted), one
example message each (what a student read in their feedback), the median check time.
:func:`write` makes ``report.html`` (self-contained: one matplotlib bar chart per item as a
base64 PNG, no script, no CDN) and ``mistakes.csv`` with the same numbers.

Only the gradebook is read, so the report is the same whichever engine graded (the local
pool, a Dask cluster) and wherever the gradebook lives (SQLite, PostgreSQL). No student is
named unless ``names=True``.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from .autograded import replace_atomically
from .report import _cell

#: The key and title under which failures without a mistake id are counted: rows graded
#: before mistake ids existed, and items the grader itself could not check.
UNCLASSIFIED = ("(none)", "no mistake id (graded before ids existed, or a grader error)")
EXAMPLE_CHARS = 600
CSV_FIELDS = ("assignment", "notebook", "item", "max_points", "submitted", "passed",
              "pass_rate", "median_check_seconds", "mistake", "title", "count", "share",
              "example")


class ReportError(ValueError):
    """Nothing to report; ``str()`` is one line saying why and what to do."""


@dataclass
class MistakeCount:
    id: str  # "<check>/<id>"
    title: str
    students: list[str] = field(default_factory=list)
    example: str = ""

    @property
    def count(self) -> int:
        return len(self.students)


@dataclass
class ItemReport:
    assignment: str
    notebook: str
    item: str
    max_points: float
    submitted: int = 0
    passed: int = 0
    seconds: list[float] = field(default_factory=list)
    mistakes: dict[str, MistakeCount] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return self.submitted - self.passed

    @property
    def pass_rate(self) -> float:
        return self.passed / self.submitted if self.submitted else 0.0

    @property
    def median_seconds(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None

    def ranked(self) -> list[MistakeCount]:
        """The mistakes, most common first (then by id, so the order is stable)."""
        return sorted(self.mistakes.values(), key=lambda m: (-m.count, m.id))

    def share(self, m: MistakeCount) -> float:
        return m.count / self.submitted if self.submitted else 0.0


@dataclass
class Report:
    items: list[ItemReport]  # per assignment (sorted), hardest item first
    students: int  # students with at least one submitted notebook in the report
    written: dict[str, list[str]] = field(default_factory=dict)  # assignment: written items

    def assignments(self) -> list[str]:
        return list(dict.fromkeys(i.assignment for i in self.items))


# --------------------------------------------------------------------------- counting

def _example(row: dict) -> str:
    """The student-facing text of a failure, as their feedback showed it, shortened."""
    text = (row.get("detail") or row.get("message") or "").strip()
    return text if len(text) <= EXAMPLE_CHARS else text[:EXAMPLE_CHARS].rstrip() + " ..."


def _written_items(db, assignment: str, notebook: str) -> set[str]:
    """Grade cells of the notebook that are written answers (markdown), per nbgrader."""
    from nbgrader.api import MissingEntry

    try:
        nb = db.gb.find_notebook(notebook, assignment)
    except MissingEntry:
        return set()
    return {c.name for c in nb.grade_cells if c.cell_type == "markdown"}


def collect(db, assignments: list[str] | None = None) -> Report:
    """Count the stored verdicts of ``db`` (a :class:`autograder.store.Store`) for
    ``assignments`` (default: every one graded)."""
    stored = [s for s in db.results() if not assignments or s.assignment in assignments]
    if assignments:
        unknown = sorted(set(assignments) - {s.assignment for s in stored})
        if unknown:
            raise ReportError(f"nothing graded for {', '.join(unknown)} in the gradebook "
                              "(run `course-grade autograde` first)")
    stored = [s for s in stored if s.log.get("status") != "not submitted"]
    if not stored:
        raise ReportError("the gradebook holds no graded notebooks yet (run `course-grade "
                          "autograde` first)")
    items: dict[tuple[str, str, str], ItemReport] = {}
    written: dict[str, list[str]] = {}
    order: dict[tuple[str, str, str], int] = {}
    manual_of: dict[tuple[str, str], set[str]] = {}  # written answers, per notebook
    for s in stored:
        where = (s.assignment, s.notebook)
        if where not in manual_of:
            manual_of[where] = _written_items(db, *where)
        manual_of[where] |= {r["item"] for r in s.rows if r["status"] == "manual"}
    for s in sorted(stored, key=lambda s: (s.assignment, s.notebook, s.student_id)):
        where = (s.assignment, s.notebook)
        for n, row in enumerate(s.rows):
            if row["item"] in manual_of[where]:
                if row["item"] not in written.setdefault(s.assignment, []):
                    written[s.assignment].append(row["item"])
                continue
            key = (*where, row["item"])
            order.setdefault(key, n)
            it = items.setdefault(key, ItemReport(*key, float(row.get("max_points") or 0)))
            it.submitted += 1
            if row.get("check_seconds") is not None:
                it.seconds.append(float(row["check_seconds"]))
            if row["status"] == "passed":
                it.passed += 1
                continue
            mid = row.get("mistake") or UNCLASSIFIED[0]
            title = row.get("mistake_title") or (UNCLASSIFIED[1] if mid == UNCLASSIFIED[0]
                                                 else mid)
            m = it.mistakes.setdefault(mid, MistakeCount(mid, title))
            m.students.append(s.student_id)
            if not m.example:
                m.example = _example(row)
    ranked = sorted(items.values(), key=lambda i: (i.assignment, i.pass_rate, -i.failed,
                                                   order[(i.assignment, i.notebook, i.item)]))
    return Report(ranked, len({s.student_id for s in stored}), written)


# --------------------------------------------------------------------------- CSV

def _num(x, digits: int = 3) -> str:
    return "" if x is None else f"{round(x, digits):g}"


def write_csv(path: Path, report: Report, names: bool = False) -> None:
    """One row per item and mistake (an item with no failure: one row, no mistake)."""
    fields = CSV_FIELDS + (("students",) if names else ())

    def fill(f):
        writer = csv.writer(f)
        writer.writerow(fields)
        for it in report.items:
            head = [it.assignment, it.notebook, it.item, _num(it.max_points), it.submitted,
                    it.passed, _num(it.pass_rate), _num(it.median_seconds, 4)]
            for m in it.ranked() or [None]:
                if m is None:
                    writer.writerow(head + ["", "", 0, "0", ""] + ([""] if names else []))
                    continue
                row = head + [_cell(m.id), _cell(m.title), m.count, _num(it.share(m)),
                              _cell(m.example)]
                if names:
                    row.append(_cell(" ".join(sorted(m.students))))
                writer.writerow(row)

    replace_atomically(path, fill, newline="")


# --------------------------------------------------------------------------- charts

def _label(title: str, mistake: str | None = None, width: int = 36) -> str:
    """A bar's label: the title on two lines at most, then the local id in brackets."""
    import textwrap

    lines = textwrap.wrap(title, width) or [""]
    if len(lines) > 2:
        lines = [lines[0], textwrap.shorten(" ".join(lines[1:]), width, placeholder=" ...")]
    if mistake:
        lines.append(f"[{mistake.partition('/')[2] or mistake}]")
    return "\n".join(lines)


def chart_png(it: ItemReport, top: int = 8) -> bytes:
    """A horizontal bar chart: how many passed, and how many made each mistake (the most
    common ``top``; the rest as one bar)."""
    from matplotlib.figure import Figure

    ranked = it.ranked()
    bars = [("passed", it.passed, "#2e7d32")]
    bars += [(_label(m.title, m.id), m.count, "#c62828") for m in ranked[:top]]
    rest = sum(m.count for m in ranked[top:])
    if rest:
        bars.append((f"{len(ranked) - top} other mistakes", rest, "#ef9a9a"))
    width, height = 7.6, 0.7 * len(bars) + 0.9  # inches
    fig = Figure(figsize=(width, height), dpi=100)
    # fixed margins (in inches) for the labels, the counts and the axis: tight_layout would
    # cost a third of the chart's time, for the same picture
    fig.subplots_adjust(left=2.75 / width, right=1 - 0.1 / width, bottom=0.62 / height,
                        top=1 - 0.12 / height)
    ax = fig.add_subplot()
    ys = list(range(len(bars)))[::-1]
    ax.barh(ys, [b[1] for b in bars], color=[b[2] for b in bars], height=0.6)
    ax.set_yticks(ys, [b[0] for b in bars], fontsize=9)
    ax.set_xlim(0, max(it.submitted, 1) * 1.12)
    for y, (_, count, _) in zip(ys, bars):
        share = count / it.submitted if it.submitted else 0.0
        ax.text(count + max(it.submitted, 1) * 0.01, y, f"{count} ({share:.0%})",
                va="center", fontsize=9)
    ax.set_xlabel(f"students (of {it.submitted} who submitted)", fontsize=9)
    ax.xaxis.get_major_locator().set_params(integer=True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


# --------------------------------------------------------------------------- HTML

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1180px; padding: 0 1rem; color: #1a1a1a; line-height: 1.4; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.2rem; border-bottom: 2px solid #ddd; }
table { border-collapse: collapse; width: 100%; margin: .6rem 0; font-size: .92rem; }
th, td { border: 1px solid #ddd; padding: .35rem .5rem; text-align: left;
         vertical-align: top; }
th { background: #f4f4f4; } td.n { text-align: right; white-space: nowrap; }
.item { border: 1px solid #ccc; border-radius: 6px; padding: .6rem 1rem 1rem;
        margin: 1.2rem 0; }
.item h3 { margin: .3rem 0; } .meta { color: #555; margin: 0 0 .4rem; }
.item img { max-width: 100%; height: auto; }
pre { white-space: pre-wrap; margin: 0; font-size: .85rem; max-height: 12rem;
      overflow: auto; }
.who { font-size: .85rem; color: #333; }
"""


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _pct(x: float) -> str:
    return f"{x:.0%}"


def _seconds(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f} s"


def _item_html(it: ItemReport, names: bool) -> str:
    e = html.escape
    png = base64.b64encode(chart_png(it)).decode("ascii")
    out = [f'<section class="item" id="{e(it.assignment)}--{e(it.item)}">',
           f"<h3>{e(it.item)} <small>({e(it.notebook)}, {it.max_points:g} points)</small>"
           "</h3>",
           f'<p class="meta">passed by <b>{it.passed} of {it.submitted}</b> '
           f"({_pct(it.pass_rate)}); median time of its checks {_seconds(it.median_seconds)}"
           "</p>",
           f'<img alt="bar chart of {e(it.item)}: {it.passed} passed; '
           + e("; ".join(f"{m.count} {m.title}" for m in it.ranked()))
           + f'" src="data:image/png;base64,{png}">']
    if it.mistakes:
        out.append("<table><tr><th>mistake</th><th>students</th><th>share</th>"
                   "<th>an example of what a student read</th></tr>")
        for m in it.ranked():
            who = (f'<div class="who">{e(", ".join(sorted(m.students)))}</div>'
                   if names else "")
            out.append(f"<tr><td><b>{e(m.title)}</b><br><code>{e(m.id)}</code>{who}</td>"
                       f'<td class="n">{m.count}</td><td class="n">{_pct(it.share(m))}</td>'
                       f"<td><pre>{e(m.example)}</pre></td></tr>")
        out.append("</table>")
    else:
        out.append("<p>Every student who submitted passed.</p>")
    out.append("</section>")
    return "\n".join(out)


def to_html(report: Report, names: bool = False, title: str = "What the class got wrong"
            ) -> str:
    e = html.escape
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
             f"<title>{e(title)}</title><style>{_STYLE}</style></head><body>",
             f"<h1>{e(title)}</h1>",
             f"<p>{_plural(report.students, 'student')}, "
             f"{_plural(len(report.assignments()), 'assignment')}, "
             f"{_plural(len(report.items), 'autograded item')}; read from the gradebook. Per "
             "assignment, the hardest items first. Shares are of the students who "
             "submitted the notebook. " + ("Students are named." if names else
                                           "No student is named (<code>--names</code> "
                                           "lists them).") + "</p>"]
    for assignment in report.assignments():
        its = [i for i in report.items if i.assignment == assignment]
        parts.append(f"<h2>{e(assignment)}</h2>")
        parts.append("<table><tr><th>item</th><th>passed</th><th>submitted</th>"
                     "<th>pass rate</th><th>most common mistake</th><th>median check time"
                     "</th></tr>")
        for it in its:
            top = it.ranked()[0] if it.mistakes else None
            common = (f"{e(top.title)} ({top.count}, {_pct(it.share(top))})" if top
                      else "-")
            parts.append(f"<tr><td><a href='#{e(assignment)}--{e(it.item)}'>{e(it.item)}"
                         f"</a></td><td class='n'>{it.passed}</td><td class='n'>"
                         f"{it.submitted}</td><td class='n'>{_pct(it.pass_rate)}</td>"
                         f"<td>{common}</td><td class='n'>{_seconds(it.median_seconds)}"
                         "</td></tr>")
        parts.append("</table>")
        parts += [_item_html(it, names) for it in its]
        written = report.written.get(assignment)
        if written:
            parts.append(f"<p>Written answers, graded by hand in the formgrader and not "
                         f"counted here: {e(', '.join(written))}.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


# --------------------------------------------------------------------------- the command

def write(report: Report, out: Path, names: bool = False) -> tuple[Path, Path]:
    """``out/report.html`` and ``out/mistakes.csv``; their paths."""
    out = Path(out)
    page, table = out / "report.html", out / "mistakes.csv"
    text = to_html(report, names)
    replace_atomically(page, lambda f: f.write(text))
    write_csv(table, report, names)
    return page, table


def gradebook_exists(db_url: str) -> bool:
    """False for a SQLite gradebook whose file is not there (opening it would create it)."""
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    if not url.drivername.startswith("sqlite"):
        return True
    return bool(url.database) and url.database != ":memory:" and Path(url.database).is_file()


def report(db_url: str, out: Path, *, course_id: str = "default_course",
           assignments: list[str] | None = None, names: bool = False
           ) -> tuple[Report, Path, Path]:
    """Read the gradebook at ``db_url``, write the report into ``out``."""
    from .store import Store, _safe_url

    if not gradebook_exists(db_url):
        raise ReportError(f"there is no gradebook at {_safe_url(db_url)} (run `course-grade "
                          "autograde` first, or give --course / --db)")
    with Store(db_url, course_id) as db:
        counted = collect(db, assignments)
    page, table = write(counted, out, names)
    return counted, page, table


def summary_line(counted: Report, page: Path, table: Path) -> str:
    hardest = min(counted.items, key=lambda i: (i.pass_rate, -i.failed), default=None)
    line = (f"Mistake report of {counted.students} students, {len(counted.items)} items: "
            f"{page} (and {table.name})")
    if hardest is not None and hardest.failed:
        line += (f"; hardest: {hardest.assignment}/{hardest.item}, passed by "
                 f"{hardest.passed} of {hardest.submitted}")
    elif hardest is not None:
        line += "; every student who submitted passed every item"
    return line + "."
