"""The regularization explorer of notebook 04: a real ipywidgets tree whose sliders retrain
the network and redraw its decision boundary.

The end-to-end test uses the notebook's own ``train_net`` (taken from the instructor
source) on the notebook's spiral data; the unit tests use a recording stand-in trainer.
"""

import ipywidgets as widgets
import numpy as np
import pytest

from autograder import course
from course_lib import data
from course_lib.widgets.regularization import regularization_explorer, render_boundary

PNG = b"\x89PNG\r\n\x1a\n"


def _notebook_train_net():
    nb = course.read(course.source_path("04_neural_networks"))
    source = next(c.source for c in nb.cells if c.get("id") == "train-net")
    namespace = {"np": np}
    exec(source, namespace)
    return namespace["train_net"]


class RecordingTrainer:
    """A stand-in for train_net: remembers its calls; predicts class 0 left of a vertical
    line whose position depends on reg and hidden_size, so the picture changes with them."""

    def __init__(self):
        self.calls = []

    def __call__(self, X, y, hidden_size, reg):
        self.calls.append((hidden_size, reg))
        threshold = np.log10(reg) / 4 + hidden_size / 100

        def predict(points):
            return (points[:, 0] > threshold).astype(int)

        return predict


def _spiral():
    X, y = data.make_spiral(n_per_class=40, noise=0.2, seed=0)
    Xv, yv = data.make_spiral(n_per_class=40, noise=0.2, seed=1)
    return X, y, Xv, yv


def test_it_is_a_widget_tree_drawn_once_at_start():
    X, y, Xv, yv = _spiral()
    train = RecordingTrainer()
    box = regularization_explorer(train, X, y, X_val=Xv, y_val=yv, reg=1e-2, hidden_size=20)
    assert isinstance(box, widgets.VBox)
    parts = box.explorer
    assert isinstance(parts["reg"], widgets.FloatLogSlider)
    assert isinstance(parts["hidden"], widgets.SelectionSlider)
    assert isinstance(parts["image"], widgets.Image)
    assert train.calls == [(20, pytest.approx(1e-2))]
    assert bytes(parts["image"].value).startswith(PNG)
    assert "validation accuracy" in parts["status"].value
    # every part is really in the tree that gets displayed
    def walk(w):
        yield w
        for child in getattr(w, "children", ()):
            yield from walk(child)
    shown = list(walk(box))
    assert all(any(p is s for s in shown) for p in (parts["reg"], parts["hidden"],
                                                    parts["image"], parts["status"]))


def test_moving_a_slider_retrains_and_redraws():
    X, y, Xv, yv = _spiral()
    train = RecordingTrainer()
    box = regularization_explorer(train, X, y, reg=1e-2, hidden_size=20)
    parts = box.explorer
    before = parts["image"].value
    parts["reg"].value = 1e-1
    assert train.calls[-1] == (20, pytest.approx(1e-1))
    after_reg = parts["image"].value
    assert after_reg != before
    parts["hidden"].value = 100
    assert train.calls[-1] == (100, pytest.approx(1e-1))
    assert parts["image"].value not in (before, after_reg)
    assert parts["runs"] == 3 and parts["last_seconds"] > 0
    assert "retrained and redrawn in" in parts["status"].value


def test_with_the_notebooks_network_the_sliders_change_what_it_learns():
    """End to end: λ from 1e-3 to 1 turns a fitted spiral into an underfit one."""
    train_net = _notebook_train_net()
    X, y, Xv, yv = _spiral()
    box = regularization_explorer(train_net, X, y, X_val=Xv, y_val=yv, reg=1e-3,
                                  hidden_size=20)
    parts = box.explorer
    fitted_png, fitted_status = parts["image"].value, parts["status"].value
    train_acc = float(fitted_status.split("train accuracy ")[1][:4])
    assert train_acc > 0.9, fitted_status
    parts["reg"].value = 1.0
    assert parts["image"].value != fitted_png
    underfit = float(parts["status"].value.split("train accuracy ")[1][:4])
    assert underfit < 0.6, parts["status"].value


def test_bad_arguments_name_themselves():
    X, y, _, _ = _spiral()
    train = RecordingTrainer()
    with pytest.raises(ValueError, match=r"X must have shape \(N, 2\).*\(120, 3\)"):
        regularization_explorer(train, np.c_[X, X[:, :1]], y)
    with pytest.raises(ValueError, match=r"y must have shape \(120,\)"):
        regularization_explorer(train, X, y[:-1])
    with pytest.raises(ValueError, match="both X_val and y_val"):
        regularization_explorer(train, X, y, X_val=X)
    with pytest.raises(ValueError, match="hidden_size=7 is not one of"):
        regularization_explorer(train, X, y, hidden_size=7)
    with pytest.raises(ValueError, match="outside the slider's range"):
        regularization_explorer(train, X, y, reg=10.0)
    assert train.calls == []


def test_render_boundary_leaves_no_pyplot_figure_open():
    import matplotlib.pyplot as plt

    X, y, _, _ = _spiral()
    open_before = plt.get_fignums()
    png = render_boundary(lambda P: (P[:, 1] > 0).astype(int), X, y, title="t")
    assert png.startswith(PNG)
    assert plt.get_fignums() == open_before
