"""Plots shared by the notebooks. matplotlib is imported lazily so that importing
course_lib stays fast; every function draws into ``ax`` when given one, else a new figure,
and returns the figure."""

from __future__ import annotations

import numpy as np


def _plt():
    import matplotlib.pyplot as plt

    return plt


def to_displayable(img: np.ndarray) -> np.ndarray:
    """Any image (H, W, 3) or a row of 3072 CIFAR pixels -> floats in [0, 1] for imshow."""
    img = np.asarray(img, dtype=np.float64)
    if img.ndim == 1 and img.size == 3072:
        img = img.reshape(32, 32, 3)
    lo, hi = img.min(), img.max()
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)


def show_image_grid(X, y, classes, per_class: int = 7, seed: int = 0):
    """A grid: one column per class, ``per_class`` random examples of it (CS231n's figure).

    X: (N, H, W, 3) or (N, H, W) images in any scale; y: (N,) labels; classes: names.
    """
    plt = _plt()
    rng = np.random.default_rng(seed)
    first = to_displayable(X[0])
    h, w = first.shape[:2]
    pad = max(1, h // 16)
    # One mosaic drawn with a single imshow: much faster than one axis per image.
    mosaic = np.ones((per_class * (h + pad) - pad, len(classes) * (w + pad) - pad)
                     + first.shape[2:])
    for c in range(len(classes)):
        idx = rng.choice(np.flatnonzero(y == c), per_class, replace=False)
        for row, i in enumerate(idx):
            top, left = row * (h + pad), c * (w + pad)
            mosaic[top:top + h, left:left + w] = to_displayable(X[i])
    fig, ax = plt.subplots(figsize=(1.1 * len(classes), 1.1 * per_class))
    ax.imshow(mosaic, cmap="gray" if mosaic.ndim == 2 else None, interpolation="nearest")
    ax.set_xticks([c * (w + pad) + w / 2 for c in range(len(classes))], labels=classes,
                  fontsize=9)
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    fig.tight_layout()
    return fig


def plot_history(*series, labels=(), xlabel="iteration", ylabel="loss", ax=None, title=None):
    """One or more curves (loss or accuracy histories) on one axis."""
    plt = _plt()
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6, 3.5))
    for i, values in enumerate(series):
        ax.plot(np.asarray(values), label=labels[i] if i < len(labels) else None)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if labels:
        ax.legend()
    if title:
        ax.set_title(title)
    return fig


def plot_decision_boundary(predict, X, y, ax=None, title=None, resolution: int = 200,
                           margin: float = 0.3):
    """Colour the plane by ``predict(points (M, 2)) -> labels (M,)`` and scatter the data."""
    plt = _plt()
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(4.5, 4.5))
    x0, x1 = X[:, 0].min() - margin, X[:, 0].max() + margin
    y0, y1 = X[:, 1].min() - margin, X[:, 1].max() + margin
    xx, yy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    zz = np.asarray(predict(np.c_[xx.ravel(), yy.ravel()])).reshape(xx.shape)
    k = int(max(y.max(), zz.max())) + 1
    ax.contourf(xx, yy, zz, levels=np.arange(k + 1) - 0.5, cmap="Spectral", alpha=0.35)
    ax.scatter(X[:, 0], X[:, 1], c=y, s=14, cmap="Spectral", edgecolors="k", linewidths=0.3,
               vmin=0, vmax=k - 1)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return fig


def show_templates(W, classes, shape=(32, 32, 3)):
    """The rows (or columns) of a weight matrix seen as images, one per class.

    W: (D, C) with D = prod(shape) (a trailing bias row is dropped) or (C, D).
    """
    plt = _plt()
    W = np.asarray(W, dtype=np.float64)
    size = int(np.prod(shape))
    if W.shape[0] in (size, size + 1):
        W = W[:size].T
    else:
        W = W[:, :size]
    fig, axes = plt.subplots(1, len(classes), figsize=(1.3 * len(classes), 1.6))
    for ax, w, name in zip(np.atleast_1d(axes), W, classes):
        ax.imshow(to_displayable(w.reshape(shape)))
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    return fig
