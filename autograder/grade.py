"""Grading a class: each notebook's code in its own sandbox, every check in this process.

For one submitted notebook (:func:`grade_notebook`):

1. read it defensively and rebuild it from the instructor source
   (:mod:`autograder.submissions`);
2. fork a sandboxed worker from the zygote and run the code cells there, each with a soft
   and a hard time limit. A cell that kills its worker (``os._exit``, a segfault, a hard
   timeout) is marked bad, and a fresh worker re-runs the cells before it and carries on
   after it, so a crash costs only what depended on that cell;
3. run each graded item's checks here, with the check calls parsed from the instructor's
   test cell, reaching the student's objects through the channel
   (:func:`autograder.checking.grade_item`). Every value is validated and every comparison
   made in this process. A check that times out or crashes the worker costs that item; the
   next item gets a fresh worker if needed.

:func:`autograde` does this for every submission, ``workers`` at a time, and writes the
gradebook, feedback and log (:mod:`autograder.report`, :mod:`autograder.feedback`).
"""

from __future__ import annotations

import multiprocessing
import shutil
import sys
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
MANUAL_MESSAGE = ("written answer: needs manual grading (use nbgrader's formgrader, or put "
                  "the points in this row)")


@dataclass
class Options:
    workers: int = 2
    timeout_cell: float = 60.0  # seconds per cell, and per graded item's checks
    timeout_notebook: float = 600.0  # seconds for a whole notebook, cells and checks
    memory_mb: int = 2048  # address-space limit of a sandboxed worker
    max_restarts: int = 3  # fresh workers per notebook after crashes
    progress: bool = True

    def limits(self) -> dict:
        return {"memory_mb": self.memory_mb, "cpu_seconds": int(self.timeout_notebook) + 5,
                "nproc": 64, "file_mb": 256, "open_files": 256}


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
    """The sandboxed worker(s) of one notebook: starting, running cells, starting over."""

    def __init__(self, zygote: Zygote, plan: Assembled, options: Options, deadline: float):
        self.zygote, self.plan, self.options, self.deadline = zygote, plan, options, deadline
        self.sb: Sandbox | None = None
        self.bad: set[int] = set()
        self.cell_runs: dict[int, dict] = {}
        self.restarts = 0
        self.starts = 0
        self.gave_up: str | None = None
        self.out_of_time = False
        self.probe: dict | None = None
        self.features: dict = {}
        self.exits: list[dict] = []
        self.problems: list[str] = []
        self.start_seconds = 0.0

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def _retire(self) -> None:
        if self.sb is not None:
            info = self.sb.close() if self.sb.pid is not None else self.sb.exit_info
            if info:
                self.exits.append(info)
            self.sb = None

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
            lost = False
            for i, cell in enumerate(self.plan.run):
                if i in self.bad:
                    continue
                left = self.left()
                if left <= 0:
                    self.out_of_time = True
                    self.problems.append(
                        f"the notebook used its whole {self.options.timeout_notebook:g} s "
                        f"before cell {cell.label} ran")
                    return False
                timeout = min(self.options.timeout_cell, left)
                try:
                    result = self.sb.run_cell(cell.source, timeout)
                except SandboxFailure as exc:
                    if exc.status == "timeout":
                        why = f"did not finish within {timeout:g} s and was stopped"
                        self.restarts += 1
                        self.problems.append(f"cell {cell.label} {why}")
                    else:
                        why = self.lost(f"cell {cell.label}")
                    result = {"status": exc.status, "error": why, "output": "", "dropped": 0,
                              "seconds": 0.0}
                    self.bad.add(i)
                    self.cell_runs.setdefault(i, result)
                    lost = True
                    break
                if result["status"] == "timeout":
                    self.bad.add(i)  # interrupted: skip it when the cells are run again
                    result["error"] = f"did not finish within {timeout:g} s (interrupted)"
                    self.problems.append(f"cell {cell.label} {result['error']}")
                self.cell_runs.setdefault(i, result)
            if not lost:
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


