"""The course-wide scorecard: every saved course notebook found in a folder, scored.

Each notebook runs in its own Python process, top to bottom as saved (cells that only show
things, tagged ``autograde-skip``, are left out, as the autograder does), and is then scored
like its own last cell does (:func:`course_lib.scorecard.scorecard`). One notebook's crash,
endless loop or leftovers cannot touch another, or the kernel this is called from.

In a notebook (scores the saved notebooks beside it)::

    from course_lib.course_scorecard import course_scorecard
    course_scorecard()

In a terminal, from a checkout (the course's venv; no Jupyter needed)::

    make scorecard        # or: .venv/bin/python -m course_lib.course_scorecard notebooks/

It cannot recurse or eat the machine. Every scoring process carries a marker
(:data:`course_lib.scorecard.SCORING_ENV`, inherited by anything it starts, and a flag in
its own ``course_lib``), so a ``course_scorecard()`` or ``scorecard()`` saved in a notebook
refuses with one line when that notebook is being scored, and the card notes it. At most
``COURSE_SCORECARD_PROCESSES`` (default 2) scoring processes run at once for a user, across
every kernel and terminal (the others wait), and each may use at most
``COURSE_SCORECARD_MEMORY_MB`` of address space (default: a quarter of the machine's memory,
2 to 6 GB); a notebook that needs more is reported as such, not run to the end.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

try:
    from . import scorecard as _sc
    from .scorecard import (
        FAILED,
        NOT_ATTEMPTED,
        PASSED,
        SCORING_ENV,
        Refused,
        Scorecard,
        _e,
        _html_table,
        _points,
        _pts,
        _text_table,
        load_manifest,
        refusal,
        score_notebook,
        scoring_run,
        written_answers,
    )
except ModuleNotFoundError as _missing:  # a Python without the kit's packages, in a terminal
    if __name__ != "__main__":
        raise
    sys.exit(f"{sys.executable} has no module {_missing.name!r}: use the course's own Python, "
             "`make scorecard` (or `.venv/bin/python -m course_lib.course_scorecard "
             "notebooks/`) in the checkout, or `pip install -e .` first.")

_MARKER = "COURSE-SCORECARD-JSON:"
DISCLAIMER = (
    "This is a self-assessment, not an official grade: every notebook above was run as saved, "
    "top to bottom, and its checks, fresh grading cases included, were run on the result. "
    "Written answers are graded by a person."
)
SKIPPED_CELL_IDS = ("colab-setup", "scorecard")
PROCESSES_ENV, MEMORY_ENV = "COURSE_SCORECARD_PROCESSES", "COURSE_SCORECARD_MEMORY_MB"
_MISSING_MODULE = re.compile(r"ModuleNotFoundError: No module named '([^']+)'")


def max_processes() -> int:
    """How many scoring processes may run at once for this user (every caller counts)."""
    try:
        return max(1, int(os.environ.get(PROCESSES_ENV, "2")))
    except ValueError:
        return 2


def memory_limit_mb() -> int:
    """The address-space limit of each scoring process, in MB."""
    try:
        return max(256, int(os.environ[MEMORY_ENV]))
    except (KeyError, ValueError):
        pass
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    except (ValueError, OSError, AttributeError):
        total = 8192
    return int(min(6144, max(2048, total // 4)))


@contextlib.contextmanager
def _process_slot(progress: bool):
    """One of :func:`max_processes` slots (a lock file per slot, released when its holder
    ends, however it ends); waits while all are taken. Where there are no file locks
    (Windows), each caller still runs one scoring process at a time."""
    try:
        import fcntl
    except ImportError:
        yield
        return

    folder = Path(tempfile.gettempdir()) / f"course-scorecard-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    said = False
    while True:
        for k in range(max_processes()):
            handle = open(folder / f"slot-{k}.lock", "w")  # noqa: SIM115 - held until done
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                continue
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()
            return
        if progress and not said:
            print(f"waiting: {max_processes()} scoring runs are already going (another "
                  "kernel or terminal); this one starts when one ends", flush=True)
            said = True
        time.sleep(1)


def _limit_memory(mb: int) -> str:
    """Limit this process's address space; "" if done, else why not (macOS, Windows)."""
    try:
        import resource

        limit = mb * 2**20
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, AttributeError, ValueError, OSError) as exc:
        return f"no memory limit on this system ({type(exc).__name__}: {exc})"
    return ""


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


