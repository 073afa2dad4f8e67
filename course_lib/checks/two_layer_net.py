"""Checks for notebook 05's ``TwoLayerNet``, in both of CS231n's interfaces.

2016-2020 (``classifiers/neural_net.py``, this notebook's): ``TwoLayerNet(input_size,
hidden_size, output_size, std=1e-4)`` keeps ``params`` W1 (D, H), b1 (H,), W2 (H, C), b2 (C,);
``loss(X, y=None, reg=0.0)`` returns the scores (N, C) without labels, else ``(loss, grads)``;
``train(...)`` returns the loss and accuracy histories; ``predict(X)`` the labels. 2021+
(``classifiers/fc_net.py``): ``TwoLayerNet(input_dim, hidden_dim, num_classes, weight_scale,
reg)``, ``loss(X, y=None)`` reading ``self.reg``, no ``train``/``predict`` (CS231n's Solver
does both); :class:`Net` drives either. The loss may regularize with ``reg * sum(W**2)`` (this
course) or CS231n's ``0.5 * reg * sum(W**2)`` when its gradient agrees (``reg * W``).

The checks build a net with the student's class, then set its parameters through
``get_attr(net, "params")[name] = value``, so they work on the student's own object and on a
proxy of it in the autograder's sandbox alike. Expected scores and losses come from cases
stored from the instructor solution; the grading runs turn each stored case into a fresh one
with transformations that provably keep the scores: permuting the hidden units, scaling each
hidden unit's incoming weights by a > 0 and its outgoing ones by 1/a (ReLU is positively
homogeneous), permuting the examples and the classes, and adding one constant to b2.
Gradients are compared with numerical gradients of the student's own loss. Batches above 32
rows (public) and 100 (grading) are the cases' rows repeated, whose results are known too.

``train`` is judged against SGD run by the check with the student's own loss and gradients
(one example repeated, so every minibatch is the same), so a right loop passes whatever the
loss computes; its minibatch sampling is seen with learning_rate 0 on two halves of X.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np

from . import (
    CheckFailed,
    Mistake,
    NotImplementedYet,
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
    set_attr,
)
from .layers import _gradient_shape, _rows_or_fail, stored

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


def _repeated(case: Case, at_least: int) -> Case:
    """The case's examples repeated to at least ``at_least`` rows (whole copies, so that the
    mean loss stays the stored one): batches a shortcut for small inputs cannot handle."""
    copies = -(-at_least // case.shape[0])
    rows = np.tile(np.arange(case.shape[0]), copies)
    return replace(case, X=case.X[rows], y=case.y[rows], scores=case.scores[rows],
                   variants={k: v[rows] for k, v in case.variants.items()},
                   label=f"{case.label}, its {case.shape[0]} examples repeated {copies} times")


def _cases(ctx) -> list[Case]:
    if not ctx.hidden:
        return [_stored_case(0), _stored_case(1), _repeated(_stored_case(2), 33)]
    cases = [_transformed(_stored_case(i), ctx.rng) for i in range(NUM_CASES)]
    return cases + [_repeated(cases[int(ctx.rng.integers(0, NUM_CASES))], 100)]


def _context(case: Case) -> str:
    N, D, H, C = case.shape
    return f"on {case.label} (N={N}, D={D}, H={H}, C={C})"


# --------------------------------------------------------------------------- the two interfaces

MODERN = ("this TwoLayerNet follows CS231n's 2021+ classifiers/fc_net.py interface (loss(X, y) "
          "reads self.reg; CS231n's Solver trains it), which has no {what}")


class Net:
    """A student's network, driven through whichever CS231n interface it has.

    2016-2020 (``classifiers/neural_net.py``): ``loss(X, y=None, reg=0.0)``, ``train``,
    ``predict``. 2021+ (``classifiers/fc_net.py``): ``loss(X, y=None)`` reading ``self.reg``,
    no ``train``/``predict``; recognised by a ``reg`` attribute and no ``train``.
    """

    def __init__(self, obj):
        self.obj = obj
        self.modern = _has(obj, "reg") and not _has(obj, "train")

    @property
    def params(self):
        return get_attr(self.obj, "params", label="TwoLayerNet")

    def _loss(self):
        return get_attr(self.obj, "loss", label="TwoLayerNet")

    def raw_loss(self, X, y, reg):
        """The unvalidated result of the student's loss on (X, y) with strength ``reg``."""
        if self.modern:
            set_attr(self.obj, "reg", float(reg))
            return call(self._loss(), X, y, names=("X", "y"))
        return call(self._loss(), X, y, reg, names=("X", "y", "reg"))

    def loss(self, X, y, reg):
        """(loss: float, grads: unvalidated) for the batch (X, y)."""
        label = "TwoLayerNet.loss(X, y)" if self.modern else "TwoLayerNet.loss(X, y, reg)"
        loss, grads = as_tuple(self.raw_loss(X, y, reg), label, 2, ("loss", "grads"))
        return as_float(loss, "loss"), grads

    def scores(self, X, C):
        result = _rows_or_fail(call(self._loss(), X, names=("X",)), "the scores", len(X), 2)
        return as_array(result, "loss(X) without labels (the scores)", shape=(len(X), C))

    def method(self, name: str, purpose: str):
        """The bound method ``name``; on the 2021+ interface, which has none, a one-line
        "not part of that interface" instead of a bug report."""
        if self.modern and not _has(self.obj, name):
            raise NotImplementedYet(
                MODERN.format(what=name) + f"; this item grades {purpose}.",
                hint=Mistake("cs231n-2021-interface", "CS231n 2021+ fc_net.py interface: no "
                             "predict/train", f"add the method {name} of this notebook's "
                             "TwoLayerNet (see its docstring) to grade this item"))
        return get_attr(self.obj, name, label="TwoLayerNet")


