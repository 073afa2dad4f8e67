"""The Colab path: Colab's own package versions, and the notebook's first cell installing the kit.

Colab has neither JupyterLab nor nbgrader, runs ipywidgets 7.7.1, IPython 7.34 and
ipykernel 6.17 (not the newest releases), and does not have the notebook file on the
kernel's disk. Here: a fresh venv holding exactly the versions of ``tests/colab_pins.txt``
(Colab's published package lists; ``pip check`` proves them consistent), a kernel started
from it with a clean environment in an empty working directory, and the notebook's own first
cell, with the Colab detection forced on (``COURSE_FORCE_COLAB=1``) and the install source
pointed at a git snapshot of this checkout (``COURSE_INSTALL_SOURCE``), doing what it does on
Colab: ``git clone``, ``pip install`` (not editable), ``COURSE_DATA``. ``pip freeze`` then
proves that installing the kit changed none of Colab's packages. Every student notebook runs
in that kernel with nbclient, with the reference answers (every check passes, the scorecard
gives every point) and blank (every check fails with its readable message, the scorecard
gives none). The set-up cell is run again in the same kernel and after a restart (a new
kernel): it reuses the clone, re-sets what a restart drops, and stops with one line asking
for a restart when a module it loaded is older than what is now installed.

The venv is Python 3.11 (this machine's), not Colab's 3.12. It is built once per session
(``colab_kit``, shared with ``tests/test_colab_widgets.py``, which serves it to a real
browser through the classic Notebook 6 installed in it, as in Colab).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

from autograder import config, course, release
from course_lib import scorecard as sc
from tests import nbtools

IDS = course.notebook_ids()
KERNEL = "colab-like"
PINS = config.ROOT / "tests" / "colab_pins.txt"
# What must not leak from the developer's environment into the student's kernel.
LEAKS = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "CONDA_PREFIX", "MPLBACKEND", "IPYTHONDIR",
         "JUPYTER_PATH", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR")

PROBE = """\
import importlib.util, json, os, sys, course_lib
from course_lib.data import load_cifar10
X_train, y_train, X_test, y_test = load_cifar10(verbose=False)
print("PROBE " + json.dumps({
    "course_lib": course_lib.__file__, "prefix": sys.prefix,
    "COURSE_DATA": os.environ.get("COURSE_DATA"), "X_train": list(X_train.shape),
    "absent": [m for m in ("nbgrader", "jupyterlab", "pytest")
               if importlib.util.find_spec(m) is None]}))"""


def _run(cmd, **kw):
    out = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({out.returncode}):\n"
                           f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


def _requirement(line: str) -> tuple[str, str]:
    """``("name", "1.2")`` of ``name==1.2``, ``("name", "@ url")`` of ``name @ url``."""
    line = line.split("#")[0].strip() if " @ " not in line else line.strip()
    name, version = line.split(" @ ", 1) if " @ " in line else line.split("==")
    return re.sub(r"[-_.]+", "-", name).lower(), version if "==" in line else f"@ {version}"


def pins() -> dict[str, str]:
    return dict(_requirement(line) for line in PINS.read_text().splitlines()
                if line.split("#")[0].strip())


def snapshot_checkout(dest: Path) -> Path:
    """A git repository holding this checkout's files as a clone of it would (tracked and
    new files, nothing ignored), so uncommitted work is what gets tested."""
    listed = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                  cwd=config.ROOT).stdout.split("\0")
    for rel in filter(None, listed):
        src = config.ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    git = ["git", "-c", "user.name=course-kit tests", "-c", "user.email=tests@localhost"]
    _run(git + ["init", "-q", "-b", "main"], cwd=dest)
    _run(git + ["add", "-A"], cwd=dest)
    _run(git + ["commit", "-q", "-m", "snapshot of the checkout under test"], cwd=dest)
    return dest


class ColabLike:
    """A venv with only ipykernel (then what the Colab cell installs) and its kernel."""

    def __init__(self, base: Path):
        self.base = base
        self.venv = base / "venv"
        self.python = self.venv / "bin" / "python"
        self.home = base / "home"  # the Colab cell clones into ~/course-kit
        self.content = base / "content"  # the kernel's working directory, as /content in Colab
        self.kernels = base / "kernels"
        self.source = snapshot_checkout(base / "course-kit-repo")
        self.timings: dict[str, float] = {}
        for d in (self.home, self.content):
            d.mkdir()
        start = time.perf_counter()
        _run([sys.executable, "-m", "venv", str(self.venv)])
        # Colab's image: exactly the pinned closure (--no-deps: nothing resolved today), put
        # in place by uv (a few seconds; pip takes about a minute for these 74 packages), then
        # pip's proof that it is consistent. The kit itself is installed by the set-up cell,
        # with pip, as in Colab.
        tools = base / "tools"
        _run([sys.executable, "-m", "venv", "--without-pip", str(tools)])
        _run([sys.executable, "-m", "pip", "--python", str(tools / "bin" / "python"), "install",
              "--quiet", "uv"], env=self._pip_env())
        _run([tools / "bin" / "uv", "pip", "install", "--quiet", "--python", str(self.python),
              "--no-deps", "-r", str(PINS)], env=self._pip_env())
        _run([self.python, "-m", "pip", "check"], env=self._pip_env())
        self.timings["venv with Colab's pins"] = time.perf_counter() - start
        self.frozen_before = self.freeze()
        spec = self.kernels / KERNEL
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [str(self.python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Colab-like", "language": "python"}))

    def freeze(self) -> dict[str, str]:
        """``{normalised name: version}`` of everything installed in the venv."""
        out = _run([self.python, "-m", "pip", "freeze", "--all"], env=self._pip_env()).stdout
        return dict(_requirement(line) for line in out.splitlines() if line.strip())

    def _pip_env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in LEAKS}
        if "PIP_CACHE_DIR" not in env:  # HOME changes below; keep the developer's pip cache
            env["PIP_CACHE_DIR"] = str(Path.home() / ".cache" / "pip")
        env.setdefault("PIP_NO_COMPILE", "1")  # byte-compile lazily, on import: much faster
        return env

    def env(self, **extra) -> dict:
        env = self._pip_env()
        env = {k: v for k, v in env.items() if not k.startswith("COURSE_")}
        env.update(PATH=f"{self.venv / 'bin'}{os.pathsep}/usr/local/bin:/usr/bin:/bin",
                   HOME=str(self.home), **extra)
        return env

    def execute(self, nb, *, allow_errors: bool = False, timeout: int = 900, **env):
        """Run a notebook top to bottom in a fresh kernel of this venv; return it."""
        nb = nbformat.from_dict(nb)
        km = AsyncKernelManager(kernel_name=KERNEL, kernel_spec_manager=KernelSpecManager(
            kernel_dirs=[str(self.kernels)]))
        client = NotebookClient(nb, km=km, timeout=timeout, allow_errors=allow_errors,
                                resources={"metadata": {"path": str(self.content)}})
        # cleanup_kc: shut the kernel down afterwards (nbclient keeps a kernel whose manager
        # it was given alive, and each would live until the session ends).
        client.execute(env=self.env(**env), cleanup_kc=True)
        return nb


_SHARED: dict = {}


def colab_kit(tmp_path_factory) -> ColabLike:
    """The Colab-like kernel, after the Colab cell installed the kit in it, with what a probe
    saw right after that cell; built once per session for every module that asks."""
    if "kit" in _SHARED:
        return _SHARED["kit"]
    kit = ColabLike(tmp_path_factory.mktemp("colab"))
    missing = subprocess.run([kit.python, "-c", "import course_lib"], env=kit.env(),
                             cwd=kit.content, capture_output=True)
    assert missing.returncode != 0, "the fresh venv must not have the kit before the Colab cell"
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(release.colab_setup_source(), id=course.COLAB_CELL_ID),
        nbformat.v4.new_code_cell(PROBE, id="probe")])
    start = time.perf_counter()
    ran = kit.execute(nb, COURSE_FORCE_COLAB="1", COURSE_INSTALL_SOURCE=kit.source.as_uri())
    kit.timings["Colab cell (clone + pip install)"] = time.perf_counter() - start
    kit.setup_output = nbtools.cell_text(ran.cells[0])
    kit.installed_mtime = next(kit.venv.glob(
        "lib/python3*/site-packages/course_lib/__init__.py")).stat().st_mtime_ns
    kit.frozen_after = kit.freeze()
    shown = nbtools.cell_text(ran.cells[1])
    kit.probe = json.loads(shown.split("PROBE ", 1)[1])
    kit.data = kit.probe["COURSE_DATA"]
    _SHARED["kit"] = kit
    return kit


@pytest.fixture(scope="session")
def colab(tmp_path_factory):
    kit = colab_kit(tmp_path_factory)
    yield kit
    print("\nColab-like kernel timings: " + ", ".join(
        f"{k} {v:.1f} s" for k, v in kit.timings.items()))


def test_the_colab_cell_installs_the_kit_from_the_repository(colab):
    probe = colab.probe
    clone = colab.home / "course-kit"
    head = _run(["git", "rev-parse", "HEAD"], cwd=clone).stdout
    assert head == _run(["git", "rev-parse", "HEAD"], cwd=colab.source).stdout
    assert Path(probe["prefix"]).resolve() == colab.venv.resolve()
    site = Path(probe["course_lib"]).resolve()
    assert site.is_relative_to(colab.venv.resolve()), f"not installed in the venv: {site}"
    assert "site-packages" in site.parts, f"an editable or path install: {site}"
    assert probe["COURSE_DATA"] == str(clone / "data")
    assert probe["X_train"] == [5085, 32, 32, 3]  # the shipped real subset, via COURSE_DATA
    # No instructor tools (Colab itself has nbformat and nbclient, with its Notebook 6).
    assert probe["absent"] == ["nbgrader", "jupyterlab", "pytest"]


def test_the_venv_is_colabs_and_installing_the_kit_moves_none_of_it(colab):
    pinned = pins()
    for name in ("ipywidgets", "widgetsnbextension", "ipython", "ipykernel", "numpy",
                 "matplotlib", "tqdm"):
        assert name in pinned, f"{PINS.name} lacks {name}"
    assert {k: colab.frozen_before.get(k) for k in pinned} == pinned
    # The set-up cell installed the kit and nothing else: every package kept its version.
    added = {k: v for k, v in colab.frozen_after.items() if k not in colab.frozen_before}
    assert list(added) == ["course-kit"], added
    assert {k: colab.frozen_after[k] for k in colab.frozen_before} == colab.frozen_before
    assert colab.setup_output.strip() == "", colab.setup_output  # a quiet install


RERUN_PROBE = """\
import json, os, sys
print("PROBE " + json.dumps({"cwd": os.getcwd(), "COURSE_DATA": os.environ.get("COURSE_DATA"),
                             "course_lib": "course_lib" in sys.modules}))"""


def test_the_set_up_cell_reruns_and_asks_for_a_restart_when_it_must(colab):
    """Run again in the same kernel: the clone is reused and updated, the working folder and
    COURSE_DATA are set again, and, when the update reinstalled a kit whose old version is
    loaded, one line asks for Runtime > Restart session. After the restart (a new kernel) the
    cell reuses what is installed and everything works."""
    setup = nbformat.v4.new_code_cell(release.colab_setup_source(), id=course.COLAB_CELL_ID)
    clone = colab.home / "course-kit"
    sentinel = clone / ".git" / "reused"
    sentinel.write_text("the first clone")
    installed = colab.venv / "lib"
    init = next(installed.glob("python3*/site-packages/course_lib/__init__.py"))
    nb = nbformat.v4.new_notebook(cells=[
        setup,
        nbformat.v4.new_code_cell("import course_lib, os\nos.chdir('/')", id="elsewhere"),
        nbformat.v4.new_code_cell(setup.source, id="setup-again"),
        nbformat.v4.new_code_cell(RERUN_PROBE, id="probe")])
    env = colab.env(COURSE_FORCE_COLAB="1")  # no COURSE_INSTALL_SOURCE: the clone has it
    km = AsyncKernelManager(kernel_name=KERNEL, kernel_spec_manager=KernelSpecManager(
        kernel_dirs=[str(colab.kernels)]))
    client = NotebookClient(nb, km=km, timeout=300, allow_errors=True,
                            resources={"metadata": {"path": str(colab.content)}})
    start = time.perf_counter()
    with client.setup_kernel(env=env, cleanup_kc=True):
        client.execute_cell(nb.cells[0], 0)
        assert nbtools.cell_text(nb.cells[0]).strip() == ""  # up to date: nothing to do
        assert init.stat().st_mtime_ns == colab.installed_mtime  # and pip was not run
        client.execute_cell(nb.cells[1], 1)
        # The course repository gets a new commit while the student works.
        readme = colab.source / "README.md"
        readme.write_text(readme.read_text() + "\nA new commit.\n")
        git = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost", "-C", str(colab.source)]
        _run(git + ["commit", "-q", "-am", "an update of the course"])
        client.execute_cell(nb.cells[2], 2)
        client.execute_cell(nb.cells[3], 3)
    colab.timings["set-up cell re-run"] = time.perf_counter() - start
    [error] = [o for o in nb.cells[2].outputs if o.output_type == "error"]
    assert error.ename == "RestartNeeded"
    assert error.traceback == [f"RestartNeeded: {error.evalue}"]  # one line, no traceback
    assert "\n" not in error.evalue and error.evalue.startswith(
        "course_lib was loaded before this update of the kit"), error.evalue
    assert error.evalue.endswith("Restart the runtime (Runtime > Restart session), then run "
                                 "this cell again."), error.evalue
    probe = json.loads(nbtools.cell_text(nb.cells[3]).split("PROBE ", 1)[1])
    assert probe["cwd"] == str(colab.content)  # back in the notebook's folder
    assert probe["COURSE_DATA"] == str(clone / "data")
    assert sentinel.read_text() == "the first clone"  # the same clone, updated in place
    head = lambda repo: _run(["git", "rev-parse", "HEAD"], cwd=repo).stdout  # noqa: E731
    assert head(clone) == head(colab.source)
    assert init.stat().st_mtime_ns != colab.installed_mtime  # the update was installed
    colab.installed_mtime = init.stat().st_mtime_ns

    # Runtime > Restart session: a new kernel, no environment variable of the last one.
    after = colab.execute(nbformat.v4.new_notebook(cells=[
        nbformat.from_dict(setup), nbformat.v4.new_code_cell(RERUN_PROBE, id="probe")]),
        COURSE_FORCE_COLAB="1")
    assert nbtools.errors(after) == []
    assert nbtools.cell_text(after.cells[0]).strip() == ""
    probe = json.loads(nbtools.cell_text(after.cells[1]).split("PROBE ", 1)[1])
    assert probe == {"cwd": str(colab.content), "COURSE_DATA": str(clone / "data"),
                     "course_lib": False}
    assert init.stat().st_mtime_ns == colab.installed_mtime  # nothing reinstalled
    assert colab.freeze() == colab.frozen_after  # and still none of Colab's pins moved


def test_the_colab_url_lives_in_one_place():
    """config.py holds the repository; every notebook's badge and set-up cell come from it."""
    shipped = [*config.ROOT.glob("course_lib/**/*.py"), *config.ROOT.glob("autograder/*.py")]
    for path in shipped:
        text = path.read_text(encoding="utf-8")
        if path != config.ROOT / "autograder" / "config.py":
            assert config.GITHUB_REPO not in text and "colab.research.google.com" not in text, \
                f"{path} repeats the Colab repository or URL: use autograder.config"
    for nb_id in IDS:
        student = course.read(course.student_path(nb_id))
        setup = next(c for c in student.cells if c.get("id") == course.COLAB_CELL_ID)
        assert setup.source == release.colab_setup_source()
        assert f'"{config.GIT_URL}"' in setup.source
        assert f"({config.colab_url(nb_id)})" in student.cells[0].source


