"""Grading on a real Dask cluster (autograder/cluster.py): a LocalCluster of two worker
processes on 127.0.0.1 grades a hostile class exactly as the local pool does, item by item;
killing a worker mid-batch loses no grade and duplicates none; a submission whose worker
dies twice is reported ``crashed`` and the batch goes on; a wrong course version or an
unreachable scheduler is one readable line before anything is graded.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

from autograder import autograded, batch, cluster, config, course, feedback, grade
from autograder.zygote import Zygote
from tests.hostile import attacks
from tests.hostile import minicourse as mc

pytestmark = pytest.mark.slow

TIMEOUT_CELL = 5
CHEATS = ("always_equal", "patch_numpy", "read_source", "edited_tests", "kill_everything")
ATTACKS = ("exit_in_cell", "segfault_in_function", "loop_in_function", "memory_bomb_in_cell",
           "fork_bomb_in_cell")
OPTIONS = grade.Options(workers=2, timeout_cell=TIMEOUT_CELL, timeout_notebook=90,
                        memory_mb=1024, progress=False)


def _tasks(subs, specs) -> list[batch.Task]:
    """Every submitted (student, notebook) of the class, as the orchestrator hands them out."""
    tasks = []
    for student in sorted(p.name for p in subs.iterdir()):
        for nb in specs:
            path = subs / student / f"{nb}.ipynb"
            if path.is_symlink():
                tasks.append(batch.Task(student, nb, path, None))
            elif path.is_file():
                tasks.append(batch.Task(student, nb, path, batch.file_sha256(path)))
    return tasks


def _grades(results) -> dict:
    return {(r.student_id, r.notebook, r.item): (r.points, r.max_points, r.status, r.message)
            for res in results for r in res.rows}


def _pool_results(tasks, specs, hidden, private) -> list:
    """The same tasks graded by the local pool (batch._Pool), as batch.autograde runs it."""
    ctx = multiprocessing.get_context("fork")
    zygote = Zygote(private, hidden, str(config.NOTEBOOKS_DIR), lock=ctx.Lock())
    zygote.start()
    pool = batch._Pool(ctx, 2, zygote, specs, OPTIONS)
    try:
        return list(pool.run(tasks))
    finally:
        pool.close()
        zygote.close()


@pytest.fixture(scope="module")
def hostile_class(tmp_path_factory):
    """A small hostile class of the two-notebook mini course, graded by the local pool."""
    root = tmp_path_factory.mktemp("cluster")
    built = mc.build(root, second=True)
    src, stu = built[mc.NB_ID]
    ref = mc.reference(src, stu)
    subs, out, canary = root / "submissions", root / "out", root / "canary"
    canary.mkdir()
    mc.write(subs, "ref", mc.NB_ID, ref)
    mc.write(subs, "ref", mc.SECOND_ID, mc.reference(*built[mc.SECOND_ID]))
    mc.write(subs, "blank", mc.NB_ID, stu)
    ctx = attacks.Context(mc.NB_ID, root / "autograder" / "source" / mc.NB_ID / "mini.ipynb",
                          subs / "ref" / f"{mc.NB_ID}.ipynb", out, canary, 9)
    for name in CHEATS:
        mc.write(subs, f"cheat_{name}", mc.NB_ID, attacks.CHEATS[name](stu, ctx))
    broken = attacks.exercise_indices(ref)[1]
    for name in ATTACKS:
        mc.write(subs, f"attack_{name}", mc.NB_ID, attacks.RESOURCE_ATTACKS[name][0](ref, broken))
    (subs / "not_json").mkdir()
    (subs / "not_json" / f"{mc.NB_ID}.ipynb").write_bytes(b'{"cells": [')
    (subs / "symlink").mkdir()
    os.symlink(subs / "ref" / f"{mc.NB_ID}.ipynb", subs / "symlink" / f"{mc.NB_ID}.ipynb")
    source_dir = root / "autograder" / "source"
    specs = grade.load_course(source_dir)
    tasks = _tasks(subs, specs)
    local = _pool_results(tasks, specs, [str(source_dir), str(subs), str(out)],
                          root / "pool-sandbox")
    return {"root": root, "subs": subs, "source_dir": source_dir, "specs": specs,
            "version": batch.course_version(source_dir), "tasks": tasks,
            "local": local, "ref": ref}


@pytest.fixture(scope="module")
def engine(hostile_class):
    c = hostile_class
    engine = cluster.DaskEngine(c["specs"], OPTIONS, c["version"], local=2,
                                worker_source_dir=c["source_dir"])
    yield engine
    engine.close()


def test_a_local_cluster_grades_a_hostile_class_exactly_as_the_local_pool(hostile_class,
                                                                         engine):
    tasks = hostile_class["tasks"]
    results = list(engine.run(tasks))
    assert sorted((r.student_id, r.notebook) for r in results) == sorted(
        (t.student, t.notebook) for t in tasks)
    local = _grades(hostile_class["local"])
    assert local, "the local pool graded nothing"
    assert _grades(results) == local
    assert _grades(results)[("ref", mc.NB_ID, "relu_forward")][2] == "passed"
    assert _grades(results)[("attack_exit_in_cell", mc.NB_ID, "relu_backward")][2] == "crashed"
    uids = [r.log.get("isolation", {}).get("uid") for r in results]
    if any(uids):
        assert mc.sandbox_processes(uids) == [], "sandboxed processes outlived the grading"
    workers = engine.describe()["workers"]
    assert len(workers) == 2 and {w["address"].split(":")[1] for w in workers} == {"//127.0.0.1"}
    sent = [r for r in results if r.log.get("dask_worker")]
    assert sum(w["notebooks"] for w in workers) == len(sent) > 0
    for w in workers:
        if w["notebooks"]:
            assert w["isolation"]["measured"] and w["isolation"]["separate_process"]
            if os.geteuid() == 0:
                assert w["isolation"]["pid_namespace"] and w["isolation"]["no_network"]
                assert w["isolation"]["private_filesystem"]


def test_the_orchestrator_grades_on_the_cluster_with_the_same_gradebook(hostile_class,
                                                                         tmp_path):
    """``batch.autograde(engine=DaskEngine.factory(...))``: the gradebook, grades.csv and
    the engine's report, against the default local pool on the same few students."""
    c = hostile_class
    subs = tmp_path / "subs"
    for student in ("ref", "blank", "attack_exit_in_cell", "not_json"):
        (subs / student).mkdir(parents=True)
        for f in (c["subs"] / student).iterdir():
            (subs / student / f.name).write_bytes(f.read_bytes())
    local = grade.autograde(subs, tmp_path / "local", OPTIONS, source_dir=c["source_dir"])
    factory = cluster.DaskEngine.factory(local=2, source_dir=c["source_dir"])
    dask = grade.autograde(subs, tmp_path / "dask", OPTIONS, source_dir=c["source_dir"],
                           engine=factory)
    assert dask.rows == local.rows and len(dask.rows) >= 4 * 4
    csv_local = (tmp_path / "local" / "grades.csv").read_text()
    assert (tmp_path / "dask" / "grades.csv").read_text() == csv_local
    assert dask.engine["engine"] == "dask" and len(dask.engine["workers"]) == 2
    assert sum(w["notebooks"] for w in dask.engine["workers"]) == len(dask.results)


