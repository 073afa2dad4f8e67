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
    if not _have("nbformat", "tqdm", "nbconvert", "nbgrader"):
        return 2
    _fast_start()
    from . import batch, coursedir, grade, report, store

    options = grade.Options(workers=args.workers, timeout_cell=args.timeout_cell,
                            timeout_notebook=args.timeout_notebook, memory_mb=args.memory_mb,
                            progress=not args.quiet)
    from . import cluster, late, roster

    try:
        course, submissions, assignments = _where(args, coursedir)
        policy = late.parse_policy(args.late_policy)
        class_list = roster.Roster.from_csv(args.roster) if args.roster else None
        engine = _engine(args, course, cluster)
        db_url = args.db or (course.db_url if course is not None else None)
        if db_url and not db_url.startswith("sqlite"):
            cluster.check_database(db_url)  # one line, before anything is graded
        result = batch.autograde(submissions, args.out, options, source_dir=args.source,
                                 course=course, assignments=assignments,
                                 students=args.student, force=args.force, db_url=args.db,
                                 roster=class_list, late_penalty=late.penalty_callback(policy),
                                 engine=engine)
    except batch.Interrupted as exc:
        print(report.summary_text(exc.batch))
        print(f"course-grade autograde: {exc}", file=sys.stderr)
        return 130
    except (OSError, ValueError, store.StoreError, coursedir.NotACourse,
            cluster.ClusterError, cluster.DatabaseError) as exc:
        print(f"course-grade autograde: {exc}", file=sys.stderr)
        return 2
    print(report.summary_text(result))
    return 1 if result.grader_failures else 0


def _engine(args, course, cluster):
    """The Dask engine for --scheduler or --cluster local:N (None: the local pool)."""
    if args.scheduler and args.cluster:
        raise ValueError("give --scheduler or --cluster, not both")
    if not (args.scheduler or args.cluster):
        return None
    source = args.source or (course.source_dir if course is not None else None)
    if args.scheduler:
        cluster.check_scheduler(args.scheduler)  # one line if it cannot be reached
        return cluster.DaskEngine.factory(scheduler=args.scheduler, source_dir=source)
    kind, _, n = args.cluster.partition(":")
    if kind != "local" or not n.isdigit() or int(n) < 1:
        raise ValueError(f"--cluster {args.cluster}: expected local:N, e.g. local:4")
    return cluster.DaskEngine.factory(local=int(n), source_dir=source)


def _export(args) -> int:
    if not _have("nbformat", "nbgrader"):
        return 2
    _fast_start()
    from . import batch, coursedir, export, roster, store
    from .grade import load_course

    try:
        course = coursedir.find(args.course, args.db)
        specs = load_course(course.source_dir)
        notebooks = [nb for nb in specs if not args.names or nb in args.names]
        unknown = sorted(set(args.names) - set(specs))
        if unknown:
            raise ValueError(f"no assignment named {', '.join(unknown)} in this course")
        with store.Store(course.db_url, course.course_id) as db:
            rows, students, covered = batch.item_rows(db, specs, notebooks)
        class_list = (roster.Roster.from_csv(args.roster) if args.roster
                      else roster.Roster.from_gradebook(course.db_url))
        notes = export.write(args.format, export.rows_from_graded(rows),
                             export.course_from_specs({nb: specs[nb] for nb in covered}),
                             class_list, args.out)
    except (OSError, ValueError, store.StoreError, coursedir.NotACourse) as exc:
        print(f"course-grade export: {exc}", file=sys.stderr)
        return 2
    for note in notes:
        print(f"  note: {note}")
    print(f"Wrote {args.out} ({args.format}: {len(class_list.students)} students, "
          f"{len(covered)} assignments: {', '.join(covered)}).")
    return 0


def _report(args) -> int:
    if not _have("nbformat", "nbgrader", "matplotlib"):
        return 2
    _fast_start()
    from . import coursedir, mistakes, store

    try:
        if args.db and args.course is None and not coursedir.is_course(os.getcwd()):
            # a gradebook graded outside a course directory (`autograde SUBMISSIONS --out`)
            db_url, out, course_id = args.db, args.out or os.getcwd(), "default_course"
        else:
            course = coursedir.find(args.course, args.db)
            db_url, out = args.db or course.db_url, args.out or course.reports_dir
            course_id = course.course_id
        counted, page, table = mistakes.report(db_url, out, course_id=course_id,
                                               assignments=args.names or None,
                                               names=args.show_names)
    except (OSError, ValueError, store.StoreError, coursedir.NotACourse) as exc:
        print(f"course-grade report: {exc}", file=sys.stderr)
        return 2
    print(mistakes.summary_line(counted, page, table))
    return 0


