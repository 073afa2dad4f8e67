"""CS231n assignment-1 code as students wrote it in each year, run unchanged by notebook 05's
checks, in the student's kernel and through the grader's channel.

* 2016: ``classifiers/neural_net.py``'s ``TwoLayerNet(input_size, hidden_size, output_size,
  std=1e-4)`` with ``loss(X, y=None, reg=0.0)``, ``train``, ``predict``, regularized with
  ``0.5 * reg * sum(W*W)`` (gradient ``reg * W``): the 2016 notebook expects the toy model's
  loss 1.30378789133 at reg = 0.1.
* 2017-2020: the same interface with ``reg * sum(W*W)`` (gradient ``2 * reg * W``): the same
  loss at reg = 0.05.
* 2021+: ``classifiers/fc_net.py``'s ``TwoLayerNet(input_dim, hidden_dim, num_classes,
  weight_scale, reg)`` with ``loss(X, y=None)`` reading ``self.reg``, built on
  ``affine_relu_forward`` and ``softmax_loss``; no ``predict``/``train`` (CS231n's Solver does
  both), which the checks report as not part of that interface.

The code below follows the CS231n starter files' signatures and structure; it was written
for this test, not copied.
"""

import textwrap

import numpy as np
import pytest

from autograder.channel import Client, Loopback, ObjectServer
from course_lib.checks import CHECKS, Context

LAYERS = '''
def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1).dot(w) + b
    cache = (x, w, b)
    return out, cache


def affine_backward(dout, cache):
    x, w, b = cache
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T.dot(dout)
    db = np.sum(dout, axis=0)
    return dx, dw, db


def relu_forward(x):
    out = np.maximum(0, x)
    cache = x
    return out, cache


def relu_backward(dout, cache):
    x = cache
    dx = dout * (x > 0)
    return dx


def affine_relu_forward(x, w, b):
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(dout, cache):
    fc_cache, relu_cache = cache
    da = relu_backward(dout, relu_cache)
    return affine_backward(da, fc_cache)


def svm_loss(x, y):
    N = x.shape[0]
    correct_class_scores = x[np.arange(N), y]
    margins = np.maximum(0, x - correct_class_scores[:, np.newaxis] + 1.0)
    margins[np.arange(N), y] = 0
    loss = np.sum(margins) / N
    num_pos = np.sum(margins > 0, axis=1)
    dx = np.zeros_like(x)
    dx[margins > 0] = 1
    dx[np.arange(N), y] -= num_pos
    dx /= N
    return loss, dx


def softmax_loss(x, y):
    shifted_logits = x - np.max(x, axis=1, keepdims=True)
    Z = np.sum(np.exp(shifted_logits), axis=1, keepdims=True)
    log_probs = shifted_logits - np.log(Z)
    probs = np.exp(log_probs)
    N = x.shape[0]
    loss = -np.sum(log_probs[np.arange(N), y]) / N
    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    dx /= N
    return loss, dx
'''