def _page(result, spec, source_nb) -> str:
    """What the orchestrator writes from a result: the autograded notebook, the feedback."""
    nb = autograded.build(result, spec, source_nb)
    return json.dumps(nb, sort_keys=True) + feedback.render(
        nb, result.rows, result.student_id, result.notebook,
        problem=str((result.log.get("problems") or [""])[0]))


def test_results_cross_the_wire_as_plain_data_and_keep_what_the_feedback_needs(
        hostile_class):
    specs, source_dir = hostile_class["specs"], hostile_class["source_dir"]
    for result in hostile_class["local"]:
        plain = json.loads(json.dumps(cluster.result_to_plain(result)))  # plain data only
        back = cluster.result_from_plain(plain)
        assert back.rows == result.rows and back.cell_runs == result.cell_runs
        assert back.assembled == result.assembled and back.log == result.log
        source_nb = course.read(source_dir / result.notebook / f"{result.notebook}.ipynb")
        spec = specs[result.notebook]
        assert _page(back, spec, source_nb) == _page(result, spec, source_nb)


def _processing(engine, key=None) -> str | None:
    """The worker processing ``key`` (any key: None), if one is."""
    for address, keys in sorted(engine.client.processing().items()):
        if keys and (key is None or key in keys):
            return address
    return None


def _kill(engine, address) -> bool:
    pid = engine.client.run(os.getpid, workers=[address], on_error="return").get(address)
    if not isinstance(pid, int):
        return False
    os.kill(pid, signal.SIGKILL)
    return True


