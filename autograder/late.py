"""Late work: the due date of each assignment, how late a submission was, and what it costs.

Policies (``parse_policy`` reads them from the command line):

==================================== =======================================================
``none``                             no penalty (the default)
``nbgrader``                         what nbgrader's ``LateSubmissionPlugin`` does with
                                     ``penalty_method = "zero"``: a late notebook loses its
                                     whole score (nbgrader's own default, ``"none"``, is
                                     the policy above)
``per-hour:RATE[:cap=CAP]``          RATE per started hour late, at most CAP
``per-day:RATE[:cap=CAP]``           RATE per started day (24 h) late, at most CAP
==================================== =======================================================

RATE and CAP are points (``2``, ``0.5``) or a percentage of the notebook's maximum
(``10%``). ``per-day:10%:cap=50%``: a notebook worth 20 points loses 2 points for each
started day, at most 10. "Started": 2.8 s late is one hour (or day) late. As in nbgrader
(``AssignLatePenalties``), the penalty is never negative and never more than the score,
and only a submission more than 0 s late pays one.

Due dates are per assignment, UTC: from nbgrader's gradebook (``Assignment.duedate``,
stored as naive UTC) with :func:`due_dates_from_gradebook`, or from a course config
mapping ``{assignment: "2026-03-01 23:59:00 Europe/Berlin"}`` with
:func:`due_dates_from_mapping` (read by ``nbgrader.utils.parse_utc``, the parser nbgrader
uses for due dates and timestamps).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

HOUR = 3600.0
DAY = 24 * HOUR
_AMOUNT = re.compile(r"^(?P<value>\d+(?:\.\d+)?)(?P<percent>%?)$")
_EPSILON = 1e-6  # seconds: floating-point noise in a difference of datetimes


class PolicyError(ValueError):
    """A late policy that cannot be read; ``str()`` says what was expected."""


@dataclass(frozen=True)
class Amount:
    """Points, or a percentage of the notebook's maximum."""

    value: float
    percent: bool = False

    def points(self, max_score: float) -> float:
        return self.value * max_score / 100.0 if self.percent else self.value

    def __str__(self) -> str:
        return f"{self.value:g}%" if self.percent else f"{self.value:g} points"


@dataclass(frozen=True)
class LatePolicy:
    kind: str = "none"  # none | nbgrader | per_hour | per_day
    rate: Amount | None = None
    cap: Amount | None = None

    def describe(self) -> str:
        if self.kind == "none":
            return "no late penalty"
        if self.kind == "nbgrader":
            return "a late notebook scores 0 (nbgrader's penalty_method = 'zero')"
        unit = "hour" if self.kind == "per_hour" else "day"
        text = f"{self.rate} per started {unit} late"
        return text + (f", at most {self.cap}" if self.cap else "")


NONE = LatePolicy()

_SYNTAX = ("none | nbgrader | per-hour:RATE[:cap=CAP] | per-day:RATE[:cap=CAP], RATE and CAP "
           "in points (2, 0.5) or percent of the notebook's maximum (10%)")


def _amount(text: str, what: str, spec: str) -> Amount:
    m = _AMOUNT.match(text.strip())
    if not m:
        raise PolicyError(f"late policy {spec!r}: {what} {text!r} is not a number of points "
                          "or a percentage (like 2 or 10%)")
    amount = Amount(float(m["value"]), bool(m["percent"]))
    if amount.percent and amount.value > 100:
        raise PolicyError(f"late policy {spec!r}: {what} {text} is more than 100%")
    return amount


def parse_policy(spec: str | None) -> LatePolicy:
    """``"per-day:10%:cap=50%"`` -> ``LatePolicy("per_day", 10%, 50%)``; see the module
    docstring for the forms. Raises :class:`PolicyError` with a readable message."""
    if spec is None or not spec.strip():
        return NONE
    parts = [p.strip() for p in spec.strip().split(":")]
    kind = parts[0].lower().replace("-", "_")
    if kind in ("none", "off"):
        kind = "none"
    if kind in ("nbgrader", "zero"):
        kind = "nbgrader"
    if kind in ("none", "nbgrader"):
        if len(parts) > 1:
            raise PolicyError(f"late policy {spec!r}: {kind} takes no rate or cap")
        return LatePolicy(kind)
    if kind not in ("per_hour", "per_day"):
        raise PolicyError(f"late policy {spec!r}: unknown kind {parts[0]!r}; expected {_SYNTAX}")
    if len(parts) < 2 or not parts[1]:
        raise PolicyError(f"late policy {spec!r}: {parts[0]} needs a rate, like "
                          f"{parts[0]}:10% or {parts[0]}:2")
    rate = _amount(parts[1], "rate", spec)
    cap = None
    for extra in parts[2:]:
        key, _, value = extra.partition("=")
        if key.strip().lower() != "cap" or not value:
            raise PolicyError(f"late policy {spec!r}: {extra!r} is not cap=AMOUNT")
        if cap is not None:
            raise PolicyError(f"late policy {spec!r}: cap given twice")
        cap = _amount(value, "cap", spec)
    return LatePolicy(kind, rate, cap)


