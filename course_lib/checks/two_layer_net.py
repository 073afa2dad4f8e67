"""Checks for notebook 05's ``TwoLayerNet`` (CS231n's 2016-2020 interface).

``TwoLayerNet(input_size, hidden_size, output_size, std=1e-4)`` keeps ``params`` W1 (D, H),
b1 (H,), W2 (H, C), b2 (C,); ``loss(X, y=None, reg=0.0)`` returns the scores (N, C) without
labels, else ``(loss, grads)``; ``train(...)`` returns the loss and accuracy histories;
``predict(X)`` the labels.

The checks build a net with the student's class, then set its parameters through
``get_attr(net, "params")[name] = value``, so they work on the student's own object and on a
proxy of it in the autograder's sandbox alike. Expected scores and losses come from cases
stored from the instructor solution; the grading runs turn each stored case into a fresh one
with transformations that provably keep the scores: permuting the hidden units, scaling each
hidden unit's incoming weights by a > 0 and its outgoing ones by 1/a (ReLU is positively
homogeneous), permuting the examples and the classes, and adding one constant to b2.
Gradients are compared with numerical gradients of the student's own loss.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from . import (
    as_array,
    as_dict,
    as_float,
    as_list,
    as_tuple,
    call,
    check_gradient,
    expect_close,
    expect_equal,
    fail,
    get_attr,
    loss_of,
    materialize,
    register,
)
from .layers import _gradient_shape, stored

PARAMS = ("W1", "b1", "W2", "b2")
NUM_CASES = 3


@dataclass
class Case:
    """A network and a batch with known results. variants: the scores after a typical mistake."""

    X: np.ndarray
    y: np.ndarray
    params: dict
    scores: np.ndarray
    data_loss: float
    variants: dict
    label: str

    @property
    def shape(self):
        N, D = self.X.shape
        return N, D, self.params["W1"].shape[1], self.params["W2"].shape[1]

    def sum_of_squares(self) -> float:
        return float(np.sum(self.params["W1"] ** 2) + np.sum(self.params["W2"] ** 2))


def _stored_case(i: int) -> Case:
    s, p = stored(), f"net{i}_"
    return Case(
        X=s[p + "X"], y=s[p + "y"], params={k: s[p + k] for k in PARAMS},
        scores=s[p + "scores"], data_loss=float(s[p + "data_loss"]),
        variants={k: s[p + "scores_" + k] for k in ("no_relu", "no_b1")},
        label=f"stored case {i}",
    )


def _transformed(case: Case, rng) -> Case:
    """The same network in disguise: its scores are known exactly from the stored ones."""
    N, _, H, C = case.shape
    P = case.params
    perm, scale = rng.permutation(H), rng.uniform(0.5, 2.0, size=H)
    rows, cls = rng.permutation(N), rng.permutation(C)
    shift = float(rng.uniform(-1, 1))
    params = {
        "W1": P["W1"][:, perm] * scale, "b1": P["b1"][perm] * scale,
        "W2": (P["W2"][perm] / scale[:, None])[:, cls], "b2": P["b2"][cls] + shift,
    }

    def scores(s):
        return s[rows][:, cls] + shift

    return replace(
        case, X=case.X[rows], y=np.argsort(cls)[case.y[rows]], params=params,
        scores=scores(case.scores), variants={k: scores(v) for k, v in case.variants.items()},
        label=f"{case.label}, its hidden units, examples and classes shuffled",
    )


def _cases(ctx) -> list[Case]:
    if not ctx.hidden:
        return [_stored_case(0), _stored_case(1)]
    return [_transformed(_stored_case(i), ctx.rng) for i in range(NUM_CASES)]


def _context(case: Case) -> str:
    N, D, H, C = case.shape
    return f"on {case.label} (N={N}, D={D}, H={H}, C={C})"


def _net(TwoLayerNet, case: Case):
    """A student net holding the case's parameters (copies: training changes them in place)."""
    N, D, H, C = case.shape
    net = call(TwoLayerNet, D, H, C, names=("input_size", "hidden_size", "output_size"),
               label="TwoLayerNet")
    params = get_attr(net, "params", label="TwoLayerNet")
    as_dict(params, "self.params", keys=PARAMS)
    for name in PARAMS:
        params[name] = case.params[name].copy()
    return net


def _loss_method(net):
    return get_attr(net, "loss", label="TwoLayerNet")


def _loss_and_grads(net, X, y, reg):
    result = call(_loss_method(net), X, y, reg, names=("X", "y", "reg"))
    loss, grads = as_tuple(result, "TwoLayerNet.loss(X, y, reg)", 2, ("loss", "grads"))
    return as_float(loss, "loss"), grads


