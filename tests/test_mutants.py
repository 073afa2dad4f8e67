"""The checks against mutants of the instructor solutions (tests/mutants/): every mutant,
a small edit a student could make, fails its public check and its grading runs on several
seeds; the unmutated solutions pass. Messages naming the mutation are measured by
``python -m benchmarks mutants`` (a goal, not an assertion)."""

import pytest

from autograder import course
from course_lib.checks import CHECKS
from tests import mutants

MUTANTS = mutants.catalogue()


@pytest.fixture(autouse=True)
def strict_hints(monkeypatch):
    """A hint without a mistake id is a bug of the check here (TypeError), so every hint
    these runs emit is proven to name its mistake."""
    monkeypatch.setenv("COURSE_STRICT_HINTS", "1")


def test_the_catalogue_covers_every_graded_item_with_at_least_200_mutants():
    covered = {m.item for m in MUTANTS}
    graded = set()
    for nb_id in course.notebook_ids():
        for item in course.graded_items(course.read(course.source_path(nb_id))):
            if item["kind"] == "auto":
                graded |= {c.item for c in item["calls"]}
    assert not graded - covered, f"graded items without a mutant: {sorted(graded - covered)}"
    assert len(MUTANTS) >= 200, f"only {len(MUTANTS)} mutants"


@pytest.mark.parametrize("nb_id", sorted({m.nb_id for m in MUTANTS}))
def test_the_unmutated_solutions_pass(nb_id):
    for item in sorted({m.item for m in MUTANTS if m.nb_id == nb_id}):
        probe = next(m for m in MUTANTS if m.item == item)
        objs = mutants.objects(probe, mutants.namespace(None, nb_id, item))
        outcome = CHECKS[item].evaluate(*objs)
        assert outcome.passed, outcome.message
        for seed in mutants.HIDDEN_SEEDS:
            outcome = CHECKS[item].evaluate(*objs, seed=seed, hidden=True)
            assert outcome.passed, f"seed {seed}: {outcome.message}"


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.key)
def test_every_mutant_fails_its_public_check_and_every_grading_run(mutant):
    public, hidden = mutants.run(mutant)
    assert not public.passed, f"{mutant.key} passed the public check"
    passed = [o.seed for o in hidden if o.passed]
    assert not passed, f"{mutant.key} passed grading runs with seeds {passed}"
    if mutant.mistake:
        assert public.mistake == f"{mutant.item}/{mutant.mistake}", public.message