def _has(obj, name: str) -> bool:
    try:
        materialize(get_attr(obj, name, label="TwoLayerNet"))
    except CheckFailed:
        return False
    return True


def _net(TwoLayerNet, case: Case) -> Net:
    """A student net holding the case's parameters (copies: training changes them in place)."""
    N, D, H, C = case.shape
    obj = call(TwoLayerNet, D, H, C, names=("input_size", "hidden_size", "output_size"),
               label="TwoLayerNet")
    net = Net(obj)
    as_dict(net.params, "self.params", keys=PARAMS)
    _set_params(net, case.params)
    return net


def _set_params(net: Net, values: dict) -> None:
    params = net.params
    for name in PARAMS:
        params[name] = np.array(values[name], dtype=np.float64, copy=True)


def _get_params(net: Net, like: dict) -> dict:
    params = as_dict(net.params, "self.params", keys=PARAMS)
    return {k: as_array(params[k], f"params[{k!r}]", shape=like[k].shape) for k in PARAMS}


# --------------------------------------------------------------------------- scores

@register("TwoLayerNet.scores", "TwoLayerNet forward pass: loss(X) returns the scores (N, C)")
def _(ctx, TwoLayerNet):
    for case in _cases(ctx):
        net = _net(TwoLayerNet, case)
        scores = net.scores(case.X, case.shape[3])
        expect_close(scores, case.scores, "scores", context=_context(case), hints={
            Mistake("no-relu", "ReLU between the layers missing",
                    "the ReLU between the two affine layers is missing"):
                case.variants["no_relu"],
            Mistake("no-b1", "b1 missing", "b1 is missing from the first layer"):
                case.variants["no_b1"],
            Mistake("no-b2", "b2 missing", "b2 is missing from the second layer"):
                case.scores - case.params["b2"],
            Mistake("relu-on-scores", "ReLU applied to the scores",
                    "the scores went through a ReLU too: only the hidden layer has one; the "
                    "scores of the last layer stay as they are (negative ones too)"):
                np.maximum(0, case.scores),
        })


@contextmanager
def _blame_scores(net: Net, case: Case, what: str):
    """A wrong ``what`` computed from wrong scores: say "fix the scores first" (one bug,
    one item) instead of blaming ``what``."""
    try:
        yield
    except CheckFailed as exc:
        try:
            scores = net.scores(case.X, case.shape[3])
        except CheckFailed:
            scores = None
        if scores is not None and np.allclose(scores, case.scores, rtol=1e-6, atol=1e-9):
            raise
        raise CheckFailed(
            f"{what} is wrong {_context(case)}, and so are the scores it is computed from.\n"
            f"{exc.message}",
            hint=Mistake("fix-scores-first", "scores wrong (this item needs them)",
                         "make the TwoLayerNet.scores check pass first")) from None


# --------------------------------------------------------------------------- loss

REG_HALF = Mistake("reg-convention-mismatch", "loss and gradient use different reg conventions",
                   "pick one convention for both: this course uses reg * sum(W**2) with "
                   "gradient 2 * reg * W; CS231n's 0.5 * reg * sum(W**2) has gradient reg * W")


def _reg_part(net, case, reg, grads_r, grads_0):
    """How the student's gradient regularizes W1 and W2: 2 (2 reg W), 1 (reg W) or None."""
    try:
        d = {k: as_array(as_dict(grads_r, "grads")[k], k, shape=case.params[k].shape)
             - as_array(as_dict(grads_0, "grads")[k], k, shape=case.params[k].shape)
             for k in ("W1", "W2")}
    except CheckFailed:
        return None
    for factor in (2.0, 1.0):
        if all(np.allclose(d[k], factor * reg * case.params[k], rtol=1e-6, atol=1e-10)
               for k in d):
            return factor
    return None