def _scores(net, case: Case):
    result = call(_loss_method(net), case.X, names=("X",))
    N, _, _, C = case.shape
    return as_array(result, "loss(X) without labels (the scores)", shape=(N, C))


@register("TwoLayerNet.scores", "TwoLayerNet forward pass: loss(X) returns the scores (N, C)")
def _(ctx, TwoLayerNet):
    for case in _cases(ctx):
        net = _net(TwoLayerNet, case)
        scores = _scores(net, case)
        expect_close(scores, case.scores, "scores", context=_context(case), hints={
            "the ReLU between the two affine layers is missing": case.variants["no_relu"],
            "b1 is missing from the first layer": case.variants["no_b1"],
            "b2 is missing from the second layer": case.scores - case.params["b2"],
        })


@register("TwoLayerNet.loss", "TwoLayerNet loss: mean softmax loss + reg * (sum W1^2 + sum W2^2)")
def _(ctx, TwoLayerNet):
    regs = [0.0, float(stored()["net_reg"])]
    if ctx.hidden:
        regs.append(float(ctx.rng.uniform(0.01, 1.0)))
    for case in _cases(ctx):
        net = _net(TwoLayerNet, case)
        N = case.shape[0]
        W1, W2 = case.params["W1"], case.params["W2"]
        sq1, sq2 = float(np.sum(W1 ** 2)), float(np.sum(W2 ** 2))
        for reg in regs:
            loss, _ = _loss_and_grads(net, case.X, case.y, reg)
            data = case.data_loss
            hints = {"your data loss is N times too large: average the softmax loss over the "
                     "N examples": N * data + reg * (sq1 + sq2)}
            if reg:
                hints.update({
                    "the regularization term is missing: add reg * (sum(W1**2) + sum(W2**2))":
                        data,
                    "the regularization has a factor 0.5 too many: this course uses "
                    "reg * (sum(W1**2) + sum(W2**2))": data + 0.5 * reg * (sq1 + sq2),
                    "only W1 is regularized: add reg * sum(W2**2) too": data + reg * sq1,
                    "only W2 is regularized: add reg * sum(W1**2) too": data + reg * sq2,
                    "the regularization should square the weights: sum(W1**2), not sum(W1)":
                        data + reg * float(np.sum(W1) + np.sum(W2)),
                })
            expect_close(loss, data + reg * (sq1 + sq2), "loss",
                         context=f"{_context(case)} with reg={reg:g}", hints=hints)


def _grad_hints(name: str, W: np.ndarray, reg: float, N: int) -> dict:
    if name.startswith("W"):
        hints = {
            f"adding 2 * reg * {name} would make it right: did you forget the regularization "
            "gradient?": lambda num, take: num - 2 * reg * take(W),
            f"the regularization gradient is 2 * reg * {name} (the derivative of "
            f"reg * {name}**2), not reg * {name}": lambda num, take: num - reg * take(W),
            f"the regularization gradient is there twice: add 2 * reg * {name} once":
                lambda num, take: num + 2 * reg * take(W),
            "the data gradient is N times too large: the softmax gradient must be divided by N":
                lambda num, take: N * (num - 2 * reg * take(W)) + 2 * reg * take(W),
        }
        return {k: v for k, v in hints.items() if reg or "regularization" not in k}
    return {
        f"the biases are not regularized: {name} gets no reg term":
            (lambda num, take: num + 2 * reg * take(W)) if reg else None,
        "the data gradient is N times too large: the softmax gradient must be divided by N":
            lambda num, take: N * num,
    }


def _param_setter_loss(net, name, X, y, reg):
    """f(value) = the student's loss with params[name] = value (for numerical gradients)."""
    params = get_attr(net, "params", label="TwoLayerNet")
    loss = _loss_method(net)

    def f(value):
        params[name] = value
        return call(loss, X, y, reg, names=("X", "y", "reg"))

    f.__qualname__ = "TwoLayerNet.loss"
    return f


