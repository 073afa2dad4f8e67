"""Grading on a Dask cluster: the same engine interface as the local pool, spread over machines.

:class:`DaskEngine` is what :class:`autograder.batch._Pool` is, on Dask: ``run(tasks)``
yields a :class:`~autograder.grade.NotebookResult` per task as each finishes, ``close()``
lets go of the cluster, and ``describe()`` says which workers graded what, under which
isolation. It connects to an existing scheduler (``scheduler="tcp://host:8786"``) or starts
a :class:`~distributed.LocalCluster` of worker processes on 127.0.0.1 (``local=N``).

* The unit of work is one (student, notebook) submission. Its bytes travel with the task
  (no shared file system); its key is a hash of the course version, the student, the
  notebook and the file's sha256, so a resubmitted task is the same task.
* Each Dask worker keeps one warm zygote, started by :class:`GraderPlugin` when the plugin
  is registered (or when the worker joins later), with the course loaded from the
  worker's own copy of the kit. Before anything is graded every worker is asked for its
  course version; a worker without the kit, or with another version, stops the batch with
  one readable line (:class:`ClusterError`).
* A worker grades with :func:`autograder.grade.grade_notebook` on a temporary copy of the
  submission, in the same sandbox as the local pool, and returns plain data
  (:func:`result_to_plain`), rebuilt here into a ``NotebookResult``
  (:func:`result_from_plain`) with everything the feedback pages need.
* A submission whose grading kills its Dask worker is retried once on another
  (``distributed.scheduler.allowed-failures = 1``), then reported ``crashed``; the batch
  goes on. Only as many submissions as there are worker threads are in flight at a time,
  so the orchestrator's memory does not grow with the class.

:func:`check_database` tells, in one line, whether a gradebook database can be reached.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import stat
import tempfile
import threading
import time
from pathlib import Path

from . import config
from .grade import NotebookResult, Options, Row, grade_notebook
from .submissions import MAX_NOTEBOOK_BYTES, Assembled, RunCell, Shown

PLUGIN_PREFIX = "course-grade-"
# Cluster settings the grader relies on: a submission is retried once after its worker
# died; a single-threaded worker holds one submission at a time; and the logs of recent
# messages kept for debugging (1,000 by default, on the client, the scheduler and every
# worker) keep 10, or each would hold the bytes of the last 1,000 submissions. Set in
# this process (client, LocalCluster); a separate scheduler and its workers need them in
# their environment (DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=1 ...).
SCHEDULER_CONFIG = {"distributed.scheduler.allowed-failures": 1,
                    "distributed.scheduler.worker-saturation": 1.0,
                    "distributed.admin.low-level-log-length": 10}
INSTALL_HINT = "pip install 'course-kit[cluster]'"


class ClusterError(RuntimeError):
    """The cluster cannot grade this course; ``str()`` is one line the CLI can print."""


class DatabaseError(RuntimeError):
    """The gradebook database cannot be used; ``str()`` is one line the CLI can print."""


# --------------------------------------------------------------------------- plain data

def result_to_plain(result: NotebookResult) -> dict:
    """A ``NotebookResult`` as dicts, lists, strings and numbers only (what crosses the wire)."""
    return {"student_id": result.student_id, "notebook": result.notebook,
            "rows": [dataclasses.asdict(r) for r in result.rows], "log": result.log,
            "assembled": (dataclasses.asdict(result.assembled)
                          if result.assembled is not None else None),
            "cell_runs": [[int(i), run] for i, run in sorted(result.cell_runs.items())]}


def result_from_plain(data: dict) -> NotebookResult:
    plan = data.get("assembled")
    assembled = None
    if plan is not None:
        assembled = Assembled(**{**plan, "run": [RunCell(**c) for c in plan["run"]],
                                 "shown": [Shown(**s) for s in plan["shown"]]})
    return NotebookResult(data["student_id"], data["notebook"],
                          [Row(**r) for r in data["rows"]], data["log"], assembled,
                          {int(i): run for i, run in data["cell_runs"]})


def task_key(course_version: str, student: str, notebook: str, sha256: str) -> str:
    """The Dask key of one submission: the same submission under the same course, the
    same key (a resubmitted task is deduplicated, a retried one idempotent)."""
    digest = hashlib.sha256("\0".join((course_version, student, notebook, sha256)).encode())
    return f"course-grade-{digest.hexdigest()[:32]}"


# --------------------------------------------------------------------------- worker side

def _worker_course_version(source_dir: str | None) -> str:
    from .batch import course_version

    return course_version(Path(source_dir) if source_dir else None)


def grader_version() -> str:
    """A short hash of the grader's own code (``autograder/*.py``): workers must grade with
    the same code as the orchestrator, or the same submission could get another grade."""
    from .batch import files_hash

    return files_hash(sorted(config.AUTOGRADER_DIR.glob("*.py")))


# Sent to every worker before the plugin: defined from source so that it is pickled by
# value and runs even where the kit is not installed (that is what it finds out).
_PROBE_SOURCE = '''
def probe(source_dir):
    import platform
    try:
        from autograder.cluster import _worker_course_version, grader_version
    except ImportError as exc:
        return {"error": f"the course kit is not installed there ({exc})"}
    try:
        return {"version": _worker_course_version(source_dir), "grader": grader_version(),
                "python": platform.python_version()}
    except Exception as exc:
        return {"error": f"its course could not be read ({type(exc).__name__}: {exc})"}
'''


def _probe_function():
    namespace = {"__name__": "course_grade_probe"}
    exec(compile(_PROBE_SOURCE, "<course-grade probe>", "exec"), namespace)
    return namespace["probe"]


try:
    from distributed.diagnostics.plugin import WorkerPlugin as _WorkerPluginBase
except ImportError:  # the extra is not installed: DaskEngine says so when it is used
    _WorkerPluginBase = object


class GraderPlugin(_WorkerPluginBase):
    """One warm zygote per Dask worker, for the course of one version.

    ``source_dir``: the instructor sources *on the workers* (None: the kit the workers
    have installed). Everything private (the zygote's scratch, the submissions being
    graded) lives in a folder of the worker's own that no sandbox can see."""

    def __init__(self, course_version: str, source_dir: str | None = None):
        self.course_version = course_version
        self.source_dir = source_dir
        self.name = PLUGIN_PREFIX + course_version

    def setup(self, worker) -> None:
        from .grade import load_course
        from .zygote import Zygote

        self.address = worker.address
        self.lock = threading.Lock()
        self.zygote = None
        version = _worker_course_version(self.source_dir)
        self.refusal = None
        if version != self.course_version:  # a worker that joined late, with another course
            self.refusal = (f"worker {worker.address} has course version {version}, the "
                            f"orchestrator {self.course_version}: install the same kit and "
                            "course on every worker")
            raise ClusterError(self.refusal)
        source = Path(self.source_dir) if self.source_dir else config.SOURCE_DIR
        self.specs = load_course(source)
        self.private = Path(tempfile.mkdtemp(prefix="course-grade-",
                                             dir=worker.local_directory))
        self.inbox = self.private / "submissions"
        self.inbox.mkdir()
        hidden = [str(source), str(Path(worker.local_directory).resolve()),
                  str(config.AUTOGRADER_DIR)]
        # Started from the worker's main thread: the zygote's parent-death signal is tied
        # to the thread that started it, and this one lives as long as the worker.
        self.zygote = Zygote(self.private / "sandbox", hidden, str(config.NOTEBOOKS_DIR),
                             lock=threading.Lock())
        self.zygote.start(wait=False)
        self._ready = False

    def grade(self, student: str, notebook: str, filename: str, data: bytes,
              options: dict) -> dict:
        if getattr(self, "refusal", None):
            raise ClusterError(self.refusal)
        with self.lock:
            if not self._ready:
                self.zygote.ready()
                self._ready = True
        folder = Path(tempfile.mkdtemp(dir=self.inbox))
        try:
            path = folder / Path(filename).name
            path.write_bytes(data)
            result = grade_notebook(self.zygote, self.specs[notebook], student, path,
                                    Options(**options))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        plain = result_to_plain(result)
        plain["log"]["dask_worker"] = self.address
        return plain

    def teardown(self, worker) -> None:
        if self.zygote is not None:
            self.zygote.close()
            self.zygote = None
        shutil.rmtree(getattr(self, "private", ""), ignore_errors=True)


