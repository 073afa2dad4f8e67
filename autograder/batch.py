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
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import config, discover, sandbox, submissions
from .grade import NotebookResult, Options, Row, grade_notebook, load_course
from .submissions import NotebookSpec
from .zygote import Zygote


@dataclass(frozen=True)
class Task:
    """One unit of work: a student's notebook (``path`` None: not submitted).

    ``sha256`` is the submitted file's hash; with the course version it keys the result, so
    a re-run skips what is already graded and a retried task is idempotent."""

    student: str
    notebook: str
    path: Path | None
    sha256: str | None = None
    timestamp: object = None  # datetime (UTC) of the submission, when known


def file_sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def course_version(source_dir: Path | None = None) -> str:
    """A short hash of everything that decides a grade: the instructor sources and the
    checks (``course_lib/checks``, code and stored cases). Grades made under another
    version are regraded."""

    import course_lib.checks

    source_dir = Path(source_dir or config.SOURCE_DIR)
    checks_dir = Path(course_lib.checks.__file__).parent
    files = sorted(p for p in source_dir.glob("*/*.ipynb") if p.stem == p.parent.name)
    files += sorted(p for p in checks_dir.rglob("*") if p.is_file() and p.suffix in (
        ".py", ".npz", ".json") and p.name != "manifest.json")
    return files_hash(files)


def files_hash(paths) -> str:
    """A short hash of these files' names and contents, in the order given."""
    import hashlib

    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@dataclass
class GradedRow(Row):
    """A row of the reports: a graded item with its final points (manual ones included)."""

    assignment: str = ""
    kind: str = "auto"
    comment: str | None = None
    late_penalty: float = 0.0


@dataclass
class Batch:
    results: list[NotebookResult]  # graded in this run
    course: dict[str, NotebookSpec]  # the notebooks the reports cover
    students: list[str]
    warnings: list[str]
    seconds: float
    isolation: dict
    notes: list[str]
    out: Path
    rows: list[GradedRow] = field(default_factory=list)  # every item, from the gradebook
    grader_failures: list[NotebookResult] = field(default_factory=list)  # not committed
    skipped: int = 0  # unchanged since they were graded
    planned: int = 0  # notebooks this run set out to grade
    interrupted: bool = False
    db_url: str = ""
    engine: dict = field(default_factory=dict)


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: what was graded is saved; ``str()`` says how far it got."""

    def __init__(self, batch: Batch):
        self.batch = batch
        done = len(batch.results)
        super().__init__(f"interrupted after {done} of {batch.planned} notebooks; every "
                         "graded one is saved in the gradebook: run the same command again "
                         "to finish")


@dataclass
class Places:
    """Where a run reads and writes."""

    source_dir: Path
    submissions: Path
    out: Path
    db_url: str
    autograded: Path
    feedback: Path
    nbconfig: object
    course_id: str = "default_course"
    hidden: list[str] = field(default_factory=list)


def places(course=None, submissions_dir=None, out_dir=None, source_dir=None,
           db_url=None) -> Places:
    """A course directory's places, or (no course) a folder of submissions graded against
    the kit's sources with everything, gradebook included, in ``out_dir``."""
    from . import coursedir

    if course is not None:
        out = Path(out_dir or course.reports_dir).resolve()
        subs = Path(submissions_dir or course.folder("submitted")).resolve()
        return Places(Path(source_dir or course.source_dir).resolve(), subs, out,
                      db_url or course.db_url, course.folder("autograded"),
                      course.folder("feedback"), course.nbconfig, course.course_id,
                      [str(course.root), str(subs), str(out)])
    if out_dir is None:
        raise ValueError("--out is needed when grading a folder outside a course directory")
    out = Path(out_dir).resolve()
    subs = Path(submissions_dir).resolve()
    source = Path(source_dir or config.SOURCE_DIR).resolve()
    nbconfig = (coursedir.load(config.KIT_DIR).nbconfig if config.KIT_DIR.is_dir()
                else coursedir.load(source.parent).nbconfig)
    return Places(source, subs, out, db_url or f"sqlite:///{out / 'gradebook.db'}",
                  out / "autograded", out / "feedback", nbconfig, "default_course",
                  [str(source), str(subs), str(out), str(config.KIT_DIR)])


