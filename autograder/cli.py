"""``course-grade``: the instructor's command line (also ``python -m autograder``)."""

from __future__ import annotations

import argparse
import os
import sys


def _release(args) -> int:
    if not _have("nbformat", "nbgrader"):
        return 2
    from . import release

    stale = release.release(args.ids or None, check=args.check)
    if args.check:
        if stale:
            print("Out of date (run `course-grade release`):\n  " + "\n  ".join(stale))
            return 1
        print("Sources and student notebooks are in sync.")
        return 0
    print("Updated:\n  " + "\n  ".join(stale) if stale else "Everything was already up to date.")
    return 0


def _autograde(args) -> int:
    if not _have("nbformat", "tqdm", "nbconvert"):
        return 2
    _fast_start()
    from . import grade, report

    options = grade.Options(workers=args.workers, timeout_cell=args.timeout_cell,
                            timeout_notebook=args.timeout_notebook, memory_mb=args.memory_mb,
                            progress=not args.quiet)
    try:
        batch = grade.autograde(args.submissions, args.out, options, source_dir=args.source)
    except (FileNotFoundError, ValueError) as exc:
        print(f"course-grade autograde: {exc}", file=sys.stderr)
        return 2
    print(report.summary_text(batch))
    return 0


def _demo(args) -> int:
    if not _have("nbformat", "nbgrader", "tqdm", "nbconvert"):
        return 2
    _fast_start()
    from . import demo

    return demo.main(out=args.out, workers=args.workers)


def _positive(kind):
    def parse(text):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="course-grade", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("release", help="regenerate the student notebooks in notebooks/")
    p.add_argument("ids", nargs="*", help="notebook ids (default: all)")
    p.add_argument("--check", action="store_true", help="only report what is out of date")
    p.set_defaults(func=_release)

    p = sub.add_parser("autograde", help="grade a class: SUBMISSIONS/<student_id>/<notebook>"
                       ".ipynb or SUBMISSIONS/<student_id>_<notebook>.ipynb")
    p.add_argument("submissions", help="folder of submitted notebooks")
    p.add_argument("--out", required=True, help="folder for grades.csv, summary.csv, "
                   "feedback/ and log.jsonl (nothing is written anywhere else)")
    p.add_argument("--workers", type=_positive(int), default=2,
                   help="notebooks graded in parallel (default 2)")
    p.add_argument("--timeout-cell", type=_positive(float), default=60.0, metavar="S",
                   help="seconds per cell and per graded item's checks (default 60)")
    p.add_argument("--timeout-notebook", type=_positive(float), default=600.0, metavar="S",
                   help="seconds per notebook, cells and checks together (default 600)")
    p.add_argument("--memory-mb", type=_positive(int), default=2048, metavar="M",
                   help="address-space limit of each sandboxed notebook (default 2048)")
    p.add_argument("--source", default=None, help=argparse.SUPPRESS)  # another course's sources
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_autograde)

    p = sub.add_parser("demo", help="grade a generated demo class and print its gradebook")
    p.add_argument("--out", default=None, help="where to put the class and its grades "
                   "(default: a new temporary folder)")
    p.add_argument("--workers", type=_positive(int), default=2)
    p.set_defaults(func=_demo)
    return parser


def _fast_start() -> None:
    """Settings for grading, made before numpy or nbformat are imported."""
    # Parallelism comes from the workers: one BLAS thread each keeps the cores for them.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    # nbformat -> jsonschema imports rfc3987_syntax when installed, which compiles a
    # grammar at import (3 s of CPU); it only validates "iri" formats, which notebooks
    # never use. Without it, jsonschema simply skips that format.
    sys.modules.setdefault("rfc3987_syntax", None)


def _have(*modules: str) -> bool:
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        print(f"course-grade needs the instructor tools ({', '.join(missing)} missing): "
              "pip install -e '.[dev]' (or make test)", file=sys.stderr)
    return not missing


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