@register("TwoLayerNet.loss", "TwoLayerNet loss: mean softmax loss + reg * (sum W1^2 + sum W2^2)")
def _(ctx, TwoLayerNet):
    regs = [0.0, float(stored()["net_reg"])]
    if ctx.hidden:
        regs.append(float(ctx.rng.uniform(0.01, 1.0)))
    conventions = set()
    for case in _cases(ctx):
        net = _net(TwoLayerNet, case)
        N = case.shape[0]
        P = case.params
        W1, W2 = P["W1"], P["W2"]
        sq1, sq2 = float(np.sum(W1 ** 2)), float(np.sum(W2 ** 2))
        grads_0 = None
        for reg in regs:
            loss, grads = net.loss(case.X, case.y, reg)
            if reg == 0:
                grads_0 = grads
            data = case.data_loss
            full, half = data + reg * (sq1 + sq2), data + 0.5 * reg * (sq1 + sq2)
            where = f"{_context(case)} with reg={reg:g}"
            if reg and _close(loss, half, 1e-6, 1e-9):
                # CS231n's convention: right when the gradient follows it too.
                factor = _reg_part(net, case, reg, grads, grads_0)
                if factor == 2.0:
                    fail(f"loss is {half:.6g} {where}: 0.5 * reg * (sum(W1**2) + sum(W2**2)) "
                         "(CS231n's convention), but your gradient adds 2 * reg * W, the "
                         "derivative of reg * sum(W**2) (this course's).", hint=REG_HALF)
                conventions.add("0.5 * reg * sum(W*W), gradient reg * W (CS231n's)")
                continue
            hints = {Mistake("no-1-over-N", "loss not averaged over N",
                             "your data loss is N times too large: average the softmax loss "
                             "over the N examples"): N * data + reg * (sq1 + sq2)}
            if reg:
                hints.update({
                    Mistake("no-reg", "regularization missing from the loss",
                            "the regularization term is missing: add reg * (sum(W1**2) + "
                            "sum(W2**2))"): data,
                    Mistake("reg-doubled", "regularization counted twice",
                            "the regularization is counted twice: add reg * (sum(W1**2) + "
                            "sum(W2**2)) once"): data + 2 * reg * (sq1 + sq2),
                    Mistake("reg-only-W1", "only W1 regularized",
                            "only W1 is regularized: add reg * sum(W2**2) too"): data + reg * sq1,
                    Mistake("reg-only-W2", "only W2 regularized",
                            "only W2 is regularized: add reg * sum(W1**2) too"): data + reg * sq2,
                    Mistake("reg-not-squared", "regularization of sum(W), not sum(W**2)",
                            "the regularization should square the weights: sum(W1**2), not "
                            "sum(W1)"): data + reg * float(np.sum(W1) + np.sum(W2)),
                    Mistake("reg-biases", "biases regularized",
                            "the biases are regularized too: only W1 and W2 are"):
                        full + reg * float(np.sum(P["b1"] ** 2) + np.sum(P["b2"] ** 2)),
                })
            with _blame_scores(net, case, "loss"):
                expect_close(loss, full, "loss", context=where, hints=hints)
            if reg:
                conventions.add("reg * sum(W*W), gradient 2 * reg * W")
    if len(conventions) > 1:
        fail("loss uses reg * sum(W**2) on some cases and 0.5 * reg * sum(W**2) on others.",
             hint=REG_HALF)
    if conventions:
        _note(ctx, "regularization convention found: " + conventions.pop())


def _note(ctx, text: str) -> None:
    """A line for the pass message (shown when the check framework supports notes)."""
    ctx.note = text


def _close(a, b, rtol, atol) -> bool:
    return abs(a - b) <= atol + rtol * abs(b)


# --------------------------------------------------------------------------- grads

