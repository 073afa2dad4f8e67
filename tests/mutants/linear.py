"""Mutants of notebook 02's solutions (linear classifiers)."""

from tests.mutants import Mutant

NB_ID = "02_linear_classifiers"
CELLS = ("imports", "hinge-example-solution", "softmax-example-solution",
         "svm-naive-solution", "svm-vectorized-solution",
         "softmax-naive-solution", "softmax-vectorized-solution",
         "linear-classifier-solution")

_SVN, _SVV = "svm-naive-solution", "svm-vectorized-solution"
_SMN, _SMV = "softmax-naive-solution", "softmax-vectorized-solution"
_LC = "linear-classifier-solution"
_REG = (r"regulari",)
_CACHE = (r"cached|does not move",)


def _cached(fn: str) -> tuple[str, str]:
    """(old, new): ``fn`` returns its first result forever (computed, then ignored)."""
    return "    return loss, dW", (f"    if getattr({fn}, 'cache', None) is None:\n"
                                   f"        {fn}.cache = (loss, dW)\n"
                                   f"    return {fn}.cache")


def _svm_vec(name, old, new, words, mistake=None):
    return Mutant("svm_loss_vectorized", name, _SVV, old, new, words, mistake)


def _sm_vec(name, old, new, words, mistake=None):
    return Mutant("softmax_loss_vectorized", name, _SMV, old, new, words, mistake)


_SVV_LOSS = "loss = margins.sum() / num_train + reg * np.sum(W * W)"
_SVV_DW = "dW = X.T @ coefficients / num_train + 2 * reg * W"
_SMV_DW = "dW = X.T @ dscores / num_train + 2 * reg * W"
_SMV_SHIFT = "scores = scores - scores.max(axis=1, keepdims=True)"
_SMV_LOSS = "loss = -log_probs[rows, y].mean() + reg * np.sum(W * W)"
_SMN_SHIFT = "        scores = scores - np.max(scores)  # for numerical stability\n"
_STEP = "self.W -= learning_rate * grad"
_SAMPLE = "idx = np.random.choice(num_train, batch_size, replace=True)"