def autograde(submissions_dir=None, out_dir=None, options: Options | None = None,
              source_dir=None, *, course=None, assignments=None, students=None,
              force: bool = False, db_url: str | None = None, engine=None,
              late_penalty=None, roster=None) -> Batch:
    """Grade what is new or changed under the submissions folder, commit each notebook to
    the gradebook as it is graded, and write the reports (all of them from the gradebook).

    course: a :class:`autograder.coursedir.Course` (nbgrader's layout: ``submitted/``,
    ``autograded/``, ``feedback/``, its gradebook); without one, ``submissions_dir`` is
    graded against the kit's sources and everything goes to ``out_dir``.
    assignments, students: the scope (default: every notebook, every student found).
    force: regrade even what is unchanged. engine: ``callable(zygote, specs, options, n)``
    returning an engine (default: the local pool). late_penalty: ``callable(notebook,
    seconds_late, points, max_points) -> points`` (default: none). roster: an
    :class:`autograder.roster.Roster`: its students are put in the gradebook (so every one
    of them is in every report) and LMS file names are mapped to them.
    Raises :class:`Interrupted` on Ctrl-C or SIGTERM (after saving the reports).
    """
    from . import report, store

    options = options or Options()
    t0 = time.monotonic()
    where = places(course, submissions_dir, out_dir, source_dir, db_url)
    if not where.submissions.exists():
        raise FileNotFoundError(f"SUBMISSIONS folder {where.submissions} does not exist")
    specs = load_course(where.source_dir)
    if not specs:
        raise ValueError(f"no instructor notebooks found in {where.source_dir}")
    scope = _scope(specs, assignments)
    version = course_version(where.source_dir)
    where.out.mkdir(parents=True, exist_ok=True)
    with store.Store(where.db_url, where.course_id) as db:
        for nb in scope:
            db.ensure_notebook(nb, nb, where.source_dir / nb / f"{nb}.ipynb", where.nbconfig)
        for student in (roster.students if roster is not None else []):
            db.gb.update_or_create_student(student.id, **student.nbgrader_fields())
        extracted = where.out / ".extracted"
        found, warnings = discover.find_submissions(where.submissions, list(specs), roster,
                                                    extract_to=extracted)
        found = {k: v for k, v in found.items() if k[1] in scope}
        warnings += _bad_ids({s for s, _ in found})
        found = {k: v for k, v in found.items() if _id_problem(k[0]) is None}
        if students:
            wanted = set(students)
            unknown = wanted - {s for s, _ in found}
            warnings += [f"--student {s}: nothing submitted for {', '.join(scope)}"
                         for s in sorted(unknown)]
            found = {k: v for k, v in found.items() if k[0] in wanted}
        known = db.keys()
        todo, skipped = [], 0
        for (student, nb), sub in sorted(found.items(), key=lambda kv: (kv[0][0], kv[0][1])):
            digest = file_sha256(sub.path)
            if not force and known.get((student, nb, nb)) == (digest, version):
                skipped += 1
                continue
            todo.append(Task(student, nb, sub.path, digest, sub.timestamp))
        batch = Batch([], {nb: specs[nb] for nb in scope}, [], warnings, 0.0, {}, [],
                      where.out, skipped=skipped, planned=len(todo), db_url=where.db_url)
        try:
            _grade(todo, specs, options, where, db, version, batch, engine, late_penalty)
        finally:
            shutil.rmtree(extracted, ignore_errors=True)
        batch.seconds = time.monotonic() - t0
        _reports(db, specs, where, batch)
    report.write_grades(where.out / "grades.csv", batch.rows)
    report.write_summary(where.out / "summary.csv", batch)
    (where.out / "warnings.txt").write_text("".join(w + "\n" for w in warnings))
    if batch.interrupted:
        raise Interrupted(batch)
    return batch


def _scope(specs: dict, assignments) -> list[str]:
    if not assignments:
        return list(specs)
    unknown = [a for a in assignments if a not in specs]
    if unknown:
        raise ValueError(f"no assignment named {', '.join(unknown)} in this course (it has "
                         f"{', '.join(specs)})")
    return [nb for nb in specs if nb in set(assignments)]


_BAD_ID_CHARS = set('/\\\0\n\r\t')


def _id_problem(student: str) -> str | None:
    """Why nbgrader's gradebook or the file system would refuse this student id."""
    if not student or student in (".", "..") or student.startswith("."):
        return "empty or starts with a dot"
    if len(student) > 128:
        return f"{len(student)} characters (the gradebook keeps at most 128)"
    if any(c in _BAD_ID_CHARS or not c.isprintable() for c in student):
        return "holds a slash, a control character or an unprintable one"
    return None


def _bad_ids(ids) -> list[str]:
    return [f"skipped student id {s!r}: {_id_problem(s)}; rename the folder or file"
            for s in sorted(ids) if _id_problem(s)]


def _blank_answers(result, spec, nbconfig) -> set[str]:
    """Written answers left as released: scored 0 automatically, as nbgrader does."""
    configured = nbconfig.get("ClearSolutions", {}).get("text_stub") if nbconfig else None
    stub = configured if isinstance(configured, str) and configured else "YOUR ANSWER HERE"
    plan, blank = result.assembled, set()
    if plan is None:
        return blank
    for item in spec.items:
        if item["kind"] != "manual" or item["cell"] not in plan.answers:
            continue
        if plan.answers[item["cell"]].strip() in ("", stub.strip()):
            blank.add(item["grade_id"])
    if blank:
        result.rows = [replace(r, points=0.0, status="missing", message=(
            "no answer was written (the cell still says what it said when released): 0 "
            "points"), detail="") if r.item in blank else r for r in result.rows]
    return blank