def _grad_hints(name: str, W: np.ndarray, reg: float, N: int) -> dict:
    no_n = Mistake("grad-no-1-over-N", "data gradient not averaged over N",
                   "the data gradient is N times too large: the softmax gradient must be "
                   "divided by N")
    if name.startswith("W"):
        hints = {
            Mistake("no-reg-grad", "regularization gradient missing",
                    f"adding 2 * reg * {name} would make it right: did you forget the "
                    "regularization gradient?"): lambda num, take: num - 2 * reg * take(W),
            Mistake("reg-grad-without-2", "regularization gradient reg * W, loss reg * W**2",
                    f"the regularization gradient is 2 * reg * {name} (the derivative of "
                    f"reg * {name}**2), not reg * {name}"): lambda num, take: num - reg * take(W),
            Mistake("reg-grad-doubled", "regularization gradient added twice",
                    f"the regularization gradient is there twice: add 2 * reg * {name} once"):
                lambda num, take: num + 2 * reg * take(W),
            no_n: lambda num, take: N * (num - 2 * reg * take(W)) + 2 * reg * take(W),
        }
        return {k: v for k, v in hints.items() if reg or "regularization" not in k}
    return {
        Mistake("reg-grad-biases", "biases regularized in the gradient",
                f"the biases are not regularized: {name} gets no reg term"):
            (lambda num, take: num + 2 * reg * take(W)) if reg else None,
        no_n: lambda num, take: N * num,
    }


def _param_setter_loss(net: Net, name, X, y, reg):
    """f(value) = the student's loss with params[name] = value (for numerical gradients)."""
    params = net.params

    def f(value):
        params[name] = value
        return net.raw_loss(X, y, reg)

    f.__qualname__ = "TwoLayerNet.loss"
    return f


def _validated_grads(grads, case: Case) -> dict:
    """The student's grads as float64 arrays of the parameters' shapes, or a lesson."""
    N, D, H, C = case.shape
    grads = as_dict(grads, "grads")
    for name in PARAMS:
        if name not in grads:
            fail(f"grads has no entry {name!r} (it has {sorted(map(str, grads))}).",
                 hint=Mistake("missing-grad", "a gradient missing from grads",
                              f"every parameter needs its gradient, under the same name as in "
                              f"self.params: grads[{name!r}]"))
        if materialize(grads[name]) is None:
            fail(f"grads[{name!r}] is None.",
                 hint=Mistake("missing-grad", "a gradient missing from grads",
                              "compute it in the backward pass"))
    axis = Mistake("b-wrong-axis", "bias gradient summed over the wrong axis",
                   "sum over the examples (axis 0), not over the {}")
    summed = Mistake("b-summed-all", "bias gradient summed over everything",
                     "sum over the examples (axis 0) only")
    transposed = Mistake("W-transposed", "weight gradient transposed",
                         "it looks transposed: {} is {}")
    lessons = {
        "b1": {(N,): Mistake(axis.id, axis.title, axis.format("hidden units")), (): summed},
        "b2": {(N,): Mistake(axis.id, axis.title, "sum dscores " + axis.format("classes")[4:]),
               (): summed},
        "W1": {(H, D): Mistake(transposed.id, transposed.title, transposed.format("W1", "(D, H)"))},
        "W2": {(C, H): Mistake(transposed.id, transposed.title, transposed.format("W2", "(H, C)"))},
    }
    return {name: _gradient_shape(grads[name], f"grads[{name!r}]", case.params[name].shape,
                                  name, lessons[name]) for name in PARAMS}


def _check_param_grad(ctx, net, case, name, grad, reg, grad_0=None):
    """grads[name] against the numerical gradient of the student's own loss. With reg > 0 a
    gradient is also right when its data part matches the own loss at reg = 0 and its
    regularization part is this course's 2 * reg * W (0 for biases): then a loss with a wrong
    regularization term costs the loss item only."""
    value = case.params[name]
    label = f"grads[{name!r}]"

    def check(g, r, hints):
        f = _param_setter_loss(net, name, case.X, case.y, r)
        try:
            check_gradient(f, (value,), 0, g, f"{label} ({_context(case)}, reg={r:g})",
                           output=loss_of, rng=ctx.rng,
                           num_checks=None if value.size <= 8 else 8, hints=hints)
        finally:
            net.params[name] = value.copy()

    try:
        check(grad, reg, _grad_hints(name, value, reg, case.shape[0]))
    except CheckFailed:
        if not reg or grad_0 is None:
            raise
        course = 2 * reg * value if name.startswith("W") else np.zeros_like(value)
        if not np.allclose(grad - grad_0, course, rtol=1e-6, atol=1e-10):
            raise
        try:
            check(grad_0, 0.0, {})
        except CheckFailed:
            pass
        else:
            return
        raise


@register("TwoLayerNet.grads", "TwoLayerNet backward pass: grads of W1, b1, W2, b2")
def _(ctx, TwoLayerNet):
    stored_reg = float(stored()["net_reg"])
    for i, case in enumerate(_cases(ctx)):
        net = _net(TwoLayerNet, case)
        _, grads = net.loss(case.X, case.y, stored_reg)
        grads = _validated_grads(grads, case)
        _, grads_0 = net.loss(case.X, case.y, 0.0)
        grads_0 = _validated_grads(grads_0, case)
        if i == 0:
            # Without regularization first: a wrong data gradient can hide behind a right
            # regularization gradient.
            for name in PARAMS:
                _check_param_grad(ctx, net, case, name, grads_0[name], 0.0)
        for name in PARAMS:
            _check_param_grad(ctx, net, case, name, grads[name], stored_reg, grads_0[name])


