"""Grading a class: each notebook's code in its own sandbox, every check in this process.

For one submitted notebook (:func:`grade_notebook`):

1. read it defensively and rebuild it from the instructor source
   (:mod:`autograder.submissions`);
2. fork a sandboxed worker from the zygote and run the code cells there, each with a soft
   and a hard time limit on the CPU time the student's code uses (not on wall-clock time,
   which a busy machine stretches) and a far larger wall-clock ceiling for code that sleeps.
   A cell that times out or kills its worker (``os._exit``, a segfault) is run once more on
   a fresh worker; if it fails again it is marked bad, and a fresh worker re-runs the cells
   before it and carries on after it, so a crash costs only what depended on that cell;
3. run each graded item's checks here, with the check calls parsed from the instructor's
   test cell, reaching the student's objects through the channel
   (:func:`autograder.checking.grade_item`). Every value is validated and every comparison
   made in this process. A check that times out or crashes the worker is tried once more
   on a fresh worker, then costs that item; the next item gets a fresh worker if needed.

:func:`autograde` does this for every submission, ``workers`` at a time, and writes the
gradebook, feedback and log (:mod:`autograder.report`, :mod:`autograder.feedback`).
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from . import config, course, sandbox, submissions
from .channel import ChannelError, Client
from .checking import grade_item
from .frames import SandboxFailure
from .session import Sandbox, describe_exit
from .submissions import Assembled, NotebookSpec, Unreadable
from .zygote import Zygote, ZygoteError

STATUSES = ("passed", "failed", "error", "timeout", "missing", "crashed", "manual")
MANUAL_MESSAGE = ("written answer: needs manual grading in nbgrader's formgrader (grades.csv "
                  "shows the points once given there)")


@dataclass
class Options:
    """How a class is graded. Time limits count the CPU time of the student's code (the
    sandboxed worker and every process it started), so that a busy machine costs no one
    points; each has a wall-clock ceiling, ``max(wall_factor x limit, limit + wall_slack)``,
    counted while the grader waits for the worker's answers, that only code which sleeps
    or blocks reaches. A machine at load 25 on 2 cores gives a normal-priority process
    about 1/12 of a core: at 10x, honest code that needs up to ~80% of its CPU limit still
    finishes there, and a sleeping cell costs at most ten minutes (at the default 60 s);
    the + 60 s keeps short limits (a few seconds, in tests) clear of scheduling noise."""

    workers: int = 2
    timeout_cell: float = 60.0  # CPU seconds per cell, and per graded item's checks
    timeout_notebook: float = 600.0  # CPU seconds for a whole notebook, cells and checks
    memory_mb: int = 2048  # address-space limit of a sandboxed worker
    max_restarts: int = 3  # fresh workers per notebook after crashes
    progress: bool = True
    wall_factor: float = 10.0  # wall-clock ceilings: this many times the CPU limit...
    wall_slack: float = 60.0  # ...and at least this many seconds more than it
    retry: bool = True  # a cell or item that times out or crashes gets a second run

    def limits(self) -> dict:
        return {"memory_mb": self.memory_mb, "cpu_seconds": int(self.timeout_notebook) + 5,
                "nproc": 64, "file_mb": 256, "open_files": 256}

    def wall_ceiling(self, cpu_limit: float) -> float:
        """Wall-clock seconds allowed to code given ``cpu_limit`` seconds of CPU time."""
        return max(self.wall_factor * cpu_limit, cpu_limit + self.wall_slack)


@dataclass
class Row:
    """One line of grades.csv; ``detail`` is the full message for the feedback."""

    student_id: str
    notebook: str
    item: str
    points: float | None  # None: to be graded by hand
    max_points: float
    status: str
    message: str
    detail: str = ""
    #: "<check>/<id>" of the mistake behind a failure (None: passed, written answer, or a
    #: failure on the grader's side); its title from the checks' MISTAKES or GRADER_MISTAKES
    mistake: str | None = None
    mistake_title: str | None = None
    # wall seconds the item's checks took (last try); not part of what a grade is, so two
    # gradings of the same submission (local pool, Dask) still compare equal
    check_seconds: float | None = field(default=None, compare=False)


#: Mistakes only the grader can see (the checks never run): local id -> title.
GRADER_MISTAKES = {"unreadable": "notebook file could not be read"}


def mistake_title(mistake: str | None) -> str | None:
    """The title of a qualified mistake id ("svm_loss_naive/no-1-over-N")."""
    if mistake is None:
        return None
    from course_lib.checks import MISTAKES

    local = mistake.partition("/")[2]
    return MISTAKES.get(local) or GRADER_MISTAKES.get(local) or local


def _generic(item: dict, local: str) -> str:
    """A generic mistake of an item, named after its (first) check as the checks name theirs."""
    calls = item.get("calls") or []
    return f"{calls[0].item if calls else item['grade_id']}/{local}"


# the generic mistake of each status the grader gives without a check's verdict
_STATUS_MISTAKE = {"timeout": "timed-out", "crashed": "crashed", "missing": "not-attempted"}


@dataclass
class NotebookResult:
    student_id: str
    notebook: str
    rows: list[Row]
    log: dict
    assembled: Assembled | None = None
    cell_runs: dict = field(default_factory=dict)

    @property
    def points(self) -> float:
        return sum(r.points or 0.0 for r in self.rows)


# --------------------------------------------------------------------------- the course

def load_course(source_dir: Path | None = None) -> dict[str, NotebookSpec]:
    """``{notebook id: spec}`` from the instructor sources (refusing unknown checks)."""
    from course_lib.checks import CHECKS

    source_dir = Path(source_dir or config.SOURCE_DIR)
    specs = {}
    for path in sorted(source_dir.glob("*/*.ipynb")):
        if path.stem != path.parent.name:
            continue
        spec = NotebookSpec.from_source(path.stem, course.read(path))
        for item in spec.items:
            for call in item["calls"]:
                if call.item not in CHECKS:
                    raise ValueError(f"{path.stem}: item {item['grade_id']} calls the check "
                                     f"{call.item!r}, which course_lib does not register")
        specs[path.stem] = spec
    return specs


# --------------------------------------------------------------------------- one notebook

class _Runner:
    """The sandboxed worker(s) of one notebook: starting, running cells, starting over.

    The notebook's budget is ``timeout_notebook`` seconds of its workers' CPU time and the
    wall-clock ceiling of that, spent waiting on them (all of them: retries and restarts
    included; starting workers and running checks are the grader's time, not the
    student's)."""

    def __init__(self, zygote: Zygote, plan: Assembled, options: Options):
        self.zygote, self.plan, self.options = zygote, plan, options
        self.waited_before = 0.0  # by the workers already retired
        self.sb: Sandbox | None = None
        self.bad: set[int] = set()
        self.retried: set[int] = set()
        self.cell_runs: dict[int, dict] = {}
        self.restarts = 0
        self.retries = 0
        self.starts = 0
        self.gave_up: str | None = None
        self.out_of_time: str | None = None  # why the notebook's budget ran out
        self.probe: dict | None = None
        self.features: dict = {}
        self.exits: list[dict] = []
        self.problems: list[str] = []
        self.start_seconds = 0.0

    def cpu_used(self) -> float:
        """CPU seconds used by this notebook's workers so far."""
        done = sum(e.get("cpu_seconds", 0.0) for e in self.exits)
        if self.sb is None:
            return done
        if self.sb.pid is None:  # lost, not yet retired
            return done + (self.sb.exit_info or {}).get("cpu_seconds", 0.0)
        return done + self.sb.cpu_used(max_age=0.1)

    def left(self) -> float:
        """CPU seconds left to the notebook."""
        return self.options.timeout_notebook - self.cpu_used()

    def wall_left(self) -> float:
        """Seconds of waiting on the notebook's workers left to it."""
        waited = self.waited_before + (self.sb.waited if self.sb is not None else 0.0)
        return self.options.wall_ceiling(self.options.timeout_notebook) - waited

    def budget(self) -> tuple[float, float] | None:
        """(CPU, wall) seconds for the next cell or item; None, and ``out_of_time`` set,
        if the notebook has used its budget."""
        cpu, wall = self.left(), self.wall_left()
        if cpu <= 0:
            self.out_of_time = (f"the notebook used its whole "
                                f"{self.options.timeout_notebook:g} s of CPU time")
        elif wall <= 0:
            self.out_of_time = (f"the notebook ran into its wall-clock ceiling of "
                                f"{self.options.wall_ceiling(self.options.timeout_notebook):g}"
                                " s (it sleeps or blocks?)")
        if self.out_of_time:
            return None
        limit = self.options.timeout_cell
        return min(limit, cpu), min(self.options.wall_ceiling(limit), wall)

    def _retire(self) -> None:
        if self.sb is not None:
            info = self.sb.close() if self.sb.pid is not None else self.sb.exit_info
            if info:
                self.exits.append(info)
            self.waited_before += self.sb.waited
            self.sb = None

    def fresh(self) -> None:
        """Drop the current worker: the next :meth:`ensure` starts a new one."""
        self._retire()

    def _start(self) -> bool:
        self._retire()
        t0 = time.monotonic()
        self.sb = Sandbox(self.zygote, self.options.limits())
        self.starts += 1
        try:
            hello = self.sb.start()
        except (SandboxFailure, ZygoteError) as exc:
            self.gave_up = f"the sandbox could not be started: {exc}"
            self.problems.append(self.gave_up)
            self._retire()
            return False
        finally:
            self.start_seconds += time.monotonic() - t0
        if self.probe is None:  # measured before any student code ran in that worker
            probe, features = hello.get("probe"), hello.get("features")
            self.probe = probe if isinstance(probe, dict) else None
            self.features = features if isinstance(features, dict) else {}
        return True

    def lost(self, what: str) -> str:
        """The worker is gone: say how, and count the restart it will need."""
        self.restarts += 1
        info = self.sb.exit_info if self.sb else None
        how = describe_exit(info)
        self.problems.append(f"{what}: the worker {how}")
        return how

    def execute(self) -> bool:
        """Start a worker and run every cell not known to be bad; False if it could not."""
        while True:
            if self.restarts > self.options.max_restarts:
                self.gave_up = (f"gave up after the notebook's process was lost "
                                f"{self.restarts} times")
                return False
            if not self._start():
                return False
            done = self._run_cells()
            if done is not None:
                return done

    def _run_cells(self) -> bool | None:
        """Run the cells in the current worker: True when all ran, False when the notebook
        is out of time, None when a cell needs a fresh worker (it was lost, or is retried)."""
        for i, cell in enumerate(self.plan.run):
            if i in self.bad:
                continue
            budget = self.budget()
            if budget is None:
                self.problems.append(f"{self.out_of_time} before cell {cell.label} ran")
                return False
            result = self._run_cell(i, *budget)
            if result is None:
                return None
            self.cell_runs.setdefault(i, result)
            if result["status"] in ("timeout", "crashed") and not self.sb.alive:
                return None
        return True

    def _run_cell(self, i: int, cpu: float, wall: float) -> dict | None:
        """Cell ``i``'s result; None if it is to be run again on a fresh worker."""
        label = self.plan.run[i].label
        try:
            result = self.sb.run_cell(self.plan.run[i].source, cpu, wall)
        except SandboxFailure as exc:
            if exc.status == "timeout":
                why = _overran(exc.limit, cpu, wall) + " and was stopped"
            else:
                info = self.sb.exit_info if self.sb else None
                why = describe_exit(info)
            result = {"status": exc.status, "error": why, "output": "", "dropped": 0,
                      "seconds": 0.0, "cpu_seconds": 0.0, "limit": exc.limit if
                      exc.status == "timeout" else None}
        else:
            if result["status"] != "timeout":
                return result
            result["error"] = _overran(result["limit"], cpu, wall) + " (interrupted)"
        if self.retry_once(i, f"cell {label} {result['error']}"):
            return None
        self.bad.add(i)  # skipped when the cells are run again
        if not self.sb.alive:
            self.restarts += 1
        self.problems.append(f"cell {label} {result['error']}")
        return result

    def retry_once(self, key, what: str) -> bool:
        """Whether ``key`` (a cell's index, an item's id) gets its second run, on a fresh
        worker; recorded in the log's problems either way."""
        if not self.options.retry or key in self.retried:
            return False
        self.retried.add(key)
        self.retries += 1
        self.problems.append(f"{what}: run again on a fresh worker")
        self.fresh()
        return True

    def ensure(self) -> bool:
        """A live worker with the notebook's cells run, starting over if it was lost."""
        if self.sb is not None and self.sb.alive:
            return True
        if self.gave_up or self.out_of_time:
            return False
        return self.execute()

    def close(self) -> None:
        self._retire()


def _overran(limit: str | None, cpu: float, wall: float) -> str:
    if limit == "wall":
        return (f"was still running after {wall:g} s of wall-clock time (waiting, sleeping "
                "or blocked)")
    return f"did not finish within {cpu:g} s of CPU time"


def _cell_problem(item: dict, plan: Assembled, runner: _Runner) -> tuple[str, str] | None:
    """(status, why) when a cell of this item's exercise timed out or crashed."""
    for key in item["exercises"]:
        for n in plan.runs_of.get(key, []):
            run = runner.cell_runs.get(n)
            if run and run["status"] in ("timeout", "crashed"):
                return run["status"], f"your cell {plan.run[n].label} {run['error']}"
            error = (run or {}).get("error") or ""
            if run and run["status"] == "error" and error.startswith("MemoryError"):
                return "crashed", (f"your cell {plan.run[n].label} ran out of memory (the "
                                   f"limit is {runner.options.memory_mb} MB)")
            if run and run["status"] == "error" and error.startswith("BlockingIOError"):
                return "crashed", (f"your cell {plan.run[n].label} hit the limit on "
                                   "processes (a fork bomb?)")
    return None


def _cell_errors(item: dict, plan: Assembled, runner: _Runner) -> str:
    notes = []
    for key in item["exercises"]:
        for n in plan.runs_of.get(key, []):
            run = runner.cell_runs.get(n)
            if run and run["status"] == "error":
                notes.append(f"When the grader ran your cell {plan.run[n].label}, it raised "
                             f"{run['error']}")
    return "\n".join(notes)


def _row(student, notebook, item, points, status, message, detail="", mistake=None,
         seconds=None) -> Row:
    first = message.strip().splitlines()[0] if message.strip() else status
    return Row(student, notebook, item["grade_id"], points, item["points"], status, first,
               detail or message, mistake, mistake_title(mistake),
               None if seconds is None else round(seconds, 4))


def _resource_limit(status: str, message: str) -> tuple[str, str]:
    """Running out of memory or processes is a crash of the student's code, not a bug."""
    first = message.split("\n")[0]
    if status == "error" and ("raised MemoryError" in first or "MemoryError" == first[:11]):
        return "crashed", f"ran out of memory: {first}"
    if status == "error" and "raised BlockingIOError" in first:
        return "crashed", f"hit the process limit: {first}"
    return status, message


def _check(item: dict, runner: _Runner):
    """(points, status, message, lesson, lost, mistake, seconds) of one try at an item's
    checks; ``lost``: the worker timed out or crashed under them (worth a second try);
    ``mistake``: the failure's qualified id, None when passed or the grader is at fault;
    ``seconds``: how long the checks ran (None when they did not)."""
    gid = item["grade_id"]
    if runner.budget() is None or not runner.ensure():
        if runner.out_of_time:
            return (0.0, "timeout", f"not graded: {runner.out_of_time}", "", False,
                    _generic(item, "timed-out"), None)
        grader_side = (runner.gave_up or "").startswith("the sandbox could not be started")
        return (0.0, "crashed", f"not graded: {runner.gave_up}", "", False,
                None if grader_side else _generic(item, "crashed"), None)
    budget = runner.budget()  # after ensure(): running the cells again used some of it
    if budget is None:
        return (0.0, "timeout", f"not graded: {runner.out_of_time}", "", False,
                _generic(item, "timed-out"), None)
    sb = runner.sb
    sb.begin_item(*budget)
    t0 = time.perf_counter()
    try:
        result = grade_item(Client(sb), item)
    except SandboxFailure as exc:
        seconds = time.perf_counter() - t0
        if exc.status == "timeout":
            message = f"your code {_overran(exc.limit, *budget)} when the check called it"
            if not sb.alive:
                runner.restarts += 1
                message += " and was stopped"
        else:
            how = runner.lost(f"checking {gid}")
            message = f"the notebook's process {how} while this item was checked"
        return (0.0, exc.status, message, "", True,
                _generic(item, _STATUS_MISTAKE.get(exc.status, "crashed")), seconds)
    except ChannelError as exc:  # the student's process answered with garbage
        return (0.0, "error", f"the notebook's process sent a malformed reply ({exc})", "",
                False, _generic(item, "raised-error"), time.perf_counter() - t0)
    except Exception as exc:  # a bug in a check must cost neither the batch nor the item
        runner.problems.append(f"check error on {gid}: {traceback.format_exc(limit=5)}")
        return (0.0, "error", f"the grader could not check this item ({type(exc).__name__}: "
                f"{exc}); please tell your instructor", "", False, None, None)
    seconds = time.perf_counter() - t0
    status = "failed" if result.status == "not_implemented" else result.status
    lesson = mistake = ""
    failed = next((o for o in result.outcomes if not o.passed), None)
    if failed is not None:
        lesson, mistake = failed.message, failed.mistake
    return (result.points, status, result.message, lesson, False,
            (mistake or _generic(item, "wrong-value")) if status != "passed" else None,
            seconds)


def _grade_one(item: dict, plan: Assembled, runner: _Runner, options: Options):
    """(points, status, message, detail, mistake, seconds) of one autograded item."""
    gid = item["grade_id"]
    points, status, message, lesson, lost, mistake, seconds = _check(item, runner)
    if lost and runner.retry_once(f"item {gid}", f"checking {gid}: {message}"):
        points, status, message, lesson, lost, mistake, seconds = _check(item, runner)
        runner.problems.append(f"checking {gid} again: {status}")
    detail = lesson or message
    if status == "passed":
        return points, status, message, detail, None, seconds
    limited, message = _resource_limit(status, message)
    if limited != status:
        status, mistake = limited, _generic(item, "crashed")
    missing = [plan.missing[k] for k in item["exercises"] if k in plan.missing]
    problem = _cell_problem(item, plan, runner)
    context = None
    if missing:
        status, context = "missing", missing[0]
    elif problem:
        status, context = problem
    if context:
        message, detail = context, f"{context}\n{detail}"
        mistake = _generic(item, _STATUS_MISTAKE[status])
    extra = _cell_errors(item, plan, runner)
    return (points, status, message, f"{detail}\n{extra}" if extra else detail, mistake,
            seconds)


def _grade_items(spec: NotebookSpec, plan: Assembled, runner: _Runner, student: str,
                 options: Options) -> list[Row]:
    rows = []
    for item in spec.items:
        if item["kind"] == "manual":
            if item["cell"] in plan.missing:
                rows.append(_row(student, spec.notebook, item, 0.0, "missing",
                                 plan.missing[item["cell"]],
                                 mistake=f"{item['grade_id']}/not-attempted"))
            else:
                rows.append(_row(student, spec.notebook, item, None, "manual", MANUAL_MESSAGE))
            continue
        points, status, message, detail, mistake, seconds = _grade_one(item, plan, runner,
                                                                       options)
        rows.append(_row(student, spec.notebook, item, points, status, message, detail,
                         mistake, seconds))
    return rows


def grade_notebook(zygote: Zygote, spec: NotebookSpec, student: str, path: Path | None,
                   options: Options) -> NotebookResult:
    """Grade one student's notebook; never raises for anything the submission does."""
    t0 = time.monotonic()
    log = {"student_id": student, "notebook": spec.notebook,
           "file": str(path) if path else None, "max_points": spec.max_auto}

    def everything(status: str, message: str, local: str) -> list[Row]:
        return [_row(student, spec.notebook, item, 0.0, status, message,
                     mistake=_generic(item, local)) for item in spec.items]

    if path is None:
        rows = everything("missing", "not submitted", "not-attempted")
        log.update(status="not submitted", points=0.0, seconds={"total": 0.0})
        return NotebookResult(student, spec.notebook, rows, log)
    try:
        cells = submissions.load(path)
    except Unreadable as exc:
        message = f"{Path(path).name} {exc}"
        log.update(status="unreadable", points=0.0, problems=[message],
                   seconds={"total": time.monotonic() - t0})
        return NotebookResult(student, spec.notebook,
                              everything("error", message, "unreadable"), log)
    plan = submissions.assemble(spec, cells)
    runner = _Runner(zygote, plan, options)
    try:
        runner.execute()
        t_cells = time.monotonic()
        rows = _grade_items(spec, plan, runner, student, options)
    finally:
        runner.close()
    t_end = time.monotonic()
    counts = {}
    for run in runner.cell_runs.values():
        counts[run["status"]] = counts.get(run["status"], 0) + 1
    status = "graded"
    if runner.gave_up:
        status = "crashed"
    elif runner.out_of_time:
        status = "timeout"
    log.update(
        status=status, points=sum(r.points or 0.0 for r in rows),
        items={s: sum(r.status == s for r in rows) for s in STATUSES if any(
            r.status == s for r in rows)},
        seconds={"total": round(t_end - t0, 3), "start": round(runner.start_seconds, 3),
                 "cells": round(t_cells - t0 - runner.start_seconds, 3),
                 "checks": round(t_end - t_cells, 3)},
        cells={"to_run": len(plan.run), **counts},
        slowest_cells=[[plan.run[i].label, round(r["seconds"], 3)] for i, r in sorted(
            runner.cell_runs.items(), key=lambda kv: -kv[1]["seconds"])[:3]],
        workers_started=runner.starts,
        restarts=runner.restarts,
        retries=runner.retries,
        cpu_seconds=round(sum(e.get("cpu_seconds", 0.0) for e in runner.exits), 3),
        max_rss_mb=round(max([e.get("max_rss_mb", 0.0) for e in runner.exits] or [0.0]), 1),
        problems=runner.problems, notes=plan.notes,
        isolation=sandbox.describe(runner.probe, runner.features))
    return NotebookResult(student, spec.notebook, rows, log, plan, runner.cell_runs)


# --------------------------------------------------------------------------- a class

def autograde(*args, **kwargs):
    """Grade a class: see :func:`autograder.batch.autograde`."""
    from .batch import autograde as grade_class

    return grade_class(*args, **kwargs)