def _row(student, notebook, item, points, status, message, detail="") -> Row:
    first = message.strip().splitlines()[0] if message.strip() else status
    return Row(student, notebook, item["grade_id"], points, item["points"], status, first,
               detail or message)


def _resource_limit(status: str, message: str) -> tuple[str, str]:
    """Running out of memory or processes is a crash of the student's code, not a bug."""
    first = message.split("\n")[0]
    if status == "error" and ("raised MemoryError" in first or "MemoryError" == first[:11]):
        return "crashed", f"ran out of memory: {first}"
    if status == "error" and "raised BlockingIOError" in first:
        return "crashed", f"hit the process limit: {first}"
    return status, message


def _grade_one(item: dict, plan: Assembled, runner: _Runner, options: Options):
    """(points, status, message, detail) of one autograded item."""
    gid = item["grade_id"]
    out_of_time = (0.0, "timeout", f"not graded: the notebook used its whole "
                   f"{options.timeout_notebook:g} s")
    if runner.left() <= 0 or runner.out_of_time:
        return (*out_of_time, "")
    if not runner.ensure():
        if runner.out_of_time:
            return (*out_of_time, "")
        return 0.0, "crashed", f"not graded: {runner.gave_up}", ""
    sb = runner.sb
    sb.request_deadline = time.monotonic() + min(options.timeout_cell, runner.left())
    lesson = ""
    try:
        result = grade_item(Client(sb), item)
        status = "failed" if result.status == "not_implemented" else result.status
        points, message = result.points, result.message
        if result.outcomes and not result.outcomes[-1].passed:
            lesson = result.outcomes[-1].message
    except SandboxFailure as exc:
        points, status = 0.0, exc.status
        if sb.alive:
            message = (f"your code did not return within {options.timeout_cell:g} s "
                       "when the check called it")
        else:
            how = runner.lost(f"checking {gid}")
            message = ("your code did not return in time and was stopped"
                       if exc.status == "timeout" else
                       f"the notebook's process {how} while this item was checked")
    except ChannelError as exc:
        points, status = 0.0, "error"
        message = f"the notebook's process sent a malformed reply ({exc})"
    except Exception as exc:  # a bug in a check must cost neither the batch nor the item
        points, status = 0.0, "error"
        message = (f"the grader could not check this item ({type(exc).__name__}: {exc}); "
                   "please tell your instructor")
        runner.problems.append(f"check error on {gid}: {traceback.format_exc(limit=5)}")
    detail = lesson or message
    if status == "passed":
        return points, status, message, detail
    status, message = _resource_limit(status, message)
    missing = [plan.missing[k] for k in item["exercises"] if k in plan.missing]
    problem = _cell_problem(item, plan, runner)
    context = None
    if missing:
        status, context = "missing", missing[0]
    elif problem:
        status, context = problem
    if context:
        message, detail = context, f"{context}\n{detail}"
    extra = _cell_errors(item, plan, runner)
    return points, status, message, f"{detail}\n{extra}" if extra else detail


def _grade_items(spec: NotebookSpec, plan: Assembled, runner: _Runner, student: str,
                 options: Options) -> list[Row]:
    rows = []
    for item in spec.items:
        if item["kind"] == "manual":
            if item["cell"] in plan.missing:
                rows.append(_row(student, spec.notebook, item, 0.0, "missing",
                                 plan.missing[item["cell"]]))
            else:
                rows.append(_row(student, spec.notebook, item, None, "manual", MANUAL_MESSAGE))
            continue
        points, status, message, detail = _grade_one(item, plan, runner, options)
        rows.append(_row(student, spec.notebook, item, points, status, message, detail))
    return rows


