"""Stored results for notebook 05's checks, computed by running the instructor solution.

    .venv/bin/python -m autograder.expected.two_layer_net          # (re)write the data file
    .venv/bin/python -m autograder.expected.two_layer_net --check  # exit 1 if it is stale

The checks in ``course_lib/checks/layers.py`` and ``two_layer_net.py`` never contain a
solution; they compare with what this script stores: fixed inputs and the instructor
solution's outputs on them (``course_lib/checks/data/two_layer_net.npz``).
"""

from __future__ import annotations

import sys

import numpy as np

from autograder import course
from course_lib.checks.layers import DATA_FILE

NB_ID = "05_two_layer_net"
NET_REG = 0.05
SOLUTIONS = ("affine_forward_solution", "affine_backward_solution", "relu_forward_solution",
             "relu_backward_solution", "softmax_loss_solution", "svm_loss_solution",
             "two_layer_net_solution", "flatten_and_center_solution")


def instructor_namespace() -> dict:
    """The instructor solution's functions and class, defined from the source notebook."""
    nb = course.read(course.source_path(NB_ID))
    answers = course.reference_answers(nb)
    namespace = {"__name__": "__main__", "np": np}
    for gid in SOLUTIONS:
        exec(compile(answers[gid], f"<{NB_ID}:{gid}>", "exec"), namespace)
    return namespace


def _affine_cases(ns) -> dict:
    out = {}
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((3, 5)), rng.standard_normal((5, 4)), rng.standard_normal(4)
    out.update(affine2d_x=x, affine2d_w=w, affine2d_b=b,
               affine2d_out=ns["affine_forward"](x, w, b)[0])
    # CS231n's test case: its known output is [[1.49834967, 1.70660132, 1.91485297],
    # [3.25553199, 3.5141327, 3.77273342]].
    num_inputs, input_shape, output_dim = 2, (4, 5, 6), 3
    x = np.linspace(-0.1, 0.5, num=num_inputs * 120).reshape(num_inputs, *input_shape)
    w = np.linspace(-0.2, 0.3, num=120 * output_dim).reshape(120, output_dim)
    b = np.linspace(-0.3, 0.1, num=output_dim)
    out.update(affine4d_x=x, affine4d_w=w, affine4d_b=b,
               affine4d_out=ns["affine_forward"](x, w, b)[0])
    return out


def _kink_free_svm_scores(rng, N, C, gap=0.05):
    while True:
        x, y = rng.standard_normal((N, C)), rng.integers(0, C, size=N)
        margins = x - x[np.arange(N), y][:, None] + 1.0
        margins[np.arange(N), y] = 1.0
        if np.abs(margins).min() > gap:
            return x, y


def _loss_cases(ns) -> dict:
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((5, 4)) * 2.0, np.array([0, 3, 1, 1, 2])
    loss, dx = ns["softmax_loss"](x, y)
    out = dict(softmax_x=x, softmax_y=y, softmax_loss=np.float64(loss), softmax_dx=dx)
    x, y = _kink_free_svm_scores(rng, 5, 4)
    loss, dx = ns["svm_loss"](x, y)
    out.update(svm_x=x, svm_y=y, svm_loss=np.float64(loss), svm_dx=dx)
    return out


def _net_case(ns, i) -> tuple[np.ndarray, ...]:
    """Parameters and a batch; case 0 is CS231n's toy model (its loss with reg 0.05 is
    1.30378789), the others random, all with hidden pre-activations away from ReLU's kink."""
    if i == 0:
        np.random.seed(0)
        net = ns["TwoLayerNet"](4, 10, 3, std=1e-1)
        np.random.seed(1)
        X, y = 10 * np.random.randn(5, 4), np.array([0, 1, 2, 2, 1])
        return X, y, net
    N, D, H, C = [(7, 6, 8, 4), (9, 12, 5, 6)][i - 1]
    rng = np.random.default_rng(100 + i)
    net = ns["TwoLayerNet"](D, H, C)
    while True:
        X = rng.standard_normal((N, D)) * 3.0
        params = {"W1": rng.standard_normal((D, H)) * 0.4, "b1": rng.standard_normal(H) * 0.5,
                  "W2": rng.standard_normal((H, C)) * 0.5, "b2": rng.standard_normal(C) * 0.5}
        pre = X @ params["W1"] + params["b1"]
        if np.abs(pre).min() > 0.02:
            net.params.update(params)
            return X, rng.integers(0, C, size=N), net


def _net_cases(ns) -> dict:
    out = {"net_reg": np.float64(NET_REG)}
    for i in range(3):
        X, y, net = _net_case(ns, i)
        P = net.params
        pre = X @ P["W1"] + P["b1"]
        assert np.abs(pre).min() > 0.01, f"case {i}: a hidden unit sits at ReLU's kink"
        scores = net.loss(X)
        top2 = np.sort(scores, axis=1)[:, -2:]
        assert np.min(top2[:, 1] - top2[:, 0]) > 1e-3, f"case {i}: a near tie in predict"
        data_loss, _ = net.loss(X, y, reg=0.0)
        loss_reg, _ = net.loss(X, y, reg=NET_REG)
        sq = np.sum(P["W1"] ** 2) + np.sum(P["W2"] ** 2)
        assert abs(loss_reg - data_loss - NET_REG * sq) < 1e-12
        p = f"net{i}_"
        out.update({p + k: P[k].copy() for k in ("W1", "b1", "W2", "b2")})
        out.update({
            p + "X": X, p + "y": y, p + "scores": scores, p + "data_loss": np.float64(data_loss),
            p + "loss_reg": np.float64(loss_reg),
            # What typical mistakes produce, for the checks' hints.
            p + "scores_no_relu": pre @ P["W2"] + P["b2"],
            p + "scores_no_b1": np.maximum(0, X @ P["W1"]) @ P["W2"] + P["b2"],
        })
    return out


def build(ns=None) -> dict[str, np.ndarray]:
    ns = ns or instructor_namespace()
    state = np.random.get_state()
    try:
        return {**_affine_cases(ns), **_loss_cases(ns), **_net_cases(ns)}
    finally:
        np.random.set_state(state)


def differences(current: dict, fresh: dict) -> list[str]:
    """Keys whose stored values differ from a fresh build (or exist in only one)."""
    keys = sorted(set(current) | set(fresh))
    return [k for k in keys if k not in current or k not in fresh
            or current[k].shape != fresh[k].shape
            or not np.allclose(current[k], fresh[k], rtol=1e-12, atol=1e-14)]


def main(argv: list[str]) -> int:
    fresh = build()
    if "--check" in argv:
        with np.load(DATA_FILE) as z:
            stale = differences({k: z[k] for k in z.files}, fresh)
        print("stale: " + ", ".join(stale) if stale else f"{DATA_FILE} is up to date")
        return 1 if stale else 0
    DATA_FILE.parent.mkdir(parents=True, exist_ok=True)
    np.savez(DATA_FILE, **fresh)
    print(f"wrote {DATA_FILE} ({len(fresh)} arrays)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
