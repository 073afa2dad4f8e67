"""The stored results notebook 05's checks compare with are the instructor solution's own."""

import numpy as np

from autograder.expected.two_layer_net import build, differences, instructor_namespace
from course_lib.checks.layers import stored


def test_stored_results_match_a_fresh_run_of_the_instructor_solution():
    stale = differences(stored(), build())
    assert not stale, f"stale: {stale}; run python -m autograder.expected.two_layer_net"


def test_stored_toy_network_is_cs231n_s():
    """Case 0 is CS231n's toy model, whose loss with reg 0.05 is published as 1.30378789."""
    s = stored()
    assert abs(float(s["net0_loss_reg"]) - 1.30378789133) < 1e-10
    assert s["net0_X"].shape == (5, 4) and s["net0_W1"].shape == (4, 10)


def test_stored_cases_stay_away_from_relu_kinks_and_ties():
    """Numerical gradients must not straddle a kink and predict must have no near-ties, even
    after the grading runs rescale hidden units by factors down to 0.5."""
    s = stored()
    for i in range(3):
        pre = s[f"net{i}_X"] @ s[f"net{i}_W1"] + s[f"net{i}_b1"]
        assert 0.5 * np.abs(pre).min() > 100 * 1e-5 * np.abs(s[f"net{i}_X"]).max()
        top2 = np.sort(s[f"net{i}_scores"], axis=1)[:, -2:]
        assert np.min(top2[:, 1] - top2[:, 0]) > 1e-3


def test_building_leaves_the_global_random_state_alone():
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    build(instructor_namespace())
    assert np.random.rand() == expected
