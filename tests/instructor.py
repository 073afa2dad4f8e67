"""The instructor's path through nbgrader, as real processes: helpers for
``tests/test_instructor_path.py``.

* :class:`Course`: a course directory made by ``course-grade init`` in a temporary folder,
  with nbgrader's exchange in a temporary folder of its own, and the venv's ``nbgrader``
  and ``course-grade`` run in it with HOME pointed at a temporary home;
* :class:`Student`: a student with a home and working folder of their own, who fetches,
  fills in and submits through the same exchange (``--student`` names them);
* :class:`Formgrader`: the venv's JupyterLab, with nbgrader's server extension, serving the
  course directory on 127.0.0.1 with a random port and token.

Every subprocess runs with a clean environment and a timeout; every command's wall time is
kept in :data:`TIMINGS` for the report.
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import nbformat

from autograder import config
from tests.nbtools import jupyterlab_command, stop_process_group

VENV_BIN = Path(sys.executable).parent
NBGRADER = VENV_BIN / "nbgrader"
COURSE_GRADE = VENV_BIN / "course-grade"
COURSE_ID = "nn-first-principles"
TIMINGS: list[tuple[str, float]] = []


class CommandFailed(AssertionError):
    pass


def clean_env(home: Path) -> dict[str, str]:
    """A minimal environment: the venv first on PATH and a home of its own, so nothing
    reads or writes the real home (nbgrader's cache, Jupyter's config and runtime). The
    commands import ``autograder`` and ``course_lib`` from the checkout this test runs in."""
    return {"PATH": f"{VENV_BIN}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
            "PYTHONPATH": str(config.ROOT),
            "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1"}


def run(cmd: list, *, cwd: Path, home: Path, timeout: float, label: str,
        check: bool = True) -> subprocess.CompletedProcess:
    """Run ``cmd`` in ``cwd`` with a clean environment and a time limit; fail with its output."""
    start = time.perf_counter()
    try:
        proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=clean_env(home),
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise CommandFailed(f"{label}: no answer after {timeout:.0f} s\n"
                            f"{_tail(exc.stdout)}\n{_tail(exc.stderr)}") from None
    finally:
        TIMINGS.append((label, time.perf_counter() - start))
    if check and proc.returncode != 0:
        raise CommandFailed(f"{label} exited with {proc.returncode}:\n"
                            f"{_tail(proc.stdout)}\n{_tail(proc.stderr)}")
    return proc


def _tail(text, n: int = 4000) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return (text or "")[-n:]


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def parse_timestamp(text: str) -> datetime:
    """nbgrader's ``timestamp.txt`` (``2026-12-03 08:00:00.123456 UTC``) as naive UTC."""
    stamp = text.strip()
    assert stamp.endswith(" UTC"), stamp
    return datetime.strptime(stamp[:-4], "%Y-%m-%d %H:%M:%S.%f")


class Course:
    """An nbgrader course directory in ``base/course`` with its exchange in ``base/exchange``."""

    def __init__(self, base: Path, nb_id: str):
        self.base, self.nb_id = base, nb_id
        self.root = base / "course"
        self.exchange = base / "exchange"
        self.home = base / "instructor-home"
        self.home.mkdir()
        self.exchange.mkdir()
        self.exchange.chmod(0o777)  # as nbgrader asks of a shared exchange
        self.course_grade("init", self.root, cwd=base, timeout=120)
        assert (self.root / "source" / nb_id / f"{nb_id}.ipynb").is_file()
        with open(self.root / "nbgrader_config.py", "a") as f:
            f.write("\n# Added by the instructor-path test: a private exchange.\n"
                    f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
                    f"c.Exchange.root = {str(self.exchange)!r}\n")

    @property
    def gradebook_url(self) -> str:
        return f"sqlite:///{self.root / 'gradebook.db'}"

    def gradebook(self):
        from nbgrader.api import Gradebook

        return Gradebook(self.gradebook_url, COURSE_ID)

    def nbgrader(self, *args, timeout: float = 180, check: bool = True):
        return run([NBGRADER, *args], cwd=self.root, home=self.home, timeout=timeout,
                   label=f"nbgrader {args[0]}" + (f" {args[1]}" if args[0] == "db" else ""),
                   check=check)

    def course_grade(self, *args, cwd: Path | None = None, timeout: float = 180,
                     label: str | None = None):
        return run([COURSE_GRADE, *args], cwd=cwd or self.root, home=self.home,
                   timeout=timeout, label=label or f"course-grade {args[0]}")

    def set_duedate(self, due: datetime) -> None:
        """Through nbgrader's own command, as an instructor would."""
        stamp = due.strftime("%Y-%m-%d %H:%M:%S") + " UTC"
        self.nbgrader("db", "assignment", "add", self.nb_id, f"--duedate={stamp}")

    def submitted(self, student: str) -> Path:
        return self.root / "submitted" / student / self.nb_id

    def autograded(self, student: str) -> Path:
        return self.root / "autograded" / student / self.nb_id / f"{self.nb_id}.ipynb"