# --------------------------------------------------------------------------- predict

@register("TwoLayerNet.predict", "TwoLayerNet.predict: the class with the highest score")
def _(ctx, TwoLayerNet):
    for case in _cases(ctx):
        N, _, _, C = case.shape
        net = _net(TwoLayerNet, case)
        predict = net.method("predict", "predict(X), the class with the highest score")
        labels = materialize(call(predict, case.X, names=("X",)))
        got = getattr(labels, "shape", None)
        if type(labels) is np.ndarray and got == (C,) and C != N:
            fail(f"predict returned shape {got}, one value per class.",
                 hint=Mistake("argmax-axis-0", "argmax over the examples",
                              "take the argmax over the classes, axis 1, not over the "
                              "examples"))
        if type(labels) is np.ndarray and got == (N, C):
            fail(f"predict returned shape {got}: scores, not labels.",
                 hint=Mistake("returns-scores", "predict returns scores",
                              "return np.argmax(scores, axis=1), one label per example"))
        if (type(labels) is np.ndarray and got == ()) or isinstance(labels, int | np.integer):
            fail("predict returned a single number for a batch of examples.",
                 hint=Mistake("argmax-flat", "argmax without an axis",
                              "np.argmax without axis= takes the argmax of the flattened "
                              "scores; use np.argmax(scores, axis=1)"))
        labels = as_array(_rows_or_fail(labels, "predict(X)", N, 1), "predict(X)", shape=(N,),
                          kind="int")
        with _blame_scores(net, case, "predict"):
            _expect_labels(labels, case)


def _expect_labels(labels, case):
    N, _, _, C = case.shape
    expect_equal(labels, np.argmax(case.scores, axis=1), "predict(X)", context=_context(case),
                 hints={
        Mistake("argmin", "the lowest score instead of the highest",
                "that is the class with the LOWEST score: use argmax"):
            np.argmin(case.scores, axis=1),
        Mistake("argmax-axis-0", "argmax over the examples",
                "take the argmax over the classes, axis 1, not over the examples"):
            np.argmax(case.scores, axis=0) if C == N else None,
    })


# --------------------------------------------------------------------------- train

STEP = "step AGAINST the gradient: params -= learning_rate * grads"


def _train(net: Net, X, y, X_val, y_val, **kwargs):
    train = net.method("train", "train(...), minibatch SGD")
    result = call(train, X, y, X_val, y_val, names=("X", "y", "X_val", "y_val"), **kwargs)
    stats = as_dict(result, "the dict train returns",
                    keys=("loss_history", "train_acc_history", "val_acc_history"))
    history = as_list(stats["loss_history"], "loss_history")
    if len(history) != kwargs["num_iters"]:
        fail(f"loss_history has {len(history)} entries after num_iters={kwargs['num_iters']} "
             "steps.", hint=Mistake("history-length", "loss_history not one loss per step",
                                    "append the minibatch loss once per step"))
    history = np.array([_number(v, "a loss_history entry") for v in history])
    for key in ("train_acc_history", "val_acc_history"):
        accs = [as_float(v, f"{key} entry") for v in as_list(stats[key], key)]
        if not accs or not all(0.0 <= a <= 1.0 for a in accs):
            fail(f"{key} should hold accuracies between 0 and 1, one per epoch; got {accs[:5]}.")
    return history


def _number(value, name: str) -> float:
    """A real number, inf and nan included (a diverging run is diagnosed, not refused)."""
    value = materialize(value)
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return float(value)
    return as_float(value, name)


def _dependencies(net: Net, case: Case, X_batch, y_batch, reg):
    """train calls predict and loss: when they are wrong, say so under their own names."""
    labels = materialize(call(net.method("predict", "predict(X)"), case.X[:5], names=("X",)))
    if getattr(labels, "shape", None) != (5,):
        fail(f"train records accuracies with predict, but predict returned "
             f"{getattr(labels, 'shape', type(labels).__name__)} for 5 examples instead of "
             "5 labels.", hint=Mistake("fix-predict-first", "predict broken (train needs it)",
                                       "make the TwoLayerNet.predict check pass first"))
    try:
        _validated_grads(net.loss(X_batch, y_batch, reg)[1], replace(case, X=X_batch))
    except CheckFailed as exc:
        fail(f"train steps with the gradients of loss, but on a minibatch of "
             f"{len(X_batch)} examples they are not usable:\n{exc.lesson()}",
             hint=Mistake("fix-grads-first", "gradients broken (train needs them)",
                          "make the TwoLayerNet.grads check pass first"))


