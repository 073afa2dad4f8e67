"""The self-learner's scorecard: a notebook's graded items, checked in the student's kernel.

The last cell of every student notebook (put there by ``course-grade release``) is::

    from course_lib.scorecard import scorecard
    scorecard("01_knn", globals())

For every graded item it runs the item's checks, the grading cases included
(``hidden=True`` with fresh seeds, as the autograder does), against the objects defined in
the kernel, and shows: passed, failed (with the one-line reason) or not attempted, and the
points the item would earn. Items are named as their check cells name them
(``KNearestNeighbor.train``, ``AddGate``). Written answers are graded by a person: they are
shown with their points, as "not answered" while the saved notebook still holds the answer
cell's placeholder. It is a self-assessment, not an official grade.

Which checks make up which item, and their points, come from ``checks/data/manifest.json``,
which ``course-grade release`` generates from the instructor sources; so the scorecard also
works in Colab, where the notebook file is not on the kernel's disk.

The course-wide view (:mod:`course_lib.course_scorecard`) runs every saved course notebook
found in a folder, each in its own process, and scores them all. Inside such a run (the
environment variable ``COURSE_SCORING_RUN`` is set in every scoring process, and the scoring
process also marks itself in this module) both ``scorecard()`` and ``course_scorecard()``
refuse with one line, so a scorecard call saved in a notebook can never start scoring again.
"""

from __future__ import annotations

import ast
import contextlib
import html
import io
import json
import os
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from .checks import CHECKS

MANIFEST = Path(__file__).resolve().parent / "checks" / "data" / "manifest.json"
MANIFEST_ENV = "COURSE_MANIFEST"  # another manifest (the tests' miniature courses use it)

METADATA_KEY = "course_scorecard"  # the scores as data, in the displayed output's metadata
PASSED, FAILED, NOT_ATTEMPTED, MANUAL = "passed", "failed", "not attempted", "manual"
DISCLAIMER = (
    "This is a self-assessment, not an official grade: it runs the course's checks, fresh "
    "grading cases included, on the code in this kernel. Restart the kernel and run every "
    "cell first for a faithful picture. Written answers are graded by a person."
)
COURSE_HINT = (
    "Whole course: save your notebooks, then run `make scorecard` in a terminal in the "
    "course folder, or `from course_lib.course_scorecard import course_scorecard; "
    "course_scorecard()` in a notebook beside them."
)
PLACEHOLDER = "YOUR ANSWER HERE"  # what an unanswered written-answer cell holds

# Set (to the notebook being scored) in every process the course-wide scorer starts, and
# inherited by anything those start: no scorecard of any kind runs inside a scoring run.
SCORING_ENV = "COURSE_SCORING_RUN"
_in_scoring_run = False  # also set in-process by the scorer (survives os.environ edits)
REFUSALS: list[str] = []  # what was refused in this process (the scorer reports them)


def scoring_run() -> str:
    """The notebook being scored if this process is part of a course scoring run, else ""."""
    return os.environ.get(SCORING_ENV, "") or ("a notebook" if _in_scoring_run else "")


class Refused(str):
    """What a refused scorecard call returns: its one line, shown as just that line."""

    def __repr__(self) -> str:
        return str(self)


def refusal(call: str) -> str:
    """The one line a scorecard call inside a scoring run gives instead of scoring."""
    line = (f"{call} refused: {scoring_run()} is itself being scored by the course "
            "scorecard, and scoring never nests")
    REFUSALS.append(line)
    return line


@lru_cache(maxsize=4)
def _read_manifest(path: str, mtime: float) -> dict:
    return json.loads(Path(path).read_text())


def load_manifest() -> dict:
    """``{"notebooks": {id: {"title", "items": [...]}}}``, as release generated it."""
    path = Path(os.environ.get(MANIFEST_ENV) or MANIFEST)
    return _read_manifest(str(path), path.stat().st_mtime)


@dataclass
class ItemScore:
    """One graded item: ``status`` is passed | failed | not attempted | manual."""

    grade_id: str
    description: str
    points: float
    status: str
    reason: str = ""
    name: str = ""  # the name its check cell prints (the check's name); grade_id if none
    answered: bool | None = None  # written answers: None when the notebook is not at hand

    @property
    def label(self) -> str:
        return self.name or self.grade_id

    @property
    def earned(self) -> float:
        return self.points if self.status == PASSED else 0.0


