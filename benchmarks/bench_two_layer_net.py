"""Notebook 05: one training step of the reference two-layer net against PyTorch, the
notebook's own run time, and what grading its checks costs.

Goals (issue 5): one SGD step (batch 200, 3072-100-10, float64) of the instructor solution
within 1.5x of the same network in PyTorch on CPU, measured side by side; the instructor
notebook runs top to bottom in at most 120 s. torch is optional: install it into the venv only
to run this benchmark (``.venv/bin/pip install torch==2.13.0``); without it the comparison
row says it was skipped.
"""

from __future__ import annotations

import os
import time

import numpy as np

from autograder import course
from autograder.channel import Client, Loopback, ObjectServer
from autograder.checking import grade_item
from autograder.expected.two_layer_net import NB_ID, instructor_namespace
from benchmarks._util import compare, median_seconds, row

N, D, H, C = 200, 3072, 100, 10
POOL = 4500
LR, REG = 1e-3, 0.25
NOTEBOOK_REPEAT = int(os.environ.get("BENCH_NOTEBOOK_REPEAT", "3"))


def _data(rng):
    X = rng.standard_normal((POOL, D)) * 60.0  # the scale of mean-subtracted CIFAR pixels
    return X, rng.integers(0, C, size=POOL)


def _numpy_step(ns, X, y):
    np.random.seed(0)
    net = ns["TwoLayerNet"](D, H, C)

    def step():
        idx = np.random.choice(POOL, N)
        loss, grads = net.loss(X[idx], y[idx], reg=REG)
        for name in net.params:
            net.params[name] -= LR * grads[name]

    return step


def _torch_step(torch, X, y):
    torch.manual_seed(0)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    params = [1e-4 * torch.randn(D, H, dtype=torch.float64), torch.zeros(H, dtype=torch.float64),
              1e-4 * torch.randn(H, C, dtype=torch.float64), torch.zeros(C, dtype=torch.float64)]
    for p in params:
        p.requires_grad_(True)
    W1, b1, W2, b2 = params

    def step():
        idx = torch.randint(0, POOL, (N,))
        scores = torch.relu(Xt[idx] @ W1 + b1) @ W2 + b2
        loss = torch.nn.functional.cross_entropy(scores, yt[idx])
        loss = loss + REG * ((W1 * W1).sum() + (W2 * W2).sum())
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= LR * p.grad
                p.grad = None

    return step


def _training_step_rows() -> list[dict]:
    ns = instructor_namespace()
    X, y = _data(np.random.default_rng(0))
    numpy_step = _numpy_step(ns, X, y)
    case = f"one SGD step, batch {N}, {D}-{H}-{C}, float64"
    try:
        import torch
    except ImportError:
        t = median_seconds(numpy_step, repeat=30, warmup=3)
        return [row("two-layer net", f"{case}: numpy (reference)", t),
                row("two-layer net", "PyTorch: torch not installed: skipped", float("nan"),
                    goal="pip install torch==2.13.0 into .venv to compare")]
    rows = []
    default_threads = torch.get_num_threads()
    for threads in (default_threads, 1):
        torch.set_num_threads(threads)
        ours, theirs = compare(numpy_step, _torch_step(torch, X, y), repeat=40, warmup=5)
        rows += [
            row("two-layer net", f"{case}: PyTorch {torch.__version__} CPU, {threads} "
                f"thread{'s' if threads > 1 else ''}", theirs),
            row("two-layer net", f"{case}: numpy (reference), same run", ours,
                ratio=ours / theirs, ratio_of="numpy / PyTorch", goal="within 1.5x of PyTorch"),
        ]
    torch.set_num_threads(default_threads)
    return rows


def _notebook_rows() -> list[dict]:
    from tests import nbtools

    path = course.source_path(NB_ID)
    nb = course.read(path)
    times = []
    for _ in range(NOTEBOOK_REPEAT):
        start = time.perf_counter()
        done = nbtools.execute(nb, path.parent, env={"MPLBACKEND": "Agg"})
        times.append(time.perf_counter() - start)
        assert nbtools.errors(done) == []
    return [row("notebook 05", f"instructor version, nbclient, median of {len(times)}",
                float(np.median(times)), goal="at most 120 s")]


def _grading_rows() -> list[dict]:
    source = course.read(course.source_path(NB_ID))
    items = [i for i in course.graded_items(source) if i["kind"] == "auto"]
    client = Client(Loopback(ObjectServer(instructor_namespace())))

    def grade_all():
        for item in items:
            assert grade_item(client, item).status == "passed", item["grade_id"]

    return [row("notebook 05", f"grading all {len(items)} checked items through the channel "
                "(loopback, hidden cases included)", median_seconds(grade_all, repeat=3))]


def run() -> list[dict]:
    return _training_step_rows() + _grading_rows() + _notebook_rows()