def run_saved_notebook(path, errors: list | None = None) -> dict:
    """Run a saved notebook's cells in this process (an IPython shell, errors and all, as
    "Run All" would if it did not stop); return the namespace. Output is swallowed; the
    exceptions the cells raised are appended to ``errors`` if given."""
    from IPython.core.interactiveshell import InteractiveShell

    path = Path(path)
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    shell = InteractiveShell.instance()
    os.chdir(path.parent)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        for cell in cells:
            if _runs_here(cell):
                result = shell.run_cell(_source(cell), store_history=False, silent=True)
                if errors is not None and result.error_in_exec is not None:
                    errors.append(result.error_in_exec)
    return shell.user_ns


def _score_here(path: Path, memory_mb: int) -> Scorecard:
    """The child's side: mark this process as a scoring run, limit its memory, run the
    notebook, score it; what was refused or ran out of memory becomes the card's notes."""
    _sc._in_scoring_run = True
    os.environ.setdefault(SCORING_ENV, path.name)
    unlimited = _limit_memory(memory_mb)
    errors: list = []
    namespace = run_saved_notebook(path, errors)
    card = score_notebook(path.stem, namespace, written_answers(path))
    card.notes += list(dict.fromkeys(_sc.REFUSALS))
    if unlimited:
        card.notes.append(unlimited)
    if any(isinstance(e, MemoryError) for e in errors):
        card.notes.append(f"a cell ran out of the scorer's memory limit ({memory_mb:,} MB) "
                          "and stopped; the checks ran on what the other cells made")
    return card


def _child_env(path: Path) -> dict:
    env = dict(os.environ, MPLBACKEND="Agg", MALLOC_ARENA_MAX="2")
    env[SCORING_ENV] = path.name
    # The kit itself importable from the child, whatever its working directory.
    here = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
    # Thread pools reserve address space per thread: keep them small under the limit.
    threads = str(min(4, os.cpu_count() or 1))
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, threads)
    return env


def score_saved_notebook(path, timeout: float = 1800, memory_mb: int | None = None,
                         progress: bool = False) -> Scorecard:
    """Score a saved notebook in a fresh Python process with a memory limit, once a
    process slot is free; problems become the card's note."""
    path = Path(path).resolve()
    nb_id = path.stem
    if scoring_run():
        return Scorecard(nb_id, "", problem=refusal("score_saved_notebook()"))
    memory_mb = memory_mb or memory_limit_mb()
    with _process_slot(progress):
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "course_lib.course_scorecard", "--one", str(path),
                 "--memory-mb", str(memory_mb)], capture_output=True, text=True,
                timeout=timeout, env=_child_env(path), cwd=path.parent)
        except subprocess.TimeoutExpired:
            return Scorecard(nb_id, "", problem=f"{path.name} did not finish within "
                             f"{timeout:g} s (an endless loop?); it was stopped")
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(_MARKER):
            return Scorecard.from_dict(json.loads(line[len(_MARKER):]))
    missing = _MISSING_MODULE.search(proc.stderr)
    if missing:
        return Scorecard(nb_id, "", problem=f"{sys.executable} has no module "
                         f"{missing.group(1)!r}: score with the course's own Python "
                         "(`make scorecard`)")
    if "MemoryError" in proc.stderr or "memory allocation failed" in proc.stderr \
            or "std::bad_alloc" in proc.stderr:
        return Scorecard(nb_id, "", problem=f"{path.name} ran out of the scorer's memory "
                         f"limit ({memory_mb:,} MB; {MEMORY_ENV} changes it) and was stopped")
    tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
    return Scorecard(nb_id, "", problem=f"{path.name} could not be run "
                     f"(exit code {proc.returncode}): {tail}")


