"""Grading a class: the orchestrator.

It finds the submissions, grades each (student, notebook) in a pool of grader processes
(:mod:`autograder.grade` grades one), and writes what it learns as it arrives.
"""

from __future__ import annotations

import multiprocessing
import shutil
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from . import config, sandbox, submissions
from .grade import NotebookResult, Options, Row, grade_notebook, load_course
from .submissions import NotebookSpec
from .zygote import Zygote


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
