"""Grading on Dask against the local pool, side by side in one run, and what a class of
thousands would take.

A class of ``STUDENTS`` students x every course notebook (references, blanks and partial
answers, as in ``bench_autograder``) is graded, ``REPEAT`` times interleaved, by four
engines started once each: the local pool with 1 and 2 grader processes
(``batch._Pool``) and a Dask ``LocalCluster`` of 1 and 2 worker processes
(``cluster.DaskEngine``). Reported:

* notebooks per second of each (medians), and the grades of all four compared (goal: 0
  differences);
* Dask's overhead per submission: the 1-worker Dask engine against the 1-process pool on
  the same notebooks (scheduling, shipping the bytes, plain data back);
* CPU seconds per notebook on the grading side (grader process, zygote and sandboxes);
* the orchestrator's peak RSS while 100 and 2,000 synthetic submissions (100 KB each,
  rejected in milliseconds by the worker) go through, with the bounded in-flight
  submission and, for comparison, with everything submitted at once (goal: flat);
* from the measured CPU per notebook and the 1 -> 2 worker efficiency, how long 1,000 and
  10,000 students x 5 notebooks would take on 2, 16 and 64 workers (one core each).

Run: ``.venv/bin/python -m benchmarks cluster`` (``BENCH_CLUSTER_STUDENTS=N``,
``BENCH_CLUSTER_REPEAT=N`` to change the size).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from autograder import batch, cluster, config, course, grade
from autograder.zygote import Zygote
from benchmarks._util import row

STUDENTS = int(os.environ.get("BENCH_CLUSTER_STUDENTS", "4"))
REPEAT = int(os.environ.get("BENCH_CLUSTER_REPEAT", "3"))
SYNTHETIC = (100, 2000)
CLASSES = (1000, 10000)
WORKERS = (2, 16, 64)
NOTEBOOKS_PER_STUDENT = 5
OPTIONS = grade.Options(workers=2, progress=False)


def _tree_cpu(roots) -> float:
    """CPU seconds of these processes and their live descendants, reaped children included."""
    import psutil

    seen, total = set(), 0.0
    for root in roots:
        try:
            procs = [psutil.Process(root)]
            procs += procs[0].children(recursive=True)
        except psutil.NoSuchProcess:
            continue
        for p in procs:
            if p.pid in seen:
                continue
            seen.add(p.pid)
            try:
                t = p.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += t.user + t.system + t.children_user + t.children_system
    return total


class _Local:
    """The local pool with its zygote, as batch.autograde runs it."""

    def __init__(self, n: int, specs: dict, root: Path):
        self.ctx = multiprocessing.get_context("fork")
        self.zygote = Zygote(root / f"pool{n}-sandbox", [str(root)], str(config.NOTEBOOKS_DIR),
                             lock=self.ctx.Lock())
        self.zygote.start()
        self.pool = batch._Pool(self.ctx, n, self.zygote, specs, OPTIONS)

    def pids(self) -> list[int]:
        return [s["proc"].pid for s in self.pool.slots] + [self.zygote._proc.pid]

    def run(self, tasks):
        return list(self.pool.run(tasks))

    def close(self):
        self.pool.close()
        self.zygote.close()


class _Dask:
    def __init__(self, n: int, specs: dict, source_dir: Path):
        self.engine = cluster.DaskEngine(specs, OPTIONS, batch.course_version(source_dir),
                                         local=n, worker_source_dir=source_dir)

    def pids(self) -> list[int]:
        return list(self.engine.worker_pids().values())

    def run(self, tasks):
        return list(self.engine.run(tasks))

    def close(self):
        self.engine.close()


def _grades(results) -> dict:
    return {(r.student_id, r.notebook, r.item): (r.points, r.status)
            for res in results for r in res.rows}


def _peak_rss_while(fn) -> tuple[int, int]:
    """(RSS before, peak RSS while ``fn`` runs) of this process, sampled every 10 ms."""
    import psutil

    me, peak, done = psutil.Process(), [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], me.memory_info().rss)
            time.sleep(0.01)

    before = me.memory_info().rss
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        fn()
    finally:
        done.set()
        sampler.join()
    return before, max(peak[0], me.memory_info().rss)


def _synthetic(folder: Path, n: int, notebook: str) -> list[batch.Task]:
    """``n`` notebooks of 100 KB that a worker rejects at once (no cells)."""
    pad = "x" * 100_000
    tasks = []
    for i in range(n):
        path = folder / f"s{i:05d}" / f"{notebook}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "cells": [],
                                    "metadata": {"pad": pad, "n": i}}))
        tasks.append(batch.Task(f"s{i:05d}", notebook, path, None))
    return tasks


def _memory_rows(engine: cluster.DaskEngine, root: Path, notebook: str) -> list[dict]:
    rows = []
    list(engine.run(_synthetic(root / "warm-up", 100, notebook)))  # imports, buffers
    for label, in_flight in (("bounded in-flight", None), ("all submitted at once", 10**9)):
        for n in SYNTHETIC:
            tasks = _synthetic(root / f"synthetic-{n}", n, notebook)
            engine.in_flight = in_flight
            got = []
            t0 = time.perf_counter()
            before, peak = _peak_rss_while(lambda: got.extend(engine.run(tasks)))  # noqa: B023
            seconds = time.perf_counter() - t0
            assert len(got) == n and all(r.log.get("status") == "unreadable" for r in got)
            rows.append(row("cluster", f"orchestrator RSS growth, {n} x 100 KB, {label}",
                            peak - before, unit="B",
                            goal="flat: the same for 100 and 2,000" if in_flight is None
                            else ""))
            if in_flight is None and n == max(SYNTHETIC):
                rows.append(row("cluster", "dask round trip per submission (100 KB, 2 workers,"
                                " graded in ~1 ms)", seconds / n))
    engine.in_flight = None
    return rows


def _scaling_rows(cpu_per_notebook: float, efficiency: float) -> list[dict]:
    rows = []
    for students in CLASSES:
        for workers in WORKERS:
            seconds = students * NOTEBOOKS_PER_STUDENT * cpu_per_notebook / (
                workers * efficiency)
            rows.append(row("cluster", f"projected: {students:,} students x "
                            f"{NOTEBOOKS_PER_STUDENT} notebooks on {workers} workers", seconds,
                            goal=f"{seconds / 3600:.2f} h at {cpu_per_notebook:.2f} CPU s/"
                            f"notebook, {efficiency:.0%} efficiency"))
    return rows


def run() -> list[dict]:
    from benchmarks.bench_autograder import make_class

    ids = course.notebook_ids()
    if not ids:
        return []
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        root = Path(tmp)
        make_class(root, ids, STUDENTS)
        specs = grade.load_course(config.SOURCE_DIR)
        tasks = [batch.Task(s, nb, root / "submissions" / s / f"{nb}.ipynb")
                 for s in sorted(os.listdir(root / "submissions")) for nb in ids]
        engines, started = {}, {}
        makers = {"pool, 1 process": lambda: _Local(1, specs, root),
                  "pool, 2 processes": lambda: _Local(2, specs, root),
                  "dask, 1 worker": lambda: _Dask(1, specs, config.SOURCE_DIR),
                  "dask, 2 workers": lambda: _Dask(2, specs, config.SOURCE_DIR)}
        walls = {name: [] for name in makers}
        cpus = {name: [] for name in makers}
        grades = {}
        try:
            for name, make in makers.items():
                t0 = time.perf_counter()
                engines[name] = make()
                started[name] = time.perf_counter() - t0
            for _ in range(REPEAT):
                for name, engine in engines.items():
                    cpu0, t0 = _tree_cpu(engine.pids()), time.perf_counter()
                    results = engine.run(tasks)
                    walls[name].append(time.perf_counter() - t0)
                    cpus[name].append(_tree_cpu(engine.pids()) - cpu0)
                    grades.setdefault(name, _grades(results))
            memory = _memory_rows(engines["dask, 2 workers"].engine, root, ids[0])
        finally:
            for engine in engines.values():
                engine.close()
    n = len(tasks)
    wall = {name: statistics.median(w) for name, w in walls.items()}
    differ = sum(grades[name] != grades["pool, 2 processes"] for name in grades)
    overhead = (wall["dask, 1 worker"] - wall["pool, 1 process"]) / n
    cpu_per_nb = statistics.median(cpus["dask, 1 worker"]) / n
    efficiency = min(1.0, wall["dask, 1 worker"] / wall["dask, 2 workers"] / 2)
    label = f"{STUDENTS} students x {len(ids)} notebooks, median of {REPEAT}"
    out = [row("cluster", f"throughput, {name} ({label})", n / wall[name],
               unit="notebooks/s",
               ratio=wall["pool, 2 processes"] / wall[name] if name != "pool, 2 processes"
               else None, ratio_of="this / pool with 2 processes")
           for name in makers]
    out += [row("cluster", f"start-up, {name}", started[name]) for name in makers]
    out += [row("cluster", "dask overhead per submission (1 worker vs 1 process)", overhead),
            row("cluster", "CPU per notebook, grading side (dask, 1 worker)", cpu_per_nb),
            row("cluster", "CPU per notebook, grading side (pool, 1 process)",
                statistics.median(cpus["pool, 1 process"]) / n),
            row("cluster", "1 -> 2 workers parallel efficiency (dask)", efficiency,
                unit="", goal="on 2 cores shared with other work"),
            row("cluster", "engines whose grades differ from the pool's", differ,
                unit="engines", goal="0 of 3")]
    return out + memory + _scaling_rows(cpu_per_nb, efficiency)