def grade_notebook(zygote: Zygote, spec: NotebookSpec, student: str, path: Path | None,
                   options: Options) -> NotebookResult:
    """Grade one student's notebook; never raises for anything the submission does."""
    t0 = time.monotonic()
    log = {"student_id": student, "notebook": spec.notebook,
           "file": str(path) if path else None, "max_points": spec.max_auto}

    def everything(status: str, message: str) -> list[Row]:
        out = []
        for item in spec.items:
            out.append(Row(student, spec.notebook, item["grade_id"], 0.0, item["points"],
                           status, message))
        return out

    if path is None:
        rows = everything("missing", "not submitted")
        log.update(status="not submitted", points=0.0, seconds={"total": 0.0})
        return NotebookResult(student, spec.notebook, rows, log)
    try:
        cells = submissions.load(path)
    except Unreadable as exc:
        message = f"{Path(path).name} {exc}"
        log.update(status="unreadable", points=0.0, problems=[message],
                   seconds={"total": time.monotonic() - t0})
        return NotebookResult(student, spec.notebook, everything("error", message), log)
    plan = submissions.assemble(spec, cells)
    runner = _Runner(zygote, plan, options, t0 + options.timeout_notebook)
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
        cpu_seconds=round(sum(e.get("cpu_seconds", 0.0) for e in runner.exits), 3),
        max_rss_mb=round(max([e.get("max_rss_mb", 0.0) for e in runner.exits] or [0.0]), 1),
        problems=runner.problems, notes=plan.notes,
        isolation=sandbox.describe(runner.probe, runner.features))
    return NotebookResult(student, spec.notebook, rows, log, plan, runner.cell_runs)


# --------------------------------------------------------------------------- a class

@dataclass
class Batch:
    results: list[NotebookResult]
    course: dict[str, NotebookSpec]
    students: list[str]
    warnings: list[str]
    seconds: float
    isolation: dict
    notes: list[str]
    out: Path

    @property
    def rows(self) -> list[Row]:
        return [r for res in self.results for r in res.rows]


def autograde(submissions_dir, out_dir, options: Options | None = None,
              source_dir=None) -> Batch:
    """Grade every submission under ``submissions_dir``; write everything to ``out_dir``."""
    from . import feedback, report

    options = options or Options()
    t0 = time.monotonic()
    source_dir = Path(source_dir or config.SOURCE_DIR).resolve()
    submissions_dir, out = Path(submissions_dir).resolve(), Path(out_dir).resolve()
    if not submissions_dir.is_dir():
        raise FileNotFoundError(f"SUBMISSIONS folder {submissions_dir} does not exist")
    specs = load_course(source_dir)
    if not specs:
        raise ValueError(f"no instructor notebooks found in {source_dir}")
    out.mkdir(parents=True, exist_ok=True)
    private = out / ".sandbox"
    hidden = [str(source_dir), str(submissions_dir), str(out), str(config.AUTOGRADER_DIR)]
    ctx = multiprocessing.get_context("fork")
    zygote = Zygote(private, hidden, str(config.NOTEBOOKS_DIR), lock=ctx.Lock())
    results: list[NotebookResult] = []
    log_path = out / "log.jsonl"
    log_path.write_text("")
    pool = None
    bar = None
    try:
        zygote.start(wait=False)  # it warms up while we read the class
        found, warnings = submissions.discover(submissions_dir, list(specs))
        students = sorted({s for s, _ in found})
        tasks = [(s, nb, found.get((s, nb))) for s in students for nb in specs]
        pool = _Pool(ctx, min(max(1, options.workers), max(1, len(tasks))), zygote, specs,
                     options)
        zygote.ready()
        bar = _progress(len(tasks), options.progress)
        for res in pool.run(tasks):
            results.append(res)
            report.append_log(log_path, res.log)
            feedback.write(out, res, specs[res.notebook])
            bar.set_postfix_str(f"{res.student_id}/{res.notebook}", refresh=False)
            bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        if pool is not None:
            pool.close()
        zygote.close()
        _clean_private(private, out)
    order = {nb: i for i, nb in enumerate(specs)}
    results.sort(key=lambda r: (r.student_id, order[r.notebook]))
    isolation = next((r.log["isolation"] for r in results
                      if r.log.get("isolation", {}).get("measured")), None)
    if isolation is None:
        isolation = sandbox.describe(zygote.trial_probe, zygote.features)
    batch = Batch(results, specs, students, warnings, time.monotonic() - t0, isolation,
                  zygote.notes, out)
    report.write_grades(out / "grades.csv", batch.rows)
    report.write_summary(out / "summary.csv", batch)
    return batch


