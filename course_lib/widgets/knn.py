"""Figures and the interactive explorer of notebook 01 (k-nearest neighbours).

Everything here only *shows* results the notebook computed with the student's own
classifier (their distance matrix, their cross-validation accuracies, their timings);
nothing here computes a distance matrix or a prediction for them.

matplotlib and ipywidgets are imported lazily, so importing this module is cheap.
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np


def _rgb(img) -> np.ndarray:
    """A (32, 32, 3) or (3072,) image in 0..255 as floats in [0, 1], colours as they are
    (no contrast stretch: brightness is exactly what pixel distances see)."""
    return np.clip(np.asarray(img, dtype=np.float64).reshape(32, 32, 3), 0, 255) / 255


def _plt():
    import matplotlib.pyplot as plt

    return plt


# --------------------------------------------------------------------------- static figures

def plot_distance_matrix(dists, ax=None, title=None):
    """The (num_test, num_train) distance matrix as a grey image: dark = near, bright = far."""
    plt = _plt()
    dists = np.asarray(dists, dtype=np.float64)
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(9, 3.2))
    im = ax.imshow(dists, cmap="gray", aspect="auto", interpolation="nearest")
    ax.set_xlabel(f"training image j (0 .. {dists.shape[1] - 1})")
    ax.set_ylabel(f"test image i (0 .. {dists.shape[0] - 1})")
    ax.set_title(title or "L2 distance between test image i and training image j")
    fig.colorbar(im, ax=ax, label="distance", fraction=0.03, pad=0.01)
    return fig


def plot_cross_validation(k_to_accuracies: dict, best_k=None, ax=None):
    """Accuracy of every fold (dots) and mean +- standard deviation (line) against k."""
    plt = _plt()
    ks = sorted(k_to_accuracies)
    accs = [np.asarray(k_to_accuracies[k], dtype=np.float64) for k in ks]
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(7, 3.8))
    for k, a in zip(ks, accs):
        ax.scatter([k] * len(a), a, s=14, color="tab:blue", alpha=0.45, linewidths=0)
    means, stds = np.array([a.mean() for a in accs]), np.array([a.std() for a in accs])
    ax.errorbar(ks, means, yerr=stds, color="tab:orange", capsize=4, marker="o",
                label="mean over the folds, +- 1 std")
    if best_k is not None and best_k in k_to_accuracies:
        i = ks.index(best_k)
        ax.scatter([best_k], [means[i]], s=160, facecolors="none", edgecolors="tab:red",
                   linewidths=2, zorder=5, label=f"best k = {best_k}")
    ax.set_xscale("log")
    ax.set_xticks(ks)
    ax.set_xticklabels([str(k) for k in ks])
    ax.minorticks_off()
    ax.set_xlabel("k (log scale)")
    ax.set_ylabel("validation accuracy")
    ax.set_title(f"{len(accs[0])}-fold cross-validation on the training set")
    ax.legend(loc="lower left")
    ax.grid(alpha=0.3)
    return fig


def plot_timings(seconds: dict, num_test: int, num_train: int, ax=None):
    """Bar chart (log scale) of ``{version name: seconds}`` for one distance computation."""
    plt = _plt()
    names = list(seconds)
    values = np.array([seconds[n] for n in names], dtype=np.float64)
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6, 3.2))
    bars = ax.bar(names, values, color=["tab:red", "tab:orange", "tab:green"][:len(names)])
    ax.set_yscale("log")
    ax.set_ylabel("seconds (log scale)")
    ax.set_title(f"distances for {num_test} test x {num_train:,} training images")
    fastest = values.min()
    for bar, value in zip(bars, values):
        ax.annotate(f"{value:.3g} s\n({value / fastest:.0f}x)", (bar.get_x() + bar.get_width() / 2,
                    value), ha="center", va="bottom", fontsize=9)
    ax.set_ylim(fastest / 3, values.max() * 8)
    return fig


# --------------------------------------------------------------------------- same distance

def _bisect(f, target, lo, hi, steps=80):
    """x in [lo, hi] with f(x) = target for an increasing f."""
    for _ in range(steps):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(mid) < target else (lo, mid)
    return (lo + hi) / 2


def altered_copies(img, shift: int = 2) -> dict:
    """Three changes of ``img`` (32, 32, 3) in 0..255 at the *same* L2 distance from it.

    Returns ``{"shifted": ..., "tinted": ..., "occluded": ...}``: moved down and right by
    ``shift`` pixels (edge rows and columns repeated), a blue tint, and three patches; the
    tint strength and the patches' darkness are solved so that every distance equals the
    shift's.
    """
    img = np.asarray(img, dtype=np.float64)
    dist = lambda other: float(np.sqrt(np.sum((other - img) ** 2)))  # noqa: E731
    padded = np.pad(img, ((shift, 0), (shift, 0), (0, 0)), mode="edge")
    shifted = padded[:img.shape[0], :img.shape[1]]
    target = dist(shifted)

    colour = np.array([0.3, 0.5, 1.0])
    tint = lambda t, sign: np.clip(img + sign * t * colour, 0, 255)  # noqa: E731
    sign = 1.0 if dist(tint(255, 1.0)) >= target else -1.0
    t = _bisect(lambda t: dist(tint(t, sign)), target, 0.0, 255.0)
    tinted = tint(t, sign)

    mask = np.zeros(img.shape[:2], dtype=bool)
    for size in range(2, 17):
        mask[:] = False
        for r, c in ((9, 10), (9, 22), (22, 16)):
            h = size // 2
            mask[max(r - h, 0):r - h + size, max(c - h, 0):c - h + size] = True
        fill = 0.0 if np.sum(img[mask] ** 2) >= np.sum((255 - img[mask]) ** 2) else 255.0
        if np.sqrt(np.sum((fill - img[mask]) ** 2)) >= target:
            break
    occluded = img.copy()
    alpha = target / np.sqrt(np.sum((fill - img[mask]) ** 2))
    occluded[mask] = (1 - alpha) * img[mask] + alpha * fill
    return {"shifted": shifted, "tinted": tinted, "occluded": occluded}


def show_same_distance(img, neighbour=None, neighbour_name="another image", title=None):
    """The original and its three altered copies, each titled with its L2 distance.

    img: (32, 32, 3) or (3072,) in 0..255; neighbour: optionally a fifth image shown with
    its distance to the original (e.g. its nearest training image), named neighbour_name.
    """
    plt = _plt()
    img = np.asarray(img, dtype=np.float64).reshape(32, 32, 3)
    copies = altered_copies(img)
    panels = [("original", img)] + list(copies.items())
    if neighbour is not None:
        panels.append((neighbour_name, np.asarray(neighbour, dtype=np.float64).reshape(img.shape)))
    fig, axes = plt.subplots(1, len(panels), figsize=(2.3 * len(panels), 2.9))
    for ax, (name, picture) in zip(axes, panels):
        ax.imshow(np.clip(picture, 0, 255).astype(np.uint8), interpolation="nearest")
        ax.axis("off")
        d = np.sqrt(np.sum((picture - img) ** 2))
        ax.set_title(name if name == "original" else f"{name}\nL2 distance {d:,.1f}",
                     fontsize=10)
    fig.suptitle(title or "Three different changes, one L2 distance", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    return fig


# --------------------------------------------------------------------------- the explorer

DPI = 100  # the explorer's picture is shown at its natural size, so 10 pt is 13.9 px
FONT = 10  # points: neighbour titles, class names and the axis label
WIDTH = 9.0  # inches: 900 px, which fits a notebook at 1280 px without being scaled down
PER_ROW = 8  # neighbours per row: room for "automobile" under each at FONT


def _figure_png(fig) -> tuple[str, float]:
    """The figure as base64 PNG (cropped to what is drawn: no white margins) and the size
    in pixels of its smallest text at that resolution."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.05)
    sizes = [t.get_fontsize() for t in fig.findobj(lambda a: hasattr(a, "get_text"))
             if t.get_visible() and t.get_text().strip()]
    return base64.b64encode(buf.getvalue()).decode("ascii"), min(sizes) * DPI / 72