# classifiers/neural_net.py, 2016-2020; REG_LOSS / REG_GRAD differ between the years.
NEURAL_NET = '''
class TwoLayerNet(object):
    def __init__(self, input_size, hidden_size, output_size, std=1e-4):
        self.params = {}
        self.params['W1'] = std * np.random.randn(input_size, hidden_size)
        self.params['b1'] = np.zeros(hidden_size)
        self.params['W2'] = std * np.random.randn(hidden_size, output_size)
        self.params['b2'] = np.zeros(output_size)

    def loss(self, X, y=None, reg=0.0):
        W1, b1 = self.params['W1'], self.params['b1']
        W2, b2 = self.params['W2'], self.params['b2']
        N, D = X.shape

        scores = None
        hidden = np.maximum(0, X.dot(W1) + b1)
        scores = hidden.dot(W2) + b2

        if y is None:
            return scores

        loss = None
        exp_scores = np.exp(scores - np.max(scores, axis=1, keepdims=True))
        probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
        loss = -np.sum(np.log(probs[np.arange(N), y])) / N
        loss += REG_LOSS * reg * (np.sum(W1 * W1) + np.sum(W2 * W2))

        grads = {}
        dscores = probs
        dscores[np.arange(N), y] -= 1
        dscores /= N
        grads['W2'] = hidden.T.dot(dscores) + REG_GRAD * reg * W2
        grads['b2'] = np.sum(dscores, axis=0)
        dhidden = dscores.dot(W2.T)
        dhidden[hidden <= 0] = 0
        grads['W1'] = X.T.dot(dhidden) + REG_GRAD * reg * W1
        grads['b1'] = np.sum(dhidden, axis=0)
        return loss, grads

    def train(self, X, y, X_val, y_val,
              learning_rate=1e-3, learning_rate_decay=0.95,
              reg=5e-6, num_iters=100,
              batch_size=200, verbose=False):
        num_train = X.shape[0]
        iterations_per_epoch = max(num_train / batch_size, 1)

        loss_history = []
        train_acc_history = []
        val_acc_history = []

        for it in range(num_iters):
            X_batch = None
            y_batch = None
            indices = np.random.choice(num_train, batch_size)
            X_batch = X[indices]
            y_batch = y[indices]

            loss, grads = self.loss(X_batch, y=y_batch, reg=reg)
            loss_history.append(loss)

            for param in self.params:
                self.params[param] -= learning_rate * grads[param]

            if verbose and it % 100 == 0:
                print('iteration %d / %d: loss %f' % (it, num_iters, loss))

            if it % iterations_per_epoch == 0:
                train_acc = (self.predict(X_batch) == y_batch).mean()
                val_acc = (self.predict(X_val) == y_val).mean()
                train_acc_history.append(train_acc)
                val_acc_history.append(val_acc)
                learning_rate *= learning_rate_decay

        return {
          'loss_history': loss_history,
          'train_acc_history': train_acc_history,
          'val_acc_history': val_acc_history,
        }

    def predict(self, X):
        y_pred = None
        y_pred = np.argmax(self.loss(X), axis=1)
        return y_pred
'''

# classifiers/fc_net.py, 2021+ (CS231n's notebook asks for the 0.5 * reg convention there).
FC_NET = '''
class TwoLayerNet(object):
    def __init__(self, input_dim=3 * 32 * 32, hidden_dim=100, num_classes=10,
                 weight_scale=1e-3, reg=0.0):
        self.params = {}
        self.reg = reg
        self.params['W1'] = weight_scale * np.random.randn(input_dim, hidden_dim)
        self.params['b1'] = np.zeros(hidden_dim)
        self.params['W2'] = weight_scale * np.random.randn(hidden_dim, num_classes)
        self.params['b2'] = np.zeros(num_classes)

    def loss(self, X, y=None):
        scores = None
        W1, b1, W2, b2 = (self.params[k] for k in ('W1', 'b1', 'W2', 'b2'))
        hidden, hidden_cache = affine_relu_forward(X, W1, b1)
        scores, scores_cache = affine_forward(hidden, W2, b2)

        if y is None:
            return scores

        loss, grads = 0, {}
        loss, dscores = softmax_loss(scores, y)
        loss += 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
        dhidden, grads['W2'], grads['b2'] = affine_backward(dscores, scores_cache)
        _, grads['W1'], grads['b1'] = affine_relu_backward(dhidden, hidden_cache)
        grads['W1'] += self.reg * W1
        grads['W2'] += self.reg * W2
        return loss, grads
'''

YEARS = {
    "2016": NEURAL_NET.replace("REG_LOSS", "0.5").replace("REG_GRAD", "1"),
    "2017-2020": NEURAL_NET.replace("REG_LOSS", "1").replace("REG_GRAD", "2"),
    "2021+": FC_NET,
    # 0.5 * reg in the loss with this course's gradient: the pair disagrees.
    "mixed": NEURAL_NET.replace("REG_LOSS", "0.5").replace("REG_GRAD", "2"),
}
NET_CHECKS = ("TwoLayerNet.scores", "TwoLayerNet.loss", "TwoLayerNet.grads",
              "TwoLayerNet.predict", "TwoLayerNet.train")
LAYER_CHECKS = {"affine_forward": ["affine_forward"],
                "affine_backward": ["affine_forward", "affine_backward"],
                "relu_forward": ["relu_forward"],
                "relu_backward": ["relu_forward", "relu_backward"],
                "softmax_loss": ["softmax_loss"], "svm_loss": ["svm_loss"]}


def namespace(year: str) -> dict:
    ns = {"__name__": "__main__", "np": np}
    exec(textwrap.dedent(LAYERS) + textwrap.dedent(YEARS[year]), ns)
    return ns


def objects(year: str, names: list[str], mode: str) -> list:
    ns = namespace(year)
    if mode == "direct":
        return [ns[n] for n in names]
    client = Client(Loopback(ObjectServer(ns)))
    return [client.ref(n) for n in names]


