"""``course-grade release``: student notebooks in ``notebooks/`` from the instructor sources.

For each source it first normalises the source itself (outputs cleared, the Colab badge and
set-up cell rendered from :mod:`autograder.config`), then runs nbgrader's own generate step
(solutions become ``# YOUR CODE HERE`` + ``raise NotImplementedError()``, hidden tests
are removed, cells are locked and checksummed) in a scratch course directory, and writes
the result to ``notebooks/<id>.ipynb``. ``--check`` only reports what is out of date.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat

from . import config, course

COLAB_SETUP = '''\
# Set-up for Google Colab (does nothing in JupyterLab): install the course kit and its data.
import os, subprocess, sys
if "google.colab" in sys.modules or os.environ.get("COURSE_FORCE_COLAB") == "1":
    _source = os.environ.get("COURSE_INSTALL_SOURCE", "{git_url}")
    _target = os.path.expanduser("~/course-kit")
    if not os.path.isdir(_target):
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", _source, _target], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", _target], check=True)
    os.environ["COURSE_DATA"] = os.path.join(_target, "data")'''


def colab_setup_source() -> str:
    return COLAB_SETUP.format(git_url=config.GIT_URL)


def _locked_meta(gid: str) -> dict:
    return {"nbgrader": {"grade": False, "grade_id": gid, "locked": True, "schema_version": 3,
                         "solution": False, "task": False}}


def normalize_source(nb, nb_id: str):
    """The source with outputs cleared and its Colab badge and set-up cell up to date."""
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    title = nb.cells[0]
    if title.cell_type != "markdown" or not title.source.startswith("# "):
        raise ValueError(f"{nb_id}: the first cell must be markdown starting with '# <title>'")
    lines = [ln for ln in title.source.splitlines() if not ln.startswith("[![Open In Colab]")]
    lines.insert(1, config.colab_badge(nb_id))
    title.source = "\n".join(lines)
    setup = next((c for c in nb.cells if c.get("id") == course.COLAB_CELL_ID), None)
    if setup is None:
        setup = nbformat.v4.new_code_cell(id=course.COLAB_CELL_ID)
        nb.cells.insert(1, setup)
    setup.source = colab_setup_source()
    setup.metadata = _locked_meta(course.COLAB_CELL_ID)
    nb.metadata.setdefault("kernelspec", {
        "display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"})
    return nb


def _with_venv_on_path() -> None:
    # nbgrader runs the `alembic` command from the environment it is installed in.
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def generate_student_versions(sources: dict[str, nbformat.NotebookNode]) -> dict:
    """Run nbgrader's generate step on normalised sources; return ``{id: student nb}``."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    _with_venv_on_path()
    with tempfile.TemporaryDirectory(prefix="course-release-") as tmp:
        root = Path(tmp)
        shutil.copy(config.AUTOGRADER_DIR / "nbgrader_config.py", root)
        for nb_id, nb in sources.items():
            (root / "source" / nb_id).mkdir(parents=True)
            nbformat.write(nb, str(root / "source" / nb_id / f"{nb_id}.ipynb"))
        cfg = Config()
        cfg.CourseDirectory.root = str(root)
        cfg.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
        cfg.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
        cfg.ClearSolutions.text_stub = "YOUR ANSWER HERE"
        api = NbGraderAPI(config=cfg)
        out = {}
        for nb_id in sources:
            result = api.generate_assignment(nb_id, force=True, create=True)
            if not result["success"]:
                raise RuntimeError(f"nbgrader could not generate {nb_id}:\n{result.get('log')}"
                                   f"\n{result.get('error')}")
            out[nb_id] = course.read(root / "release" / nb_id / f"{nb_id}.ipynb")
    return out


def _text(nb) -> str:
    return nbformat.writes(nb) + "\n"


def release(ids: list[str] | None = None, check: bool = False) -> list[str]:
    """Bring sources and student versions up to date; return the files that were stale.

    check: change nothing, only report (the sync test and CI use this).
    """
    ids = ids or course.notebook_ids()
    stale, sources = [], {}
    for nb_id in ids:
        path = course.source_path(nb_id)
        sources[nb_id] = normalize_source(course.read(path), nb_id)
        if path.read_text() != _text(sources[nb_id]):
            stale.append(str(path.relative_to(config.ROOT)))
            if not check:
                path.write_text(_text(sources[nb_id]))
    students = generate_student_versions(sources)
    config.NOTEBOOKS_DIR.mkdir(exist_ok=True)
    for nb_id, nb in students.items():
        path = course.student_path(nb_id)
        if not path.exists() or path.read_text() != _text(nb):
            stale.append(str(path.relative_to(config.ROOT)))
            if not check:
                path.write_text(_text(nb))
    return stale