def _check_cells(nb):
    return [c for c in nb.cells if course.is_autograded_test(c)]


@pytest.mark.slow
@pytest.mark.parametrize("nb_id", IDS)
def test_reference_answers_pass_every_check_in_a_clean_kernel(colab, nb_id):
    source = course.read(course.source_path(nb_id))
    filled = course.fill_in_answers(course.read(course.student_path(nb_id)), source)
    start = time.perf_counter()
    nb = colab.execute(filled, COURSE_DATA=colab.data)
    colab.timings[f"{nb_id} reference"] = time.perf_counter() - start
    assert nbtools.errors(nb) == []
    for cell in _check_cells(nb):
        calls = course.parse_check_cell(cell.source)
        shown = nbtools.cell_text(cell)
        assert shown.count(": passed") == len(calls) > 0, f"{cell.id} showed:\n{shown}"
    card = _scorecard(nb)
    assert card.problem == "" and card.earned == card.possible > 0
    items = course.graded_items(source)
    assert [(i.grade_id, i.points) for i in card.items] == [
        (i["grade_id"], i["points"]) for i in items]
    assert all(i.status == (sc.MANUAL if i.grade_id in _manual(items) else sc.PASSED)
               for i in card.items), [(i.grade_id, i.status, i.reason) for i in card.items]