@dataclass
class Scorecard:
    """A notebook's self-assessed score; shows itself as a table in Jupyter and Colab."""

    notebook: str
    title: str
    items: list[ItemScore] = field(default_factory=list)
    problem: str = ""  # set when the notebook could not be scored at all
    notes: list[str] = field(default_factory=list)  # what happened while scoring it

    @property
    def earned(self) -> float:
        return sum(i.earned for i in self.items)

    @property
    def possible(self) -> float:
        """The points the checks can award (written answers excluded)."""
        return sum(i.points for i in self.items if i.status != MANUAL)

    @property
    def manual_points(self) -> float:
        return sum(i.points for i in self.items if i.status == MANUAL)

    def count(self, status: str) -> int:
        return sum(i.status == status for i in self.items)

    def unanswered(self) -> int:
        return sum(i.status == MANUAL and i.answered is False for i in self.items)

    def headline(self) -> str:
        if self.problem:
            return self.problem
        auto = len(self.items) - self.count(MANUAL)
        text = (f"{_pts(self.earned)} / {_pts(self.possible)} points from checks "
                f"({self.count(PASSED)} of {auto} items passed")
        if self.count(FAILED):
            text += f", {self.count(FAILED)} failed"
        if self.count(NOT_ATTEMPTED):
            text += f", {self.count(NOT_ATTEMPTED)} not attempted"
        text += ")"
        if self.manual_points:
            text += (f"; written answers (another {_points(self.manual_points)}) are graded "
                     "by a person")
            if self.unanswered():
                text += f", {self.unanswered()} not answered yet"
        return text

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Scorecard:
        items = [ItemScore(**i) for i in data.get("items", [])]
        return cls(data["notebook"], data.get("title", ""), items, data.get("problem", ""),
                   list(data.get("notes", [])))

    def rows(self) -> list[tuple[str, str, str, str]]:
        """``(item, points, status, reason)`` per graded item, for tables."""
        out = []
        for i in self.items:
            pts = (f"{_pts(i.earned)} / {_pts(i.points)}" if i.status != MANUAL
                   else f"– / {_pts(i.points)}")
            label = _LABEL[i.status]
            if i.status == MANUAL and i.answered is not None:
                label = "✎ answered" if i.answered else "✎ not answered"
            out.append((i.label, pts, label, i.reason))
        return out

    def __repr__(self) -> str:
        lines = [f"Scorecard: {self.title or self.notebook} ({self.notebook})",
                 f"Self-assessed: {self.headline()}"] + [f"Note: {n}" for n in self.notes]
        lines += [""] + _text_table(self.rows())
        lines += ["", DISCLAIMER, COURSE_HINT]
        return "\n".join(lines)

    def _repr_mimebundle_(self, include=None, exclude=None):
        """Text and HTML to show; the scores as data in the output's metadata (for tools)."""
        return ({"text/plain": repr(self), "text/html": self._repr_html_()},
                {METADATA_KEY: self.to_dict()})

    def _repr_html_(self) -> str:
        return (f'<div class="course-scorecard"><h3>Scorecard: '
                f"{_e(self.title or self.notebook)}</h3>"
                f"<p><b>Self-assessed: {_e(self.headline())}</b></p>"
                + "".join(f"<p>Note: {_e(n)}</p>" for n in self.notes)
                + f"{_html_table(self.rows())}"
                f"<p><i>{_e(DISCLAIMER)}</i></p><p>{_code_spans(COURSE_HINT)}</p></div>")


_LABEL = {PASSED: "✔ passed", FAILED: "✘ failed", NOT_ATTEMPTED: "· not attempted",
          MANUAL: "✎ graded by a person"}
_COLOUR = {"✔": "#1a7f37", "✘": "#cf222e", "·": "#6e7781", "✎": "#6e7781"}


def _pts(x: float) -> str:
    return f"{x:g}"


def _points(x: float) -> str:
    return f"{x:g} point{'s' * (x != 1)}"


def _e(text: str) -> str:
    return html.escape(str(text))


def _text_table(rows) -> list[str]:
    if not rows:
        return []
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    w2 = max(len(r[2]) for r in rows)
    return [f"  {a:<{w0}}  {b:>{w1}}  {c:<{w2}}  {d}".rstrip() for a, b, c, d in rows]


_CELL = 'style="text-align:left;vertical-align:top;padding:2px 10px 2px 0"'


