"""Notebook 01's figures and its live explorer widget (course_lib.widgets.knn)."""

import re

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from course_lib.widgets import knn as knn_widgets  # noqa: E402

CLASSES = ["plane", "car", "bird", "cat"]


@pytest.fixture
def tiny():
    rng = np.random.default_rng(0)
    X_train = rng.integers(0, 256, size=(12, 3072)).astype(float)
    y_train = np.array([0, 1, 2, 3, 1, 3, 0, 2, 1, 3, 2, 0])
    X_test = rng.integers(0, 256, size=(3, 3072)).astype(float)
    y_test = np.array([1, 3, 0])
    dists = rng.uniform(10, 100, size=(3, 12))
    # test image 2: nearest has label 3, then label 1: a tie at k = 2 that label 1 wins
    dists[2, 5], dists[2, 4] = 1.0, 2.0
    return dists, X_train, y_train, X_test, y_test


def _text(html):
    return re.sub(r"<[^>]+>", "", html.split("<img")[0])


def test_explorer_output_changes_when_a_control_changes(tiny):
    box = knn_widgets.knn_explorer(*tiny, CLASSES)
    first = box.view.value
    assert "data:image/png;base64," in first and "The 1 nearest training image votes" in first
    box.k.value = 5
    after_k = box.view.value
    assert after_k != first and "The 5 nearest training images vote" in after_k
    box.test_index.value = 1
    after_index = box.view.value
    assert after_index != after_k
    assert re.search(r": (correct|wrong, the true class is cat)\.", _text(after_index))


def test_explorer_shows_the_vote_and_breaks_ties_toward_the_smaller_label(tiny):
    box = knn_widgets.knn_explorer(*tiny, CLASSES, start=2)
    assert _text(box.view.value).startswith("The 1 nearest training image votes cat")
    box.k.value = 2
    text = _text(box.view.value)
    assert "vote car" in text and "a tie between car, cat: the smaller label wins" in text
    assert "wrong, the true class is plane" in text  # y_test[2] is 0


def test_explorer_is_a_widget_with_its_controls(tiny):
    import ipywidgets as widgets

    box = knn_widgets.knn_explorer(*tiny, CLASSES, max_k=50)
    assert isinstance(box, widgets.VBox)
    assert box.k.max == 12 and box.test_index.max == 2  # k never above num_train
    assert box.view in box.children


def test_explorer_refuses_mismatched_shapes(tiny):
    dists, X_train, y_train, X_test, y_test = tiny
    with pytest.raises(ValueError, match=r"dists has shape \(3, 12\).*X_train \(5, 3072\)"):
        knn_widgets.knn_explorer(dists, X_train[:5], y_train, X_test, y_test, CLASSES)


def test_altered_copies_are_all_at_the_same_distance_and_different():
    rng = np.random.default_rng(1)
    ramp = np.zeros((32, 32, 3)) + np.arange(32)[None, :, None]
    bright, dark = np.minimum(225.0 + ramp, 255), 2.0 + 0.5 * ramp.transpose(1, 0, 2)
    for img in (rng.integers(0, 256, size=(32, 32, 3)).astype(float), bright, dark):
        copies = knn_widgets.altered_copies(img)
        dists = {name: np.sqrt(np.sum((c - img) ** 2)) for name, c in copies.items()}
        assert dists["shifted"] > 0
        assert np.allclose(list(dists.values()), dists["shifted"], rtol=1e-6), dists
        for c in copies.values():
            assert c.shape == img.shape and c.min() >= 0 and c.max() <= 255
        assert not np.allclose(copies["tinted"], copies["occluded"])


def test_figures_draw_what_they_are_given():
    import matplotlib.pyplot as plt

    accs = {k: [0.2 + 0.001 * k + 0.01 * f for f in range(5)] for k in (1, 3, 5, 8)}
    fig = knn_widgets.plot_cross_validation(accs, best_k=8)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "3", "5", "8"]
    assert "best k = 8" in [t.get_text() for t in ax.get_legend().get_texts()]
    fig = knn_widgets.plot_timings({"two loops": 3.0, "one loop": 2.0, "no loops": 0.03}, 20, 5000)
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert labels[0] == "3 s\n(100x)" and labels[2] == "0.03 s\n(1x)"
    fig = knn_widgets.plot_distance_matrix(np.arange(12.0).reshape(3, 4))
    assert fig.axes[0].images[0].get_array().shape == (3, 4)
    fig = knn_widgets.show_same_distance(np.zeros(3072) + 100, neighbour=np.zeros(3072),
                                         neighbour_name="black")
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == 5 and titles[-1] == "black\nL2 distance 5,542.6"
    plt.close("all")