def grade_submission(plugin_name: str, student: str, notebook: str, filename: str,
                     data: bytes, options: dict) -> dict:
    """The task run on a Dask worker: grade one submission with the worker's zygote."""
    from distributed import get_worker

    plugin = get_worker().plugins.get(plugin_name)
    if plugin is None:
        raise ClusterError(f"worker {get_worker().address} has no course-grade plugin "
                           f"{plugin_name}")
    return plugin.grade(student, notebook, filename, data, options)


# --------------------------------------------------------------------------- orchestrator

def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise ClusterError(f"Dask is not installed: {INSTALL_HINT}") from None
    return distributed


def _read_submission(path: Path) -> bytes | None:
    """The submitted file's bytes, or None for a file that ``submissions.load`` refuses
    before reading it (a symbolic link, not a regular file, empty, too big, unreadable):
    grading it here then gives the same one-line report as the local pool."""
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode) or not 0 < info.st_size <= MAX_NOTEBOOK_BYTES:
            return None
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as f:
            data = f.read(MAX_NOTEBOOK_BYTES + 1)
    except OSError:
        return None
    return data if len(data) <= MAX_NOTEBOOK_BYTES else None


def _as_task(task):
    from .batch import Task

    return task if isinstance(task, Task) else Task(*task)


