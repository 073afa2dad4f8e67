"""How well the checks name mistakes: the mutants of the instructor solutions (tests/mutants/).

For every mutant, its public check's message is compared with the words that a message naming
that mutation must contain. Printed: the share named, per notebook and overall (goal: at least
90%), every miss with the first lines of its message, every mutant that passed a check (which
tests/test_mutants.py fails on), and what the checks cost per mutant.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict

from benchmarks._util import row
from tests import mutants


def _first_lines(message: str, n: int = 3) -> str:
    lines = [ln for ln in message.splitlines() if ln.strip()]
    return " | ".join(lines[:n])


def run() -> list[dict]:
    named, total = defaultdict(int), defaultdict(int)
    misses, passes, seconds = [], [], []
    for m in mutants.catalogue(extra=True):
        start = time.perf_counter()
        public, hidden = mutants.run(m)
        seconds.append(time.perf_counter() - start)
        total[m.nb_id] += 1
        if public.passed or any(o.passed for o in hidden):
            passes.append(m.key)
        if not public.passed and m.names_it(public.message):
            named[m.nb_id] += 1
        else:
            misses.append((m, public))
    rows = []
    for nb_id in sorted(total):
        share = named[nb_id] / total[nb_id]
        rows.append(row("mutants", f"{nb_id}: named {named[nb_id]}/{total[nb_id]}", share * 100,
                        "%", goal=">= 90% of public messages name the mutation"))
    n_all, named_all = sum(total.values()), sum(named.values())
    rows.append(row("mutants", f"all: named {named_all}/{n_all}", 100 * named_all / n_all, "%",
                    goal=">= 90%"))
    rows.append(row("mutants", "public + 3 grading runs per mutant (median)",
                    statistics.median(seconds)))
    print(f"\n{len(passes)} mutants passed a check: {', '.join(passes) or 'none'}")
    print(f"{len(misses)} public messages do not name their mutation:")
    for m, outcome in misses:
        print(f"  {m.key} (wants {' & '.join(m.words)}): {_first_lines(outcome.message)}")
    return rows