def penalty(policy: LatePolicy, seconds_late: float, score: float, max_score: float) -> float:
    """Points taken off a notebook that scored ``score`` of ``max_score`` and came in
    ``seconds_late`` seconds after its due date: between 0 and ``score``."""
    if seconds_late <= 0 or score <= 0 or policy.kind == "none":
        return 0.0
    if policy.kind == "nbgrader":
        return float(score)
    unit = HOUR if policy.kind == "per_hour" else DAY
    units = math.ceil(seconds_late / unit - _EPSILON / unit)
    points = units * policy.rate.points(max_score)
    if policy.cap is not None:
        points = min(points, policy.cap.points(max_score))
    return float(min(max(points, 0.0), score))


def penalty_callback(policy: LatePolicy):
    """The policy as ``batch.autograde(late_penalty=...)`` takes it: ``callable(notebook,
    seconds_late, points, max_points) -> points``; ``None`` for ``none``."""
    if policy.kind == "none":
        return None

    def late_penalty(notebook: str, seconds: float, points: float, max_points: float) -> float:
        return penalty(policy, seconds, points, max_points)

    return late_penalty


# --------------------------------------------------------------------------- due dates

def as_utc(value) -> datetime | None:
    """A due date or timestamp as an aware UTC datetime: aware datetimes are converted,
    naive ones are taken as UTC (nbgrader stores them so), strings are read by
    ``nbgrader.utils.parse_utc``."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        from nbgrader.utils import parse_utc  # imported here: it takes seconds

        value = parse_utc(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def due_dates_from_mapping(mapping: dict) -> dict[str, datetime]:
    """``{assignment: due}`` from a course config mapping of strings or datetimes."""
    out = {}
    for assignment, due in mapping.items():
        try:
            when = as_utc(due)
        except (ValueError, OverflowError) as exc:
            raise PolicyError(f"due date of {assignment}: {due!r} is not a date ({exc})") \
                from None
        if when is not None:
            out[assignment] = when
    return out


def due_dates_from_gradebook(db_url: str) -> dict[str, datetime]:
    """``{assignment: due}`` for every assignment with a due date in nbgrader's gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        return {a.name: as_utc(a.duedate) for a in gb.assignments if a.duedate is not None}


def seconds_late(timestamp: datetime | None, due: datetime | None) -> float:
    """How late a submission was (0 when on time, or when either date is unknown), as
    nbgrader's ``SubmittedAssignment.total_seconds_late`` computes it."""
    if timestamp is None or due is None:
        return 0.0
    return max(0.0, (as_utc(timestamp) - as_utc(due)).total_seconds())


def late_penalty(policy: LatePolicy, found, due: datetime | None, score: float,
                 max_score: float) -> tuple[float, str]:
    """The penalty for one discovered submission (a ``discover.Found``) and a line saying
    why, for the log. A file the LMS marked late without saying when (Canvas's ``LATE_``)
    pays nothing automatically: the line says so, for the instructor to decide."""
    if policy.kind == "none":
        return 0.0, ""
    if found.timestamp is None:
        if getattr(found, "lms_late", False):
            return 0.0, (f"{found.student_id}/{found.notebook}: marked late by the LMS, but "
                         "the download does not say when it was submitted: no penalty "
                         "applied, check it by hand")
        return 0.0, ""
    late = seconds_late(found.timestamp, due)
    if late <= 0:
        return 0.0, ""
    points = penalty(policy, late, score, max_score)
    return points, (f"{found.student_id}/{found.notebook}: {_duration(late)} late: "
                    f"-{points:g} ({policy.describe()})")


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < DAY:
        return f"{seconds / HOUR:.1f} h"
    return f"{seconds / DAY:.1f} days"