def _grade(todo, specs, options, where, db, version, batch, engine_factory, late_penalty):
    """Grade ``todo`` and commit each result as it arrives; stop cleanly on a signal."""
    import signal

    from . import autograded, course, report

    if not todo:
        return
    private = where.out / ".sandbox"
    ctx = multiprocessing.get_context("fork")
    # The local pool grades with a zygote of ours; another engine (Dask) brings its own.
    zygote = None if engine_factory else Zygote(private, where.hidden,
                                                str(config.NOTEBOOKS_DIR), lock=ctx.Lock())
    sources = {nb: course.read(where.source_dir / nb / f"{nb}.ipynb") for nb in
               {t.notebook for t in todo}}
    log_path = where.out / "log.jsonl"
    by_key = {(t.student, t.notebook): t for t in todo}
    engine = bar = None
    stop = _Stop()
    signals = (signal.SIGTERM, signal.SIGINT) if _main_thread() else ()
    previous = {s: signal.signal(s, stop.handler) for s in signals}
    try:
        if zygote is not None and signals:
            # Ctrl-C reaches the whole process group; the zygote inherits "ignore SIGINT"
            # and leaves stopping to this process, which stops it after saving the graded.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                zygote.start(wait=False)
            finally:
                signal.signal(signal.SIGINT, stop.handler)
        elif zygote is not None:
            zygote.start(wait=False)
        engine = (engine_factory or _Pool.factory(ctx))(zygote, specs, options, len(todo))
        if zygote is not None:
            zygote.ready()
        bar = _progress(len(todo), options.progress)
        for res in engine.run(todo):
            task = by_key[(res.student_id, res.notebook)]
            if _grader_side(res):  # the grader's fault, not the student's: never a 0
                batch.grader_failures.append(res)
                report.append_log(log_path, res.log)
                bar.update(1)
                continue
            with stop:
                _record(res, task, specs[res.notebook], sources[res.notebook], where, db,
                        version, late_penalty, autograded, report, log_path)
                batch.results.append(res)
            bar.set_postfix_str(f"{res.student_id}/{res.notebook}", refresh=False)
            bar.update(1)
    except KeyboardInterrupt:
        batch.interrupted = True
        db.rollback()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if bar is not None:
            bar.close()
        if engine is not None:
            batch.engine = getattr(engine, "describe", dict)()
            engine.close(now=batch.interrupted)
        if zygote is not None:
            if batch.interrupted:
                zygote.terminate()
            else:
                zygote.close()
        _clean_private(private, where.out)
    measured = next((r.log["isolation"] for r in batch.results
                     if r.log.get("isolation", {}).get("measured")), None)
    if measured is None and zygote is not None:
        measured = sandbox.describe(zygote.trial_probe, zygote.features)
    batch.isolation = measured or sandbox.describe(None, {})
    batch.notes = zygote.notes if zygote is not None else []


def _grader_side(res) -> bool:
    """A notebook the grader could not grade for reasons of its own (a bug, a sandbox that
    would not start): it is reported and left ungraded, so a re-run grades it."""
    problems = [str(p) for p in res.log.get("problems") or []]
    return res.log.get("status") == "grader error" or any(
        p.startswith("the sandbox could not be started") for p in problems)