class DaskEngine:
    """Grades submissions on a Dask cluster; the interface of ``batch._Pool``.

    scheduler: the address of a running scheduler (``tcp://host:8786``), or local: the
    number of worker processes of a ``LocalCluster`` started here (one thread each,
    127.0.0.1 only, no dashboard). specs: the orchestrator's course (``load_course``);
    course_version: ``batch.course_version(source_dir)`` of the same course;
    worker_source_dir: where the workers find the instructor sources (None: their own
    installed kit; a ``LocalCluster`` shares this machine's, so pass ``source_dir``).
    in_flight: submissions sent ahead at most (default: one per worker thread).
    """

    def __init__(self, specs: dict, options: Options, course_version: str, *,
                 scheduler: str | None = None, local: int | None = None,
                 worker_source_dir: str | Path | None = None, in_flight: int | None = None,
                 connect_timeout: float = 10.0):
        if (scheduler is None) == (local is None):
            raise ValueError("give exactly one of scheduler= and local=")
        distributed = _import_distributed()
        import dask

        self.specs, self.options, self.course_version = specs, options, course_version
        self.in_flight = in_flight
        self.cluster = None
        self.client = None
        self.workers: dict[str, dict] = {}
        self._in_flight: dict = {}  # key -> future
        self._registered = False
        self.scheduler_address = scheduler
        source = str(worker_source_dir) if worker_source_dir else None
        self.plugin = GraderPlugin(course_version, source)
        try:
            with dask.config.set(SCHEDULER_CONFIG):
                if local is not None:
                    self.cluster = _ignoring_ctrl_c(lambda: distributed.LocalCluster(
                        n_workers=local, threads_per_worker=1, processes=True,
                        host="127.0.0.1", scheduler_port=0, dashboard_address=None,
                        # their HTTP servers (health, metrics) on loopback too
                        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                        worker_dashboard_address="127.0.0.1:0", silence_logs=40))
                    self.client = distributed.Client(self.cluster, timeout=connect_timeout)
                    self.scheduler_address = self.cluster.scheduler_address
                else:
                    self.client = self._connect(distributed, scheduler, connect_timeout)
            self._check_workers(source)
            self.client.register_plugin(self.plugin, name=self.plugin.name)
            self._registered = True
        except ClusterError:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise ClusterError(f"the Dask workers could not start grading: "
                               f"{_first_line(exc)}") from None

    @classmethod
    def factory(cls, *, scheduler: str | None = None, local: int | None = None,
                source_dir: str | Path | None = None,
                worker_source_dir: str | Path | None = None, **kwargs):
        """What ``batch.autograde(engine=...)`` takes: ``make(zygote, specs, options,
        n_tasks)`` returning an engine. The orchestrator's zygote is not used (each Dask
        worker has its own). ``source_dir``: the instructor sources here (for the course
        version); the workers of a ``local`` cluster read the same ones."""
        from .batch import course_version

        if local is not None and worker_source_dir is None:
            worker_source_dir = source_dir

        def make(zygote, specs, options, n_tasks):
            return cls(specs, options, course_version(source_dir), scheduler=scheduler,
                       local=local, worker_source_dir=worker_source_dir, **kwargs)
        return make

    @staticmethod
    def _connect(distributed, address: str, timeout: float):
        try:
            return distributed.Client(address, timeout=timeout, set_as_default=False)
        except Exception as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {address} "
                               f"({_first_line(exc)})") from None

    def _check_workers(self, source: str | None) -> None:
        """Every worker has the kit and this course version, or one line says which not."""
        answers = self.client.run(_probe_function(), source, on_error="return")
        for address, answer in sorted(answers.items()):
            if isinstance(answer, BaseException):
                answer = {"error": f"{type(answer).__name__}: {_first_line(answer)}"}
            if "error" in answer:
                raise ClusterError(f"worker {address} cannot grade: {answer['error']} "
                                   f"({INSTALL_HINT} and the course on every worker)")
            if answer.get("grader") != grader_version():
                raise ClusterError(
                    f"worker {address} has another version of the grader's code "
                    f"({answer.get('grader')}, this machine {grader_version()}): install "
                    "the same course-kit on every worker")
            if answer["version"] != self.course_version:
                raise ClusterError(
                    f"worker {address} has course version {answer['version']}, this "
                    f"machine {self.course_version}: install the same kit and course on "
                    "every worker")

    # ------------------------------------------------------------------ grading

    def _limit(self) -> int:
        if self.in_flight:
            return self.in_flight
        return max(1, sum(self.client.nthreads().values()))

    def _submit(self, task):
        """A future for the task, or a finished result (nothing submitted: no file)."""
        data = _read_submission(task.path) if task.path is not None else None
        if data is None:  # not submitted, or a file the grader refuses: no sandbox needed
            return grade_notebook(None, self.specs[task.notebook], task.student, task.path,
                                  self.options)
        sha = task.sha256 or hashlib.sha256(data).hexdigest()
        key = task_key(self.course_version, task.student, task.notebook, sha)
        return self.client.submit(grade_submission, self.plugin.name, task.student,
                                  task.notebook, str(task.path), data,
                                  dataclasses.asdict(self.options), key=key, pure=False)

    def run(self, tasks):
        """Yield a NotebookResult per task, in the order they finish."""
        from distributed import as_completed

        pending = iter([_as_task(t) for t in tasks])
        waiting = as_completed()
        of_key: dict[str, list] = {}  # key -> tasks (the same submission listed twice)
        limit, checked = self._limit(), time.monotonic()
        exhausted = False
        while True:
            while not exhausted and len(of_key) < limit:
                task = next(pending, None)
                if task is None:
                    exhausted = True
                    break
                submitted = self._submit(task)
                if isinstance(submitted, NotebookResult):
                    yield submitted
                    continue
                if submitted.key not in of_key:
                    waiting.add(submitted)
                    self._in_flight[submitted.key] = submitted
                of_key.setdefault(submitted.key, []).append(task)
            if not of_key:
                return
            future = next(waiting)
            for task in of_key.pop(future.key):
                yield self._collect(future, task)
            self._in_flight.pop(future.key, None)
            future.release()
            if time.monotonic() - checked > 1.0:  # workers come and go
                limit, checked = self._limit(), time.monotonic()

    def _collect(self, future, task) -> NotebookResult:
        from distributed import KilledWorker

        try:
            result = result_from_plain(future.result())
        except KilledWorker:
            return self._local_error(
                task, "the grader's process died twice while grading this notebook (its "
                "Dask worker was lost each time)", "crashed")
        except Exception as exc:
            return self._local_error(task, f"grader error ({type(exc).__name__}: "
                                     f"{_first_line(exc)}); please tell your instructor",
                                     "grader error")
        result.log["file"] = str(task.path)
        worker = self.workers.setdefault(result.log.get("dask_worker", "?"),
                                         {"notebooks": 0, "isolation": None})
        worker["notebooks"] += 1
        isolation = result.log.get("isolation")
        if isolation and isolation.get("measured"):
            worker["isolation"] = isolation
        return result

    def _local_error(self, task, message: str, status: str) -> NotebookResult:
        spec = self.specs[task.notebook]
        row_status = {"crashed": "crashed", "unreadable": "error"}.get(status, "error")
        rows = [Row(task.student, spec.notebook, i["grade_id"], 0.0, i["points"], row_status,
                    message) for i in spec.items]
        log = {"student_id": task.student, "notebook": spec.notebook, "file": str(task.path),
               "status": status, "points": 0.0, "max_points": spec.max_auto,
               "problems": [message], "seconds": {"total": 0.0}}
        return NotebookResult(task.student, spec.notebook, rows, log)

    # ------------------------------------------------------------------ reporting

    def describe(self) -> dict:
        """``{"engine": "dask", "scheduler": address, "workers": [...]}``, one entry per
        worker: ``address``, ``notebooks`` graded through this engine, and ``isolation`` as
        measured in its sandboxes (None before it graded any)."""
        addresses = set(self.workers)
        if self.client is not None and self.client.status == "running":
            addresses |= set(self.client.nthreads())
        addresses.discard("?")
        return {"engine": "dask", "scheduler": self.scheduler_address,
                "workers": [{"address": a,
                             "notebooks": self.workers.get(a, {}).get("notebooks", 0),
                             "isolation": self.workers.get(a, {}).get("isolation")}
                            for a in sorted(addresses)]}

    def worker_pids(self) -> dict[str, int]:
        """``{address: pid}`` of the worker processes (to watch or stop them)."""
        return self.client.run(os.getpid)

    def close(self, now: bool = False) -> None:
        """Stop the zygotes on the workers; stop the LocalCluster if this engine started it.
        ``now``: cancel what is still being graded (after Ctrl-C) instead of letting it end
        unseen."""
        if self.client is not None and self._in_flight:
            try:
                self.client.cancel(list(self._in_flight.values()), force=now)
            except Exception:
                pass  # the scheduler is gone
        self._in_flight = {}
        if self.client is not None:
            if self.cluster is None and self._registered:
                try:
                    self.client.unregister_worker_plugin(self.plugin.name)
                except Exception:
                    pass  # the scheduler is gone or never had it
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None