def toy_loss(year: str, reg: float) -> float:
    """CS231n's toy model and data (its two-layer notebook's first cells)."""
    net_class = namespace(year)["TwoLayerNet"]
    np.random.seed(0)
    net = net_class(4, 10, 3, 1e-1)
    np.random.seed(1)
    X = 10 * np.random.randn(5, 4)
    y = np.array([0, 1, 2, 2, 1])
    if year == "2021+":
        net.reg = reg
        return net.loss(X, y)[0]
    return net.loss(X, y, reg=reg)[0]


def test_the_toy_model_gives_cs231n_s_published_loss_in_each_convention():
    assert abs(toy_loss("2016", 0.1) - 1.30378789133) < 1e-8
    assert abs(toy_loss("2017-2020", 0.05) - 1.30378789133) < 1e-8
    assert abs(toy_loss("2021+", 0.1) - 1.30378789133) < 1e-8


@pytest.mark.parametrize("mode", ["direct", "channel"])
def test_cs231n_layers_pass_unchanged(mode):
    for item, names in LAYER_CHECKS.items():
        for hidden in (False, True) if mode == "direct" else (False,):
            outcome = CHECKS[item].evaluate(*objects("2016", names, mode), hidden=hidden,
                                            seed=7 if hidden else None)
            assert outcome.passed, outcome.message


@pytest.mark.parametrize("year,mode", [("2016", "direct"), ("2016", "channel"),
                                       ("2017-2020", "direct")])
def test_neural_net_py_passes_every_check_in_either_convention(year, mode):
    for check in NET_CHECKS:
        for hidden in (False, True):
            np.random.seed(0)
            outcome = CHECKS[check].evaluate(*objects(year, ["TwoLayerNet"], mode),
                                             hidden=hidden, seed=11 if hidden else None)
            assert outcome.passed, f"{check}: {outcome.message}"


@pytest.mark.parametrize("year,convention", [("2016", "0.5 * reg * sum(W*W)"),
                                             ("2017-2020", "reg * sum(W*W), gradient 2")])
def test_the_loss_check_says_which_convention_it_found(year, convention):
    ctx = Context("TwoLayerNet.loss", 0, False, np.random.default_rng(0))
    CHECKS["TwoLayerNet.loss"].body(ctx, *objects(year, ["TwoLayerNet"], "direct"))
    assert convention in ctx.note, ctx.note


@pytest.mark.parametrize("mode", ["direct", "channel"])
def test_fc_net_py_is_driven_through_self_reg(mode):
    for check in ("TwoLayerNet.scores", "TwoLayerNet.loss", "TwoLayerNet.grads"):
        for hidden in (False, True):
            outcome = CHECKS[check].evaluate(*objects("2021+", ["TwoLayerNet"], mode),
                                             hidden=hidden, seed=11 if hidden else None)
            assert outcome.passed, f"{check}: {outcome.message}"


@pytest.mark.parametrize("mode", ["direct", "channel"])
@pytest.mark.parametrize("check,method", [("TwoLayerNet.predict", "predict"),
                                          ("TwoLayerNet.train", "train")])
def test_fc_net_py_has_no_predict_or_train_and_is_told_so(check, method, mode):
    outcome = CHECKS[check].evaluate(*objects("2021+", ["TwoLayerNet"], mode))
    assert outcome.status == "not_implemented", outcome.message
    first = outcome.exception.message
    assert first.startswith("this TwoLayerNet follows CS231n's 2021+ classifiers/fc_net.py "
                            f"interface (loss(X, y) reads self.reg; CS231n's Solver trains "
                            f"it), which has no {method}"), first
    assert "did you set" not in outcome.message
    assert outcome.mistake == f"{check}/cs231n-2021-interface"


@pytest.mark.parametrize("mode", ["direct", "channel"])
def test_half_reg_loss_with_this_course_s_gradient_costs_the_loss_item_only(mode):
    net = objects("mixed", ["TwoLayerNet"], mode)
    loss = CHECKS["TwoLayerNet.loss"].evaluate(*net)
    assert not loss.passed
    assert "0.5 * reg" in loss.message and "your gradient adds 2 * reg * W" in loss.message
    assert loss.mistake == "TwoLayerNet.loss/reg-convention-mismatch"
    assert CHECKS["TwoLayerNet.grads"].evaluate(*net).passed
