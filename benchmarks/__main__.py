"""Run every benchmark module (``bench_*.py``); print one table; write results.json.

Each module defines ``run() -> list[dict]`` built with :func:`benchmarks._util.row`.
``python -m benchmarks NAME ...`` runs only the modules whose name contains NAME.
"""

from __future__ import annotations

import importlib
import json
import platform
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"
    if unit == "B":
        return f"{value / 2**20:.1f} MiB"
    return f"{value:.4g} {unit}".strip()


def main(argv: list[str]) -> int:
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    if argv:
        names = [n for n in names if any(a in n for a in argv)]
    rows, failures = [], []
    for name in names:
        print(f"running {name} ...", flush=True)
        start = time.perf_counter()
        try:
            rows += importlib.import_module(f"benchmarks.{name}").run()
        except Exception as exc:  # one broken benchmark must not hide the others
            failures.append(name)
            print(f"  {name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            traceback.print_exc()
        print(f"  done in {time.perf_counter() - start:.1f} s", flush=True)
    widths = (28, 44, 12, 26)
    header = ("benchmark", "case", "median", "ratio")
    print("\n" + "  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        ratio = f"{r['ratio']:.2f}x {r['ratio_of']}" if r.get("ratio") is not None else ""
        cells = (r["benchmark"], r["case"], _fmt(r["value"], r["unit"]), ratio)
        print("  ".join(str(c).ljust(w) for c, w in zip(cells, widths)))
        if r.get("goal"):
            print(" " * (widths[0] + 2) + f"goal: {r['goal']}")
    out = {"machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count(),
                       "platform": platform.platform()},
           "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "rows": rows, "failed": failures}
    (HERE / "results.json").write_text(json.dumps(out, indent=1))
    print(f"\nwritten to {HERE / 'results.json'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