def _record(res, task, spec, source_nb, where, db, version, late_penalty, autograded, report,
            log_path) -> None:
    """One graded notebook: its files (atomically), then the gradebook (one transaction)."""
    from . import feedback
    from .store import _naive_utc as store_naive_utc

    blank = _blank_answers(res, spec, where.nbconfig)
    timestamp = task.timestamp
    penalty = 0.0
    duedate = db.duedate(task.notebook)
    if late_penalty and timestamp is not None and duedate is not None:
        late = (store_naive_utc(timestamp) - store_naive_utc(duedate)).total_seconds()
        if late > 0:
            penalty = late_penalty(task.notebook, late, res.points, report.max_points(spec))
            res.log["late_seconds"] = round(late, 1)
    nb = autograded.build(res, spec, source_nb)
    target = where.autograded / submissions.safe_name(res.student_id) / task.notebook
    if nb is not None:
        autograded.write(target / f"{task.notebook}.ipynb", nb)
        if timestamp is not None:  # nbgrader's format, as its autograde copies it
            autograded.write_text(target / "timestamp.txt", store_naive_utc(timestamp)
                                  .strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
    page = feedback.render(nb, res.rows, res.student_id, task.notebook, late_penalty=penalty,
                           problem=str((res.log.get("problems") or [""])[0]),
                           graded_at=time.strftime("%Y-%m-%d %H:%M"))
    autograded.write_text(feedback.path_for(where.feedback, res.student_id, task.notebook,
                                            task.notebook), page)
    db.commit(res, task.notebook, spec, sha256=task.sha256, course_version=version,
              timestamp=timestamp, late_penalty=penalty, answers_blank=blank)
    report.append_log(log_path, res.log)


def _reports(db, specs, where, batch) -> None:
    rows, students, covered = item_rows(db, specs, list(batch.course))
    batch.rows, batch.students = rows, students
    batch.course = {nb: batch.course[nb] for nb in covered}


def item_rows(db, specs, notebooks) -> tuple[list[GradedRow], list[str], list[str]]:
    """Every item of every student for ``notebooks``, from the gradebook: autograded points
    and the mistake the checks named, the points and comments a grader gave in the
    formgrader, and ``missing`` for what was
    never submitted. Also the students, and the notebooks that have any submission."""
    stored = [s for s in db.results() if s.notebook in notebooks]
    scores = db.scores()
    students = sorted({s.student_id for s in stored} | set(db.students()))
    covered = [nb for nb in notebooks if any(s.notebook == nb for s in stored)]
    by_key = {(s.student_id, s.notebook): s for s in stored}
    rows = []
    for student in students:
        for nb in covered:
            spec, got = specs[nb], by_key.get((student, nb))
            if got is None:
                rows += [GradedRow(student, nb, i["grade_id"], 0.0, i["points"], "missing",
                                   "not submitted", assignment=nb, kind=i["kind"],
                                   mistake=(f"{i['grade_id']}/not-attempted"
                                            if i["kind"] == "auto" else None),
                                   mistake_title="not attempted" if i["kind"] == "auto" else None)
                         for i in spec.items]
                continue
            kinds = {i["grade_id"]: i["kind"] for i in spec.items}
            for r in got.rows:
                info = scores.get((student, got.assignment, nb, r["item"]), {})
                points = r["points"]
                if info.get("manual_score") is not None:
                    points = info["manual_score"] + (info.get("extra_credit") or 0.0)
                rows.append(GradedRow(
                    student, nb, r["item"], points, r["max_points"], r["status"],
                    r["message"], r.get("detail", ""), assignment=got.assignment,
                    kind=kinds.get(r["item"], "auto"), comment=info.get("manual_comment"),
                    late_penalty=info.get("late_penalty", 0.0), mistake=r.get("mistake"),
                    mistake_title=r.get("mistake_title"), check_seconds=r.get("check_seconds")))
    return rows, students, covered


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


class _Stop:
    """Ctrl-C and SIGTERM as one request to stop, honoured between results: while one result
    is written (its files and its gradebook transaction) the request waits, then the write
    finishes and the batch stops. (Blocking the signals is not enough: a signal that arrived
    just before is handled by Python at the next bytecode, possibly inside the write.)"""

    def __init__(self):
        self.writing = False
        self.requested = False

    def handler(self, signum, frame):
        if self.writing:
            self.requested = True
            return
        raise KeyboardInterrupt

    def __enter__(self):
        self.writing = True

    def __exit__(self, *exc):
        self.writing = False
        if self.requested and exc[0] is None:
            raise KeyboardInterrupt


class _Pool:
    """Grader processes forked from this one (they never run student code): each grades
    one notebook at a time, its checks running in parallel with the others' (threads
    would serialise the checks' Python on the GIL). A grader process that dies costs
    the notebook it was grading, and is replaced."""

    def __init__(self, ctx, n: int, zygote: Zygote, specs: dict, options: Options):
        self.ctx, self.zygote, self.specs, self.options = ctx, zygote, specs, options
        self.slots = [self._start() for _ in range(n)]

    @classmethod
    def factory(cls, ctx):
        def make(zygote, specs, options, n_tasks):
            return cls(ctx, min(max(1, options.workers), max(1, n_tasks)), zygote, specs,
                       options)
        return make

    def describe(self) -> dict:
        return {"engine": "local", "workers": len(self.slots)}

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
                    task = slot["task"]
                    res = _grader_error(self.specs[task.notebook], task.student, task.path,
                                        "the grader process died")
                    self.slots[self.slots.index(slot)] = self._replace(slot)
                else:
                    slot["task"] = None
                yield res

    def _replace(self, slot):
        slot["proc"].join(timeout=5)
        return self._start()

    def close(self, now: bool = False) -> None:
        """Stop the grader processes: after their current notebook, or ``now``."""
        if now:
            for slot in self.slots:
                slot["proc"].kill()
            for slot in self.slots:
                slot["proc"].join()
            return
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
        conn.send(_safe_grade(zygote, specs[task.notebook], task.student, task.path, options))


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