MUTANTS = [
    # ---- the lecture's hinge losses, by hand
    Mutant("hinge_loss_example", "no-correct-class-mask", "hinge-example-solution",
           "margins[np.arange(3), labels] = 0\n", "", (r"skip the correct class",),
           "hinge-counts-correct-class"),
    Mutant("hinge_loss_example", "no-delta", "hinge-example-solution",
           "scores - correct + 1", "scores - correct", (r"delta|\+ 1",), "hinge-no-delta"),
    Mutant("hinge_loss_example", "max-not-sum", "hinge-example-solution",
           "hinge_losses = margins.sum(axis=1)", "hinge_losses = margins.max(axis=1)",
           (r"largest one only",), "hinge-max-not-sum"),
    Mutant("hinge_loss_example", "sum-not-mean", "hinge-example-solution",
           "hinge_mean = hinge_losses.mean()", "hinge_mean = hinge_losses.sum()",
           (r"sum", r"mean"), "sum-not-mean"),
    Mutant("hinge_loss_example", "swapped-scores", "hinge-example-solution",
           "scores - correct + 1", "correct - scores + 1", (r"swap",), "hinge-swapped"),
    Mutant("hinge_loss_example", "no-max-0", "hinge-example-solution",
           "np.maximum(0, scores - correct + 1)", "(scores - correct + 1)",
           (r"max\(0",), "hinge-no-max"),
    Mutant("hinge_loss_example", "summed-over-images", "hinge-example-solution",
           "hinge_losses = margins.sum(axis=1)", "hinge_losses = margins.sum(axis=0)",
           (r"axis",), "hinge-wrong-axis"),

    # ---- the lecture's softmax of the cat image, by hand
    Mutant("softmax_loss_example", "not-normalised", "softmax-example-solution",
           "cat_probs = exp_scores / exp_scores.sum()", "cat_probs = exp_scores",
           (r"divide them by their sum",), "softmax-not-normalised"),
    Mutant("softmax_loss_example", "no-exp", "softmax-example-solution",
           "exp_scores = np.exp(cat_scores)", "exp_scores = cat_scores",
           (r"exponentiate",), "softmax-no-exp"),
    Mutant("softmax_loss_example", "winner-not-label", "softmax-example-solution",
           "-np.log(cat_probs[0])", "-np.log(cat_probs[1])", (r"correct class",),
           "softmax-wrong-class"),
    Mutant("softmax_loss_example", "loss-sign", "softmax-example-solution",
           "-np.log(cat_probs[0])", "np.log(cat_probs[0])", (r"sign",), "softmax-loss-sign"),
    Mutant("softmax_loss_example", "log10", "softmax-example-solution",
           "-np.log(cat_probs[0])", "-np.log10(cat_probs[0])", (r"log10|natural",),
           "log10"),
    Mutant("softmax_loss_example", "class-column", "softmax-example-solution",
           "cat_scores = scores[0]", "cat_scores = scores[:, 0]", (r"column|row",),
           "softmax-column-not-row"),

    # ---- svm_loss_naive
    Mutant("svm_loss_naive", "no-1-over-N", _SVN,
           old="    loss /= num_train\n    dW /= num_train\n", new="",
           words=(r"\bN\b", r"averag|divid"), mistake="no-1-over-N"),
    Mutant("svm_loss_naive", "no-reg-gradient", _SVN,
           old="    dW += 2 * reg * W\n", new="", words=_REG, mistake="no-reg-gradient"),
    Mutant("svm_loss_naive", "no-reg-loss", _SVN, "    loss += reg * np.sum(W * W)\n", "",
           _REG, "no-reg-loss"),
    Mutant("svm_loss_naive", "half-reg-loss-only", _SVN, "loss += reg * np.sum(W * W)",
           "loss += 0.5 * reg * np.sum(W * W)", (r"0\.5|half", r"gradient|agree"),
           "reg-convention-mismatch"),
    Mutant("svm_loss_naive", "reg-gradient-without-2", _SVN, "dW += 2 * reg * W",
           "dW += reg * W", (r"2 \* reg \* W|agree",), "reg-convention-mismatch"),
    Mutant("svm_loss_naive", "reg-gradient-twice", _SVN, "dW += 2 * reg * W",
           "dW += 4 * reg * W", (r"twice|4 \* reg",), "reg-gradient-twice"),
    Mutant("svm_loss_naive", "counts-correct-class", _SVN,
           "            if j == y[i]:\n                continue\n", "",
           (r"skip|correct class",), "svm-counts-correct-class"),
    Mutant("svm_loss_naive", "no-delta", _SVN, "margin = scores[j] - correct_class_score + 1",
           "margin = scores[j] - correct_class_score", (r"delta|\+ 1",), "hinge-no-delta"),
    Mutant("svm_loss_naive", "swapped-scores", _SVN,
           "margin = scores[j] - correct_class_score + 1",
           "margin = correct_class_score - scores[j] + 1", (r"swap",), "hinge-swapped"),
    Mutant("svm_loss_naive", "gradient-sign", _SVN,
           "dW[:, j] += X[i]\n                dW[:, y[i]] -= X[i]",
           "dW[:, j] -= X[i]\n                dW[:, y[i]] += X[i]", (r"sign",),
           "gradient-sign"),
    Mutant("svm_loss_naive", "no-correct-class-gradient", _SVN,
           "                dW[:, y[i]] -= X[i]\n", "", (r"correct.class|column y\[i\]",),
           "svm-correct-class-gradient"),
    Mutant("svm_loss_naive", "gradient-not-averaged", _SVN, "    dW /= num_train\n", "",
           (r"N times|divide", r"gradient"), "gradient-no-1-over-N"),
    Mutant("svm_loss_naive", "first-32-rows", _SVN, "for i in range(num_train):",
           "for i in range(min(num_train, 32)):", (r"32|first",), "missing-rows"),

    # ---- svm_loss_vectorized
    _svm_vec("no-1-over-N", _SVV_LOSS, "loss = margins.sum() + reg * np.sum(W * W)",
             (r"\bN\b", r"averag|divid"), "no-1-over-N"),
    _svm_vec("no-reg-loss", _SVV_LOSS, "loss = margins.sum() / num_train", _REG,
             "no-reg-loss"),
    _svm_vec("no-correct-class-mask", "    margins[rows, y] = 0\n", "",
             (r"skip|correct class",), "svm-counts-correct-class"),
    _svm_vec("gradient-not-averaged", _SVV_DW, "dW = X.T @ coefficients + 2 * reg * W",
             (r"N times|divide", r"gradient"), "gradient-no-1-over-N"),
    _svm_vec("no-reg-gradient", _SVV_DW, "dW = X.T @ coefficients / num_train",
             _REG, "no-reg-gradient"),
    _svm_vec("reg-gradient-without-2", _SVV_DW, "dW = X.T @ coefficients / num_train + reg * W",
             (r"2 \* reg \* W|agree",), "reg-convention-mismatch"),
    _svm_vec("no-max-0", "np.maximum(0, scores - scores[rows, y][:, None] + 1)",
             "scores - scores[rows, y][:, None] + 1", (r"max\(0|negative",), "hinge-no-max"),
    _svm_vec("correct-class-gradient-sign", "coefficients[rows, y] = -coefficients.sum(axis=1)",
             "coefficients[rows, y] = coefficients.sum(axis=1)", (r"correct.class|column y",),
             "svm-correct-class-gradient"),
    _svm_vec("calls-naive", "    num_train = X.shape[0]\n",
             "    return svm_loss_naive(W, X, y, reg)\n", (r"loop",), "calls-loop-version"),
    _svm_vec("loop-over-rows", "    coefficients = (margins > 0).astype(np.float64)\n",
             "    coefficients = np.array([(row > 0).astype(np.float64) for row in margins])\n",
             (r"loop",), "python-loop"),
    _svm_vec("first-32-rows", "    scores = X @ W\n",
             "    scores = X @ W\n    num_train = min(num_train, 32)\n    rows = rows[:32]\n"
             "    X, y, scores = X[:32], y[:32], scores[:32]\n", (r"32|rows",), "missing-rows"),
    _svm_vec("float32", "    scores = X @ W\n", "    scores = (X @ W).astype(np.float32)\n",
             (r"precision|float32",), "low-precision"),
    _svm_vec("cached", *_cached("svm_loss_vectorized"),
             _CACHE, "no-response"),
    _svm_vec("in-place-on-X", "    scores = X @ W\n",
             "    X -= X.mean(axis=0)\n    scores = X @ W\n", (r"in place",), "changed-input"),

    # ---- svm agreement
    Mutant("svm_naive_vs_vectorized", "vectorized-no-reg-loss", _SVV, _SVV_LOSS,
           "loss = margins.sum() / num_train", (r"disagree",)),
    Mutant("svm_naive_vs_vectorized", "vectorized-no-1-over-N", _SVV, _SVV_DW,
           "dW = X.T @ coefficients + 2 * reg * W", (r"disagree",)),
    Mutant("svm_naive_vs_vectorized", "naive-no-reg-gradient", _SVN, "    dW += 2 * reg * W\n",
           "", (r"disagree",)),

    # ---- softmax_loss_naive
    Mutant("softmax_loss_naive", "no-max-shift", _SMN, _SMN_SHIFT, "",
           (r"overflow|largest score|max",), "no-max-shift"),
    Mutant("softmax_loss_naive", "shift-by-correct-class", _SMN, _SMN_SHIFT,
           "        scores = scores - scores[y[i]]\n", (r"correct class",), "correct-class-shift"),
    Mutant("softmax_loss_naive", "no-1-over-N", _SMN,
           "loss = loss / num_train + reg * np.sum(W * W)",
           "loss = loss + reg * np.sum(W * W)", (r"\bN\b", r"averag|divid"), "no-1-over-N"),
    Mutant("softmax_loss_naive", "no-reg-gradient", _SMN,
           "dW = dW / num_train + 2 * reg * W", "dW = dW / num_train", _REG, "no-reg-gradient"),
    Mutant("softmax_loss_naive", "no-minus-1", _SMN, "(p - (k == y[i]))", "p",
           (r"subtract 1|- 1|-= 1",), "softmax-no-minus-1"),
    Mutant("softmax_loss_naive", "gradient-sign", _SMN, "(p - (k == y[i]))",
           "((k == y[i]) - p)", (r"sign",), "gradient-sign"),
    Mutant("softmax_loss_naive", "loss-sign", _SMN, "loss += np.log(total) - scores[y[i]]",
           "loss += scores[y[i]] - np.log(total)", (r"sign|-log",), "softmax-loss-sign"),
    Mutant("softmax_loss_naive", "log10", _SMN, "loss += np.log(total) - scores[y[i]]",
           "loss += np.log10(total) - scores[y[i]]", (r"log",)),
    Mutant("softmax_loss_naive", "half-reg-loss-only", _SMN,
           "loss = loss / num_train + reg * np.sum(W * W)",
           "loss = loss / num_train + 0.5 * reg * np.sum(W * W)",
           (r"0\.5|half", r"gradient|agree"), "reg-convention-mismatch"),
    Mutant("softmax_loss_naive", "first-32-rows", _SMN, "for i in range(num_train):",
           "for i in range(min(num_train, 32)):", (r"32|first",), "missing-rows"),
    Mutant("softmax_loss_naive", "gradient-not-averaged", _SMN,
           "dW = dW / num_train + 2 * reg * W", "dW = dW + 2 * reg * W",
           (r"N times|divide", r"gradient"), "gradient-no-1-over-N"),

    # ---- softmax_loss_vectorized
    _sm_vec("no-max-shift", f"    {_SMV_SHIFT}\n", "", (r"overflow|largest score|max",),
            "no-max-shift"),
    _sm_vec("global-max-shift", _SMV_SHIFT, "scores = scores - scores.max()",
            (r"one maximum|whole matrix|global|each example's own",), "global-max-shift"),
    _sm_vec("shift-by-correct-class", _SMV_SHIFT, "scores = scores - scores[rows, y][:, None]",
            (r"correct class",), "correct-class-shift"),
    _sm_vec("max-over-classes-axis-0", _SMV_SHIFT,
            "scores = scores - scores.max(axis=0, keepdims=True)", (r"axis|each example",)),
    _sm_vec("normaliser-over-axis-0", "np.exp(scores).sum(axis=1, keepdims=True)",
            "np.exp(scores).sum(axis=0, keepdims=True)", (r"axis|sum over",)),
    _sm_vec("gradient-not-averaged", _SMV_DW, "dW = X.T @ dscores + 2 * reg * W",
            (r"N times|divide", r"gradient"), "gradient-no-1-over-N"),
    _sm_vec("no-minus-1", "    dscores[rows, y] -= 1\n", "", (r"subtract 1|- 1|-= 1",),
            "softmax-no-minus-1"),
    _sm_vec("minus-1-every-row", "dscores[rows, y] -= 1", "dscores[:, y] -= 1",
            (r"rows|np\.arange|every row",)),
    _sm_vec("sum-not-mean", _SMV_LOSS, "loss = -log_probs[rows, y].sum() + reg * np.sum(W * W)",
            (r"\bN\b", r"averag|divid"), "no-1-over-N"),
    _sm_vec("no-reg-loss", _SMV_LOSS, "loss = -log_probs[rows, y].mean()", _REG,
            "no-reg-loss"),
    _sm_vec("reg-gradient-without-2", _SMV_DW, "dW = X.T @ dscores / num_train + reg * W",
            (r"2 \* reg \* W|agree",), "reg-convention-mismatch"),
    _sm_vec("calls-naive", "    num_train = X.shape[0]\n",
            "    return softmax_loss_naive(W, X, y, reg)\n", (r"loop",), "calls-loop-version"),
    _sm_vec("loop-over-rows", "    dscores = np.exp(log_probs)\n",
            "    dscores = np.array([np.exp(row) for row in log_probs])\n", (r"loop",),
            "python-loop"),
    _sm_vec("first-32-rows", "    scores = X @ W\n",
            "    scores = X @ W\n    num_train = min(num_train, 32)\n    rows = rows[:32]\n"
            "    X, y, scores = X[:32], y[:32], scores[:32]\n", (r"32|rows",), "missing-rows"),
    _sm_vec("float32", "    scores = X @ W\n", "    scores = (X @ W).astype(np.float32)\n",
            (r"precision|float32",), "low-precision"),
    _sm_vec("cached", *_cached("softmax_loss_vectorized"),
            _CACHE, "no-response"),
    _sm_vec("in-place-on-X", "    scores = X @ W\n",
            "    X -= X.mean(axis=0)\n    scores = X @ W\n", (r"in place",), "changed-input"),

    # ---- softmax agreement
    Mutant("softmax_naive_vs_vectorized", "vectorized-no-reg-loss", _SMV, _SMV_LOSS,
           "loss = -log_probs[rows, y].mean()", (r"disagree",)),
    Mutant("softmax_naive_vs_vectorized", "vectorized-no-1-over-N", _SMV, _SMV_DW,
           "dW = X.T @ dscores + 2 * reg * W", (r"disagree",)),
    Mutant("softmax_naive_vs_vectorized", "naive-no-minus-1", _SMN, "(p - (k == y[i]))", "p",
           (r"disagree",)),

    # ---- LinearClassifier.train
    Mutant("LinearClassifier.train", "uphill", _LC, _STEP, "self.W += learning_rate * grad",
           (r"uphill",), "sgd-uphill"),
    Mutant("LinearClassifier.train", "no-learning-rate", _LC, _STEP, "self.W -= grad",
           (r"learning_rate",), "sgd-no-learning-rate"),
    Mutant("LinearClassifier.train", "momentum", _LC, _STEP,
           "self.velocity = 0.9 * getattr(self, 'velocity', 0) - learning_rate * grad\n"
           "            self.W += self.velocity", (r"momentum|earlier steps",),
           "sgd-momentum"),
    Mutant("LinearClassifier.train", "lr-decay", _LC, _STEP,
           "self.W -= learning_rate / (it + 1) * grad", (r"learning_rate|step size",),
           "sgd-step-size-changes"),
    Mutant("LinearClassifier.train", "same-batch", _LC, _SAMPLE, "idx = np.arange(batch_size)",
           (r"same mini-batch",), "same-batch"),
    Mutant("LinearClassifier.train", "full-batch", _LC, "X_batch, y_batch = X[idx], y[idx]",
           "X_batch, y_batch = X, y", (r"whole training set",), "full-batch"),
    Mutant("LinearClassifier.train", "batch-of-32", _LC, _SAMPLE,
           "idx = np.random.choice(num_train, min(batch_size, 32), replace=True)",
           (r"32 examples|batch_size",), "wrong-batch-size"),
    Mutant("LinearClassifier.train", "loss-after-step", _LC,
           "loss_history.append(float(loss))\n\n"
           "            # Update the weights with the gradient and the learning rate.\n"
           f"            {_STEP}",
           f"{_STEP}\n            loss_history.append(float(self.loss(X_batch, y_batch, reg)[0]))",
           (r"before updating|after the step",), "loss-after-step"),
    Mutant("LinearClassifier.train", "reinitialises-W", _LC, "if self.W is None:",
           "if True:", (r"initialis|from a W you|reset",), "reinitialises-W"),
    Mutant("LinearClassifier.train", "ignores-reg", _LC,
           "loss, grad = self.loss(X_batch, y_batch, reg)",
           "loss, grad = self.loss(X_batch, y_batch, 0.0)", (r"\breg\b",), "ignores-reg"),
    Mutant("LinearClassifier.train", "no-return", _LC, "        return loss_history\n", "",
           (r"returned None",), "no-history"),
    Mutant("LinearClassifier.train", "num-classes-off-by-one", _LC,
           "num_classes = np.max(y) + 1", "num_classes = np.max(y)", (r"shape|classes",),
           "w-shape"),

    # ---- LinearClassifier.predict
    Mutant("LinearClassifier.predict", "argmax-axis-0", _LC,
           "y_pred = np.argmax(X @ self.W, axis=1)", "y_pred = np.argmax(X @ self.W, axis=0)",
           (r"axis=1|one label per class",), "argmax-wrong-axis"),
    Mutant("LinearClassifier.predict", "argmin", _LC, "y_pred = np.argmax(X @ self.W, axis=1)",
           "y_pred = np.argmin(X @ self.W, axis=1)", (r"lowest|argmin|highest",), "argmin"),
    Mutant("LinearClassifier.predict", "returns-scores", _LC,
           "y_pred = np.argmax(X @ self.W, axis=1)", "y_pred = X @ self.W",
           (r"scores",), "scores-not-labels"),
    Mutant("LinearClassifier.predict", "first-32-rows", _LC,
           "y_pred = np.argmax(X @ self.W, axis=1)",
           "y_pred = np.argmax(X[:32] @ self.W, axis=1)", (r"32|rows",), "missing-rows"),
    Mutant("LinearClassifier.predict", "changes-W", _LC,
           "y_pred = np.argmax(X @ self.W, axis=1)",
           "self.W -= self.W.mean(axis=0)\n        y_pred = np.argmax(X @ self.W, axis=1)",
           (r"must not change W|self\.W after",)),
]
