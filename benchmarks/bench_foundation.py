"""Foundation: dataset load times, and what a check costs directly vs through the channel."""

from __future__ import annotations

import numpy as np

from autograder.channel import Client, Loopback, ObjectServer
from benchmarks._util import compare, median_seconds, row
from course_lib import data
from course_lib.checks import as_array, as_float, as_tuple, call, check_gradient, loss_of
from course_lib.checks._core import Check


def _student_loss(W, X, reg):
    scores = X @ W
    loss = np.sum(scores**2) / len(X) + reg * np.sum(W * W)
    return loss, 2 * X.T @ scores / len(X) + 2 * reg * W


def _check_body(ctx, fn):
    X = ctx.rng.standard_normal((50, 30))
    W = ctx.rng.standard_normal((30, 10))
    loss, dW = as_tuple(call(fn, W, X, 0.1, names=("W", "X", "reg")), "loss", 2)
    as_float(loss, "loss")
    dW = as_array(dW, "dW", shape=W.shape)
    check_gradient(fn, (W, X, 0.1), 0, dW, "dW", output=loss_of, rng=ctx.rng, num_checks=20)


def run() -> list[dict]:
    rows = [
        row("data", "load_cifar10 (subset, md5-verified)",
            median_seconds(lambda: data.load_cifar10(verbose=False), repeat=5)),
        row("data", "load_fashion_mnist (70k, md5-verified)",
            median_seconds(lambda: data.load_fashion_mnist(), repeat=3)),
    ]
    check = Check("bench", _check_body)
    client = Client(Loopback(ObjectServer({"loss": _student_loss})))
    direct, remote = compare(lambda: check.evaluate(_student_loss),
                             lambda: check.evaluate(client.ref("loss")), repeat=20)
    rows += [
        row("check framework", "gradient check, direct call", direct),
        row("check framework", "same, through the channel (loopback)", remote,
            ratio=remote / direct, ratio_of="channel / direct"),
    ]
    return rows
