"""``course-grade release``: student notebooks in ``notebooks/`` from the instructor sources.

For each source it first normalises the source itself (outputs cleared, the Colab badge and
set-up cell rendered from :mod:`autograder.config`, the self-assessment scorecard as the last
cell), then runs nbgrader's own generate step (solutions become ``# YOUR CODE HERE`` +
``raise NotImplementedError()``, hidden tests are removed, cells are locked and
checksummed) in a scratch course directory, and writes the result to
``notebooks/<id>.ipynb``. It also writes the scorecard's manifest
(``course_lib/checks/data/manifest.json``: per notebook, its graded items, their points and
check calls), which ships inside ``course_lib`` because in Colab the notebook file is not on
the kernel's disk, and the README's table of notebooks with their Colab badges. ``--check``
only reports what is out of date.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat

from . import config, course

COLAB_SETUP = """\
# Set-up for Google Colab (does nothing in JupyterLab): install the course kit and its data.
# Safe to run again, and run it again after Runtime > Restart session (a restart drops the
# environment variables and the working folder; the installed kit stays).
import os, subprocess, sys
if "google.colab" in sys.modules or os.environ.get("COURSE_FORCE_COLAB") == "1":
    import importlib.metadata as _md
    _kit = os.path.join(os.path.expanduser("~"), "course-kit")  # absolute, whatever the cwd
    _git = ["git", "-C", _kit]
    _mark = os.path.join(_kit, ".git", "course-kit-installed")  # commit installed, home folder
    if os.path.isdir(os.path.join(_kit, ".git")):  # a re-run: update the clone in place
        _fetch = subprocess.run(_git + ["fetch", "--quiet", "--depth", "1", "origin", "HEAD"])
        if _fetch.returncode == 0:  # offline: keep the clone as it is
            subprocess.run(_git + ["reset", "--quiet", "--hard", "FETCH_HEAD"], check=True)
    else:
        _from = os.environ.get("COURSE_INSTALL_SOURCE", "@GIT_URL@")
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", _from, _kit], check=True)
    _head = subprocess.run(_git + ["rev-parse", "HEAD"], capture_output=True, text=True,
                           check=True).stdout.strip()
    _done, _home = (open(_mark).read().split("\\n")[:2] if os.path.exists(_mark)
                    else (None, os.getcwd()))  # the working folder is the first run's
    def _installed(dist):
        try:
            return _md.version(dist)
        except _md.PackageNotFoundError:
            return None
    if _done != _head or _installed("course-kit") is None:
        # The kit's version ranges admit Colab's own packages: pip changes none of them.
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", _kit], check=True)
        with open(_mark, "w") as _f:
            _f.write(f"{_head}\\n{_home}\\n")
    os.environ["COURSE_DATA"] = os.path.join(_kit, "data")
    os.chdir(_home)
    # Python keeps a module it has loaded: one loaded before a different version was installed
    # would run beside the new files. Only a restart cures that; say so instead of running on.
    _mixed = [f"{_m} {sys.modules[_m].__version__} is loaded but {_installed(_d)} is installed"
              for _d, _m in [("numpy", "numpy"), ("matplotlib", "matplotlib"), ("tqdm", "tqdm"),
                             ("ipywidgets", "ipywidgets"), ("ipython", "IPython")]
              if getattr(sys.modules.get(_m), "__version__", None) not in (None, _installed(_d))]
    if "course_lib" in sys.modules and _done not in (None, _head):
        _mixed.append("course_lib was loaded before this update of the kit")
    if _mixed:
        class RestartNeeded(Exception):
            def _render_traceback_(self):  # one line, no traceback
                return [f"RestartNeeded: {self}"]
        raise RestartNeeded("; ".join(_mixed) + ". Restart the runtime (Runtime > Restart "
                            "session), then run this cell again.")"""


SCORECARD_CELL_ID = "scorecard"
SCORECARD = """\
# Your scorecard: every graded item of this notebook, checked (grading cases included) on the
# code in this kernel. A self-assessment, not an official grade. Run it any time.
from course_lib.scorecard import scorecard
scorecard("{nb_id}", globals())"""
MANIFEST = Path("course_lib") / "checks" / "data" / "manifest.json"  # relative to config.ROOT


def colab_setup_source() -> str:
    return COLAB_SETUP.replace("@GIT_URL@", config.GIT_URL)


def scorecard_source(nb_id: str) -> str:
    return SCORECARD.format(nb_id=nb_id)


def _locked_meta(gid: str) -> dict:
    return {"nbgrader": {"grade": False, "grade_id": gid, "locked": True, "schema_version": 3,
                         "solution": False, "task": False}}


def _encode_arg(arg):
    """A parsed check-call argument as JSON; literals as their repr (``ast.literal_eval``
    reads them back, tuples and all)."""
    kind, value = arg
    if kind == "name":
        return ["name", value]
    if kind == "dict":
        return ["dict", [[repr(k), _encode_arg(v)] for k, v in value.items()]]
    return ["value", repr(value)]


def manifest(sources: dict) -> dict:
    """What the scorecard needs to know of each notebook, from its instructor source:
    ``{"notebooks": {id: {"title", "items": [{grade_id, points, kind, calls}]}}}``."""
    notebooks = {}
    for nb_id, nb in sources.items():
        items = []
        for item in course.graded_items(nb):
            calls = [{"check": c.item, "args": [_encode_arg(a) for a in c.args],
                      "hidden": c.hidden, "seed": c.kwargs.get("seed")} for c in item["calls"]]
            items.append({"grade_id": item["grade_id"], "points": item["points"],
                          "kind": item["kind"], "calls": calls})
        title = nb.cells[0].source.splitlines()[0].removeprefix("# ").strip()
        notebooks[nb_id] = {"title": title, "items": items}
    return {"about": "Generated by `course-grade release` from the instructor sources: "
                     "what course_lib.scorecard checks. Do not edit.",
            "notebooks": notebooks}


def manifest_text(sources: dict) -> str:
    """The manifest as JSON with one graded item per line (short, readable diffs)."""
    data = manifest(sources)
    dump = lambda value: json.dumps(value, ensure_ascii=False)  # noqa: E731
    notebooks = []
    for nb_id, entry in data["notebooks"].items():
        items = ",\n".join(f"    {dump(item)}" for item in entry["items"])
        notebooks.append(f'  {dump(nb_id)}: {{"title": {dump(entry["title"])}, "items": [\n'
                         f"{items}\n  ]}}")
    text = (f'{{"about": {dump(data["about"])},\n "notebooks": {{\n'
            + ",\n".join(notebooks) + "\n }}\n")
    assert json.loads(text) == data
    return text


README_BEGIN = "<!-- notebooks: generated by `course-grade release` from the sources -->"
README_END = "<!-- end of notebooks -->"


def readme_notebook_table(sources: dict) -> str:
    """The README's list of notebooks: title, Colab badge, local path (one row each)."""
    rows = ["| | notebook | open |", "|---|---|---|"]
    for n, (nb_id, nb) in enumerate(sources.items(), start=1):
        title = nb.cells[0].source.splitlines()[0].removeprefix("# ").strip()
        title = re.sub(r"^\d+\s*·\s*", "", title)  # the table numbers them itself
        rows.append(f"| {n} | [{title}](notebooks/{nb_id}.ipynb) | {config.colab_badge(nb_id)} |")
    return "\n".join(rows)