class Student:
    """A student with a home and a working folder of their own, talking to the exchange
    through their own nbgrader config (as a JupyterHub's /etc/jupyter would give them)."""

    def __init__(self, course: Course, student_id: str):
        self.course, self.id = course, student_id
        self.home = course.base / "students" / student_id
        self.work = self.home / "work"
        self.work.mkdir(parents=True)
        (self.home / ".jupyter").mkdir()
        (self.home / ".jupyter" / "nbgrader_config.py").write_text(
            "c = get_config()  # noqa: F821\n"
            f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
            f"c.Exchange.root = {str(course.exchange)!r}\n")

    @property
    def notebook(self) -> Path:
        nb_id = self.course.nb_id
        return self.work / nb_id / f"{nb_id}.ipynb"

    def nbgrader(self, *args, timeout: float = 120):
        return run([NBGRADER, *args, f"--student={self.id}"], cwd=self.work, home=self.home,
                   timeout=timeout, label=f"nbgrader {args[0]} ({self.id})")

    def fetch(self) -> nbformat.NotebookNode:
        self.nbgrader("fetch_assignment", self.course.nb_id)
        return nbformat.read(str(self.notebook), as_version=4)

    def submit(self, nb) -> datetime:
        """Save ``nb`` as the assignment's notebook and submit it; nbgrader's timestamp."""
        nbformat.write(nb, str(self.notebook))
        out = self.nbgrader("submit", self.course.nb_id)
        shown = re.search(rf"Submitted as: {COURSE_ID} {self.course.nb_id} (.+ UTC)",
                          out.stdout + out.stderr)
        assert shown, f"nbgrader submit did not say what it submitted:\n{out.stderr[-2000:]}"
        return parse_timestamp(shown.group(1))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Formgrader:
    """The venv's JupyterLab in the course directory (nbgrader's formgrader reads
    ``nbgrader_config.py`` from the server's working directory) on 127.0.0.1."""

    def __init__(self, course: Course, log: Path, start_timeout: float = 180):
        self.port, self.token = free_port(), secrets.token_hex(24)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = log
        home = course.base / "server-home"
        home.mkdir()
        env = clean_env(home)
        env.update(JUPYTERLAB_SETTINGS_DIR=str(home / "user-settings"),
                   JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"))
        cmd = jupyterlab_command(self.port, self.token, course.root)
        start = time.perf_counter()
        with open(log, "w") as out:
            self.proc = subprocess.Popen(cmd, cwd=course.root, env=env, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                self.api("/api/status")
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise CommandFailed(
                        f"JupyterLab did not start:\n{_tail(log.read_text())}") from None
                time.sleep(0.5)
        TIMINGS.append(("JupyterLab start", time.perf_counter() - start))

    def api(self, path: str):
        req = urllib.request.Request(self.base_url + path,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}?token={self.token}"

    def stop(self) -> None:
        stop_process_group(self.proc)
