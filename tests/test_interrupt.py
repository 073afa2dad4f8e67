"""Interruptions lose nothing: Ctrl-C or SIGTERM to ``course-grade autograde`` mid-batch,
or a grader process killed.

The orchestrator stops its grader processes, zygote and sandboxed workers (none outlives
it), keeps every notebook graded so far in the gradebook, exits with one clear line, and
the same command run again finishes the batch: the final gradebook equals the one an
uninterrupted run makes.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder import config, course
from tests.hostile import minicourse as mc

pytestmark = pytest.mark.slow
STUDENTS = [f"s{n:02d}" for n in range(10)]
# Each submission burns about half a second of CPU in a cell it adds, so the batch lasts
# long enough to be interrupted in the middle.
BUSY = "import time\n_t = time.process_time()\nwhile time.process_time() - _t < 0.5:\n    pass"


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A course directory with a class of ten (half right, half partly right), not graded."""
    root = tmp_path_factory.mktemp("interrupt")
    built = mc.build(root)
    src, stu = built[mc.NB_ID]
    cd = root / "course"
    shutil.copytree(root / "autograder" / "source", cd / "source")
    shutil.copy(config.KIT_DIR / "nbgrader_config.py", cd / "nbgrader_config.py")
    for n, student in enumerate(STUDENTS):
        nb = mc.reference(src, stu) if n % 2 else course.fill_in_answers(
            stu, src, only={"relu_forward_solution"})
        nb.cells.append(nbformat.v4.new_code_cell(BUSY))
        mc.write(cd / "submitted", student, mc.NB_ID, nb, layout="nbgrader")
    return cd


def _copy(template: Path, dest: Path) -> Path:
    shutil.copytree(template, dest)
    return dest


def _command(cd: Path, engine: str = "pool") -> list[str]:
    where = ["--workers", "2"] if engine == "pool" else ["--cluster", "local:2"]
    return [sys.executable, "-m", "autograder", "autograde", "--course", str(cd), "--quiet",
            *where]


def _scores(cd: Path) -> dict:
    with Gradebook(f"sqlite:///{cd / 'gradebook.db'}") as gb:
        out = {}
        for sub in gb.find_assignment(mc.NB_ID).submissions:
            for nb in sub.notebooks:
                for g in nb.grades:
                    out[(sub.student.id, g.name)] = (g.auto_score, g.needs_manual_grade)
        return out


def _wait_until_graded(proc, cd: Path, n: int, timeout: float = 600) -> None:
    """Until the running batch has logged ``n`` graded notebooks (or it ended)."""
    log = cd / "grades" / "log.jsonl"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if log.exists() and len(log.read_text().splitlines()) >= n:
            return
        time.sleep(0.05)


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture(scope="module")
def uninterrupted(template, tmp_path_factory):
    cd = _copy(template, tmp_path_factory.mktemp("whole") / "course")
    proc = subprocess.run(_command(cd), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    scores = _scores(cd)
    assert len({s for s, _ in scores}) == len(STUDENTS)
    return scores


# SIGTERM is handled by the orchestrator alone, whatever the engine; Ctrl-C also reaches
# every process the engine started (the Dask case found worker tracebacks there).
@pytest.mark.parametrize("how, engine", [("ctrl-c", "pool"), ("sigterm", "pool"),
                                         ("ctrl-c", "dask")])
def test_an_interrupted_batch_keeps_its_work_and_the_rerun_finishes_it(
        how, engine, template, uninterrupted, tmp_path):
    """The local pool, and a Dask LocalCluster the orchestrator started (its workers,
    nannies and their sandboxes must all go)."""
    cd = _copy(template, tmp_path / "course")
    proc = subprocess.Popen(_command(cd, engine), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    _wait_until_graded(proc, cd, 3)
    assert proc.poll() is None, "the batch ended before it could be interrupted"
    family = _descendants(proc.pid)
    assert family, "no grader processes were found"
    if how == "ctrl-c":  # a terminal sends SIGINT to the whole foreground process group
        os.killpg(proc.pid, signal.SIGINT)
    else:  # a scheduler or `kill` sends SIGTERM to the main process only
        proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert "interrupted after" in err and "run the same command again" in err
    assert "Traceback" not in err, err[-3000:]
    time.sleep(0.5)
    survivors = [p for p in family if _alive(p)]
    assert not survivors, f"processes outlived the orchestrator: {survivors}"

    kept = _scores(cd)
    kept_students = {s for s, _ in kept}
    assert 3 <= len(kept_students) < len(STUDENTS)
    assert kept == {k: v for k, v in uninterrupted.items() if k[0] in kept_students}

    again = subprocess.run(_command(cd, engine), capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"({len(kept_students)} unchanged" in again.stdout
    assert _scores(cd) == uninterrupted
    lines = (cd / "grades" / "grades.csv").read_text().splitlines()
    assert len(lines) == 1 + len(STUDENTS) * len(mc.POINTS)  # no row lost, none twice


def _grader_slots(pid: int) -> list[int]:
    """The orchestrator's grader processes (forks of it; the zygote is another program)."""
    out = []
    for child in _descendants(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            ppid = int(Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            continue
        if ppid == pid and b"autograder.zygote" not in cmdline:
            out.append(child)
    return out


def test_a_grader_process_killed_mid_notebook_costs_no_points(template, uninterrupted,
                                                              tmp_path):
    """A grader-side failure (here its process killed) is reported and left ungraded, never
    written as 0 points; the batch goes on, and the re-run grades what it missed."""
    cd = _copy(template, tmp_path / "course")
    proc = subprocess.Popen(_command(cd), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    _wait_until_graded(proc, cd, 2)
    slots = _grader_slots(proc.pid)
    assert slots and proc.poll() is None
    os.kill(slots[0], signal.SIGKILL)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 1, out[-2000:] + err[-2000:]
    assert "NOT graded because of a problem on the grader's side" in out
    assert "the grader process died" in out
    kept = _scores(cd)
    assert kept == {k: v for k, v in uninterrupted.items() if k[0] in {s for s, _ in kept}}
    assert len({s for s, _ in kept}) == len(STUDENTS) - 1  # the one being graded is missing
    again = subprocess.run(_command(cd), capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Graded 1 notebooks" in again.stdout
    assert _scores(cd) == uninterrupted
