"""Mutants of the instructor solutions: small, named edits a student could make.

Each catalogue module here (``knn.py``, ``linear.py``, ...) covers one notebook::

    NB_ID = "02_linear_classifiers"
    CELLS = ("imports", "svm-naive-solution", ...)   # instructor cells run, in order
    MUTANTS = [
        Mutant("svm_loss_naive", "no-1-over-N", "svm-naive-solution",
               old="loss /= N", new="pass",
               words=(r"average|1/N|divide", r"\bN\b")),
        ...
    ]

A mutant replaces the text ``old`` (which must occur exactly once in the cell, solution
markers stripped) by ``new`` in cell ``cell``, runs ``CELLS`` in a fresh namespace and calls
the check ``item`` with the objects its public check call names in the notebook. A module may
also give ``ITEM_CELLS = {item: (cell ids...)}`` for items whose check needs other cells (the
data, a slow cell) than ``CELLS``; the unmutated cells before the mutated one are run once per
notebook and list of cells, and each mutant starts from a copy of that namespace. It must
fail the public check and every grading run; its public message *names* the mutation when
every regex in ``words`` matches it (case-insensitive). ``mistake`` (optional) is the id of
:data:`course_lib.checks.MISTAKES` the failure should carry.

Used by ``tests/test_mutants.py`` (every mutant fails), ``benchmarks/bench_mutants.py`` (the
share of messages that name their mutation) and the mistake report's generated class.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
from dataclasses import dataclass
from functools import cache

from autograder import course
from course_lib.checks import CHECKS, Outcome

#: Grading seeds every mutant must fail on (besides the public run).
HIDDEN_SEEDS = (1, 2, 3)


@dataclass(frozen=True)
class Mutant:
    item: str                     # the check that must fail, e.g. "svm_loss_naive"
    name: str                     # a slug naming the edit: "no-1-over-N"
    cell: str                     # instructor cell id the edit applies to
    old: str                      # exact text in that cell (occurs once)
    new: str                      # its replacement
    words: tuple[str, ...] = ()   # regexes the public message must all match to name it
    mistake: str | None = None    # the mistake id the failure should carry, if any
    nb_id: str = ""               # filled in from the catalogue module

    @property
    def key(self) -> str:
        return f"{self.item}/{self.name}"

    def names_it(self, message: str) -> bool:
        return all(re.search(w, message, re.I | re.S) for w in self.words)


@cache
def catalogue(extra: bool = False) -> tuple[Mutant, ...]:
    """Every mutant of every catalogue module, in module order; ``extra``: also the slow ones
    a module keeps out of the suite (``EXTRA_MUTANTS``, run by the benchmark)."""
    mutants = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for m in [*module.MUTANTS, *(getattr(module, "EXTRA_MUTANTS", []) if extra else [])]:
            mutants.append(Mutant(**{**m.__dict__, "nb_id": module.NB_ID}))
    keys = [m.key for m in mutants]
    duplicates = {k for k in keys if keys.count(k) > 1}
    if duplicates:
        raise ValueError(f"mutants named twice: {sorted(duplicates)}")
    return tuple(mutants)


@cache
def _module(nb_id: str):
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if module.NB_ID == nb_id:
            return module
    raise KeyError(f"no mutant catalogue for {nb_id}")


def cells_of(nb_id: str, item: str | None = None) -> tuple[str, ...]:
    """The instructor cells run for ``item``'s mutants (the notebook's ``CELLS`` by default)."""
    module = _module(nb_id)
    return tuple(getattr(module, "ITEM_CELLS", {}).get(item, module.CELLS))


@cache
def _sources(nb_id: str) -> dict[str, str]:
    return {c.get("id"): course.strip_solution_markers(c.source)
            for c in course.read(course.source_path(nb_id)).cells}


@cache
def _check_args(nb_id: str) -> dict[str, list]:
    """item -> the argument list of its public check call in the instructor notebook."""
    args = {}
    for cell in course.read(course.source_path(nb_id)).cells:
        if course.is_autograded_test(cell):
            for call in course.parse_check_cell(cell.source):
                if not call.hidden:
                    args.setdefault(call.item, call.args)
    return args


def mutated_source(m: Mutant) -> str:
    """The text of ``m.cell`` with the mutation applied."""
    source = _sources(m.nb_id)[m.cell]
    count = source.count(m.old)
    if count != 1:
        raise ValueError(f"{m.key}: {m.old!r} occurs {count} times in cell {m.cell!r}")
    return source.replace(m.old, m.new)


def _run_cells(nb_id: str, cell_ids, ns: dict, mutant: Mutant | None = None) -> dict:
    sources = _sources(nb_id)
    for cell_id in cell_ids:
        text = mutated_source(mutant) if mutant and cell_id == mutant.cell else sources[cell_id]
        exec(compile(text, f"<{nb_id}:{cell_id}>", "exec"), ns)
    return ns


@cache
def _prefix(nb_id: str, cell_ids: tuple[str, ...]) -> dict:
    """The namespace after the unmutated cells ``cell_ids`` (run once, then copied)."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    return _run_cells(nb_id, cell_ids, {"__name__": "__main__"})


def namespace(m: Mutant | None, nb_id: str | None = None, item: str | None = None) -> dict:
    """The instructor cells for ``item`` (or the mutant's item) run with ``m`` applied
    (``m=None``: unmutated)."""
    nb_id = m.nb_id if m else nb_id
    cells = cells_of(nb_id, m.item if m else item)
    cut = cells.index(m.cell) if m else len(cells)
    return _run_cells(nb_id, cells[cut:], dict(_prefix(nb_id, cells[:cut])), m)


def _value(arg, ns):
    kind, value = arg
    if kind == "name":
        return ns[value]
    if kind == "dict":
        return {k: _value(v, ns) for k, v in value.items()}
    return value


def objects(m: Mutant, ns: dict) -> list:
    """The objects the item's public check call passes, taken from ``ns``."""
    return [_value(a, ns) for a in _check_args(m.nb_id)[m.item]]


def run(m: Mutant, seeds=HIDDEN_SEEDS) -> tuple[Outcome, list[Outcome]]:
    """(public outcome, grading outcomes on ``seeds``) of the mutant's item."""
    ns = namespace(m)
    objs = objects(m, ns)
    check = CHECKS[m.item]
    public = check.evaluate(*objs)
    hidden = [check.evaluate(*objs, seed=s, hidden=True) for s in seeds]
    return public, hidden
