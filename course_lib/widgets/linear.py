"""Figures for notebook 02 (linear classifiers): the geometric view of a linear score
function, what a kink does to a centred difference, and the hyperparameter-search grid.

Every function draws into ``ax`` (or ``axes``) when given, else a new figure, and returns
the figure. matplotlib is imported lazily.
"""

from __future__ import annotations

import numpy as np


def _plt():
    import matplotlib.pyplot as plt

    return plt


def plot_score_lines(W, b, X, y, class_names=None, ax=None, margin: float = 1.0):
    """2-D points coloured by class, the regions each class wins, and the line where each
    class's score ``x @ W[:, j] + b[j]`` is 0, with an arrow along ``W[:, j]`` (the side
    where that score grows).

    W: (2, C) weights; b: (C,) biases; X: (N, 2) points; y: (N,) labels.
    """
    plt = _plt()
    W, b, X = (np.asarray(a, dtype=np.float64) for a in (W, b, X))
    if W.shape[0] != 2 or X.shape[1] != 2 or b.shape != (W.shape[1],):
        raise ValueError(f"need W (2, C), b (C,), X (N, 2); got W {W.shape}, b {b.shape}, "
                         f"X {X.shape}")
    C = W.shape[1]
    names = list(class_names) if class_names is not None else [f"class {j}" for j in range(C)]
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(5.5, 5))
    x0, x1 = X[:, 0].min() - margin, X[:, 0].max() + margin
    y0, y1 = X[:, 1].min() - margin, X[:, 1].max() + margin
    xx, yy = np.meshgrid(np.linspace(x0, x1, 300), np.linspace(y0, y1, 300))
    grid = np.c_[xx.ravel(), yy.ravel()]
    winner = np.argmax(grid @ W + b, axis=1).reshape(xx.shape)
    colours = plt.get_cmap("tab10")(np.arange(C) % 10)
    from matplotlib.colors import ListedColormap

    ax.contourf(xx, yy, winner, levels=np.arange(C + 1) - 0.5, cmap=ListedColormap(colours),
                alpha=0.18)
    for j in range(C):
        w, c = W[:, j], b[j]
        ax.scatter(*X[y == j].T, s=14, color=colours[j], edgecolors="k", linewidths=0.3,
                   label=names[j])
        # the line w . p + c = 0, drawn through its point closest to the origin
        norm2 = float(w @ w)
        if norm2 == 0:
            continue
        p0 = -c * w / norm2
        direction = np.array([-w[1], w[0]]) / np.sqrt(norm2)
        t = np.linspace(-50, 50, 2)
        ax.plot(p0[0] + t * direction[0], p0[1] + t * direction[1], color=colours[j], lw=2)
        ax.annotate("", xy=p0 + w / np.sqrt(norm2), xytext=p0,
                    arrowprops={"arrowstyle": "->", "color": colours[j], "lw": 2})
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title("shaded: the class with the highest score wins\n"
                 "line: that class's score is 0; arrow: the way it grows", fontsize=9)
    return fig


def plot_kink(x0: float = 0.3e-5, h: float = 1e-5, ax=None):
    """f(x) = max(0, x) near its kink, and the centred difference at ``x0`` with step ``h``.

    When the kink lies between ``x0 - h`` and ``x0 + h`` the secant through
    ``f(x0 - h)`` and ``f(x0 + h)`` has neither the left slope (0) nor the right one (1).
    """
    plt = _plt()
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6, 3.5))
    xs = np.linspace(-2.5 * h, 2.5 * h, 400)
    f = np.maximum(0.0, xs)
    ax.plot(xs, f, color="k", lw=2, label="max(0, x)")
    lo, hi = x0 - h, x0 + h
    numerical = (max(0.0, hi) - max(0.0, lo)) / (2 * h)
    analytic = 1.0 if x0 > 0 else 0.0
    ax.plot([lo, hi], [max(0.0, lo), max(0.0, hi)], "o--", color="tab:red",
            label=f"centred difference: slope {numerical:.2f}")
    ax.plot(xs, max(0.0, x0) + analytic * (xs - x0), color="tab:blue", lw=1,
            label=f"analytic gradient at x = {x0:.1e}: slope {analytic:.0f}")
    ax.axvline(x0, color="tab:blue", ls=":", lw=1)
    ax.set_xlabel("x")
    ax.legend(fontsize=8, loc="upper left")
    rel = abs(numerical - analytic) / max(1e-8, abs(numerical) + abs(analytic))
    ax.set_title(f"h = {h:g}: the two points straddle the kink, relative error {rel:.2f}",
                 fontsize=9)
    return fig


def plot_search_grid(results: dict, axes=None, title: str = ""):
    """Training and validation accuracy of every (learning_rate, reg) pair, as two heat maps.

    results: ``{(learning_rate, reg): (train_accuracy, val_accuracy)}`` (CS231n's layout).
    """
    plt = _plt()
    lrs = sorted({lr for lr, _ in results})
    regs = sorted({reg for _, reg in results})
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    fig = axes[0].figure
    for k, (ax, which) in enumerate(zip(axes, ("training", "validation"))):
        grid = np.full((len(lrs), len(regs)), np.nan)
        for (lr, reg), accs in results.items():
            grid[lrs.index(lr), regs.index(reg)] = accs[k]
        image = ax.imshow(grid, cmap="viridis", origin="lower", aspect="auto")
        for i in range(len(lrs)):
            for j in range(len(regs)):
                if np.isfinite(grid[i, j]):
                    ax.text(j, i, f"{grid[i, j]:.3f}", ha="center", va="center", fontsize=8,
                            color="w" if grid[i, j] < np.nanmean(grid) else "k")
        ax.set_xticks(range(len(regs)), [f"{r:.0e}" for r in regs])
        ax.set_yticks(range(len(lrs)), [f"{lr:.0e}" for lr in lrs])
        ax.set_xlabel("regularization strength (reg)")
        ax.set_ylabel("learning rate")
        ax.set_title(f"{title} {which} accuracy".strip(), fontsize=10)
        fig.colorbar(image, ax=ax)
    fig.tight_layout()
    return fig