def render_neighbours(dists_row, X_train, y_train, test_image, true_label, classes, k):
    """HTML for one test image: its k nearest training images and their vote.

    dists_row: (num_train,) distances from this test image (the student's own);
    X_train: (num_train, 3072) or (num_train, 32, 32, 3); y_train: (num_train,).
    The picture carries ``data-min-font-px``: its smallest text, in pixels at natural size.
    """
    from matplotlib.figure import Figure

    dists_row = np.asarray(dists_row, dtype=np.float64)
    nearest = np.argsort(dists_row, kind="stable")[:k]
    votes = np.bincount(y_train[nearest], minlength=len(classes))
    winner = int(np.argmax(votes))
    tied = [classes[c] for c in np.flatnonzero(votes == votes.max())]

    # Laid out in inches (then cropped to what is drawn): every neighbour the same size for
    # every k, each title just above its image, the vote right under the neighbours.
    rows = (k + PER_ROW - 1) // PER_ROW
    left = 1.5  # the test image's column
    cell = (WIDTH - left) / PER_ROW
    img, title = cell * 0.86, 0.42
    row_h = title + img + 0.1
    big = min(rows, 2) * row_h - title - 0.1
    height = rows * row_h + 0.35 + 1.0 + 0.4
    fig = Figure(figsize=(WIDTH, height))

    def put(x, top, w, h):  # an axes at x, top (inches from the top left), w x h inches
        return fig.add_axes((x / WIDTH, 1 - (top + h) / height, w / WIDTH, h / height))

    big = min(big, left - 0.15)
    ax = put((left - 0.15 - big) / 2, title, big, big)
    ax.imshow(_rgb(test_image), interpolation="nearest")
    ax.set_title(f"test image\n({classes[true_label]})", fontsize=FONT + 1)
    ax.axis("off")
    for n, j in enumerate(nearest):
        r, c = divmod(n, PER_ROW)
        ax = put(left + c * cell + (cell - img) / 2, r * row_h + title, img, img)
        ax.imshow(_rgb(X_train[j]), interpolation="nearest")
        colour = "tab:green" if y_train[j] == winner else "0.35"
        ax.set_title(f"{classes[y_train[j]]}\n{dists_row[j]:,.0f}", fontsize=FONT, color=colour)
        ax.axis("off")
    ax = put(0.55, rows * row_h + 0.35, WIDTH - 0.6, 1.0)
    colours = ["tab:green" if c == winner else "0.7" for c in range(len(classes))]
    ax.bar(range(len(classes)), votes, color=colours)
    ax.set_xticks(range(len(classes)))
    ax.set_xticklabels(classes, fontsize=FONT)
    ax.tick_params(axis="y", labelsize=FONT)
    ax.set_ylabel("votes", fontsize=FONT)
    ax.set_ylim(0, max(votes.max(), 1) * 1.15)
    ax.yaxis.get_major_locator().set_params(integer=True)
    png, min_px = _figure_png(fig)

    verdict = ("correct" if winner == true_label
               else f"wrong, the true class is {classes[true_label]}")
    tie = (f" (a tie between {', '.join(tied)}: the smaller label wins)" if len(tied) > 1
           else "")
    who = ("The 1 nearest training image votes" if k == 1
           else f"The {k} nearest training images vote")
    text = (f"{who} <b>{html.escape(classes[winner])}</b>{html.escape(tie)}: {verdict}. "
            "Neighbours are titled with their class and L2 distance.")
    return (f'<div><p style="margin:4px 0">{text}</p>'
            f'<img alt="the {k} nearest neighbours" data-min-font-px="{min_px:.1f}" '
            f'style="max-width:100%" src="data:image/png;base64,{png}"/></div>')


