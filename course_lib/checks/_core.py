"""The registry of checks, what a failure looks like, and how one check is run.

A check is a function ``body(ctx, *student_objects)`` registered under the graded item's
name. It talks to student code only through :func:`course_lib.checks.call` and the
``as_*`` validators, so the same body runs against the student's real objects (in the
student's kernel) and against proxies of objects living in the autograder's sandbox.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import textwrap
import time
import zlib
from dataclasses import dataclass, field

import numpy as np

GREEN, RED, YELLOW, BOLD, RESET = "\x1b[32m", "\x1b[31m", "\x1b[33m", "\x1b[1m", "\x1b[0m"

#: Every mistake a check can name: local id -> short title ("no-1-over-N" -> "loss and
#: gradient not averaged over N"). A failure's mistake is reported as "<item>/<id>".
MISTAKES: dict[str, str] = {
    "wrong-value": "wrong value",
    "wrong-gradient": "gradient does not match the numerical gradient",
    "wrong-shape": "wrong shape",
    "wrong-type": "wrong type of result",
    "changed-input": "changed its input in place",
    "raised-error": "raised an error",
    "timed-out": "timed out",
    "crashed": "crashed (memory or processes)",
    "not-attempted": "not attempted",
    # generic patterns the shared helpers recognise (see _compare.diagnose, _values)
    "all-zeros": "result is all zeros",
    "transposed": "transposed result",
    "sign-flip": "opposite sign",
    "times-N": "N times too large (not averaged over N)",
    "over-N": "N times too small (divided by N once too often)",
    "times-2": "twice the expected value (a factor 2 too many)",
    "half": "half the expected value (a factor 2 missing)",
    "flattened": "flattened (right entries, wrong shape)",
    "reduced-axis": "an axis summed or maxed away",
    "extra-axis": "an extra axis of length 1",
    "not-ndarray": "an array-like that is not a plain numpy array",
    "non-finite": "overflow or division by zero (inf or nan)",
    "low-precision": "converted to lower precision than float64",
    "wrong-count": "returned the wrong number of values",
    "not-a-scalar": "an array where a single number is due",
    "missing-keys": "missing keys in a returned dict",
    "missing-attribute": "an attribute the instructions ask for is missing",
    "not-defined": "a graded name is not defined in the notebook",
    "no-response": "output does not change with its input (cached or hard-coded)",
    "python-loop": "a Python loop in code that should be vectorized",
    "calls-loop-version": "the vectorized version calls a looping function",
}


class Mistake(str):
    """A hint that names a mistake: the text is what the student reads; ``id`` and ``title``
    are what an instructor's report counts.

    Use it wherever a hint (a ``str``) goes: ``hints={Mistake("no-1-over-N", "loss not
    averaged over N", "did you divide by N?"): predicted}`` or ``fail(msg, hint=Mistake(...))``.
    The same id must always come with the same title.
    """

    id: str
    title: str

    def __new__(cls, id: str, title: str, text: str):
        known = MISTAKES.setdefault(id, title)
        if known != title:
            raise ValueError(f"mistake {id!r} already has the title {known!r}, not {title!r}")
        self = super().__new__(cls, text)
        self.id, self.title = id, title
        return self

    def __reduce__(self):  # pickles (Dask, multiprocessing) as what it is
        return (Mistake, (self.id, self.title, str(self)))


class CheckFailed(AssertionError):
    """A check found something wrong; ``str(exc)`` is a student-readable lesson.

    In IPython the lesson is shown in red without a traceback through course_lib.
    """

    status = "failed"
    headline = "not right yet"
    default_mistake = "wrong-value"

    def __init__(self, message: str, *, hint: str | None = None, mistake: str | None = None):
        """mistake: the id (a key of :data:`MISTAKES`) of what went wrong; by default the
        hint's id when the hint is a :class:`Mistake`, else the class's generic one."""
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.mistake = mistake or getattr(hint, "id", None) or self.default_mistake
        self.item: str | None = None
        self.seed: int | None = None
        self.hidden = False

    def lesson(self) -> str:
        text = self.message
        if self.hint:
            text += f"\nHint: {self.hint}"
        return text

    def __str__(self) -> str:
        head = f"{self.item}: {self.headline}" if self.item else self.headline
        text = f"{head}\n{self.lesson()}"
        if self.hidden and self.seed is not None:
            text += f"\n(grading case, seed {self.seed})"
        return text

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a traceback
        first, _, rest = str(self).partition("\n")
        lines = [f"{RED}{BOLD}✘ {first}{RESET}"]
        lines += [f"{RED}{line}{RESET}" for line in wrap_lines(rest).splitlines()]
        return lines


def wrap_lines(text: str, width: int = 100) -> str:
    """Prose lines longer than ``width`` wrapped at word boundaries (a notebook's output box
    otherwise breaks them mid-word); indented lines (code, arrays) are kept as they are."""
    out = []
    for line in text.splitlines():
        if len(line) <= width or line.startswith((" ", "\t")):
            out.append(line)
        else:
            out += textwrap.wrap(line, width, break_long_words=False,
                                 break_on_hyphens=False) or [""]
    return "\n".join(out)


class NotImplementedYet(CheckFailed):
    """The student's code still raises NotImplementedError."""

    status = "not_implemented"
    headline = "not implemented yet"
    default_mistake = "not-attempted"


class StudentCodeError(CheckFailed):
    """The student's code raised an exception while the check called it."""

    status = "error"
    headline = "your code raised an error"
    default_mistake = "raised-error"


class ChangedInput(StudentCodeError):
    """The student's code modified one of the arrays it was given (status "error", as any
    misbehaviour of the call itself; the headline says what happened)."""

    headline = "changed its input"
    default_mistake = "changed-input"


@dataclass
class Context:
    """What a check body gets besides the student's objects."""

    name: str
    seed: int
    hidden: bool
    rng: np.random.Generator = field(repr=False)
    #: One line a check may add to its pass line (e.g. which convention it found).
    note: str | None = None


@dataclass
class Outcome:
    """The result of one check run, for scorecards and the autograder."""

    name: str
    status: str  # passed | failed | not_implemented | error
    message: str
    seed: int
    hidden: bool
    seconds: float
    exception: CheckFailed | None = field(default=None, repr=False)
    #: "<item>/<mistake id>" for a failure (None when passed); its title is in MISTAKES.
    mistake: str | None = None
    #: The check's note on a pass (``ctx.note``), e.g. the regularization convention found.
    note: str | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def mistake_title(self) -> str | None:
        if self.mistake is None:
            return None
        return MISTAKES.get(self.mistake.partition("/")[2], self.mistake)

    @property
    def summary(self) -> str:
        """One line: what a gradebook or scorecard shows."""
        if self.passed:
            return "passed"
        lesson = self.exception.lesson() if self.exception else self.message
        first = next((ln.strip() for ln in lesson.splitlines() if ln.strip()), self.status)
        return first


def strict_hints() -> bool:
    """With ``COURSE_STRICT_HINTS=1`` in the environment, a check failing with a hint that is
    a plain string (no mistake id) is a bug of the check (TypeError), so that test runs over
    many wrong implementations (the mutants) prove every hint emitted names its mistake."""
    return os.environ.get("COURSE_STRICT_HINTS") == "1"


def public_seed(name: str) -> int:
    """The fixed seed of a check's public run, so its messages are reproducible."""
    return zlib.crc32(name.encode())


class Check:
    """A registered check: ``CHECKS[name](obj, seed=None, hidden=False)``.

    Calling it prints one green line when the student's object is right and raises
    :class:`CheckFailed` (an ``AssertionError``) with a lesson when it is not.
    """

    def __init__(self, name: str, body, description: str = ""):
        self.name = name
        self.body = body
        self.description = description or (body.__doc__ or "").strip().split("\n")[0]

    def __repr__(self):
        return f"<check {self.name!r}: {self.description}>"

    def evaluate(self, *objs, seed: int | None = None, hidden: bool = False) -> Outcome:
        """Run the check and return an :class:`Outcome` instead of printing or raising.

        Failures of the student's code become outcomes; a bug in the check itself, or an
        infrastructure error such as a sandbox timeout, propagates.
        """
        if seed is None:
            seed = secrets.randbits(32) if hidden else public_seed(self.name)
        ctx = Context(self.name, seed, hidden, np.random.default_rng(seed))
        start = time.perf_counter()
        try:
            with seeded_globals(seed, objs):
                self.body(ctx, *objs)
        except CheckFailed as exc:
            if exc.hint and not isinstance(exc.hint, Mistake) and strict_hints():
                raise TypeError(f"{self.name}: a hint without a mistake id (make it a "
                                f"Mistake): {str(exc.hint)[:200]!r}") from exc
            exc.item, exc.seed, exc.hidden = self.name, seed, hidden
            return Outcome(self.name, exc.status, str(exc), seed, hidden,
                           time.perf_counter() - start, exc, f"{self.name}/{exc.mistake}")
        return Outcome(self.name, "passed", "passed", seed, hidden, time.perf_counter() - start,
                       note=ctx.note)

    def __call__(self, *objs, seed: int | None = None, hidden: bool = False) -> None:
        outcome = self.evaluate(*objs, seed=seed, hidden=hidden)
        if not outcome.passed:
            raise outcome.exception.with_traceback(None)
        extra = " (grading cases)" if hidden else ""
        note = f" ({outcome.note})" if outcome.note else ""
        print(f"{GREEN}✔ {self.name}: passed{extra}{note}{RESET}")


@contextlib.contextmanager
def seeded_globals(seed: int, objs=()):
    """For the duration of a check: the global ``np.random`` and ``random`` seeded with
    ``seed`` in this process and in every sandbox process that one of ``objs`` (a
    ``RemoteHandle``) lives in; their previous states restored afterwards.

    Student code that draws from the global generators (CS231n's ``LinearClassifier.train``
    samples its batches with ``np.random.choice``) then gets the same message every run.
    """
    from ._student import RemoteHandle, restore_random, seed_random

    sessions = {}
    for obj in objs:
        inner = obj.values() if type(obj) is dict else obj if type(obj) in (list, tuple) else ()
        for o in (obj, *inner):
            if isinstance(o, RemoteHandle):
                sessions.setdefault(id(o._course_session()), o)
    saved = seed_random(seed)
    seeded = []
    try:
        for handle in sessions.values():
            handle._course_seed_random(seed)
            seeded.append(handle)
        yield
    finally:
        # a failed restore (a sandbox out of time) must not turn the check's outcome into an
        # error: every check seeds afresh, and a lost sandbox fails its next request anyway
        for handle in reversed(seeded):
            with contextlib.suppress(Exception):
                handle._course_seed_random(None)
        restore_random(saved)


class _Registry(dict):
    def __missing__(self, name):
        close = [k for k in self if name.lower() in k.lower() or k.lower() in name.lower()]
        suggestion = f" Did you mean {', '.join(map(repr, close[:3]))}?" if close else ""
        raise KeyError(f"no check named {name!r}.{suggestion}")


CHECKS: dict[str, Check] = _Registry()


def register(name: str, description: str = ""):
    """Decorator: register ``body(ctx, *objs)`` as the check for graded item ``name``."""

    def decorate(body):
        if name in CHECKS:
            raise ValueError(f"a check named {name!r} is already registered")
        CHECKS[name] = Check(name, body, description)
        return body

    return decorate


def fail(message: str, *, hint: str | None = None, mistake: str | None = None):
    """Stop the check with a student-readable lesson (see :class:`CheckFailed`)."""
    raise CheckFailed(message, hint=hint, mistake=mistake)