def _schedules(lr, decay, steps, per_epoch):
    """Learning rate of each step: CS231n's (decay after step t when t % per_epoch == 0) and
    the other reasonable reading (decay at the end of each epoch), plus typical mistakes."""
    def make(decays_after):
        rates, r = [], lr
        for t in range(steps):
            rates.append(r)
            if decays_after(t):
                r *= decay
        return rates

    return {
        "cs231n": make(lambda t: t % per_epoch == 0),
        "end-of-epoch": make(lambda t: (t + 1) % per_epoch == 0),
        "no-decay": make(lambda t: False),
        "decay-every-step": make(lambda t: True),
        "decay-every-step-first": [r * decay for r in make(lambda t: True)],
        # the epoch block run before the step instead of after it
        "decay-before-step": [r * decay for r in make(lambda t: (t + 1) % per_epoch == 0)],
    }


def _simulate(net, case, X_batch, y_batch, reg, rates, *, sign=-1.0, momentum=0.0):
    """The parameters and losses that SGD with the student's own loss and gradients
    reaches; ``momentum``: the classic v = mu v - lr g; p += v instead."""
    P = {k: v.copy() for k, v in case.params.items()}
    velocity = {k: np.zeros_like(v) for k, v in P.items()}
    losses = []
    for rate in rates:
        _set_params(net, P)
        loss, grads = net.loss(X_batch, y_batch, reg)
        grads = _validated_grads(grads, replace(case, X=X_batch))
        losses.append(loss)
        for k in PARAMS:
            velocity[k] = momentum * velocity[k] + sign * rate * grads[k]
            P[k] = P[k] + velocity[k]
    _set_params(net, case.params)
    return P, np.array(losses)


def _same(P, Q) -> bool:
    return all(np.allclose(P[k], Q[k], rtol=1e-7, atol=1e-12) for k in PARAMS)


