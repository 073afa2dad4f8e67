"""Running a graded item's checks in the grader's process, against student objects
reached through a :class:`~autograder.channel.Client`.

The check calls come from the instructor source's test cell (never from the submission);
names in them are looked up in the student's namespace through the channel.
"""

from __future__ import annotations

from dataclasses import dataclass

from course_lib.checks import CHECKS, Outcome

from .course import CheckCall


@dataclass
class ItemResult:
    grade_id: str
    points: float
    max_points: float
    status: str  # passed | failed | not_implemented | error (the sandbox adds timeout, crashed...)
    message: str
    outcomes: list[Outcome]


def _resolve(arg, client):
    kind, value = arg
    if kind == "name":
        return client.ref(value)
    if kind == "dict":
        return {k: _resolve(v, client) for k, v in value.items()}
    return value


def run_call(client, call: CheckCall, seed: int | None = None) -> Outcome:
    """One ``CHECKS[item](...)`` statement; hidden calls get ``seed`` (fresh if None)."""
    args = [_resolve(a, client) for a in call.args]
    seed = call.kwargs.get("seed", seed if call.hidden else None)
    try:
        return CHECKS[call.item].evaluate(*args, seed=seed, hidden=call.hidden)
    finally:
        client.reset()


def grade_item(client, item: dict, include_hidden: bool = True) -> ItemResult:
    """All of an item's check calls, in order; the item passes only if every one passes."""
    outcomes = []
    for call in item["calls"]:
        if call.hidden and not include_hidden:
            continue
        outcome = run_call(client, call)
        outcomes.append(outcome)
        if not outcome.passed:
            break
    failed = next((o for o in outcomes if not o.passed), None)
    if failed is None:
        return ItemResult(item["grade_id"], item["points"], item["points"], "passed", "passed",
                          outcomes)
    return ItemResult(item["grade_id"], 0.0, item["points"], failed.status, failed.summary,
                      outcomes)