@dataclass
class CourseScorecard:
    """Scorecards of the course notebooks found, and the ones that were not found."""

    folder: str
    cards: list[Scorecard] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    broken: str = ""  # set when this Python cannot score anything (a package is missing)

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
            text += (f"; written answers (another {_points(self.manual_points)}) are graded "
                     "by a person")
            unanswered = sum(c.unanswered() for c in self.cards)
            if unanswered:
                text += f", {unanswered} not answered yet"
        return text

    def rows(self) -> list[tuple[str, str, str, str]]:
        out = []
        for c in self.cards:
            if c.problem:
                out.append((c.notebook, "–", "✘ not scored", c.problem))
                continue
            counts = ", ".join([f"{c.count(s)} {s}" for s in (PASSED, FAILED, NOT_ATTEMPTED)
                                if c.count(s)] + [f"note: {n}" for n in c.notes])
            out.append((c.notebook, f"{_pts(c.earned)} / {_pts(c.possible)}",
                        "✔ complete" if c.earned == c.possible else "· in progress", counts))
        out += [(m, "–", "· not found", f"no {m}.ipynb in {self.folder}") for m in self.missing]
        return out

    def __repr__(self) -> str:
        if self.broken:
            return self.broken
        lines = [f"Course scorecard ({self.folder})", f"Self-assessed: {self.headline()}", ""]
        lines += _text_table(self.rows())
        for c in self.cards:
            if c.items:
                lines += ["", f"{c.notebook}: {c.headline()}"] + _text_table(c.rows())
        return "\n".join(lines + ["", DISCLAIMER])

    def _repr_html_(self) -> str:
        if self.broken:
            return f"<p>{_e(self.broken)}</p>"
        details = "".join(
            f"<details><summary>{_e(c.notebook)}: {_e(c.headline())}</summary>"
            f"{_html_table(c.rows())}</details>" for c in self.cards if c.items)
        return (f'<div class="course-scorecard"><h3>Course scorecard</h3>'
                f"<p><b>Self-assessed: {_e(self.headline())}</b></p>"
                f"{_html_table(self.rows())}{details}<p><i>{_e(DISCLAIMER)}</i></p></div>")


def course_scorecard(folder=None, timeout: float = 1800, progress: bool = True,
                     memory_mb: int | None = None) -> CourseScorecard | Refused:
    """Score every course notebook saved in ``folder`` (default: the working directory,
    which in Jupyter is the folder of the open notebook). Save your notebooks first.

    Inside a scoring run (a notebook being scored calls it) it refuses with one line."""
    if scoring_run():
        return Refused(refusal("course_scorecard()"))
    folder = Path(folder or os.getcwd()).resolve()
    card = CourseScorecard(str(folder))
    for nb_id in load_manifest()["notebooks"]:
        path = folder / f"{nb_id}.ipynb"
        if not path.is_file():
            card.missing.append(nb_id)
            continue
        if progress:
            print(f"scoring {path.name} ...", flush=True)
        card.cards.append(score_saved_notebook(path, timeout, memory_mb, progress))
        if card.cards[-1].problem.startswith(f"{sys.executable} has no module"):
            card.broken = card.cards.pop().problem  # the same for every notebook: say it once
            break
    return card


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.course_scorecard",
        description="Self-assess the saved course notebooks in a folder (not an official "
                    "grade).")
    parser.add_argument("folder", nargs="?", default=".", help="where the notebooks are")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per notebook")
    parser.add_argument("--memory-mb", type=int, default=None,
                        help=f"address-space limit per notebook (default {memory_limit_mb()}; "
                             f"or set {MEMORY_ENV})")
    parser.add_argument("--one", metavar="NOTEBOOK", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:  # the child process of score_saved_notebook
        if not os.environ.get(SCORING_ENV):
            print("--one is the scorer's own child process; run without it", file=sys.stderr)
            return 2
        card = _score_here(Path(args.one).resolve(), args.memory_mb or memory_limit_mb())
        print(_MARKER + json.dumps(card.to_dict()), flush=True)
        return 0
    view = course_scorecard(args.folder, args.timeout, memory_mb=args.memory_mb)
    print(repr(view))
    return 1 if isinstance(view, Refused) or view.broken else 0


if __name__ == "__main__":
    sys.exit(main())