def _check_steps(ctx, TwoLayerNet):
    """One example repeated N times: every minibatch is the same, so the parameters SGD
    reaches are known exactly from the student's own loss, whatever that loss computes."""
    rng = ctx.rng
    D, H, C = (int(rng.integers(3, 7)), int(rng.integers(4, 9)), int(rng.integers(3, 6))) \
        if ctx.hidden else (5, 6, 3)
    batch_size, per_epoch, steps = 20, 3, 7
    lr, decay = (float(rng.uniform(0.1, 0.3)), float(rng.uniform(0.3, 0.7))) \
        if ctx.hidden else (0.2, 0.5)
    reg = 0.01
    x0 = rng.standard_normal(D)
    y0 = int(rng.integers(0, C))
    case = Case(np.tile(x0, (batch_size, 1)), np.full(batch_size, y0), {
        "W1": 0.3 * rng.standard_normal((D, H)), "b1": 0.2 + 0.1 * rng.random(H),
        "W2": 0.3 * rng.standard_normal((H, C)), "b2": 0.1 * rng.standard_normal(C)},
        scores=None, data_loss=0.0, variants={}, label="")
    net = _net(TwoLayerNet, case)
    net.method("train", "train(...), minibatch SGD")
    X_train = np.tile(x0, (batch_size * per_epoch, 1))
    y_train = np.full(len(X_train), y0)
    _dependencies(net, case, case.X, case.y, reg)
    rates = _schedules(lr, decay, steps, per_epoch)
    right = [_simulate(net, case, case.X, case.y, reg, rates[name])
             for name in ("cs231n", "end-of-epoch")]
    kwargs = dict(learning_rate=lr, learning_rate_decay=decay, reg=reg, num_iters=steps,
                  batch_size=batch_size, verbose=False)
    history = _train(net, X_train, y_train, X_train[:5], y_train[:5], **kwargs)
    got = _get_params(net, case.params)
    moved = [k for k in PARAMS if not np.array_equal(right[0][0][k], case.params[k])]
    unchanged = [k for k in moved if np.array_equal(got[k], case.params[k])]
    if moved and len(unchanged) == len(moved):
        fail("train did not change self.params.",
             hint=Mistake("params-not-updated", "train does not update self.params",
                          "update the arrays in self.params in place, e.g. self.params['W1'] "
                          "-= learning_rate * grads['W1']; assigning to a local variable "
                          "changes nothing"))
    if unchanged:
        fail(f"train updated some parameters but not {', '.join(unchanged)}.",
             hint=Mistake("param-not-updated", "a parameter never updated",
                          "update every parameter: loop over self.params"))
    where = (f"after {steps} steps of batch_size={batch_size} on {3 * batch_size} copies of "
             f"one example (every minibatch the same), learning_rate={lr:.3g}, "
             f"learning_rate_decay={decay:.3g}: an epoch is {per_epoch} steps")
    for P, losses in right:
        if _same(got, P):
            if not np.allclose(history, losses, rtol=1e-6, atol=1e-10):
                fail(f"loss_history does not hold the minibatch losses {where}: got "
                     f"{np.round(history, 5).tolist()}, the losses loss() returned at each "
                     f"step were {np.round(losses, 5).tolist()}.",
                     hint=Mistake("history-not-loss", "loss_history not the minibatch losses",
                                  "append the loss that self.loss returns for each minibatch"))
            return
    cs231n = rates["cs231n"]
    mistakes = [
        (Mistake("gradient-ascent", "parameters moved along the gradient", STEP),
         dict(rates=cs231n, sign=1.0)),
        (Mistake("momentum", "momentum instead of plain SGD",
                 "the parameters moved as with momentum 0.9 (a velocity that keeps earlier "
                 "steps); this train is plain SGD: params -= learning_rate * grads"),
         dict(rates=cs231n, momentum=0.9)),
        (Mistake("no-lr-decay", "learning rate never decayed",
                 "multiply learning_rate by learning_rate_decay once per epoch"),
         dict(rates=rates["no-decay"])),
        (Mistake("decay-every-step", "learning rate decayed every step",
                 "decay the learning rate once per epoch (every iterations_per_epoch steps), "
                 "not after every step"), dict(rates=rates["decay-every-step"])),
        (Mistake("decay-every-step", "learning rate decayed every step",
                 "decay the learning rate once per epoch (every iterations_per_epoch steps), "
                 "not at every step"), dict(rates=rates["decay-every-step-first"])),
        (Mistake("decay-before-step", "learning rate decayed before the first step",
                 "the first step must use the learning_rate given; decay it after the "
                 "update, at the end of the epoch block"), dict(rates=rates["decay-before-step"])),
        (Mistake("no-learning-rate", "steps not scaled by the learning rate",
                 "scale each step by the learning rate: params -= learning_rate * grads"),
         dict(rates=[1.0] * steps)),
    ]
    for mistake, how in mistakes:
        try:
            P, _ = _simulate(net, case, case.X, case.y, reg, **how)
        except CheckFailed:  # that path overflows the student's loss: not what happened
            continue
        if _same(got, P):
            fail(f"the parameters are not where plain SGD takes them {where}.", hint=mistake)
    fail(f"the parameters are not where plain SGD takes them {where}: each step should do "
         "params -= learning_rate * grads with the grads self.loss returns for the minibatch.",
         hint=Mistake("wrong-update", "update is not plain SGD",
                      "one update per step, with the current learning rate and the minibatch's "
                      "gradients; decay the rate once per epoch"))


