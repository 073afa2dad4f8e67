"""``course-grade``: the instructor's command line (also ``python -m autograder``)."""

from __future__ import annotations

import argparse
import sys


def _release(args) -> int:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="course-grade", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("release", help="regenerate the student notebooks in notebooks/")
    p.add_argument("ids", nargs="*", help="notebook ids (default: all)")
    p.add_argument("--check", action="store_true", help="only report what is out of date")
    p.set_defaults(func=_release)
    return parser


def main(argv=None) -> int:
    try:
        import nbformat  # noqa: F401
        import nbgrader  # noqa: F401
    except ImportError:
        print("course-grade needs the instructor tools: pip install -e '.[dev]' (or make test)",
              file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
