"""Notebook 02's figures draw what they claim: the search grid puts each accuracy in its
(learning rate, reg) cell, the kink figure's slopes are the centred difference's, and the
score-line figure refuses inputs of the wrong shape with a message naming them."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_lib.widgets import linear as figures  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_search_grid_puts_every_accuracy_in_its_cell():
    results = {(lr, reg): (0.1 + i / 100, 0.2 + i / 100)
               for i, (lr, reg) in enumerate((lr, reg) for lr in (1e-6, 1e-7, 3e-7)
                                             for reg in (5e3, 1e3))}
    fig = figures.plot_search_grid(results, title="SVM")
    train_ax, val_ax = fig.axes[:2]
    for ax, k in ((train_ax, 0), (val_ax, 1)):
        image = ax.images[0].get_array()
        assert image.shape == (3, 2)  # rows: learning rates ascending; columns: regs
        for (lr, reg), accs in results.items():
            i, j = sorted({1e-6, 1e-7, 3e-7}).index(lr), sorted({5e3, 1e3}).index(reg)
            assert image[i, j] == pytest.approx(accs[k])
        shown = {t.get_text() for t in ax.texts}
        assert shown == {f"{accs[k]:.3f}" for accs in results.values()}
    assert "validation" in val_ax.get_title() and "SVM" in val_ax.get_title()


def test_kink_figure_shows_the_centred_difference_across_the_kink():
    fig = figures.plot_kink(x0=0.3e-5, h=1e-5)
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert any("slope 0.65" in label for label in labels)  # (1.3e-5 - 0) / 2e-5
    assert any("slope 1" in label for label in labels)
    assert "relative error 0.21" in fig.axes[0].get_title()  # 0.35 / 1.65


def test_score_lines_refuse_wrong_shapes():
    X = np.zeros((5, 2))
    with pytest.raises(ValueError, match=r"need W \(2, C\).*W \(3, 3\)"):
        figures.plot_score_lines(np.zeros((3, 3)), np.zeros(3), X, np.zeros(5, int))
    fig = figures.plot_score_lines(np.eye(2), np.zeros(2), np.eye(2) * 2, np.array([0, 1]))
    assert len(fig.axes[0].collections) >= 2  # regions and points drawn