def _where(args, coursedir):
    """(course or None, submissions folder or None, assignments) from the command line.

    Inside a course directory (or with --course) positional names are assignments, as in
    nbgrader. Outside one, an existing folder given as the first argument is a folder of
    submissions graded against the kit's notebooks (the gradebook then lives in --out)."""
    names = list(args.names)
    submissions = args.submissions
    in_course = args.course is not None or coursedir.is_course(os.getcwd())
    if (not in_course and names and submissions is None
            and (os.path.isdir(names[0]) or os.sep in names[0])):
        submissions = names.pop(0)
    if in_course:
        course = coursedir.find(args.course, args.db)
        return course, submissions, names
    if submissions is None:
        raise coursedir.NotACourse(
            f"{os.getcwd()} is not a course directory: run course-grade inside one (or pass "
            "--course DIR; `course-grade init DIR` creates one), or grade a folder with "
            "`course-grade autograde SUBMISSIONS --out OUT`")
    if args.out is None:
        raise ValueError("--out OUT is needed when grading a folder outside a course "
                         "directory (the gradebook and reports go there)")
    return None, submissions, names


def _init(args) -> int:
    if not _have("nbgrader"):
        return 2
    _fast_start()
    from . import coursedir

    try:
        path = coursedir.init(args.dir, force=args.force)
    except (coursedir.NotACourse, OSError) as exc:
        print(f"course-grade init: {exc}", file=sys.stderr)
        return 2
    ids = coursedir.load(path).assignment_ids()
    print(f"Created the course directory {path.resolve()} with {len(ids)} assignments "
          f"({', '.join(ids)}).\nNext: cd {args.dir} && nbgrader generate_assignment "
          f"{ids[0] if ids else 'ID'}")
    return 0


