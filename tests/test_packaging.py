"""The kit installs and runs the way the README says."""

import getpass
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _expand(project: dict, reqs: list[str]) -> list[str]:
    """Requirements with the project's own extras (``course-kit[cluster,postgres]``) inlined."""
    out = []
    for r in reqs:
        if _name(r) == project["name"]:
            extras = re.search(r"\[(.*)\]", r).group(1).split(",")
            out += _expand(project, [x for e in extras
                                     for x in project["optional-dependencies"][e.strip()]])
        else:
            out.append(r)
    return out


def _pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + _expand(project, project["optional-dependencies"]["dev"])
    return {_name(r): r.replace(" ", "") for r in reqs}


def _conda_requirements() -> dict[str, str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = lines.index("dependencies:")
    reqs = [ln.strip()[2:] for ln in lines[start + 1:] if ln.strip().startswith("- ")]
    return {_name(r): r.replace(" ", "") for r in reqs if _name(r) not in ("python", "pip")}


def test_environment_yml_mirrors_pyproject():
    assert _conda_requirements() == _pyproject_requirements()


def test_dask_and_postgres_are_extras_that_dev_installs_and_students_never_need():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    runtime = {_name(r) for r in project["dependencies"]}
    dev = {_name(r) for r in _expand(project, extras["dev"])}
    assert {_name(r) for r in extras["cluster"]} == {"dask", "distributed"}
    assert {_name(r) for r in extras["postgres"]} == {"psycopg2-binary"}
    assert {"dask", "distributed", "psycopg2-binary"} <= dev
    assert not runtime & {"dask", "distributed", "psycopg2-binary", "sqlalchemy"}


def test_course_lib_runs_without_jupyter_or_nbgrader():
    """Colab has neither JupyterLab nor nbgrader: importing them must never be needed."""
    script = r'''
import sys, importlib.abc
BLOCKED = ("jupyterlab", "nbgrader", "nbformat", "nbclient", "notebook", "jupyter_server",
           "nbconvert", "autograder", "pytest")
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not available here")
sys.meta_path.insert(0, Block())
import numpy as np
import course_lib, course_lib.data, course_lib.gradcheck, course_lib.notebook
from course_lib.checks import CHECKS, register, call, as_float, expect_close
@register("_colab.square")
def _(ctx, f):
    expect_close(as_float(call(f, 3.0), "f(3)"), 9.0, "f(3)")
CHECKS["_colab.square"](lambda x: x * x)
try:
    CHECKS["_colab.square"](lambda x: x + x)
except AssertionError as e:
    print("failed as it should:", str(e).splitlines()[1])
X_train, y_train, X_test, y_test = course_lib.data.load_cifar10(verbose=False)
print("data", X_train.shape)
'''
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "_colab.square: passed" in out.stdout
    assert "failed as it should: f(3) is wrong: got 6, expected 9." in out.stdout
    assert "data (5085, 32, 32, 3)" in out.stdout


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make lab" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test\s*$", ci, re.M)


def test_make_lab_binds_to_localhost_and_allows_root_only_for_root():
    out = subprocess.run(["make", "-n", "lab"], capture_output=True, text=True, cwd=ROOT)
    lab = next(ln for ln in out.stdout.splitlines() if "jupyter lab" in ln)
    assert "--ServerApp.ip=127.0.0.1" in lab and "--ServerApp.root_dir=notebooks" in lab
    assert ("--allow-root" in lab) == (getpass.getuser() == "root")


def test_make_test_reports_an_empty_suite(tmp_path):
    """pytest's exit code 5 (no tests collected) fails the build with a clear message."""
    out = subprocess.run(["make", "test", f"PYTEST_ARGS={tmp_path}"], capture_output=True,
                         text=True, cwd=ROOT, timeout=600)
    assert out.returncode != 0
    assert "pytest collected no tests" in out.stderr


def test_jupyterlab_news_popup_is_off():
    import json

    settings = json.loads((ROOT / "jupyter" / "lab-overrides.json").read_text())
    assert settings["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"


def test_a_wheel_carries_the_kit_course_directory(tmp_path):
    """A non-editable install has the instructor sources and nbgrader config (as package
    data, autograder/kit/), so `course-grade init` works without a checkout."""
    import shutil
    import zipfile

    had_build = (ROOT / "build").exists()
    try:
        out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                              str(tmp_path), str(ROOT)], capture_output=True, text=True,
                             timeout=600)
    finally:
        if not had_build:  # setuptools builds in the checkout: leave it as it was
            shutil.rmtree(ROOT / "build", ignore_errors=True)
    assert out.returncode == 0, out.stderr[-3000:]
    (wheel,) = tmp_path.glob("course_kit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {p.relative_to(ROOT / "course").as_posix()
               for p in (ROOT / "course" / "source").glob("*/*.ipynb")}
    assert sources and {f"autograder/kit/{s}" for s in sources} <= names
    assert "autograder/kit/nbgrader_config.py" in names
    assert not any(n.startswith("course/") for n in names)  # no course dir beside the code