def knn_explorer(dists, X_train, y_train, X_test, y_test, classes, max_k: int = 20,
                 start: int = 0):
    """A live widget: pick a test image and k, see the k nearest training images and the vote.

    dists: (num_test, num_train) distances computed by the student's classifier;
    X_train: (num_train, D) and y_train: (num_train,); X_test: (num_test, D), y_test:
    (num_test,); classes: label names. Returns an ``ipywidgets.VBox`` with the controls as
    ``.test_index``, ``.k`` and the rendered view (an ``ipywidgets.HTML``) as ``.view``.
    """
    import ipywidgets as widgets

    dists = np.asarray(dists, dtype=np.float64)
    num_test, num_train = dists.shape
    if len(X_test) != num_test or len(X_train) != num_train:
        raise ValueError(
            f"dists has shape {dists.shape}, so X_test should have {num_test} rows and "
            f"X_train {num_train}; got X_test {np.shape(X_test)}, X_train {np.shape(X_train)}")
    y_train = np.asarray(y_train)
    # Wide sliders: one step of a 500-image slider is about one pixel, not a quarter of one.
    test_index = widgets.IntSlider(value=start, min=0, max=num_test - 1, description="test image",
                                   continuous_update=False, style={"description_width": "initial"},
                                   layout=widgets.Layout(width="560px"))
    k = widgets.IntSlider(value=1, min=1, max=min(max_k, num_train), description="k",
                          continuous_update=False, style={"description_width": "initial"},
                          layout=widgets.Layout(width="320px"))
    view = widgets.HTML()

    def update(*_):
        i = test_index.value
        view.value = render_neighbours(dists[i], X_train, y_train, X_test[i], int(y_test[i]),
                                       list(classes), k.value)

    test_index.observe(update, names="value")
    k.observe(update, names="value")
    update()
    box = widgets.VBox([widgets.HBox([test_index, k], layout=widgets.Layout(flex_flow="row wrap")),
                        view])
    box.test_index, box.k, box.view = test_index, k, view
    return box