@register("TwoLayerNet.grads", "TwoLayerNet backward pass: grads of W1, b1, W2, b2")
def _(ctx, TwoLayerNet):
    stored_reg = float(stored()["net_reg"])
    for i, case in enumerate(_cases(ctx)):
        N, D, H, C = case.shape
        # Also without regularization once, on the grading run: a wrong data gradient can
        # hide behind a right regularization gradient.
        for reg in [stored_reg, 0.0] if ctx.hidden and i == 0 else [stored_reg]:
            net = _net(TwoLayerNet, case)
            _, grads = _loss_and_grads(net, case.X, case.y, reg)
            grads = as_dict(grads, "grads")
            for name in PARAMS:
                if name not in grads:
                    fail(f"grads has no entry {name!r} (it has {sorted(map(str, grads))}).",
                         hint=f"every parameter needs its gradient, under the same name as in "
                         f"self.params: grads[{name!r}]")
                if materialize(grads[name]) is None:
                    fail(f"grads[{name!r}] is None.", hint="compute it in the backward pass")
            lessons = {
                "b1": {(N,): "sum over the examples (axis 0), not over the hidden units",
                       (): "sum over the examples (axis 0) only"},
                "b2": {(N,): "sum dscores over the examples (axis 0), not over the classes",
                       (): "sum over the examples (axis 0) only"},
                "W1": {(H, D): "it looks transposed: W1 is (D, H)"},
                "W2": {(C, H): "it looks transposed: W2 is (H, C)"},
            }
            for name in PARAMS:
                value = case.params[name]
                label = f"grads[{name!r}]"
                grad = _gradient_shape(grads[name], label, value.shape, name, lessons[name])
                f = _param_setter_loss(net, name, case.X, case.y, reg)
                try:
                    check_gradient(f, (value,), 0, grad, f"{label} ({_context(case)}, "
                                   f"reg={reg:g})", output=loss_of, rng=ctx.rng,
                                   num_checks=None if value.size <= 12 else 12,
                                   hints=_grad_hints(name, value, reg, N))
                finally:
                    get_attr(net, "params", label="TwoLayerNet")[name] = value.copy()


@register("TwoLayerNet.predict", "TwoLayerNet.predict: the class with the highest score")
def _(ctx, TwoLayerNet):
    for case in _cases(ctx):
        N, _, _, C = case.shape
        net = _net(TwoLayerNet, case)
        labels = materialize(call(get_attr(net, "predict", label="TwoLayerNet"), case.X,
                                  names=("X",)))
        got = getattr(labels, "shape", None)
        if type(labels) is np.ndarray and got == (C,):
            fail(f"predict returned shape {got}, one value per class.",
                 hint="take the argmax over the classes, axis 1, not over the examples")
        if type(labels) is np.ndarray and got == (N, C):
            fail(f"predict returned shape {got}: scores, not labels.",
                 hint="return np.argmax(scores, axis=1), one label per example")
        labels = as_array(labels, "predict(X)", shape=(N,), kind="int")
        expected = np.argmax(case.scores, axis=1)
        expect_equal(labels, expected, "predict(X)", context=_context(case), hints={
            "that is the class with the LOWEST score: use argmax": np.argmin(case.scores, axis=1),
        })


def _blobs(rng, n, D, C):
    centres = rng.standard_normal((C, D)) * 2.0
    y = rng.integers(0, C, size=n)
    return centres[y] + rng.standard_normal((n, D)), y


@register("TwoLayerNet.train", "TwoLayerNet.train: minibatch SGD lowers the loss")
def _(ctx, TwoLayerNet):
    rng = ctx.rng
    D, H, C = 6, 12, 3
    X, y = _blobs(rng, 150, D, C)
    X_train, y_train, X_val, y_val = X[:120], y[:120], X[120:], y[120:]
    case = Case(X_train, y_train, {
        "W1": 0.1 * rng.standard_normal((D, H)), "b1": np.zeros(H),
        "W2": 0.1 * rng.standard_normal((H, C)), "b2": np.zeros(C)},
        scores=None, data_loss=0.0, variants={}, label="")
    net = _net(TwoLayerNet, case)
    reg, num_iters, batch_size = 1e-3, 60, 30
    # train calls predict: surface an unfinished or broken predict under its own name first.
    labels = materialize(call(get_attr(net, "predict", label="TwoLayerNet"), X_val[:5],
                              names=("X",)))
    if getattr(labels, "shape", None) != (5,):
        fail(f"train records accuracies with predict, but predict returned "
             f"{getattr(labels, 'shape', type(labels).__name__)} for 5 examples instead of "
             "5 labels.", hint="make the TwoLayerNet.predict check pass first")
    before, _ = _loss_and_grads(net, X_train, y_train, reg)
    result = call(get_attr(net, "train", label="TwoLayerNet"), X_train, y_train, X_val, y_val,
                  names=("X", "y", "X_val", "y_val"), learning_rate=0.3,
                  learning_rate_decay=0.95, reg=reg, num_iters=num_iters,
                  batch_size=batch_size, verbose=False)
    stats = as_dict(result, "the dict train returns",
                    keys=("loss_history", "train_acc_history", "val_acc_history"))
    history = as_list(stats["loss_history"], "loss_history")
    if len(history) != num_iters:
        fail(f"loss_history has {len(history)} entries after num_iters={num_iters} steps.",
             hint="append the minibatch loss once per step")
    params = as_dict(get_attr(net, "params", label="TwoLayerNet"), "self.params", keys=PARAMS)
    unchanged = [k for k in PARAMS if np.array_equal(
        as_array(params[k], f"params[{k!r}]", shape=case.params[k].shape), case.params[k])]
    if len(unchanged) == len(PARAMS):
        fail("train did not change self.params.",
             hint="update the arrays in self.params in place, e.g. self.params['W1'] -= "
             "learning_rate * grads['W1']; assigning to a local variable changes nothing")
    if unchanged:
        fail(f"train updated some parameters but not {', '.join(unchanged)}.",
             hint="update every parameter: loop over self.params")
    history = [materialize(v) for v in history]
    if not all(isinstance(v, float | int | np.floating | np.integer) for v in history):
        as_float(next(v for v in history if not isinstance(v, float | int | np.floating)),
                 "a loss_history entry")
    history = np.array(history, dtype=np.float64)
    where = (f"(on 120 examples of 3 well separated classes, learning_rate=0.3, "
             f"{num_iters} steps of batch_size={batch_size})")
    ascent = "step AGAINST the gradient: params -= learning_rate * grads"
    if not np.all(np.isfinite(history)):
        step = int(np.argmin(np.isfinite(history)))
        fail(f"the loss became {history[step]} at step {step} {where}: the parameters blew up.",
             hint=f"{ascent}; and check that the gradients are right (the grads check)")
    first, last = history[:5].mean(), history[-5:].mean()
    if last > first:
        fail(f"training made the loss worse: loss_history goes from about {first:.4f} to "
             f"{last:.4f} {where}.", hint=ascent)
    for key in ("train_acc_history", "val_acc_history"):
        accs = [as_float(v, f"{key} entry") for v in as_list(stats[key], key)]
        if not accs or not all(0.0 <= a <= 1.0 for a in accs):
            fail(f"{key} should hold accuracies between 0 and 1, one per epoch; got {accs[:5]}.")
    after, _ = _loss_and_grads(net, X_train, y_train, reg)
    if after > before:
        fail(f"training made the loss worse: {before:.4f} before, {after:.4f} after {where}.",
             hint=ascent)
    if after > 0.5 * before:
        fail(f"training barely lowered the loss: {before:.4f} before, {after:.4f} after {where}.",
             hint="each step should move every parameter by learning_rate * its gradient, on "
             "a minibatch of batch_size random training examples")


