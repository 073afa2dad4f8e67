"""Helpers for tests that execute notebooks."""

from __future__ import annotations

import os
import re
from contextlib import contextmanager

import nbformat
from nbclient import NotebookClient

from autograder import course

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def jupyterlab_command(port: int, token: str, root_dir) -> list[str]:
    """The venv's JupyterLab on 127.0.0.1:``port`` with a token, serving ``root_dir`` (no
    browser; as root only with --allow-root, which Jupyter otherwise refuses)."""
    import getpass
    import sys

    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root_dir}"]
    return cmd + (["--allow-root"] if getpass.getuser() == "root" else [])


def stop_process_group(proc) -> None:
    """Stop a server started with ``start_new_session=True`` and everything it started:
    SIGTERM to its group, SIGKILL after 30 s."""
    import signal
    import subprocess

    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def plain(text: str) -> str:
    return ANSI.sub("", text)


def execute(nb, cwd, *, allow_errors: bool = False, timeout: int = 600, env=None):
    """Run a notebook top to bottom in a fresh kernel (as "Run All" does); return it."""
    nb = nbformat.from_dict(nb)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(cwd)}})
    with _env(env or {}):
        client.execute()
    return nb


@contextmanager
def _env(extra: dict):
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def cell_text(cell) -> str:
    """Everything a cell showed: streams, results, and error tracebacks, without colours."""
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type == "error":
            parts.append("\n".join(out.traceback))
        elif "text/plain" in out.get("data", {}):
            parts.append(out.data["text/plain"])
    return plain("\n".join(parts))


def errors(nb) -> list[tuple[str, str, str]]:
    """``(cell id, exception name, shown text)`` for every error output."""
    return [(cell.get("id"), out.ename, plain("\n".join(out.traceback)))
            for cell in nb.cells for out in cell.get("outputs", []) if out.output_type == "error"]


def run_in_process(nb, cwd):
    """Run a notebook's code cells in an in-process IPython shell, as the grader's sandbox
    would: skipping the test cells (the grader runs those itself) and cells tagged
    ``autograde-skip``. Returns the shell's namespace; raises on the first error."""
    from IPython.core.interactiveshell import InteractiveShell

    os.environ.setdefault("MPLBACKEND", "Agg")
    shell = InteractiveShell.instance()
    old = os.getcwd()
    os.chdir(cwd)
    try:
        for cell in nb.cells:
            graded_elsewhere = course.is_autograded_test(cell) or course.is_skipped(cell)
            if cell.cell_type != "code" or graded_elsewhere:
                continue
            result = shell.run_cell(cell.source, store_history=False)
            if not result.success:
                raise RuntimeError(f"cell {cell.get('id')} failed: {result.error_in_exec!r}")
        return shell.user_ns
    finally:
        os.chdir(old)


def clear_shell():
    from IPython.core.interactiveshell import InteractiveShell

    InteractiveShell.clear_instance()


def scorecard_processes(pid: int, *, include_root: bool = False) -> tuple[int, int]:
    """How many course-scorecard processes run below ``pid`` (or as ``pid`` itself, with
    ``include_root``), and the resident memory of all those processes together (bytes)."""
    import psutil

    try:
        root = psutil.Process(pid)
        tree = ([root] if include_root else []) + root.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0, 0
    count = rss = 0
    for proc in tree:
        try:
            count += "course_lib.course_scorecard" in " ".join(proc.cmdline())
            rss += proc.memory_info().rss
        except psutil.Error:
            pass
    return count, rss