def _check_sampling(ctx, TwoLayerNet):
    """With learning_rate 0 the parameters stay put and loss_history shows what each
    minibatch drew. Every row of X is one input x0; its label makes the loss: the first half
    alternates the two labels of lowest loss, the second half holds the label of highest
    loss, so a batch's loss tells whether it held second-half rows."""
    rng = ctx.rng
    D, H, C = 5, 6, 3
    n, batch_size, steps = (100, 10, 20) if not ctx.hidden else (120, 12, 24)
    x0 = rng.standard_normal(D) * 2
    case = Case(np.tile(x0, (batch_size, 1)), np.zeros(batch_size, dtype=int), {
        "W1": 0.5 * rng.standard_normal((D, H)), "b1": 0.2 + 0.1 * rng.random(H),
        "W2": rng.standard_normal((H, C)), "b2": 0.1 * rng.standard_normal(C)},
        scores=None, data_loss=0.0, variants={}, label="")
    net = _net(TwoLayerNet, case)
    net.method("train", "train(...), minibatch SGD")
    pure = [net.loss(case.X, np.full(batch_size, c), 0.0)[0] for c in range(C)]
    low, mid, high = (int(c) for c in np.argsort(pure))
    if min(pure[high] - pure[mid], pure[mid] - pure[low]) < 1e-6 * max(1.0, abs(pure[high])):
        return  # the student's loss cannot tell the labels apart: nothing to see here
    X = np.tile(x0, (n, 1))
    y = np.array([(low, mid)[i % 2] for i in range(n // 2)] + [high] * (n // 2))
    history = _train(net, X, y, X[:5], y[:5], learning_rate=0.0, learning_rate_decay=1.0,
                     reg=0.0, num_iters=steps, batch_size=batch_size, verbose=False)
    tol = 1e-9 * max(1.0, abs(pure[high]))
    where = (f"(learning_rate=0, {steps} steps of batch_size={batch_size} from {n} examples "
             f"whose losses differ between the first and the second half)")
    if np.ptp(history) <= tol:
        fail(f"every step trained on the same minibatch {where}: loss_history is "
             f"{history[0]:.6g} at every step.",
             hint=Mistake("fixed-batch", "the same minibatch every step",
                          "draw a new random minibatch each step: idx = np.random.choice("
                          "num_train, batch_size); X_batch = X[idx]"))
    # A batch of first-half rows only has a loss on the lattice (k low + (b - k) mid) / b; a
    # second-half row moves it off by a multiple of the (irrational) gap to the high loss.
    k = np.arange(batch_size + 1)
    lattice = (k * pure[low] + (batch_size - k) * pure[mid]) / batch_size
    first_half_only = np.min(np.abs(history[:, None] - lattice[None, :]), axis=1) <= tol
    if first_half_only.all():
        fail(f"no minibatch held a single example from the second half of X {where}.",
             hint=Mistake("batch-from-prefix", "minibatches drawn from part of X only",
                          "sample from all num_train examples: np.random.choice(num_train, "
                          "batch_size)"))
    in_order = (np.abs(history - (pure[low] + pure[mid]) / 2) <= tol) | (
        np.abs(history - pure[high]) <= tol)
    if in_order.all():
        fail(f"every minibatch held examples from one half of X only {where}: the batches "
             "are consecutive slices of X in their stored order.",
             hint=Mistake("no-shuffle", "minibatches in stored order, not random",
                          "draw random examples for each minibatch (np.random.choice); data "
                          "stored sorted by class would otherwise give one-class batches"))


@register("TwoLayerNet.train", "TwoLayerNet.train: minibatch SGD steps of learning_rate * grads")
def _(ctx, TwoLayerNet):
    _check_steps(ctx, TwoLayerNet)
    _check_sampling(ctx, TwoLayerNet)


# --------------------------------------------------------------------------- preprocessing

def _float64_rows(value, name, shape):
    value = materialize(value)
    if type(value) is np.ndarray and value.dtype != np.float64 and value.dtype.kind in "biuf":
        fail(f"{name} has dtype {value.dtype}; expected float64.",
             hint=Mistake("not-float64", "not converted to float64",
                          "convert with .astype(np.float64) before subtracting: uint8 pixels "
                          "cannot hold negative numbers (200 - 201 wraps around to 255)"))
    return as_array(value, name, shape=shape)


OTHER_MEAN = Mistake("other-mean", "centred with the test or validation mean",
                     "subtract the mean of the TRAINING rows from every set, not the mean of "
                     "the test or validation rows")


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
                     "differences between rows must not change", hints={
                         Mistake("rescaled", "pixels rescaled",
                                 "the values were divided by 255: only subtract the mean "
                                 "(no rescaling)"): (flat[0] - flat[0][0]) / 255.0,
                         Mistake("per-example-mean", "each image centred with its own mean",
                                 "each row was centred with its own mean: subtract the mean "
                                 "ROW of X_train (axis 0) from every row"):
                             (flat[0] - flat[0].mean(axis=1, keepdims=True))
                             - (flat[0][0] - flat[0][0].mean()),
                     })
        shifts = flat[0] - outs[0]
        expect_close(shifts, np.broadcast_to(shifts[0], shifts.shape), "X_train shift",
                     context=f"{where}: subtract the same mean image from every row")
        expect_close(outs[0].mean(axis=0), np.zeros(D), "mean of the returned X_train rows",
                     context=f"{where} (centred data has mean 0 in every column)", atol=1e-9,
                     hints={
                         Mistake("not-centred", "nothing subtracted", "nothing was subtracted"):
                             flat[0].mean(axis=0),
                         OTHER_MEAN: flat[0].mean(axis=0) - flat[2].mean(axis=0),
                         Mistake("other-mean", OTHER_MEAN.title, "subtract the mean of the "
                                 "TRAINING rows from every set, not the mean of the validation "
                                 "rows"): flat[0].mean(axis=0) - flat[1].mean(axis=0)})
        mean = shifts[0]
        for k in (1, 2):
            expect_close(outs[k], flat[k] - mean, f"the returned {names[k]}",
                         context=f"{where}: it should be shifted by the TRAINING mean", hints={
                             Mistake("own-mean", "each set centred with its own mean",
                                     f"{names[k]} was centred with its own mean: subtract the "
                                     "mean of the training rows instead"):
                                 flat[k] - flat[k].mean(axis=0),
                             Mistake("not-centred", "nothing subtracted",
                                     f"{names[k]} was not centred"): flat[k]})
