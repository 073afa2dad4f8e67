"""Figures for notebook 05: training curves, learning rates compared, the hyperparameter
search, and first-layer weights as images. Each function returns its figure."""

from __future__ import annotations

import numpy as np

from ..viz import _plt, to_displayable


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Running mean over ``window`` steps (shorter at the start)."""
    csum = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(0, idx - window)
    return (csum[idx] - csum[lo]) / (idx - lo)


def plot_training(stats: dict, title: str | None = None):
    """Two panels: the loss per step (raw and smoothed) and the accuracies per epoch.

    stats: what ``TwoLayerNet.train`` returns (loss_history, train_acc_history,
    val_acc_history).
    """
    plt = _plt()
    loss = np.asarray(stats["loss_history"], dtype=np.float64)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 3.6))
    ax_loss.plot(loss, color="tab:blue", alpha=0.3, lw=0.8, label="minibatch loss")
    if len(loss) >= 20:
        ax_loss.plot(_smooth(loss, max(5, len(loss) // 50)), color="tab:blue", lw=1.8,
                     label="running mean")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss")
    ax_loss.legend(frameon=False)
    epochs = np.arange(len(stats["train_acc_history"]))
    ax_acc.plot(epochs, stats["train_acc_history"], "o-", ms=3, label="train (minibatch)")
    ax_acc.plot(epochs, stats["val_acc_history"], "o-", ms=3, label="validation")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_ylim(0, 1)
    ax_acc.legend(frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def compare_learning_rates(histories: dict, cap: float | None = None):
    """Loss curves of the same net trained with several learning rates, on one axis.

    histories: ``{learning_rate: loss_history}``. Losses above ``cap`` (default: 3 times the
    first loss) and non-finite ones are cut off at the top of the plot.
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.8))
    first = [float(h[0]) for h in histories.values() if len(h) and np.isfinite(h[0])]
    cap = cap if cap is not None else 3 * max(first, default=3.0)
    for lr, history in histories.items():
        values = np.asarray(history, dtype=np.float64)
        blew_up = bool(np.any(~np.isfinite(values) | (values > cap)))
        shown = np.where(np.isfinite(values), np.minimum(values, cap), cap)
        label = f"learning rate {lr:g}" + (" (blew up: cut off)" if blew_up else "")
        ax.plot(_smooth(shown, 5), lw=1.5, label=label)
    ax.set_ylim(0, cap * 1.02)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (running mean)")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def plot_search(results: list[dict]):
    """Each tried setting as a point: learning rate against regularization, coloured by
    validation accuracy, sized by hidden size; the best one ringed."""
    plt = _plt()
    lr = np.array([r["learning_rate"] for r in results])
    reg = np.array([r["reg"] for r in results])
    acc = np.array([r["val_acc"] for r in results])
    size = np.array([r.get("hidden_size", 100) for r in results], dtype=np.float64)
    fig, ax = plt.subplots(figsize=(6, 4))
    points = ax.scatter(lr, reg, c=acc, s=30 + size / 2, cmap="viridis", edgecolors="k",
                        linewidths=0.4)
    best = int(np.argmax(acc))
    ax.scatter([lr[best]], [reg[best]], s=(30 + size[best] / 2) * 3, facecolors="none",
               edgecolors="red", linewidths=1.5, label=f"best: {acc[best]:.3f}")
    for x, y, a in zip(lr, reg, acc):
        ax.annotate(f"{a:.2f}", (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("regularization strength")
    fig.colorbar(points, ax=ax, label="validation accuracy")
    ax.legend(frameon=False, loc="best")
    fig.tight_layout()
    return fig


def show_first_layer_weights(W1, shape=(32, 32, 3), cols: int | None = None,
                             padding: int = 1):
    """The columns of ``W1`` (D, H) as H images of ``shape``, each scaled to its own range,
    tiled in a grid (CS231n's visualization of learned first-layer features)."""
    plt = _plt()
    W1 = np.asarray(W1, dtype=np.float64)
    H = W1.shape[1]
    cols = cols or int(np.ceil(np.sqrt(H)))
    rows = int(np.ceil(H / cols))
    h, w = shape[0], shape[1]
    channels = shape[2] if len(shape) == 3 else 1
    grid = np.ones((rows * (h + padding) + padding, cols * (w + padding) + padding, channels))
    for k in range(H):
        img = to_displayable(W1[:, k].reshape(shape))
        r, c = divmod(k, cols)
        top, left = padding + r * (h + padding), padding + c * (w + padding)
        grid[top:top + h, left:left + w] = img.reshape(h, w, channels)
    fig, ax = plt.subplots(figsize=(min(9, 0.5 * cols + 1), min(9, 0.5 * rows + 1)))
    ax.imshow(grid.squeeze(), cmap="gray" if channels == 1 else None, interpolation="nearest")
    ax.set_title(f"first-layer weights: {H} hidden units")
    ax.axis("off")
    fig.tight_layout()
    return fig
