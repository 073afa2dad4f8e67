"""The course-wide scorecard: every saved course notebook found in a folder, scored.

Each notebook runs in its own Python process, top to bottom as saved (cells that only show
things, tagged ``autograde-skip``, are left out, as the autograder does), and is then scored
like its own last cell does (:func:`course_lib.scorecard.scorecard`). One notebook's crash,
endless loop or leftovers cannot touch another, or the kernel this is called from.

In a notebook (scores the saved notebooks beside it)::

    from course_lib.course_scorecard import course_scorecard
    course_scorecard()

In a terminal, no Jupyter needed::

    python -m course_lib.course_scorecard notebooks/
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .scorecard import (
    FAILED,
    NOT_ATTEMPTED,
    PASSED,
    Scorecard,
    _e,
    _html_table,
    _points,
    _pts,
    _text_table,
    load_manifest,
    scorecard,
)

_MARKER = "COURSE-SCORECARD-JSON:"
DISCLAIMER = (
    "This is a self-assessment, not an official grade: every notebook above was run as saved, "
    "top to bottom, and its checks, fresh grading cases included, were run on the result. "
    "Written answers are graded by a person."
)
SKIPPED_CELL_IDS = ("colab-setup", "scorecard")


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _runs_here(cell: dict) -> bool:
    """Cells the scorer runs: code, not a check cell (the scorer runs the checks itself),
    not display-only, not the Colab set-up or the scorecard."""
    if cell.get("cell_type") != "code" or cell.get("id") in SKIPPED_CELL_IDS:
        return False
    meta = cell.get("metadata", {})
    nbgrader = meta.get("nbgrader") or {}
    if nbgrader.get("grade") and not nbgrader.get("solution"):
        return False
    return "autograde-skip" not in meta.get("tags", [])


def run_saved_notebook(path) -> dict:
    """Run a saved notebook's cells in this process (an IPython shell, errors and all, as
    "Run All" would if it did not stop); return the namespace. Output is swallowed."""
    from IPython.core.interactiveshell import InteractiveShell

    path = Path(path)
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    shell = InteractiveShell.instance()
    os.chdir(path.parent)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        for cell in cells:
            if _runs_here(cell):
                shell.run_cell(_source(cell), store_history=False, silent=True)
    return shell.user_ns


def score_saved_notebook(path, timeout: float = 1800) -> Scorecard:
    """Score a saved notebook in a fresh Python process; problems become the card's note."""
    path = Path(path).resolve()
    nb_id = path.stem
    env = dict(os.environ, MPLBACKEND="Agg")
    try:
        proc = subprocess.run([sys.executable, "-m", "course_lib.course_scorecard", "--one",
                               str(path)], capture_output=True, text=True, timeout=timeout,
                              env=env, cwd=path.parent)
    except subprocess.TimeoutExpired:
        return Scorecard(nb_id, "", problem=f"{path.name} did not finish within {timeout:g} s "
                         "(an endless loop?); it was stopped")
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(_MARKER):
            return Scorecard.from_dict(json.loads(line[len(_MARKER):]))
    tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
    return Scorecard(nb_id, "", problem=f"{path.name} could not be run "
                     f"(exit code {proc.returncode}): {tail}")


@dataclass
class CourseScorecard:
    """Scorecards of the course notebooks found, and the ones that were not found."""

    folder: str
    cards: list[Scorecard] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def earned(self) -> float:
        return sum(c.earned for c in self.cards)

    @property
    def possible(self) -> float:
        return sum(c.possible for c in self.cards)

    @property
    def manual_points(self) -> float:
        return sum(c.manual_points for c in self.cards)

    def headline(self) -> str:
        text = f"{_pts(self.earned)} / {_pts(self.possible)} points from checks"
        text += f" in {len(self.cards)} notebook{'s' * (len(self.cards) != 1)}"
        if self.manual_points:
            text += (f"; written answers (another {_points(self.manual_points)}) are not "
                     "self-assessable")
        return text

    def rows(self) -> list[tuple[str, str, str, str]]:
        out = []
        for c in self.cards:
            if c.problem:
                out.append((c.notebook, "–", "✘ not scored", c.problem))
                continue
            counts = ", ".join(f"{c.count(s)} {s}" for s in (PASSED, FAILED, NOT_ATTEMPTED)
                               if c.count(s))
            out.append((c.notebook, f"{_pts(c.earned)} / {_pts(c.possible)}",
                        "✔ complete" if c.earned == c.possible else "· in progress", counts))
        out += [(m, "–", "· not found", f"no {m}.ipynb in {self.folder}") for m in self.missing]
        return out

    def __repr__(self) -> str:
        lines = [f"Course scorecard ({self.folder})", f"Self-assessed: {self.headline()}", ""]
        lines += _text_table(self.rows())
        for c in self.cards:
            if c.items:
                lines += ["", f"{c.notebook}: {c.headline()}"] + _text_table(c.rows())
        return "\n".join(lines + ["", DISCLAIMER])

    def _repr_html_(self) -> str:
        details = "".join(
            f"<details><summary>{_e(c.notebook)}: {_e(c.headline())}</summary>"
            f"{_html_table(c.rows())}</details>" for c in self.cards if c.items)
        return (f'<div class="course-scorecard"><h3>Course scorecard</h3>'
                f"<p><b>Self-assessed: {_e(self.headline())}</b></p>"
                f"{_html_table(self.rows())}{details}<p><i>{_e(DISCLAIMER)}</i></p></div>")


def course_scorecard(folder=None, timeout: float = 1800, progress: bool = True
                     ) -> CourseScorecard:
    """Score every course notebook saved in ``folder`` (default: the working directory,
    which in Jupyter is the folder of the open notebook). Save your notebooks first."""
    folder = Path(folder or os.getcwd()).resolve()
    card = CourseScorecard(str(folder))
    for nb_id in load_manifest()["notebooks"]:
        path = folder / f"{nb_id}.ipynb"
        if not path.is_file():
            card.missing.append(nb_id)
            continue
        if progress:
            print(f"scoring {path.name} ...", flush=True)
        card.cards.append(score_saved_notebook(path, timeout))
    return card


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.course_scorecard",
        description="Self-assess the saved course notebooks in a folder (not an official "
                    "grade).")
    parser.add_argument("folder", nargs="?", default=".", help="where the notebooks are")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per notebook")
    parser.add_argument("--one", metavar="NOTEBOOK", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:  # the child process of score_saved_notebook
        path = Path(args.one).resolve()
        namespace = run_saved_notebook(path)
        card = scorecard(path.stem, namespace)
        print(_MARKER + json.dumps(card.to_dict()), flush=True)
        return 0
    print(repr(course_scorecard(args.folder, args.timeout)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
