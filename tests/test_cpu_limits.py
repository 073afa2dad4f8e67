"""Time limits count the student's CPU time; a far larger wall-clock ceiling catches code
that sleeps; the zygote is waited on while it is alive and working, however slow.

Real workers forked from a real zygote, real sleeps and busy loops: no clock is faked.
"""

import os
import signal
import time

import pytest

from autograder import config, frames
from autograder import zygote as zygote_module
from autograder.frames import SandboxTimeout
from autograder.grade import Options
from autograder.session import HARD_GRACE, Sandbox
from autograder.zygote import Zygote, ZygoteError

pytestmark = pytest.mark.slow

CPU = 1.0  # seconds of CPU time per cell in these tests

BUSY = "while True:\n    pass"
STUBBORN_BUSY = ("import signal\nsignal.signal(signal.SIGPROF, signal.SIG_IGN)\n"
                 "signal.signal(signal.SIGALRM, signal.SIG_IGN)\n" + BUSY)
STUBBORN_SLEEP = ("import signal, time\nsignal.signal(signal.SIGPROF, signal.SIG_IGN)\n"
                  "signal.signal(signal.SIGALRM, signal.SIG_IGN)\ntime.sleep(3600)")
BUSY_CHILD = ("import os\npid = os.fork()\nif pid == 0:\n    while True:\n        pass\n"
              "os.waitpid(pid, 0)")  # the worker itself only waits: its child does the work


def _zygote(tmp_path) -> Zygote:
    return Zygote(tmp_path / "zygote", [], str(config.NOTEBOOKS_DIR))


@pytest.fixture(scope="module")
def zygote(tmp_path_factory):
    z = _zygote(tmp_path_factory.mktemp("cpu")).start()
    yield z
    z.close()


@pytest.fixture
def worker(zygote):
    sb = Sandbox(zygote, Options(timeout_notebook=60).limits())
    sb.start()
    yield sb
    sb.close()


def test_a_sleeping_cell_is_not_stopped_at_the_cpu_limit(worker):
    result = worker.run_cell(f"import time\ntime.sleep({3 * CPU})", CPU, 60)
    assert result["status"] == "ok", result
    assert result["seconds"] >= 3 * CPU and result["cpu_seconds"] < CPU


def test_a_sleeping_cell_is_stopped_at_the_wall_clock_ceiling(worker):
    result = worker.run_cell("import time\ntime.sleep(3600)", CPU, 2.0)
    assert (result["status"], result["limit"]) == ("timeout", "wall"), result
    assert worker.alive


def test_a_busy_cell_is_stopped_at_the_cpu_limit(worker):
    result = worker.run_cell(BUSY, CPU, 600)
    assert (result["status"], result["limit"]) == ("timeout", "cpu"), result
    assert result["cpu_seconds"] >= CPU * 0.9
    assert worker.run_cell("1 + 1", CPU, 60)["status"] == "ok"  # the worker is still usable


def test_a_busy_cell_that_ignores_the_timers_is_killed_after_its_cpu_limit(worker):
    with pytest.raises(SandboxTimeout) as caught:
        worker.run_cell(STUBBORN_BUSY, CPU, 600)
    assert caught.value.limit == "cpu" and not worker.alive
    assert worker.exit_info["cpu_seconds"] >= CPU + HARD_GRACE * 0.9


def test_the_cpu_of_processes_the_cell_started_counts(worker):
    with pytest.raises(SandboxTimeout) as caught:
        worker.run_cell(BUSY_CHILD, CPU, 600)
    assert caught.value.limit == "cpu" and not worker.alive


def test_a_sleeping_cell_that_ignores_the_timers_is_killed_after_its_wall_ceiling(worker):
    with pytest.raises(SandboxTimeout) as caught:
        worker.run_cell(STUBBORN_SLEEP, CPU, 1.0)
    assert caught.value.limit == "wall" and not worker.alive


def test_an_items_requests_share_one_cpu_budget(worker):
    worker.run_cell("def spin(seconds):\n    import time\n    t = time.process_time()\n"
                    "    while time.process_time() - t < seconds:\n        pass\n    return 1",
                    CPU, 60)
    from autograder.channel import Client

    spin = Client(worker).ref("spin")
    worker.begin_item(2 * CPU, 600)
    assert spin(0.6 * CPU) == 1  # 0.6 of the 2 s used
    assert spin(0.6 * CPU) == 1  # 1.2 used
    with pytest.raises(SandboxTimeout) as caught:
        spin(2 * CPU)  # only 0.8 left
    assert caught.value.limit == "cpu" and caught.value.soft and worker.alive


def test_the_graders_own_time_is_not_charged_to_the_student(worker):
    """An item's wall-clock ceiling counts the waits for the worker's answers only: a
    grader that is slow (starved, or busy with a heavy check) between two calls costs the
    student nothing."""
    from autograder.channel import Client

    worker.run_cell("def f():\n    return 1", CPU, 60)
    f = Client(worker).ref("f")
    worker.begin_item(CPU, 1.0)
    assert f() == 1
    time.sleep(1.5)  # the grader's own work between two calls
    assert f() == 1
    assert worker.waited < 1.0


def test_the_wall_ceiling_follows_the_cpu_limit():
    options = Options(timeout_cell=3, timeout_notebook=600)
    assert options.wall_ceiling(3) == 63  # short limits: the limit + 60 s
    assert options.wall_ceiling(60) == 600  # long ones: 10 x the limit
    assert Options(wall_factor=2, wall_slack=5).wall_ceiling(60) == 120


# --------------------------------------------------------------------------- the zygote

def test_a_warming_zygote_is_waited_for_past_its_wall_ceiling(tmp_path, monkeypatch):
    """Warming up takes seconds of CPU: with a ceiling of 0 s (what a starved machine does
    to any fixed wait), the zygote is still waited for because it is working."""
    monkeypatch.setattr(frames, "STALL", 5.0)  # network namespaces are set up in-kernel
    z = _zygote(tmp_path)
    try:
        z.start(wait=False).ready(timeout=0.0)
        assert z.features
    finally:
        z.close()


def test_a_stuck_zygote_is_given_up_on_in_one_line(tmp_path, monkeypatch):
    """A zygote that uses no CPU past the ceiling (here: stopped) is stuck."""
    monkeypatch.setattr(frames, "STALL", 1.0)
    monkeypatch.setattr(zygote_module, "REQUEST_PATIENCE", (1.0, 60.0))
    z = _zygote(tmp_path).start()
    pid = z._proc.pid
    try:
        os.kill(pid, signal.SIGSTOP)
        with pytest.raises(ZygoteError) as caught:
            Sandbox(z, Options().limits()).start()
        message = str(caught.value)
        assert "\n" not in message and "used no CPU" in message, message
        assert isinstance(caught.value, OSError)  # the command line prints it in one line
    finally:
        os.kill(pid, signal.SIGKILL)
        z._proc.wait()
        z._proc = None
        z.close()


def test_a_dead_zygote_is_reported_in_one_line(tmp_path):
    z = _zygote(tmp_path).start()
    try:
        os.kill(z._proc.pid, signal.SIGKILL)
        z._proc.wait()
        with pytest.raises(ZygoteError) as caught:
            Sandbox(z, Options().limits()).start()
        assert str(caught.value) == zygote_module._EXITED
    finally:
        z.close()