def _ignoring_ctrl_c(start):
    """Start worker processes that ignore SIGINT (they inherit it): Ctrl-C reaches the whole
    process group, and the orchestrator, not each worker, decides what happens then (it
    saves what was graded and closes the cluster)."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        return start()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return start()
    finally:
        signal.signal(signal.SIGINT, previous)


def check_scheduler(address: str, timeout: float = 5.0) -> None:
    """Connect to a Dask scheduler once and let go; :class:`ClusterError` (one line) if it
    cannot be reached. For the command line, before it reads the class."""
    distributed = _import_distributed()
    DaskEngine._connect(distributed, address, timeout).close()


# --------------------------------------------------------------------------- the gradebook

def check_database(db_url: str, timeout: float = 5.0) -> None:
    """Connect to the gradebook database once; raise :class:`DatabaseError` (one line, no
    password) when it cannot be used. Call it before grading starts."""
    import sqlalchemy
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

    from .store import _safe_url

    try:
        url = sqlalchemy.engine.make_url(db_url)
    except ArgumentError:
        raise DatabaseError(f"not a database URL: {_safe_url(db_url)}") from None
    connect_args = {"connect_timeout": int(max(1, timeout))} \
        if url.get_backend_name() == "postgresql" else {}
    try:
        engine = sqlalchemy.create_engine(url, connect_args=connect_args)
    except (NoSuchModuleError, ImportError) as exc:
        hint = " (pip install 'course-kit[postgres]')" \
            if url.get_backend_name() == "postgresql" else ""
        raise DatabaseError(f"no driver for {_safe_url(db_url)}: {_first_line(exc)}{hint}") \
            from None
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        raise DatabaseError(f"cannot use the gradebook database {_safe_url(db_url)}: "
                            f"{_first_line(cause)}") from None
    finally:
        engine.dispose()
