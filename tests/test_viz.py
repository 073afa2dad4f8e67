"""Shared plots draw what they claim to draw."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from course_lib import viz  # noqa: E402


def test_image_grid_puts_each_class_in_its_own_column():
    # Images whose colour encodes their class: column c of the mosaic must be all class c.
    y = np.repeat(np.arange(3), 5)
    X = np.zeros((15, 4, 4, 3))
    X[:, 0, 0, 0] = y  # one pixel carries the label; to_displayable rescales per image
    X[:, 1, 1, 1] = 3
    fig = viz.show_image_grid(X, y, ["a", "b", "c"], per_class=2)
    mosaic = fig.axes[0].images[0].get_array()
    assert mosaic.shape == (2 * 4 + 1, 3 * 4 + 2, 3)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["a", "b", "c"]
    for c in range(3):
        for row in range(2):
            top, left = row * 5, c * 5
            assert mosaic[top, left, 0] == (c / 3 if c else 0.0)  # the label pixel, rescaled


def test_decision_boundary_colours_the_plane_by_the_prediction():
    X = np.array([[-1.0, 0.0], [1.0, 0.0]])
    fig = viz.plot_decision_boundary(lambda P: (P[:, 0] > 0).astype(int), X, np.array([0, 1]))
    assert fig.axes[0].collections  # the contour and the scatter were drawn