def _feedback(args) -> int:
    if not _have("nbformat", "nbconvert", "nbgrader"):
        return 2
    _fast_start()
    from . import coursedir, feedback, store

    try:
        course = coursedir.find(args.course, args.db)
        written = feedback.write_all(course, args.names or None, args.student)
    except (store.StoreError, coursedir.NotACourse, ValueError) as exc:
        print(f"course-grade feedback: {exc}", file=sys.stderr)
        return 2
    print(f"Wrote {len(written)} feedback pages in {course.folder('feedback')} (hand them "
          "out with `nbgrader release_feedback ASSIGNMENT`).")
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

    p = sub.add_parser("init", help="create a course directory from the kit's notebooks")
    p.add_argument("dir", help="the new course directory")
    p.add_argument("--force", action="store_true",
                   help="copy the kit's notebooks even if DIR already has a source/ folder")
    p.set_defaults(func=_init)

    p = sub.add_parser(
        "autograde", help="grade what was submitted (new or changed submissions only)",
        description="In a course directory (the current one, or --course): course-grade "
        "autograde [ASSIGNMENT ...] [--student ID ...] grades submitted/<student>/<assignment>/"
        " into nbgrader's gradebook and autograded/. Outside one: course-grade autograde "
        "SUBMISSIONS --out OUT grades a folder against the kit's notebooks.")
    p.add_argument("names", nargs="*", metavar="ASSIGNMENT",
                   help="assignments to grade (default: all); outside a course directory, "
                   "first the SUBMISSIONS folder")
    p.add_argument("--student", action="append", metavar="ID",
                   help="grade only this student (repeat for more)")
    p.add_argument("--course", default=None, metavar="DIR",
                   help="the course directory (default: the current directory)")
    p.add_argument("--submissions", default=None, metavar="DIR", help="where the submitted "
                   "notebooks are (default: the course's submitted/)")
    p.add_argument("--out", default=None, help="folder for grades.csv, summary.csv, "
                   "log.jsonl and warnings.txt (default: the course's grades/)")
    p.add_argument("--db", default=None, metavar="URL", help="the gradebook's SQLAlchemy URL "
                   "(default: nbgrader's CourseDirectory.db_url, the course's gradebook.db)")
    p.add_argument("--force", action="store_true",
                   help="grade again even what is unchanged since it was graded")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS", help="grade on an "
                   "existing Dask cluster, e.g. tcp://HOST:8786 (pip install "
                   "'course-kit[cluster]')")
    p.add_argument("--cluster", default=None, metavar="local:N", help="grade on a Dask "
                   "LocalCluster of N worker processes started on this machine")
    p.add_argument("--roster", default=None, metavar="CSV", help="the class list (id, name, "
                   "email, sis_id, section, ...): every student on it is reported, LMS file "
                   "names are matched to it, and files of students not on it are not graded")
    p.add_argument("--late-policy", default=None, metavar="POLICY", help="none (default), "
                   "nbgrader (late = 0), per-hour:RATE[:cap=CAP] or per-day:RATE[:cap=CAP], "
                   "RATE and CAP in points or %% of the notebook, against nbgrader's due dates")
    p.add_argument("--workers", type=_positive(int), default=2,
                   help="notebooks graded in parallel (default 2)")
    p.add_argument("--timeout-cell", type=_positive(float), default=60.0, metavar="S",
                   help="CPU seconds of the student's code per cell and per graded item's "
                   "checks (default 60); code that sleeps is stopped at 10x that in wall time")
    p.add_argument("--timeout-notebook", type=_positive(float), default=600.0, metavar="S",
                   help="CPU seconds per notebook, cells and checks together (default 600)")
    p.add_argument("--memory-mb", type=_positive(int), default=2048, metavar="M",
                   help="address-space limit of each sandboxed notebook (default 2048)")
    p.add_argument("--source", default=None, help=argparse.SUPPRESS)  # another course's sources
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_autograde)

    p = sub.add_parser("feedback", help="write each student's feedback page with the final "
                       "grade (autograded and manual points, graders' comments)")
    p.add_argument("names", nargs="*", metavar="ASSIGNMENT")
    p.add_argument("--student", action="append", metavar="ID")
    p.add_argument("--course", default=None, metavar="DIR")
    p.add_argument("--db", default=None, metavar="URL")
    p.set_defaults(func=_feedback)

    p = sub.add_parser("export", help="grades from the gradebook for an LMS or a spreadsheet")
    p.add_argument("names", nargs="*", metavar="ASSIGNMENT")
    p.add_argument("--format", required=True, choices=["canvas", "moodle", "csv", "per-item"])
    p.add_argument("--out", required=True, metavar="FILE")
    p.add_argument("--roster", default=None, metavar="CSV",
                   help="the class list (default: nbgrader's student table)")
    p.add_argument("--course", default=None, metavar="DIR")
    p.add_argument("--db", default=None, metavar="URL")
    p.set_defaults(func=_export)

    p = sub.add_parser(
        "report", help="what the class got wrong: per item, who passed and the most "
        "common mistakes (report.html with a chart per item, mistakes.csv)",
        description="From the gradebook only (so the same after a Dask run): per assignment "
        "and autograded item, how many submitted and passed, the most common mistakes the "
        "checks named with counts, shares and an example message, and the median time the "
        "item's checks took; the hardest items first.")
    p.add_argument("names", nargs="*", metavar="ASSIGNMENT",
                   help="assignments to report (default: every one graded)")
    p.add_argument("--out", default=None, metavar="DIR", help="where report.html and "
                   "mistakes.csv go (default: the course's grades/)")
    p.add_argument("--names", dest="show_names", action="store_true",
                   help="list the students behind each mistake (default: no one is named)")
    p.add_argument("--course", default=None, metavar="DIR")
    p.add_argument("--db", default=None, metavar="URL", help="the gradebook's SQLAlchemy URL "
                   "(default: the course's; outside a course directory, e.g. the "
                   "gradebook.db that `autograde SUBMISSIONS --out OUT` wrote in OUT)")
    p.set_defaults(func=_report)

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
    _lean_nbgrader()


def _lean_nbgrader() -> None:
    """Import nbgrader's modules without its package ``__init__``, which loads its Jupyter
    server extensions (jupyter_server, tornado: about a third of a re-run's time here, for a
    web server this command never starts). ``nbgrader.api``, ``coursedir``, ``utils`` and the
    preprocessors are imported as usual."""
    import importlib.util
    import types

    if "nbgrader" in sys.modules:
        return
    spec = importlib.util.find_spec("nbgrader")
    if spec is None or not spec.submodule_search_locations:
        return
    package = types.ModuleType("nbgrader")
    package.__path__ = list(spec.submodule_search_locations)
    package.__file__, package.__spec__, package.__package__ = spec.origin, spec, "nbgrader"
    sys.modules["nbgrader"] = package


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
