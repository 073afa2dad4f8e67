"""Regularization explorer: one small network on 2-D data, retrained whenever a slider moves.

Notebook 04 uses it to show that the regularization strength, not the number of hidden
units, is the knob to turn against overfitting::

    from course_lib.widgets.regularization import regularization_explorer
    regularization_explorer(train_net, X, y, X_val=X_val, y_val=y_val)

The training function comes from the notebook (it is the net the notebook explains), so
this module holds no model of its own.
"""

from __future__ import annotations

import io
import time

import numpy as np

from ..viz import plot_decision_boundary

DEFAULT_HIDDEN_SIZES = (3, 6, 10, 20, 50, 100)


def _check_data(X, y, name_x, name_y):
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"{name_x} must have shape (N, 2) (2-D points to draw); got {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"{name_y} must have shape ({X.shape[0]},) to match {name_x}; "
                         f"got {y.shape}")
    return X, y


def render_boundary(predict, X, y, title: str = "", resolution: int = 150,
                    size: float = 4.2) -> bytes:
    """PNG bytes of the decision boundary of ``predict`` (points (M, 2) -> labels (M,)).

    Drawn on a standalone Agg figure, so nothing is left open in pyplot and nothing is
    displayed twice in a notebook.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size, size), dpi=90)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    plot_decision_boundary(predict, X, y, ax=ax, title=title, resolution=resolution)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _accuracy(predict, X, y) -> float:
    return float(np.mean(np.asarray(predict(X)) == y))


def regularization_explorer(train, X, y, *, X_val=None, y_val=None, reg: float = 1e-2,
                            hidden_size: int = 50, hidden_sizes=DEFAULT_HIDDEN_SIZES,
                            reg_range=(-4.0, 0.0), resolution: int = 150):
    """Sliders for the regularization strength and the hidden size, and the decision
    boundary of the net trained with them, redrawn after every change.

    train: ``train(X, y, hidden_size=..., reg=...) -> predict`` with
    ``predict(points (M, 2)) -> labels (M,)``; X: (N, 2) training points, y: (N,) labels;
    X_val, y_val: optional validation points (their accuracy is shown, they are not drawn);
    reg: initial strength, on a log slider from 10**reg_range[0] to 10**reg_range[1];
    hidden_size: initial size, one of ``hidden_sizes``.

    Returns an ``ipywidgets.VBox``: the two sliders, the boundary image and a status line
    (accuracies and how long the retrain and redraw took). ``.explorer`` on it holds the
    parts (``reg``, ``hidden``, ``image``, ``status``) and ``last_seconds``.
    """
    import ipywidgets as widgets

    X, y = _check_data(X, y, "X", "y")
    if (X_val is None) != (y_val is None):
        raise ValueError("pass both X_val and y_val, or neither")
    if X_val is not None:
        X_val, y_val = _check_data(X_val, y_val, "X_val", "y_val")
    hidden_sizes = tuple(int(h) for h in hidden_sizes)
    if hidden_size not in hidden_sizes:
        raise ValueError(f"hidden_size={hidden_size} is not one of hidden_sizes={hidden_sizes}")
    lo, hi = reg_range
    if not lo <= np.log10(reg) <= hi:
        raise ValueError(f"reg={reg} is outside the slider's range 1e{lo:g} .. 1e{hi:g}")

    style = {"description_width": "110px"}  # one width: the two tracks line up
    layout = widgets.Layout(width="420px")
    reg_slider = widgets.FloatLogSlider(
        value=reg, base=10, min=lo, max=hi, step=0.25, description="regularization λ",
        readout_format=".1e", continuous_update=False, style=style, layout=layout)
    hidden_slider = widgets.SelectionSlider(
        options=hidden_sizes, value=hidden_size, description="hidden units",
        continuous_update=False, style=style, layout=layout)
    image = widgets.Image(format="png", layout=widgets.Layout(width="380px"))
    status = widgets.HTML()
    box = widgets.VBox([widgets.VBox([reg_slider, hidden_slider]), image, status])
    parts = {"reg": reg_slider, "hidden": hidden_slider, "image": image, "status": status,
             "last_seconds": None, "runs": 0}

    def update(change=None):
        lam, h = float(reg_slider.value), int(hidden_slider.value)
        status.value = f"<i>training with λ = {lam:.1e} and {h} hidden units ...</i>"
        start = time.perf_counter()
        predict = train(X, y, hidden_size=h, reg=lam)
        title = f"λ = {lam:.1e}, {h} hidden units"
        image.value = render_boundary(predict, X, y, title=title, resolution=resolution)
        seconds = time.perf_counter() - start
        text = f"train accuracy {_accuracy(predict, X, y):.2f}"
        if X_val is not None:
            text += f", validation accuracy {_accuracy(predict, X_val, y_val):.2f}"
        status.value = (f"{text} &nbsp; <span style='color:#555'>(retrained and redrawn in "
                        f"{seconds:.1f} s)</span>")
        parts["last_seconds"] = seconds
        parts["runs"] += 1

    reg_slider.observe(update, names="value")
    hidden_slider.observe(update, names="value")
    update()
    box.explorer = parts
    return box