@pytest.mark.slow
@pytest.mark.parametrize("nb_id", IDS)
def test_blank_version_fails_every_check_with_its_readable_message(colab, nb_id):
    start = time.perf_counter()
    nb = colab.execute(course.read(course.student_path(nb_id)), allow_errors=True,
                       COURSE_DATA=colab.data)
    colab.timings[f"{nb_id} blank"] = time.perf_counter() - start
    for cell_id, ename, text in nbtools.errors(nb):
        words = " ".join(text.split())  # the message may be wrapped anywhere
        assert "not implemented yet" in words, f"{cell_id}: {ename}:\n{text}"
        assert "Traceback" not in text and "course_lib/" not in text \
            and "site-packages" not in text, f"{cell_id}:\n{text}"
    for cell in _check_cells(nb):
        assert "not implemented yet" in " ".join(nbtools.cell_text(cell).split()), cell.id
    card = _scorecard(nb)
    assert card.earned == 0 and card.possible > 0
    items = course.graded_items(course.read(course.source_path(nb_id)))
    assert all(i.status == (sc.MANUAL if i.grade_id in _manual(items) else sc.NOT_ATTEMPTED)
               for i in card.items), [(i.grade_id, i.status, i.reason) for i in card.items]


def _manual(items) -> set[str]:
    return {i["grade_id"] for i in items if i["kind"] == "manual"}


def _scorecard(nb) -> sc.Scorecard:
    last = nb.cells[-1]
    assert last.get("id") == release.SCORECARD_CELL_ID
    [out] = [o for o in last.outputs if o.output_type == "execute_result"]
    assert "not an official grade" in out.data["text/plain"]
    return sc.Scorecard.from_dict(out.metadata[sc.METADATA_KEY])