class _Pool:
    """Grader processes forked from this one (they never run student code): each grades
    one notebook at a time, its checks running in parallel with the others' (threads
    would serialise the checks' Python on the GIL). A grader process that dies costs
    the notebook it was grading, and is replaced."""

    def __init__(self, ctx, n: int, zygote: Zygote, specs: dict, options: Options):
        self.ctx, self.zygote, self.specs, self.options = ctx, zygote, specs, options
        self.slots = [self._start() for _ in range(n)]

    def _start(self):
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=_serve_slot, args=(child, self.zygote, self.specs,
                                                          self.options), daemon=True)
        proc.start()
        child.close()
        return {"proc": proc, "conn": parent, "task": None}

    def run(self, tasks):
        """Yield a NotebookResult per task, in the order they finish."""
        from multiprocessing.connection import wait

        pending = list(reversed(tasks))
        while pending or any(s["task"] for s in self.slots):
            for n, slot in enumerate(self.slots):
                if slot["task"] is None and pending:
                    task = pending.pop()
                    try:
                        slot["conn"].send(task)
                    except OSError:  # it died while idle: a fresh one takes the task
                        slot = self.slots[n] = self._replace(slot)
                        slot["conn"].send(task)
                    slot["task"] = task
            busy = {s["conn"]: s for s in self.slots if s["task"]}
            for conn in wait(list(busy)):
                slot = busy[conn]
                try:
                    res = conn.recv()
                except (EOFError, OSError):
                    res = _grader_error(self.specs[slot["task"][1]], *slot["task"][::2],
                                        "the grader process died")
                    self.slots[self.slots.index(slot)] = self._replace(slot)
                else:
                    slot["task"] = None
                yield res

    def _replace(self, slot):
        slot["proc"].join(timeout=5)
        return self._start()

    def close(self) -> None:
        for slot in self.slots:
            try:
                slot["conn"].send(None)
            except OSError:
                pass
        for slot in self.slots:
            slot["proc"].join(timeout=30)
            if slot["proc"].is_alive():
                slot["proc"].kill()
                slot["proc"].join()


def _serve_slot(conn, zygote, specs, options) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        student, nb, path = task
        conn.send(_safe_grade(zygote, specs[nb], student, path, options))


def _grader_error(spec, student, path, what: str) -> NotebookResult:
    rows = [Row(student, spec.notebook, i["grade_id"], 0.0, i["points"], "error",
                f"grader error ({what.splitlines()[0]}); please tell your instructor")
            for i in spec.items]
    log = {"student_id": student, "notebook": spec.notebook, "file": str(path),
           "status": "grader error", "points": 0.0, "max_points": spec.max_auto,
           "problems": [what], "seconds": {"total": 0.0}}
    return NotebookResult(student, spec.notebook, rows, log)


def _safe_grade(zygote, spec, student, path, options) -> NotebookResult:
    try:
        return grade_notebook(zygote, spec, student, path, options)
    except Exception as exc:  # a grader bug: this notebook is reported, the batch goes on
        return _grader_error(spec, student, path, f"{type(exc).__name__}: {exc}\n"
                             + traceback.format_exc(limit=8))


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc="grading", unit="notebook", disable=not enabled,
                file=sys.stderr, dynamic_ncols=True)


def _clean_private(private: Path, out: Path) -> None:
    log = private / "zygote.log"
    if log.exists() and log.stat().st_size:
        shutil.copy(log, out / "sandbox.log")
    shutil.rmtree(private, ignore_errors=True)