def render_readme(text: str, sources: dict) -> str:
    """``text`` with the block between the README markers replaced by the notebook table."""
    start, end = text.find(README_BEGIN), text.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"README.md must hold the lines {README_BEGIN!r} and {README_END!r}")
    return (text[:start] + README_BEGIN + "\n" + readme_notebook_table(sources) + "\n"
            + text[end:])


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
    # The scorecard is always the last cell; display only, so the course grader skips it.
    nb.cells = [c for c in nb.cells if c.get("id") != SCORECARD_CELL_ID]
    card = nbformat.v4.new_code_cell(scorecard_source(nb_id), id=SCORECARD_CELL_ID)
    card.metadata = _locked_meta(SCORECARD_CELL_ID)
    card.metadata["tags"] = [course.SKIP_TAG]
    nb.cells.append(card)
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
        shutil.copy(config.KIT_DIR / "nbgrader_config.py", root)
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
    every = {i: sources[i] if i in sources else course.read(course.source_path(i))
             for i in course.notebook_ids()}
    path = config.ROOT / MANIFEST
    text = manifest_text(every)
    if not path.exists() or path.read_text() != text:
        stale.append(str(MANIFEST))
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    readme = config.ROOT / "README.md"
    if readme.exists():
        text = readme.read_text()
        rendered = render_readme(text, every)
        if rendered != text:
            stale.append("README.md")
            if not check:
                readme.write_text(rendered)
    students = generate_student_versions(sources)
    config.NOTEBOOKS_DIR.mkdir(exist_ok=True)
    for nb_id, nb in students.items():
        path = course.student_path(nb_id)
        if not path.exists() or path.read_text() != _text(nb):
            stale.append(str(path.relative_to(config.ROOT)))
            if not check:
                path.write_text(_text(nb))
    return stale