def _html_table(rows) -> str:
    head = "".join(f"<th {_CELL}>{h}</th>" for h in ("item", "points", "result", "why"))
    body = "".join(
        f"<tr><td {_CELL}><code>{_e(a)}</code></td><td {_CELL}>{_e(b)}</td>"
        f'<td {_CELL[:-1]};color:{_COLOUR[c[0]]};white-space:nowrap">{_e(c)}</td>'
        f"<td {_CELL}>{_e(d)}</td></tr>"
        for a, b, c, d in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _code_spans(text: str) -> str:
    """Escaped text with `backquoted` parts as <code>."""
    parts = _e(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


class _NotDefined(Exception):
    pass


def _resolve(arg, namespace: dict):
    """A manifest argument: ``["name", n]``, ``["value", repr]``, ``["dict", [[k, arg]...]]``."""
    kind, value = arg
    if kind == "name":
        if value not in namespace:
            raise _NotDefined(value)
        return namespace[value]
    if kind == "dict":
        return {ast.literal_eval(k): _resolve(v, namespace) for k, v in value}
    return ast.literal_eval(value)


def _one_line(text: str) -> str:
    return next((ln.strip() for ln in str(text).splitlines() if ln.strip()), "")


def score_item(item: dict, namespace: dict, answers: dict | None = None) -> ItemScore:
    """Run one graded item's checks (in order, stopping at the first that does not pass).

    Never raises for the student's sake: a missing name means not attempted, and even a
    check that breaks on strange student objects is reported as a failure. ``answers``
    (grade_id -> answered?) says which written answers the saved notebook holds.
    """
    calls = item.get("calls", [])
    description = ""
    if calls and calls[0]["check"] in CHECKS:
        description = CHECKS[calls[0]["check"]].description
    name = " + ".join(dict.fromkeys(c["check"] for c in calls))
    score = ItemScore(item["grade_id"], description, float(item["points"]), PASSED, name=name)
    if item["kind"] == "manual":
        score.status, score.reason = MANUAL, "written answer: a person grades it"
        answers = answers or {}
        if item["grade_id"] in answers:
            score.answered = answers[item["grade_id"]]
            if not score.answered:
                score.reason = ("its answer cell still says YOUR ANSWER HERE in the saved "
                                "notebook (save after answering)")
        return score
    for call in calls:
        try:
            args = [_resolve(a, namespace) for a in call["args"]]
        except _NotDefined as missing:
            score.status = NOT_ATTEMPTED
            score.reason = f"{missing} is not defined yet: run (or write) its cell above"
            return score
        if call["check"] not in CHECKS:
            score.status = FAILED
            score.reason = (f"this course kit has no check {call['check']!r}: update it "
                            "(run the notebook's first cell, or pip install the kit again)")
            return score
        kwargs = {"seed": call["seed"]} if call.get("seed") is not None else {}
        try:
            with contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                outcome = CHECKS[call["check"]].evaluate(*args, hidden=call["hidden"], **kwargs)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - a scorecard must always show
            score.status = FAILED
            score.reason = f"the check could not run: {type(exc).__name__}: {_one_line(exc)}"
            return score
        if not outcome.passed:
            score.status = NOT_ATTEMPTED if outcome.status == "not_implemented" else FAILED
            score.reason = outcome.summary
            if score.status == NOT_ATTEMPTED:  # "f still raises NotImplementedError."
                score.reason = score.reason.split(". ")[0].rstrip(".")
            return score
    return score


def written_answers(path) -> dict[str, bool]:
    """grade_id -> answered? for the written-answer cells of a saved notebook ({} if none)."""
    try:
        cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    out = {}
    for cell in cells:
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        if cell.get("cell_type") == "markdown" and meta.get("solution") and meta.get("grade"):
            src = cell.get("source", "")
            text = ("".join(src) if isinstance(src, list) else src).strip()
            out[meta.get("grade_id", "")] = bool(text) and text != PLACEHOLDER
    return out


def _notebook_file(namespace: dict):
    """The notebook this kernel runs, when Jupyter told the kernel (``__session__``)."""
    path = namespace.get("__session__") if isinstance(namespace, dict) else None
    if isinstance(path, str) and path.endswith(".ipynb") and os.path.isfile(path):
        return path
    return None


def scorecard(notebook_id: str, namespace: dict) -> Scorecard:
    """Score notebook ``notebook_id`` on the objects in ``namespace`` (pass ``globals()``).

    Returns a :class:`Scorecard`, which Jupyter and Colab show as a table. Inside a course
    scoring run it refuses and returns that one line (a :class:`Refused`) instead.
    """
    if scoring_run():
        return Refused(refusal("scorecard()"))
    path = _notebook_file(namespace)
    return score_notebook(notebook_id, namespace, written_answers(path) if path else None)


def score_notebook(notebook_id: str, namespace: dict, answers: dict | None = None
                   ) -> Scorecard:
    """What :func:`scorecard` shows, without its guard (the course scorer calls this)."""
    try:
        entry = load_manifest()["notebooks"].get(notebook_id)
    except (OSError, ValueError, KeyError) as exc:
        return Scorecard(notebook_id, "", problem=f"the course kit's manifest is unreadable "
                         f"({exc}); reinstall the kit")
    if entry is None:
        return Scorecard(notebook_id, "", problem=(
            f"this version of the course kit does not know notebook {notebook_id!r}; "
            "update it (run the notebook's first cell, or pip install the kit again)"))
    items = [score_item(item, namespace, answers) for item in entry["items"]]
    return Scorecard(notebook_id, entry.get("title", ""), items)