# --------------------------------------------------------------------------- preprocessing

def _float64_rows(value, name, shape):
    value = materialize(value)
    if type(value) is np.ndarray and value.dtype != np.float64 and value.dtype.kind in "biuf":
        fail(f"{name} has dtype {value.dtype}; expected float64.",
             hint="convert with .astype(np.float64) before subtracting: uint8 pixels cannot "
             "hold negative numbers (200 - 201 wraps around to 255)")
    return as_array(value, name, shape=shape)


@register("flatten_and_center", "flatten images into float64 rows, subtract the training mean")
def _(ctx, flatten_and_center):
    cases = [((4, 3), np.uint8, (7, 3, 2))]
    if ctx.hidden:
        cases += [((2, 2, 3), np.uint8, (int(ctx.rng.integers(2, 9)), 4, 5)),
                  ((5,), np.float64, (6, 2, 3))]
    names = ("X_train", "X_val", "X_test")
    for dims, dtype, sizes in cases:
        sets = [ctx.rng.integers(0, 256, size=(n, *dims)).astype(dtype) for n in sizes]
        result = call(flatten_and_center, *sets, names=names)
        outs = as_tuple(result, "flatten_and_center", 3, names)
        D = int(np.prod(dims))
        outs = [_float64_rows(o, f"the returned {name}", (len(x), D))
                for o, name, x in zip(outs, names, sets)]
        flat = [x.reshape(len(x), -1).astype(np.float64) for x in sets]
        where = f"for images of shape {dims} ({np.dtype(dtype).name})"
        expect_close(outs[0] - outs[0][0], flat[0] - flat[0][0], "X_train row differences",
                     context=f"{where}: centring shifts every row by the same vector, so "
                     "differences between rows must not change")
        shifts = flat[0] - outs[0]
        expect_close(shifts, np.broadcast_to(shifts[0], shifts.shape), "X_train shift",
                     context=f"{where}: subtract the same mean image from every row")
        expect_close(outs[0].mean(axis=0), np.zeros(D), "mean of the returned X_train rows",
                     context=f"{where} (centred data has mean 0 in every column)", atol=1e-9,
                     hints={"nothing was subtracted": flat[0].mean(axis=0)})
        mean = shifts[0]
        for k in (1, 2):
            expect_close(outs[k], flat[k] - mean, f"the returned {names[k]}",
                         context=f"{where}: it should be shifted by the TRAINING mean", hints={
                             f"{names[k]} was centred with its own mean: subtract the mean of "
                             "the training rows instead": flat[k] - flat[k].mean(axis=0),
                             f"{names[k]} was not centred": flat[k]})