def test_a_worker_killed_mid_batch_loses_no_grade_and_duplicates_none(hostile_class, engine):
    tasks = hostile_class["tasks"]
    results, killed = [], None
    for result in engine.run(tasks):
        results.append(result)
        if killed is None and result.log.get("dask_worker"):
            busy = _processing(engine)
            if busy and _kill(engine, busy):
                killed = busy
    assert killed is not None, "no worker was busy to be killed"
    keys = [(r.student_id, r.notebook) for r in results]
    assert len(keys) == len(set(keys)) == len(tasks)
    assert _grades(results) == _grades(hostile_class["local"])


def test_a_submission_whose_worker_dies_twice_is_crashed_and_the_batch_goes_on(
        hostile_class, engine, tmp_path):
    """Its worker is killed (SIGKILL) each time it grades it: retried once, then crashed."""
    c = hostile_class
    poison = nbformat.from_dict(c["ref"])  # 80 s of grading, no cell near its time limit
    at = attacks.exercise_indices(poison)[0]
    for n in range(20):
        poison.cells.insert(at, nbformat.v4.new_code_cell(f"import time\ntime.sleep(4)  # {n}"))
    path = mc.write(tmp_path, "poison", mc.NB_ID, poison)
    tasks = [batch.Task("poison", mc.NB_ID, path, batch.file_sha256(path))]
    tasks += [t for t in c["tasks"] if t.student in ("ref", "blank")]
    key = cluster.task_key(c["version"], "poison", mc.NB_ID, tasks[0].sha256)
    killed: list[str] = []

    def kill_its_worker_twice():
        deadline = time.monotonic() + 240
        while len(killed) < 2 and time.monotonic() < deadline:
            address = _processing(engine, key)
            if address and address not in killed and _kill(engine, address):
                killed.append(address)
            time.sleep(0.2)

    killer = threading.Thread(target=kill_its_worker_twice, daemon=True)
    engine.in_flight = 1  # the poison alone in flight: no other submission shares its fate
    try:
        killer.start()
        results = list(engine.run(tasks))
    finally:
        engine.in_flight = None
        killer.join()
    assert len(killed) == 2, killed
    first = results[0]
    assert first.student_id == "poison" and first.log["status"] == "crashed", first.log
    assert {r.status for r in first.rows} == {"crashed"}
    assert "died twice" in first.rows[0].message
    assert _grades(results[1:]) == {k: v for k, v in _grades(c["local"]).items()
                                    if k[0] in ("ref", "blank")}


def test_another_course_version_on_the_workers_is_one_line_before_grading(hostile_class,
                                                                         engine):
    with pytest.raises(cluster.ClusterError) as err:
        cluster.DaskEngine(hostile_class["specs"], OPTIONS, "0123456789abcdef",
                           scheduler=engine.cluster.scheduler_address,
                           worker_source_dir=hostile_class["source_dir"])
    message = str(err.value)
    assert "\n" not in message and "course version" in message
    assert hostile_class["version"] in message and "0123456789abcdef" in message


def test_an_unreachable_scheduler_is_one_readable_line():
    from tests.pg import free_port

    address = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(cluster.ClusterError) as err:
        cluster.DaskEngine({}, OPTIONS, "x", scheduler=address, connect_timeout=2)
    assert "\n" not in str(err.value)
    assert str(err.value).startswith(f"cannot reach the Dask scheduler at {address}")
    with pytest.raises(cluster.ClusterError) as err:
        cluster.check_scheduler(address, timeout=2)
    assert "\n" not in str(err.value) and address in str(err.value)


def test_a_reachable_scheduler_passes_the_check(engine):
    cluster.check_scheduler(engine.scheduler_address)


def test_a_worker_without_the_kit_is_one_line_before_grading(hostile_class, tmp_path):
    """A worker whose Python cannot import the kit joins an empty scheduler: the engine
    refuses to start, naming it, before anything is sent to it."""
    import distributed

    shadow = tmp_path / "no-kit" / "autograder"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('no course kit here')\n")
    scheduler = distributed.LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address=None,
                                         scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
    worker = subprocess.Popen(
        [str(Path(sys.executable).parent / "dask"), "worker", scheduler.scheduler_address,
         "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1", "--no-dashboard"],
        env={**os.environ, "PYTHONPATH": str(shadow.parent)}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        with distributed.Client(scheduler) as client:
            client.wait_for_workers(1, timeout=120)
        with pytest.raises(cluster.ClusterError) as err:
            cluster.DaskEngine(hostile_class["specs"], OPTIONS, hostile_class["version"],
                               scheduler=scheduler.scheduler_address,
                               worker_source_dir=hostile_class["source_dir"])
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        scheduler.close()
    message = str(err.value)
    assert "\n" not in message and "cannot grade: the course kit is not installed" in message
    assert "no course kit here" in message and "pip install" in message
