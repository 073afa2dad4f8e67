"""The course directory: the instructor's folder, in nbgrader's layout.

```
COURSE/
  nbgrader_config.py     nbgrader's configuration (course id, exchange, db_url, ...)
  source/<id>/<id>.ipynb the instructor versions (each notebook is an assignment of its name)
  release/ submitted/ autograded/ feedback/ gradebook.db    made by nbgrader and course-grade
  grades/                course-grade's reports: grades.csv, summary.csv, log.jsonl, warnings
```

``course-grade`` finds it as nbgrader does: the current directory, or ``--course DIR``.
``course-grade init DIR`` makes a new one from the kit (the instructor sources and nbgrader
configuration that ship with the package). The grader's own code never lives here, and
nothing a course produces lands beside the grader's modules.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from . import config


class NotACourse(ValueError):
    """The folder is not a course directory; ``str()`` says what to do."""


@dataclass
class Course:
    """A course directory and nbgrader's view of it (paths, gradebook URL, course id)."""

    root: Path
    nbconfig: object  # traitlets Config read from nbgrader_config.py
    coursedir: object  # nbgrader.coursedir.CourseDirectory

    @property
    def db_url(self) -> str:
        return self.coursedir.db_url

    @property
    def course_id(self) -> str:
        return self.coursedir.course_id or "default_course"

    def folder(self, step: str) -> Path:
        """``source``, ``release``, ``submitted``, ``autograded`` or ``feedback``."""
        name = getattr(self.coursedir, f"{step}_directory")
        return self.root / name

    @property
    def source_dir(self) -> Path:
        return self.folder("source")

    @property
    def reports_dir(self) -> Path:
        return self.root / "grades"

    def assignment_ids(self) -> list[str]:
        """Every assignment with an instructor notebook ``source/<id>/<id>.ipynb``."""
        return sorted(p.parent.name for p in self.source_dir.glob("*/*.ipynb")
                      if p.stem == p.parent.name)


def load(root, db_url: str | None = None) -> Course:
    """The course directory at ``root``, with its ``nbgrader_config.py`` applied."""
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    root = Path(root).resolve()
    if not root.is_dir():
        raise NotACourse(f"course directory {root} does not exist")
    cfg = Config()
    if (root / "nbgrader_config.py").exists():
        try:
            cfg = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
        except Exception as exc:  # the instructor's file: say which and why, in one line
            raise NotACourse(f"{root / 'nbgrader_config.py'} could not be read: "
                             f"{type(exc).__name__}: {exc}") from None
    coursedir = CourseDirectory(config=cfg)
    coursedir.root = str(root)
    if db_url:
        coursedir.db_url = db_url
    return Course(root, cfg, coursedir)


def is_course(path: Path) -> bool:
    path = Path(path)
    return (path / "nbgrader_config.py").is_file() or (path / "source").is_dir()


def find(option: str | None = None, db_url: str | None = None) -> Course:
    """The course directory named by ``--course``, else the current directory."""
    path = Path(option) if option else Path.cwd()
    if not is_course(path):
        hint = ("" if option else " (run course-grade inside one, or pass --course DIR)")
        raise NotACourse(f"{path.resolve()} is not a course directory: it has no "
                         f"nbgrader_config.py and no source/ folder{hint}. "
                         "`course-grade init DIR` creates one from the kit.")
    return load(path, db_url)


def kit_course() -> Path:
    """The kit's own course directory (its instructor sources and nbgrader config)."""
    return config.KIT_DIR


def init(dest, force: bool = False) -> Path:
    """Create a course directory at ``dest`` from the kit: nbgrader_config.py and source/."""
    dest = Path(dest)
    kit = kit_course()
    if (dest / "source").exists() and not force:
        raise NotACourse(f"{dest} already has a source/ folder; nothing was changed "
                         "(--force replaces the kit's notebooks in it)")
    dest.mkdir(parents=True, exist_ok=True)
    if not (dest / "nbgrader_config.py").exists():
        shutil.copy(kit / "nbgrader_config.py", dest / "nbgrader_config.py")
    for nb in sorted(kit.glob("source/*/*.ipynb")):
        target = dest / "source" / nb.parent.name / nb.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(nb, target)
    return dest
